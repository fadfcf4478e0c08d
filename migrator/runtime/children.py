"""A nested reader's children of one parent (``NestedReader.children``), as the run's fetch, the target's read
and ``verify`` read them: one request, or page after page for a reader whose lists may take several
(``PagedChildrenReader``), each page's answer decoded (``decode_children``) before the next is named. A next
page that holds no record the pages before it did (a server that ignores ``startIndex``) stops the read rather
than go round."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from migrator.connectors.base import NestedReader, PagedChildrenReader, Request, Response
from migrator.protocol.pagination import PaginationLoopError

__all__ = ["children_read"]

#: ``parent``'s children, each page sent by ``send`` (see ``children_read``)
ChildrenRead = Callable[
    [Callable[[Request], Awaitable[Response]], Mapping[str, Any]],
    Awaitable[list[dict[str, Any]] | tuple[Request, Response]],
]


def children_read(nested: NestedReader) -> ChildrenRead:
    """How ``nested``'s children of a parent are read, asked once of the reader (a Protocol check costs tens of
    microseconds: not one per parent). The read gives the children: none when the parent names no request;
    what the pages before held when one answers 204 or 404 (no children, or no more); the request and its
    answer when a page is refused (any other status but 200), for the caller to say so."""
    paged = nested if isinstance(nested, PagedChildrenReader) else None

    async def read(
        send: Callable[[Request], Awaitable[Response]], parent: Mapping[str, Any]
    ) -> list[dict[str, Any]] | tuple[Request, Response]:
        request = nested.children(parent)
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        while request is not None:
            response = await send(request)
            if response.status in (204, 404):
                break
            if response.status != 200:
                return request, response
            page = nested.decode_children(response, parent)
            if paged is None:
                return page
            keys = {str(child.get(nested.key_field)) for child in page}
            if out and page and not keys - seen:
                row = dict(request.params).get("startIndex")
                raise PaginationLoopError(
                    f"{request.path}: the page from row {row} holds only records of the pages before it; the "
                    "server seems to ignore the paging parameters"
                )
            seen |= keys
            out += page
            request = paged.next_children(request, response)
        return out

    return read
