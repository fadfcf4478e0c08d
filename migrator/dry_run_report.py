"""A dry run's report: what a run would create, update and reject, in its own folder, never the run's.

``write_dry_run_report`` writes into one folder (``RunFiles.dry_run``: beside the journal, apart from the
real run's reports, which a dry run never touches):

- ``README.txt`` — "DRY RUN — nothing was written", when, and the counts per step;
- ``summary.csv`` — per step: status, read, would create, would update, skipped, would reject, error;
- ``errors.csv`` — every record the run would reject, with its reason and field detail and who it is (the
  same columns as a run's ``errors.csv``): name, e-mail and number picked (``migrator.identity``) from the
  payload it would have been sent with, or from what identifies it when the mapping or the target's rules
  refused it first (``runtime.ledger.HeldDeadLetter``); ``linked_to`` shows the ids it links (a dry run
  writes none of the records they name).

Every text is masked with the run's redactor before they are written; each file is 0600 in a 0700 folder,
never written through a link (``migrator.private_files``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from migrator.identity import Picker, identity_cells
from migrator.journal import DeadLetter
from migrator.private_files import make_private_dir, write_private
from migrator.report import ERRORS_HEADER, ReportError, Who, error_rows, to_csv
from migrator.runtime.ledger import HeldDeadLetter
from migrator.runtime.runner import RunSummary

__all__ = ["DRY_RUN_BANNER", "SUMMARY_HEADER", "held_who", "write_dry_run_report"]

DRY_RUN_BANNER = "DRY RUN — nothing was written"
SUMMARY_HEADER = (
    "step",
    "status",
    "read",
    "would_create",
    "would_update",
    "skipped",
    "would_reject",
    "error",
)


def summary_rows(summary: RunSummary) -> list[tuple[str, str, int, int, int, int, int, str]]:
    """One row per step, in the plan's order."""
    return [
        (o.name, o.status, o.counters.read, o.counters.created, o.counters.updated, o.counters.skipped,
         o.counters.rejected, o.error)
        for o in summary.steps.values()
    ]  # fmt: skip


def readme_text(summary: RunSummary, rejected: int) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(summary.started_at))
    lines = [
        DRY_RUN_BANNER,
        "",
        f"plan {summary.plan}, dry run started {when}: every record was read, mapped and checked against the",
        "target's rules; nothing was written to the target or to the journal.",
        "",
    ]
    for o in summary.steps.values():
        c = o.counters
        lines.append(
            f"{o.name}: {o.status}; read {c.read:,}, would create {c.created:,}, would update {c.updated:,}, "
            f"skipped {c.skipped:,}, would reject {c.rejected:,}" + (f" ({o.error})" if o.error else "")
        )
    lines += ["", f"errors.csv: the {rejected:,} records a run would reject, with their reasons", ""]
    return "\n".join(lines)


def held_who(rejected: Sequence[DeadLetter]) -> Who:
    """The identity cells of the records a dry run would reject, from the payloads their dead letters hold
    (one :class:`~migrator.identity.Picker` per step); empty for a dead letter that holds none."""
    pickers: dict[str, Picker] = {}
    held = {
        (d.step, d.source_key): d.payload
        for d in rejected
        if isinstance(d, HeldDeadLetter) and d.payload is not None
    }

    def who(step: str, key: str) -> tuple[str, str, str, str]:
        payload = held.get((step, key))
        if payload is None:
            return "", "", "", ""
        picker = pickers.get(step)
        if picker is None:
            picker = pickers[step] = Picker({})
        return identity_cells(picker(payload), {}, {})

    return who


def write_dry_run_report(
    out: Path, summary: RunSummary, rejected: Sequence[DeadLetter], redact: Callable[[str], str]
) -> list[Path]:
    """Write ``README.txt``, ``summary.csv`` and ``errors.csv`` into ``out``; the paths written."""

    def masked(content: bytes) -> bytes:
        return redact(content.decode("utf-8-sig")).encode("utf-8-sig")

    files = {
        out / "README.txt": redact(readme_text(summary, len(rejected))).encode(),
        out / "summary.csv": masked(to_csv(SUMMARY_HEADER, summary_rows(summary))),
        out / "errors.csv": masked(to_csv(ERRORS_HEADER, error_rows(rejected, held_who(rejected)))),
    }
    try:
        make_private_dir(out)
        for path, content in files.items():
            write_private(path, content)
    except OSError as error:
        raise ReportError(
            f"dry run: cannot write its report into {out} ({error.strerror}); fix that (permissions, free "
            "space) or choose another folder (--report-dir DIR)"
        ) from None
    return list(files)
