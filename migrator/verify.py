"""``migrator verify``: read both sides and reconcile them against the journal's crosswalk.

For each step: read the source records (the step's own read, filters included), map each one with the step's
compiled map (crosswalk references resolved from the journal) and the target writer's ``prepare`` (the wire
form the target was sent), read the target's records of the step's write entity, and compare each migrated
record's mapped fields with the target record at its crosswalk target id.

Rules (pure, :func:`values_equal` and :func:`compare_record`):

- a list is compared as a **set**: ``[{"id": 5}, {"id": 6}]`` (Velpic ``groups``) and ``[6, 5]`` are the
  same; an element that is an object with an ``id`` counts as that id, any other object as its sorted JSON;
- numbers and strings are compared as text (``123`` equals ``"123"``: ids and employee numbers cross types);
  booleans only equal booleans; ``None`` equals ``""`` (an empty field);
- two date-times with UTC offsets are the same instant whatever their offsets (``…T09:00:00+0000`` equals
  ``…T17:00:00+0800``: a target answers in its own time zone);
- strings are compared **exactly**, except an email field (its name contains ``email``) whose map expression
  lowercases it (``| lower``): compared case-insensitively;
- a field the target never returns (write-only, e.g. Velpic ``sendWelcomeEmail``, ``password``:
  :data:`WRITE_ONLY_FIELDS`) is not compared; any other mapped field absent from the target record is
  ``different`` with an empty actual value.

Statuses in ``verify.csv``:

- ``missing``: a source record with no target record — not in the crosswalk (never migrated, or added to the
  source since), or its crosswalk target id is not on the target any more;
- ``different``: one row per differing field, with the expected (mapped) and actual (target) values;
- ``extra``: a target record of the entity that no crosswalk entry of any step writing that entity points to.
  Informational (a target that held records before the migration lists them all); ``--strict`` fails on them;
- ``rejected``: a source record the journal holds as rejected (a dead letter; see ``errors.csv``).
  Informational: it is already reported, and a fix goes through ``migrator run``.

Only ``missing`` and ``different`` fail a verification (and ``extra`` with ``strict``).

Target records are indexed by the id the crosswalk holds for them: their read key, or where a platform's
writes address records otherwise (:data:`CROSSWALK_IDS`: aNewSpring users by external ID, subscriptions by
``<user ID>/<course ID>``) those fields; a field read back under another name than it is written
(:data:`TARGET_FIELD_NAMES`) is compared under the written one. Steps that write through another entity's
records (Velpic ``user_status``: the user, ``coverage.written_records``) are compared with that entity's read.
A step whose every mapped field a later step writes again on the same records (``superseded``: Velpic
``active_for_history``, then ``user_status``) is *not verified* either: the target holds the later step's
values, compared there. A target entity the platform cannot list (aNewSpring groups and group members) leaves
its steps *not verified*: named, with the reason, in the summary and the report; never a failure and never
silent. A target entity read back one request per record (a nested read: aNewSpring users, whose list call
answers none of the names, phones or roles compared, and subscriptions, listed per user) is named with its
request count and why (:data:`PER_RECORD_READS`, :attr:`VerifyResult.per_record`): at a budget of
20/second, 300 users and their subscriptions cost about 30 s.

Reads go through the engine's :class:`~migrator.transport.Transport` with the plan's rate budgets
(:func:`migrator.runtime.connections.build_transport`) and the connection's concurrency, as a run does; every
read (targets and sources) runs at once, so each connection spends its own budget side by side with the
others, and a connection's reads share its concurrency.
Target reads of entities that hide records by default ask for all of them (:data:`TARGET_READ_FILTERS`:
Velpic users, ``activeValue=all``, so an inactivated user is ``different``-free but present, not ``missing``).
Everything read is held in memory (two dicts per step): about 1–2 KB per record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import anyio

from migrator.connectors.base import (
    IdWriter,
    NestedReader,
    Page,
    Reader,
    Request,
    Response,
    RowResult,
    StreamReader,
    WriteItem,
)
from migrator.connectors.catalog import CATALOG, entity_spec
from migrator.connectors.registry import make_reader, make_writer
from migrator.coverage import CoverageRow, kept_rows, left_behind, written_records
from migrator.errors import MigratorError, PermanentError
from migrator.graph import StepNode, TaskGraph
from migrator.journal import Journal
from migrator.logging import Redactor
from migrator.plan import expr as plan_expr
from migrator.plan.env import ResolvedConnection
from migrator.plan.mapping import MappingError, parse_value
from migrator.plan.model import Plan
from migrator.protocol.keys import idempotency_key
from migrator.protocol.pagination import NextPage, PageRequest, RemainingPages
from migrator.runtime.children import children_read
from migrator.runtime.connections import build_transport
from migrator.runtime.target_index import normalised_match
from migrator.transport import Transport

__all__ = [
    "CROSSWALK_IDS",
    "PER_RECORD_READS",
    "TARGET_FIELD_NAMES",
    "TARGET_READ_FILTERS",
    "VERIFY_HEADER",
    "WRITE_ONLY_FIELDS",
    "EntityCounts",
    "Finding",
    "ReadTally",
    "ReconcileCounts",
    "StepCheck",
    "VerifyResult",
    "casefold_fields",
    "compare_record",
    "crosswalk_id",
    "find_extras",
    "index_targets",
    "map_constant",
    "per_record_note",
    "reconcile_step",
    "superseded",
    "target_filters",
    "values_equal",
    "verify_plan",
    "verify_rows",
]

Status = Literal["missing", "extra", "different", "rejected", "duplicate"]
VERIFY_HEADER: Final = ("step", "source_key", "target_id", "status", "field", "expected", "actual")

#: Fields a target accepts but never returns: not compared.
WRITE_ONLY_FIELDS: Final[Mapping[tuple[str, str], frozenset[str]]] = {
    ("velpic", "user"): frozenset({"sendWelcomeEmail", "password"}),
    ("anewspring", "user"): frozenset({"notify", "password"}),
    ("velpic", "lesson_schedule"): frozenset({"gracePeriod", "gracePeriodUnit"}),
    ("anewspring", "subscription"): frozenset({"expiryDate"}),  # getSubscriptions lists no expiry date
}
#: Filters for reading a target entity whole (the default read hides some records).
TARGET_READ_FILTERS: Final[Mapping[tuple[str, str], Mapping[str, Any]]] = {
    ("velpic", "user"): {"activeValue": "all"},
    ("velpic", "lesson_schedule"): {"status": "all", "activeValue": "all"},
}

#: How a target record is named in the crosswalk when that is not its read key: the fields whose values,
#: joined with ``/``, make the id a write returned (aNewSpring writes address users by their external ``id``,
#: and a subscription by ``<user ID>/<course ID>``, while the reads key them by generated uids).
CROSSWALK_IDS: Final[Mapping[tuple[str, str], tuple[str, ...]]] = {
    ("anewspring", "user"): ("id",),
    ("anewspring", "subscription"): ("userID", "courseID"),
}
#: A written field that the target's read returns under another name (payload field → read field).
TARGET_FIELD_NAMES: Final[Mapping[tuple[str, str], Mapping[str, str]]] = {
    ("anewspring", "user"): {"userID": "id", "role": "roles"},
    # one schedule per lesson version scheduled; it starts at the date it was scheduled for
    ("velpic", "lesson_schedule"): {"lessonVersionIds": "lessonVersionId", "scheduleDate": "startDate"},
}

#: Why a target entity is read back one request per record, where its platform has no list call that answers
#: the fields a verification compares (said in the verify output, ``verify.json`` and the report).
PER_RECORD_READS: Final[Mapping[tuple[str, str], str]] = {
    ("anewspring", "user"): (
        "aNewSpring has no list call that answers the mapped fields: getUsers lists id, uid, name, login, "
        "email and active only, so getUser/{id} is asked for each user"
    ),
    ("anewspring", "subscription"): (
        "aNewSpring lists subscriptions per user only (getSubscriptions/{userID}); getStudentSubscriptions/"
        "{courseID} lists a course's learners, but its document names no subscription field to compare"
    ),
}

_ABSENT: Final = object()


# -- pure rules ----------------------------------------------------------------------------------------------


def _element(value: Any) -> str:
    if isinstance(value, Mapping):
        if "id" in value:
            return _scalar(value["id"])
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, list | tuple):
        return json.dumps(sorted(_element(v) for v in value))
    return _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def values_equal(expected: Any, actual: Any, *, casefold: bool = False) -> bool:
    """One field by the rules above."""
    if actual is _ABSENT:
        return False
    if isinstance(expected, list | tuple) or isinstance(actual, list | tuple):
        left = (
            expected if isinstance(expected, list | tuple) else ([] if expected in (None, "") else [expected])
        )
        right = actual if isinstance(actual, list | tuple) else ([] if actual in (None, "") else [actual])
        return {_element(v) for v in left} == {_element(v) for v in right}
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual or (expected in (None, "") and actual in (None, ""))
    a, b = _scalar(expected), _scalar(actual)
    if a == b or (casefold and a.casefold() == b.casefold()):
        return True
    when_a, when_b = _instant(a), _instant(b)
    return when_a is not None and when_a == when_b


def _instant(text: str) -> datetime | None:
    """A date-time with its UTC offset (``2024-01-01T09:00:00.000+0000``) as an instant, else None: a target
    may answer the same instant in its own time zone (``2024-01-01T17:00:00.000+0800``)."""
    if "T" not in text or len(text) < 16:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def show(value: Any) -> str:
    """A value as one CSV cell."""
    if value is _ABSENT:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(sorted((_element(v) for v in value), key=lambda s: (len(s), s)))
    return _scalar(value)


def compare_record(
    expected: Mapping[str, Any],
    actual: Mapping[str, Any],
    *,
    casefold: Iterable[str] = (),
    skip: Iterable[str] = (),
) -> list[tuple[str, str, str]]:
    """``(field, expected, actual)`` for every mapped field of ``expected`` that ``actual`` does not match."""
    fold, skipped = set(casefold), set(skip)
    out: list[tuple[str, str, str]] = []
    for name, want in expected.items():
        if name in skipped:
            continue
        got = actual.get(name, _ABSENT)
        if not values_equal(want, got, casefold=name in fold):
            out.append((name, show(want), show(got)))
    return out


def casefold_fields(mapping: Mapping[str, Any]) -> frozenset[str]:
    """Email fields (name contains ``email``) whose map expression lowercases them."""
    out: set[str] = set()
    for name, raw in mapping.items():
        if "email" not in name.casefold() or not isinstance(raw, str):
            continue
        try:
            expr = parse_value(raw)
        except Exception:  # a plan that compiled parses; be lenient anyway
            continue
        if any(call.name == "lower" for call in expr.transforms):
            out.add(name)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Finding:
    step: str
    source_key: str
    target_id: str
    status: Status
    field: str = ""
    expected: str = ""
    actual: str = ""


@dataclass
class ReconcileCounts:
    """One step's source records reconciled with the target (:func:`reconcile_step`)."""

    source: int = 0  # records the source read returned
    migrated: int = 0  # of those, in the crosswalk
    matched: int = 0  # migrated and every field equal
    different: int = 0  # records with at least one different field
    missing: int = 0
    rejected: int = 0


