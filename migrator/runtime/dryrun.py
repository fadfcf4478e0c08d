"""Dry run: what a run would create, update, leave unchanged, link and reject, without writing to the target.

The dry run is a writer: ``DryRunWriter`` wraps the step's real writer, so each record is read, mapped and
checked against the target connector's own rules (``prepare``: required fields, enums such as Velpic roles,
OneFile mandatory fields per role, …), and then "written" by classifying it. The step around it is the run's
own: an update step reads the target's current values first, so its unchanged records are settled as a run
settles them (``unchanged``) and never reach this writer. To tell a create from an update, the target entity
is read once, page by page, and its match-key values indexed (``target_index``): a record whose match value is
there would update it (a create-only step links it, as a run does; a value several target records hold is
rejected, as a run rejects it), any other would be created (an ``update``-mode step cannot create: it would be
refused). A create-only step whose target cannot be read whole looks each record up, as a run does, and a
step that reads the target before it writes makes those reads (``PreReadJudge``: they tell what the write
would change); a step whose writes only read (``ReadingWriter``: OneFile searches) sends them, and any other
step whose target cannot be read counts each record as its run counts what it sends (``SentAction``). A
record that names a parent an earlier step of this dry run would create is created with it; one whose match
value an earlier step (or record) of this dry run would create on the same entity is found there
(``DryRun.made``). A write of a state the platform gives the records it creates or leaves on those it merges
into, in values no document states (``CreatedState``: Velpic user status, OneFile archived), onto such a
record is counted apart by the state it wants (``StepFindings.after_create``, ``after_merge``), never guessed.
That holds for the first state step to write a record: a later state step writing the same records (same
connection, same list: :func:`~migrator.runtime.states.records_of`) finds each one in the state the earlier
step wanted for it, whether that step sent a call or linked it (``DryRun.states``), and is judged against
that state — linked where it wants the same, updated otherwise — not the target's as read, nor the platform's.
A record is known by its target id, or, for one an earlier step creates, by the reference its stand-in id came
from (``StandIn``: the referenced step and source key).

Each record written gets a target id: the target's, or ``DRY_RUN_ID`` for one the dry run would create. A step
another step references keeps them (``DryRunLedger``) in :attr:`DryRun.crosswalks`, so that a crosswalk
reference resolves as the run will resolve it: to the target id of a record that is there, to ``DRY_RUN_ID``
for one it would create, and to nothing (a rejection naming the reference) for one it would not write.

What a preview needs beyond the counts is kept per step in :class:`StepFindings`: the updated fields and their
counts, a sample of values before → after, and the records a run would write but a person should look at
(a match value the source holds twice, a malformed e-mail address the target's rules do not check).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from migrator.connectors.base import (
    Action,
    IdWriter,
    LookupWriter,
    PreReadJudge,
    RequestWriter,
    RowResult,
    WriteItem,
    Writer,
)
from migrator.journal import DeadLetter, Rejection, WriteResult
from migrator.runtime.counters import StepCounters
from migrator.runtime.ledger import DiscardLedger
from migrator.runtime.pre_reads import pre_read
from migrator.runtime.step_spec import Resolver
from migrator.runtime.target_index import CurrentValues, TargetIndex, match_value
from migrator.runtime.unchanged import same_value
from migrator.transport import Transport

__all__ = [
    "DRY_RUN_ID",
    "SAMPLES",
    "CreatedState",
    "DryRun",
    "DryRunLedger",
    "DryRunWriter",
    "Finding",
    "ReadingWriter",
    "Sample",
    "SentAction",
    "StandIn",
    "StepFindings",
    "dry_run_resolver",
]

#: what a crosswalk reference resolves to in a dry run when the referenced record would have been created
DRY_RUN_ID = "0"

#: records of each step whose values before → after a dry run keeps, per action
SAMPLES = 5

#: an address as the platforms take one: something, one @, a domain with a dot, no spaces
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


@dataclass(frozen=True, slots=True)
class Finding:
    """A record a run would write that a person should look at first: its source key and why."""

    source_key: str
    reason: str


@dataclass(frozen=True, slots=True)
class Sample:
    """One record as the run would write it: ``action`` (created or updated) and, per field it changes, the
    target's value before (None for a create) and the value after."""

    source_key: str
    action: str
    changes: Mapping[str, tuple[Any, Any]]


