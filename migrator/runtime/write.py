"""The write stage: batches → the target, each journaled *sent* before its calls and *done* after.

A write worker takes batches off the stream and writes each through its ``WritePath``: a direct writer
(local files, the dry run) writes the batch itself; a request writer's calls go through the target
transport. Before an update is sent, the fields the step's overwrite policy protects are set to the target's
current values, and a record that would then change nothing is settled *unchanged* without a request
(``unchanged``); the records sent are first journaled as the target held them (their pre-images, for
``migrator undo``). Before a create-only batch is sent, the records the target already has are linked instead of
created — found in the step's target index, or looked up (``indoubt``), which also settles records in doubt
from an earlier run; a writer that reads before it writes makes its reads; a call that refuses a whole
all-or-nothing batch without naming a row is halved, and each half written again, until a record refused is
alone. Per-record results are matched to the records sent by idempotency key; a merge's or an upsert's
record is created or updated as the step's read of the target's current values shows (``_as_the_target_held``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from anyio.abc import ObjectReceiveStream

from migrator.connectors.base import (
    Action,
    MembershipKeeper,
    PreReadJudge,
    Request,
    RequestWriter,
    RowResult,
    WholeRecordWriter,
    WriteItem,
)
from migrator.errors import ConnectorError
from migrator.journal import PreImage, Rejection, SentRecord, WriteResult
from migrator.protocol.keys import batch_id as make_batch_id
from migrator.runtime.batch import Batch
from migrator.runtime.failures import StepFailed
from migrator.runtime.indoubt import InDoubt, found_on_target, send_create
from migrator.runtime.kept import KEPT, kept_before, put_back
from migrator.runtime.pages import PageTracker
from migrator.runtime.pre_reads import pre_read
from migrator.runtime.step_spec import StepSpec
from migrator.runtime.target_index import TargetRecord, match_value, record_match
from migrator.runtime.unchanged import unchanged, with_overwrite_policy
from migrator.runtime.write_path import WritePath

__all__ = ["write_worker"]

#: the modes whose write creates a record the target does not hold and updates one it does
_CREATING_UPDATES: frozenset[str] = frozenset({"upsert", "bulk"})
#: a row's action as the ledger keeps it; any other success counts as created
_ACTION: Mapping[str, Action] = {"created": "created", "updated": "updated", "unchanged": "unchanged"}


async def write_worker(
    spec: StepSpec, in_doubt: InDoubt, tracker: PageTracker, batches: ObjectReceiveStream[Batch]
) -> None:
    async with batches:
        async for batch in batches:
            if spec.breaker.tripped is not None:
                continue  # the step stops: a batch not sent yet is not journaled, a resumed run writes it
            await write_batch(spec, in_doubt, tracker, batch)
            tracker.flush()
            spec.report()


async def write_batch(spec: StepSpec, in_doubt: InDoubt, tracker: PageTracker, batch: Batch) -> None:
    path = batch.path
    items = batch.items
    found: list[tuple[WriteItem, str]] = []
    rejections: list[Rejection] = []
    same: list[tuple[WriteItem, str]] = []
    # each record's match value and what the target's current values hold under it, found once (one query)
    # for the three passes over them
    matched: dict[str, str | None] = {}
    held: dict[str, TargetRecord] = {}
    if spec.unlisted is not None:  # what the target's list left out of the step's view, read first
        await spec.unlisted.read(it.payload for it in items)
    if spec.current is not None:
        matched = _match_values(path, items)
        held = spec.current.lookup(v for v in matched.values() if v is not None)
    if not path.writer.idempotent:
        found, items = await _already_on_target(spec, path, items, in_doubt, rejections)
    elif spec.current is not None:
        same, items = _against_current(spec, path, items, matched, held, rejections)

    bid = make_batch_id(spec.name, [it.idem_key for it in batch.items])
    # journal writes run on the event loop, between two awaits: never cancelled half-way, and measured faster
    # than a worker thread, whose hand-offs of the GIL to and from a busy event loop cost more CPU than the
    # writes themselves and stalled the writers (benchmarks/RESULTS.md, "What limits it")
    sent = zip(batch.items, batch.hashes, strict=True)
    if (spec.current is not None or spec.existing is not None) and items:  # for an undo: what was there before
        spec.ledger.pre_images(_pre_images(spec, items, matched, held))
    # what the write may drop beyond what it sends, journaled with the batch (``kept``)
    keeper = path.writer if spec.current is not None and isinstance(path.writer, MembershipKeeper) else None
    kept = kept_before(keeper, batch.items, matched, held, in_doubt) if keeper is not None else {}
    # every record keeps the payload it is sent with: a create in doubt is looked up later with those values,
    # and `migrator trace` shows what was sent
    spec.ledger.batch_sent(
        bid,
        [
            SentRecord(it.idem_key, it.source_key, h, {**it.payload, KEPT: list(kept[it.idem_key])})
            if it.idem_key in kept
            else SentRecord(it.idem_key, it.source_key, h, it.payload)
            for it, h in sent
        ],
    )
    results = [WriteResult(it.idem_key, it.source_key, tid, "unchanged") for it, tid in (*found, *same)]
    # a whole-record writer's records were completed from the target's current values (no read per record)
    completed = spec.current is not None and isinstance(path.writer, WholeRecordWriter)
    if path.pre_reads is not None and items and not completed:
        items = await _pre_read(spec, path, items, results, rejections)
    if path.direct is not None:
        rows = await path.direct.write_direct(items)
        _settle(spec, items, rows, results, rejections)
    elif path.calls is not None:
        answered: dict[str, dict[str, Any] | None] = {}
        await _write_calls(spec, path, path.calls, items, results, rejections, answered if kept else None)
        if keeper is not None and kept:
            current = {ik: held[v].values for ik, v in matched.items() if v is not None and v in held}
            await put_back(spec, keeper, kept, results, answered, current)
    if spec.existing is not None:
        _remember_created(spec, path, items, results)
    # a dry run's writer has already classified each record against the target (a would-be-created parent's
    # children all carry its placeholder id, so their match values would collide here)
    if spec.current is not None and path.writer.mode in _CREATING_UPDATES and not path.classified:
        results = _as_the_target_held(spec, results, matched, held)
    spec.ledger.batch_done(bid, results, rejections)
    c = spec.counters
    actions = Counter(r.action for r in results)
    c.written += len(results)
    c.created += actions["created"]
    c.updated += actions["updated"]
    c.unchanged += len(same)
    c.rejected += len(rejections)
    for page_key, settled in Counter(batch.pages).items():
        tracker.settle(page_key, settled)
    spec.breaker.check(c)


def _match_values(path: WritePath, items: Sequence[WriteItem]) -> dict[str, str | None]:
    """Each record's match value for the path's writer (None: it has none), by idempotency key."""
    match_of = record_match(path.writer)
    return {it.idem_key: match_of(it.payload) for it in items}


def _against_current(
    spec: StepSpec,
    path: WritePath,
    items: list[WriteItem],
    matched: Mapping[str, str | None],
    held: Mapping[str, TargetRecord],
    rejections: list[Rejection],
) -> tuple[list[tuple[WriteItem, str]], list[WriteItem]]:
    """An idempotent batch measured against the target's current values: the records already as the target
    holds them (with their target ids), and the records to send, with the fields the overwrite policy keeps
    set to the target's values. A target record already written by this run (the source holds its match
    value twice) may have changed since it was read: its second record is sent, under the same policy. A
    match value several target records hold cannot be judged: sent as mapped, or, when the step has an
    overwrite policy, a dead letter (whose values to keep is unknown)."""
    assert spec.current is not None
    same: list[tuple[WriteItem, str]] = []
    send: list[WriteItem] = []
    used: list[str] = []
    whole = path.writer.record_fields if isinstance(path.writer, WholeRecordWriter) else ()
    for it in items:
        value = matched[it.idem_key]
        record = held.get(value) if value is not None else None
        if record is None or (record.shared and not spec.overwrite):
            send.append(it)  # not on the target (a create, written whole), or no policy to apply
            continue
        if record.shared:
            fields = ", ".join(path.writer.match_fields)
            reason = (
                f"several records on the target have {fields} = {value!r}: the step's overwrite policy cannot "
                "tell whose values to keep. Merge them on the target, then run again with --retry-rejected"
            )
            rejections.append(
                Rejection(it.idem_key, it.source_key, spec.target.redactor.text(reason), None, {})
            )
            continue
        values = record.values
        payload = with_overwrite_policy(it.payload, values, spec.overwrite)
        if not record.used and unchanged(payload, values, write_only=spec.not_compared):
            same.append((it, record.target_id))
        else:
            payload = {**_unmapped(whole, payload, values), **payload}
            send.append(
                it if payload == it.payload else WriteItem(it.idem_key, it.source_key, payload, it.match_value)
            )
        if value is not None and not record.used:
            record.used = True
            used.append(value)
    spec.current.used(used)
    return same, send


def _unmapped(fields: Sequence[str], payload: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``fields`` of a whole-record write that ``payload`` does not map (names compared without case), with
    the target's current ``values`` of them: sent back as they are."""
    if not fields:
        return {}
    mapped = {name.casefold() for name in payload}
    return {f: values[f] for f in fields if f.casefold() not in mapped and f in values}


