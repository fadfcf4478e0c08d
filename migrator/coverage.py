"""Coverage: what a plan carries of its sources, and what it leaves behind and why. Pure logic, no I/O.

A source is every connection a step reads from; it *has* the entities its platform declares readable
(``connectors/<platform>/spec.py``; a folder of files has the files the plan reads), and an entity with
declared statuses (:class:`~migrator.connectors.spec.Statuses`: Velpic users, active / inactive) has one slice
per status. :func:`slices` says which slices to count and with which read filter; the counting itself
(``runtime/inventory.py``) turns each into a :class:`Tally`.

:func:`assess` then sets the tallies against the plan's :func:`readings` (the statuses each step's filter
selects) and gives one :class:`CoverageRow` per step that reads a source entity, and one per entity and
status that no step carries — *left behind*, with its reason:

- ``entity lesson of connection source: no step reads it (the target cannot hold it: velpic has no lesson
  to write)``;
- ``user status inactive of connection source: excluded by filter activeValue=active of step users``, where
  the platform applies ``activeValue=active`` when a step sends none, the reason says so.

The tallies and the rows are kept in the journal's run statistics (``"inventory"``, ``"coverage"``) so that
``report`` and ``verify`` show them offline and a ``--delta`` or ``--retry-rejected`` pass reuses the last
inventory (:func:`kept_tallies`) instead of counting again; :func:`summary_lines` and :func:`csv_rows`
join the rows with each step's counts (read, written, rejected).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from migrator.connectors.spec import PlatformSpec, Statuses
from migrator.plan.model import Plan

__all__ = [
    "COVERAGE_HEADER",
    "CoverageRow",
    "Reading",
    "Slice",
    "StepCount",
    "Tally",
    "assess",
    "csv_rows",
    "filter_value",
    "kept_rows",
    "kept_tallies",
    "left_behind",
    "plan_coverage",
    "readings",
    "rows_from_json",
    "rows_to_json",
    "same_list",
    "slices",
    "summary_lines",
    "tallies_to_json",
    "targets",
    "written_records",
]

COVERAGE_HEADER: Final = (
    "connection",
    "entity",
    "status",
    "in_source",
    "step",
    "read",
    "written",
    "rejected",
    "left_behind",
    "reason",
)


@dataclass(frozen=True, slots=True)
class Slice:
    """One thing to count: the records of ``entity`` in ``status`` (``""``: the entity has no statuses) on a
    source connection, read with ``filters``; ``uncountable`` says why it cannot be counted (``""``: it can)."""

    connection: str
    platform: str
    entity: str
    status: str
    filters: Mapping[str, str]
    uncountable: str = ""


@dataclass(frozen=True, slots=True)
class Tally:
    """How many records a slice holds on its source; ``count`` None: not counted, ``note`` says why."""

    connection: str
    entity: str
    status: str
    count: int | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Reading:
    """What one step reads: an entity of a source connection, and the statuses its filter selects.

    ``statuses`` is ``("",)`` for an entity without statuses and ``()`` when the step's filter value is not
    one the platform declares; ``filter`` is the status filter as applied (``activeValue=active``) and
    ``defaulted`` says the platform applies it because the step sends none."""

    step: str
    connection: str
    entity: str
    statuses: tuple[str, ...]
    filter: str = ""
    defaulted: bool = False


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """One line of the coverage section: a step's read of a source entity (``step`` set, ``reason`` empty),
    or an entity status no step carries (``step`` None, ``reason`` says why). ``in_source`` is the records
    the source holds in ``statuses`` (None: not counted; ``note`` says why)."""

    connection: str
    entity: str
    statuses: tuple[str, ...]
    in_source: int | None
    step: str | None = None
    reason: str = ""
    note: str = ""

    @property
    def is_left_behind(self) -> bool:
        return self.step is None

    @property
    def status_text(self) -> str:
        """The statuses as one cell: ``active+inactive``; ``all`` for an entity without statuses."""
        shown = [s for s in self.statuses if s]
        return "+".join(shown) if shown else "all" if self.statuses else "unknown"


@dataclass(frozen=True, slots=True)
class StepCount:
    """What a step did with the records it read: read, written (created, updated or already there), rejected."""

    read: int | None
    written: int
    rejected: int


def filter_value(value: Any) -> str:
    """A plan's filter value as the platform is sent it: ``true``/``false``, a list comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(filter_value(v) for v in value)
    return str(value)


