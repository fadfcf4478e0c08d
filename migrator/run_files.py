"""Where a run's files live: its log, its reports and its dry run's report, all beside its journal.

The default journal (``.migrator/<plan name>.sqlite``) keeps the default places: ``.migrator/<plan
name>.log.jsonl``, ``.migrator/<plan name>-report/`` and ``.migrator/<plan name>-dry-run/``. Any other
journal ``J`` has ``J.log.jsonl``, ``J.reports/`` and ``J.dry-run/``: runs with different journals (another
customer, a rehearsal) never write into each other's files, and ``migrator report`` finds a journal's reports
the same way ``migrator run`` wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from migrator.journal import default_journal_path
from migrator.report import default_report_dir

__all__ = ["RunFiles"]


@dataclass(frozen=True, slots=True)
class RunFiles:
    """The files of the runs of one journal."""

    journal: Path
    log: Path
    reports: Path
    dry_run: Path

    @classmethod
    def of(cls, journal: Path | None, plan_name: str) -> RunFiles:
        """The files of ``journal`` (None: the plan's default journal)."""
        default = default_journal_path(plan_name)
        if journal is None or _same(journal, default):
            return cls(
                journal=journal or default,
                log=default.with_suffix(".log.jsonl"),
                reports=default_report_dir(plan_name),
                dry_run=default.with_name(f"{plan_name}-dry-run"),
            )
        return cls(
            journal=journal,
            log=journal.with_name(f"{journal.name}.log.jsonl"),
            reports=journal.with_name(f"{journal.name}.reports"),
            dry_run=journal.with_name(f"{journal.name}.dry-run"),
        )


def _same(a: Path, b: Path) -> bool:
    return a.absolute() == b.absolute()
