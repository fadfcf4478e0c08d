"""What happened to one record: its journey assembled from what the journal kept, as text or JSON (pure: the
``migrator trace`` command reads the journal and prints).

A record's trace holds its ledger row (state, target id, action; the source key and a hash of the source
record as read — the journal keeps no other source field, but what identifies a record refused before any
request: its name, e-mail and number), the payload it was last sent with, and its events
in time order, each stamped with its run: every batch that carried it (sent, done), every try of every write
call (the tries the transport made itself included) and lookup that concerned it (status, outcome, and the
answer's redacted excerpt where one was kept) and every dead letter (status, reason, the fields the target
named).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from migrator.journal import DeadLetter, TracedAttempt, TracedBatch, TracedRecord

__all__ = ["Event", "RecordTrace", "assemble", "render_text", "to_json"]

EventKind = Literal["sent", "write", "lookup", "done", "dead letter"]
#: events at the same instant, in the order they happen: a batch is sent, written, looked up, settled
_ORDER: Mapping[str, int] = {"sent": 0, "write": 1, "lookup": 2, "done": 3, "dead letter": 4}


@dataclass(frozen=True, slots=True)
class Event:
    """One step of a record's journey. ``what`` says what became of it: a call's outcome (``answered``,
    ``lost``, ``server error``, …), a lookup's (``found``, ``not found``), the record's outcome in the batch
    that settled it (``created``, ``updated``, ``unchanged``, ``rejected``) or ``settled later`` for a batch
    whose outcome for this record a later batch decided."""

    kind: EventKind
    run_id: int | None
    at: float
    what: str
    batch_id: str | None = None
    attempt: int | None = None
    request: str | None = None
    status: int | None = None
    target_id: str | None = None
    response: str | None = None
    reason: str | None = None
    detail: Any = None


@dataclass(frozen=True, slots=True)
class RecordTrace:
    """One record of one step: its ledger row, the payload it was last sent with, and its events."""

    record: TracedRecord
    payload: Any
    runs: tuple[int, ...]
    events: tuple[Event, ...]


def assemble(
    record: TracedRecord,
    batches: Sequence[TracedBatch],
    attempts: Iterable[TracedAttempt],
    dead_letters: Iterable[DeadLetter],
) -> RecordTrace:
    """The record's trace from what the journal holds of it; events in time order (same instant: sent,
    write, lookup, done, dead letter)."""
    events: list[Event] = []
    for b in batches:
        events.append(Event("sent", b.run_id, b.sent_at, "sent", batch_id=b.batch_id))
        if b.state == "done" and b.done_at is not None:
            what = _settled(record) if b.batch_id == record.batch_id else "settled later"
            target = record.target_id if b.batch_id == record.batch_id else None
            events.append(Event("done", b.run_id, b.done_at, what, batch_id=b.batch_id, target_id=target))
    for a in attempts:
        kind: EventKind = "lookup" if a.kind == "lookup" else "write"
        events.append(
            Event(
                kind,
                a.run_id,
                a.at,
                a.outcome,
                batch_id=a.batch_id,
                attempt=a.attempt,
                request=a.request,
                status=a.status,
                target_id=a.target_id,
                response=a.response,
            )
        )
    for d in dead_letters:
        events.append(
            Event("dead letter", d.run_id, d.at, "rejected", status=d.status, reason=d.reason, detail=d.detail)
        )
    events.sort(key=lambda e: (e.at, _ORDER[e.kind]))
    payload = next((b.payload for b in reversed(batches) if b.payload is not None), None)
    runs = tuple(sorted({e.run_id for e in events if e.run_id is not None}))
    return RecordTrace(record, payload, runs, tuple(events))


def _settled(record: TracedRecord) -> str:
    if record.state == "done":
        return record.action or "created"
    return "rejected" if record.state == "rejected" else "in doubt"


def to_json(traces: Sequence[RecordTrace]) -> dict[str, Any]:
    """``{"records": [...]}``: per record its ledger row, payload, runs and events (``--format json``)."""
    return {
        "records": [
            {
                "step": t.record.step,
                "source_key": t.record.source_key,
                "idempotency_key": t.record.idem_key,
                "state": t.record.state,
                "target_id": t.record.target_id,
                "action": t.record.action,
                "content_hash": t.record.content_hash,
                "payload": t.payload,
                "runs": list(t.runs),
                "events": [
                    {k: v for k, v in _event_json(e).items() if v is not None or k in ("run_id", "what")}
                    for e in t.events
                ],
            }
            for t in traces
        ]
    }


def _event_json(e: Event) -> dict[str, Any]:
    return {
        "kind": e.kind,
        "run_id": e.run_id,
        "at": _when(e.at),
        "what": e.what,
        "batch_id": e.batch_id,
        "attempt": e.attempt,
        "request": e.request,
        "status": e.status,
        "target_id": e.target_id,
        "reason": e.reason,
        "detail": e.detail,
        "response": e.response,
    }


def render_text(traces: Sequence[RecordTrace]) -> str:
    """The traces for a person: a heading per record, its payload, then one line per event (an answer's
    excerpt, a dead letter's reason and fields indented under it)."""
    out: list[str] = []
    for t in traces:
        r = t.record
        target = f", target id {r.target_id}" if r.target_id is not None else ""
        out.append(f"step {r.step} · source key {r.source_key} · idempotency key {r.idem_key}{target}")
        out.append(f"  now: {_settled(r)}" + (f" (runs {', '.join(map(str, t.runs))})" if t.runs else ""))
        source = f"  source: key {r.source_key}"
        out.append(source + (f", content hash {r.content_hash}" if r.content_hash else ""))
        payload = "not kept" if t.payload is None else json.dumps(t.payload, ensure_ascii=False, sort_keys=True)
        out.append(f"  payload: {payload}")
        for e in t.events:
            out.append(f"  run {e.run_id if e.run_id is not None else '?'}  {_when(e.at)}  {_line(e)}")
            if e.reason is not None:
                out.append(f"      reason: {e.reason}")
            if e.detail:
                out.append(f"      fields: {json.dumps(e.detail, ensure_ascii=False, sort_keys=True)}")
            if e.response is not None:
                out.append(f"      answer: {e.response}")
        out.append("")
    return "\n".join(out)


def _line(e: Event) -> str:
    batch = f"batch {e.batch_id}" if e.batch_id else ""
    status = f" → {e.status}" if e.status is not None else ""
    found = f" {e.target_id}" if e.target_id is not None else ""
    if e.kind in ("write", "lookup"):
        where = f" ({batch})" if batch else ""
        return f"{e.kind} try {e.attempt}: {e.request}{status} {e.what}{found}{where}"
    if e.kind == "dead letter":
        return f"dead letter{status}"
    return f"{batch} {e.what}{found}"


def _when(at: float) -> str:
    """An event's local time, to the millisecond."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"
