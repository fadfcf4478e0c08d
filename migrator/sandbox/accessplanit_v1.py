"""accessplanit API v1 ("API Feeds"): ``/accessplan/api/v1/users`` and ``/companies`` (+ ``/companygroups``).

``PageSize`` / ``PageIndex`` (from 1; 500 records by default), a bare JSON array [ASSUMED], every record with
HATEOAS ``Links: [{Rel, Href, Action}]`` as in the document's company example; GET, POST, PUT and no DELETE
(405). The document's own URL has a double slash (``accessplan//api/v1/users``); both forms are served.
JSON by default, XML with ``Accept: application/xml``. Same records as v2, with v1 field names.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from typing import Any

from aiohttp import web

from migrator.sandbox.accessplanit_data import Record, TenantData
from migrator.sandbox.accessplanit_http import Auth, invalid, json_response, message, read_object, unauthorized
from migrator.sandbox.accessplanit_schema import COMPANY, COMPANYGROUP, USER, Module, validate_write
from migrator.sandbox.accessplanit_xml import record_xml, records_xml

FEEDS: dict[str, Module] = {"users": USER, "companies": COMPANY}
ID_NAME = {"users": "UserID", "companies": "CompanyID"}


def wants_xml(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "").casefold()
    return ("application/xml" in accept or "text/xml" in accept) and "json" not in accept


class V1Api:
    def __init__(self, auth: Auth, data: Mapping[str, TenantData]) -> None:
        self.auth = auth
        self.data = data

    def option(self, name: str, default: Any) -> Any:
        return self.auth.option(name, default)

    def add_routes(self, app: web.Application, api: str) -> None:
        """``api`` is ``…/accessplan/api/v1`` or the document's ``…/accessplan//api/v1``."""
        app.router.add_get(f"{api}/token", self.auth.token)
        app.router.add_post(f"{api}/token", self.auth.token)
        app.router.add_get(f"{api}/companies/{{id}}/companygroups", self.company_groups)
        for feed in FEEDS:
            app.router.add_get(f"{api}/{feed}", self.list)
            app.router.add_post(f"{api}/{feed}", self.create)
            app.router.add_delete(f"{api}/{feed}", self.no_delete)
            app.router.add_get(f"{api}/{feed}/{{id}}", self.get_one)
            app.router.add_put(f"{api}/{feed}/{{id}}", self.put)
            app.router.add_delete(f"{api}/{feed}/{{id}}", self.no_delete)

    # shaping -----------------------------------------------------------------------------------------
    def _href(self, request: web.Request, path: str) -> str:
        """The document's links are relative to the platform root (``/api/v1/companies/Example1``)."""
        if self.option("v1_link_style", "document") == "full":
            api_root = request.path.split("/api/v1/", 1)[0].rstrip("/")
            return f"{request.url.origin()}{api_root}{path}"
        return path

    def _links(self, request: web.Request, feed: str, record: Record) -> list[dict[str, str]]:
        self_href = self._href(request, f"/api/v1/{feed}/{record['ID']}")
        links = [
            {"Rel": "Self", "Href": self_href, "Action": "GET"},
            {"Rel": "Self", "Href": self_href, "Action": "PUT"},
        ]
        if feed == "companies":
            links.append(
                {"Rel": "CompanyGroups", "Href": f"{self_href}/companygroups", "Action": "GET"},
            )
            if record.get("MainContactUserID"):
                href = self._href(request, f"/api/v1/users/{record['MainContactUserID']}")
                links.append({"Rel": "MainContactUser", "Href": href, "Action": "GET"})
        elif record.get("MainCompanyID"):
            href = self._href(request, f"/api/v1/companies/{record['MainCompanyID']}")
            links.append({"Rel": "MainCompany", "Href": href, "Action": "GET"})
        return links

    def shape(self, request: web.Request, feed: str, record: Record) -> dict[str, Any]:
        module = FEEDS[feed]
        out = {v1: record.get(v2) for v1, v2 in module.v1_pairs}
        out["Links"] = self._links(request, feed, record)
        return out

    @staticmethod
    def _answer(request: web.Request, element: str, body: Any, status: int = 200) -> web.Response:
        if wants_xml(request):
            text = records_xml(element, body) if isinstance(body, list) else record_xml(element, body)
            return web.Response(text=text, status=status, content_type="application/xml")
        return json_response(body, status)

    def _page(self, request: web.Request, rows: Any) -> list[Record] | web.Response:
        query = {k.casefold(): v for k, v in request.query.items()}
        default_size = int(self.option("v1_default_page_size", 500))
        values: dict[str, int] = {}
        for name, default in (("PageSize", default_size), ("PageIndex", 1)):
            raw = query.get(name.casefold(), "").strip()
            try:
                values[name] = int(raw) if raw else default
            except ValueError:
                return message(400, f"{name} must be a whole number, got {raw!r}.")
            if values[name] < 1:
                return message(400, f"{name} must be 1 or more (PageIndex starts at 1), got {values[name]}.")
        size, index = values["PageSize"], values["PageIndex"]
        return list(islice(rows, (index - 1) * size, index * size))

    def _tenant(self, request: web.Request) -> TenantData | None:
        tenant = self.auth.authenticate(request, v1=True)
        return None if tenant is None else self.data[tenant]

    @staticmethod
    def _feed(request: web.Request) -> str:
        parts = [p for p in request.path.split("/") if p]
        return parts[parts.index("v1") + 1]

    def _not_found(self, feed: str, record_id: str) -> web.Response:
        return message(404, f"No {FEEDS[feed].name} found with {ID_NAME[feed]} '{record_id}'.")

    # handlers ----------------------------------------------------------------------------------------
    async def list(self, request: web.Request) -> web.Response:
        data = self._tenant(request)
        if data is None:
            return unauthorized()
        feed = self._feed(request)
        page = self._page(request, iter(data.tables[FEEDS[feed].name]))
        if isinstance(page, web.Response):
            return page
        return self._answer(request, FEEDS[feed].v1_entity, [self.shape(request, feed, r) for r in page])

    async def get_one(self, request: web.Request) -> web.Response:
        data = self._tenant(request)
        if data is None:
            return unauthorized()
        feed, record_id = self._feed(request), request.match_info["id"]
        record = data.get(FEEDS[feed].name, record_id)
        if record is None:
            return self._not_found(feed, record_id)
        return self._answer(request, FEEDS[feed].v1_entity, self.shape(request, feed, record))

    async def create(self, request: web.Request) -> web.Response:
        data = self._tenant(request)
        if data is None:
            return unauthorized()
        feed = self._feed(request)
        module = FEEDS[feed]
        body = await read_object(request, module.name)
        if isinstance(body, web.Response):
            return body
        result = validate_write(
            module,
            body,
            create=True,
            v1=True,
            reject_unknown=self.option("unknown_fields", "reject") == "reject",
        )
        data.check(module, result, None, reject_double_booking=False)
        if result.model_state:
            return invalid(result.model_state)
        record = data.create(module, result.changes)
        return self._answer(request, module.v1_entity, self.shape(request, feed, record), 201)

    async def put(self, request: web.Request) -> web.Response:
        data = self._tenant(request)
        if data is None:
            return unauthorized()
        feed, record_id = self._feed(request), request.match_info["id"]
        module = FEEDS[feed]
        existing = data.get(module.name, record_id)
        if existing is None:
            return self._not_found(feed, record_id)
        body = await read_object(request, module.name)
        if isinstance(body, web.Response):
            return body
        result = validate_write(
            module,
            body,
            create=False,
            v1=True,
            reject_unknown=self.option("unknown_fields", "reject") == "reject",
        )
        data.check(module, result, existing, reject_double_booking=False)
        if result.model_state:
            return invalid(result.model_state)
        record = data.update(module, record_id, result.changes)
        return self._answer(request, module.v1_entity, self.shape(request, feed, record))

    async def no_delete(self, request: web.Request) -> web.Response:
        if self._tenant(request) is None:
            return unauthorized()
        return message(
            405,
            "The requested resource does not support http method 'DELETE'. The v1 API Feeds have no delete; "
            "use API v2.",
            {"Allow": "GET, POST, PUT"},
        )

    async def company_groups(self, request: web.Request) -> web.Response:
        data = self._tenant(request)
        if data is None:
            return unauthorized()
        company_id = request.match_info["id"]
        if data.get(COMPANY.name, company_id) is None:
            return self._not_found("companies", company_id)
        page = self._page(request, iter(data.groups_of_company(company_id)))
        if isinstance(page, web.Response):
            return page
        body = [{"CompanyGroupID": g["ID"], "Name": g["Name"], "Links": []} for g in page]
        return self._answer(request, COMPANYGROUP.v1_entity, body)
