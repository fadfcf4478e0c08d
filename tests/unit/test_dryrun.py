"""The dry run's classifying writer, in process: a create-only step's records settled as the run settles them
(the Velpic user status step after the users step: a user the import would create or merge into is counted
apart by the status it wants, since no document says what the import makes of it; one already on the target
is judged by its status there); a record an earlier step creates found by a later one; a step whose target
cannot be read counted as its run counts what it sends."""

from __future__ import annotations

import anyio

from migrator.connectors.base import RowResult, WriteItem
from migrator.connectors.registry import make_writer
from migrator.runtime.counters import StepCounters
from migrator.runtime.dryrun import DRY_RUN_ID, DryRun, DryRunWriter, StepFindings, dry_run_resolver


def _status(source_key: str, user: str, status: int) -> WriteItem:
    return WriteItem(f"i{source_key}", source_key, {"id": user, "clientStatusId": status})


def _classified(writer: DryRunWriter, items: list[WriteItem]) -> list[tuple[str, str | None]]:
    prepared = [writer.prepare(it) for it in items]
    assert all(isinstance(p, WriteItem) for p in prepared)

    async def main() -> list[RowResult]:
        return await writer.write_direct([p for p in prepared if isinstance(p, WriteItem)])

    return [(row.action, row.target_id) for row in anyio.run(main)]


def test_a_status_step_after_users_the_run_creates_or_finds_is_previewed_as_the_run_writes_it() -> None:
    counters, findings = StepCounters(), StepFindings()
    # the target's users as the step reads them (id, status): 7 Active, 8 Not Current, 9 Not Current
    index = {"7\x1f56": ["7"], "8\x1f57": ["8"], "9\x1f57": ["9"]}
    writer = DryRunWriter(
        make_writer("velpic", "user_status", "update", "id"),
        index,
        counters=counters,
        findings=findings,
        merged={"9": "users"},  # the users step merges into user 9
        step="user_status",
    )
    rows = _classified(
        writer,
        [
            _status("new-active", DRY_RUN_ID, 56),  # created by the import: Active or not, no document says
            _status("new-leaver", DRY_RUN_ID, 57),
            _status("same", "7", 56),  # already Active: no call
            _status("changed", "8", 56),  # Not Current there: activated, not refused
            _status("merged", "9", 56),  # merged into: the import may reactivate it
        ],
    )
    assert rows == [
        ("unchanged", DRY_RUN_ID),
        ("unchanged", DRY_RUN_ID),
        ("unchanged", "7"),
        ("updated", "8"),
        ("unchanged", "9"),
    ]
    assert counters.linked == 1
    assert findings.after_create == {"clientStatusId=56": 1, "clientStatusId=57": 1}
    assert findings.after_merge == {"clientStatusId=56, other": 1}


def test_a_record_an_earlier_step_creates_is_found_by_a_later_step_writing_the_same_entity() -> None:
    made: set[str] = set()
    counters = StepCounters()
    first = DryRunWriter(make_writer("onefile", "user", "create", "MISID"), {}, made=made)
    later = DryRunWriter(make_writer("onefile", "user", "create", "MISID"), {}, made=made, counters=counters)
    user = {"OrganisationID": 1, "Role": 5, "FirstName": "A", "LastName": "B", "Email": "a@b.co", "MISID": "E1"}
    assert _classified(first, [WriteItem("i1", "1", user)]) == [("created", DRY_RUN_ID)]
    assert _classified(later, [WriteItem("i2", "2", user)]) == [("unchanged", DRY_RUN_ID)]
    assert counters.linked == 1


def test_an_update_of_a_record_an_earlier_step_creates_that_names_only_its_id_changes_nothing() -> None:
    counters = StepCounters()
    writer = DryRunWriter(make_writer("accessplanit", "company", "update", "ID"), {}, counters=counters)
    rows = _classified(writer, [WriteItem("i1", "c1", {"ID": DRY_RUN_ID})])
    assert rows == [("unchanged", DRY_RUN_ID)] and counters.unchanged == 1


def test_a_step_whose_target_cannot_be_read_counts_what_its_run_sends_as_the_writer_answers() -> None:
    members = DryRunWriter(make_writer("velpic", "group_member", "create", None), None)
    assert _classified(members, [WriteItem("i1", "u1", {"groupId": 3, "userIds": [4]})]) == [
        ("created", DRY_RUN_ID)
    ]
    attendance = DryRunWriter(make_writer("velpic", "ilt_attendance", "create", "sessionId"), None)
    row = {"sessionId": DRY_RUN_ID, "userId": 4, "attended": True, "passed": True}
    assert _classified(attendance, [WriteItem("i2", "b1", row)]) == [("updated", DRY_RUN_ID)]


def test_a_create_only_step_without_an_index_or_a_lookup_creates_what_it_sends() -> None:
    writer = DryRunWriter(make_writer("velpic", "group", "create", "name"), None)
    rows = _classified(writer, [WriteItem("i1", "g1", {"name": "Sales", "description": "d"})])
    assert rows == [("created", DRY_RUN_ID)]


def test_a_later_state_step_finds_each_record_in_the_state_an_earlier_one_leaves_it() -> None:
    """Two status steps in a row (``active_for_history`` then ``user_status``): the first makes every user
    Active, so the second is judged against Active — not the target's status as read, nor the import's — for
    users on the target, users an earlier step merges into and users it creates, each known by the reference
    of its stand-in id."""
    dry = DryRun(crosswalks={"users": {"new-a": DRY_RUN_ID, "new-b": DRY_RUN_ID, "old": "8", "moved": "9"}})
    resolve = dry_run_resolver({}, dry)
    # the target's users as both steps read them, before either writes: 8 Not Current, 9 Active
    index = {"8\x1f57": ["8"], "9\x1f56": ["9"]}
    states, merged = dry.states_of("velpic", "user"), {"9": "users"}

    def step(name: str) -> tuple[DryRunWriter, StepCounters, StepFindings]:
        counters, findings = StepCounters(), StepFindings()
        writer = make_writer("velpic", "user_status", "update", "id")
        dry_writer = DryRunWriter(
            writer, index, counters=counters, findings=findings, merged=merged, states=states, step=name
        )
        return dry_writer, counters, findings

    def status(key: str, wanted: int) -> WriteItem:
        return WriteItem(f"i{key}", key, {"id": resolve("users", key), "clientStatusId": wanted})

    first, _, first_findings = step("active_for_history")
    rows = _classified(first, [status(k, 56) for k in ("new-a", "new-b", "old", "moved")])
    assert rows == [("unchanged", DRY_RUN_ID), ("unchanged", DRY_RUN_ID), ("updated", "8"), ("unchanged", "9")]
    assert first_findings.after_create == {"clientStatusId=56": 2}  # the import's status: counted apart
    assert first_findings.after_merge == {"clientStatusId=56, held": 1}

    later, counters, findings = step("user_status")
    wanted = {"new-a": 56, "new-b": 57, "old": 57, "moved": 56}
    rows = _classified(later, [status(k, v) for k, v in wanted.items()])
    # Active after the first step: the one created Active is linked and the other inactivated; user 8 (Not
    # Current as read) is inactivated again, user 9 (merged into) is linked
    assert rows == [("unchanged", DRY_RUN_ID), ("updated", DRY_RUN_ID), ("updated", "8"), ("unchanged", "9")]
    assert counters.linked == 2
    assert findings.after_create == {} and findings.after_merge == {}