@dataclass
class EntityCounts:
    connection: str
    entity: str
    steps: tuple[str, ...]
    target: int = 0  # records on the target
    mapped: int = 0  # of those, pointed to by a crosswalk entry
    extra: int = 0
    duplicates: int = 0  # records sharing their match value with another record of the entity


@dataclass(frozen=True)
class StepCheck:
    """What one step's comparison needs: per source key, the expected payload (``None``: not mappable)."""

    step: str
    expected: Mapping[str, Mapping[str, Any] | None]
    crosswalk: Mapping[str, str]
    targets: Mapping[str, Mapping[str, Any]]
    rejected: frozenset[str] = frozenset()
    casefold: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()


def reconcile_step(check: StepCheck) -> tuple[ReconcileCounts, list[Finding]]:
    """Compare one step's source records with the target records at their crosswalk ids."""
    counts = ReconcileCounts(source=len(check.expected))
    findings: list[Finding] = []
    for key, payload in check.expected.items():
        target_id = check.crosswalk.get(key)
        if target_id is None:
            if key in check.rejected:
                counts.rejected += 1
                findings.append(Finding(check.step, key, "", "rejected"))
            else:
                counts.missing += 1
                findings.append(Finding(check.step, key, "", "missing"))
            continue
        counts.migrated += 1
        actual = check.targets.get(target_id)
        if actual is None:
            counts.missing += 1
            findings.append(Finding(check.step, key, target_id, "missing"))
            continue
        if payload is None:
            # mapped before, unmappable now (e.g. a referenced record left the crosswalk): nothing to compare
            counts.matched += 1
            continue
        diffs = compare_record(payload, actual, casefold=check.casefold, skip=check.skip)
        if diffs:
            counts.different += 1
            findings.extend(Finding(check.step, key, target_id, "different", f, e, a) for f, e, a in diffs)
        else:
            counts.matched += 1
    return counts, findings


