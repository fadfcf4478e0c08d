"""Dry run: what a run would create, update and reject, without writing anything to the target.

Each record is read, mapped and checked against the target connector's own rules (``TargetWriter.prepare``:
required fields, enums such as Velpic roles, OneFile mandatory fields per role, …). To tell a create from an
update, the target entity is read once, page by page, and its match-key values indexed (a set of strings,
case-folded): a record whose match value is there would update it, any other would be created.
"""

from __future__ import annotations

from typing import Any

import structlog

from migrator.connectors.base import EngineSupportError, TargetWriter, WriteItem
from migrator.connectors.registry import make_reader
from migrator.protocol.pagination import NextPage, PageRequest, RemainingPages
from migrator.transport import Transport

__all__ = ["match_value", "target_match_index"]

log = structlog.get_logger("migrator.runtime")

#: target-side filters that make a read return every record, not only active ones
_READ_ALL: dict[tuple[str, str], dict[str, Any]] = {("velpic", "user"): {"activeValue": "all"}}


def _match_fields(writer: TargetWriter) -> tuple[str, ...]:
    """``match_fields`` (several, e.g. accessplanit ``UserID,CourseDateID``) or ``match_field`` of a writer."""
    fields = getattr(writer, "match_fields", None)
    if fields:
        return tuple(fields)
    field = getattr(writer, "match_field", None)
    return (field,) if field else ()


def _key(values: list[Any]) -> str | None:
    if any(v in (None, "") for v in values):
        return None
    return "\x1f".join(str(v).strip().casefold() for v in values)


def match_value(writer: TargetWriter, item: WriteItem) -> str | None:
    fields = _match_fields(writer)
    return _key([item.payload.get(f) for f in fields]) if fields else None


async def target_match_index(
    transport: Transport, platform: str, entity: str, writer: TargetWriter, step: str
) -> set[str] | None:
    """The case-folded match values of every record of ``entity`` on the target, or None if unknowable."""
    fields = _match_fields(writer)
    if not fields:
        return None
    try:
        filters = _READ_ALL.get((platform, entity), {})
        reader = make_reader(platform, entity, filters, 100, f"{step}:dry-run", fields)
    except EngineSupportError:
        return None
    index: set[str] = set()
    pager = reader.paginator()
    queue: list[PageRequest] = [pager.start(())]
    while queue:
        page = queue.pop(0)
        response = await transport.send(reader.page_request(page))
        decoded = reader.decode_page(response) if response.status == 200 else None
        records = decoded.records if decoded is not None else []
        for record in records:
            value = _key([record.get(f) for f in fields])
            if value is not None:
                index.add(value)
        outcome = pager.receive(page, decoded if decoded is not None else _Empty())
        if isinstance(outcome, NextPage):
            queue.append(outcome.request)
        elif isinstance(outcome, RemainingPages):
            queue.extend(outcome.requests)
    log.info("dry_run_target_indexed", step=step, entity=entity, values=len(index))
    return index


class _Empty:
    records: list[Any] = []  # noqa: RUF012
    total: int | None = None
