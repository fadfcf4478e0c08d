"""accessplanit API v1 ("API Feeds"): the ``users`` and ``companies`` feeds, and the company groups linked from
each company. Pure request builders and response decoders.

Auth: the bearer token of v2 (``auth``), fetched from ``/token`` under the v1 base (the v1 document names no
token URL; the reference assumes v2's, and the sandbox serves ``/api/v1/token`` too). Lists: ``PageSize`` +
``PageIndex`` from 1, a bare JSON array, no total (sequential pages up to a short one: "PageSize = the number
of results to return"). The feeds document no filter, so a read takes none. Every record carries HATEOAS
``Links: [{Rel, Href, Action}]``: the ``companygroup`` entity is read by following each company's
``CompanyGroups`` link, page by page like a feed (``CompanyGroupPages``), and ``Links`` never reach a write
body. Writes: ``POST /{feed}`` (create, 201 with the record) and ``PUT /{feed}/{id}`` (partial update, 200 with
the record); no DELETE, no ``$upsert``, no ``$filter``: a create in doubt is looked for in the whole feed, read
as one large page and compared exactly (``V1Create.lookup_request``). A 400 carries ``ModelState`` (keys
``<entity>.<Field>``): a per-record rejection. 5000 requests/hour per endpoint (the spec's budget; every request
of a feed counts against the feed's path).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from typing import Any

from migrator.connectors.accessplanit.auth import make_auth
from migrator.connectors.accessplanit.modelstate import model_state_rejection, refused_lookup
from migrator.connectors.accessplanit.spec import (
    ACCESSPLANIT_V1,
    V1_COMPANIES,
    V1_COMPANY_GROUPS,
    V1_USERS,
)
from migrator.connectors.base import (
    Action,
    EngineSupportError,
    Page,
    PagedReader,
    Request,
    RequestWriter,
    Response,
    RowResult,
    SettingError,
    WriteItem,
)
from migrator.connectors.spec import ReadSpec
from migrator.protocol.pagination import (
    DecodedPage,
    NextPage,
    NoMore,
    Outcome,
    PageRequest,
    Paginator,
    Style,
    make_paginator,
)

__all__ = [
    "FEEDS",
    "LOOKUP_PAGE_SIZE",
    "CompanyGroupPages",
    "V1CompanyGroupReader",
    "V1Create",
    "V1Reader",
    "V1Update",
    "link_path",
    "make_auth",
    "make_reader",
    "make_writer",
]

#: the feeds that are read and written, each at its read path
FEEDS: Mapping[str, ReadSpec] = {"user": V1_USERS, "company": V1_COMPANIES}
#: the records an in-doubt lookup asks for, as one page: the whole feed, up to that size
LOOKUP_PAGE_SIZE = 100_000
_API_PREFIX = "/api/v1"


def link_path(href: str) -> str:
    """A ``Links`` href as a path under the v1 base URL.

    The document's hrefs are relative to the platform root (``/api/v1/companies/X``); the sandbox can also
    send absolute URLs. Everything up to and including ``/api/v1`` is dropped.
    """
    at = href.find(_API_PREFIX + "/")
    if at < 0:
        raise ValueError(f"accessplanit v1 link {href!r} is not under {_API_PREFIX}/")
    return href[at + len(_API_PREFIX) :]


def _link(record: Mapping[str, Any], rel: str, action: str = "GET") -> str | None:
    for link in record.get("Links") or []:
        if isinstance(link, Mapping) and link.get("Rel") == rel and link.get("Action", "GET") == action:
            href = link.get("Href")
            return str(href) if href else None
    return None


def _decode_list(response: Response) -> list[dict[str, Any]]:
    if response.status == 204:
        return []
    body = response.json()
    if body is None:
        return []
    if not isinstance(body, list):
        raise ValueError(f"accessplanit v1 list answered a {type(body).__name__}, expected a JSON array")
    return [dict(r) for r in body if isinstance(r, Mapping)]


def _no_filters(filters: Mapping[str, Any]) -> None:
    if filters:
        raise SettingError(
            "read.filter",
            "the accessplanit v1 feeds document no filter (a query parameter would be ignored and every record "
            'read): remove the filter, or read through API v2 (platform = "accessplanit"), whose $filter is '
            "documented",
        )


class V1Reader:
    """``GET /users`` or ``/companies`` with ``PageSize``/``PageIndex`` (from 1), every record of the feed."""

    def __init__(self, read: ReadSpec, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        _no_filters(filters)
        self.path = read.endpoint.path
        self.endpoint = read.endpoint.budget_key
        self.key_field = read.key
        self.page_size = page_size
        self.step = step

    def paginator(self) -> Paginator:
        return make_paginator("accessplanit_v1_page", page_size=self.page_size, step=self.step)

    def page_request(self, page: PageRequest) -> Request:
        return Request("GET", self.path, endpoint=self.endpoint, params=page.params)

    def decode_page(self, response: Response) -> Page:
        return Page(_decode_list(response))


def _group_or_company(record: Mapping[str, Any]) -> str:
    """A record's name for the loop guard: a group's key, or a company's ID."""
    return str(record.get(V1_COMPANY_GROUPS.key) or record.get(V1_COMPANIES.key))


