"""``migrator report PLAN``: the success / error / crosswalk CSVs and the HTML report, from the journal only.

Writes into ``--out DIR`` (default: the journal's reports folder, where ``migrator run`` writes them:
``.migrator/<plan name>-report/`` for the default journal, ``<journal>.reports/`` for another; see
:mod:`migrator.run_files`), files readable by the owner only.
Exit 0 when written, 2 for a plan error or an ``--out`` that is not a folder, 1 when there is no journal to
report on or the reports cannot be written there (``ReportError``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from migrator.errors import JournalError, PlanError
from migrator.journal import Journal
from migrator.plan.load import load_plan
from migrator.report import write_reports
from migrator.run_files import RunFiles

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan", metavar="PLAN", help="plan file (.toml, .yaml/.yml or .json)")
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="where to write (default beside the journal: .migrator/<plan>-report/, or <journal>.reports/)",
    )
    parser.add_argument("--journal", metavar="PATH", help="journal file (default .migrator/<plan name>.sqlite)")


def existing_journal(path: Path, plan_name: str) -> Journal:
    """Open, as a reader, a journal that must already exist (a report or a verify never starts a new one, and
    works while a run holds the journal)."""
    if not path.exists():
        raise JournalError(
            f"no journal at {path} for plan {plan_name!r}: run the plan first (`migrator run`), or point to "
            "its journal with --journal PATH"
        )
    return Journal.open(path, plan_name, read_only=True)


def run(args: argparse.Namespace) -> int:
    loaded = load_plan(args.plan)
    name = loaded.plan.plan.name
    files = RunFiles.of(Path(args.journal) if args.journal else None, name)
    path = files.journal
    entities = {step: s.write.entity for step, s in loaded.plan.steps.items()}
    out = Path(args.out) if args.out else files.reports
    if out.exists() and not out.is_dir():
        raise PlanError.single(
            loaded.file,
            "",
            f"--out {str(out)!r} is a file, not a folder: the reports are five files written into a folder. "
            "Give a folder (a missing one is created), e.g. --out reports/",
        )
    with existing_journal(path, name) as journal:
        written = write_reports(journal, out, name, entities=entities)
    print(f"report of plan {name} (journal {path}):")
    for p in written:
        print(f"  {p}")
    return 0
