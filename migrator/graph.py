"""Plan → TaskGraph: dependency order, parallel levels, endpoints with their budgets, and estimates.

:func:`compile_graph` checks what needs the connector catalog (platform credentials, entities, write modes,
match keys, target fields, page and batch sizes, budget endpoint names), then builds each step's reader and
writer as a run does (pure and cheap: the ``files`` connectors get their directory and open nothing) so
that a step setting a connector refuses (a :class:`~migrator.connectors.base.SettingError`) is a plan problem
too, and checks the dependencies: an edge runs from each step a step references through its crosswalk
(``"ClassroomID -> classes"``) or names in ``after``. A cycle is a PlanError naming the steps and keys that form
it. Every problem is collected before raising. Budgets follow :func:`migrator.plan.budgets.resolve_budgets`.

:func:`estimate_graph` applies :mod:`migrator.estimate` to a graph and record counts per step.
"""

from __future__ import annotations

import graphlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from migrator.connectors.base import SettingError
from migrator.connectors.catalog import CATALOG, entity_spec
from migrator.connectors.registry import make_reader, make_writer
from migrator.connectors.spec import ANY_FIELD, Endpoint, EntitySpec, Paging, PlatformSpec
from migrator.errors import PlanError, PlanProblem
from migrator.estimate import read_requests, shared_durations, write_requests
from migrator.plan.budgets import Budgets, Origin, resolve_budgets
from migrator.plan.decode import did_you_mean, join_path
from migrator.plan.load import LoadedPlan
from migrator.plan.mapping import CompiledMap
from migrator.plan.model import (
    CREDENTIAL_FIELDS,
    OVERWRITE_POLICIES,
    Budget,
    Connection,
    Plan,
    Step,
    WriteMode,
)
from migrator.plan.rates import Rate
from migrator.runtime.breakers import Limit, LimitKey, StepLimits

__all__ = [
    "EndpointUse",
    "PlanEstimate",
    "StepEstimate",
    "StepNode",
    "TaskGraph",
    "compile_graph",
    "estimate_graph",
]

Bucket = tuple[str, str]  # (connection, budget key)


@dataclass(frozen=True, slots=True)
class EndpointUse:
    """One endpoint a step calls, with the budget it draws from."""

    role: Literal["read", "write"]
    connection: str
    platform: str
    endpoint: Endpoint
    bucket: Bucket | None  # None: no requests (local files)
    budget: Rate | None  # as configured (plan or catalog), before the reserve
    reserve: float
    origin: Origin

    @property
    def rate(self) -> Rate | None:
        """The budget left after the reserve."""
        return None if self.budget is None else self.budget.scaled(1.0 - self.reserve)


@dataclass(frozen=True)
class StepNode:
    name: str
    level: int
    depends_on: tuple[str, ...]
    read: EndpointUse
    write: EndpointUse
    mode: WriteMode
    match: str | None
    read_paging: Paging
    page_size: int | None
    batch: int
    per_record: bool
    limits: StepLimits
    mapping: CompiledMap | None = field(repr=False, default=None)
    parent: str | None = None  # nested read: once per record of this entity


@dataclass(frozen=True)
class TaskGraph:
    name: str
    file: str
    steps: Mapping[str, StepNode]
    order: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]

    def parallel_with(self, step: str) -> tuple[str, ...]:
        level = self.levels[self.steps[step].level]
        return tuple(s for s in level if s != step)


# ---------------------------------------------------------------- compile


