"""One step's pipeline: fetch pages → map → batch → write, joined by bounded memory object streams.

Memory stays flat: at most a few pages and a few batches are in flight whatever the record count, and a slow
or rate-limited target slows the reads. Everything durable goes through the journal, per page and per batch:

- a record already *done* or *rejected* in the ledger is skipped (resume);
- a batch is *sent* in the journal before its request and *done* after it;
- a record still *sent* from an earlier run is in doubt: an idempotent writer (merge, upsert, update) just
  sends it again; a create-only writer first looks it up on the target by its match key and creates it only
  if it is missing;
- a page is marked done once every record read from it is settled, so a resumed run does not fetch it again.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
import structlog
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from migrator.connectors.base import NestedReader, Request, RowResult, SourceReader, TargetWriter, WriteItem
from migrator.errors import AuthError, MigratorError, TransientError
from migrator.journal import Action, Journal, Rejection, SentRecord, WriteResult
from migrator.plan.mapping import CompiledMap, MappingError
from migrator.protocol.batching import batch_id as make_batch_id
from migrator.protocol.keys import content_hash, record_key_function
from migrator.protocol.pagination import NextPage, PageRequest, RemainingPages
from migrator.runtime.dryrun import match_value
from migrator.runtime.localfiles import LocalReader, LocalWriter
from migrator.transport import Transport

__all__ = ["StepCounters", "StepFailed", "StepSpec", "run_step"]

log = structlog.get_logger("migrator.runtime")

#: what a crosswalk reference resolves to in a dry run when the referenced record would have been created
DRY_RUN_ID = "0"


class StepFailed(MigratorError):
    """The step stopped: too many rejected records, or an error the step cannot go past."""


@dataclass
class StepCounters:
    """Live counts for progress and the summary."""

    read: int = 0
    skipped: int = 0
    written: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    pages: int = 0
    total: int | None = None
    in_doubt_resolved: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class StepSpec:
    """Everything one step needs, built by the runner."""

    plan_name: str
    name: str
    reader: SourceReader
    writer: TargetWriter
    source: Transport
    target: Transport
    mapping: CompiledMap
    batch: int
    journal: Journal
    crosswalks: Mapping[str, Mapping[str, str]]
    max_rejected: int | None = None
    read_concurrency: int = 4
    write_concurrency: int = 4
    dry_run: bool = False
    #: "normal" (records not yet settled), "retry_rejected" (only the dead letters), "delta" (changed content)
    selection: str = "normal"
    #: delta on a create-only step: the writer that updates a changed record at its crosswalk target id
    update_writer: TargetWriter | None = None
    #: dry run: case-folded match values on the target (None: create vs update cannot be told)
    dry_index: set[str] | None = None
    #: dry run: source keys each step would have written (shared by the steps of the run), so a crosswalk
    #: reference to a record that a dry run did not really create resolves to a stand-in id
    dry_seen: dict[str, set[str]] = field(default_factory=dict)
    counters: StepCounters = field(default_factory=StepCounters)
    on_progress: Callable[[str, StepCounters], None] | None = None


@dataclass
class _Batch:
    writer: TargetWriter
    items: list[WriteItem] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)


@dataclass
class _Selection:
    """Which records this run writes, from the journal's ledger.

    ``normal``: every record not yet done or rejected. ``retry_rejected``: only the rejected ones (after the
    plan or the data was fixed). ``delta``: records whose mapped content changed since it was written, and new
    ones (compared by content hash); rejected ones are left to ``retry_rejected``.
    """

    mode: str
    settled: set[str]
    rejected: set[str]
    hashes: dict[str, str | None]
    own_walk: dict[str, str]

    @classmethod
    def load(cls, spec: StepSpec) -> _Selection:
        j = spec.journal
        if spec.selection == "retry_rejected":
            return cls(spec.selection, set(), j.keys_in_state(spec.name, "rejected"), {}, {})
        if spec.selection == "delta":
            walk = j.crosswalk(spec.name) if spec.update_writer is not None else {}
            return cls(
                spec.selection, set(), j.keys_in_state(spec.name, "rejected"), j.done_hashes(spec.name), walk
            )
        return cls(spec.selection, j.settled_keys(spec.name), set(), {}, {})

    def skip_before_mapping(self, idem: str) -> bool:
        if self.mode == "normal":
            return idem in self.settled
        if self.mode == "retry_rejected":
            return idem not in self.rejected
        return idem in self.rejected

    def unchanged(self, idem: str, digest: str) -> bool:
        return self.mode == "delta" and self.hashes.get(idem, "") == digest

    def existing_target(self, idem: str, source_key: str) -> str | None:
        """Delta, create-only step: the target id of a changed record written before (it is updated)."""
        return self.own_walk.get(source_key) if idem in self.hashes else None


class _PageTracker:
    """Counts unsettled records per page; a page whose count reaches zero is done. Done pages are written to
    the journal together (``flush``, after each page mapped and each batch written): a page marked a little
    later is only read again after a crash, its records skipped as settled."""

    def __init__(self, spec: StepSpec) -> None:
        self.spec = spec
        self.pending: dict[str, int] = {}
        self.done: list[str] = []

    async def flush(self) -> None:
        if self.done and not self.spec.dry_run:
            keys, self.done = self.done, []
            self.spec.journal.mark_pages_done(self.spec.name, keys)

    def opened(self, page_key: str, count: int) -> None:
        self.pending[page_key] = self.pending.get(page_key, 0) + count
        self.settle(page_key, 0)

    def settle(self, page_key: str, count: int = 1) -> None:
        left = self.pending.get(page_key, 0) - count
        self.pending[page_key] = left
        if left <= 0:
            del self.pending[page_key]
            self.done.append(page_key)


async def run_step(spec: StepSpec) -> StepCounters:
    """Run one step to the end (or raise ``StepFailed``)."""
    journal = spec.journal
    selection = _Selection.load(spec)
    in_doubt = journal.keys_in_state(spec.name, "sent")
    # retry and delta runs read every page again: the records they write are on pages marked done
    done_pages = journal.pages_done(spec.name) if spec.selection == "normal" else set()
    tracker = _PageTracker(spec)
    counters = spec.counters
    counters.started_at = anyio.current_time()

    def resolve(step: str, key: Any) -> Any:
        walk = spec.crosswalks.get(step)
        found = None if walk is None else walk.get(str(key))
        if found is None and spec.dry_run and str(key) in spec.dry_seen.get(step, ()):
            return DRY_RUN_ID
        return found

    # read ahead: pages queue up while the target works through a backlog of writes (a single-process
    # target serves reads and writes in turn), so mapping never waits for a read stuck behind writes; at most
    # ~6,400 records, so memory stays flat whatever the page size
    page_size = int(getattr(spec.reader, "page_size", 0) or 100)
    pages_ahead = max(4, min(4 * spec.read_concurrency, 6400 // page_size))
    page_send, page_recv = anyio.create_memory_object_stream[tuple[str, list[dict[str, Any]]]](pages_ahead)
    batch_send, batch_recv = anyio.create_memory_object_stream[_Batch](spec.write_concurrency)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_fetch, spec, done_pages, page_send)
            tg.start_soon(_map_and_batch, spec, selection, tracker, resolve, page_recv, batch_send)
            async with batch_recv:
                for _ in range(spec.write_concurrency):
                    tg.start_soon(_write_worker, spec, in_doubt, tracker, batch_recv.clone())
    except BaseExceptionGroup as group:
        raise _step_error(spec, group) from None
    await tracker.flush()
    counters.finished_at = anyio.current_time()
    _report(spec)
    return counters


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for error in group.exceptions:
        out.extend(_leaves(error) if isinstance(error, BaseExceptionGroup) else [error])
    return out


def _step_error(spec: StepSpec, group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error a failed step raises, out of its task group's exception group: the runner tells an
    ``AuthError`` (stop the run) from any other ``MigratorError`` (this step failed) only on a bare error.
    An answer a connector could not read (malformed JSON, an HTML page with status 200, fewer rows than
    records) becomes a ``StepFailed`` that says so; cancellation and anything else not an ``Exception`` pass
    through as the group."""
    leaves = _leaves(group)
    if any(not isinstance(e, Exception) for e in leaves):
        return group
    for kind in (AuthError, MigratorError):
        for error in leaves:
            if isinstance(error, kind):
                return error
    error = leaves[0]
    log.warning("step_unreadable_answer", step=spec.name, error=type(error).__name__)
    detail = spec.target.redactor.text(str(error))[:200]
    return StepFailed(
        f"step {spec.name}: a platform answer could not be read ({type(error).__name__}: {detail}). The "
        "journal is consistent: run again to resume (records in doubt are checked before being written again)"
    )


