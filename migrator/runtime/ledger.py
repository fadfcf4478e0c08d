"""What a step writes to the journal: pages done, batches sent and done, dead letters, pre-images.

The stages write through a ``StepLedger`` chosen once when the step is built: ``JournalLedger`` for a run, and
``DiscardLedger`` for a dry run, which reads the journal (to know what a run would skip) but writes nothing
to it: the dead letters it would have written are kept in memory, for the dry run's report.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from migrator.journal import DeadLetter, Journal, PreImage, Rejection, SentRecord, WriteResult

__all__ = ["DiscardLedger", "JournalLedger", "StepLedger"]


class StepLedger(Protocol):
    def pages_done(self, page_keys: Sequence[str]) -> None:
        """These pages are settled: a resumed run does not read them again."""

    def pre_images(self, images: Sequence[PreImage]) -> None:
        """What the records of a batch about to be sent held on the target before the run (for an undo)."""

    def batch_sent(self, batch_id: str, records: Sequence[SentRecord]) -> None:
        """The batch's records are about to be sent (in doubt until ``batch_done``)."""

    def batch_done(
        self, batch_id: str, results: Sequence[WriteResult], rejections: Sequence[Rejection]
    ) -> None:
        """The batch's outcome: records written (with their target ids) and dead letters."""


class JournalLedger:
    """Writes one step's effects to the journal, one transaction per call."""

    def __init__(self, journal: Journal, step: str) -> None:
        self.journal = journal
        self.step = step

    def pages_done(self, page_keys: Sequence[str]) -> None:
        self.journal.mark_pages_done(self.step, page_keys)

    def pre_images(self, images: Sequence[PreImage]) -> None:
        self.journal.save_pre_images(self.step, images)

    def batch_sent(self, batch_id: str, records: Sequence[SentRecord]) -> None:
        self.journal.mark_batch_sent(self.step, batch_id, records)

    def batch_done(
        self, batch_id: str, results: Sequence[WriteResult], rejections: Sequence[Rejection]
    ) -> None:
        self.journal.mark_batch_done(self.step, batch_id, results, rejections)


class DiscardLedger:
    """A dry run's ledger: nothing reaches the journal; the records a run would reject are appended to
    ``rejected`` (with their reasons), for the dry run's report."""

    def __init__(self, step: str, rejected: list[DeadLetter]) -> None:
        self.step = step
        self.rejected = rejected

    def pages_done(self, page_keys: Sequence[str]) -> None:
        return None

    def pre_images(self, images: Sequence[PreImage]) -> None:
        return None

    def batch_sent(self, batch_id: str, records: Sequence[SentRecord]) -> None:
        return None

    def batch_done(
        self, batch_id: str, results: Sequence[WriteResult], rejections: Sequence[Rejection]
    ) -> None:
        at = time.time()
        self.rejected.extend(
            DeadLetter(self.step, r.source_key, r.idem_key, r.status, r.reason, r.detail, None, at)
            for r in rejections
        )
