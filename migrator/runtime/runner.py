"""The runner: owns the run's top task group, one transport per connection, and the step schedule.

A step starts when the steps it depends on are done (crosswalk references and ``after``); independent steps
run at the same time. A step that fails (too many rejected records, an unreadable page) does not stop
independent steps; the steps that depend on it are skipped and the summary says why. An ``AuthError`` stops
the whole run cleanly: the journal is consistent, and the next ``migrator run`` resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import structlog

from migrator.connectors.base import SourceReader, TargetWriter
from migrator.connectors.catalog import CATALOG
from migrator.connectors.files import make_source, make_target
from migrator.connectors.registry import EngineSupportError, make_reader, make_writer
from migrator.errors import AuthError, MigratorError
from migrator.graph import StepNode, TaskGraph
from migrator.journal import Journal
from migrator.logging import Redactor
from migrator.plan.env import ResolvedConnection
from migrator.plan.model import Budget, Connection, Plan
from migrator.runtime.connections import build_transport
from migrator.runtime.dryrun import target_match_index
from migrator.runtime.localfiles import LocalReader, LocalWriter
from migrator.runtime.stages import StepCounters, StepSpec, run_step
from migrator.transport import Transport

__all__ = ["RunOptions", "RunSummary", "StepOutcome", "budget_strings", "run_plan", "summary_stats"]

log = structlog.get_logger("migrator.runtime")

#: seconds subtracted from the last run's start in a delta read by modified date (clock skew, slow commits)
DELTA_MARGIN = 600.0


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    verify_tls: bool = True
    write_concurrency: int | None = None
    read_concurrency: int | None = None
    #: rehearsal against ``migrator sandbox --time-scale X``: budgets X times larger, tokens X times shorter
    time_scale: float = 1.0
    #: "normal", "retry_rejected" (only dead letters) or "delta" (only changed records)
    selection: str = "normal"
    #: run only these steps (empty: all); the others are left as they are
    only_steps: tuple[str, ...] = ()
    #: delta runs: when the last completed run started (epoch s); sources with a modified date read only
    #: what changed since (minus a safety margin for clock skew); the others compare content hashes
    delta_since: float | None = None


@dataclass
class StepOutcome:
    name: str
    status: str  # done | failed | skipped
    counters: StepCounters
    error: str = ""


@dataclass
class RunSummary:
    plan: str
    steps: dict[str, StepOutcome] = field(default_factory=dict)
    transports: dict[str, dict[str, Any]] = field(default_factory=dict)
    budgets: dict[str, dict[str, str]] = field(default_factory=dict)
    started_at: float = 0.0
    finished_at: float = 0.0
    stopped: str = ""  # why the run stopped early (auth), else ""

    @property
    def ok(self) -> bool:
        return not self.stopped and all(s.status == "done" for s in self.steps.values())

    @property
    def rejected(self) -> int:
        return sum(s.counters.rejected for s in self.steps.values())


def _files_dir(plan: Plan, connection: str, base_dir: Path) -> Path:
    """A files connection's directory; a relative ``path`` is relative to the plan file, like table files."""
    path = Path(plan.connections[connection].path or ".")
    return path if path.is_absolute() else base_dir / path


def budget_strings(conn: Connection, platform: str) -> dict[str, str]:
    """The connection's budgets as stated (plan, else catalog), for reports: ``{"default": "5000/hour", …}``."""
    out: dict[str, str] = {}
    default = CATALOG[platform].budget
    if isinstance(conn.budget, str):
        out["default"] = conn.budget
    elif isinstance(conn.budget, Budget):
        if conn.budget.default is not None:
            out["default"] = conn.budget.default
        elif default is not None:
            out["default"] = str(default)
        out.update(conn.budget.endpoints)
    elif default is not None:
        out["default"] = str(default)
    return out


def summary_stats(summary: RunSummary, plan: Plan) -> dict[str, Any]:
    """The run statistics kept in the journal for reports (shape in ``docs/reports.md``)."""
    return {
        "steps": {
            name: {"status": o.status, "error": o.error, **o.counters.as_dict()}
            for name, o in summary.steps.items()
        },
        "transports": summary.transports,
        "budgets": summary.budgets,
        "entities": {name: step.write.entity for name, step in plan.steps.items()},
        "started_at": summary.started_at,
        "finished_at": summary.finished_at,
    }


