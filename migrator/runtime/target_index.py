"""The target's records of one entity, indexed by match value: read once per step, before any write.

A create-only step uses it so that a record whose match value is already on the target — written by another
run, another journal, or the customer's own hands — is linked to that record (its id goes to the crosswalk)
instead of being created a second time; a value held by several target records is a dead letter, for a
person to resolve. A dry run uses it to tell a create from an update.

Values are the record's match fields joined, each stripped of surrounding spaces and case-folded (the platforms
compare e-mail addresses and names without case); two target records whose values differ only in case hold the
same value, and a record matching them is a dead letter rather than a guess. The index is unknowable (``None``)
when the writer has no match fields, the entity cannot be read whole (it has no read, or its read needs a
filter), a page is refused, or the records read do not carry the match fields (a target that names them
otherwise); a create-only step then looks each record up before creating it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from migrator.connectors.base import EngineSupportError, PagedReader, WriteItem, Writer
from migrator.connectors.catalog import entity_spec
from migrator.connectors.registry import make_reader
from migrator.protocol.pagination import NextPage, PageRequest, RemainingPages
from migrator.transport import Transport

__all__ = ["TargetIndex", "match_value", "normalised_match", "read_target_index"]

log = structlog.get_logger("migrator.runtime")

#: match value → the target ids of the records that hold it
TargetIndex = dict[str, list[str]]

#: target-side filters that make a read return every record, not only active ones
_READ_ALL: Mapping[tuple[str, str], Mapping[str, Any]] = {("velpic", "user"): {"activeValue": "all"}}


def normalised_match(values: Sequence[Any]) -> str | None:
    """Match field values as one comparable value (None when one is missing)."""
    if any(v is None or v == "" for v in values):
        return None
    return "\x1f".join(str(v).strip().casefold() for v in values)


def match_value(writer: Writer, item: WriteItem) -> str | None:
    """The match value of ``item`` for ``writer`` (its match fields joined), or None."""
    fields = writer.match_fields
    return normalised_match([item.payload.get(f) for f in fields]) if fields else None


async def read_target_index(
    transport: Transport, platform: str, entity: str, writer: Writer, step: str
) -> TargetIndex | None:
    """Every record of ``entity`` on the target, by match value (None: unknowable, see the module)."""
    fields = writer.match_fields
    spec = entity_spec(platform, entity)
    if not fields or spec is None or spec.read is None or spec.read.required_filters:
        return None  # a read that needs a filter (OneFile: the organisation) cannot list the whole target
    try:
        filters = _READ_ALL.get((platform, entity), {})
        reader = make_reader(platform, entity, filters, 100, f"{step}:target", fields)
    except EngineSupportError:
        return None
    if not isinstance(reader, PagedReader):
        return None
    index: TargetIndex = {}
    read = 0
    pager = reader.paginator()
    queue: list[PageRequest] = [pager.start(())]
    while queue:
        page = queue.pop(0)
        response = await transport.send(reader.page_request(page))
        if response.status not in (200, 204):
            log.info("target_unreadable", step=step, entity=entity, status=response.status)
            return None
        try:
            decoded = reader.decode_page(response) if response.status == 200 else None
        except (ValueError, KeyError, TypeError) as error:  # the connector cannot read the target this way
            log.info("target_unreadable", step=step, entity=entity, error=type(error).__name__)
            return None
        records = decoded.records if decoded is not None else []
        read += len(records)
        for record in records:
            value = normalised_match([record.get(f) for f in fields])
            if value is not None:
                index.setdefault(value, []).append(str(record.get(reader.key_field, "")))
        outcome = pager.receive(page, decoded if decoded is not None else _Empty())
        if isinstance(outcome, NextPage):
            queue.append(outcome.request)
        elif isinstance(outcome, RemainingPages):
            queue.extend(outcome.requests)
    if read and not index:
        log.info("target_unmatched", step=step, entity=entity, records=read, fields=list(fields))
        return None
    log.info("target_indexed", step=step, entity=entity, values=len(index))
    return index


class _Empty:
    records: list[Any] = []  # noqa: RUF012
    total: int | None = None
