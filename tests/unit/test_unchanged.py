"""Updates against the target's current values: exact comparison, the overwrite policy, a batch measured
against the target (the write stage's ``_against_current``), and the plan's ``overwrite`` checked against the
step's map."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from migrator.connectors.base import WriteItem
from migrator.connectors.registry import make_writer
from migrator.errors import PlanError
from migrator.graph import compile_graph
from migrator.journal import Rejection
from migrator.logging import Redactor
from migrator.plan.load import parse_plan_text
from migrator.runtime.target_index import CurrentValues
from migrator.runtime.unchanged import is_empty, kept_fields, same_value, unchanged, with_overwrite_policy
from migrator.runtime.write import _against_current, _match_values
from migrator.runtime.write_path import WritePath


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Ann", "Ann"),
        (None, None),
        (None, ""),
        ("", None),
        (6, 6),
        (6, 6.0),
        (123, "123"),
        ("123", 123),
        (1.5, "1.5"),
        (True, True),
        ([6, 5], [5, 6]),
        ([{"id": 1}, {"id": 2}], [{"id": 2, "name": "B"}, {"id": 1, "name": "A"}]),
        ({"id": 1}, {"id": 1, "name": "A"}),
        ([], []),
    ],
)
def test_same_value(sent: object, stored: object) -> None:
    assert same_value(sent, stored)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Ann", "ann"),  # case counts
        ("Ann", "Ann "),  # spaces count
        ("Ann", None),
        (None, "Ann"),
        (123, "0123"),
        (123, " 123"),
        (1, True),
        (True, 1),
        (False, None),
        (0, None),
        ([6], [6, 6]),
        ([6, 6], [6, 5]),
        ([6], 6),
        ({"id": 1}, {"id": 2, "name": "A"}),
        ({"id": 1, "name": "A"}, {"id": 1}),
        ("2024-01-02", "2024-01-02T00:00:00"),  # another representation: sent
    ],
)
def test_different_value(sent: object, stored: object) -> None:
    assert not same_value(sent, stored)


def test_unchanged_needs_every_field_returned_and_equal() -> None:
    current = {"Email": "a@x.org", "Surname": "Lee", "roles": [6]}
    assert unchanged({"Email": "a@x.org", "Surname": "Lee"}, current)
    assert not unchanged({"Email": "a@x.org", "Surname": "Li"}, current)
    # a field the target does not return cannot be compared: the record is sent
    assert not unchanged({"Email": "a@x.org", "Phone": "1"}, current)
    # ... unless it is write-only (an instruction, never returned)
    payload = {"Email": "a@x.org", "sendWelcomeEmail": False}
    assert unchanged(payload, current, write_only={"sendWelcomeEmail"})


def test_is_empty() -> None:
    assert all(is_empty(v) for v in (None, "", [], {}))
    assert not any(is_empty(v) for v in (0, False, " ", [0], {"id": 1}))


def test_overwrite_policy_keeps_the_targets_values() -> None:
    policy = {"Phone": "if_empty", "JobTitle": "once", "Surname": "always"}
    payload = {"Phone": "111", "JobTitle": "Boss", "Surname": "New", "Email": "a@x.org"}
    # the target holds values: if_empty and once keep them, always writes
    held = {"Phone": "999", "JobTitle": "Chief", "Surname": "Old"}
    assert kept_fields(payload, held, policy) == {"Phone", "JobTitle"}
    out = with_overwrite_policy(payload, held, policy)
    assert out == {"Phone": "999", "JobTitle": "Chief", "Surname": "New", "Email": "a@x.org"}
    # the target's values are empty: if_empty writes, once still keeps the (empty) value
    empty = {"Phone": "", "JobTitle": None, "Surname": "Old"}
    assert kept_fields(payload, empty, policy) == {"JobTitle"}
    assert with_overwrite_policy(payload, empty, policy)["Phone"] == "111"
    assert with_overwrite_policy(payload, empty, policy)["JobTitle"] is None
    # a field the target does not return is kept too, and left out (nothing to send back)
    silent = {"Surname": "Old"}
    assert kept_fields(payload, silent, policy) == {"Phone", "JobTitle"}
    assert with_overwrite_policy(payload, silent, policy) == {"Surname": "New", "Email": "a@x.org"}
    # a kept field then counts as unchanged
    assert unchanged(with_overwrite_policy({"Phone": "1"}, {"Phone": "2"}, policy), {"Phone": "2"})


PLAN = """
[plan]
name = "u"
[connections.v]
platform = "velpic"
base_url = "${VELPIC_BASE_URL}"
access_key = "${VELPIC_SOURCE_ACCESS_KEY}"
[connections.a]
platform = "accessplanit"
base_url = "${ACCESSPLANIT_V2_BASE_URL}"
api_key = "${ACCESSPLANIT_TARGET_API_KEY}"
[steps.people]
read  = { from = "v", entity = "user" }
write = { to = "a", entity = "user", mode = "upsert", match = "Email" }
map = { Email = "emailAddress", Phone = "phoneNumber", JobTitle = "'Trainee'" }
overwrite = %s
"""


def test_overwrite_names_mapped_fields_only() -> None:
    graph = compile_graph(parse_plan_text(PLAN % '{ Phone = "if_empty", JobTitle = "once" }', "u.toml"))
    assert "people" in graph.steps
    with pytest.raises(PlanError) as info:
        compile_graph(parse_plan_text(PLAN % '{ Phon = "if_empty" }', "u.toml"))
    assert "steps.people.overwrite.Phon" in str(info.value)
    assert 'did you mean "Phone"' in str(info.value)
    with pytest.raises(PlanError) as info:
        compile_graph(parse_plan_text(PLAN % '{ Phone = "never" }', "u.toml"))
    assert "steps.people.overwrite.Phone" in str(info.value)
    assert 'expected one of always, if_empty, once; got "never"' in str(info.value)
    with pytest.raises(PlanError) as info:
        compile_graph(parse_plan_text(PLAN % '{ Email = "once" }', "u.toml"))
    assert "steps.people.overwrite.Email: Email is the field this step finds target records by" in str(
        info.value
    )


def _batch_against(current: CurrentValues, overwrite: dict[str, str], payloads: list[dict[str, object]]):
    writer = make_writer("accessplanit", "user", "upsert", "Email")
    spec = SimpleNamespace(
        current=current,
        overwrite=overwrite,
        not_compared=frozenset(),
        target=SimpleNamespace(redactor=Redactor([])),
    )
    items = [WriteItem(f"k{i}", f"s{i}", p) for i, p in enumerate(payloads)]
    rejections: list[Rejection] = []
    path = WritePath.of(writer)
    matched = _match_values(path, items)
    held = current.lookup(v for v in matched.values() if v is not None)
    same, send = _against_current(spec, path, items, matched, held, rejections)  # type: ignore[arg-type]
    return same, send, rejections


def test_a_batch_against_the_targets_current_values() -> None:
    current = CurrentValues(("Email", "Surname", "Phone"))
    current.add("a@x.org", "T1", {"Email": "a@x.org", "Surname": "Lee", "Phone": "9"})
    current.add("b@x.org", "T2", {"Email": "b@x.org", "Surname": "Old", "Phone": ""})
    current.add("s@x.org", "T3", {"Email": "s@x.org"})
    current.add("s@x.org", "T4", {"Email": "S@x.org"})  # the same value, for the platforms
    shared = current.get("s@x.org")
    assert shared is not None and shared.shared and current.values(shared) == {}
    payloads = [
        {"Email": "a@x.org", "Surname": "Lee", "Phone": "1"},  # only the kept phone differs: unchanged
        {"Email": "b@x.org", "Surname": "New", "Phone": "2"},  # changed; the empty phone is filled
        {"Email": "n@x.org", "Surname": "Nu", "Phone": "3"},  # not on the target: created whole
        {"Email": "a@x.org", "Surname": "Lee", "Phone": "4"},  # the source holds a@x.org twice: sent, kept
        {"Email": "s@x.org", "Surname": "Two"},  # several target records: a dead letter under a policy
    ]
    same, send, rejections = _batch_against(current, {"Phone": "if_empty"}, payloads)
    assert [(it.source_key, tid) for it, tid in same] == [("s0", "T1")]
    assert [(it.source_key, it.payload) for it in send] == [
        ("s1", {"Email": "b@x.org", "Surname": "New", "Phone": "2"}),
        ("s2", {"Email": "n@x.org", "Surname": "Nu", "Phone": "3"}),
        ("s3", {"Email": "a@x.org", "Surname": "Lee", "Phone": "9"}),
    ]
    assert [r.source_key for r in rejections] == ["s4"]
    assert "several records on the target have Email = 's@x.org'" in rejections[0].reason
    # without a policy, a shared value is simply sent
    _, send, rejections = _batch_against(current, {}, [{"Email": "s@x.org", "Surname": "Two"}])
    assert [it.source_key for it in send] == ["s0"] and rejections == []