def _report(spec: StepSpec) -> None:
    if spec.on_progress is not None:
        spec.on_progress(spec.name, spec.counters)


# -- fetch ----------------------------------------------------------------------------------------------------
async def _fetch(
    spec: StepSpec, done_pages: set[str], out: ObjectSendStream[tuple[str, list[dict[str, Any]]]]
) -> None:
    reader = spec.reader
    counters = spec.counters
    if isinstance(reader, LocalReader):
        async with out:
            async for page_key, records in reader.pages(done_pages):
                counters.pages += 1
                await out.send((page_key, records))
        return
    pager = reader.paginator()

    async def get(page: PageRequest) -> list[dict[str, Any]]:
        response = await spec.source.send(reader.page_request(page))
        if response.status not in (200, 204):
            raise StepFailed(
                f"step {spec.name}: reading page {page.page_key} failed with HTTP {response.status}: "
                f"{spec.source.redactor.text(response.text(200))}"
            )
        try:
            decoded = reader.decode_page(response) if response.status == 200 else None
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise StepFailed(
                f"step {spec.name}: page {page.page_key} of the source could not be read "
                f"({type(error).__name__}: {spec.source.redactor.text(str(error))[:200]}); the answer began: "
                f"{spec.source.redactor.text(response.text(120))!r}. Run again to retry; done pages are kept."
            ) from None
        records = [] if decoded is None else decoded.records
        outcome = pager.receive(page, decoded if decoded is not None else _EMPTY)
        if decoded is not None and decoded.total is not None:
            counters.total = decoded.total
        counters.pages += 1
        if page.page_key not in done_pages:
            if hasattr(reader, "children"):
                records = await _expand(spec, reader, records)
            await out.send((page.page_key, records))
        return_outcomes.append(outcome)
        return records

    return_outcomes: list[Any] = []
    async with out:
        request: PageRequest | None = pager.start(done_pages)
        while request is not None:
            return_outcomes.clear()
            await get(request)
            outcome = return_outcomes[0]
            request = None
            if isinstance(outcome, NextPage):
                request = outcome.request
            elif isinstance(outcome, RemainingPages):
                todo = [r for r in outcome.requests if r.page_key not in done_pages]
                for r in outcome.requests:
                    if r.page_key in done_pages:
                        pager.receive(r, _EMPTY_SKIPPED)
                await _fetch_many(todo, get, spec.read_concurrency)