def find_duplicates(
    targets: Mapping[str, Mapping[str, Any]], fields: Sequence[str], step: str
) -> list[Finding]:
    """Target records that share one match value (the fields a step matches on): one finding per record of
    each such group, whatever wrote them — two runs, two journals, or the customer's own hands."""
    if not fields:
        return []
    by_value: dict[str, list[str]] = {}
    for target_id, record in targets.items():
        value = normalised_match([record.get(f) for f in fields])
        if value is not None:
            by_value.setdefault(value, []).append(target_id)
    label = ",".join(fields)
    return [
        Finding(step, "", tid, "duplicate", label, value.replace("\x1f", ","))
        for value, ids in by_value.items()
        if len(ids) > 1
        for tid in ids
    ]


def map_constant(raw: Any) -> Any:
    """The value a map entry always gives (a literal: ``10005740``, ``'ORG1'``), else ``_ABSENT``."""
    try:
        expr = parse_value(raw)
    except ValueError:
        return _ABSENT
    if isinstance(expr.source, plan_expr.Literal) and not expr.transforms:
        return expr.source.value
    return _ABSENT


def target_filters(plan: Plan, steps: Sequence[str], required: Sequence[str]) -> list[dict[str, Any]] | str:
    """The filters that read back what ``steps`` wrote, when the target's list needs some (``required``:
    OneFile lists classrooms, placements and users per ``OrganisationID``): one read per distinct value the
    steps' maps give each such field as a constant. Else why not, as text."""
    if not required:
        return [{}]
    combos: set[tuple[Any, ...]] = set()
    for step in steps:
        values = tuple(map_constant(plan.steps[step].map.get(name, _ABSENT)) for name in required)
        if any(v is _ABSENT for v in values):
            names = ", ".join(required)
            return f"per {names}, and step {step}'s map does not give it one value: nothing to read back by"
        combos.add(values)
    return [dict(zip(required, values, strict=True)) for values in sorted(combos, key=repr)]


