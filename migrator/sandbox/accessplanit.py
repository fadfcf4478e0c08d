"""accessplanit emulator: API v2 (modules, OData-like queries, token, API keys, help) and API v1 (feeds).

Served under ``/accessplanit`` with the platform's real paths: ``/accessplan/api/v2/…``,
``/accessplan/apihelp/v2/…``, ``/accessplan/api/v1/…`` (also the v1 document's ``accessplan//api/v1/…``) and the
same under ``/accessplansandbox``, the vendor's sandbox root. Both versions share one set of records per
tenant (``accessplanit_data.TenantData``). Written from accessplanit's own API v1 and v2
documents; the switches are documented in ``docs/sandbox-accessplanit.md``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiohttp import web

from migrator.sandbox.accessplanit_auth import Credentials, TokenStore, credentials_for
from migrator.sandbox.accessplanit_data import TenantData
from migrator.sandbox.accessplanit_http import Auth, json_response, message
from migrator.sandbox.accessplanit_seed import build_catalogue, build_people
from migrator.sandbox.accessplanit_v1 import V1Api
from migrator.sandbox.accessplanit_v2 import V2Api
from migrator.sandbox.generator import Population
from migrator.sandbox.platform import TENANTS, Context, Platform

ROOTS = ("/accessplan", "/accessplansandbox")


class AccessPlanItPlatform(Platform):
    name: ClassVar[str] = "accessplanit"
    prefix: ClassVar[str] = "/accessplanit"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.tokens = TokenStore(ctx.clock)
        self.auth = Auth(ctx, self.tokens)
        self.data: dict[str, TenantData] = {}
        for tenant in TENANTS:
            self._ensure_tenant(tenant)
        self.v2 = V2Api(self.auth, self.data)
        self.v1 = V1Api(self.auth, self.data)

    def reinitialise(self, ctx: Context) -> None:
        """Routes are bound to ``self.auth`` (token endpoint), ``self.v1`` and ``self.v2``: keep those objects
        across a reset and give them the fresh state (otherwise tokens would come from the old store and
        writes land in the old records, invisible to ``/_sandbox/stats``)."""
        kept = (self.auth, self.v1, self.v2)
        super().reinitialise(ctx)
        for old, fresh in zip(kept, (self.auth, self.v1, self.v2), strict=True):
            vars(old).clear()
            vars(old).update(vars(fresh))
        self.auth, self.v1, self.v2 = kept
        self.v1.auth = self.v2.auth = self.auth

    @property
    def credentials(self) -> dict[str, Credentials]:
        return self.auth.credentials

    def _ensure_tenant(self, tenant: str) -> None:
        if tenant not in self.auth.credentials:
            self.auth.add(credentials_for(self.ctx.seed, tenant))
        if tenant not in self.data:
            self.data[tenant] = TenantData(tenant, self.ctx.clock)
            self.tables[tenant] = self.data[tenant].tables

    # Platform ------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        for root in ROOTS:
            base = f"{self.prefix}{root}"
            self.v2.add_routes(app, base)
            self.v1.add_routes(app, f"{base}/api/v1")
            self.v1.add_routes(app, f"{base}//api/v1")

    def seed(self, population: Population, tenant: str) -> None:
        self._ensure_tenant(tenant)
        data = TenantData(tenant, self.ctx.clock)  # a re-seed starts from empty tables
        self.data[tenant] = data
        self.tables[tenant] = data.tables
        catalogue = build_catalogue(population, data.ids, self.ctx.clock.now())
        if tenant == "source":
            people = build_people(population, data.ids, catalogue)
            data.load("company", people.companies)
            data.load("user", people.users)
            data.load("companygroup", people.groups)
            data.load("usercoursedate", people.bookings)
        data.load("course", catalogue.courses)
        data.load("coursedate", catalogue.coursedates)

    def tenant_of(self, request: web.Request) -> str | None:
        tenant = self.auth.tenant_of(request)
        if tenant is None and request.path.endswith("/token"):
            cred = self.auth.by_username.get(request.query.get("username", "").strip().casefold())
            tenant = cred.tenant if cred is not None else None
        return tenant

    def info(self, base_url: str) -> dict[str, Any]:
        root = f"{base_url}{self.prefix}/accessplan"
        return {
            "base_url_v1": f"{root}/api/v1",
            "base_url_v2": f"{root}/api/v2",
            "tenants": [
                {"name": c.tenant, "username": c.username, "password": c.password, "api_key": c.api_key}
                for c in self.credentials.values()
            ],
        }

    def env_lines(self, base_url: str) -> dict[str, str]:
        info = self.info(base_url)
        lines = {
            "ACCESSPLANIT_V1_BASE_URL": info["base_url_v1"],
            "ACCESSPLANIT_V2_BASE_URL": info["base_url_v2"],
        }
        for c in self.credentials.values():
            stem = f"ACCESSPLANIT_{c.tenant.upper()}"
            lines[f"{stem}_USERNAME"] = c.username
            lines[f"{stem}_PASSWORD"] = c.password
            lines[f"{stem}_API_KEY"] = c.api_key
        return lines

    def too_many_requests(self, retry_after: int) -> web.StreamResponse:
        return message(429, "Rate limit exceeded", {"Retry-After": str(retry_after)})

    def server_error(self) -> web.StreamResponse:
        return json_response({"Message": "An error has occurred."}, 500)

    def revoke_tokens(self, tenant: str) -> None:
        self.tokens.revoke(tenant)
