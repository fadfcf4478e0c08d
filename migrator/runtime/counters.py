"""A step's live counts, for progress, the run summary and the journal's run statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["StepCounters"]


@dataclass
class StepCounters:
    """Live counts of one step: records read, skipped (settled before, or unchanged in a delta), written
    (created, updated, or already there), rejected; records an update left unsent because the target already
    held them as they are (``unchanged``, also counted as written); pages read; the source's total when it
    says; records whose earlier write was in doubt and were found on the target; records a create-only step
    found already on the target (written by someone else) and linked instead of creating them again; records
    the step's ``where`` excluded; and warnings about the step's data."""

    read: int = 0
    skipped: int = 0
    written: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    unchanged: int = 0
    pages: int = 0
    total: int | None = None
    in_doubt_resolved: int = 0
    linked: int = 0
    #: records the step's ``where`` condition excluded (read, neither mapped nor written)
    excluded: int = 0
    #: what the run noticed about the step's data, one line each (a mapped source field no record carried)
    warnings: list[str] = field(default_factory=list)
    #: the source server's time (its ``Date`` header) when the step read its first page: a delta's origin
    source_clock: float | None = None
    started_at: float = 0.0
    finished_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "warnings": list(self.warnings)}