def compile_graph(loaded: LoadedPlan) -> TaskGraph:
    """Check the plan against the catalog and build the graph; raises PlanError with every problem."""
    plan, file = loaded.plan, loaded.file
    problems: list[PlanProblem] = []
    for name, conn in plan.connections.items():
        _check_connection(name, conn, file, problems)
    budgets = {
        name: resolve_budgets(conn.budget, CATALOG[conn.platform].budget)
        for name, conn in plan.connections.items()
    }
    partial: dict[str, dict[str, Any]] = {}
    for name, step in plan.steps.items():
        info = _check_step(plan, name, step, loaded.maps.get(name), budgets, file=file, problems=problems)
        if info is not None:
            partial[name] = info
    deps = _dependencies(plan, loaded.maps)
    order, levels = _levels(plan, deps, file, problems, loaded.maps)
    if problems:
        raise PlanError(problems)
    level_of = {s: i for i, lvl in enumerate(levels) for s in lvl}
    nodes = {
        name: StepNode(name=name, level=level_of[name], depends_on=tuple(sorted(deps[name])), **partial[name])
        for name in order
    }
    return TaskGraph(plan.plan.name, file, nodes, order, levels)


def _check_connection(name: str, conn: Connection, file: str, problems: list[PlanProblem]) -> None:
    spec = CATALOG[conn.platform]
    base = join_path("connections", name)
    if spec.needs_base_url and conn.base_url is None:
        problems.append(
            PlanProblem(file, join_path(base, "base_url"), f"missing; {spec.title} needs a base_url")
        )
    if conn.platform == "files" and conn.path is None:
        problems.append(
            PlanProblem(file, join_path(base, "path"), "missing; the files platform needs a directory")
        )
    given = {f for f in CREDENTIAL_FIELDS if getattr(conn, f) is not None}
    sets = (spec.credentials, *spec.alternative_credentials)
    allowed = {f for s in sets for f in s}
    takes = " or ".join(", ".join(s) for s in sets if s) or "none"
    for extra in sorted(given - allowed):
        problems.append(
            PlanProblem(
                file,
                join_path(base, extra),
                f"{spec.name} does not use {extra}; it takes {takes}",
            )
        )
    if not any(set(s) <= given for s in sets):
        want = " or ".join(" and ".join(s) for s in sets)
        problems.append(PlanProblem(file, base, f"missing credentials: {spec.name} needs {want} (as ${{VAR}})"))
    if isinstance(conn.budget, Budget):
        keys = _budget_keys(spec)
        for key in conn.budget.endpoints:
            if key not in keys:
                problems.append(
                    PlanProblem(
                        file,
                        join_path(join_path(join_path(base, "budget"), "endpoints"), key),
                        f"unknown endpoint for {spec.name}{did_you_mean(key, keys)}; "
                        f"endpoints: {', '.join(keys)}",
                    )
                )


def _budget_keys(spec: PlatformSpec) -> list[str]:
    keys: dict[str, None] = {}
    for ent in spec.entities.values():
        eps = ([ent.read.endpoint] if ent.read else []) + [w.endpoint for w in ent.writes.values()]
        for ep in eps:
            if ep.budget_key:
                keys[ep.budget_key] = None
    return list(keys)


def _entity(
    plan: Plan, conn_name: str, entity: str, path: str, *, file: str, problems: list[PlanProblem]
) -> tuple[PlatformSpec, EntitySpec] | None:
    conn = plan.connections.get(conn_name)
    if conn is None:
        return None  # reported by load
    spec = CATALOG[conn.platform]
    ent = entity_spec(conn.platform, entity)
    if ent is None:
        known = ", ".join(spec.entities)
        problems.append(
            PlanProblem(
                file,
                path,
                f'unknown entity "{entity}" for {spec.name}{did_you_mean(entity, spec.entities)}; '
                f"known: {known}",
            )
        )
        return None
    return spec, ent


def _endpoint_use(
    role: Literal["read", "write"],
    conn_name: str,
    budgets: Budgets,
    spec: PlatformSpec,
    ep: Endpoint,
    *,
    entity: str,
) -> EndpointUse:
    if spec.open_entities:
        ep = Endpoint(ep.method, ep.path.replace("{entity}", entity), ep.budget_key)
    if not ep.budget_key:
        return EndpointUse(role, conn_name, spec.name, ep, None, None, 0.0, "none")
    key = ep.budget_key
    bucket = (conn_name, key)
    return EndpointUse(
        role, conn_name, spec.name, ep, bucket, budgets.rate(key), budgets.reserve, budgets.origin_of(key)
    )


