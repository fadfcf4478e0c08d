"""How a run was asked to run (``migrator run`` flags), for the runner and each step it builds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
    #: delta runs: per step (``"*"``: any other), when the last completed run started reading, by the source's
    #: clock (``runtime.delta``); sources with a modified date read only what changed since, less a margin;
    #: the others compare content hashes
    delta_since: Mapping[str, float] = field(default_factory=dict)