async def run_plan(
    plan: Plan,
    graph: TaskGraph,
    *,
    connections: Mapping[str, ResolvedConnection],
    journal: Journal,
    redactor: Redactor,
    options: RunOptions = RunOptions(),
    on_progress: Callable[[str, StepCounters], None] | None = None,
    base_dir: Path = Path(),
) -> RunSummary:
    """Run every step of ``graph``; ``base_dir`` is the plan file's folder (relative files paths)."""
    summary = RunSummary(plan=graph.name, started_at=time.time())
    async with AsyncExitStack() as stack:
        transports: dict[str, Transport] = {}
        for name, resolved in connections.items():
            transport = build_transport(
                plan, name, resolved, redactor, verify_tls=options.verify_tls, time_scale=options.time_scale
            )
            summary.budgets[name] = budget_strings(plan.connections[name], resolved.platform)
            transports[name] = await stack.enter_async_context(transport)

        done_events = {name: anyio.Event() for name in graph.order}
        dry_seen: dict[str, set[str]] = {}
        for name in graph.order:
            summary.steps[name] = StepOutcome(name, "pending", StepCounters())

        async def run_one(node: StepNode) -> None:
            outcome = summary.steps[node.name]
            try:
                for dep in node.depends_on:
                    await done_events[dep].wait()
                if options.only_steps and node.name not in options.only_steps:
                    outcome.status = "done"
                    outcome.error = "not selected (--step)"
                    return
                failed = [d for d in node.depends_on if summary.steps[d].status != "done"]
                if failed:
                    outcome.status = "skipped"
                    outcome.error = f"skipped: step(s) {', '.join(failed)} did not finish"
                    return
                outcome.status = "running"
                spec = _step_spec(
                    plan,
                    graph,
                    node,
                    transports=transports,
                    journal=journal,
                    options=options,
                    counters=outcome.counters,
                    on_progress=on_progress,
                    base_dir=base_dir,
                )
                log.info("step_started", step=node.name)
                spec.dry_seen = dry_seen
                if options.dry_run:
                    spec.dry_index = await target_match_index(
                        spec.target,
                        node.write.platform,
                        plan.steps[node.name].write.entity,
                        spec.writer,
                        node.name,
                    )
                await run_step(spec)
                outcome.status = "done"
                log.info("step_done", step=node.name, **outcome.counters.as_dict())
            except AuthError as error:
                outcome.status = "failed"
                outcome.error = redactor.text(str(error))
                summary.stopped = outcome.error
                raise
            except MigratorError as error:
                outcome.status = "failed"
                outcome.error = redactor.text(str(error))
                log.warning("step_failed", step=node.name, error=outcome.error)
            finally:
                done_events[node.name].set()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_checkpoints, journal)
                async with anyio.create_task_group() as steps:
                    for name in graph.order:
                        steps.start_soon(run_one, graph.steps[name])
                tg.cancel_scope.cancel()
        except* AuthError:
            pass
        for name, t in transports.items():
            summary.transports[name] = t.stats.as_dict()
    summary.finished_at = time.time()
    return summary


async def _checkpoints(journal: Journal, every: float = 0.5) -> None:
    """While the steps run, the journal's WAL is copied into its file every ``every`` seconds in a worker
    thread: the steps commit on the event loop, and a checkpoint syncs the disk, which they must not wait
    for."""
    journal.defer_checkpoints()
    try:
        while True:
            await anyio.sleep(every)
            await anyio.to_thread.run_sync(journal.checkpoint)  # not abandoned on cancel: finishes first
    finally:
        journal.defer_checkpoints(False)


def _step_spec(
    plan: Plan,
    graph: TaskGraph,
    node: StepNode,
    *,
    transports: Mapping[str, Transport],
    journal: Journal,
    options: RunOptions,
    counters: StepCounters,
    on_progress: Callable[[str, StepCounters], None] | None,
    base_dir: Path,
) -> StepSpec:
    step = plan.steps[node.name]
    source = transports[node.read.connection]
    target = transports[node.write.connection]
    assert node.mapping is not None
    referenced = {ref for _, ref in node.mapping.references}
    page_size = node.page_size or 100
    # as many batches and pages in flight as the connection allows (its `concurrency`, default 8)
    write_conc = options.write_concurrency or step.concurrency or target.limits.concurrency
    read_conc = options.read_concurrency or source.limits.concurrency
    writer: TargetWriter
    if node.write.platform == "files":
        target_dir = _files_dir(plan, step.write.to, base_dir)
        writer = LocalWriter(make_target(target_dir, step.write.entity, key=node.match), node.match)
    else:
        writer = make_writer(node.write.platform, step.write.entity, node.mode, node.match)
    update_writer = None
    if options.selection == "delta" and node.mode == "create" and node.write.platform != "files":
        try:
            update_writer = make_writer(node.write.platform, step.write.entity, "update", node.match)
        except EngineSupportError:
            update_writer = None  # changed records of this entity cannot be updated: they are left as they are
    reader: SourceReader | LocalReader
    if node.read.platform == "files":
        key = step.read.key or "id"
        source_dir = _files_dir(plan, step.read.from_, base_dir)
        reader = LocalReader(make_source(source_dir, step.read.entity, key=key, chunk=page_size))
    else:
        reader = make_reader(
            node.read.platform,
            step.read.entity,
            step.read.filter,
            page_size,
            node.name,
            (*node.mapping.source_fields, *([step.read.key] if step.read.key else [])),
        )
        if step.read.key:
            reader.key_field = step.read.key
        since = getattr(reader, "changed_since", None)
        if options.selection == "delta" and options.delta_since is not None and since is not None:
            narrowed = since(options.delta_since - DELTA_MARGIN)
            log.info("delta_read", step=node.name, narrowed_by_modified_date=narrowed)
    return StepSpec(
        plan_name=graph.name,
        name=node.name,
        reader=reader,  # type: ignore[arg-type]
        writer=writer,
        source=source,
        target=target,
        mapping=node.mapping,
        batch=min(node.batch, writer.max_batch) if not node.per_record else max(1, min(node.batch, 50)),
        journal=journal,
        crosswalks={ref: journal.crosswalk(ref) for ref in referenced},
        max_rejected=node.max_rejected,
        read_concurrency=read_conc,
        write_concurrency=write_conc,
        dry_run=options.dry_run,
        selection=options.selection,
        update_writer=update_writer,
        counters=counters,
        on_progress=on_progress,
    )