def _pre_images(
    spec: StepSpec,
    items: Sequence[WriteItem],
    matched: Mapping[str, str | None],
    held: Mapping[str, TargetRecord],
) -> list[PreImage]:
    """The records about to be sent as the target held them before the run (its current values, read once
    when the step started: only the mapped fields), or not there at all (every record a create-only step
    creates: its target index does not hold it; a record this run created under the same match value); a
    match value several target records hold has no image (which one the write reaches is the platform's
    choice)."""
    if spec.current is None:
        return [PreImage(it.source_key, None, it.match_value, None) for it in items]
    images: list[PreImage] = []
    for it in items:
        value = matched[it.idem_key]
        record = held.get(value) if value is not None else None
        if record is None or record.written:
            images.append(PreImage(it.source_key, None, it.match_value, None))
        elif not record.shared:
            images.append(PreImage(it.source_key, record.target_id, it.match_value, record.values))
    return images


async def _already_on_target(
    spec: StepSpec,
    path: WritePath,
    items: list[WriteItem],
    in_doubt: InDoubt,
    rejections: list[Rejection],
) -> tuple[list[tuple[WriteItem, str]], list[WriteItem]]:
    """A create-only step's records the target already has — by the step's target index, else by looking
    each one up — with their target ids, and the records to create. A record in doubt from an earlier run is
    also found by the values it was sent with (the source or the plan may say otherwise now). A match value
    that several target records hold is a dead letter: linking either would be a guess."""
    existing = spec.existing
    if existing is None:
        if path.lookups is None:
            return [], items
        found, remaining = await found_on_target(spec, path.lookups, items, in_doubt)
        spec.counters.in_doubt_resolved += sum(1 for it, _ in found if it.idem_key in in_doubt)
        spec.counters.linked += sum(1 for it, _ in found if it.idem_key not in in_doubt)
        return found, remaining
    found, remaining = [], []
    for it in items:
        sent_payload = in_doubt.get(it.idem_key)
        was = (
            match_value(path.writer, WriteItem(it.idem_key, it.source_key, sent_payload))
            if sent_payload
            else None
        )
        value = was if was is not None and existing.get(was) else match_value(path.writer, it)
        ids = existing.get(value, []) if value is not None else []
        if not ids:
            remaining.append(it)
        elif len(ids) == 1:
            found.append((it, ids[0]))
            if it.idem_key in in_doubt:
                spec.counters.in_doubt_resolved += 1
            else:
                spec.counters.linked += 1
        else:
            fields = ", ".join(path.writer.match_fields)
            shown = ", ".join(sorted(ids)[:5])
            reason = (
                f"{len(ids)} records on the target ({shown}) have {fields} = {value!r}: the step cannot tell "
                "which one this record is. Merge or rename them on the target, then run again with "
                "--retry-rejected"
            )
            rejections.append(
                Rejection(it.idem_key, it.source_key, spec.target.redactor.text(reason), None, {})
            )
    return found, remaining


