"""``migrator verify PLAN``: read both sides and reconcile them (see :mod:`migrator.verify` for the rules).

Writes ``verify.csv`` (step, source key, target id, status, field, expected, actual) and ``verify.json`` (the
summary) into ``--out DIR`` (default: the journal's reports folder, as ``migrator report``), writes the reports
there again so that ``report.html`` carries this verification, and prints a summary. Exit 0 when the target
matches (no missing, no different record; with ``--strict`` no extra either), 1 otherwise, 2 for a plan error.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import anyio

from migrator.commands.connected_plan import ConnectedPlan, add_connected_arguments
from migrator.commands.report import existing_journal
from migrator.plan.env import resolved_paths
from migrator.private_files import make_private_dir
from migrator.report import VERIFY_SUMMARY, to_csv, write_private, write_reports
from migrator.runtime.build import connection_folder
from migrator.verify import VERIFY_HEADER, VerifyResult, verify_plan, verify_rows

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_connected_arguments(parser, doing="verify")
    parser.add_argument("--out", metavar="DIR", help="where verify.csv goes (default .migrator/<plan>-report/)")
    parser.add_argument("--strict", action="store_true", help="extra target records fail the verification too")


def run(args: argparse.Namespace) -> int:
    session = ConnectedPlan.of(args)
    loaded, name, path = session.loaded, session.name, session.files.journal
    plan = resolved_paths(loaded.plan, session.connections)
    with existing_journal(path, name) as journal:

        async def main() -> VerifyResult:
            return await verify_plan(
                loaded.plan,
                session.graph,
                connections=session.connections,
                journal=journal,
                redactor=session.redactor,
                time_scale=session.time_scale,
                verify_tls=session.verify_tls,
                folders={c: connection_folder(plan, c, Path(loaded.file).parent) for c in session.connections},
            )

        result = anyio.run(main)
        out = Path(args.out) if args.out else session.files.reports
        make_private_dir(out)
        csv_path = out / "verify.csv"
        write_private(csv_path, to_csv(VERIFY_HEADER, verify_rows(result.findings)))
        summary = result.summary(at=time.time(), strict=args.strict)
        write_private(out / VERIFY_SUMMARY, json.dumps(summary, indent=1).encode())
        entities = {step: s.write.entity for step, s in loaded.plan.steps.items()}
        write_reports(journal, out, name, entities=entities)  # report.html carries this verification
    ok = result.ok(strict=args.strict)
    _print_summary(name, result, csv_path, ok=ok, strict=args.strict)
    return 0 if ok else 1


def _print_summary(name: str, result: VerifyResult, csv_path: Path, *, ok: bool, strict: bool) -> None:
    print(f"verify {name}: {'OK, the target matches' if ok else 'the target does NOT match'}")
    for step, c in result.steps.items():
        print(
            f"  step {step:<18} source {c.source:>8,}  migrated {c.migrated:>8,}  matched {c.matched:>8,}  "
            f"different {c.different:>6,}  missing {c.missing:>6,}  rejected {c.rejected:>6,}"
        )
    for e in result.entities:
        extra = "extra" if strict else "extra (informational)"
        print(
            f"  target {e.connection}.{e.entity:<12} records {e.target:>8,}  migrated {e.mapped:>8,}  "
            f"{extra} {e.extra:>6,}  duplicates {e.duplicates:>6,}"
        )
    for step, why in result.unverified.items():
        print(f"  step {step:<18} NOT VERIFIED: {why}")
    for target, how in result.per_record.items():
        print(f"  target {target} read record by record: {how}")
    for row in result.left_behind:
        count = "not counted" if row.in_source is None else f"{row.in_source:,}"
        print(f"  left behind {row.connection}.{row.entity} [{row.status_text}] records {count}: {row.reason}")
    records, uncounted = result.left_behind_records()
    more = f" (+{uncounted} not counted)" if uncounted else ""
    print(f"left behind by the plan: {len(result.left_behind):,} entities/statuses, {records:,} records{more}")
    print(
        f"missing {result.count('missing'):,}, different {result.count('different'):,}, "
        f"extra {result.count('extra'):,}, rejected {result.count('rejected'):,}, "
        f"duplicates {result.count('duplicate'):,}; details: {csv_path}"
    )
