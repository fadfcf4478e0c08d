"""Local files (the ``files`` platform) in the pipeline: no HTTP, blocking I/O run in a worker thread.

``LocalReader`` and ``LocalWriter`` wrap ``connectors.files.FileSource`` / ``FileTarget`` in the shapes the
stages use; the stages call ``read_pages`` / ``write_local`` instead of going through the transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import anyio

from migrator.connectors.base import Request, Response, RowResult, WriteItem
from migrator.connectors.files import FileSource, FileTarget

__all__ = ["LocalReader", "LocalWriter"]


class LocalReader:
    local = True

    def __init__(self, source: FileSource) -> None:
        self.source = source
        self.key_field = source.key_field

    async def pages(self, done: set[str]) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
        """The pages (chunks of rows) not yet done, each parsed in a worker thread."""
        chunks = self.source.pages(done)
        while (page := await anyio.to_thread.run_sync(_next, chunks)) is not None:
            yield page


def _next(chunks: Iterator[tuple[str, list[dict[str, Any]]]]) -> tuple[str, list[dict[str, Any]]] | None:
    return next(chunks, None)


class LocalWriter:
    """Appends to a CSV/JSONL file, idempotent by key: a resend is always safe."""

    mode = "create"
    max_batch = 1000
    idempotent = True
    local = True

    def __init__(self, target: FileTarget, match: str | None) -> None:
        self.target = target
        self.match_field = match

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        return item

    async def write_local(self, items: Sequence[WriteItem]) -> list[RowResult]:
        return await anyio.to_thread.run_sync(self.target.write, list(items))

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        raise NotImplementedError("local files are written with write_local")

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        raise NotImplementedError("local files are written with write_local")

    def lookup_request(self, item: WriteItem) -> Request | None:
        return None

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        return None