def _remember_created(
    spec: StepSpec, path: WritePath, items: Sequence[WriteItem], results: Sequence[WriteResult]
) -> None:
    """Records this step created join its target index: a later record with the same match value (the
    source holds it twice) is linked to the first, not created again."""
    assert spec.existing is not None
    created = {r.idem_key: r.target_id for r in results if r.action == "created" and r.target_id}
    for it in items:
        target_id = created.get(it.idem_key)
        value = match_value(path.writer, it) if target_id else None
        if value is not None and target_id is not None:
            spec.existing.setdefault(value, [target_id])


def _as_the_target_held(
    spec: StepSpec,
    results: Sequence[WriteResult],
    matched: Mapping[str, str | None],
    held: Mapping[str, TargetRecord],
) -> list[WriteResult]:
    """Created or updated, for the records a merge or an upsert sent (whose answer may not say: Velpic
    ``bulkUserImport``, aNewSpring ``addOrUpdateUser``), as the step's read of the target shows: a record whose
    match value the target held is updated, any other is created — and then joins the step's view of the
    target, so a later record with that value (the source holds it twice) is an update of it. A record
    without a match value keeps what the writer said."""
    assert spec.current is not None
    out: list[WriteResult] = []
    created: dict[str, str] = {}  # match value → target id, of the records this batch created
    for result in results:
        action = result.action
        value = matched.get(result.idem_key) if action in ("created", "updated") else None
        if value is None:
            out.append(result)
        elif value in held or value in created:
            out.append(result if action == "updated" else result._replace(action="updated"))
        else:  # created by this run: a later record with this value is sent, not judged
            created[value] = result.target_id or ""
            out.append(result if action == "created" else result._replace(action="created"))
    spec.current.written(created.items())
    return out


