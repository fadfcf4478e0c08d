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
from migrator.runtime.dryrun import DRY_RUN_ID, DryRunWriter, StepFindings


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
