"""Reconciliation rules (tables): value equality, per-record comparison, email case, and step outcomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from migrator.coverage import CoverageRow, rows_to_json
from migrator.graph import compile_graph
from migrator.journal import Journal
from migrator.plan.load import load_plan
from migrator.verify import (
    EntityCounts,
    Finding,
    ReconcileCounts,
    StepCheck,
    VerifyResult,
    casefold_fields,
    compare_record,
    crosswalk_id,
    find_extras,
    index_targets,
    kept_left_behind,
    map_constant,
    reconcile_step,
    superseded,
    target_filters,
    values_equal,
    verify_rows,
)


@pytest.mark.parametrize(
    ("expected", "actual", "casefold", "equal"),
    [
        ("Ann", "Ann", False, True),
        ("Ann", "ann", False, False),
        ("ann@x.io", "ANN@x.io", True, True),
        ("Ann ", "Ann", False, False),  # strings exactly: no trimming
        (123, "123", False, True),  # numbers and strings as text
        ("7", 7.0, False, True),
        (True, "true", False, False),  # booleans only equal booleans
        (False, False, False, True),
        ("", None, False, True),  # empty
        (
            [{"id": 5}, {"id": 6}],
            [{"id": 6, "name": "B"}, {"id": 5, "name": "A"}],
            False,
            True,
        ),  # groups: id sets
        ([{"id": 5}], [{"id": 5}, {"id": 7}], False, False),
        ([6], [6], False, True),
        ([3, 6], [6, 3], False, True),
        ([], None, False, True),
        ([6], 6, False, True),
        ([{"a": 1}], [{"a": 1}], False, True),
        ([{"a": 1}], [{"a": 2}], False, False),
    ],
)
def test_values_equal(expected: Any, actual: Any, casefold: bool, equal: bool) -> None:
    assert values_equal(expected, actual, casefold=casefold) is equal


def test_compare_record_lists_each_differing_field() -> None:
    expected = {
        "firstName": "Ann",
        "emailAddress": "ann@x.io",
        "groups": [{"id": 5}, {"id": 6}],
        "roles": [6],
        "sendWelcomeEmail": False,
        "phoneNumber": "1",
    }
    actual = {"firstName": "Anne", "emailAddress": "ANN@x.io", "groups": [{"id": 5}], "roles": [6]}
    diffs = compare_record(expected, actual, casefold={"emailAddress"}, skip={"sendWelcomeEmail"})
    assert diffs == [("firstName", "Ann", "Anne"), ("groups", "5, 6", "5"), ("phoneNumber", "1", "")]


def test_casefold_only_for_email_fields_the_plan_lowercases() -> None:
    mapping = {
        "emailAddress": "emailAddress | trim | lower",
        "Email2": "Mail",
        "lastName": "lastName | lower",
        "supervisorEmail": "'X@Y.io'",
    }
    assert casefold_fields(mapping) == frozenset({"emailAddress"})


def test_reconcile_step_outcomes() -> None:
    check = StepCheck(
        step="users",
        expected={
            "1": {"firstName": "Ann", "groups": [{"id": 50}]},  # matches
            "2": {"firstName": "Bob"},  # changed on the target
            "3": {"firstName": "Cy"},  # never migrated: missing
            "4": {"firstName": "Di"},  # crosswalk id no longer on the target: missing
            "5": None,  # rejected by the writer's rules, a dead letter
        },
        crosswalk={"1": "101", "2": "102", "4": "104"},
        targets={
            "101": {"firstName": "Ann", "groups": [{"id": 50}]},
            "102": {"firstName": "Robert"},
            "999": {},
        },
        rejected=frozenset({"5"}),
    )
    counts, findings = reconcile_step(check)
    assert counts == ReconcileCounts(source=5, migrated=3, matched=1, different=1, missing=2, rejected=1)
    assert findings == [
        Finding("users", "2", "102", "different", "firstName", "Bob", "Robert"),
        Finding("users", "3", "", "missing"),
        Finding("users", "4", "104", "missing"),
        Finding("users", "5", "", "rejected"),
    ]
    assert find_extras(check.targets, check.crosswalk.values(), "users") == [
        Finding("users", "", "999", "extra")
    ]
    assert verify_rows(findings[:1]) == [("users", "2", "102", "different", "firstName", "Bob", "Robert")]


@pytest.mark.parametrize(
    ("missing", "different", "extra", "strict", "ok"),
    [
        (0, 0, 0, False, True),
        (0, 0, 3, False, True),  # extra is informational …
        (0, 0, 3, True, False),  # … unless strict
        (1, 0, 0, False, False),
        (0, 1, 0, False, False),
    ],
)
def test_result_ok(missing: int, different: int, extra: int, strict: bool, ok: bool) -> None:
    result = VerifyResult(
        steps={"s": ReconcileCounts(missing=missing, different=different, rejected=4)},
        entities=[EntityCounts("target", "user", ("s",), extra=extra)],
    )
    assert result.ok(strict=strict) is ok


def test_left_behind_comes_from_the_newest_inventory_and_never_fails_a_verification(tmp_path: Path) -> None:
    old = [
        CoverageRow("source", "group", ("",), 9, None, "entity group of connection source: no step reads it")
    ]
    new = [
        CoverageRow("source", "user", ("active",), 40, "users"),
        CoverageRow("source", "user", ("inactive",), 3, None, "user status inactive: excluded"),
        CoverageRow("source", "lesson_schedule", ("",), None, None, "no step reads it", "read once per user"),
    ]
    with Journal.open(tmp_path / "j.sqlite", "p") as journal:
        assert kept_left_behind(journal) == []
        for rows in (old, new):
            run = journal.begin_run("h")
            journal.finish_run("done")
            journal.save_run_stats(run, {"steps": {}, "coverage": rows_to_json(rows)})
        behind = kept_left_behind(journal)
    assert behind == new[1:]
    result = VerifyResult(left_behind=behind)
    assert result.left_behind_records() == (3, 1)
    assert result.ok(strict=True)


def test_anewspring_targets_are_indexed_by_the_ids_their_writes_return() -> None:
    """aNewSpring users are written at their external ID (the crosswalk holds it) but listed keyed by uid;
    subscriptions are written as ``<user ID>/<course ID>``; a field read back under another name is found
    under the written one too."""
    users = [
        {"id": "E1", "uid": "u-1", "firstName": "Ann", "roles": ["student"]},
        {"id": "E2", "uid": "u-2", "firstName": "Bob", "roles": []},
    ]
    indexed = index_targets("anewspring", "user", users, "uid")
    assert set(indexed) == {"E1", "E2"}
    assert indexed["E1"]["userID"] == "E1" and indexed["E1"]["role"] == ["student"]
    assert compare_record({"userID": "E1", "role": ["student"], "firstName": "Ann"}, indexed["E1"]) == []
    subscription = {"key": "u-1|C001", "userID": "E1", "courseID": "C001", "startDate": "2024-01-02"}
    assert crosswalk_id("anewspring", "subscription", subscription, "key") == "E1/C001"
    # any other target: its read key
    assert list(index_targets("velpic", "user", [{"id": 7, "firstName": "Cy"}], "id")) == ["7"]


def test_summary_is_what_the_report_shows() -> None:
    result = VerifyResult(
        steps={"users": ReconcileCounts(source=3, migrated=3, matched=2, different=1)},
        entities=[EntityCounts("anewspring", "user", ("users",), target=4, mapped=3, extra=1)],
        unverified={"groups": "anewspring cannot list its group records"},
    )
    summary = result.summary(at=1_700_000_000.0, strict=False)
    assert summary["ok"] is False
    assert summary["counts"] == {"missing": 0, "different": 1, "extra": 1, "rejected": 0, "duplicate": 0}
    assert summary["steps"]["users"]["matched"] == 2
    assert summary["entities"] == [
        {"connection": "anewspring", "entity": "user", "target": 4, "migrated": 3, "extra": 1, "duplicates": 0}
    ]
    assert summary["unverified"] == {"groups": "anewspring cannot list its group records"}


@pytest.mark.parametrize(
    ("expected", "actual", "equal"),
    [
        ("2024-01-01T09:00:00.000+0000", "2024-01-01T17:00:00.000+0800", True),  # one instant, two zones
        ("2024-01-01T09:00:00Z", "2024-01-01T09:00:00.000+00:00", True),
        ("2024-01-01T09:00:00.000+0000", "2024-01-01T09:00:00.000+0800", False),
        ("2024-01-01T09:00:00", "2024-01-01T09:00:00+00:00", False),  # no zone: no instant to compare
        ("2024-01-01", "2024-01-01T00:00:00Z", False),
    ],
)
def test_date_times_are_compared_as_instants(expected: str, actual: str, equal: bool) -> None:
    assert values_equal(expected, actual) is equal


def _plan(tmp_path: Path, body: str) -> Any:
    path = tmp_path / "p.toml"
    path.write_text(
        '[plan]\nname = "p"\n[connections.velpic]\nplatform = "velpic"\nbase_url = "${V_URL}"\n'
        'access_key = "${V_KEY}"\n[connections.onefile]\nplatform = "onefile"\nbase_url = "${O_URL}"\n'
        'customer_token = "${O_TOKEN}"\n' + body
    )
    return load_plan(path).plan


def test_a_target_list_that_needs_a_filter_is_read_per_value_the_maps_give(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        '[steps.a]\nread = { from = "velpic", entity = "group" }\n'
        'write = { to = "onefile", entity = "classroom", mode = "update", match = "Name" }\n'
        'map = { OrganisationID = 10005740, Name = "name" }\n'
        '[steps.b]\nread = { from = "velpic", entity = "group" }\n'
        'write = { to = "onefile", entity = "classroom", mode = "update", match = "Name" }\n'
        'map = { OrganisationID = "\'77\'", Name = "name" }\n'
        '[steps.c]\nread = { from = "velpic", entity = "group" }\n'
        'write = { to = "onefile", entity = "classroom", mode = "update", match = "Name" }\n'
        'map = { OrganisationID = "id", Name = "name" }\n',
    )
    assert map_constant(10005740) == 10005740 and map_constant("'77'") == "77"
    assert target_filters(plan, ["a"], ()) == [{}]
    assert target_filters(plan, ["a", "b"], ("OrganisationID",)) == [
        {"OrganisationID": "77"},
        {"OrganisationID": 10005740},
    ]
    why = target_filters(plan, ["a", "c"], ("OrganisationID",))
    assert isinstance(why, str) and "step c's map does not give it one value" in why


@pytest.mark.parametrize("route", ["accessplanit-to-velpic", "anewspring-to-velpic"])
def test_a_step_whose_fields_a_later_step_writes_again_is_compared_there(route: str) -> None:
    """``active_for_history`` makes every learner Active for its completions; ``user_status``, after them,
    writes each user's own status: the target holds the later one, so only it is compared."""
    loaded = load_plan(Path(__file__).parents[2] / "plans" / f"{route}.toml")
    plan, graph = loaded.plan, compile_graph(loaded)
    status_steps = [name for name in graph.order if name in ("active_for_history", "user_status")]
    assert status_steps == ["active_for_history", "user_status"]
    found = superseded(plan, graph, ["users", *status_steps])
    assert list(found) == ["active_for_history"]
    assert found["active_for_history"].startswith("step user_status writes clientStatusId, id, imported again")
    assert superseded(plan, graph, ["users", "user_status"]) == {}


def test_steps_writing_other_records_of_one_entity_are_each_compared() -> None:
    """velpic-to-onefile's assessors, instructors and learners map the same fields of OneFile users, but each
    its own users: none is superseded by another."""
    loaded = load_plan(Path(__file__).parents[2] / "plans" / "velpic-to-onefile.toml")
    graph = compile_graph(loaded)
    steps = [s for s in graph.order if s in ("assessors", "instructors", "learners")]
    assert len(steps) == 3
    assert superseded(loaded.plan, graph, steps) == {}