async def _fetch_many(pages: list[PageRequest], get: Callable[[PageRequest], Any], concurrency: int) -> None:
    """Fetch planned pages with at most ``concurrency`` in flight, in order of index."""
    send, recv = anyio.create_memory_object_stream[PageRequest](math.inf)
    for page in pages:
        send.send_nowait(page)
    send.close()

    async def worker(stream: ObjectReceiveStream[PageRequest]) -> None:
        async with stream:
            async for page in stream:
                await get(page)

    async with anyio.create_task_group() as tg, recv:
        for _ in range(max(1, concurrency)):
            tg.start_soon(worker, recv.clone())


async def _expand(spec: StepSpec, reader: Any, parents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A nested read: the children of every parent record of one page, fetched concurrently, in parent order."""
    nested: NestedReader = reader
    out: list[list[dict[str, Any]]] = [[] for _ in parents]
    limiter = anyio.Semaphore(max(1, spec.read_concurrency))

    async def one(i: int, parent: dict[str, Any]) -> None:
        request = nested.children(parent)
        if request is None:
            return
        async with limiter:
            response = await spec.source.send(request)
        if response.status in (204, 404):
            return
        if response.status != 200:
            raise StepFailed(
                f"step {spec.name}: reading {request.path} failed with HTTP {response.status}: "
                f"{spec.source.redactor.text(response.text(200))}"
            )
        out[i] = nested.decode_children(response, parent)

    async with anyio.create_task_group() as tg:
        for i, parent in enumerate(parents):
            tg.start_soon(one, i, parent)
    return [child for children in out for child in children]


@dataclass(frozen=True)
class _EmptyPage:
    records: list[Any]
    total: int | None = None


_EMPTY = _EmptyPage([])
_EMPTY_SKIPPED = _EmptyPage([])


# -- map and batch --------------------------------------------------------------------------------------------
async def _map_and_batch(
    spec: StepSpec,
    selection: _Selection,
    tracker: _PageTracker,
    resolve: Callable[[str, Any], Any],
    pages: ObjectReceiveStream[tuple[str, list[dict[str, Any]]]],
    out: ObjectSendStream[_Batch],
) -> None:
    key_field = spec.reader.key_field
    counters = spec.counters
    open_batches: dict[int, _Batch] = {}
    rejected_now: list[tuple[str, Rejection]] = []
    # the per-record loop is the engine's hot path: everything it calls is looked up once, here
    key_of = record_key_function(spec.plan_name, spec.name)
    mapping, batch_size, dry_run = spec.mapping, spec.batch, spec.dry_run
    normal, delta = selection.mode == "normal", selection.mode == "delta"
    settled, skip = selection.settled, selection.skip_before_mapping
    update_writer = spec.update_writer
    dumps, sort_keys = orjson.dumps, orjson.OPT_SORT_KEYS
    async with pages, out:
        async for page_key, records in pages:
            tracker.opened(page_key, len(records))
            counters.read += len(records)
            for record in records:
                source_key = str(record.get(key_field, ""))
                idem = key_of(source_key)
                if (idem in settled) if normal else skip(idem):
                    counters.skipped += 1
                    tracker.settle(page_key)
                    continue
                try:
                    payload = mapping(record, resolve)
                except MappingError as error:
                    reason = Rejection(idem, source_key, str(error), None, {error.field: [error.reason]})
                    rejected_now.append((page_key, reason))
                    continue
                digest = content_hash(dumps(payload, option=sort_keys))
                writer = spec.writer
                if delta:
                    if selection.unchanged(idem, digest):
                        counters.skipped += 1
                        tracker.settle(page_key)
                        continue
                    target_id = selection.existing_target(idem, source_key)
                    if target_id is not None and update_writer is not None:
                        writer = update_writer
                        payload = {**payload, getattr(writer, "id_field", "id"): target_id}
                prepared = writer.prepare(WriteItem(idem, source_key, payload))
                if isinstance(prepared, RowResult):
                    reason = Rejection(
                        idem, source_key, prepared.reason, prepared.status, dict(prepared.fields)
                    )
                    rejected_now.append((page_key, reason))
                    continue
                if dry_run:
                    spec.dry_seen.setdefault(spec.name, set()).add(source_key)
                batch = open_batches.get(id(writer))
                if batch is None:
                    batch = open_batches[id(writer)] = _Batch(writer)
                batch.items.append(prepared)
                batch.pages.append(page_key)
                batch.hashes.append(digest)
                if len(batch.items) >= batch_size:
                    await out.send(open_batches.pop(id(writer)))
            if rejected_now:
                _reject(spec, tracker, rejected_now)
                rejected_now = []
            await tracker.flush()
            _report(spec)
        for batch in open_batches.values():
            await out.send(batch)


def _reject(spec: StepSpec, tracker: _PageTracker, rejected: list[tuple[str, Rejection]]) -> None:
    """Records refused before any request (mapping or target rules): dead letters, one journal transaction."""
    if not spec.dry_run:
        rows = [r for _, r in rejected]
        bid = "local-" + make_batch_id(spec.name, [r.idem_key for r in rows])
        spec.journal.mark_batch_sent(spec.name, bid, [SentRecord(r.idem_key, r.source_key) for r in rows])
        spec.journal.mark_batch_done(spec.name, bid, [], rows)
    spec.counters.rejected += len(rejected)
    for page_key, _ in rejected:
        tracker.settle(page_key)
    _check_rejections(spec)


def _check_rejections(spec: StepSpec) -> None:
    limit = spec.max_rejected
    if limit is not None and spec.counters.rejected > limit:
        raise StepFailed(
            f"step {spec.name}: {spec.counters.rejected} records rejected, more than on_error.max_rejected = "
            f"{limit}. See the dead letters (`migrator status`, errors.csv), fix the plan or the data, "
            "then run again: done records are not written twice."
        )


# -- write ----------------------------------------------------------------------------------------------------
async def _write_worker(
    spec: StepSpec, in_doubt: set[str], tracker: _PageTracker, batches: ObjectReceiveStream[_Batch]
) -> None:
    async with batches:
        async for batch in batches:
            await _write_batch(spec, in_doubt, tracker, batch)
            await tracker.flush()
            _report(spec)


async def _write_batch(spec: StepSpec, in_doubt: set[str], tracker: _PageTracker, batch: _Batch) -> None:
    writer = batch.writer
    if spec.dry_run:
        page_of = {it.idem_key: p for it, p in zip(batch.items, batch.pages, strict=True)}
        c = spec.counters
        c.written += len(batch.items)
        for it in batch.items:
            value = match_value(writer, it)
            if spec.dry_index is not None and value is not None and value in spec.dry_index:
                c.updated += 1
            elif spec.dry_index is not None:
                c.created += 1
                if value is not None and DRY_RUN_ID not in value.split("\x1f"):  # a stand-in id matches nothing
                    spec.dry_index.add(value)
            tracker.settle(page_of[it.idem_key])
        return

    # in doubt from an earlier run, create-only: look the record up before creating it again
    items = batch.items
    found: list[tuple[WriteItem, str]] = []
    if not writer.idempotent and in_doubt:
        remaining: list[WriteItem] = []
        for it in items:
            target_id = await _lookup(spec, writer, it) if it.idem_key in in_doubt else None
            if target_id is not None:
                found.append((it, target_id))
            else:
                remaining.append(it)
        items = remaining

    bid = make_batch_id(spec.name, [it.idem_key for it in batch.items])
    # journal writes run on the event loop, between two awaits: never cancelled half-way, and measured faster
    # than a worker thread, whose hand-offs of the GIL to and from a busy event loop cost more CPU than the
    # writes themselves and stalled the writers (benchmarks/RESULTS.md, "What limits it")
    spec.journal.mark_batch_sent(
        spec.name,
        bid,
        [SentRecord(it.idem_key, it.source_key, h) for it, h in zip(batch.items, batch.hashes, strict=True)],
    )
    results: list[WriteResult] = [
        WriteResult(it.idem_key, it.source_key, tid, "unchanged") for it, tid in found
    ]
    spec.counters.in_doubt_resolved += len(found)
    rejections: list[Rejection] = []
    items = await _pre_lookups(spec, writer, items, rejections)
    queue = list(items)
    one_by_one = False
    if isinstance(writer, LocalWriter):
        rows = await writer.write_local(queue)
        for it, row in zip(queue, rows, strict=True):
            if row.ok:
                results.append(_done(it, row))
            else:
                rejections.append(
                    Rejection(it.idem_key, it.source_key, row.reason, row.status, dict(row.fields))
                )
        queue = []
    while queue:
        pending: list[WriteItem] = []
        calls = [req for it in queue for req in writer.requests([it])] if one_by_one else writer.requests(queue)
        for request, sent in calls:
            for it, row in zip(sent, await _send_write(spec, writer, request, sent), strict=True):
                if row.ok:
                    results.append(
                        WriteResult(
                            it.idem_key, it.source_key, row.target_id, _ACTION.get(row.action, "created")
                        )
                    )
                elif row.action == "pending" and not one_by_one:
                    pending.append(it)
                else:
                    reason = spec.target.redactor.text(row.reason or "the target refused the record")
                    rejections.append(
                        Rejection(it.idem_key, it.source_key, reason, row.status, dict(row.fields))
                    )
        # an all-or-nothing call refused without naming a row: isolate it by writing one by one
        one_by_one = len(pending) == len(queue)
        queue = pending
    spec.journal.mark_batch_done(spec.name, bid, results, rejections)
    c = spec.counters
    actions = Counter(r.action for r in results)
    c.written += len(results)
    c.created += actions["created"]
    c.updated += actions["updated"]
    c.rejected += len(rejections)
    for page_key, settled in Counter(batch.pages).items():
        tracker.settle(page_key, settled)
    if rejections:
        _check_rejections(spec)


async def _pre_lookups(
    spec: StepSpec, writer: TargetWriter, items: list[WriteItem], rejections: list[Rejection]
) -> list[WriteItem]:
    """A writer that must read before it writes (Velpic ILT attendance: user id → attendee id) names the
    reads (``pre_lookups``) and turns their answers into the records to write or rejections."""
    plan_reads = getattr(writer, "pre_lookups", None)
    if plan_reads is None or not items:
        return items
    answers = [(await spec.target.send(request), its) for request, its in plan_reads(items)]
    out: list[WriteItem] = []
    for row in writer.apply_pre_lookups(items, answers):  # type: ignore[attr-defined]
        if isinstance(row, RowResult):
            source_key = next(it.source_key for it in items if it.idem_key == row.idem_key)
            rejections.append(Rejection(row.idem_key, source_key, row.reason, row.status, dict(row.fields)))
        else:
            out.append(row)
    return out


def _done(item: WriteItem, row: RowResult) -> WriteResult:
    """A written record's ledger entry; any other success than updated or unchanged counts as created."""
    return WriteResult(item.idem_key, item.source_key, row.target_id, _ACTION.get(row.action, "created"))


#: a row's action as the ledger keeps it
_ACTION: Mapping[str, Action] = {"created": "created", "updated": "updated", "unchanged": "unchanged"}


async def _send_write(
    spec: StepSpec, writer: TargetWriter, request: Request, items: list[WriteItem]
) -> list[RowResult]:
    """Send one write call. For a create-only writer, a transient failure leaves the outcome unknown: look the
    records up before trying again, so that a lost response never creates a record twice."""
    attempts = 0
    while True:
        attempts += 1
        try:
            response = await spec.target.send(request, retry_transient=writer.idempotent)
            return writer.decode(response, items)
        except (TransientError, ValueError) as error:
            if writer.idempotent or attempts >= 6:
                if isinstance(error, ValueError):
                    raise StepFailed(f"step {spec.name}: unreadable write response: {error}") from None
                raise
            log.info("write_in_doubt", step=spec.name, endpoint=request.endpoint, error=type(error).__name__)
            rows: list[RowResult] = []
            missing: list[WriteItem] = []
            for it in items:
                target_id = await _lookup(spec, writer, it)
                if target_id is None:
                    missing.append(it)
                else:
                    rows.append(RowResult(it.idem_key, ok=True, target_id=target_id, action="created"))
            if not missing:
                spec.counters.in_doubt_resolved += len(rows)
                return rows
            if len(missing) != len(items):
                # in the order of ``items``: the caller pairs rows with the records it sent by position
                by_key = {row.idem_key: row for row in rows}
                return [
                    by_key.get(it.idem_key) or RowResult(it.idem_key, ok=False, action="pending")
                    for it in items
                ]
            await anyio.sleep(min(0.05 * 2**attempts, 2.0))


async def _lookup(spec: StepSpec, writer: TargetWriter, item: WriteItem) -> str | None:
    request = writer.lookup_request(item)
    if request is None:
        return None
    response = await spec.target.send(request)
    return writer.decode_lookup(response, item)
