"""How OneFile's paged user search is read (``POST /User/Search/{page}/{size}``, pages from 1, no totals): up to
the first empty page (a 204), since neither a largest page size nor the end of the list at a short page is
documented. A first page shorter than asked for is taken as the size the server serves (a cap), and the pages
after it are asked for with that size, so the page numbers count the server's pages. Pure paging logic."""

from __future__ import annotations

from collections.abc import Collection

from migrator.protocol.pagination import (
    DecodedPage,
    NextPage,
    NoMore,
    OnefilePathPaginator,
    Outcome,
    PageRequest,
)

__all__ = ["UserSearchPages"]


class UserSearchPages(OnefilePathPaginator):
    """The paged user search, read up to an empty page, with the page size the first page shows."""

    def start(self, done: Collection[str] = ()) -> PageRequest:
        """Always the first page: it tells the page size the later pages (and their keys) are asked with; the
        caller skips the records of pages already done."""
        return self.first()

    def _next(self, request: PageRequest, page: DecodedPage) -> Outcome:
        got = len(page.records)
        if got == 0:
            return NoMore()
        size = request.size or self.page_size
        if request.index == 0 and got < size:
            size = got
        return NextPage(self._request(request.index + 1, size))
