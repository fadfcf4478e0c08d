"""``migrator status PLAN``: the journal's view: runs, per-step records, in-doubt batches, dead letters."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from migrator.commands._plan_args import add_plan_arguments
from migrator.errors import JournalError
from migrator.journal import Journal, default_journal_path
from migrator.plan.load import load_plan

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)
    parser.add_argument("--journal", metavar="PATH", help="journal file (default .migrator/<plan name>.sqlite)")
    parser.add_argument("--dead-letters", type=int, default=10, metavar="N", help="show up to N dead letters")


def run(args: argparse.Namespace) -> int:
    loaded = load_plan(args.plan)
    name = loaded.plan.plan.name
    path = args.journal or default_journal_path(name)
    if not Path(path).exists():
        raise JournalError(f"no journal at {path}: plan {name!r} has not run yet (or use --journal PATH)")
    with Journal.open(path, name, read_only=True) as journal:
        runs = journal.runs()
        print(f"plan {name} · journal {path}")
        for r in runs[-5:]:
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started"]))
            print(f"  run {r['id']}: {started} {r['status']}")
        counts = journal.step_counts()
        for step in loaded.plan.steps:
            c = counts.get(step)
            if c is None:
                print(f"  {step:<20} not started")
                continue
            print(
                f"  {step:<20} pages {c.pages_done:>7,}  done {c.records_done:>9,} (created {c.created:,}, "
                f"updated {c.updated:,}, unchanged {c.unchanged:,})  rejected {c.records_rejected:>7,}  "
                f"in doubt {c.records_sent:>5,}"
            )
        letters = journal.dead_letters()
        if letters:
            print(f"dead letters: {len(letters):,} (showing {min(len(letters), args.dead_letters)})")
            for d in letters[: args.dead_letters]:
                print(f"  {d.step} {d.source_key}: {d.reason}")
    return 0
