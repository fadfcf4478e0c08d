"""A v2 read split into parts, one per ``$filter`` expression (``odata.filter_variants``: a filter that would
need parentheses becomes several ``and`` chains). Pure paging logic: the parts' own paginators, run one part
after the other."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence

from migrator.protocol.pagination import (
    DecodedPage,
    NextPage,
    NoMore,
    Outcome,
    PageRequest,
    Paginator,
    RemainingPages,
    Style,
)

__all__ = ["SplitPaginator"]


def _tag(expression: str) -> str:
    return hashlib.blake2b(expression.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()


class SplitPaginator(Paginator):
    """Reads ``parts`` (``(expression, paginator)``) one after the other: each page request carries its part's
    ``$filter``, and its key is ``<tag of the expression>|<the part's page key>``, so a resumed run names the
    same pages. A part's planned pages are asked one at a time, the last part's all at once (the fetch plans
    concurrent pages only as the read's last word). Every part starts from its first page, which tells its
    total: ``start`` begins the whole read again, and the caller skips the records of pages already done."""

    style: Style = "accessplanit_v2_page"

    def __init__(self, parts: Sequence[tuple[str, Paginator]], *, step: str) -> None:
        if len(parts) < 2:
            raise ValueError(f"step {step!r}: a split read needs two parts or more; got {len(parts)}")
        super().__init__(page_size=parts[0][1].page_size, step=step)
        self._parts = tuple((expression, _tag(expression), pager) for expression, pager in parts)
        self._asked: dict[str, tuple[int, PageRequest]] = {}
        self._queue: list[PageRequest] = []  # the current part's planned pages not asked yet
        self._count = 0
        self._over = False

    def first(self) -> PageRequest:
        return self._ask(0, self._parts[0][2].first())

    def start(self, done: Collection[str] = ()) -> PageRequest:
        return self.first()

    def receive(self, request: PageRequest, page: DecodedPage) -> Outcome:
        asked = self._asked.pop(request.page_key, None)
        if asked is None:
            raise ValueError(
                f"step {self.step!r}: page {request.page_key!r} was not requested, or received twice"
            )
        part, inner = asked
        outcome = self._parts[part][2].receive(inner, page)
        last = part == len(self._parts) - 1
        if isinstance(outcome, RemainingPages):
            if last:
                return RemainingPages(tuple(self._ask(part, r) for r in outcome.requests))
            self._queue.extend(outcome.requests)
        elif isinstance(outcome, NextPage):
            self._queue.append(outcome.request)
        if self._queue:
            return NextPage(self._ask(part, self._queue.pop(0)))
        if not last:
            return NextPage(self._ask(part + 1, self._parts[part + 1][2].first()))
        self._over = True
        return NoMore()

    @property
    def finished(self) -> bool:
        return self._over and not self._asked

    def _ask(self, part: int, inner: PageRequest) -> PageRequest:
        expression, tag, _ = self._parts[part]
        outer = PageRequest(
            f"{tag}|{inner.page_key}",
            self._count,
            (("$filter", expression), *inner.params),
            inner.path_suffix,
            inner.size,
        )
        self._count += 1
        self._asked[outer.page_key] = (part, inner)
        return outer