class StandIn(str):
    """``DRY_RUN_ID`` as a crosswalk reference resolves to it in a dry run, carrying the record it stands in
    for: the referenced ``step`` and the record's source ``key`` there (a state step's record, known apart
    from the others an earlier step creates: ``DryRun.states``). It equals, hashes and serialises as
    ``DRY_RUN_ID``; a transform that makes a new value of it keeps only that."""

    step: str
    key: str

    def __new__(cls, step: str, key: str) -> StandIn:
        self = super().__new__(cls, DRY_RUN_ID)
        self.step, self.key = step, key
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (StandIn, (self.step, self.key))


#: a record a state step writes: ``("", target id)`` for one on the target, ``(step, source key)`` for one
#: the referenced step of this dry run creates
RecordKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class LeftState:
    """The state a state step of this dry run leaves a record in: the ``step`` and its fields' values."""

    step: str
    state: Mapping[str, Any]


@dataclass
class StepFindings:
    """What a dry run saw of one step beyond its counts."""

    #: per field, the updates that change it
    fields: Counter[str] = field(default_factory=Counter)
    samples: list[Sample] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: match value → the first source key written with it
    values: dict[str, str] = field(default_factory=dict)
    #: the writes of a state onto records an earlier step creates (``CreatedState``), by the state they want
    #: (``field=value``, joined with ``, ``): the run leaves unchanged those the platform creates so
    after_create: Counter[str] = field(default_factory=Counter)
    #: the same writes onto records an earlier step merges into, by the state they want and whether the
    #: record held it before (``held`` or ``other``): what a merge does to that state is not documented either
    after_merge: Counter[str] = field(default_factory=Counter)


@dataclass
class DryRun:
    """A dry run's effects, kept in memory: the records it would reject, the target ids it would write by
    step and source key, and its findings by step."""

    rejected: list[DeadLetter] = field(default_factory=list)
    crosswalks: dict[str, dict[str, str]] = field(default_factory=dict)
    steps: dict[str, StepFindings] = field(default_factory=dict)
    #: per target (connection, entity, match fields), the match values its steps would create
    created: dict[tuple[str, str, tuple[str, ...]], set[str]] = field(default_factory=dict)
    #: per target connection, the target ids of the records its steps would update → the step
    merged: dict[str, dict[str, str]] = field(default_factory=dict)
    #: per target connection and list of records, the state its state steps leave each record in
    states: dict[tuple[str, str], dict[RecordKey, LeftState]] = field(default_factory=dict)

    def findings(self, step: str) -> StepFindings:
        return self.steps.setdefault(step, StepFindings())

    def made(self, connection: str, entity: str, match_fields: tuple[str, ...]) -> set[str]:
        """The match values this dry run's steps would create on ``entity`` of ``connection`` (shared: a
        later step writing the same entity by the same fields finds them there, as the run does)."""
        return self.created.setdefault((connection, entity, match_fields), set())

    def states_of(self, connection: str, records: str) -> dict[RecordKey, LeftState]:
        """The states this dry run's state steps leave the records of ``connection``'s list ``records`` in
        (shared: a later state step writing the same records finds them there, as the run does)."""
        return self.states.setdefault((connection, records), {})


class DryRunLedger(DiscardLedger):
    """A dry run's ledger: nothing reaches the journal; the records a run would reject go to
    :attr:`DryRun.rejected`, the target ids of those it would write to :attr:`DryRun.crosswalks`."""

    def __init__(self, step: str, dry: DryRun) -> None:
        super().__init__(step, dry.rejected)
        self.crosswalk = dry.crosswalks.setdefault(step, {})

    def batch_done(
        self, batch_id: str, results: Sequence[WriteResult], rejections: Sequence[Rejection]
    ) -> None:
        super().batch_done(batch_id, results, rejections)
        for r in results:
            if r.target_id:
                self.crosswalk[r.source_key] = r.target_id