def _sources(plan: Plan) -> dict[str, str]:
    """Connection → platform, for every connection a step reads from, in the plan's order."""
    read = {step.read.from_ for step in plan.steps.values()}
    return {name: c.platform for name, c in plan.connections.items() if name in read}


def _entities(plan: Plan, connection: str, spec: PlatformSpec) -> list[str]:
    """The readable entities of a source: its platform's, or (a folder of files) the ones the plan reads. An
    entity read from the same list as one declared before it (Velpic ``user_status`` is ``GET /user``) is
    that one: the list is counted once."""
    if spec.open_entities:
        names = (s.read.entity for s in plan.steps.values() if s.read.from_ == connection)
        return list(dict.fromkeys(names))
    return [name for name, e in spec.entities.items() if e.read is not None and same_list(spec, name) == name]


def same_list(spec: PlatformSpec, entity: str) -> str:
    """The first entity the platform declares whose read is the list ``entity`` reads (itself, mostly), or the
    one whose records ``entity`` reads, completed (``ReadSpec.records_of``)."""
    read = spec.entities[entity].read if entity in spec.entities else None
    if read is None or spec.open_entities:
        return entity
    if read.records_of is not None:
        return same_list(spec, read.records_of)
    return next(
        name
        for name, e in spec.entities.items()
        if e.read is not None
        and (e.read.endpoint.method, e.read.endpoint.path, e.read.parent)
        == (read.endpoint.method, read.endpoint.path, read.parent)
    )


def _statuses(spec: PlatformSpec, entity: str) -> Statuses | None:
    e = spec.entities.get("*" if spec.open_entities else entity)
    return None if e is None or e.read is None else e.read.statuses


def slices(plan: Plan, catalog: Mapping[str, PlatformSpec]) -> list[Slice]:
    """Every (source connection, entity, status) to count, once each, with the filter that selects it."""
    out: list[Slice] = []
    for connection, platform in _sources(plan).items():
        spec = catalog[platform]
        for entity in _entities(plan, connection, spec):
            e = spec.entities["*" if spec.open_entities else entity]
            assert e.read is not None
            why = ""
            if e.read.parent is not None:
                why = f"read once per {e.read.parent}: counting it would read them all"
            elif e.read.required_filters:
                why = f"its list needs {', '.join(e.read.required_filters)}"
            statuses = e.read.statuses
            if statuses is None:
                out.append(Slice(connection, platform, entity, "", {}, why))
                continue
            for status in statuses.names:
                value = next((v for v, s in statuses.values.items() if s == (status,)), None)
                if value is None:
                    out.append(Slice(connection, platform, entity, status, {}, why or "no filter selects it"))
                else:
                    out.append(Slice(connection, platform, entity, status, {statuses.parameter: value}, why))
    return out


def readings(plan: Plan, catalog: Mapping[str, PlatformSpec]) -> list[Reading]:
    """What each step reads, and which statuses its read filter selects (by the platform's declaration)."""
    out: list[Reading] = []
    for name, step in plan.steps.items():
        connection = step.read.from_
        spec = catalog[plan.connections[connection].platform]
        entity = same_list(spec, step.read.entity)
        statuses = _statuses(spec, entity)
        if statuses is None:
            out.append(Reading(name, connection, entity, ("",)))
            continue
        given = step.read.filter.get(statuses.parameter)
        value = filter_value(given) if given is not None else statuses.default
        shown = f"{statuses.parameter}={value}" if value is not None else ""
        selected = statuses.values.get(value, ()) if value is not None else statuses.names
        out.append(Reading(name, connection, entity, selected, shown, defaulted=given is None))
    return out


def targets(plan: Plan, catalog: Mapping[str, PlatformSpec]) -> dict[str, PlatformSpec]:
    """Connection → platform declaration, for every connection a step writes records to. A folder only
    written as a declared entity (a files ``documents`` archive: certificates) holds no records of other
    entities, so it is none; one a step writes a file of records to could hold any entity."""
    written: dict[str, set[str]] = {}
    for step in plan.steps.values():
        written.setdefault(step.write.to, set()).add(step.write.entity)
    out: dict[str, PlatformSpec] = {}
    for name, entities in written.items():
        spec = catalog[plan.connections[name].platform]
        if spec.open_entities and all(e in spec.entities for e in entities):
            continue
        out[name] = spec
    return out


