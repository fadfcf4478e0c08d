"""The runner: owns the run's top task group, one transport per connection, and the step schedule.

A step starts when the steps it depends on are done (crosswalk references and ``after``); independent steps
run at the same time. A step that fails (too many rejected records, an unreadable page) does not stop
independent steps; the steps that depend on it are skipped and the summary says why. An ``AuthError``
(refused credentials) or a ``JournalStorageError`` (the journal's disk full or read-only) stops the whole run
cleanly: the journal is consistent, and the next ``migrator run`` resumes.
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import structlog

from migrator import __version__
from migrator.connectors.catalog import CATALOG
from migrator.coverage import written_records
from migrator.errors import AuthError, JournalStorageError, MigratorError
from migrator.graph import StepNode, TaskGraph
from migrator.journal import DeadLetter, Journal
from migrator.logging import Redactor
from migrator.plan.env import ResolvedConnection, resolved_paths
from migrator.plan.model import Plan
from migrator.runtime.build import build_step
from migrator.runtime.connections import build_transport, connection_budgets
from migrator.runtime.counters import StepCounters
from migrator.runtime.dryrun import DryRun
from migrator.runtime.listed_fields import FieldLists
from migrator.runtime.options import RunOptions
from migrator.runtime.step import run_step
from migrator.transport import Transport

__all__ = ["RunSummary", "StepOutcome", "run_plan", "summary_stats"]

log = structlog.get_logger("migrator.runtime")


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
    dry_run: DryRun = field(default_factory=DryRun)  # a dry run's effects, kept in memory

    @property
    def would_reject(self) -> list[DeadLetter]:
        """A dry run's records it would reject."""
        return self.dry_run.rejected

    @property
    def ok(self) -> bool:
        return not self.stopped and all(s.status == "done" for s in self.steps.values())

    @property
    def rejected(self) -> int:
        return sum(s.counters.rejected for s in self.steps.values())


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
        "records": written_records(plan, CATALOG),
        "started_at": summary.started_at,
        "finished_at": summary.finished_at,
        "run_by": os_user(),
        "version": __version__,
    }


def os_user() -> str:
    """Who ran this (the operating system's user name; ``unknown`` when the system cannot say)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


async def run_plan(
    plan: Plan,
    graph: TaskGraph,
    *,
    connections: Mapping[str, ResolvedConnection],
    journal: Journal,
    redactor: Redactor,
    options: RunOptions | None = None,
    on_progress: Callable[[str, StepCounters], None] | None = None,
    base_dir: Path = Path(),
) -> RunSummary:
    """Run every step of ``graph``; ``base_dir`` is the plan file's folder (relative files paths)."""
    options = options or RunOptions()
    plan = resolved_paths(plan, connections)
    summary = RunSummary(plan=graph.name, started_at=time.time())
    async with AsyncExitStack() as stack:
        transports: dict[str, Transport] = {}
        for name, resolved in connections.items():
            transport = build_transport(
                plan, name, resolved, redactor, verify_tls=options.verify_tls, time_scale=options.time_scale
            )
            summary.budgets[name] = connection_budgets(plan.connections[name], resolved.platform).stated()
            transports[name] = await stack.enter_async_context(transport)

        field_lists = FieldLists()  # the fields each target entity has, asked once in the run
        done_events = {name: anyio.Event() for name in graph.order}
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
                spec = await build_step(
                    plan,
                    graph,
                    node,
                    transports=transports,
                    journal=journal,
                    options=options,
                    counters=outcome.counters,
                    on_progress=on_progress,
                    base_dir=base_dir,
                    field_lists=field_lists,
                    dry_run=summary.dry_run,
                )
                log.info("step_started", step=node.name)
                await run_step(spec)
                outcome.status = "done"
                log.info("step_done", step=node.name, **outcome.counters.as_dict())
            except (AuthError, JournalStorageError) as error:
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
        except* JournalStorageError as group:
            # the checkpointer's copy of the WAL refused (a step's own refusal has set ``stopped`` already)
            summary.stopped = summary.stopped or redactor.text(str(group.exceptions[0]))
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
