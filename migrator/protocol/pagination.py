"""Paginators: small pure state machines, one per platform paging style. No I/O.

The fetch stage drives one paginator per step::

    pager = make_paginator("velpic_offset", page_size=100, step="learners")
    request = pager.start(done_page_keys)          # first request to send (resume skips finished pages)
    outcome = pager.receive(request, decoded_page)  # NextPage | RemainingPages | NoMore

- ``NextPage(request)``: the one page to fetch next (sequential styles).
- ``RemainingPages(requests)``: the total is known, here is every remaining page: fetch them concurrently,
  in any order, and hand each one to ``receive`` too (it returns ``NoMore`` for planned pages, after the loop
  guard has looked at them). Skip the ones whose ``page_key`` the journal has as done.
- ``NoMore()``: nothing follows from this page. ``pager.finished`` is true once every request handed out has
  been received and no more will come.

A :class:`PageRequest` carries only the paging parameters (``params``, and for OneFile a ``path_suffix``); the
connector merges them with its filters. ``page_key`` is stable across runs (``"startIndex=200&maxResults=100"``)
so the journal can mark the page done and a resumed run can skip it.

Styles (an entity's ``Paging.style`` in its platform's declaration, :mod:`migrator.connectors.spec`, names one):

- ``velpic_offset``: ``startIndex`` (0-based offset) + ``maxResults``; ``meta.totalResultCount`` →
  concurrent plan
- ``accessplanit_v2_page``: ``$top`` + ``$skip`` = page NUMBER from 0 + ``$count=true`` → ``totalCount`` →
  concurrent plan
- ``accessplanit_v1_page``: ``PageSize`` + ``PageIndex`` from 1; bare arrays, no total → sequential
- ``onefile_path_page``: ``/{page}/{size}`` in the path, from 1; 204 or a short page ends it → sequential
- ``unpaged``: one request

A style with a total falls back to sequential paging when a response carries none (Velpic's
``lesson_schedule`` has no ``meta``). If the first page of a planned style is shorter than the page size while
the total says more, the server capped the page size: the remaining pages are planned with the size it used.
A decoder should turn a 204 No Content into an empty page.

Loop guard: a page whose content (count, first and last record key) equals an earlier non-empty page, a page
with more records than the page size, or more pages than ``max_pages`` raises :class:`PaginationLoopError`
naming the step and page. A total that changes during the read is not chased: offset paging over live data
cannot be exact, and the next (delta) run picks up what moved.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from migrator.errors import PermanentError

__all__ = [
    "MAX_PAGE_SIZE",
    "STYLES",
    "AccessplanitV1Paginator",
    "AccessplanitV2Paginator",
    "DecodedPage",
    "NextPage",
    "NoMore",
    "OnefilePathPaginator",
    "Outcome",
    "PageRequest",
    "PaginationLoopError",
    "Paginator",
    "RemainingPages",
    "Style",
    "UnpagedPaginator",
    "VelpicOffsetPaginator",
    "make_paginator",
]

Style = Literal["velpic_offset", "accessplanit_v2_page", "accessplanit_v1_page", "onefile_path_page", "unpaged"]
STYLES: Final[tuple[Style, ...]] = (
    "velpic_offset",
    "accessplanit_v2_page",
    "accessplanit_v1_page",
    "onefile_path_page",
    "unpaged",
)
#: Page sizes a platform is known to cap; asking more would end a sequential read early without notice.
#: OneFile: 100 (ASSUMED, undocumented by the vendor: ``docs/platforms/onefile.md``).
MAX_PAGE_SIZE: Final[Mapping[str, int]] = {"onefile_path_page": 100}
DEFAULT_MAX_PAGES: Final = 1_000_000


class PaginationLoopError(PermanentError):
    """The server keeps answering pages that cannot be right (a loop, or more pages than the total allows)."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    """The paging part of one page request. ``index`` is the 0-based position of the page in the read."""

    page_key: str
    index: int
    params: tuple[tuple[str, str], ...] = ()
    path_suffix: str = ""
    size: int | None = None


class DecodedPage(Protocol):
    """What ``receive`` needs from a decoded response (``connectors.base.Page`` fits)."""

    @property
    def records(self) -> Sequence[Any]: ...

    @property
    def total(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class NextPage:
    request: PageRequest


@dataclass(frozen=True, slots=True)
class RemainingPages:
    requests: tuple[PageRequest, ...]


@dataclass(frozen=True, slots=True)
class NoMore:
    pass


Outcome = NextPage | RemainingPages | NoMore


def _default_record_key(record: Any) -> str:
    return repr(record)


@dataclass(slots=True)
class _Guard:
    step: str
    record_key: Callable[[Any], str]
    max_pages: int
    seen: dict[bytes, str] = field(default_factory=dict)
    received: int = 0

    def check(self, request: PageRequest, records: Sequence[Any], size: int | None) -> None:
        self.received += 1
        if self.received > self.max_pages:
            raise PaginationLoopError(
                f"step {self.step!r}: more than {self.max_pages} pages at page {request.page_key!r}; "
                "the server seems to ignore the paging parameters. Check the entity's paging style, "
                "or raise max_pages."
            )
        if size is not None and size > 0 and len(records) > size:
            raise PaginationLoopError(
                f"step {self.step!r}: page {request.page_key!r} returned {len(records)} records for a page "
                f"size of {size}; the server ignores the page size parameter. Check the entity's paging style."
            )
        if not records:
            return
        h = hashlib.blake2b(digest_size=16)
        for part in (str(len(records)), self.record_key(records[0]), self.record_key(records[-1])):
            raw = part.encode("utf-8", "surrogatepass")
            h.update(len(raw).to_bytes(8, "big") + raw)
        fingerprint = h.digest()
        earlier = self.seen.get(fingerprint)
        if earlier is not None:
            raise PaginationLoopError(
                f"step {self.step!r}: page {request.page_key!r} has the same records as page {earlier!r}; "
                "the server ignores the page parameter (a pagination loop). Check the entity's paging style."
            )
        self.seen[fingerprint] = request.page_key


class Paginator:
    """Base of the paginators: the bookkeeping of requests handed out and received, and the loop guard."""

    style: Style

    def __init__(
        self,
        *,
        page_size: int,
        step: str = "?",
        record_key: Callable[[Any], str] | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"step {step!r}: page size must be at least 1; got {page_size}")
        cap = MAX_PAGE_SIZE.get(self.style)
        if cap is not None and page_size > cap:
            raise ValueError(
                f"step {step!r}: page size {page_size} is more than {self.style} allows ({cap}); "
                f"use page_size = {cap} or less"
            )
        if max_pages < 1:
            raise ValueError(f"step {step!r}: max_pages must be at least 1; got {max_pages}")
        self.page_size = page_size
        self.step = step
        self._guard = _Guard(step, record_key or _default_record_key, max_pages)
        self._pending: set[str] = set()
        self._more_coming = True

    # -- public API --------------------------------------------------------------------------------

    def first(self) -> PageRequest:
        """The first page of the read."""
        return self._handed_out(self._request(0, self.page_size))

    def start(self, done: Collection[str] = ()) -> PageRequest:
        """The first request to send on a (possibly resumed) read; ``done`` holds finished page keys.

        Sequential styles jump past the run of finished pages at the start (they were all full, or the read
        would have ended). Planned styles always begin with the first page, which tells the total; the caller
        skips its records if its key is done, and skips done keys among the planned remaining pages.
        """
        return self.first()

    def receive(self, request: PageRequest, page: DecodedPage) -> Outcome:
        """Take the decoded response to ``request``; say what to fetch next."""
        if request.page_key not in self._pending:
            raise ValueError(
                f"step {self.step!r}: page {request.page_key!r} was not requested, or received twice"
            )
        self._pending.discard(request.page_key)
        self._guard.check(request, page.records, request.size)
        outcome = self._next(request, page)
        if isinstance(outcome, NextPage):
            self._handed_out(outcome.request)
        elif isinstance(outcome, RemainingPages):
            for r in outcome.requests:
                self._handed_out(r)
            self._more_coming = False
        elif not self._pending:
            self._more_coming = False
        return outcome

    @property
    def finished(self) -> bool:
        """Every request handed out was received and nothing more will follow."""
        return not self._more_coming and not self._pending

    # -- for subclasses ----------------------------------------------------------------------------

    def _request(self, index: int, size: int) -> PageRequest:
        raise NotImplementedError

    def _next(self, request: PageRequest, page: DecodedPage) -> Outcome:
        raise NotImplementedError

    def _handed_out(self, request: PageRequest) -> PageRequest:
        self._pending.add(request.page_key)
        return request

    def _sequential_next(self, request: PageRequest, page: DecodedPage) -> Outcome:
        size = request.size or self.page_size
        if len(page.records) < size:
            return NoMore()
        return NextPage(self._request(request.index + 1, size))


class _PlannedPaginator(Paginator):
    """A style whose responses carry the total: page 1 tells it, the rest is planned at once."""

    _planned: bool = False

    def _next(self, request: PageRequest, page: DecodedPage) -> Outcome:
        if self._planned:
            return NoMore()
        total = page.total
        if total is None:  # this list carries no total: read on until a short page
            return self._sequential_next(request, page)
        self._planned = True
        size = request.size or self.page_size
        got = len(page.records)
        if request.index == 0 and 0 < got < size and total > got:
            size = got  # the server capped the page size: plan with the size it used
        consumed = (request.index + 1) * size
        if total <= consumed:
            return NoMore()
        count = math.ceil((total - consumed) / size)
        return RemainingPages(tuple(self._request(request.index + 1 + i, size) for i in range(count)))


class VelpicOffsetPaginator(_PlannedPaginator):
    """Velpic: ``startIndex`` (record offset from 0) and ``maxResults``; ``meta.totalResultCount`` is the total.

    ``maxResults`` is always sent: absent or 0 means "everything" on Velpic (ambiguous in the vendor's
    documentation: ``docs/platforms/velpic.md``).
    """

    style: Style = "velpic_offset"

    def _request(self, index: int, size: int) -> PageRequest:
        start = index * size
        params = (("startIndex", str(start)), ("maxResults", str(size)))
        return PageRequest(f"startIndex={start}&maxResults={size}", index, params, size=size)


class AccessplanitV2Paginator(_PlannedPaginator):
    """accessplanit API v2: ``$top`` = size, ``$skip`` = page NUMBER from 0 (not an offset), ``$count=true``.

    The vendor document says ``$skip`` is "the page number you would like to jump to" and that the ``$count``
    page index starts from 0; the total is read by the connector from ``totalCount`` ([ASSUMED] field name).
    """

    style: Style = "accessplanit_v2_page"

    def _request(self, index: int, size: int) -> PageRequest:
        params = (("$top", str(size)), ("$skip", str(index)), ("$count", "true"))
        return PageRequest(f"$top={size}&$skip={index}", index, params, size=size)


class _SequentialPaginator(Paginator):
    def start(self, done: Collection[str] = ()) -> PageRequest:
        index = 0
        while self._request(index, self.page_size).page_key in done:
            index += 1
        return self._handed_out(self._request(index, self.page_size))

    def _next(self, request: PageRequest, page: DecodedPage) -> Outcome:
        return self._sequential_next(request, page)


class AccessplanitV1Paginator(_SequentialPaginator):
    """accessplanit API v1: ``PageSize`` and ``PageIndex`` from 1; bare arrays, no total: up to a short page."""

    style: Style = "accessplanit_v1_page"

    def _request(self, index: int, size: int) -> PageRequest:
        number = index + 1
        params = (("PageSize", str(size)), ("PageIndex", str(number)))
        return PageRequest(f"PageSize={size}&PageIndex={number}", index, params, size=size)


class OnefilePathPaginator(_SequentialPaginator):
    """OneFile: ``…/Search/{page}/{size}`` with pages from 1; a 204 (decoded as an empty page) or a short page
    ends the read."""

    style: Style = "onefile_path_page"

    def _request(self, index: int, size: int) -> PageRequest:
        number = index + 1
        return PageRequest(f"page={number}&size={size}", index, (), path_suffix=f"/{number}/{size}", size=size)


class UnpagedPaginator(Paginator):
    """One request returns the whole list."""

    style: Style = "unpaged"

    def __init__(
        self,
        *,
        page_size: int = 1,
        step: str = "?",
        record_key: Callable[[Any], str] | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        super().__init__(page_size=max(page_size, 1), step=step, record_key=record_key, max_pages=max_pages)

    def _request(self, index: int, size: int) -> PageRequest:
        return PageRequest("all", index)

    def _next(self, request: PageRequest, page: DecodedPage) -> Outcome:
        return NoMore()


_BY_STYLE: Final[Mapping[str, type[Paginator]]] = {
    "velpic_offset": VelpicOffsetPaginator,
    "accessplanit_v2_page": AccessplanitV2Paginator,
    "accessplanit_v1_page": AccessplanitV1Paginator,
    "onefile_path_page": OnefilePathPaginator,
    "unpaged": UnpagedPaginator,
}


def make_paginator(
    style: str,
    *,
    page_size: int,
    step: str = "?",
    record_key: Callable[[Any], str] | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Paginator:
    """A fresh paginator of ``style`` (one per read; paginators are stateful).

    ``record_key`` names a record for the loop guard (e.g. ``lambda r: str(r["id"])``); the default is its
    ``repr``. ``page_size`` is ignored by ``unpaged``.
    """
    cls = _BY_STYLE.get(style)
    if cls is None:
        raise ValueError(f"step {step!r}: unknown paging style {style!r}; expected one of {', '.join(STYLES)}")
    return cls(page_size=page_size, step=step, record_key=record_key, max_pages=max_pages)