@runtime_checkable
class CreatedState(Protocol):
    """A writer of a state the platform gives every record it creates, in values no document states (Velpic
    user status: what ``bulkUserImport`` makes a user it creates; OneFile: whether a created user is
    archived): ``created_state``, the fields of that state. A dry run cannot tell whether such a record,
    created by an earlier step, already holds the state a write wants: it counts the write apart, by the
    values it wants (``StepFindings.after_create``), never as a guess — unless an earlier step of this
    writer's kind sets that state on it (``DryRun.states``)."""

    created_state: tuple[str, ...]


@runtime_checkable
class SentAction(Protocol):
    """A writer whose every write the target accepts is answered with one action, whatever the target held
    (Velpic ILT attendance: ``updated``); a writer without it is answered ``updated`` in ``update`` mode and
    ``created`` otherwise."""

    sent_action: Action


@runtime_checkable
class ReadingWriter(RequestWriter, Protocol):
    """A writer whose calls read and write nothing (OneFile classrooms and placements: a search answers the
    id of the record found): a dry run sends them, as the run does."""

    reads_only: bool


def _stands_in(value: str | None) -> bool:
    """Whether a match value holds ``DRY_RUN_ID``: it names a record an earlier step of the dry run creates."""
    return value is not None and DRY_RUN_ID in value.split("\x1f")


def _plain(item: WriteItem) -> WriteItem:
    """``item`` with its stand-in ids (``StandIn``, at any depth) as plain ``DRY_RUN_ID``: what the writer
    prepares, and samples and change sets hold."""
    if not _stands_in_for_one(item.payload):
        return item
    return WriteItem(item.idem_key, item.source_key, _plain_value(item.payload), item.match_value)


def _stands_in_for_one(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_stands_in_for_one(v) for v in value.values())
    if isinstance(value, list):
        return any(_stands_in_for_one(v) for v in value)
    return isinstance(value, StandIn)


def _plain_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_value(v) for v in value]
    return DRY_RUN_ID if isinstance(value, StandIn) else value


