"""The pure coverage logic: what a plan's sources hold, what its steps carry, what is left behind and why."""

from __future__ import annotations

from migrator.connectors.catalog import CATALOG
from migrator.coverage import (
    CoverageRow,
    StepCount,
    Tally,
    csv_rows,
    kept_rows,
    kept_tallies,
    left_behind,
    plan_coverage,
    readings,
    rows_from_json,
    rows_to_json,
    slices,
    summary_lines,
    tallies_to_json,
)
from migrator.plan.load import parse_plan_text
from migrator.plan.model import Plan

HEAD = """
[plan]
name = "c"
[connections.source]
platform = "velpic"
base_url = "${VELPIC_BASE_URL}"
access_key = "${VELPIC_SOURCE_ACCESS_KEY}"
[connections.target]
platform = "velpic"
base_url = "${VELPIC_BASE_URL}"
access_key = "${VELPIC_TARGET_ACCESS_KEY}"
"""


def _plan(steps: str, head: str = HEAD) -> Plan:
    return parse_plan_text(head + steps, "c.toml").plan


def _users(filter_: str = "") -> str:
    read = f", filter = {{ {filter_} }}" if filter_ else ""
    return f"""
[steps.users]
read  = {{ from = "source", entity = "user"{read} }}
write = {{ to = "target", entity = "user", mode = "bulk", match = "empNo" }}
map = {{ firstName = "firstName", roles = [6] }}
"""


GROUPS = """
[steps.groups]
read  = { from = "source", entity = "group" }
write = { to = "target", entity = "group", mode = "create", match = "name" }
map = { name = "name" }
"""

#: what a Velpic source holds in these tests
TALLIES = [
    Tally("source", "user", "active", 40),
    Tally("source", "user", "inactive", 3),
    Tally("source", "group", "", 5),
    Tally("source", "lesson", "", 7),
    Tally("source", "lesson_schedule", "", None, "read once per user: counting it would read them all"),
    Tally("source", "ilt_session", "", 0),
]


def _row(rows: list[CoverageRow], entity: str, status: str = "") -> CoverageRow:
    found = [r for r in rows if r.entity == entity and r.is_left_behind and r.statuses == (status,)]
    assert len(found) == 1, rows
    return found[0]


def test_slices_count_every_readable_entity_of_each_source_once_by_status() -> None:
    got = {(s.connection, s.entity, s.status): s for s in slices(_plan(_users() + GROUPS), CATALOG)}
    # the target is written only: nothing of it is counted
    assert {c for c, _, _ in got} == {"source"}
    assert set(got) == {
        ("source", "user", "active"),
        ("source", "user", "inactive"),
        ("source", "group", ""),
        ("source", "lesson", ""),
        ("source", "lesson_schedule", ""),
        ("source", "certificate", ""),
        ("source", "ilt_session", ""),
    }
    assert dict(got["source", "user", "active"].filters) == {"activeValue": "active"}
    assert dict(got["source", "user", "inactive"].filters) == {"activeValue": "inactive"}
    assert got["source", "group", ""].filters == {} and not got["source", "group", ""].uncountable
    assert (
        got["source", "lesson_schedule", ""].uncountable
        == "read once per user: counting it would read them all"
    )


def test_a_files_source_has_the_files_the_plan_reads() -> None:
    head = """
[plan]
name = "f"
[connections.files]
platform = "files"
path = "in"
[connections.target]
platform = "velpic"
base_url = "${VELPIC_BASE_URL}"
access_key = "${VELPIC_TARGET_ACCESS_KEY}"
"""
    steps = """
[steps.people]
read  = { from = "files", entity = "people" }
write = { to = "target", entity = "user", mode = "bulk", match = "email" }
map = { emailAddress = "email", roles = [6] }
"""
    got = [(s.connection, s.entity, s.status) for s in slices(_plan(steps, head), CATALOG)]
    assert got == [("files", "people", "")]


def test_readings_apply_the_platforms_default_when_a_step_sends_no_status_filter() -> None:
    (default,) = readings(_plan(_users()), CATALOG)
    assert (default.statuses, default.filter, default.defaulted) == (("active",), "activeValue=active", True)
    (every,) = readings(_plan(_users('activeValue = "all"')), CATALOG)
    assert (every.statuses, every.defaulted) == (("active", "inactive"), False)
    (inactive,) = readings(_plan(_users('activeValue = "inactive"')), CATALOG)
    assert inactive.statuses == ("inactive",)
    (group,) = readings(_plan(GROUPS), CATALOG)
    assert group.statuses == ("",)


def test_the_default_filter_leaves_inactive_users_behind_and_says_so() -> None:
    rows = plan_coverage(_plan(_users() + GROUPS), CATALOG, TALLIES)
    inactive = _row(rows, "user", "inactive")
    assert inactive.in_source == 3
    assert inactive.reason == (
        "user status inactive of connection source: excluded by filter activeValue=active (the platform's "
        "default: the step sends none) of step users"
    )
    carried = next(r for r in rows if r.step == "users")
    assert (carried.statuses, carried.in_source) == (("active",), 40)


def test_an_explicit_filter_is_named_with_its_step() -> None:
    rows = plan_coverage(_plan(_users('activeValue = "active"') + GROUPS), CATALOG, TALLIES)
    assert _row(rows, "user", "inactive").reason == (
        "user status inactive of connection source: excluded by filter activeValue=active of step users"
    )


def test_every_status_carried_leaves_nothing_of_the_entity_behind() -> None:
    rows = plan_coverage(_plan(_users('activeValue = "all"') + GROUPS), CATALOG, TALLIES)
    assert not [r for r in left_behind(rows) if r.entity == "user"]
    carried = next(r for r in rows if r.step == "users")
    assert (carried.statuses, carried.in_source, carried.status_text) == (
        ("active", "inactive"),
        43,
        "active+inactive",
    )


