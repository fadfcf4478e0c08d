"""``migrator status PLAN``: the journal's view: runs, per-step records, in-doubt batches, dead letters.

``--watch`` follows a run from another terminal: the journal is opened as a reader (no lock, nothing
written) every ``--interval`` seconds and the steps' counts printed, with the pace since the last refresh of
each step that moved, until the latest run is no longer running (then the final view, exit 0) or Ctrl-C
(exit 130).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from pathlib import Path

from migrator.commands._plan_args import add_plan_arguments
from migrator.errors import JournalError, PlanError
from migrator.journal import Journal
from migrator.plan.load import load_plan
from migrator.run_files import RunFiles
from migrator.runtime.progress import format_rate

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)
    parser.add_argument("--journal", metavar="PATH", help="journal file (default .migrator/<plan name>.sqlite)")
    parser.add_argument("--dead-letters", type=int, default=10, metavar="N", help="show up to N dead letters")
    parser.add_argument(
        "--watch", action="store_true", help="refresh until the run ends (or Ctrl-C), from another terminal"
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, metavar="SECONDS", help="seconds between refreshes (--watch)"
    )


def run(args: argparse.Namespace) -> int:
    loaded = load_plan(args.plan)
    name = loaded.plan.plan.name
    path = RunFiles.of(Path(args.journal) if args.journal else None, name).journal
    if args.interval <= 0:
        raise PlanError.single("--interval", str(args.interval), "give a number of seconds above 0, e.g. 2")
    if not path.exists():
        raise JournalError(f"no journal at {path}: plan {name!r} has not run yet (or use --journal PATH)")
    steps = list(loaded.plan.steps)
    if not args.watch:
        _show(path, name, steps, args.dead_letters, {}, 0.0)
        return 0
    previous: dict[str, int] = {}
    before = 0.0
    while True:
        now = time.monotonic()
        running, previous = _show(path, name, steps, args.dead_letters, previous, now - before)
        before = now
        if not running:
            return 0
        print(f"(watching: refresh every {args.interval:g} s until the run ends; Ctrl-C to stop)\n", flush=True)
        time.sleep(args.interval)


def _show(
    path: Path,
    name: str,
    steps: list[str],
    dead_letters: int,
    previous: Mapping[str, int],
    elapsed: float,
) -> tuple[bool, dict[str, int]]:
    """Print the journal's view; whether its latest run is still running, and each step's settled count."""
    settled: dict[str, int] = {}
    with Journal.open(path, name, read_only=True) as journal:
        runs = journal.runs()
        print(f"plan {name} · journal {path}")
        for r in runs[-5:]:
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started"]))
            print(f"  run {r['id']}: {started} {r['status']}")
        counts = journal.step_counts()
        for step in steps:
            c = counts.get(step)
            if c is None:
                print(f"  {step:<20} not started")
                continue
            settled[step] = c.records_done + c.records_rejected
            pace = ""
            moved = settled[step] - previous.get(step, settled[step])
            if moved > 0 and elapsed > 0:  # a pace only for a step that moved since the last refresh
                pace = f"  {format_rate(moved / elapsed)}"
            print(
                f"  {step:<20} pages {c.pages_done:>7,}  done {c.records_done:>9,} (created {c.created:,}, "
                f"updated {c.updated:,}, unchanged {c.unchanged:,})  rejected {c.records_rejected:>7,}  "
                f"in doubt {c.records_sent:>5,}{pace}"
            )
        letters = journal.dead_letters()
        if letters:
            print(f"dead letters: {len(letters):,} (showing {min(len(letters), dead_letters)})")
            for d in letters[:dead_letters]:
                print(f"  {d.step} {d.source_key}: {d.reason}")
        running = bool(runs) and runs[-1]["status"] == "running"
    return running, settled
