"""The map stage: each page's records → skipped, excluded, rejected, or mapped and prepared into batches.

A record already settled in the ledger (or not selected by a retry or delta run) is skipped before mapping; a
record the step's ``where`` is false for is excluded (counted, not journaled: a later run decides again); a
record the field map or the target's rules refuse is a dead letter (one journal transaction per page), kept
with the fields that say who it is (never the rest of the record: the reports' identity columns); the others
are grouped into batches of the step's size, one open batch per writer (a delta run of a create-only step
updates changed records through a second writer, at their crosswalk target id). When the step has read its
records, each mapped source field no record carried is a warning in the step's counters and the log.
"""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from migrator.connectors.base import RowResult, WriteItem
from migrator.identity import identifying
from migrator.journal import Rejection, SentRecord
from migrator.plan.mapping import MappingError
from migrator.protocol.keys import batch_id as make_batch_id
from migrator.protocol.keys import content_hash, record_key_function
from migrator.runtime.batch import Batch
from migrator.runtime.pages import PageTracker
from migrator.runtime.presence import FieldPresence
from migrator.runtime.selection import Selection, SelectionMode
from migrator.runtime.step_spec import StepSpec

__all__ = ["map_and_batch"]

log = structlog.get_logger("migrator.runtime")


async def map_and_batch(
    spec: StepSpec,
    selection: Selection,
    tracker: PageTracker,
    pages: ObjectReceiveStream[tuple[str, list[dict[str, Any]]]],
    out: ObjectSendStream[Batch],
) -> None:
    key_field = spec.reader.key_field
    counters = spec.counters
    open_batches: dict[int, Batch] = {}
    rejected_now: list[tuple[str, Rejection, dict[str, Any]]] = []
    # the per-record loop is the engine's hot path: everything it calls is looked up once, here
    key_of = record_key_function(spec.plan_name, spec.name)
    mapping, resolve, batch_size = spec.mapping, spec.resolve, spec.batch
    normal, delta = selection.mode is SelectionMode.NORMAL, selection.mode is SelectionMode.DELTA
    settled, skip = selection.settled, selection.skip_before_mapping
    main, update = spec.path, spec.update_path
    update_id = spec.update_id_field
    dumps, sort_keys = orjson.dumps, orjson.OPT_SORT_KEYS
    where = mapping.where
    links = [fld for fld, _ in mapping.references]  # what a refused record keeps beside what identifies it
    presence = FieldPresence(mapping.source_uses)
    async with pages, out:
        async for page_key, records in pages:
            tracker.opened(page_key, len(records))
            counters.read += len(records)
            presence.see(records)
            for record in records:
                source_key = str(record.get(key_field, ""))
                idem = key_of(source_key)
                if (idem in settled) if normal else skip(idem):
                    counters.skipped += 1
                    tracker.settle(page_key)
                    continue
                try:
                    if where is not None and not where(record, resolve):
                        counters.excluded += 1
                        tracker.settle(page_key)
                        continue
                    payload = mapping(record, resolve)
                except MappingError as error:
                    reason = Rejection(idem, source_key, str(error), None, {error.field: [error.reason]})
                    rejected_now.append((page_key, reason, identifying(record)))
                    continue
                digest = content_hash(dumps(payload, option=sort_keys))
                path = main
                if delta:
                    if selection.unchanged(idem, digest):
                        counters.skipped += 1
                        tracker.settle(page_key)
                        continue
                    target_id = selection.existing_target(idem, source_key)
                    if target_id is not None and update is not None:
                        path = update
                        payload = {**payload, update_id: target_id}
                prepared = path.writer.prepare(WriteItem(idem, source_key, payload))
                if isinstance(prepared, RowResult):
                    reason = Rejection(
                        idem, source_key, prepared.reason, prepared.status, dict(prepared.fields)
                    )
                    rejected_now.append((page_key, reason, identifying(payload, links)))
                    continue
                batch = open_batches.get(id(path))
                if batch is None:
                    batch = open_batches[id(path)] = Batch(path)
                batch.items.append(prepared)
                batch.pages.append(page_key)
                batch.hashes.append(digest)
                if len(batch.items) >= batch_size:
                    await out.send(open_batches.pop(id(path)))
            if rejected_now:
                _reject(spec, tracker, rejected_now)
                rejected_now = []
            tracker.flush()
            spec.report()
        for batch in open_batches.values():
            await out.send(batch)
    _warn_absent(spec, presence)


def _warn_absent(spec: StepSpec, presence: FieldPresence) -> None:
    """The mapped source fields no record carried: in the step's warnings and the log."""
    for line in presence.warnings():
        spec.counters.warnings.append(line)
        log.warning("source_field_absent", step=spec.name, detail=line)


def _reject(
    spec: StepSpec, tracker: PageTracker, rejected: list[tuple[str, Rejection, dict[str, Any]]]
) -> None:
    """Records refused before any request (mapping or target rules): dead letters, one journal transaction.
    Each is journaled with what identifies it (``migrator.identity.identifying``: of its mapped payload, or of
    the source record when the mapping refused it), for the reports' identity columns."""
    rows = [r for _, r, _ in rejected]
    bid = "local-" + make_batch_id(spec.name, [r.idem_key for r in rows])
    spec.ledger.batch_sent(bid, [SentRecord(r.idem_key, r.source_key, None, who) for _, r, who in rejected])
    spec.ledger.batch_done(bid, [], rows)
    spec.counters.rejected += len(rejected)
    for page_key, _, _ in rejected:
        tracker.settle(page_key)
    spec.breaker.check(spec.counters)