def _check_step(
    plan: Plan,
    name: str,
    step: Step,
    mapping: CompiledMap | None,
    budgets: Mapping[str, Budgets],
    *,
    file: str,
    problems: list[PlanProblem],
) -> dict[str, Any] | None:
    base = join_path("steps", name)
    before = len(problems)
    read = _entity(plan, step.read.from_, step.read.entity, f"{base}.read.entity", file=file, problems=problems)
    write = _entity(
        plan, step.write.to, step.write.entity, f"{base}.write.entity", file=file, problems=problems
    )
    read_use = write_use = None
    paging: Paging | None = None
    page_size: int | None = None
    parent: str | None = None
    if read is not None:
        rspec, rent = read
        if rent.read is None:
            problems.append(
                PlanProblem(
                    file, f"{base}.read.entity", f'{rspec.name} cannot read "{step.read.entity}" (write only)'
                )
            )
        else:
            paging, parent = rent.read.paging, rent.read.parent
            page_size = _page_size(step, plan, paging, f"{base}.read.page_size", file=file, problems=problems)
            for flt in rent.read.required_filters:
                if flt not in step.read.filter:
                    problems.append(
                        PlanProblem(
                            file,
                            f"{base}.read.filter",
                            f'{rspec.name} {step.read.entity} reads need filter "{flt}", '
                            f"e.g. filter = {{ {flt} = ... }}",
                        )
                    )
            read_use = _endpoint_use(
                "read",
                step.read.from_,
                budgets[step.read.from_],
                rspec,
                rent.read.endpoint,
                entity=step.read.entity,
            )
    batch, per_record = 1, True
    mode = step.write.mode
    if write is not None:
        wspec, went = write
        wmode = went.writes.get(mode)
        if wmode is None:
            supported = ", ".join(went.writes) or "none (read only)"
            problems.append(
                PlanProblem(
                    file,
                    f"{base}.write.mode",
                    f'{wspec.name} {step.write.entity} does not support mode "{mode}"; supported: {supported}',
                )
            )
        else:
            _check_match(
                step,
                wspec,
                went,
                keys=wmode.match_keys,
                required=wmode.match_required,
                path=f"{base}.write.match",
                file=file,
                problems=problems,
            )
            per_record = wmode.per_record
            batch = _batch(
                step,
                plan,
                per_record=wmode.per_record,
                max_batch=wmode.max_batch,
                default_batch=wmode.default_batch,
                path=f"{base}.write.batch",
                file=file,
                problems=problems,
            )
            write_use = _endpoint_use(
                "write",
                step.write.to,
                budgets[step.write.to],
                wspec,
                wmode.endpoint,
                entity=step.write.entity,
            )
        if went.fields is not None and mapping is not None:
            for fld in mapping.fields:
                if fld not in went.fields:
                    problems.append(
                        PlanProblem(
                            file,
                            join_path(f"{base}.map", fld),
                            f"unknown target field for {wspec.name} {step.write.entity}"
                            f"{did_you_mean(fld, went.fields)}; "
                            f"known: {', '.join(sorted(went.fields))}",
                        )
                    )
    if len(problems) > before or read_use is None or write_use is None or paging is None:
        return None
    platforms = (read_use.platform, write_use.platform)
    folders = (_folder(plan, step.read.from_), _folder(plan, step.write.to))
    _check_settings(name, step, platforms, folders, mapping, page_size, file=file, problems=problems)
    limits = _limits(plan, name, step, file=file, problems=problems)
    if step.overwrite and len(problems) == before:
        writer = make_writer(write_use.platform, step.write.entity, mode, step.write.match, folder=folders[1])
        _check_overwrite(name, step, mapping, writer.match_fields, file=file, problems=problems)
    if len(problems) > before:
        return None
    return {
        "read": read_use,
        "write": write_use,
        "mode": mode,
        "match": step.write.match,
        "read_paging": paging,
        "page_size": page_size,
        "batch": batch,
        "per_record": per_record,
        "limits": limits,
        "mapping": mapping,
        "parent": parent,
    }


