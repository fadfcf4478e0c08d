"""How a run was asked to run (``migrator run`` flags), for the runner and each step it builds."""

from __future__ import annotations

from dataclasses import dataclass

from migrator.runtime.selection import SelectionMode

__all__ = ["RunOptions"]


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    verify_tls: bool = True
    write_concurrency: int | None = None
    read_concurrency: int | None = None
    #: rehearsal against ``migrator sandbox --time-scale X``: budgets X times larger, tokens X times shorter
    time_scale: float = 1.0
    #: every record not yet settled, only the dead letters, or only changed records
    selection: SelectionMode = SelectionMode.NORMAL
    #: run only these steps (empty: all); the others are left as they are
    only_steps: tuple[str, ...] = ()
    #: delta runs: when the last completed run started (epoch s); sources with a modified date read only
    #: what changed since (minus a safety margin for clock skew); the others compare content hashes
    delta_since: float | None = None