def test_two_steps_carry_a_status_between_them() -> None:
    second = """
[steps.leavers]
read  = { from = "source", entity = "user", filter = { activeValue = "inactive" } }
write = { to = "target", entity = "user", mode = "bulk", match = "empNo" }
map = { firstName = "firstName", roles = [6] }
"""
    rows = plan_coverage(_plan(_users() + second + GROUPS), CATALOG, TALLIES)
    assert not [r for r in left_behind(rows) if r.entity == "user"]
    assert {r.step: r.in_source for r in rows if r.step} == {"users": 40, "leavers": 3, "groups": 5}


def test_an_entity_no_step_reads_is_left_behind_and_the_target_that_cannot_hold_it_is_named() -> None:
    rows = plan_coverage(_plan(_users('activeValue = "all"')), CATALOG, TALLIES)
    group = _row(rows, "group")
    assert (group.in_source, group.reason) == (5, "entity group of connection source: no step reads it")
    lesson = _row(rows, "lesson")
    assert lesson.reason == (
        "entity lesson of connection source: no step reads it (the target cannot hold it: velpic has no "
        "lesson to write)"
    )
    schedules = _row(rows, "lesson_schedule")
    assert schedules.in_source is None
    assert schedules.note == "read once per user: counting it would read them all"
    # an empty entity is still named: nothing is left out of the list
    assert _row(rows, "ilt_session").in_source == 0
    assert {r.entity for r in left_behind(rows)} == {"group", "lesson", "lesson_schedule", "ilt_session"}


def test_a_filter_value_the_platform_does_not_declare_is_never_taken_as_carrying_a_status() -> None:
    rows = plan_coverage(_plan(_users('activeValue = "maybe"')), CATALOG, TALLIES)
    carried = next(r for r in rows if r.step == "users")
    assert carried.in_source is None and carried.status_text == "unknown"
    assert {r.statuses for r in left_behind(rows) if r.entity == "user"} == {("active",), ("inactive",)}
    assert _row(rows, "user", "inactive").reason == (
        "user status inactive of connection source: no step's filter is known to select it "
        "(activeValue=maybe of step users)"
    )


def test_summary_and_csv_carry_counts_and_reasons() -> None:
    rows = plan_coverage(_plan(_users('activeValue = "active"')), CATALOG, TALLIES)
    counts = {"users": StepCount(read=40, written=39, rejected=1)}
    text = "\n".join(summary_lines(rows, counts))
    assert "source.user [active]" in text and "step users: read 40  written 39  rejected 1" in text
    assert (
        "LEFT BEHIND: user status inactive of connection source: excluded by filter activeValue=active" in text
    )
    # 3 inactive users + 5 groups + 7 lessons + 0 sessions; the schedules are not counted
    assert text.splitlines()[-1] == "  left behind: 5 entities/statuses, 15 records (+1 not counted)"
    table = {(r[1], r[2]): r for r in csv_rows(rows, counts)}
    assert table["user", "active"] == ("source", "user", "active", 40, "users", 40, 39, 1, "no", "")
    assert table["user", "inactive"][3:5] == (3, "") and table["user", "inactive"][8] == "yes"
    assert table["lesson_schedule", "all"][9] == (
        "entity lesson_schedule of connection source: no step reads it; not counted: read once per user: "
        "counting it would read them all"
    )


def test_nothing_left_behind_is_said_too() -> None:
    rows = [CoverageRow("s", "user", ("",), 4, "users")]
    assert summary_lines(rows, {})[-1] == "  left behind: nothing"
    assert summary_lines([], {}) == []


def test_rows_survive_the_journal_and_the_newest_run_that_kept_them_wins() -> None:
    rows = plan_coverage(_plan(_users() + GROUPS), CATALOG, TALLIES)
    assert rows_from_json(rows_to_json(rows)) == rows
    older = [CoverageRow("s", "user", ("",), 1, "users")]
    stats = {1: {"coverage": rows_to_json(older)}, 2: {"coverage": rows_to_json(rows)}, 3: {"steps": {}}}
    assert kept_rows(stats) == (2, rows)
    assert kept_rows({1: {"steps": {}}}) == (None, [])
    assert rows_from_json("not rows") == [] and rows_from_json([1, {"entity": "x"}])[0].statuses == ()


def test_a_kept_inventory_is_read_back_as_counted() -> None:
    stats = {1: {"inventory": tallies_to_json(TALLIES[:2])}, 2: {"inventory": tallies_to_json(TALLIES)}}
    assert kept_tallies(stats) == TALLIES
    assert kept_tallies({1: {"steps": {}}}) is None
    assert kept_tallies({1: {"inventory": [{"entity": "user", "count": "many"}]}}) == [
        Tally("", "user", "", None)
    ]


def test_an_entity_read_from_another_ones_list_is_that_entity() -> None:
    # Velpic user_status reads GET /user: the list is counted once, as users; a step reading it carries users
    status = """
[steps.user_status]
read  = { from = "source", entity = "user_status", filter = { activeValue = "all" } }
write = { to = "target", entity = "user_status", mode = "update", match = "id" }
map = { id = "id", clientStatusId = "clientStatusId" }
"""
    plan = _plan(status)
    assert {s.entity for s in slices(plan, CATALOG)} == {
        "user", "group", "lesson", "lesson_schedule", "certificate", "ilt_session"
    }  # fmt: skip
    (reading,) = readings(plan, CATALOG)
    assert (reading.entity, set(reading.statuses)) == ("user", {"active", "inactive"})
