"""Which records a run writes, decided from the journal's ledger before the first page is mapped."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from migrator.journal import Journal
from migrator.runtime.undone import undone_keys

__all__ = ["Selection", "SelectionMode"]


class SelectionMode(StrEnum):
    """``normal``: every record not yet done or rejected (a record an undo took back is not done).
    ``retry_rejected``: only the rejected ones (after the plan or the data was fixed). ``delta``: records whose
    mapped content changed since it was written, and new ones (compared by content hash); rejected ones are
    left to ``retry_rejected``."""

    NORMAL = "normal"
    RETRY_REJECTED = "retry_rejected"
    DELTA = "delta"


@dataclass
class Selection:
    """One step's selection: the ledger's keys it needs, loaded once; ``reread``: a normal run reads the pages
    marked done again (an undo took records of them back)."""

    mode: SelectionMode
    settled: set[str]
    rejected: set[str]
    hashes: dict[str, str | None]
    own_walk: dict[str, str]
    reread: bool = False

    @classmethod
    def load(cls, journal: Journal, step: str, mode: SelectionMode, *, updates: bool) -> Selection:
        """``updates``: a delta of a create-only step updates changed records at their crosswalk target id."""
        if mode is SelectionMode.RETRY_REJECTED:
            return cls(mode, set(), journal.keys_in_state(step, "rejected"), {}, {})
        if mode is SelectionMode.DELTA:
            walk = journal.crosswalk(step) if updates else {}
            return cls(mode, set(), journal.keys_in_state(step, "rejected"), journal.done_hashes(step), walk)
        # a record an undo took back is written again (``undone``): its page, marked done, is read again
        undone = undone_keys(journal, step)
        return cls(mode, journal.settled_keys(step) - undone, set(), {}, {}, reread=bool(undone))

    def skip_before_mapping(self, idem: str) -> bool:
        if self.mode is SelectionMode.NORMAL:
            return idem in self.settled
        if self.mode is SelectionMode.RETRY_REJECTED:
            return idem not in self.rejected
        return idem in self.rejected

    def unchanged(self, idem: str, digest: str) -> bool:
        return self.mode is SelectionMode.DELTA and self.hashes.get(idem, "") == digest

    def existing_target(self, idem: str, source_key: str) -> str | None:
        """Delta, create-only step: the target id of a changed record written before (it is updated)."""
        return self.own_walk.get(source_key) if idem in self.hashes else None