def _limits(plan: Plan, name: str, step: Step, *, file: str, problems: list[PlanProblem]) -> StepLimits:
    """The step's breakers: ``limits``, with ``on_error.max_rejected`` as the short form of
    ``limits.max_rejected`` (one of the two) and ``defaults.max_rejected`` where the step sets neither."""
    base = join_path("steps", name)
    given = step.limits
    short = step.on_error.max_rejected if step.on_error is not None else None
    if given is not None and given.max_rejected is not None and short is not None:
        problems.append(
            PlanProblem(
                file,
                f"{base}.on_error.max_rejected",
                "set max_rejected once: on_error.max_rejected is the short form of limits.max_rejected; keep "
                "one of the two",
            )
        )
    found: dict[LimitKey, Limit] = {}
    if short is not None:
        found["max_rejected"] = Limit.of("max_rejected", "on_error.max_rejected", short)
    elif plan.defaults.max_rejected is not None and (given is None or given.max_rejected is None):
        found["max_rejected"] = Limit.of("max_rejected", "defaults.max_rejected", plan.defaults.max_rejected)
    keys: tuple[LimitKey, ...] = ("max_rejected", "max_creates", "max_updates")
    for key in keys:
        value = getattr(given, key) if given is not None else None
        if value is None:
            continue
        try:
            found[key] = Limit.of(key, f"limits.{key}", value)
        except ValueError as error:
            problems.append(PlanProblem(file, f"{base}.limits.{key}", f"{error}"))
    return StepLimits(found.get("max_rejected"), found.get("max_creates"), found.get("max_updates"))


def _check_overwrite(
    name: str,
    step: Step,
    mapping: CompiledMap | None,
    match_fields: Sequence[str],
    *,
    file: str,
    problems: list[PlanProblem],
) -> None:
    """``overwrite`` names mapped fields only, each with a policy, and not the fields that find the record
    (``match_fields``: they are what an update is matched by, never a value to keep)."""
    base = join_path("steps", name)
    for fld, policy in step.overwrite.items():
        if fld in match_fields:
            problems.append(
                PlanProblem(
                    file,
                    join_path(f"{base}.overwrite", fld),
                    f"{fld} is the field this step finds target records by (write.match); it is always "
                    "written as mapped: remove it from overwrite",
                )
            )
        if policy not in OVERWRITE_POLICIES:
            problems.append(
                PlanProblem(
                    file,
                    join_path(f"{base}.overwrite", fld),
                    f'expected one of {", ".join(OVERWRITE_POLICIES)}; got "{policy}"'
                    f"{did_you_mean(policy, OVERWRITE_POLICIES)}",
                )
            )
        if mapping is not None and fld not in mapping.fields:
            problems.append(
                PlanProblem(
                    file,
                    join_path(f"{base}.overwrite", fld),
                    f"not a mapped field of this step{did_you_mean(fld, mapping.fields)}; overwrite applies to "
                    f"the fields of `map`: {', '.join(sorted(mapping.fields))}",
                )
            )


def _folder(plan: Plan, connection: str) -> Path | None:
    """A files connection's directory as the plan gives it (its connectors open nothing when built), else
    None."""
    conn = plan.connections[connection]
    return Path(conn.path) if conn.platform == "files" and conn.path is not None else None