def crosswalk_id(platform: str, entity: str, record: Mapping[str, Any], key_field: str) -> str:
    """The id the crosswalk holds for a target record read back: its read key, or the fields
    :data:`CROSSWALK_IDS` names, joined with ``/``."""
    fields = CROSSWALK_IDS.get((platform, entity))
    if fields is None:
        return str(record.get(key_field))
    return "/".join(_scalar(record.get(f)) for f in fields)


def index_targets(
    platform: str, entity: str, records: Iterable[Mapping[str, Any]], key_field: str
) -> dict[str, dict[str, Any]]:
    """Target records by the id the crosswalk holds for them (:func:`crosswalk_id`), each with the fields
    :data:`TARGET_FIELD_NAMES` renames also under the name the writes use."""
    names = TARGET_FIELD_NAMES.get((platform, entity), {})
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        aliased = {**record, **{sent: record[read] for sent, read in names.items() if read in record}}
        out[crosswalk_id(platform, entity, record, key_field)] = aliased
    return out


def find_extras(targets: Mapping[str, Any], mapped: Iterable[str], step: str) -> list[Finding]:
    """Target records no crosswalk entry points to (reported under the first step writing the entity)."""
    known = set(mapped)
    return [Finding(step, "", tid, "extra") for tid in targets if tid not in known]


