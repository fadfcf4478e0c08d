"""The undo's I/O: its reversals made through the target transports, each journaled *sent* before its calls
and *done* or *failed* after, so an undo stopped at any moment (kill -9 too) resumes without removing or
restoring anything twice (a reversal left *sent* is made again, and every reversal call is safe to repeat:
a record already removed answers so, and a restore sends the same values).

Reversals run step by step in the undo's order (:mod:`migrator.undo`), a chunk at a time: the chunk is
journaled sent in one transaction, its reversals run concurrently (the transport holds each connection to
its budgets and concurrency), and their outcomes are journaled in one more. A removal asks the platform's
``UndoWriter`` for one call after another until it says the record is gone; a restore writes the record's
pre-image with the step's own idempotent writer (an upsert, a merge) or the entity's update at its target id,
fields that were empty before sent empty (``UndoWriter.empty``), which a writer would otherwise leave out; a
restore through a writer whose resend is not safe (Velpic user status) is looked up first, and a record
already so counts as restored.
A transport failure (the platform unreachable, credentials refused) stops the undo: run it again to resume.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import anyio

from migrator.connectors.base import (
    IdWriter,
    ListedFieldsWriter,
    LookupWriter,
    PreReadWriter,
    Removed,
    RequestWriter,
    Response,
    StateWriter,
    UndoWriter,
    WriteItem,
)
from migrator.connectors.catalog import entity_spec
from migrator.connectors.registry import make_writer
from migrator.graph import TaskGraph
from migrator.journal import Journal, UndoMark
from migrator.plan.model import Plan
from migrator.runtime.counters import StepCounters
from migrator.runtime.listed_fields import FieldLists
from migrator.runtime.pre_reads import pre_read
from migrator.runtime.states import records_of, state_fields
from migrator.transport import Transport
from migrator.undo import Reversal, StepTarget, UndoPlan
from migrator.verify import WRITE_ONLY_FIELDS

__all__ = ["CHUNK", "ReversalOutcome", "make_undo", "narrow_restorers", "restore_writer", "step_targets"]

#: reversals journaled and run together
CHUNK = 50
#: calls one removal may take before it is abandoned as a connector's mistake
_MAX_CALLS = 500


@dataclass(frozen=True, slots=True)
class ReversalOutcome:
    """What became of one reversal: ``done`` (``already``: the record was gone, or back as it was, before this
    undo's call) or ``failed``, with the platform's reason."""

    reversal: Reversal
    state: Literal["done", "failed"]
    reason: str = ""
    already: bool = False


def restore_writer(platform: str, entity: str, mode: str, match: str | None) -> RequestWriter | None:
    """The writer that puts a record's values back: the step's own when a resend is safe, else the entity's
    update (at the record's target id); None when there is neither."""
    if platform == "files":
        return None
    writer = make_writer(platform, entity, mode, match)
    if writer.idempotent and isinstance(writer, RequestWriter):
        return writer
    spec = entity_spec(platform, entity)
    if spec is None or "update" not in spec.writes:
        return None
    update = make_writer(platform, entity, "update", match)
    return update if isinstance(update, RequestWriter) else None


def step_targets(plan: Plan, graph: TaskGraph) -> tuple[list[StepTarget], dict[str, RequestWriter]]:
    """Each step's target in the plan's order, and the writers that restore its records."""
    targets: list[StepTarget] = []
    writers: dict[str, RequestWriter] = {}
    for name in graph.order:
        node = graph.steps[name]
        entity = plan.steps[name].write.entity
        writer = restore_writer(node.write.platform, entity, node.mode, node.match)
        if writer is not None:
            writers[name] = writer
        states = make_writer(node.write.platform, entity, node.mode, node.match) if writer is not None else None
        returned = () if node.mapping is None else node.mapping.fields
        unread = WRITE_ONLY_FIELDS.get((node.write.platform, entity), frozenset())
        targets.append(
            StepTarget(
                name,
                node.write.connection,
                node.write.platform,
                entity,
                writer is not None,
                records_of(node.write.platform, entity),  # Velpic user_status: a user
                states.state_before if isinstance(states, StateWriter) else None,
                tuple(f for f in returned if f not in unread),
                () if states is None else state_fields(states),
            )
        )
    return targets, writers


async def make_undo(
    plan: UndoPlan,
    steps: Sequence[StepTarget],
    transports: Mapping[str, Transport],
    undo_writers: Mapping[str, UndoWriter],
    restorers: Mapping[str, RequestWriter],
    journal: Journal,
) -> list[ReversalOutcome]:
    """Make ``plan``'s reversals in order, journaled; returns their outcomes. ``undo_writers`` by platform,
    ``restorers`` by step."""
    by_step = {s.step: s for s in steps}
    await narrow_restorers(plan, steps, transports, restorers)
    outcomes: list[ReversalOutcome] = []
    pending = plan.reversals
    i = 0
    while i < len(pending):
        step = pending[i].step
        chunk = [pending[i]]
        while i + len(chunk) < len(pending) and len(chunk) < CHUNK and pending[i + len(chunk)].step == step:
            chunk.append(pending[i + len(chunk)])
        i += len(chunk)
        target = by_step[step]
        journal.mark_undo(plan.run_id, [UndoMark(r.step, r.target_id, r.kind, "sent") for r in chunk])
        done = await _run_chunk(
            plan.run_id, chunk, target, transports[target.connection], undo_writers, restorers
        )
        journal.mark_undo(
            plan.run_id,
            [
                UndoMark(o.reversal.step, o.reversal.target_id, o.reversal.kind, o.state, o.reason or None)
                for o in done
            ],
        )
        outcomes.extend(done)
    return outcomes


async def narrow_restorers(
    plan: UndoPlan,
    steps: Sequence[StepTarget],
    transports: Mapping[str, Transport],
    restorers: Mapping[str, RequestWriter],
) -> None:
    """Each restorer that completes whole records from the fields its target lists (``ListedFieldsWriter``:
    accessplanit ``$upsert``) keeps only those, as the run's writer did: a declared field the target lacks is
    neither read nor sent back. Asked once per connection and entity, only for the steps with a restore."""
    restoring = {r.step for r in plan.reversals if r.kind == "restore"}
    lists = FieldLists()
    for target in steps:
        restorer = restorers.get(target.step)
        if target.step in restoring and isinstance(restorer, ListedFieldsWriter):
            transport = transports[target.connection]
            await lists.narrow(transport, restorer, target.entity, target.step, StepCounters())


async def _run_chunk(
    run_id: int,
    chunk: Sequence[Reversal],
    target: StepTarget,
    transport: Transport,
    undo_writers: Mapping[str, UndoWriter],
    restorers: Mapping[str, RequestWriter],
) -> list[ReversalOutcome]:
    """One chunk's reversals, concurrently; their outcomes in the order they ended."""
    done: list[ReversalOutcome] = []

    async def one(reversal: Reversal) -> None:
        if reversal.kind == "remove":
            outcome = await _remove(reversal, target, transport, undo_writers[target.platform])
        else:
            empty = undo_writers[target.platform].empty if target.platform in undo_writers else None
            outcome = await _restore(run_id, reversal, transport, restorers[reversal.step], empty)
        done.append(outcome)

    async with anyio.create_task_group() as tg:
        for reversal in chunk:
            tg.start_soon(one, reversal)
    return done


async def _remove(
    reversal: Reversal, target: StepTarget, transport: Transport, writer: UndoWriter
) -> ReversalOutcome:
    answers: list[Response] = []
    for _ in range(_MAX_CALLS):
        try:
            call = writer.next_removal(target.entity, reversal.target_id, answers)
        except ValueError as error:  # an answer the connector cannot read (not JSON where JSON is due)
            return ReversalOutcome(reversal, "failed", transport.redactor.text(f"unreadable answer: {error}"))
        if isinstance(call, Removed):
            return ReversalOutcome(reversal, "done", already=call.already)
        if isinstance(call, str):
            return ReversalOutcome(reversal, "failed", transport.redactor.text(call))
        answers.append(await transport.send(call, retry_transient=True))
    return ReversalOutcome(reversal, "failed", f"not removed after {_MAX_CALLS} calls")


async def _restore(
    run_id: int, reversal: Reversal, transport: Transport, writer: RequestWriter, empty: Any
) -> ReversalOutcome:
    assert reversal.image is not None
    payload = dict(reversal.image)
    if isinstance(writer, IdWriter):
        payload[writer.id_field] = reversal.target_id
    idem_key = f"undo:{run_id}:{reversal.step}:{reversal.target_id}"
    prepared = writer.prepare(WriteItem(idem_key, reversal.source_keys[0], payload, reversal.match_value))
    if not isinstance(prepared, WriteItem):
        return ReversalOutcome(reversal, "failed", transport.redactor.text(prepared.reason or "refused"))
    if not writer.idempotent and isinstance(writer, LookupWriter):  # a resend is not safe: is it so already?
        lookup = writer.lookup_request(prepared)
        if lookup is not None and writer.decode_lookup(await transport.send(lookup), prepared) is not None:
            return ReversalOutcome(reversal, "done", already=True)
    # a writer leaves out the fields a record maps to nothing; a restore sets the fields empty before back
    emptied = {k: empty for k, v in reversal.image.items() if v is None and k not in prepared.payload}
    if emptied:
        prepared = WriteItem(
            prepared.idem_key, prepared.source_key, {**prepared.payload, **emptied}, prepared.match_value
        )
    if isinstance(writer, PreReadWriter):  # it completes what it sends from the target (accessplanit $upsert)
        answers = await pre_read(transport.send, writer, [prepared])
        (completed,) = writer.apply_pre_lookups([prepared], answers)
        if not isinstance(completed, WriteItem):
            return ReversalOutcome(reversal, "failed", transport.redactor.text(completed.reason or "refused"))
        prepared = completed
    for request, sent in writer.requests([prepared]):
        response = await transport.send(request, retry_transient=True)
        try:
            rows = writer.decode(response, sent)
        except ValueError as error:
            return ReversalOutcome(reversal, "failed", f"unreadable answer: {error}")
        row = next((r for r in rows if r.idem_key == idem_key), None)
        if row is None or not row.ok:
            reason = "the target did not say" if row is None else row.reason or "the target refused it"
            return ReversalOutcome(reversal, "failed", transport.redactor.text(reason))
    return ReversalOutcome(reversal, "done")
