"""The fetch stage: a step's source pages, sent on a bounded stream as ``(page_key, records)``.

What a reader can do is decided once, by ``page_feed``: a ``StreamReader`` (local files) yields its own pages;
a ``PagedReader`` is driven through the source transport by its paginator — one page after another, or the
planned remaining pages with up to ``read_concurrency`` in flight — and a ``NestedReader``'s parent pages are
expanded into the children of their records (page after page where a list of them may take several:
``children.children_read``); a ``DetailReader``'s children are completed with one request each,
made only for a child the step still ``needs`` (by source key: not settled in the journal). Pages the journal
has as done are not sent again.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from migrator.connectors.base import (
    DetailReader,
    NestedReader,
    Page,
    PagedReader,
    Reader,
    Request,
    Response,
    StreamReader,
)
from migrator.protocol.pagination import NextPage, PageRequest, RemainingPages
from migrator.runtime.children import children_read
from migrator.runtime.counters import StepCounters
from migrator.runtime.delta import server_clock
from migrator.runtime.failures import StepFailed
from migrator.transport import Transport

__all__ = ["PageFeed", "PageStream", "fetch_many", "page_feed"]

#: what the fetch stage sends to the map stage
PageStream = ObjectSendStream[tuple[str, list[dict[str, Any]]]]
#: whether the step still needs the record of a source key (None: every record)
Needed = Callable[[str], bool] | None


class PageFeed(Protocol):
    async def run(self, done_pages: Collection[str], out: PageStream, needed: Needed = None) -> None:
        """Send every page not in ``done_pages``, then close ``out``; ``needed`` says which records' details
        to fetch (a ``DetailReader``)."""


def page_feed(
    step: str, reader: Reader, source: Transport, counters: StepCounters, read_concurrency: int
) -> PageFeed:
    """The feed that reads ``reader``'s pages."""
    if isinstance(reader, StreamReader):
        return StreamFeed(reader, counters)
    nested = reader if isinstance(reader, NestedReader) else None
    return HttpFeed(step, reader, source, counters, read_concurrency, nested)


class StreamFeed:
    """Pages a reader reads itself (local files)."""

    def __init__(self, reader: StreamReader, counters: StepCounters) -> None:
        self.reader = reader
        self.counters = counters

    async def run(self, done_pages: Collection[str], out: PageStream, needed: Needed = None) -> None:
        async with out:
            async for page_key, records in self.reader.pages(done_pages):
                self.counters.pages += 1
                await out.send((page_key, records))


@dataclass(frozen=True)
class _EmptyPage:
    records: list[Any]
    total: int | None = None


_EMPTY = _EmptyPage([])


