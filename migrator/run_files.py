"""Where a run's files live: its log, its reports, its dry run's report and its own folders (a documents
archive it writes), all beside its journal.

The default journal (``.migrator/<plan name>.sqlite``) keeps the default places: ``.migrator/<plan
name>.log.jsonl``, ``.migrator/<plan name>-report/``, ``.migrator/<plan name>-dry-run/`` and, for a files
connection with ``relative_to = "journal"`` and ``path = "certificates"``, ``.migrator/<plan
name>-certificates/``. Any other journal ``J`` has ``J.log.jsonl``, ``J.reports/``, ``J.dry-run/`` and
``J.certificates/``: runs with different journals (another customer, a rehearsal) never write into each
other's files, and ``migrator report`` finds a journal's reports the same way ``migrator run`` wrote them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import msgspec

from migrator.journal import default_journal_path
from migrator.plan.load import LoadedPlan
from migrator.report import default_report_dir

__all__ = ["RunFiles"]


@dataclass(frozen=True, slots=True)
class RunFiles:
    """The files of the runs of one journal; ``folders`` is what the name of one of its own folders begins
    with (``.migrator/<plan name>-`` or ``<journal>.``)."""

    journal: Path
    log: Path
    reports: Path
    dry_run: Path
    folders: str

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
                folders=str(default.with_name(f"{plan_name}-")),
            )
        return cls(
            journal=journal,
            log=journal.with_name(f"{journal.name}.log.jsonl"),
            reports=journal.with_name(f"{journal.name}.reports"),
            dry_run=journal.with_name(f"{journal.name}.dry-run"),
            folders=str(journal.with_name(f"{journal.name}.")),
        )

    def folder(self, name: str) -> Path:
        """The run's own folder ``name`` (a plain name: the plan's validation checks it)."""
        return Path(self.folders + name)

    def place(self, loaded: LoadedPlan) -> LoadedPlan:
        """``loaded`` with each ``relative_to = "journal"`` connection's path made this journal's folder (an
        absolute path), for the run to read and write there; every other connection as it is. The plan's
        hash is the unplaced plan's: the same plan run with another journal is the same plan."""
        plan = loaded.plan
        placed = {
            name: msgspec.structs.replace(conn, path=str(self.folder(conn.path).absolute()), relative_to="plan")
            if conn.relative_to == "journal" and conn.path
            else conn
            for name, conn in plan.connections.items()
        }
        if placed == plan.connections:
            return loaded
        return dataclasses.replace(loaded, plan=msgspec.structs.replace(plan, connections=placed))


def _same(a: Path, b: Path) -> bool:
    return a.absolute() == b.absolute()
