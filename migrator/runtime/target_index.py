"""The target's records of one entity, indexed by match value: read once per step, before any write.

A create-only step uses it so that a record whose match value is already on the target — written by another
run, another journal, or the customer's own hands — is linked to that record (its id goes to the crosswalk)
instead of being created a second time; a value held by several target records is a dead letter, for a
person to resolve. A dry run uses it to tell a create from an update.

Values are the record's match fields joined, each stripped of surrounding spaces and case-folded (the platforms
compare e-mail addresses and names without case); two target records whose values differ only in case hold the
same value, and a record matching them is a dead letter rather than a guess. The index is unknowable (``None``)
when the writer has no match fields, the entity cannot be read whole (it has no read, or its read needs a
filter), a page is refused, or the records read do not carry the match fields; a create-only step then looks
each record up before creating it. A target that lists the fields under other names than the writer writes
them (``ListedOtherwise``: aNewSpring users, whose external ``userID`` is listed as ``id``) is read through
those names, each record named as the writer's answers name it. A nested read (a list whose records are
completed one request each: aNewSpring ``getUsers`` then ``getUser`` per user) reads every record's children,
leaving out a record it cannot address (``PartialReader``: an aNewSpring user without an external ID, which
no write of the step can reach either); a list that may leave records out (``OpenListing``) has what it did
not list read when a write names it (``unlisted``).

A step that updates reads the target's current values of the fields it writes instead (``CurrentValues``: only
those fields, by match value, of the values one record holds; kept on disk), once before its first write: its
overwrite policy and its unchanged records are judged against them (``unchanged``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import orjson
import structlog

from migrator.connectors.base import (
    EngineSupportError,
    ListedOtherwise,
    MatchComparer,
    NestedReader,
    PagedReader,
    PartialReader,
    Request,
    Response,
    WriteItem,
    Writer,
)
from migrator.connectors.catalog import entity_spec
from migrator.connectors.registry import make_reader
from migrator.errors import first_leaf
from migrator.protocol.pagination import NextPage, PageRequest, RemainingPages
from migrator.runtime.children import children_read
from migrator.runtime.fetch import fetch_many
from migrator.transport import Transport

if TYPE_CHECKING:
    from migrator.runtime.unlisted import Unlisted

__all__ = [
    "CurrentValues",
    "TargetIndex",
    "TargetRecord",
    "match_value",
    "normalised_match",
    "read_current_values",
    "read_target_index",
    "record_match",
]

log = structlog.get_logger("migrator.runtime")

#: match value → the target ids of the records that hold it
TargetIndex = dict[str, list[str]]


@dataclass(slots=True)
class TargetRecord:
    """One target record as an update step needs it: its id, and the current values of the fields it writes
    that the target returned. ``shared``: several target records hold this match value (no id, no values).
    ``used``: a record of this run was already written to it, so its values may be stale. ``written``: this
    run created it (it was not on the target before the run; its values are not kept)."""

    target_id: str
    values: dict[str, Any]
    shared: bool = False
    used: bool = False
    written: bool = False


#: a record's state in :class:`CurrentValues`' table
_READ, _USED, _SHARED, _WRITTEN = 0, 1, 2, 3
#: match values looked up in one query (SQLite allows 32,766 parameters)
_CHUNK = 500


class CurrentValues:
    """An update step's view of the target: match value → the one record that holds it, with the values of
    ``fields`` it returned. Kept in a private temporary SQLite database on disk (SQLite deletes it when it is
    closed), a few MiB of it cached: memory stays flat whether the target holds a thousand records or millions,
    and so do the records a run creates, which join the view (:meth:`written`) so that a later record with
    the same match value — the source holds it twice — is known as an update of the first. A batch asks for
    its records in one query (:meth:`lookup`)."""

    __slots__ = ("_db", "_pending", "fields")

    def __init__(self, fields: Sequence[str]) -> None:
        self.fields = tuple(fields)
        self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = OFF")  # a scratch copy of what the target returned
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("PRAGMA cache_size = -4096")
        self._db.execute(
            "CREATE TABLE held (value TEXT PRIMARY KEY, target_id TEXT NOT NULL, vals TEXT, state INTEGER NOT "
            "NULL) WITHOUT ROWID"
        )
        self._pending: list[tuple[str, str, str]] = []

    def add(self, value: str, target_id: str, record: Mapping[str, Any]) -> None:
        """A target record read with match value ``value``; a second one makes the value ``shared``."""
        vals = {f: record[f] for f in self.fields if f in record}
        self._pending.append((value, target_id, orjson.dumps(vals, default=str).decode()))
        if len(self._pending) >= _CHUNK:
            self._flush()

    def written(self, created: Iterable[tuple[str, str]]) -> None:
        """Records this run created, as ``(match value, target id)``: held from now on, without values."""
        self._flush()
        self._many(
            "INSERT INTO held (value, target_id, vals, state) VALUES (?, ?, NULL, 3) ON CONFLICT DO NOTHING",
            created,
        )

    def used(self, values: Iterable[str]) -> None:
        """Records read from the target that a record of this run has now been written to."""
        self._many("UPDATE held SET state = 1 WHERE value = ? AND state = 0", [(v,) for v in values])

    def _many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """``sql`` for each of ``rows``, in one transaction (each statement outside one is a transaction of its
        own: 2.5 times the CPU for a batch's records)."""
        self._db.execute("BEGIN")
        try:
            self._db.executemany(sql, rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def lookup(self, values: Iterable[str]) -> dict[str, TargetRecord]:
        """The records held under each of ``values`` (a value not held is left out)."""
        self._flush()
        wanted = list(dict.fromkeys(values))
        found: dict[str, TargetRecord] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT value, target_id, vals, state FROM held WHERE value IN ({marks})", chunk
            )
            for value, target_id, vals, state in rows:
                found[value] = TargetRecord(
                    target_id,
                    {} if vals is None else orjson.loads(vals),
                    shared=state == _SHARED,
                    used=state in (_USED, _WRITTEN),
                    written=state == _WRITTEN,
                )
        return found

    def get(self, value: str) -> TargetRecord | None:
        return self.lookup((value,)).get(value)

    def values(self, record: TargetRecord) -> dict[str, Any]:
        """The fields ``record`` returned, with their values."""
        return record.values

    def close(self) -> None:
        self._pending.clear()
        self._db.close()

    def _flush(self) -> None:
        """Records read but not in the table yet go in (a value read twice becomes ``shared``)."""
        if self._pending:
            self._many(
                "INSERT INTO held (value, target_id, vals, state) VALUES (?, ?, ?, 0) ON CONFLICT (value) DO "
                "UPDATE SET target_id = '', vals = NULL, state = 2",
                self._pending,
            )
            self._pending.clear()

    def __len__(self) -> int:
        self._flush()
        count: int = self._db.execute("SELECT count(*) FROM held").fetchone()[0]
        return count


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
    if not fields:
        return None
    if _compares(writer):
        return record_match(writer)(item.payload)
    payload = item.payload
    return normalised_match([payload.get(f) for f in fields])


#: writer class → whether it is a ``MatchComparer`` (a runtime Protocol check costs microseconds: once a class)
_COMPARERS: dict[type, bool] = {}


def _compares(writer: Writer) -> bool:
    kind = type(writer)
    known = _COMPARERS.get(kind)
    if known is None:
        known = _COMPARERS[kind] = isinstance(writer, MatchComparer)
    return known


def record_match(writer: Writer) -> Callable[[Mapping[str, Any]], str | None]:
    """The match value of a record (a payload, or a record the target lists) for ``writer``: its match fields
    joined, each compared the way the writer says (``MatchComparer``) or as text."""
    fields = writer.match_fields
    if _compares(writer) and isinstance(writer, MatchComparer):
        compare = writer.comparable
        return lambda record: normalised_match([compare(f, record.get(f)) for f in fields])
    if len(fields) == 1:  # the usual case, on the hot path: one field, no list to build
        (only,) = fields

        def one(record: Mapping[str, Any]) -> str | None:
            value = record.get(only)
            return None if value is None or value == "" else str(value).strip().casefold()

        return one
    return lambda record: normalised_match([record.get(f) for f in fields])


async def read_target_index(
    transport: Transport,
    platform: str,
    entity: str,
    writer: Writer,
    step: str,
    unlisted: Unlisted | None = None,
) -> TargetIndex | None:
    """Every record of ``entity`` on the target, by match value (None: unknowable, see the module); what
    the list may have left out joins it when a write names it, where ``unlisted`` is given."""
    fields = writer.match_fields
    reader = _target_reader(platform, entity, fields, step)
    if reader is None:
        return None
    index: TargetIndex = {}
    match_of = record_match(writer)
    as_written, id_field = _as_written(writer, reader.key_field)

    def visit(listed: Mapping[str, Any]) -> None:
        record = as_written(listed)
        value = match_of(record)
        if value is not None:
            index.setdefault(value, []).append(str(record.get(id_field, "")))

    read = await _read_all(transport, reader, entity, step, visit)
    if read is None:
        return None
    if read and not index:
        log.info("target_unmatched", step=step, entity=entity, records=read, fields=list(fields))
        return None
    log.info("target_indexed", step=step, entity=entity, values=len(index))
    if unlisted is not None:
        unlisted.watch(reader, visit)
    return index


async def read_current_values(
    transport: Transport,
    platform: str,
    entity: str,
    writer: Writer,
    step: str,
    fields: Sequence[str],
    unlisted: Unlisted | None = None,
) -> CurrentValues | None:
    """The current ``fields`` of every record of ``entity`` on the target, by match value (None: unknowable,
    as for the index). Only ``fields`` are kept, and only those a record returns; a match value several
    records hold keeps no values (``shared``: which record an update reaches is the platform's choice). What
    the list may have left out joins them when a write names it, where ``unlisted`` is given."""
    match = writer.match_fields
    reader = _target_reader(platform, entity, (*match, *fields), step) if match else None
    if reader is None:
        return None
    current = CurrentValues(fields)
    match_of = record_match(writer)
    as_written, id_field = _as_written(writer, reader.key_field)

    def visit(listed: Mapping[str, Any]) -> None:
        record = as_written(listed)
        value = match_of(record)
        if value is not None:
            current.add(value, str(record.get(id_field, "")), record)

    try:
        read = await _read_all(transport, reader, entity, step, visit)
    except BaseException:
        current.close()
        raise
    if read is None or (read and not current):
        current.close()
        log.info("target_values_unknown", step=step, entity=entity, records=read)
        return None
    log.info("target_values_read", step=step, entity=entity, values=len(current))
    if unlisted is not None:
        unlisted.watch(reader, visit)
    return current


def _as_written(writer: Writer, key_field: str) -> tuple[Callable[[Mapping[str, Any]], Mapping[str, Any]], str]:
    """How a target record read is seen as the writer writes it, and the field that names it as the writer's
    answers do: as listed, by the list's key; or, for a writer whose target lists its fields otherwise
    (``ListedOtherwise``), with each written field taken from the field the list names it by."""
    if not isinstance(writer, ListedOtherwise):
        return (lambda record: record), key_field
    names = tuple(writer.listed_names.items())

    def as_written(record: Mapping[str, Any]) -> Mapping[str, Any]:
        return {**record, **{f: record[listed] for f, listed in names if listed in record and f not in record}}

    return as_written, writer.listed_id


def _target_reader(platform: str, entity: str, fields: Sequence[str], step: str) -> PagedReader | None:
    """A paged reader of the whole ``entity`` with ``fields``, or None when it cannot be read whole."""
    spec = entity_spec(platform, entity)
    if not fields or spec is None or spec.read is None or spec.read.required_filters:
        return None  # a read that needs a filter (OneFile: the organisation) cannot list the whole target
    try:
        filters = _READ_ALL.get((platform, entity), {})
        reader = make_reader(platform, entity, filters, 100, f"{step}:target", tuple(dict.fromkeys(fields)))
    except EngineSupportError:
        return None
    if isinstance(reader, PartialReader):  # a record a write cannot address is none it can reach
        reader.partial = True
    return reader if isinstance(reader, PagedReader) else None


class _Unreadable(Exception):
    """A page of the target was refused or could not be read: what it holds is unknowable."""


async def _read_all(
    transport: Transport,
    reader: PagedReader,
    entity: str,
    step: str,
    visit: Callable[[Mapping[str, Any]], None],
) -> int | None:
    """Read every page of ``reader``, each record to ``visit``: the records read, or None when a page is
    refused or cannot be read. Pages whose total is known are fetched concurrently, as many in flight as the
    target's connection allows (a cutover onto a target of tens of thousands of records does not wait page
    after page); a paginator that only knows the next page is followed one page at a time."""
    read = 0
    pager = reader.paginator()

    async def get(first: PageRequest) -> None:
        nonlocal read
        page: PageRequest | None = first
        while page is not None:
            response = await transport.send(reader.page_request(page))
            if response.status not in (200, 204):
                log.info("target_unreadable", step=step, entity=entity, status=response.status)
                raise _Unreadable
            try:
                decoded = reader.decode_page(response) if response.status == 200 else None
            except (ValueError, KeyError, TypeError) as error:  # the connector cannot read the target this way
                log.info("target_unreadable", step=step, entity=entity, error=type(error).__name__)
                raise _Unreadable from None
            records = decoded.records if decoded is not None else []
            if isinstance(reader, NestedReader):
                expanded = await _children(transport, reader, records, entity, step)
                if expanded is None:
                    raise _Unreadable
                records = expanded
            read += len(records)
            for record in records:
                visit(record)
            outcome = pager.receive(page, decoded if decoded is not None else _Empty())
            page = outcome.request if isinstance(outcome, NextPage) else None
            if isinstance(outcome, RemainingPages):
                await fetch_many(list(outcome.requests), get, transport.limits.concurrency)

    unreadable = False
    try:
        try:
            await get(pager.start(()))
        except* _Unreadable:
            unreadable = True
    except BaseExceptionGroup as group:  # a page's call failed (refused credentials, retries spent): as it is
        raise first_leaf(group) from None
    return None if unreadable else read


async def _children(
    transport: Transport, reader: NestedReader, parents: Sequence[Mapping[str, Any]], entity: str, step: str
) -> list[dict[str, Any]] | None:
    """The records of a nested read's parent page (aNewSpring: each listed user with its details), one
    request per parent, as many in flight as the connection allows; None when one is refused or unreadable
    (204 and 404: a parent without children)."""
    out: list[list[dict[str, Any]]] = [[] for _ in parents]
    refused: list[int] = []
    limiter = anyio.Semaphore(max(1, transport.limits.concurrency))
    read = children_read(reader)

    async def send(request: Request) -> Response:
        async with limiter:
            return await transport.send(request)

    async def one(i: int, parent: Mapping[str, Any]) -> None:
        try:
            children = await read(send, parent)
        except (ValueError, KeyError, TypeError):
            refused.append(200)
            return
        if isinstance(children, tuple):
            refused.append(children[1].status)
        else:
            out[i] = children

    async with anyio.create_task_group() as tg:
        for i, parent in enumerate(parents):
            tg.start_soon(one, i, parent)
    if refused:
        log.info("target_unreadable", step=step, entity=entity, status=refused[0], children=True)
        return None
    return [child for children in out for child in children]


class _Empty:
    records: list[Any] = []  # noqa: RUF012
    total: int | None = None