def written_records(plan: Plan, catalog: Mapping[str, PlatformSpec]) -> dict[str, str]:
    """Step → the records it writes, ``<connection>.<entity>``: an entity whose read is another one's list is
    that one's records (Velpic ``user_status`` is the user: a step that sets it writes no other record)."""
    out: dict[str, str] = {}
    for name, step in plan.steps.items():
        spec = catalog.get(plan.connections[step.write.to].platform)
        entity = same_list(spec, step.write.entity) if spec is not None else step.write.entity
        out[name] = f"{step.write.to}.{entity}"
    return out


def plan_coverage(
    plan: Plan, catalog: Mapping[str, PlatformSpec], tallies: Iterable[Tally]
) -> list[CoverageRow]:
    """:func:`assess` of a plan: its readings against the tallies of its sources, its targets' declarations."""
    return assess(tallies, readings(plan, catalog), targets(plan, catalog))


def _sum(
    tallies: Mapping[tuple[str, str, str], Tally], connection: str, entity: str, statuses: Iterable[str]
) -> tuple[int | None, str]:
    total: int | None = 0
    notes: list[str] = []
    for status in statuses:
        t = tallies.get((connection, entity, status))
        if t is None or t.count is None:
            total = None
            notes.append(t.note if t is not None and t.note else "not counted")
        elif total is not None:
            total += t.count
    return total, "; ".join(dict.fromkeys(notes))


def _excluded(reads: Sequence[Reading]) -> str:
    """``excluded by filter activeValue=active of step users`` (several steps: each of them)."""
    parts = []
    for r in reads:
        how = f"{r.filter} (the platform's default: the step sends none)" if r.defaulted else r.filter
        parts.append(f"{how} of step {r.step}")
    return f"excluded by filter{'s' if len(parts) > 1 else ''} {', '.join(parts)}"


def assess(
    tallies: Iterable[Tally],
    reads: Iterable[Reading],
    targets: Mapping[str, PlatformSpec],
) -> list[CoverageRow]:
    """The coverage rows: one per step's read of a source entity, then one per entity status left behind.

    ``tallies`` names every source entity and status (what the sources have); ``targets`` are the platforms
    written to (connection → declaration), to say where a target cannot hold an entity no step reads."""
    counted = {(t.connection, t.entity, t.status): t for t in tallies}
    reads = list(reads)
    rows: list[CoverageRow] = []
    for r in reads:
        total, note = _sum(counted, r.connection, r.entity, r.statuses)
        if not r.statuses:
            total, note = None, f"filter {r.filter} selects no status the platform declares"
        rows.append(CoverageRow(r.connection, r.entity, r.statuses, total, r.step, note=note))
    for (connection, entity, status), tally in counted.items():
        mine = [r for r in reads if r.connection == connection and r.entity == entity]
        if any(status in r.statuses for r in mine):
            continue
        what = f"{entity} status {status}" if status else entity
        if not mine:
            reason = f"entity {entity} of connection {connection}: no step reads it"
            cannot = _cannot_hold(entity, targets)
            if cannot:
                reason += f" ({cannot})"
        elif all(r.statuses for r in mine):
            reason = f"{what} of connection {connection}: {_excluded(mine)}"
        else:
            filters = ", ".join(f"{r.filter} of step {r.step}" for r in mine)
            reason = f"{what} of connection {connection}: no step's filter is known to select it ({filters})"
        rows.append(CoverageRow(connection, entity, (status,), tally.count, None, reason, tally.note))
    return rows


def _cannot_hold(entity: str, targets: Mapping[str, PlatformSpec]) -> str:
    """Why no target can hold ``entity`` (no target platform writes an entity of that name), or ``""``."""
    if not targets:
        return ""
    for spec in targets.values():
        if spec.open_entities:
            return ""
        e = spec.entities.get(entity)
        if e is not None and e.writes:
            return ""
    platforms = ", ".join(dict.fromkeys(spec.name for spec in targets.values()))
    return f"the target cannot hold it: {platforms} has no {entity} to write"


def left_behind(rows: Iterable[CoverageRow]) -> list[CoverageRow]:
    return [row for row in rows if row.is_left_behind]


# -- shown and kept ---------------------------------------------------------------------------------------