async def _write_calls(
    spec: StepSpec,
    path: WritePath,
    writer: RequestWriter,
    items: list[WriteItem],
    results: list[WriteResult],
    rejections: list[Rejection],
    answered: dict[str, dict[str, Any] | None] | None = None,
) -> None:
    """Write ``items`` with the writer's calls. A call of several records refused as a whole without naming
    a row (every row ``pending``: an all-or-nothing import holding a bad record, or larger than the target
    takes) is halved, and each half written again; a half of one record is its last try. The records a call
    leaves ``pending`` beside others it settled go again together, and a record a call of its own leaves
    ``pending`` (to be sent another way) goes once more alone; on its last try a ``pending`` row is the record's
    rejection. So a bad record among n costs about 2·log2(n) calls, and a target that takes at most m records
    per call about 2·n/m. ``answered`` collects what a ``MembershipKeeper``'s answers say of the records'
    kept fields."""
    groups: list[tuple[list[WriteItem], bool]] = [(items, False)] if items else []  # (records, last try)
    while groups:
        again: list[tuple[list[WriteItem], bool]] = []
        for group, last in groups:
            for request, sent in writer.requests(group):
                rows = await _send(spec, path, writer, request, sent, answered)
                pending = _settle(spec, sent, rows, results, rejections, isolate=not last)
                if len(sent) > 1 and len(pending) == len(sent):
                    half = (len(pending) + 1) // 2
                    again += [(part, len(part) == 1) for part in (pending[:half], pending[half:])]
                elif pending:
                    again.append((pending, len(sent) == 1))
        groups = again