@dataclass
class VerifyResult:
    steps: dict[str, ReconcileCounts] = field(default_factory=dict)
    entities: list[EntityCounts] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: what the plan leaves behind, as the last run's inventory counted it (informational: a plan's choice)
    left_behind: list[CoverageRow] = field(default_factory=list)
    #: step → why its target records cannot be read back (named in the summary and the report, never failed)
    unverified: dict[str, str] = field(default_factory=dict)
    #: target (``<connection>.<entity>``) → how it was read one request per record, and why (not a failure:
    #: the cost of a verification on a platform without a list call that answers what is compared)
    per_record: dict[str, str] = field(default_factory=dict)

    def left_behind_records(self) -> tuple[int, int]:
        """Records left behind where counted, and how many left-behind entities/statuses were not counted."""
        counted = sum(r.in_source or 0 for r in self.left_behind)
        return counted, sum(1 for r in self.left_behind if r.in_source is None)

    def count(self, status: Status) -> int:
        if status == "extra":
            return sum(e.extra for e in self.entities)
        if status == "duplicate":
            return sum(e.duplicates for e in self.entities)
        return sum(getattr(s, status) for s in self.steps.values())

    def ok(self, *, strict: bool = False) -> bool:
        bad = self.count("missing") + self.count("different") + self.count("duplicate")
        bad += self.count("extra") if strict else 0
        return bad == 0

    def summary(self, *, at: float, strict: bool) -> dict[str, Any]:
        """What the report shows of this verification (``verify.json``, shape in ``docs/reports.md``)."""
        statuses: tuple[Status, ...] = ("missing", "different", "extra", "rejected", "duplicate")
        return {
            "at": at,
            "strict": strict,
            "ok": self.ok(strict=strict),
            "counts": {s: self.count(s) for s in statuses},
            "steps": {name: asdict(c) for name, c in self.steps.items()},
            "entities": [
                {
                    "connection": e.connection,
                    "entity": e.entity,
                    "target": e.target,
                    "migrated": e.mapped,
                    "extra": e.extra,
                    "duplicates": e.duplicates,
                }
                for e in self.entities
            ],
            "unverified": dict(self.unverified),
            "per_record": dict(self.per_record),
        }


def kept_left_behind(journal: Journal) -> list[CoverageRow]:
    """What the newest run that took an inventory found left behind (none before any run did)."""
    return left_behind(kept_rows(journal.run_stats())[1])


def verify_rows(findings: Iterable[Finding]) -> list[tuple[str, ...]]:
    return [(f.step, f.source_key, f.target_id, f.status, f.field, f.expected, f.actual) for f in findings]


# -- reading (I/O through the transport) ---------------------------------------------------------------------


@dataclass
class ReadTally:
    """The requests one read sent (pages and per-record reads)."""

    requests: int = 0


async def read_all(
    transport: Transport,
    reader: Reader,
    *,
    limiter: anyio.Semaphore,
    what: str,
    tally: ReadTally | None = None,
) -> list[dict[str, Any]]:
    """Every record of one entity, page by page (planned pages concurrently), nested reads expanded; at most
    ``limiter``'s requests at once, each counted in ``tally``."""
    counted = tally if tally is not None else ReadTally()
    if isinstance(reader, StreamReader):
        return [record async for _, records in reader.pages(()) for record in records]
    nested = reader if isinstance(reader, NestedReader) else None
    pager = reader.paginator()

    async def get(page: PageRequest) -> tuple[list[dict[str, Any]], Any]:
        request = reader.page_request(page)
        async with limiter:
            counted.requests += 1
            response = await transport.send(request)
        if response.status not in (200, 204):
            raise PermanentError(
                f"verify: reading {what} failed; check the connection's credentials and the plan's read",
                platform=transport.platform,
                method=request.method,
                url=request.path,
                status=response.status,
                body_excerpt=transport.redactor.excerpt(response.body, 200),
            )
        decoded = reader.decode_page(response) if response.status == 200 else Page([])
        outcome = pager.receive(page, decoded)
        records = list(decoded.records)
        if nested is not None:
            records = await _expand(transport, nested, records, limiter, what, counted)
        return records, outcome

    out: list[dict[str, Any]] = []
    request: PageRequest | None = pager.start(())
    while request is not None:
        records, outcome = await get(request)
        out.extend(records)
        request = None
        if isinstance(outcome, NextPage):
            request = outcome.request
        elif isinstance(outcome, RemainingPages):
            pages = await _get_many(outcome.requests, get)
            out.extend(r for recs in pages for r in recs)
    return out