class DryRunWriter:
    """Writes nothing: ``prepare`` is the real writer's, and each record "written" is classified against the
    target index (see the module). ``current``: the step's current values, for the samples' before values;
    ``counters``: the step's, for the records a create-only step links; ``findings``: where the step's
    samples and findings go; ``target``: the target's transport, for the lookups a create-only step makes
    when its target cannot be read whole.

    ``made``: the match values this dry run creates on the step's target entity, shared with the other steps
    writing it; ``merged``: the target ids the steps of the same target update, by step; ``step``: this
    step's name.

    A create-only writer (not ``idempotent``) settles a record as a run settles it, by the target's state:
    found in the index (or, without one, by the writer's lookup), it is linked at no call; not found, it is
    sent — created, or, for a writer in ``update`` mode whose match value holds the state it writes (Velpic
    user status: id and status), updated. A record naming a parent the dry run would create (``DRY_RUN_ID``)
    cannot be on the target yet: it is created, or updated (see ``_after_a_create``). Without an index (the
    target cannot be read by match key) a record of an idempotent writer is sent: counted as its writer
    answers a write (``action``)."""

    idempotent = True

    def __init__(
        self,
        writer: Writer,
        index: TargetIndex | None,
        *,
        current: CurrentValues | None = None,
        counters: StepCounters | None = None,
        findings: StepFindings | None = None,
        target: Transport | None = None,
        made: set[str] | None = None,
        merged: dict[str, str] | None = None,
        states: dict[RecordKey, LeftState] | None = None,
        step: str = "",
    ) -> None:
        self.writer = writer
        self.index = index
        self.current = current
        self.counters = counters if counters is not None else StepCounters()
        self.seen = findings if findings is not None else StepFindings()
        self.mode = writer.mode
        self.max_batch = writer.max_batch
        self.match_fields = writer.match_fields
        self.lookups = writer if not writer.idempotent and isinstance(writer, LookupWriter) else None
        self.target = target
        self.judge = writer if target is not None and isinstance(writer, PreReadJudge) else None
        self.made = made if made is not None else set()
        self.merged = merged if merged is not None else {}
        self.states = states if states is not None else {}
        self.step = step
        self.created_state = writer.created_state if isinstance(writer, CreatedState) else ()
        #: a state step's records by idem key (``prepare``), to find them in ``states``
        self.records: dict[str, RecordKey] = {}
        self.reading = writer if isinstance(writer, ReadingWriter) and writer.reads_only else None
        self.action: Action = (
            writer.sent_action
            if isinstance(writer, SentAction)
            else "updated"
            if writer.mode == "update"
            else "created"
        )

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        prepared = self.writer.prepare(_plain(item))
        if isinstance(prepared, WriteItem):
            self._look_at(prepared, match_value(self.writer, prepared))
            record = self._record(item, prepared) if self.created_state else None
            if record is not None:
                self.records[prepared.idem_key] = record
        return prepared

    async def write_direct(self, items: Sequence[WriteItem]) -> list[RowResult]:
        if self.reading is not None and self.target is not None:
            return await self._read(self.reading, self.target, items)
        chained = {it.idem_key: row for it in items if (row := self._chained(it)) is not None}
        rest = [it for it in items if it.idem_key not in chained]
        judged = await self._pre_read(rest) if self.judge is not None and self.index is None else {}
        rows = [chained.get(it.idem_key) or judged.get(it.idem_key) or await self._classify(it) for it in items]
        for it, row in zip(items, rows, strict=True):
            record = self.records.get(it.idem_key)
            if row.ok and record is not None:  # written or linked: the record holds the state wanted
                self.states[record] = LeftState(self.step, {k: it.payload.get(k) for k in self.created_state})
        return rows

    def _record(self, item: WriteItem, prepared: WriteItem) -> RecordKey | None:
        """The record a state write reaches: the reference of its stand-in id (``StandIn``, as mapped), else
        its target id (as prepared); None for one it names no way to tell apart (a stand-in a transform made
        anew, a list)."""
        if not isinstance(self.writer, IdWriter):
            return None
        mapped = item.payload.get(self.writer.id_field)
        if isinstance(mapped, StandIn):
            return (mapped.step, mapped.key)
        at = prepared.payload.get(self.writer.id_field)
        if at is None or isinstance(at, list | dict) or str(at) in ("", DRY_RUN_ID):
            return None
        return ("", str(at))

    def _chained(self, it: WriteItem) -> RowResult | None:
        """A state write onto a record an earlier state step of this dry run leaves in a state (``states``):
        linked where it wants that state, sent (updated) otherwise — as the run finds the record after that
        step; None for any other record."""
        record = self.records.get(it.idem_key)
        left = self.states.get(record) if record is not None else None
        if record is None or left is None or left.step == self.step:
            return None
        if any(k not in left.state for k in self.created_state):
            return None
        if all(same_value(it.payload.get(k), left.state[k]) for k in self.created_state):
            return self._linked(it, record[1] if record[0] == "" else DRY_RUN_ID)
        return self._sent(it, match_value(self.writer, it))

    @staticmethod
    async def _read(reading: ReadingWriter, target: Transport, items: Sequence[WriteItem]) -> list[RowResult]:
        """A writer whose calls only read (``ReadingWriter``): its calls sent and answered as in a run."""
        rows: dict[str, RowResult] = {}
        for request, sent in reading.requests(items):
            rows.update((row.idem_key, row) for row in reading.decode(await target.send(request), sent))
        return [rows[it.idem_key] for it in items]

    async def _pre_read(self, items: Sequence[WriteItem]) -> dict[str, RowResult]:
        """A writer that reads the target before it writes (``PreReadJudge``) and whose target cannot be
        read whole: its reads made as the run makes them, for the records that name no record this dry run
        would create; each one's row — rejected by the reads, unchanged (``settled``), or created."""
        judge, target = self.judge, self.target
        assert judge is not None and target is not None
        there = [it for it in items if not _stands_in(match_value(self.writer, it) or it.match_value)]
        if not there:
            return {}
        answers = await pre_read(target.send, judge, there)
        out: dict[str, RowResult] = {}
        for row in judge.apply_pre_lookups(there, answers):
            if isinstance(row, RowResult):
                out[row.idem_key] = row
            elif (settled := judge.settled(row)) is not None:
                out[row.idem_key] = settled
            else:
                out[row.idem_key] = self._sent(row, match_value(self.writer, row))
        return out

    async def _classify(self, it: WriteItem) -> RowResult:
        value = match_value(self.writer, it)
        stand_in = _stands_in(value if value is not None else it.match_value)
        if stand_in:
            return self._after_a_create(it, value)
        if value is not None and value in self.made:  # this dry run creates it (an earlier record or step)
            if not self.writer.idempotent:
                return self._linked(it, DRY_RUN_ID)
            self._sample(it, "updated", value)
            return RowResult(it.idem_key, ok=True, target_id=DRY_RUN_ID, action="updated")
        if self.index is None:
            return await self._unindexed(it, value)
        if self.created_state and self._merged_into(it) is not None:
            return self._after_a_merge(it, value)
        ids = self.index.get(value, []) if value is not None else []
        if not self.writer.idempotent:
            if len(ids) > 1:
                fields = ", ".join(self.match_fields)
                reason = (
                    f"{len(ids)} records on the target ({', '.join(ids[:5])}) have {fields} = {value!r}: the "
                    "step cannot tell which one this record is. Merge or rename them on the target"
                )
                return RowResult(it.idem_key, ok=False, action="rejected", reason=reason)
            if ids:
                return self._linked(it, ids[0])
            return self._sent(it, value)
        if ids:
            self._sample(it, "updated", value)
            self.merged.setdefault(ids[0], self.step)
            return RowResult(it.idem_key, ok=True, target_id=ids[0], action="updated")
        if self.mode == "update":
            reason = (
                f"no record on the target has {', '.join(self.match_fields)} = {value!r}: an update needs one"
            )
            return RowResult(it.idem_key, ok=False, action="rejected", status=404, reason=reason)
        return self._sent(it, value)

    def _after_a_create(self, it: WriteItem, value: str | None) -> RowResult:
        """A record naming one an earlier step would create: created with it, or updated — except an update
        that names no field beyond its id (it changes nothing: unchanged, as the run finds it), and a write
        of a state the platform gives the records it creates (``CreatedState``): whether the run sends it
        depends on that state, which no document states, so it is counted apart by the state it wants
        (``after_create``)."""
        if self.action != "updated":
            self._sample(it, "created", value)
            return RowResult(it.idem_key, ok=True, target_id=DRY_RUN_ID, action="created")
        if self.created_state:
            self.seen.after_create[self._wanted(it)] += 1
            return RowResult(it.idem_key, ok=True, target_id=DRY_RUN_ID, action="unchanged")
        if self.writer.idempotent and not self._beyond_the_id(it):
            self.counters.unchanged += 1
            return RowResult(it.idem_key, ok=True, target_id=DRY_RUN_ID, action="unchanged")
        self._sample(it, "updated", value)
        return RowResult(it.idem_key, ok=True, target_id=DRY_RUN_ID, action="updated")

    def _merged_into(self, it: WriteItem) -> str | None:
        """The target id of the record ``it`` writes, when an earlier step of this dry run updates it."""
        at = it.payload.get(self.writer.id_field) if isinstance(self.writer, IdWriter) else None
        step = self.merged.get(str(at)) if at is not None else None
        return str(at) if step is not None and step != self.step else None

    def _after_a_merge(self, it: WriteItem, value: str | None) -> RowResult:
        """A write of a state (``CreatedState``) onto a record an earlier step merges into: counted apart by
        the state it wants and whether the record holds it now (``after_merge``)."""
        assert self.index is not None
        held = "held" if value is not None and value in self.index else "other"
        self.seen.after_merge[f"{self._wanted(it)}, {held}"] += 1
        return RowResult(it.idem_key, ok=True, target_id=self._merged_into(it), action="unchanged")

    def _wanted(self, it: WriteItem) -> str:
        """The state a write of ``created_state`` wants, as ``field=value`` (JSON), joined with ``, ``."""
        return ", ".join(f"{k}={json.dumps(it.payload.get(k), default=str)}" for k in self.created_state)

    def _beyond_the_id(self, it: WriteItem) -> list[str]:
        """The fields an update sets besides its match fields and its id."""
        ids = {*self.match_fields, *([self.writer.id_field] if isinstance(self.writer, IdWriter) else [])}
        return [k for k in it.payload if k not in ids]

    async def _unindexed(self, it: WriteItem, value: str | None) -> RowResult:
        """A record of a step whose target cannot be read whole. A create-only step's record is looked up
        as a run looks it up (``lookups``), or sent when it cannot be; any other step's record is sent, and
        counted as its writer answers a write the target accepts (``SentAction``)."""
        if self.writer.idempotent:
            return self._sent(it, value)
        request = self.lookups.lookup_request(it) if self.lookups is not None else None
        if self.lookups is None or self.target is None or request is None:
            return self._sent(it, value)
        found = self.lookups.decode_lookup(await self.target.send(request), it)
        return self._linked(it, found) if found is not None else self._sent(it, value)

    def _linked(self, it: WriteItem, target_id: str) -> RowResult:
        """Found on the target as it should be: linked at no call, as a run links it."""
        self.counters.linked += 1
        return RowResult(it.idem_key, ok=True, target_id=target_id, action="unchanged")

    def _sent(self, it: WriteItem, value: str | None) -> RowResult:
        """Not on the target: the run sends it — a create (whose value a later record or step then finds),
        or an update (a write answered ``updated``: of the state the match value holds, of progress)."""
        if self.action == "updated":
            self._sample(it, "updated", value)
            at = it.payload.get(self.writer.id_field) if isinstance(self.writer, IdWriter) else None
            target_id = DRY_RUN_ID if at is None or at == "" else str(at)
            return RowResult(it.idem_key, ok=True, target_id=target_id, action="updated")
        self._sample(it, "created", value)
        if value is not None:
            self.made.add(value)
        return RowResult(it.idem_key, ok=True, target_id=DRY_RUN_ID, action="created")

    def _look_at(self, it: WriteItem, value: str | None) -> None:
        """Findings: a match value the source holds twice, an e-mail field whose value is no address."""
        seen = self.seen
        if value is not None and not _stands_in(value):
            first = seen.values.setdefault(value, it.source_key)
            if first != it.source_key:
                seen.findings.append(
                    Finding(
                        it.source_key,
                        f"{', '.join(self.match_fields)} = {value!r} is also record {first!r}'s: the run "
                        "writes both to one target record",
                    )
                )
        for name, v in it.payload.items():
            if "email" in name.lower() and isinstance(v, str) and v and not _EMAIL.match(v):
                seen.findings.append(Finding(it.source_key, f"{name} = {v!r} is not an e-mail address"))

    def _sample(self, it: WriteItem, action: str, value: str | None) -> None:
        """The fields an update changes (counted), and the first records' values before → after."""
        before: Mapping[str, Any] = {}
        if action == "updated" and self.current is not None and value is not None:
            record = self.current.get(value)
            before = self.current.values(record) if record is not None and not record.shared else {}
        changes = {
            k: (before.get(k), v)
            for k, v in it.payload.items()
            if action == "created" or k not in before or not same_value(v, before[k])
        }
        if action == "updated":
            self.seen.fields.update(changes.keys())
        if sum(1 for s in self.seen.samples if s.action == action) < SAMPLES:
            self.seen.samples.append(Sample(it.source_key, action, changes))


def dry_run_resolver(crosswalks: Mapping[str, Mapping[str, str]], dry: DryRun) -> Resolver:
    """Crosswalk references in a dry run: the journal's target id, else the one the dry run wrote for the
    referenced record (the target's, or ``DRY_RUN_ID`` for a record it would create, as a ``StandIn`` that
    names that record)."""

    def resolve(step: str, key: Any) -> Any:
        walk = crosswalks.get(step)
        found = None if walk is None else walk.get(str(key))
        if found is None:
            found = dry.crosswalks.get(step, {}).get(str(key))
            if found == DRY_RUN_ID:
                return StandIn(step, str(key))
        return found

    return resolve
