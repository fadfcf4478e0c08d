"""Dry run: what a run would create, update and reject, without writing anything to the target.

The dry run is a writer: ``DryRunWriter`` wraps the step's real writer, so each record is read, mapped and
checked against the target connector's own rules (``prepare``: required fields, enums such as Velpic roles,
OneFile mandatory fields per role, …), and then "written" by classifying it. To tell a create from an update,
the target entity is read once, page by page, and its match-key values indexed (``target_match_index``: a set
of case-folded strings): a record whose match value is there would update it, any other would be created.
A record whose step another step references is remembered (``seen``), so that a crosswalk reference to it
resolves to a stand-in id (``DRY_RUN_ID``) instead of failing as missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from migrator.connectors.base import EngineSupportError, PagedReader, RowResult, WriteItem, Writer
from migrator.connectors.registry import make_reader
from migrator.protocol.pagination import NextPage, PageRequest, RemainingPages
from migrator.runtime.step_spec import Resolver
from migrator.transport import Transport

__all__ = ["DRY_RUN_ID", "DryRunWriter", "dry_run_resolver", "match_value", "target_match_index"]

log = structlog.get_logger("migrator.runtime")

#: what a crosswalk reference resolves to in a dry run when the referenced record would have been created
DRY_RUN_ID = "0"

#: target-side filters that make a read return every record, not only active ones
_READ_ALL: dict[tuple[str, str], dict[str, Any]] = {("velpic", "user"): {"activeValue": "all"}}


def _key(values: list[Any]) -> str | None:
    if any(v in (None, "") for v in values):
        return None
    return "\x1f".join(str(v).strip().casefold() for v in values)


def match_value(writer: Writer, item: WriteItem) -> str | None:
    """The case-folded match value of ``item`` (several match fields joined), or None."""
    fields = writer.match_fields
    return _key([item.payload.get(f) for f in fields]) if fields else None


class DryRunWriter:
    """Writes nothing: ``prepare`` is the real writer's, and each record "written" counts as an update when the
    target index has its match value, else as a create (and joins the index, so a second record with the same
    value would update it). Without an index (``None``: the target cannot be read by match key) a record is
    neither: its action is ``unchanged``."""

    idempotent = True

    def __init__(self, writer: Writer, index: set[str] | None, seen: set[str]) -> None:
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
                    index.add(value)
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


async def target_match_index(
    transport: Transport, platform: str, entity: str, writer: Writer, step: str
) -> set[str] | None:
    """The case-folded match values of every record of ``entity`` on the target, or None if unknowable: the
    writer has no match fields, the entity cannot be read, a page is refused, or the records read do not
    carry the match fields (a target that names them otherwise, e.g. by internal id)."""
    fields = writer.match_fields
    if not fields:
        return None
    try:
        filters = _READ_ALL.get((platform, entity), {})
        reader = make_reader(platform, entity, filters, 100, f"{step}:dry-run", fields)
    except EngineSupportError:
        return None
    if not isinstance(reader, PagedReader):
        return None
    index: set[str] = set()
    read = 0
    pager = reader.paginator()
    queue: list[PageRequest] = [pager.start(())]
    while queue:
        page = queue.pop(0)
        response = await transport.send(reader.page_request(page))
        if response.status not in (200, 204):
            log.info("dry_run_target_unreadable", step=step, entity=entity, status=response.status)
            return None
        decoded = reader.decode_page(response) if response.status == 200 else None
        records = decoded.records if decoded is not None else []
        read += len(records)
        for record in records:
            value = _key([record.get(f) for f in fields])
            if value is not None:
                index.add(value)
        outcome = pager.receive(page, decoded if decoded is not None else _Empty())
        if isinstance(outcome, NextPage):
            queue.append(outcome.request)
        elif isinstance(outcome, RemainingPages):
            queue.extend(outcome.requests)
    if read and not index:
        log.info("dry_run_target_unmatched", step=step, entity=entity, records=read, fields=list(fields))
        return None
    log.info("dry_run_target_indexed", step=step, entity=entity, values=len(index))
    return index


class _Empty:
    records: list[Any] = []  # noqa: RUF012
    total: int | None = None