async def _get_many(
    requests: Sequence[PageRequest],
    get: Callable[[PageRequest], Awaitable[tuple[list[dict[str, Any]], Any]]],
) -> list[list[dict[str, Any]]]:
    """Planned pages, fetched concurrently (the caller's semaphore bounds them), in page order."""
    pages: list[list[dict[str, Any]]] = [[] for _ in requests]

    async def one(i: int, page: PageRequest) -> None:
        pages[i] = (await get(page))[0]

    async with anyio.create_task_group() as tg:
        for i, page in enumerate(requests):
            tg.start_soon(one, i, page)
    return pages


async def _expand(
    transport: Transport,
    nested: NestedReader,
    parents: list[dict[str, Any]],
    limiter: anyio.Semaphore,
    what: str,
    tally: ReadTally,
) -> list[dict[str, Any]]:
    out: list[list[dict[str, Any]]] = [[] for _ in parents]
    read = children_read(nested)

    async def send(request: Request) -> Response:
        async with limiter:
            tally.requests += 1
            return await transport.send(request)

    async def one(i: int, parent: dict[str, Any]) -> None:
        children = await read(send, parent)
        if isinstance(children, tuple):
            request, response = children
            raise PermanentError(
                f"verify: reading {what} failed",
                platform=transport.platform,
                method=request.method,
                url=request.path,
                status=response.status,
                body_excerpt=transport.redactor.excerpt(response.body, 200),
            )
        out[i] = children

    async with anyio.create_task_group() as tg:
        for i, parent in enumerate(parents):
            tg.start_soon(one, i, parent)
    return [c for children in out for c in children]


def _expected(
    plan: Plan,
    graph: TaskGraph,
    step: str,
    records: Sequence[Mapping[str, Any]],
    key_field: str,
    journal: Journal,
) -> dict[str, dict[str, Any] | None]:
    """Source key → the payload the target was sent for it (``None`` when it cannot be mapped now); records the
    step's ``where`` excludes are left out."""
    node = graph.steps[step]
    assert node.mapping is not None
    spec = plan.steps[step]
    walks = {ref: journal.crosswalk(ref) for _, ref in node.mapping.references}

    def resolve(ref: str, key: str) -> str | None:
        return walks.get(ref, {}).get(str(key))

    writer = make_writer(node.write.platform, spec.write.entity, node.mode, node.match)
    out: dict[str, dict[str, Any] | None] = {}
    for record in records:
        key = str(record.get(key_field, ""))
        try:
            if not node.mapping.selects(record, resolve):  # the step's where excludes it: nothing to compare
                continue
            payload = node.mapping(record, resolve)
        except MappingError:
            out[key] = None
            continue
        prepared = writer.prepare(WriteItem(idempotency_key(graph.name, step, key), key, payload))
        out[key] = None if isinstance(prepared, RowResult) else dict(prepared.payload)
    return out