class HttpFeed:
    """Pages read through the source transport, as the reader's paginator plans them."""

    def __init__(
        self,
        step: str,
        reader: PagedReader,
        source: Transport,
        counters: StepCounters,
        read_concurrency: int,
        nested: NestedReader | None,
    ) -> None:
        self.step = step
        self.reader = reader
        self.source = source
        self.counters = counters
        self.read_concurrency = read_concurrency
        self.nested = nested
        self.detailed = nested if isinstance(nested, DetailReader) else None  # asked once, not per page

    async def run(self, done_pages: Collection[str], out: PageStream, needed: Needed = None) -> None:
        reader, counters = self.reader, self.counters
        pager = reader.paginator()
        outcomes: list[Any] = []

        async def get(page: PageRequest) -> None:
            decoded = await self._read(page)
            outcome = pager.receive(page, decoded if decoded is not None else _EMPTY)
            records = [] if decoded is None else decoded.records
            if decoded is not None and decoded.total is not None:
                counters.total = decoded.total
            counters.pages += 1
            if page.page_key not in done_pages:
                if self.nested is not None:
                    records = await self._expand(self.nested, records)
                if self.detailed is not None:
                    records = await self._details(self.detailed, records, needed)
                await out.send((page.page_key, records))
            outcomes.append(outcome)

        async with out:
            request: PageRequest | None = pager.start(done_pages)
            while request is not None:
                outcomes.clear()
                await get(request)
                outcome = outcomes[0]
                request = None
                if isinstance(outcome, NextPage):
                    request = outcome.request
                elif isinstance(outcome, RemainingPages):
                    todo = [r for r in outcome.requests if r.page_key not in done_pages]
                    for r in outcome.requests:
                        if r.page_key in done_pages:
                            pager.receive(r, _EMPTY)
                    await fetch_many(todo, get, self.read_concurrency)

    async def _read(self, page: PageRequest) -> Page | None:
        """One page's records (None for a 204 answer)."""
        response = await self.source.send(self.reader.page_request(page))
        if self.counters.source_clock is None:
            self.counters.source_clock = server_clock(response.headers)
        redact, excerpt = self.source.redactor.text, self.source.redactor.excerpt
        if response.status not in (200, 204):
            raise StepFailed(
                f"step {self.step}: reading page {page.page_key} failed with HTTP {response.status}: "
                f"{excerpt(response.body, 200)}"
            )
        try:
            return self.reader.decode_page(response) if response.status == 200 else None
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise StepFailed(
                f"step {self.step}: page {page.page_key} of the source could not be read "
                f"({type(error).__name__}: {redact(str(error))[:200]}); the answer began: "
                f"{excerpt(response.body, 120)!r}. Run again to retry; done pages are kept."
            ) from None

    async def _expand(self, nested: NestedReader, parents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The children of every parent record of one page, fetched concurrently, in parent order."""
        out: list[list[dict[str, Any]]] = [[] for _ in parents]
        limiter = anyio.Semaphore(max(1, self.read_concurrency))
        read = children_read(nested)

        async def send(request: Request) -> Response:
            async with limiter:
                return await self.source.send(request)

        async def one(i: int, parent: dict[str, Any]) -> None:
            children = await read(send, parent)
            if isinstance(children, tuple):
                request, response = children
                raise StepFailed(
                    f"step {self.step}: reading {request.path} failed with HTTP {response.status}: "
                    f"{self.source.redactor.excerpt(response.body, 200)}"
                )
            out[i] = children

        async with anyio.create_task_group() as tg:
            for i, parent in enumerate(parents):
                tg.start_soon(one, i, parent)
        return [child for children in out for child in children]

    async def _details(
        self, reader: DetailReader, children: list[dict[str, Any]], needed: Needed
    ) -> list[dict[str, Any]]:
        """The children of one page, each completed by its detail request (concurrently, in order); a child
        not ``needed`` (settled in the journal) is passed on as it is, and the map stage skips it."""
        out: list[dict[str, Any]] = list(children)
        limiter = anyio.Semaphore(max(1, self.read_concurrency))
        key_field = reader.key_field

        async def one(i: int, child: Mapping[str, Any]) -> None:
            if needed is not None and not needed(str(child.get(key_field, ""))):
                return
            request = reader.detail(child)
            if request is None:
                return
            async with limiter:
                response = await self.source.send(request)
            out[i] = reader.decode_detail(response, child)

        async with anyio.create_task_group() as tg:
            for i, child in enumerate(children):
                tg.start_soon(one, i, child)
        return out


async def fetch_many(
    pages: list[PageRequest], get: Callable[[PageRequest], Awaitable[None]], concurrency: int
) -> None:
    """Fetch planned pages with at most ``concurrency`` in flight, in order of index."""
    send, recv = anyio.create_memory_object_stream[PageRequest](math.inf)
    for page in pages:
        send.send_nowait(page)
    send.close()

    async def worker(stream: ObjectReceiveStream[PageRequest]) -> None:
        async with stream:
            async for page in stream:
                await get(page)

    async with anyio.create_task_group() as tg, recv:
        for _ in range(max(1, concurrency)):
            tg.start_soon(worker, recv.clone())
