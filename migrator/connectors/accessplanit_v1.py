"""accessplanit API v1 ("API Feeds"): pure request builders and response decoders.

Auth: the bearer token of v2 (``grant_type=password`` form POST), fetched from ``/token`` under the v1 base
(the v1 document names no token URL; the reference assumes v2's, and the sandbox serves ``/api/v1/token``
too; an ``api_key`` is sent as ``Authorization: Bearer <key>`` like v2). Lists: ``PageSize`` + ``PageIndex``
from 1, a bare JSON array, no total (sequential pages up to a short one). Every record carries HATEOAS
``Links: [{Rel, Href, Action}]``: the ``companygroup`` entity is read by following each company's
``CompanyGroups`` link (a nested read), and ``Links`` never reach a write body. Writes: ``POST /{feed}``
(create, 201 with the record) and ``PUT /{feed}/{id}`` (partial update, 200 with the record); no DELETE,
no ``$upsert``, no ``$filter`` (so a create in doubt cannot be looked up: see ``lookup_request``). A 400
carries ``ModelState`` (keys ``<entity>.<Field>``): a per-record rejection. 5000 requests/hour per endpoint
(the catalog's budget; every request of a feed counts against the feed's path).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from migrator.connectors.accessplanit import AccessPlanItAuth, model_state_rejection
from migrator.connectors.base import Action, EngineSupportError, Page, Request, Response, RowResult, WriteItem
from migrator.protocol.pagination import PageRequest, Paginator, make_paginator

__all__ = [
    "FEEDS",
    "V1Feed",
    "V1Reader",
    "V1Writer",
    "link_path",
    "make_auth",
    "make_reader",
    "make_writer",
]


class V1Feed:
    """One v1 feed: its path under the v1 base and the key field of its records."""

    def __init__(self, path: str, key: str) -> None:
        self.path = path
        self.key = key


FEEDS: Mapping[str, V1Feed] = {
    "user": V1Feed("/users", "UserID"),
    "company": V1Feed("/companies", "CompanyID"),
}
#: budget key of the company-groups link (``/companies/{id}/companygroups``); counted apart from ``/companies``
COMPANYGROUPS_ENDPOINT = "/companies/{id}/companygroups"
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
    """``GET /users`` or ``/companies`` with ``PageSize``/``PageIndex`` (from 1); filters as query params.

    ``companygroup`` pages the companies and follows each company's ``CompanyGroups`` link; each group is
    given its company's id as ``CompanyID`` and is keyed ``<CompanyID>/<CompanyGroupID>``.
    """

    def __init__(self, entity: str, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        self.entity = entity
        feed = FEEDS["company" if entity == "companygroup" else entity]
        self.path = feed.path
        self.key_field = "Key" if entity == "companygroup" else feed.key
        self.params = tuple((str(k), str(v)) for k, v in filters.items())
        self.page_size = page_size
        self.step = step

    def paginator(self) -> Paginator:
        return make_paginator("accessplanit_v1_page", page_size=self.page_size, step=self.step)

    def page_request(self, page: PageRequest) -> Request:
        return Request("GET", self.path, endpoint=self.path, params=self.params + page.params)

    def decode_page(self, response: Response) -> Page:
        return Page(_decode_list(response))


class V1CompanyGroupReader(V1Reader):
    """The nested read of company groups through the ``CompanyGroups`` link of each company."""

    def children(self, parent: Mapping[str, Any]) -> Request | None:
        href = _link(parent, "CompanyGroups")
        if href is None:
            return None
        return Request("GET", link_path(href), endpoint=COMPANYGROUPS_ENDPOINT)

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
        company = str(parent.get("CompanyID", ""))
        out = []
        for group in _decode_list(response):
            group["CompanyID"] = company
            group["Key"] = f"{company}/{group.get('CompanyGroupID', '')}"
            out.append(group)
        return out


class V1Writer:
    """One record per call: ``POST /{feed}`` (create) or ``PUT /{feed}/{id}`` (partial update)."""

    max_batch = 50

    def __init__(self, entity: str, mode: str, match: str | None) -> None:
        feed = FEEDS[entity]
        self.entity = entity
        self.path = feed.path
        self.key = feed.key
        self.mode = mode
        self.match = match
        self.idempotent = mode == "update"

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        payload = {k: v for k, v in item.payload.items() if k != "Links" and (v is not None or k == self.key)}
        problems: dict[str, list[str]] = {}
        if self.mode == "update" and not payload.get(self.key):
            problems[self.key] = [f"update needs the target {self.key} (map it through a crosswalk)"]
        if self.mode == "create" and self.match and payload.get(self.match) in (None, ""):
            problems[self.match] = [f"{self.match} is the match key of this step and must not be empty"]
        if problems:
            reason = "; ".join(m for msgs in problems.values() for m in msgs)
            return RowResult(item.idem_key, ok=False, action="rejected", reason=reason, fields=problems)
        match_value = None if not self.match else str(payload.get(self.match))
        return WriteItem(item.idem_key, item.source_key, payload, match_value)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        out: list[tuple[Request, list[WriteItem]]] = []
        for it in items:
            if self.mode == "update":
                body = {k: v for k, v in it.payload.items() if k != self.key}
                req = Request("PUT", f"{self.path}/{it.payload[self.key]}", self.path, json=body, is_write=True)
            else:
                req = Request("POST", self.path, self.path, json=it.payload, is_write=True)
            out.append((req, [it]))
        return out

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status in (200, 201):
            body = response.json()
            record = body if isinstance(body, Mapping) else {}
            target_id = record.get(self.key, record.get("ID", item.payload.get(self.key)))
            action: Action = "created" if response.status == 201 else "updated"
            return [RowResult(item.idem_key, ok=True, target_id=str(target_id), action=action)]
        return [model_state_rejection(item, response)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        """v1 documents no filter on its feeds: a create in doubt cannot be found by its match key."""
        return None

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:  # pragma: no cover - no lookup
        return None


def make_auth(credentials: Mapping[str, str]) -> AccessPlanItAuth:
    return AccessPlanItAuth(
        username=credentials.get("username"),
        password=credentials.get("password"),
        api_key=credentials.get("api_key"),
    )


def make_reader(
    entity: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
) -> V1Reader:
    if entity == "companygroup":
        return V1CompanyGroupReader(entity, filters, page_size, step)
    if entity not in FEEDS:
        raise EngineSupportError(f"the accessplanit v1 connector cannot read {entity!r}")
    return V1Reader(entity, filters, page_size, step)


def make_writer(entity: str, mode: str, match: str | None) -> V1Writer:
    if entity not in FEEDS or mode not in ("create", "update"):
        raise EngineSupportError(
            f"accessplanit v1 cannot write {entity!r} in mode {mode!r} (GET/POST/PUT only)"
        )
    return V1Writer(entity, mode, match)