async def verify_plan(
    plan: Plan,
    graph: TaskGraph,
    *,
    connections: Mapping[str, ResolvedConnection],
    journal: Journal,
    redactor: Redactor,
    time_scale: float = 1.0,
    verify_tls: bool = True,
    clock: Callable[[], float] = time.monotonic,
    folders: Mapping[str, Path | None] | None = None,
) -> VerifyResult:
    """Read both sides of every step (within the plan's budgets) and reconcile them; what the plan leaves
    behind comes from the journal (the inventory of its last run). ``folders``: each files connection's
    directory (``migrator.runtime.build.connection_folder``)."""
    folder_of = folders or {}
    result = VerifyResult(left_behind=kept_left_behind(journal))
    async with AsyncExitStack() as stack:
        transports: dict[str, Transport] = {}
        used = {n.read.connection for n in graph.steps.values()} | {
            n.write.connection for n in graph.steps.values()
        }
        for name in sorted(used):
            transport = build_transport(
                plan,
                name,
                connections[name],
                redactor,
                verify_tls=verify_tls,
                time_scale=time_scale,
                clock=clock,
            )
            transports[name] = await stack.enter_async_context(transport)

        # the target side, once per (connection, entity) — an entity written through another's records
        # (Velpic user_status: the user) read as that one —, indexed by the ids the crosswalk holds
        records_of = {s: w.split(".", 1)[1] for s, w in written_records(plan, CATALOG).items()}
        groups: dict[tuple[str, str], list[str]] = {}
        for name in graph.order:
            node = graph.steps[name]
            groups.setdefault((node.write.connection, records_of[name]), []).append(name)
        for steps in groups.values():
            result.unverified.update(superseded(plan, graph, steps))
        readable: dict[tuple[str, str], list[tuple[dict[str, Any], Reader]]] = {}
        for (conn_name, entity), steps in list(groups.items()):
            platform = connections[conn_name].platform
            spec = entity_spec(platform, entity)
            if spec is None or spec.read is None:
                why = f"{platform} cannot list its {entity} records: what was written cannot be read back"
                result.unverified.update((s, why) for s in steps)
                del groups[(conn_name, entity)]
                continue
            filters = target_filters(plan, steps, spec.read.required_filters)
            if isinstance(filters, str):
                result.unverified.update((s, f"{platform} lists {entity} records {filters}") for s in steps)
                del groups[(conn_name, entity)]
                continue
            read_fields = sorted(
                # every field the steps write, and the key: without a field list accessplanit answers its
                # default field set, and unlisted fields would all look different
                {spec.read.key}
                | {f for s in steps for f in _mapped_fields(graph.steps[s])}
                | {f for s in steps for f in _match_fields(plan, graph, s)}
            )
            size = spec.read.paging.max_size or spec.read.paging.default_size or 100
            folder = folder_of.get(conn_name)
            base = TARGET_READ_FILTERS.get((platform, entity), {})
            readable[(conn_name, entity)] = [
                (f, make_reader(platform, entity, {**base, **f}, size, steps[0], read_fields, folder=folder))
                for f in filters
            ]
        sources: dict[str, Reader] = {}
        for name in graph.order:
            if name in result.unverified:
                continue
            node, step = graph.steps[name], plan.steps[name]
            assert node.mapping is not None
            sources[name] = make_reader(
                node.read.platform,
                step.read.entity,
                step.read.filter,
                node.page_size or 100,
                name,
                (*node.mapping.source_fields, *([step.read.key] if step.read.key else [])),
                key=step.read.key,
                folder=folder_of.get(step.read.from_),
            )

        # every read at once: each connection's requests within its budget and its concurrency (one limit
        # shared by its reads), so the source and the target are read side by side
        limiters = {name: anyio.Semaphore(max(1, t.limits.concurrency)) for name, t in transports.items()}
        targets: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        source_records: dict[str, list[dict[str, Any]]] = {}

        tallies: dict[tuple[str, str], ReadTally] = {}

        async def read_target(conn_name: str, entity: str, by: dict[str, Any], reader: Reader) -> None:
            tally = tallies.setdefault((conn_name, entity), ReadTally())
            records = await read_all(
                transports[conn_name], reader, limiter=limiters[conn_name], what=f"target {entity}", tally=tally
            )
            if by:  # a record listed for a filter value holds it (OneFile: the organisation listed)
                records = [{**by, **r} for r in records]
            platform = connections[conn_name].platform
            targets[(conn_name, entity)].update(index_targets(platform, entity, records, reader.key_field))

        async def read_source(name: str, reader: Reader) -> None:
            conn_name = graph.steps[name].read.connection
            source_records[name] = await read_all(
                transports[conn_name], reader, limiter=limiters[conn_name], what=f"step {name} source"
            )

        try:
            async with anyio.create_task_group() as tg:
                for (conn_name, entity), readers in readable.items():
                    targets[(conn_name, entity)] = {}
                    for by, reader in readers:
                        tg.start_soon(read_target, conn_name, entity, by, reader)
                for name, reader in sources.items():
                    tg.start_soon(read_source, name, reader)
        except BaseExceptionGroup as group:
            raise _first_error(group) from None

        for name, reader in sources.items():
            node, step = graph.steps[name], plan.steps[name]
            rejected = frozenset(d.source_key for d in journal.open_rejections() if d.step == name)
            check = StepCheck(
                step=name,
                expected=_expected(plan, graph, name, source_records[name], reader.key_field, journal),
                crosswalk=journal.crosswalk(name),
                targets=targets[(node.write.connection, records_of[name])],
                rejected=rejected,
                casefold=casefold_fields(step.map),
                skip=WRITE_ONLY_FIELDS.get((node.write.platform, step.write.entity), frozenset()),
            )
            counts, findings = reconcile_step(check)
            result.steps[name] = counts
            result.findings.extend(findings)

    for (conn_name, entity), readers in readable.items():
        if any(isinstance(reader, NestedReader) for _, reader in readers):
            result.per_record[f"{conn_name}.{entity}"] = per_record_note(
                connections[conn_name].platform, entity, tallies[(conn_name, entity)].requests,
                len(targets[(conn_name, entity)]),
            )  # fmt: skip
    for (conn_name, entity), steps in groups.items():
        recs = targets[(conn_name, entity)]
        mapped = {tid for s in steps for tid in journal.crosswalk(s).values()}
        extras = find_extras(recs, mapped, steps[0])
        fields = next((m for s in steps if (m := _match_fields(plan, graph, s))), ())
        duplicates = find_duplicates(recs, fields, steps[0])
        entity_counts = EntityCounts(
            conn_name, entity, tuple(steps), len(recs), len(recs) - len(extras), len(extras)
        )
        entity_counts.duplicates = len(duplicates)
        result.entities.append(entity_counts)
        result.findings.extend(extras)
        result.findings.extend(duplicates)
    return result


