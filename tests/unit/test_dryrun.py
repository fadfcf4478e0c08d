"""The dry run's classifying writer, in process: a create-only step's records settled as the run settles them
(the Velpic user status step after the users step: a user the import would create is Active, one already on
the target is judged by its status there)."""

from __future__ import annotations

import anyio

from migrator.connectors.base import RowResult, WriteItem
from migrator.connectors.registry import make_writer
from migrator.runtime.counters import StepCounters
from migrator.runtime.dryrun import DRY_RUN_ID, DryRunWriter


def _status(source_key: str, user: str, status: int) -> WriteItem:
    return WriteItem(f"i{source_key}", source_key, {"id": user, "clientStatusId": status})


def _classified(writer: DryRunWriter, items: list[WriteItem]) -> list[tuple[str, str | None]]:
    prepared = [writer.prepare(it) for it in items]
    assert all(isinstance(p, WriteItem) for p in prepared)

    async def main() -> list[RowResult]:
        return await writer.write_direct([p for p in prepared if isinstance(p, WriteItem)])

    return [(row.action, row.target_id) for row in anyio.run(main)]


def test_a_status_step_after_users_the_run_creates_or_finds_is_previewed_as_the_run_writes_it() -> None:
    counters = StepCounters()
    # the target's users as the step reads them (id, status): 7 Active, 8 Not Current
    index = {"7\x1f56": ["7"], "8\x1f57": ["8"]}
    writer = DryRunWriter(make_writer("velpic", "user_status", "update", "id"), index, counters=counters)
    rows = _classified(
        writer,
        [
            _status("new-active", DRY_RUN_ID, 56),  # the import creates it Active: no call
            _status("new-leaver", DRY_RUN_ID, 57),  # then made Not Current: one call
            _status("same", "7", 56),  # already Active: no call
            _status("changed", "8", 56),  # Not Current there: activated, not refused
        ],
    )
    assert rows == [("unchanged", DRY_RUN_ID), ("updated", DRY_RUN_ID), ("unchanged", "7"), ("updated", "8")]
    assert counters.linked == 2


def test_a_create_only_step_without_an_index_or_a_lookup_creates_what_it_sends() -> None:
    writer = DryRunWriter(make_writer("velpic", "group", "create", "name"), None)
    rows = _classified(writer, [WriteItem("i1", "g1", {"name": "Sales", "description": "d"})])
    assert rows == [("created", DRY_RUN_ID)]
