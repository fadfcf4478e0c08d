"""Progress for people: a rich live display per step on a terminal, plain lines when not a TTY.

Each step shows its real pace and an ETA. The pure part: :func:`budget_pace` (the records per second a
step's budgets allow: its write budget times the records per write request, its read budget times the page
size), :func:`step_pace` (the pace to expect: the pace seen so far, but never faster than the budgets allow —
the first requests of an hourly window go through at once, the rest wait for it), :func:`eta_seconds` and
:func:`format_rate` (``12/s``, ``83/min``, ``360/h``: a slow step never shows ``0/s``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from migrator.estimate import format_duration
from migrator.graph import StepNode, TaskGraph
from migrator.runtime.counters import StepCounters

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["ProgressDisplay", "budget_pace", "budget_paces", "eta_seconds", "format_rate", "step_pace"]


def budget_pace(node: StepNode, time_scale: float = 1.0) -> float | None:
    """Records per second the step's budgets allow (None: no budget bounds it). A nested read (one request
    per parent record) is not counted: its requests per record are not known before it runs."""
    paces: list[float] = []
    write_rate = node.write.rate
    if write_rate is not None and node.write.bucket is not None:
        per_request = 1 if node.per_record else max(1, node.batch)
        paces.append(write_rate.per_second * time_scale * per_request)
    read_rate = node.read.rate
    if read_rate is not None and node.read.bucket is not None and node.parent is None and node.page_size:
        paces.append(read_rate.per_second * time_scale * node.page_size)
    return min(paces) if paces else None


def budget_paces(graph: TaskGraph, time_scale: float = 1.0) -> dict[str, float | None]:
    """:func:`budget_pace` of every step of ``graph``."""
    return {name: budget_pace(node, time_scale) for name, node in graph.steps.items()}


def step_pace(settled: int, elapsed: float, budget: float | None) -> float | None:
    """Records per second to expect: the pace so far (``settled`` records in ``elapsed`` seconds), capped
    by the ``budget`` pace; the budget pace alone before any record settled; None when neither is known."""
    seen = settled / elapsed if settled > 0 and elapsed > 0 else None
    if seen is None:
        return budget
    return seen if budget is None else min(seen, budget)


def eta_seconds(remaining: int | None, pace: float | None) -> float | None:
    """Seconds until ``remaining`` records are settled at ``pace`` records per second; None when unknown."""
    if remaining is None or pace is None or pace <= 0:
        return None
    return max(0, remaining) / pace


def format_rate(per_second: float) -> str:
    """A pace people can read, with two significant digits at least: per second from 10/s, else per minute
    from 10/min, else per hour."""
    if per_second >= 10:
        return f"{per_second:,.0f}/s"
    if per_second * 60 >= 10:
        return f"{per_second * 60:,.0f}/min"
    return f"{per_second * 3600:,.1f}/h" if per_second * 3600 < 10 else f"{per_second * 3600:,.0f}/h"


class ProgressDisplay:
    """``update(step, counters)`` is the runner's ``on_progress``; use as a context manager. ``paces`` are
    the steps' budget paces (:func:`budget_paces`), for the ETA."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        plain: bool | None = None,
        interval: float = 2.0,
        paces: Mapping[str, float | None] | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.plain = (not self.stream.isatty()) if plain is None else plain
        self.interval = interval
        self.paces = dict(paces or {})
        self._last: dict[str, float] = {}
        self._started: dict[str, float] = {}
        self._tasks: dict[str, TaskID] = {}
        self._progress: Progress | None = None
        if not self.plain:  # rich is imported only for a terminal: plain runs start faster
            from rich.console import Console  # noqa: PLC0415
            from rich.progress import (  # noqa: PLC0415
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.fields[step]:<18}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                console=Console(file=self.stream),
                transient=False,
            )

    def __enter__(self) -> ProgressDisplay:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def detail(self, step: str, c: StepCounters, now: float) -> str:
        """The counts, the pace and the ETA of ``step`` at ``now`` (monotonic seconds)."""
        settled = c.written + c.rejected + c.skipped
        elapsed = now - self._started.setdefault(step, now)
        pace = step_pace(c.written + c.rejected, elapsed, self.paces.get(step))
        text = f"read {c.read:,} written {c.written:,} rejected {c.rejected:,}"
        if pace is not None:
            text += f" · {format_rate(pace)}"
        if c.finished_at > 0:
            return text
        eta = eta_seconds(None if c.total is None else c.total - settled, pace)
        return text + (f" · ETA {format_duration(eta)}" if eta is not None else "")

    def update(self, step: str, c: StepCounters) -> None:
        now = time.monotonic()
        settled = c.written + c.rejected + c.skipped
        detail = self.detail(step, c, now)
        if self._progress is not None:
            task = self._tasks.get(step)
            if task is None:
                task = self._progress.add_task("", total=c.total, step=step, detail=detail)
                self._tasks[step] = task
            self._progress.update(task, completed=settled, total=c.total or None, detail=detail)
            return
        done = c.finished_at > 0
        if done or now - self._last.get(step, 0.0) >= self.interval:
            self._last[step] = now
            total = f"/{c.total:,}" if c.total else ""
            state = "done" if done else "running"
            print(f"{step}: {state} {settled:,}{total} · {detail}", file=self.stream, flush=True)
