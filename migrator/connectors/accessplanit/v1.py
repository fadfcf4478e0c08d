"""accessplanit API v1 ("API Feeds"): the ``users`` and ``companies`` feeds, and the company groups linked from
each company. Pure request builders and response decoders.

Auth: the bearer token of v2 (``auth``), fetched from ``/token`` under the v1 base (the v1 document names no
token URL; the reference assumes v2's, and the sandbox serves ``/api/v1/token`` too). Lists: ``PageSize`` +
``PageIndex`` from 1, a bare JSON array, no total (sequential pages up to a short one). Every record carries
HATEOAS ``Links: [{Rel, Href, Action}]``: the ``companygroup`` entity is read by following each company's
``CompanyGroups`` link (a nested read), and ``Links`` never reach a write body. Writes: ``POST /{feed}``
(create, 201 with the record) and ``PUT /{feed}/{id}`` (partial update, 200 with the record); no DELETE, no
``$upsert``, no ``$filter``, so a create in doubt cannot be looked up (``V1Create.lookup_request``). A 400
carries ``ModelState`` (keys ``<entity>.<Field>``): a per-record rejection. 5000 requests/hour per endpoint
(the spec's budget; every request of a feed counts against the feed's path).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from typing import Any

from migrator.connectors.accessplanit.auth import make_auth
from migrator.connectors.accessplanit.modelstate import model_state_rejection
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
    Request,
    RequestWriter,
    Response,
    RowResult,
    WriteItem,
)
from migrator.connectors.spec import ReadSpec
from migrator.protocol.pagination import PageRequest, Paginator, make_paginator

__all__ = [
    "FEEDS",
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


class V1Reader:
    """``GET /users`` or ``/companies`` with ``PageSize``/``PageIndex`` (from 1); filters as query params."""

    def __init__(self, read: ReadSpec, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        self.path = read.endpoint.path
        self.endpoint = read.endpoint.budget_key
        self.key_field = read.key
        self.params = tuple((str(k), str(v)) for k, v in filters.items())
        self.page_size = page_size
        self.step = step

    def paginator(self) -> Paginator:
        return make_paginator("accessplanit_v1_page", page_size=self.page_size, step=self.step)

    def page_request(self, page: PageRequest) -> Request:
        return Request("GET", self.path, endpoint=self.endpoint, params=self.params + page.params)

    def decode_page(self, response: Response) -> Page:
        return Page(_decode_list(response))


class V1CompanyGroupReader(V1Reader):
    """Pages the companies and follows each company's ``CompanyGroups`` link; each group is given its
    company's id as ``CompanyID`` and is keyed ``<CompanyID>/<CompanyGroupID>``."""

    def __init__(self, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        super().__init__(V1_COMPANIES, filters, page_size, step)
        self.key_field = V1_COMPANY_GROUPS.key
        self.children_endpoint = V1_COMPANY_GROUPS.endpoint.budget_key

    def children(self, parent: Mapping[str, Any]) -> Request | None:
        href = _link(parent, "CompanyGroups")
        if href is None:
            return None
        return Request("GET", link_path(href), endpoint=self.children_endpoint)

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
        company = str(parent.get(V1_COMPANIES.key, ""))
        out = []
        for group in _decode_list(response):
            group[V1_COMPANIES.key] = company
            group[V1_COMPANY_GROUPS.key] = f"{company}/{group.get('CompanyGroupID', '')}"
            out.append(group)
        return out


class _FeedWriter(ABC):
    """One record per call to one feed; ``key`` is the feed's record key (``UserID``, ``CompanyID``)."""

    mode: str
    idempotent = True

    def __init__(self, entity: str, match: str | None) -> None:
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
        if response.status in (200, 201):
            body = response.json()
            record = body if isinstance(body, Mapping) else {}
            target_id = record.get(self.key, record.get("ID", item.payload.get(self.key)))
            action: Action = "created" if response.status == 201 else "updated"
            return [RowResult(item.idem_key, ok=True, target_id=str(target_id), action=action)]
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
        """v1 documents no filter on its feeds, and record keys are made by the platform: a create in doubt
        cannot be found by its match key, so it is sent again."""
        return None

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:  # pragma: no cover - no lookup
        return None


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


_READERS: Mapping[str, Callable[[Mapping[str, Any], int, str], V1Reader]] = {
    "user": partial(V1Reader, V1_USERS),
    "company": partial(V1Reader, V1_COMPANIES),
    "companygroup": V1CompanyGroupReader,
}
_WRITERS: Mapping[tuple[str, str], Callable[[str, str | None], RequestWriter]] = {
    (entity, writer.mode): writer for entity in FEEDS for writer in (V1Create, V1Update)
}


def make_reader(
    entity: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
) -> V1Reader:
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
