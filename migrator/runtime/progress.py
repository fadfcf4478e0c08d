"""Progress for people: a rich live display per step on a terminal, plain lines when not a TTY."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

from migrator.runtime.counters import StepCounters

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["ProgressDisplay"]


class ProgressDisplay:
    """``update(step, counters)`` is the runner's ``on_progress``; use as a context manager."""

    def __init__(
        self, stream: TextIO | None = None, *, plain: bool | None = None, interval: float = 2.0
    ) -> None:
        self.stream = stream or sys.stderr
        self.plain = (not self.stream.isatty()) if plain is None else plain
        self.interval = interval
        self._last: dict[str, float] = {}
        self._tasks: dict[str, TaskID] = {}
        self._progress: Progress | None = None
        if not self.plain:  # rich is imported only for a terminal: plain runs start faster
            from rich.console import Console  # noqa: PLC0415
            from rich.progress import (  # noqa: PLC0415
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.fields[step]:<18}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeRemainingColumn(),
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

    def update(self, step: str, c: StepCounters) -> None:
        settled = c.written + c.rejected + c.skipped
        elapsed = max(1e-6, time.monotonic() - self._start(step))
        rate = c.written / elapsed if elapsed >= 1.0 else 0.0
        detail = f"read {c.read:,} written {c.written:,} rejected {c.rejected:,} {rate:,.0f}/s"
        if self._progress is not None:
            task = self._tasks.get(step)
            if task is None:
                task = self._progress.add_task("", total=c.total, step=step, detail=detail)
                self._tasks[step] = task
            self._progress.update(task, completed=settled, total=c.total or None, detail=detail)
            return
        now = time.monotonic()
        done = c.finished_at > 0
        if done or now - self._last.get(step, 0.0) >= self.interval:
            self._last[step] = now
            total = f"/{c.total:,}" if c.total else ""
            state = "done" if done else "running"
            print(f"{step}: {state} {settled:,}{total} · {detail}", file=self.stream, flush=True)

    def _start(self, step: str) -> float:
        key = f"start:{step}"
        if key not in self._last:
            self._last[key] = time.monotonic()
        return self._last[key]
