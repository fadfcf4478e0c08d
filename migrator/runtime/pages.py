"""Page tracking: a page is done once every record read from it is settled."""

from __future__ import annotations

from migrator.runtime.ledger import StepLedger

__all__ = ["PageTracker"]


class PageTracker:
    """Counts unsettled records per page; a page whose count reaches zero is done. Done pages are written to
    the ledger together (``flush``, after each page mapped and each batch written): a page marked a little
    later is only read again after a crash, its records skipped as settled."""

    def __init__(self, ledger: StepLedger) -> None:
        self.ledger = ledger
        self.pending: dict[str, int] = {}
        self.done: list[str] = []

    def flush(self) -> None:
        if self.done:
            keys, self.done = self.done, []
            self.ledger.pages_done(keys)

    def opened(self, page_key: str, count: int) -> None:
        self.pending[page_key] = self.pending.get(page_key, 0) + count
        self.settle(page_key, 0)

    def settle(self, page_key: str, count: int = 1) -> None:
        left = self.pending.get(page_key, 0) - count
        self.pending[page_key] = left
        if left <= 0:
            del self.pending[page_key]
            self.done.append(page_key)