def _paging(size: int, number: int) -> tuple[str, tuple[tuple[str, str], ...]]:
    return f"PageSize={size}&PageIndex={number}", (("PageSize", str(size)), ("PageIndex", str(number)))


class CompanyGroupPages(Paginator):
    """The pages of the company groups: a page of companies, then the ``CompanyGroups`` link of each of its
    companies page by page (a link's list is paged like a feed, and may hold more than one page), then the next
    page of companies. Sequential, so the one request in flight is the one whose answer the reader decodes
    (``decode``): a companies page is kept here and yields no record, a link page yields its groups.

    Page keys: ``PageSize=…&PageIndex=…`` for companies, ``<CompanyID>|PageSize=…&PageIndex=…`` for a link.
    A read always begins again with the first page of companies (the links to follow are on them); the caller
    skips the records of pages already done."""

    style: Style = "accessplanit_v1_page"

    def __init__(self, *, page_size: int, step: str) -> None:
        super().__init__(page_size=page_size, step=step, record_key=_group_or_company)
        self._count = 0
        self._current: PageRequest | None = None
        self._pages: dict[str, tuple[str, int]] = {}  # page key → (link path, or "" for companies; PageIndex)
        self._company_of: dict[str, str] = {}  # link page key → its company
        self._decoded: str | None = None  # the page key of the last companies page decoded
        self._to_follow: list[tuple[str, str]] = []  # (company, link path) of that page, not followed yet
        self._more_companies = False  # that page was full: another follows
        self._companies_read = 0  # the PageIndex of the last companies page received

    def first(self) -> PageRequest:
        return self._handed_out(self._page("", 1))

    def decode(self, response: Response) -> Page:
        """The answer to the request in flight: a companies page is kept (its links are followed next), a link
        page's groups are given their company's ``CompanyID`` and keyed ``<CompanyID>/<CompanyGroupID>``."""
        page = self._current
        if page is None:
            raise ValueError(f"step {self.step!r}: an answer arrived with no company-group page asked")
        rows = _decode_list(response)
        company = self._company_of.get(page.page_key)
        if company is None:
            key = V1_COMPANIES.key
            self._guard.check(page, rows, page.size)  # the companies never reach ``receive``: guard them here
            self._decoded = page.page_key
            self._to_follow = [
                (str(c.get(key, "")), link_path(href)) for c in rows if (href := _link(c, "CompanyGroups"))
            ]
            self._more_companies = len(rows) >= (page.size or self.page_size)
            return Page([])
        groups = []
        for group in rows:
            group[V1_COMPANIES.key] = company
            group[V1_COMPANY_GROUPS.key] = f"{company}/{group.get('CompanyGroupID', '')}"
            groups.append(group)
        return Page(groups)

    def _next(self, request: PageRequest, page: DecodedPage) -> Outcome:
        path, number = self._pages.pop(request.page_key)
        company = self._company_of.pop(request.page_key, None)
        if company is None:  # a companies page: follow its links (nothing to follow when it was not decoded)
            if self._decoded != request.page_key:
                self._to_follow, self._more_companies = [], False
            self._decoded = None
            self._companies_read = number
        elif len(page.records) >= (request.size or self.page_size):  # a full link page: its next page
            return NextPage(self._page(path, number + 1, company))
        if self._to_follow:
            company, path = self._to_follow.pop(0)
            return NextPage(self._page(path, 1, company))
        if self._more_companies:
            return NextPage(self._page("", self._companies_read + 1))
        return NoMore()

    def _handed_out(self, request: PageRequest) -> PageRequest:
        self._current = request
        return super()._handed_out(request)

    def _page(self, path: str, number: int, company: str | None = None) -> PageRequest:
        key, params = _paging(self.page_size, number)
        if company is not None:
            key = f"{company}|{key}"
            self._company_of[key] = company
        self._pages[key] = (path, number)
        request = PageRequest(key, self._count, params, path_suffix=path, size=self.page_size)
        self._count += 1
        return request


