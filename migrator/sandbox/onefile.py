"""OneFile API v2.1 emulator, under ``/onefile/api/v2.1/…``.

Written from OneFile's own API document (initial data download); every [ASSUMED] behaviour is a switch
read with ``ctx.option("onefile", …)``
and documented in ``docs/sandbox-onefile.md``. State and seeding live in ``onefile_data.py``.

Where the vendor document and the reference differ, the document wins:
- the document's paged-search example (``/User/Search/1/10``) answers only ID, FirstName, LastName, MISID
  and says the richer fields come back "if they contain data": empty fields are omitted from paged results
  (switch ``paged_empty_fields``);
- the document writes ``Organisation/search`` in lower case: routes match case-insensitively, as ASP.NET's do
  (exact-case requests hit their own route; other casings go through a case-insensitive fallback).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from migrator.sandbox.generator import Population
from migrator.sandbox.onefile_data import (
    ASSESSOR,
    ROLES,
    TRAINEE_ASSESSOR,
    USER_FULL,
    USER_PAGED,
    FieldError,
    OneFileTenant,
    credential,
    iso_ms,
    missing_field,
    new_tenant,
    seed_tenant,
    user_fields,
)
from migrator.sandbox.platform import TENANTS, Context, Platform
from migrator.sandbox.store import Record

API = "/api/v2.1"
DENIED = {"Message": "Authorization has been denied for this request."}

Body = dict[str, Any]
Handler = Callable[[OneFileTenant, web.Request, Mapping[str, str]], Awaitable[web.StreamResponse]]


class RequestError(Exception):
    """Ends a request with ``status`` and a JSON ``body``."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _bad(message: str) -> RequestError:
    return RequestError(400, {"message": message})


def _not_found(what: str, ident: Any) -> RequestError:
    return RequestError(404, {"Message": f"No {what} with ID {ident} was found for this customer."})


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"The value '{value}' is not valid for {name}: a whole number is expected.") from None


def _required_int(body: Body, name: str) -> int:
    value = body.get(name.casefold())
    if value is None or value == "":
        raise _bad(f"The {name} field is required.")
    return _int(value, name)