def _check_settings(
    name: str,
    step: Step,
    platforms: tuple[str, str],
    folders: tuple[Path | None, Path | None],
    mapping: CompiledMap | None,
    page_size: int | None,
    *,
    file: str,
    problems: list[PlanProblem],
) -> None:
    """Build the step's reader and writer (on its ``(read, write)`` platforms) as a run builds them: a setting
    their connector refuses (a :class:`SettingError`, e.g. an unknown filter value) is a problem at
    ``steps.<name>.<key>`` (for ``files``: an entity that is not a plain file name). ``folders`` are the
    directories of the ``(read, write)`` connections, for ``files``."""
    read_platform, write_platform = platforms
    fields = (
        *(mapping.source_fields if mapping is not None else ()),
        *([step.read.key] if step.read.key else []),
    )
    # an unpaged read ignores the page size; a run builds it with 100
    size = page_size or 100
    read, write = step.read, step.write
    builds: list[Callable[[], object]] = [
        lambda: make_reader(
            read_platform, read.entity, read.filter, size, name, fields, key=read.key, folder=folders[0]
        ),
        lambda: make_writer(write_platform, write.entity, write.mode, write.match, folder=folders[1]),
    ]
    for build in builds:
        try:
            build()
        except SettingError as error:
            problems.append(PlanProblem(file, f"{join_path('steps', name)}.{error.key}", error.message))


def _page_size(
    step: Step, plan: Plan, paging: Paging, path: str, *, file: str, problems: list[PlanProblem]
) -> int | None:
    if paging.style in ("unpaged", "file"):
        return None
    size = step.read.page_size
    if size is not None and paging.max_size is not None and size > paging.max_size:
        problems.append(PlanProblem(file, path, f"at most {paging.max_size} for this endpoint; got {size}"))
        return None
    if size is None:
        size = plan.defaults.page_size or paging.default_size
        if size is not None and paging.max_size is not None:
            size = min(size, paging.max_size)
    return size


def _batch(
    step: Step,
    plan: Plan,
    *,
    per_record: bool,
    max_batch: int,
    default_batch: int,
    path: str,
    file: str,
    problems: list[PlanProblem],
) -> int:
    size = step.write.batch
    if size is not None and size > max_batch:
        what = (
            "this mode sends one record per request"
            if per_record
            else f"at most {max_batch} records per request"
        )
        problems.append(PlanProblem(file, path, f"{what}; got batch = {size}"))
        return 1
    if per_record:
        return 1
    return size or min(plan.defaults.batch or default_batch, max_batch)


def _check_match(
    step: Step,
    spec: PlatformSpec,
    ent: EntitySpec,
    *,
    keys: tuple[str, ...],
    required: bool,
    path: str,
    file: str,
    problems: list[PlanProblem],
) -> None:
    match = step.write.match
    what = f"{spec.name} {step.write.entity}"
    if match is None:
        if required:
            problems.append(PlanProblem(file, path, f"missing; {what} needs a match key: {', '.join(keys)}"))
        return
    if ANY_FIELD in keys:
        # any field, or several comma-separated: a compound key (a booking: "UserID,CourseDateID")
        for field in (f.strip() for f in match.split(",")):
            if ent.fields is not None and field not in ent.fields:
                problems.append(
                    PlanProblem(
                        file,
                        path,
                        f'unknown field "{field}" of {what}{did_you_mean(field, ent.fields)}; '
                        f"known: {', '.join(sorted(ent.fields))}",
                    )
                )
        return
    if match not in keys:
        allowed = ", ".join(keys) or "none (this mode takes no match key)"
        problems.append(
            PlanProblem(file, path, f'expected one of {allowed}; got "{match}"{did_you_mean(match, keys)}')
        )


def _dependencies(plan: Plan, maps: Mapping[str, CompiledMap]) -> dict[str, set[str]]:
    deps: dict[str, set[str]] = {name: set() for name in plan.steps}
    for name, step in plan.steps.items():
        deps[name].update(d for d in step.after if d in plan.steps and d != name)
        compiled = maps.get(name)
        if compiled is not None:
            deps[name].update(ref for _, ref in compiled.references if ref in plan.steps)
    return deps


