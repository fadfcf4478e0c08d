"""``migrator trace PLAN KEY``: what happened to one record, in every run — found by its source key, its
idempotency key or its target id (``--step`` narrows to one step), printed as text or ``--format json``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from migrator.commands._plan_args import add_plan_arguments
from migrator.errors import JournalError, PlanError, PlanProblem
from migrator.journal import Journal, TracedRecord, default_journal_path
from migrator.plan.load import load_plan
from migrator.trace import RecordTrace, assemble, render_text, to_json

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)
    parser.add_argument("key", metavar="KEY", help="a record's source key, idempotency key or target id")
    parser.add_argument("--step", metavar="STEP", help="only this step's records")
    parser.add_argument("--journal", metavar="PATH", help="journal file (default .migrator/<plan name>.sqlite)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or json")


def run(args: argparse.Namespace) -> int:
    loaded = load_plan(args.plan)
    name = loaded.plan.plan.name
    if args.step is not None and args.step not in loaded.plan.steps:
        steps = ", ".join(loaded.plan.steps)
        problem = f"no step {args.step!r} in the plan (its steps: {steps})"
        raise PlanError([PlanProblem(str(args.plan), "--step", problem)])
    path = args.journal or default_journal_path(name)
    if not Path(path).exists():
        raise JournalError(f"no journal at {path}: plan {name!r} has not run yet (or use --journal PATH)")
    with Journal.open(path, name, read_only=True) as journal:
        traces = [_trace(journal, record) for record in journal.find_records(args.key, args.step)]
    if not traces:
        where = f"step {args.step}" if args.step else f"plan {name}"
        print(
            f"no record of {where} has the source key, idempotency key or target id {args.key!r} in the "
            f"journal {path}: check the key (it is compared exactly), or run `migrator status {args.plan}`",
            file=sys.stderr,
        )
        return 1
    if args.format == "json":
        print(json.dumps(to_json(traces), ensure_ascii=False, indent=2))
    else:
        print(render_text(traces), end="")
    return 0


def _trace(journal: Journal, record: TracedRecord) -> RecordTrace:
    """One record's trace from the journal: the batches that carried it, the calls and lookups that concerned
    it, its dead letters."""
    batches = journal.record_batches(record.step, record.idem_key)
    carried = [b.batch_id for b in batches] + ([record.batch_id] if record.batch_id else [])
    attempts = journal.record_attempts(record.step, record.idem_key, carried)
    letters = journal.record_dead_letters(record.step, record.idem_key)
    return assemble(record, batches, attempts, letters)