class V1CompanyGroupReader:
    """The company groups: the companies page by page, each company's ``CompanyGroups`` link followed page by
    page (``CompanyGroupPages``); each group is given its company's id as ``CompanyID`` and is keyed
    ``<CompanyID>/<CompanyGroupID>``. The link's calls count apart from ``/companies``."""

    def __init__(self, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        _no_filters(filters)
        self.key_field = V1_COMPANY_GROUPS.key
        self.page_size = page_size
        self.step = step
        self._pages = CompanyGroupPages(page_size=page_size, step=step)

    def paginator(self) -> Paginator:
        self._pages = CompanyGroupPages(page_size=self.page_size, step=self.step)
        return self._pages

    def page_request(self, page: PageRequest) -> Request:
        if page.path_suffix:
            endpoint = V1_COMPANY_GROUPS.endpoint.budget_key
            return Request("GET", page.path_suffix, endpoint=endpoint, params=page.params)
        return Request("GET", V1_COMPANIES.endpoint.path, V1_COMPANIES.endpoint.budget_key, params=page.params)

    def decode_page(self, response: Response) -> Page:
        return self._pages.decode(response)


class _FeedWriter(ABC):
    """One record per call to one feed; ``key`` is the feed's record key (``UserID``, ``CompanyID``)."""

    mode: str
    idempotent = True

    def __init__(self, entity: str, match: str | None) -> None:
        self.entity = entity
        self.key = FEEDS[entity].key
        self.write = ACCESSPLANIT_V1.entities[entity].writes[self.mode]
        self.max_batch = self.write.max_batch
        self.match = match
        self.match_fields: tuple[str, ...] = (match,) if match else ()

    @abstractmethod
    def _problems(self, payload: Mapping[str, Any]) -> dict[str, list[str]]:
        """What the feed would refuse in ``payload``, by field."""

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        payload = {k: v for k, v in item.payload.items() if k != "Links" and (v is not None or k == self.key)}
        problems = self._problems(payload)
        if problems:
            reason = "; ".join(m for msgs in problems.values() for m in msgs)
            return RowResult(item.idem_key, ok=False, action="rejected", reason=reason, fields=problems)
        match_value = None if not self.match else str(payload.get(self.match))
        return WriteItem(item.idem_key, item.source_key, payload, match_value)

    @abstractmethod
    def _request(self, item: WriteItem) -> Request:
        """The call that writes one record."""

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [(self._request(it), [it]) for it in items]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if 200 <= response.status < 300:  # the document names 200 and 201; any success is one
            body = response.json()  # not JSON (a proxy's HTML page): ValueError, the answer says nothing
            record = body if isinstance(body, Mapping) else {}
            target_id = record.get(self.key, record.get("ID", item.payload.get(self.key)))
            action: Action = "created" if response.status == 201 or self.mode == "create" else "updated"
            found = None if target_id is None or target_id == "" else str(target_id)
            return [RowResult(item.idem_key, ok=True, target_id=found, action=action)]
        return [model_state_rejection(item, response)]


class V1Create(_FeedWriter):
    """``POST /{feed}`` → 201 with the created record."""

    mode = "create"
    idempotent = False

    def _problems(self, payload: Mapping[str, Any]) -> dict[str, list[str]]:
        problems: dict[str, list[str]] = {}
        if self.match and payload.get(self.match) in (None, ""):
            problems[self.match] = [f"{self.match} is the match key of this step and must not be empty"]
        return problems

    def _request(self, item: WriteItem) -> Request:
        endpoint = self.write.endpoint
        return Request("POST", endpoint.path, endpoint.budget_key, json=item.payload)

    def lookup_request(self, item: WriteItem) -> Request | None:
        """v1 documents no filter on its feeds, and record keys are made by the platform: a create in doubt is
        looked for in the whole feed, asked as one page of ``LOOKUP_PAGE_SIZE`` records ("PageSize = the
        number of results to return"; the document sets no maximum)."""
        if not self.match or item.payload.get(self.match) in (None, ""):
            return None
        endpoint = FEEDS[self.entity].endpoint
        params = (("PageSize", str(LOOKUP_PAGE_SIZE)), ("PageIndex", "1"))
        return Request("GET", endpoint.path, endpoint.budget_key, params=params)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        """The key of the one record whose match field is exactly the value sent (none, or several: not found,
        as the record cannot be told apart). A refused lookup stops the step: it cannot tell whether the
        create went through."""
        if self.match is None:
            return None
        if response.status != 200:
            raise refused_lookup(response, (self.match,))
        sent = str(item.payload.get(self.match))
        found = [
            r for r in _decode_list(response) if r.get(self.match) is not None and str(r[self.match]) == sent
        ]
        return None if len(found) != 1 or found[0].get(self.key) is None else str(found[0][self.key])


class V1Update(_FeedWriter):
    """``PUT /{feed}/{id}``: a partial update of the record at its key (``id_field``)."""

    mode = "update"

    def __init__(self, entity: str, match: str | None) -> None:
        super().__init__(entity, match)
        self.id_field = self.key

    def _problems(self, payload: Mapping[str, Any]) -> dict[str, list[str]]:
        problems: dict[str, list[str]] = {}
        if not payload.get(self.key):
            problems[self.key] = [f"update needs the target {self.key} (map it through a crosswalk)"]
        return problems

    def _request(self, item: WriteItem) -> Request:
        endpoint = self.write.endpoint
        body = {k: v for k, v in item.payload.items() if k != self.key}
        path = endpoint.path.replace("{id}", str(item.payload[self.key]))
        return Request("PUT", path, endpoint.budget_key, json=body)


_READERS: Mapping[str, Callable[[Mapping[str, Any], int, str], PagedReader]] = {
    "user": partial(V1Reader, V1_USERS),
    "company": partial(V1Reader, V1_COMPANIES),
    "companygroup": V1CompanyGroupReader,
}
_WRITERS: Mapping[tuple[str, str], Callable[[str, str | None], RequestWriter]] = {
    (entity, writer.mode): writer for entity in FEEDS for writer in (V1Create, V1Update)
}


def make_reader(
    entity: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
) -> PagedReader:
    factory = _READERS.get(entity)
    if factory is None:
        raise EngineSupportError(f"the accessplanit v1 connector cannot read {entity!r}")
    return factory(filters, page_size, step)


def make_writer(entity: str, mode: str, match: str | None) -> RequestWriter:
    factory = _WRITERS.get((entity, mode))
    if factory is None:
        raise EngineSupportError(
            f"accessplanit v1 cannot write {entity!r} in mode {mode!r} (GET/POST/PUT only)"
        )
    return factory(entity, match)