async def _read_body(request: web.Request) -> Body:
    """JSON or form-encoded body, keys case-folded (clients mix ``organisationID`` / ``OrganisationID``)."""
    raw = await request.read()
    if not raw.strip():
        return {}
    ctype = request.content_type
    is_form = ctype == "application/x-www-form-urlencoded" or (
        ctype != "application/json" and not raw.lstrip().startswith(b"{")
    )
    if is_form:
        return {k.casefold(): v for k, v in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _bad(f"The request body is not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise _bad("The request body must be a JSON object.")
    return {str(k).casefold(): v for k, v in data.items()}


def _route_regex(path: str) -> re.Pattern[str]:
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path.lstrip("/"))
    return re.compile(f"^{pattern}/?$", re.IGNORECASE)


class OneFilePlatform(Platform):
    """OneFile v2.1: customer-token authentication, 24-hour sessions, users, classrooms and placements."""

    name: ClassVar[str] = "onefile"
    prefix: ClassVar[str] = "/onefile"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.tenants: dict[str, OneFileTenant] = {}
        self._customer_tokens: dict[str, str] = {}  # customer token → tenant
        self._sessions: dict[str, tuple[str, float]] = {}  # session token → (tenant, issued at)
        self._issued = 0
        self._anonymous = new_tenant("-")
        self._routes: list[tuple[str, str, Handler, bool]] = [
            ("POST", "/Authentication", self._authenticate, False),
            ("GET", "/Customer", self._customer, True),
            ("POST", "/Organisation/Search", self._organisation_search, True),
            ("POST", "/User/Search", self._user_search, True),
            ("POST", "/User/Search/{pageNumber}/{pageSize}", self._user_search_paged, True),
            ("POST", "/User", self._user_create, True),
            ("GET", "/User/{id}", self._user_get, True),
            ("POST", "/User/{id}", self._user_update, True),
            ("DELETE", "/User/{id}", self._user_delete, True),
            ("POST", "/User/{id}/Archive", self._user_archive, True),
            ("POST", "/User/{id}/Unarchive", self._user_unarchive, True),
            ("POST", "/Classroom/Search", self._classroom_search, True),
            ("POST", "/Placement/Search", self._placement_search, True),
            ("GET", "/Placement/{id}", self._placement_get, True),
            ("POST", "/Placement", self._placement_create, True),
        ]
        self._fallback = [(method, _route_regex(path), h, auth) for method, path, h, auth in self._routes]

    # Platform hooks --------------------------------------------------------------------------------
    def _opt(self, name: str, default: Any) -> Any:
        return self.ctx.option(self.name, name, default)

    def customer_token(self, tenant: str) -> str:
        return credential(self.ctx.seed, tenant, "customer")

    def add_routes(self, app: web.Application) -> None:
        base = self.prefix + API
        for method, path, handler, auth in self._routes:
            app.router.add_route(method, base + path, self._endpoint(handler, auth))
        app.router.add_route("*", base + "/{tail:.*}", self._dispatch_any_case)

    def seed(self, population: Population, tenant: str) -> None:
        state = new_tenant(tenant)
        seed_tenant(state, population, with_people=tenant == "source", now=self.ctx.clock.now())
        self.tenants[tenant] = state
        self.tables[tenant] = state.tables
        self._customer_tokens[self.customer_token(tenant)] = tenant

    def tenant_of(self, request: web.Request) -> str | None:
        session = self._sessions.get(request.headers.get("X-TokenID", ""))
        if session is not None:
            return session[0]
        return self._customer_tokens.get(request.headers.get("X-CustomerToken", ""))

    def info(self, base_url: str) -> dict[str, Any]:
        return {
            "base_url": base_url.rstrip("/") + self.prefix + API,
            "tenants": [{"name": t, "customer_token": self.customer_token(t)} for t in TENANTS],
        }

    def env_lines(self, base_url: str) -> dict[str, str]:
        lines = {"ONEFILE_BASE_URL": base_url.rstrip("/") + self.prefix + API}
        for t in TENANTS:
            lines[f"ONEFILE_{t.upper()}_CUSTOMER_TOKEN"] = self.customer_token(t)
        return lines

    def too_many_requests(self, retry_after: int) -> web.StreamResponse:
        response = _json({"Message": "Too Many Requests"}, 429)
        response.headers["Retry-After"] = str(retry_after)
        return response

    def server_error(self) -> web.StreamResponse:
        return _json({"Message": "An error has occurred."}, 500)

    def revoke_tokens(self, tenant: str) -> None:
        self._sessions = {k: v for k, v in self._sessions.items() if v[0] != tenant}

    # dispatch --------------------------------------------------------------------------------------
    def _endpoint(self, handler: Handler, auth: bool) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            return await self._call(request, handler, auth, request.match_info)

        return endpoint

    async def _dispatch_any_case(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        path_matched = False
        for method, regex, handler, auth in self._fallback:
            match = regex.match(tail)
            if match is None:
                continue
            path_matched = True
            if method == request.method:
                return await self._call(request, handler, auth, match.groupdict())
        if path_matched:
            return _json(
                {"Message": f"The requested resource does not support http method '{request.method}'."}, 405
            )
        return _json(
            {"Message": f"No HTTP resource was found that matches the request URI '{request.path}'."}, 404
        )

    def _denied(self) -> web.Response:
        status = int(self._opt("unauthorized_status", 401))
        if self._opt("unauthorized_body", "json") == "empty":
            return web.Response(status=status)
        return _json(DENIED, status)

    async def _call(
        self, request: web.Request, handler: Handler, auth: bool, params: Mapping[str, str]
    ) -> web.StreamResponse:
        tenant = self._anonymous  # /Authentication runs before there is a session
        if auth:
            session = self._sessions.get(request.headers.get("X-TokenID", ""))
            ttl = float(self._opt("session_ttl", 86400))
            if session is None or self.ctx.clock.now() - session[1] >= ttl:
                return self._denied()
            tenant = self.tenants[session[0]]
        try:
            return await handler(tenant, request, params)
        except RequestError as exc:
            return _json(exc.body, exc.status)
        except FieldError as exc:
            return _json({"message": str(exc)}, 400)

    # authentication --------------------------------------------------------------------------------
    async def _authenticate(
        self, _: OneFileTenant, request: web.Request, __: Mapping[str, str]
    ) -> web.Response:
        tenant = self._customer_tokens.get(request.headers.get("X-CustomerToken", ""))
        if tenant is None:
            return self._denied()
        self._issued += 1
        digest = hashlib.sha512(f"onefile:session:{self.ctx.seed}:{tenant}:{self._issued}".encode()).digest()
        token = base64.b64encode(digest).decode()
        self._sessions[token] = (tenant, self.ctx.clock.now())
        if self._opt("auth_body", "text") == "json":
            return _json(token)
        return web.Response(text=token, content_type="text/plain")

    # customer and organisations --------------------------------------------------------------------
    async def _customer(self, t: OneFileTenant, _: web.Request, __: Mapping[str, str]) -> web.Response:
        return _json(t.customer)

    async def _organisation_search(
        self, t: OneFileTenant, request: web.Request, _: Mapping[str, str]
    ) -> web.Response:
        body = await _read_body(request)
        if _required_int(body, "CustomerID") != t.customer["ID"]:
            return web.Response(status=204)
        return _json(
            [
                {
                    k: o[k]
                    for k in ("ID", "Name", "KeychainCreationForNewUserActive", "KeychainEmailSuppression")
                }
                for o in t.tables["organisation"]
            ]
        )

    # users -----------------------------------------------------------------------------------------
    def _search(self, t: OneFileTenant, body: Body) -> tuple[list[int], bool]:
        """Matching user IDs (sorted) and whether they still need the name filters applied."""
        org = _required_int(body, "OrganisationID")
        role_raw = body.get("role")
        role = None if role_raw in (None, "") else _int(role_raw, "Role")
        if role is not None and role not in ROLES:
            raise _bad(f"Role {role} is not a OneFile role; use one of {sorted(ROLES)}.")
        if org not in t.tables["organisation"].records:
            return [], False
        archived = self._opt("search_archived", "include") == "include"
        misid = body.get("misid") or None
        ids = t.user_ids(org, role, archived=archived, misid=misid)
        return ids, bool(body.get("firstname") or body.get("lastname"))

    def _name_filter(self, t: OneFileTenant, body: Body, ids: list[int]) -> list[Record]:
        users = t.users.records
        first = str(body.get("firstname") or "").strip().casefold()
        last = str(body.get("lastname") or "").strip().casefold()
        contains = self._opt("name_match", "exact") == "contains"

        def ok(value: Any, want: str) -> bool:
            if not want:
                return True
            have = str(value or "").strip().casefold()
            return want in have if contains else have == want

        out = []
        for i in ids:
            user = users[i]
            if ok(user.get("FirstName"), first) and ok(user.get("LastName"), last):
                out.append(user)
        return out

    async def _user_search(self, t: OneFileTenant, request: web.Request, _: Mapping[str, str]) -> web.Response:
        body = await _read_body(request)
        ids, by_name = self._search(t, body)
        users = self._name_filter(t, body, ids) if by_name else [t.users.records[i] for i in ids]
        if not users:
            return web.Response(status=204)
        return _json(
            [
                {
                    "ID": u["ID"],
                    "FirstName": u.get("FirstName"),
                    "LastName": u.get("LastName"),
                    "MISID": u.get("MISID"),
                }
                for u in users
            ]
        )

    async def _user_search_paged(
        self, t: OneFileTenant, request: web.Request, params: Mapping[str, str]
    ) -> web.Response:
        page = _int(params["pageNumber"], "pageNumber")
        size = _int(params["pageSize"], "pageSize")
        if page < 1:
            raise _bad(f"pageNumber must be 1 or more (got {page}); pages are numbered from 1.")
        if size < 1:
            raise _bad(f"pageSize must be 1 or more (got {size}).")
        cap = int(self._opt("max_page_size", 100))
        if cap > 0:
            size = min(size, cap)
        body = await _read_body(request)
        ids, by_name = self._search(t, body)
        start = (page - 1) * size
        if by_name:
            users = self._name_filter(t, body, ids)[start : start + size]
        else:
            records = t.users.records
            users = [records[i] for i in ids[start : start + size]]
        if not users:
            return web.Response(status=204)
        omit = self._opt("paged_empty_fields", "omit") == "omit"
        out = []
        for u in users:
            row = {k: u.get(k) for k in USER_PAGED}
            if omit:
                row = {
                    k: v
                    for k, v in row.items()
                    if v is not None or k in ("ID", "FirstName", "LastName", "MISID")
                }
            out.append(row)
        return _json(out)

    def _user(self, t: OneFileTenant, ident: str) -> Record:
        try:
            user = t.users.get(int(ident))
        except ValueError:
            user = None
        if user is None:
            raise _not_found("user", ident)
        return user

    @staticmethod
    def _full(user: Record) -> Record:
        return {k: user.get(k) for k in USER_FULL} | {"Archived": bool(user.get("Archived"))}

    async def _user_get(self, t: OneFileTenant, _: web.Request, params: Mapping[str, str]) -> web.Response:
        return _json(self._full(self._user(t, params["id"])))

    def _check_references(self, t: OneFileTenant, fields: Record) -> None:
        """Referenced IDs must exist in this customer (400 otherwise)."""
        org = fields.get("OrganisationID")
        if org is not None and org not in t.tables["organisation"].records:
            raise _bad(f"OrganisationID {org} is not an organisation of this customer.")
        role = fields.get("Role")
        if role is not None and role not in ROLES:
            raise _bad(f"Role {role} is not a OneFile role; use one of {sorted(ROLES)}.")
        assessor = fields.get("DefaultAssessorID")
        if assessor is not None:
            found = t.users.get(assessor)
            if found is None or found.get("Role") not in (ASSESSOR, TRAINEE_ASSESSOR):
                raise _bad(f"DefaultAssessorID {assessor} is not an assessor of this customer.")
        for name, table in (("ClassroomID", "classroom"), ("PlacementID", "placement")):
            value = fields.get(name)
            if value is not None and value not in t.tables[table].records:
                raise _bad(f"{name} {value} is not a {table} of this customer.")

    def _check_misid(self, t: OneFileTenant, fields: Record, own_id: int | None) -> None:
        misid = fields.get("MISID")
        if misid is None or self._opt("duplicate_misid", "allow") != "reject":
            return
        taken = t.by_misid.get(str(misid).casefold(), set()) - {own_id}
        if taken:
            raise _bad(f"A user with MISID '{misid}' already exists (ID {min(taken)}).")

    async def _user_create(self, t: OneFileTenant, request: web.Request, _: Mapping[str, str]) -> web.Response:
        fields = user_fields(await _read_body(request))
        missing = missing_field(fields)
        if missing is not None:
            raise _bad(f"The {missing} field is required.")
        self._check_references(t, fields)
        self._check_misid(t, fields, None)
        now = iso_ms(self.ctx.clock.now())
        record: Record = {k: v for k, v in fields.items() if v is not None}
        record.setdefault("CreatedOn", now)
        new_id = t.users.next_id()
        user = t.users.create(new_id, {"ID": new_id, **record, "Archived": False, "ModifiedOn": now})
        t.index(user)
        return _json(new_id)

    def _change(self, t: OneFileTenant, user: Record, changes: Record) -> Record:
        t.unindex(user)
        changes["ModifiedOn"] = iso_ms(self.ctx.clock.now())
        t.users.update(user["ID"], changes)
        t.index(user)
        return user

    async def _user_update(
        self, t: OneFileTenant, request: web.Request, params: Mapping[str, str]
    ) -> web.Response:
        user = self._user(t, params["id"])
        changes = {k: v for k, v in user_fields(await _read_body(request)).items() if v is not None}
        self._check_references(t, changes)
        self._check_misid(t, changes, user["ID"])
        return _json(self._full(self._change(t, user, changes)))

    def _set_archived(self, t: OneFileTenant, ident: str, archived: bool) -> web.Response:
        """Archive or unarchive a user; one already in that state is answered 200 again (``archive_again``
        ``accept``, the default) or refused with 400 (``refuse``): the answer is not documented."""
        user = self._user(t, ident)
        if bool(user.get("Archived")) == archived and self._opt("archive_again", "accept") == "refuse":
            raise _bad(f"User {user['ID']} is already {'archived' if archived else 'not archived'}.")
        self._change(t, user, {"Archived": archived})
        return web.Response(status=200)

    async def _user_archive(self, t: OneFileTenant, _: web.Request, params: Mapping[str, str]) -> web.Response:
        return self._set_archived(t, params["id"], True)

    async def _user_unarchive(
        self, t: OneFileTenant, _: web.Request, params: Mapping[str, str]
    ) -> web.Response:
        return self._set_archived(t, params["id"], False)

    async def _user_delete(self, t: OneFileTenant, _: web.Request, params: Mapping[str, str]) -> web.Response:
        user = self._user(t, params["id"])
        t.unindex(user)
        t.users.delete(user["ID"])
        return web.Response(status=200)

    # classrooms and placements ---------------------------------------------------------------------
    async def _list_of(self, t: OneFileTenant, request: web.Request, table: str) -> web.Response:
        org = _required_int(await _read_body(request), "OrganisationID")
        rows = [
            {"ID": r["ID"], "Name": r["Name"], "MISID": r.get("MISID")}
            for r in t.tables[table]
            if r["OrganisationID"] == org
        ]
        return _json(rows) if rows else web.Response(status=204)

    async def _classroom_search(
        self, t: OneFileTenant, request: web.Request, _: Mapping[str, str]
    ) -> web.Response:
        return await self._list_of(t, request, "classroom")

    async def _placement_search(
        self, t: OneFileTenant, request: web.Request, _: Mapping[str, str]
    ) -> web.Response:
        return await self._list_of(t, request, "placement")

    async def _placement_get(self, t: OneFileTenant, _: web.Request, params: Mapping[str, str]) -> web.Response:
        try:
            placement = t.tables["placement"].get(int(params["id"]))
        except ValueError:
            placement = None
        if placement is None:
            raise _not_found("placement", params["id"])
        return _json(placement)

    async def _placement_create(
        self, t: OneFileTenant, request: web.Request, _: Mapping[str, str]
    ) -> web.Response:
        body = await _read_body(request)
        org = _required_int(body, "OrganisationID")
        name = str(body.get("name") or "").strip()
        if not name:
            raise _bad("The Name field is required.")
        if org not in t.tables["organisation"].records:
            raise _bad(f"OrganisationID {org} is not an organisation of this customer.")
        table = t.tables["placement"]
        new_id = table.next_id()
        active = body.get("active", True)
        table.create(
            new_id,
            {
                "ID": new_id,
                "Name": name,
                "MISID": body.get("misid") or None,
                "OrganisationID": org,
                "Active": active if isinstance(active, bool) else str(active).casefold() != "false",
                "Address": body.get("address") or None,
            },
        )
        return _json(new_id)