def _settle(
    spec: StepSpec,
    sent: Sequence[WriteItem],
    rows: Sequence[RowResult],
    results: list[WriteResult],
    rejections: list[Rejection],
    *,
    isolate: bool = False,
) -> list[WriteItem]:
    """File each record's row (matched by idempotency key) as a result or a rejection; returns the records
    left ``pending`` when ``isolate`` (else a pending row is a rejection)."""
    if len(rows) != len(sent):
        raise ValueError(f"the answer has {len(rows)} results for {len(sent)} records")
    by_key = {row.idem_key: row for row in rows}
    pending: list[WriteItem] = []
    for it in sent:
        row = by_key.get(it.idem_key)
        if row is None:
            raise ValueError(f"the answer has no result for record {it.source_key!r}")
        if row.ok:
            results.append(
                WriteResult(it.idem_key, it.source_key, row.target_id, _ACTION.get(row.action, "created"))
            )
        elif row.action == "pending" and isolate:
            pending.append(it)
        else:
            reason = spec.target.redactor.text(row.reason or "the target refused the record")
            rejections.append(Rejection(it.idem_key, it.source_key, reason, row.status, dict(row.fields)))
    return pending


async def _send(
    spec: StepSpec,
    path: WritePath,
    writer: RequestWriter,
    request: Request,
    items: Sequence[WriteItem],
    answered: dict[str, dict[str, Any] | None] | None = None,
) -> list[RowResult]:
    """One call's per-record results. An idempotent call is retried by the transport (each try journaled);
    a create-only call whose outcome is unknown goes through the in-doubt lookups. A ``MembershipKeeper``'s
    answer also says what the records hold of its kept fields (into ``answered``)."""
    if not writer.idempotent:
        return await send_create(spec, writer, path.lookups, request, items)

    try:  # each try the transport makes again is journaled as it fails
        retried = partial(spec.ledger.attempted, items, request)
        response = await spec.target.send(request, retry_transient=True, retried=retried)
    except ConnectorError as error:
        spec.ledger.attempted(items, request, error)
        raise
    try:
        rows = writer.decode(response, items)
    except ValueError as error:
        spec.ledger.attempted(items, request, response)
        raise StepFailed(f"step {spec.name}: unreadable write response: {error}") from None
    spec.ledger.attempted(items, request, response, rows)
    if answered is not None and isinstance(writer, MembershipKeeper):
        answered.update(writer.answered(response, items))
    return rows


async def _pre_read(
    spec: StepSpec,
    path: WritePath,
    items: list[WriteItem],
    results: list[WriteResult],
    rejections: list[Rejection],
) -> list[WriteItem]:
    """A writer that must read before it writes (Velpic ILT attendance: user id → attendee id) names the
    reads and turns their answers into the records to write, or rejections; a record the reads show the
    target already holds as the write would leave it (``PreReadJudge``: Velpic schedules, group members) is
    settled unchanged, without a call."""
    assert path.pre_reads is not None
    answers = await pre_read(spec.target.send, path.pre_reads, items)
    judge = path.pre_reads if isinstance(path.pre_reads, PreReadJudge) else None
    source_keys = {it.idem_key: it.source_key for it in items}
    out: list[WriteItem] = []
    for row in path.pre_reads.apply_pre_lookups(items, answers):
        if isinstance(row, RowResult):
            rejections.append(
                Rejection(row.idem_key, source_keys[row.idem_key], row.reason, row.status, dict(row.fields))
            )
        elif judge is not None and (settled := judge.settled(row)) is not None:
            results.append(WriteResult(row.idem_key, row.source_key, settled.target_id, "unchanged"))
        else:
            out.append(row)
    return out
