"""Local files in the pipeline: the files source as a ``StreamReader`` and the files target as a
``DirectWriter``. Each file operation runs in a worker thread, so the event loop never blocks on the disk; a
writer's batches are written one at a time (a step's write workers share it, and a ``FileTarget`` is used by
one thread at a time: its key index and the file's header are not safe to share)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from typing import Any

import anyio

from migrator.connectors.base import RowResult, WriteItem
from migrator.connectors.files.local import FileSource, FileTarget
from migrator.connectors.files.spec import FILES

__all__ = ["FileReader", "FileWriter"]

_WRITE = FILES.entities["*"].writes["create"]


class FileReader:
    """Reads a file in chunks of ``page_size`` rows, each parsed in a worker thread."""

    def __init__(self, source: FileSource) -> None:
        self.source = source
        self.page_size = source.chunk

    @property
    def key_field(self) -> str:
        return self.source.key_field

    @key_field.setter
    def key_field(self, value: str) -> None:
        self.source.key_field = value

    async def count(self) -> int:
        """The file's rows, counted in a worker thread."""
        return await anyio.to_thread.run_sync(lambda: sum(len(rows) for _, rows in self.source.pages(())))

    async def pages(self, done: Collection[str]) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
        """The pages (chunks of rows) not yet done."""
        chunks = self.source.pages(done)
        while (page := await anyio.to_thread.run_sync(_next, chunks)) is not None:
            yield page


def _next(chunks: Iterator[tuple[str, list[dict[str, Any]]]]) -> tuple[str, list[dict[str, Any]]] | None:
    return next(chunks, None)


class FileWriter:
    """Appends to a CSV/JSONL file, idempotent by key: a resend is always safe. Batches are written in turn."""

    mode = "create"
    max_batch = _WRITE.max_batch
    idempotent = True

    def __init__(self, target: FileTarget, match: str | None) -> None:
        self.target = target
        self.match_fields: tuple[str, ...] = (match,) if match else ()
        self._turn = anyio.Lock()

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        return item

    async def write_direct(self, items: Sequence[WriteItem]) -> list[RowResult]:
        async with self._turn:
            return await anyio.to_thread.run_sync(self.target.write, list(items))