def _n(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def summary_lines(rows: Sequence[CoverageRow], counts: Mapping[str, StepCount]) -> list[str]:
    """The coverage section of a summary: each step's read against the source (with its ``counts``, where
    given: ``explain --probe`` has none), then what is left behind."""
    if not rows:
        return []
    lines = ["coverage (what the sources hold, what the plan carries and leaves behind):"]
    for row in rows:
        where = f"{row.connection}.{row.entity} [{row.status_text}]"
        if row.step is not None:
            c = counts.get(row.step)
            done = (
                f": read {_n(c.read)}  written {c.written:,}  rejected {c.rejected:,}" if c is not None else ""
            )
            lines.append(f"  {where:<40} in source {_n(row.in_source):>9}  step {row.step}{done}")
        else:
            lines.append(f"  {where:<40} in source {_n(row.in_source):>9}  LEFT BEHIND: {row.reason}")
        if row.note:
            lines.append(f"    not counted: {row.note}")
    behind = left_behind(rows)
    if behind:
        records = sum(r.in_source or 0 for r in behind)
        unknown = sum(1 for r in behind if r.in_source is None)
        more = f" (+{unknown} not counted)" if unknown else ""
        lines.append(f"  left behind: {len(behind)} entities/statuses, {records:,} records{more}")
    else:
        lines.append("  left behind: nothing")
    return lines


def csv_rows(rows: Iterable[CoverageRow], counts: Mapping[str, StepCount]) -> list[tuple[Any, ...]]:
    """The rows of ``coverage.csv`` (:data:`COVERAGE_HEADER`)."""
    out: list[tuple[Any, ...]] = []
    for row in rows:
        c = counts.get(row.step) if row.step is not None else None
        reason = row.reason if not row.note else f"{row.reason}; not counted: {row.note}".lstrip("; ")
        out.append(
            (
                row.connection,
                row.entity,
                row.status_text,
                row.in_source,
                row.step or "",
                None if c is None else c.read,
                None if c is None else c.written,
                None if c is None else c.rejected,
                "yes" if row.is_left_behind else "no",
                reason,
            )
        )
    return out


def rows_to_json(rows: Iterable[CoverageRow]) -> list[dict[str, Any]]:
    """The rows as JSON values, for the journal's run statistics."""
    return [
        {
            "connection": r.connection,
            "entity": r.entity,
            "statuses": list(r.statuses),
            "in_source": r.in_source,
            "step": r.step,
            "reason": r.reason,
            "note": r.note,
        }
        for r in rows
    ]


def rows_from_json(data: Any) -> list[CoverageRow]:
    """The rows kept by :func:`rows_to_json`; anything else (a journal of an older migrator) gives none."""
    if not isinstance(data, list):
        return []
    rows: list[CoverageRow] = []
    for item in data:
        if not isinstance(item, dict):
            continue
        count = item.get("in_source")
        step = item.get("step")
        rows.append(
            CoverageRow(
                connection=str(item.get("connection", "")),
                entity=str(item.get("entity", "")),
                statuses=tuple(str(s) for s in item.get("statuses") or ()),
                in_source=count if isinstance(count, int) else None,
                step=step if isinstance(step, str) else None,
                reason=str(item.get("reason", "")),
                note=str(item.get("note", "")),
            )
        )
    return rows


def _newest(stats: Mapping[int, Mapping[str, Any]], key: str) -> tuple[int | None, Any]:
    """The newest run (by id) whose statistics hold ``key``, and its value; ``(None, None)`` when none do."""
    for run_id in sorted(stats, reverse=True):
        if key in stats[run_id]:
            return run_id, stats[run_id][key]
    return None, None


def kept_rows(stats: Mapping[int, Mapping[str, Any]]) -> tuple[int | None, list[CoverageRow]]:
    """The newest run (by id) whose statistics keep coverage rows, and its rows; ``(None, [])`` when no run
    did (a journal of an older migrator, or no run finished yet)."""
    run_id, data = _newest(stats, "coverage")
    return run_id, rows_from_json(data)


def tallies_to_json(tallies: Iterable[Tally]) -> list[dict[str, Any]]:
    """The tallies as JSON values, for the journal's run statistics (``"inventory"``)."""
    return [
        {"connection": t.connection, "entity": t.entity, "status": t.status, "count": t.count, "note": t.note}
        for t in tallies
    ]


def kept_tallies(stats: Mapping[int, Mapping[str, Any]]) -> list[Tally] | None:
    """The inventory the newest run kept, or None when no run kept one."""
    run_id, data = _newest(stats, "inventory")
    if run_id is None or not isinstance(data, list):
        return None
    tallies: list[Tally] = []
    for item in data:
        if isinstance(item, dict):
            count = item.get("count")
            tallies.append(
                Tally(
                    str(item.get("connection", "")),
                    str(item.get("entity", "")),
                    str(item.get("status", "")),
                    count if isinstance(count, int) else None,
                    str(item.get("note", "")),
                )
            )
    return tallies