def _why(plan: Plan, maps: Mapping[str, CompiledMap], step: str, dep: str) -> str:
    compiled = maps.get(step)
    for fld, ref in compiled.references if compiled else ():
        if ref == dep:
            return join_path(join_path(join_path("steps", step), "map"), fld)
    return join_path(join_path("steps", step), "after")


def _levels(
    plan: Plan,
    deps: dict[str, set[str]],
    file: str,
    problems: list[PlanProblem],
    maps: Mapping[str, CompiledMap] | None = None,
) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    position = {name: i for i, name in enumerate(plan.steps)}
    sorter = graphlib.TopologicalSorter(deps)
    try:
        sorter.prepare()
    except graphlib.CycleError as err:
        # graphlib lists each node before the node that depends on it; reversed, each needs the next.
        cycle: list[str] = list(reversed(err.args[1]))
        via = "; ".join(f"{_why(plan, maps or {}, a, b)} needs {b}" for a, b in itertools.pairwise(cycle))
        problems.append(
            PlanProblem(
                file,
                join_path("steps", cycle[0]),
                f"dependency cycle {' -> '.join(cycle)} ({via}); remove one of these references",
            )
        )
        return (), ()
    levels: list[tuple[str, ...]] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        levels.append(tuple(ready))
        sorter.done(*ready)
    return tuple(s for lvl in levels for s in lvl), tuple(levels)


# ---------------------------------------------------------------- estimate


@dataclass(frozen=True)
class StepEstimate:
    step: str
    records: int | None
    read_requests: int | None
    write_requests: int | None
    seconds: float | None  # None: unknown count, or no rate-limited endpoint

    @property
    def requests(self) -> int | None:
        if self.read_requests is None or self.write_requests is None:
            return None
        return self.read_requests + self.write_requests


@dataclass(frozen=True)
class PlanEstimate:
    steps: Mapping[str, StepEstimate]
    level_seconds: tuple[float | None, ...]
    total_requests: int | None
    total_seconds: float | None  # None when any step's count is unknown
    known_seconds: float  # the part that could be estimated


def estimate_graph(graph: TaskGraph, counts: Mapping[str, int]) -> PlanEstimate:
    """Requests and wall time per step and in total for given record counts (see :mod:`migrator.estimate`)."""
    estimates: dict[str, StepEstimate] = {}
    level_seconds: list[float | None] = []
    complete = True
    for level in graph.levels:
        loads: dict[str, dict[Any, int]] = {}
        rates: dict[Any, float | None] = {}
        for name in level:
            node = graph.steps[name]
            n = counts.get(name)
            if n is None or node.parent is not None:
                estimates[name] = StepEstimate(name, n, None, None, None)
                complete = False
                continue
            reads = read_requests(n, node.read_paging.style, node.page_size, node.read_paging.knows_total)
            writes = write_requests(n, node.per_record, node.batch)
            estimates[name] = StepEstimate(name, n, reads, writes, None)
            load: dict[Any, int] = {}
            for use, k in ((node.read, reads), (node.write, writes)):
                if use.bucket is None or k == 0:
                    continue
                load[use.bucket] = load.get(use.bucket, 0) + k
                rate = use.rate
                rates[use.bucket] = None if rate is None else rate.per_second
            loads[name] = load
        durations = shared_durations(loads, rates)
        for name, seconds in durations.items():
            e = estimates[name]
            estimates[name] = StepEstimate(name, e.records, e.read_requests, e.write_requests, seconds)
        known = [s for s in durations.values() if s is not None]
        level_seconds.append(max(known) if known else (0.0 if len(durations) == len(level) else None))
    total_requests: int | None = 0
    for e in estimates.values():
        total_requests = None if total_requests is None or e.requests is None else total_requests + e.requests
    known_seconds = sum(s for s in level_seconds if s is not None)
    return PlanEstimate(
        steps={name: estimates[name] for name in graph.order},
        level_seconds=tuple(level_seconds),
        total_requests=total_requests,
        total_seconds=known_seconds if complete else None,
        known_seconds=known_seconds,
    )
