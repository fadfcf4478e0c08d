"""Dry run: what a run would create, update and reject, without writing anything to the target.

The dry run is a writer: ``DryRunWriter`` wraps the step's real writer, so each record is read, mapped and
checked against the target connector's own rules (``prepare``: required fields, enums such as Velpic roles,
OneFile mandatory fields per role, …), and then "written" by classifying it. To tell a create from an update,
the target entity is read once, page by page, and its match-key values indexed (``target_index``): a record
whose match value is there would update it, any other would be created.
A record whose step another step references is remembered (``seen``), so that a crosswalk reference to it
resolves to a stand-in id (``DRY_RUN_ID``) instead of failing as missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from migrator.connectors.base import RowResult, WriteItem, Writer
from migrator.runtime.step_spec import Resolver
from migrator.runtime.target_index import TargetIndex, match_value

__all__ = ["DRY_RUN_ID", "DryRunWriter", "dry_run_resolver"]

#: what a crosswalk reference resolves to in a dry run when the referenced record would have been created
DRY_RUN_ID = "0"


class DryRunWriter:
    """Writes nothing: ``prepare`` is the real writer's, and each record "written" counts as an update when the
    target index has its match value, else as a create (and joins the index, so a second record with the same
    value would update it). Without an index (``None``: the target cannot be read by match key) a record is
    neither: its action is ``unchanged``."""

    idempotent = True

    def __init__(self, writer: Writer, index: TargetIndex | None, seen: set[str]) -> None:
        self.writer = writer
        self.index = index
        self.seen = seen
        self.mode = writer.mode
        self.max_batch = writer.max_batch
        self.match_fields = writer.match_fields

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        prepared = self.writer.prepare(item)
        if isinstance(prepared, WriteItem):
            self.seen.add(item.source_key)
        return prepared

    async def write_direct(self, items: Sequence[WriteItem]) -> list[RowResult]:
        index = self.index
        rows: list[RowResult] = []
        for it in items:
            value = match_value(self.writer, it)
            if index is None:
                rows.append(RowResult(it.idem_key, ok=True, action="unchanged"))
            elif value is not None and value in index:
                rows.append(RowResult(it.idem_key, ok=True, action="updated"))
            else:
                rows.append(RowResult(it.idem_key, ok=True, action="created"))
                if value is not None and DRY_RUN_ID not in value.split("\x1f"):  # a stand-in id matches nothing
                    index[value] = [DRY_RUN_ID]
        return rows


def dry_run_resolver(crosswalks: Mapping[str, Mapping[str, str]], seen: Mapping[str, set[str]]) -> Resolver:
    """Crosswalk references in a dry run: the target id, else ``DRY_RUN_ID`` for a record the dry run would
    have written in the referenced step."""

    def resolve(step: str, key: Any) -> Any:
        walk = crosswalks.get(step)
        found = None if walk is None else walk.get(str(key))
        if found is None and str(key) in seen.get(step, ()):
            return DRY_RUN_ID
        return found

    return resolve