def per_record_note(platform: str, entity: str, requests: int, records: int) -> str:
    """How a target entity read one request per record was read, and why (:data:`PER_RECORD_READS`)."""
    why = PER_RECORD_READS.get((platform, entity), f"{platform} lists {entity} records one parent at a time")
    return f"{requests:,} requests for {records:,} records: {why}"


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error a failed read raises out of the reads' task group: the first ``MigratorError`` (it says
    what to do), else the first error; cancellation and anything not an ``Exception`` pass as the group."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop(0)
        if isinstance(error, BaseExceptionGroup):
            pending[:0] = error.exceptions
        else:
            leaves.append(error)
    if any(not isinstance(e, Exception) for e in leaves):
        return group
    return next((e for e in leaves if isinstance(e, MigratorError)), leaves[0])


def _match_fields(plan: Plan, graph: TaskGraph, step: str) -> tuple[str, ...]:
    """The payload fields step ``step``'s writer matches target records on (none for a files target)."""
    node = graph.steps[step]
    if node.write.platform == "files":
        return ()
    return make_writer(node.write.platform, plan.steps[step].write.entity, node.mode, node.match).match_fields


def superseded(plan: Plan, graph: TaskGraph, steps: Sequence[str]) -> dict[str, str]:
    """The steps of ``steps`` (writing the same target entity, in the graph's order) whose every mapped field a
    step that runs after them maps again on the same records (both name them through one crosswalk: ``id =
    "ID -> users"``), each with why it is not compared: the target holds what the later
    step wrote (Velpic ``active_for_history``, every learner made Active for its completions, then
    ``user_status``, each user's own status), which is compared there."""
    out: dict[str, str] = {}
    for i, name in enumerate(steps):
        mine = set(_mapped_fields(graph.steps[name]))
        for later in steps[i + 1 :]:
            mine_at, theirs_at = _addressed_by(plan, graph.steps[name]), _addressed_by(plan, graph.steps[later])
            same = mine_at is not None and mine_at == theirs_at
            if same and mine <= set(_mapped_fields(graph.steps[later])) and name in _runs_before(graph, later):
                fields = ", ".join(sorted(mine))
                out[name] = (
                    f"step {later} writes {fields} again after it: the target holds its values, compared there"
                )
                break
    return out


def _addressed_by(plan: Plan, node: StepNode) -> tuple[str, str] | None:
    """(field, step): the records a step writes when it names them by an id field mapped through another
    step's crosswalk (Velpic ``user_status``: ``id = "ID -> users"``); None when its records are its own."""
    writer = make_writer(node.write.platform, plan.steps[node.name].write.entity, node.mode, node.match)
    if not isinstance(writer, IdWriter) or node.mapping is None:
        return None
    ref = dict(node.mapping.references).get(writer.id_field)
    return None if ref is None else (writer.id_field, ref)


def _runs_before(graph: TaskGraph, step: str) -> set[str]:
    """Every step ``step`` waits for, directly or through others."""
    seen: set[str] = set()
    todo = list(graph.steps[step].depends_on)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.steps[name].depends_on)
    return seen


def _mapped_fields(node: StepNode) -> tuple[str, ...]:
    return node.mapping.fields if node.mapping is not None else ()
