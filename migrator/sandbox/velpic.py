"""Emulator of the Velpic / Damstra Learning Public API v2, under ``/velpic/api/v2/…``.

Written from Velpic's own document (Damstra Learning API v2); every [ASSUMED] / [AMBIG] behaviour is a
``velpic.*`` option documented in
``docs/sandbox-velpic.md``. One client account per tenant (``source``, ``target``), each with one static
``AccessKey``; ``revoke_tokens`` regenerates a tenant's key (the old one stops working at once).

The handlers live in ``velpic_users``, ``velpic_groups``, ``velpic_lessons`` and ``velpic_ilt``; the state of
one account in ``velpic_state``; seeding in ``velpic_seed``; wire formats in ``velpic_format``.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import structlog
from aiohttp import web

from migrator.sandbox import velpic_groups as groups
from migrator.sandbox import velpic_ilt as ilt
from migrator.sandbox import velpic_lessons as lessons
from migrator.sandbox import velpic_users as users
from migrator.sandbox.generator import Population
from migrator.sandbox.platform import TENANTS, Context, Platform
from migrator.sandbox.velpic_format import (
    E429,
    E500,
    E806_LONG,
    E806_SHORT,
    E831,
    ApiError,
    json_response,
    raw_json,
)
from migrator.sandbox.velpic_seed import seed_source, seed_target
from migrator.sandbox.velpic_state import PLATFORM, VelpicTenant

Handler = Callable[[VelpicTenant, web.Request], Awaitable[web.StreamResponse]]

log = structlog.get_logger(__name__)

API = "/api/v2"
ID_BASES = {"source": 1_000_000, "target": 50_000_000}
CLIENT_IDS = {"source": 7601, "target": 7602}

# (method, path under /api/v2, handler, short 806 body?) — the short "Token not valid" body is [DOC] on the
# group list/get, lesson lists and ILT list/get/attendees; every other endpoint answers the long body.
ROUTES: tuple[tuple[str, str, Handler, bool], ...] = (
    ("GET", "/user", users.list_users, False),
    ("POST", "/user", users.create_user, False),
    ("GET", "/user/{userId}", users.get_user, False),
    ("PUT", "/user/{userId}", users.update_user, False),
    ("POST", "/user/{userId}", users.update_user, False),
    ("POST", "/user/{userId}/activate", users.activate_user, False),
    ("POST", "/user/{userId}/inactivate", users.inactivate_user, False),
    ("POST", "/user/{userId}/generate_login_url", users.generate_login_url, False),
    ("POST", "/bulkUserImport", users.bulk_user_import, False),
    ("GET", "/group", groups.list_groups, True),
    ("POST", "/group", groups.create_group, False),
    ("GET", "/group/{groupId}", groups.get_group, True),
    ("POST", "/group/{groupId}", groups.update_group, False),
    ("GET", "/group/{groupId}/member", groups.list_members, False),
    ("POST", "/group/{groupId}/add_members", groups.add_members, False),
    ("POST", "/group/{groupId}/remove_members", groups.remove_members, False),
    ("GET", "/group/{groupId}/supervisor", groups.list_supervisors, False),
    ("POST", "/group/{groupId}/add_supervisors", groups.add_supervisors, False),
    ("POST", "/group/{groupId}/remove_supervisors", groups.remove_supervisors, False),
    ("POST", "/group/{groupId}/inactivate", groups.inactivate_group, False),
    ("GET", "/lesson", lessons.list_lessons, True),
    ("GET", "/lessondetails", lessons.list_lesson_details, True),
    ("GET", "/user/{userId}/lesson_schedule", lessons.list_user_schedules, False),
    ("POST", "/user/{userId}/lesson_schedule", lessons.schedule_user, False),
    ("GET", "/lesson_schedule/{lessonScheduleId}", lessons.get_schedule, False),
    ("POST", "/lesson_schedule/{userId}/complete_lesson", lessons.complete_lesson, False),
    ("GET", "/lesson_schedule/{lessonScheduleId}/certificate", lessons.certificate, False),
    ("GET", "/embed_player", lessons.embed_player, False),
    ("GET", "/embed_player/version/{lessonScheduleId}", lessons.embed_player_version, False),
    ("GET", "/ilt_session", ilt.list_sessions, True),
    ("POST", "/ilt_session", ilt.create_session, False),
    ("GET", "/ilt_session/{iltSessionId}", ilt.get_session, True),
    ("PATCH", "/ilt_session/{iltSessionId}", ilt.update_session, False),
    ("POST", "/ilt_session/{iltSessionId}/complete", ilt.complete_session, False),
    ("POST", "/ilt_session/{iltSessionId}/cancel_session", ilt.cancel_session, False),
    ("POST", "/ilt_session/{iltSessionId}/bulk_register", ilt.bulk_register, False),
    ("POST", "/ilt_session/{iltSessionId}/bulk_deregister", ilt.bulk_deregister, False),
    ("GET", "/ilt_session/{iltSessionId}/attendees", ilt.list_attendees, True),
    ("POST", "/ilt_session/{iltSessionId}/save_progress", ilt.save_progress, False),
)


class VelpicPlatform(Platform):
    """Velpic / Damstra Learning API v2: two client accounts, each with one static AccessKey."""

    name: ClassVar[str] = "velpic"
    prefix: ClassVar[str] = "/velpic"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.state: dict[str, VelpicTenant] = {}
        self._generation: dict[str, int] = {}
        self._key_of: dict[str, str] = {}  # tenant → its current key
        self._tenant_of_key: dict[str, str] = {}  # key → tenant
        for tenant in TENANTS:
            self._new_state(tenant)
            self._issue_key(tenant)

    # -- tenants and keys -------------------------------------------------------------------------------------
    def _new_state(self, tenant: str) -> VelpicTenant:
        state = VelpicTenant(
            tenant,
            self.ctx,
            client_id=CLIENT_IDS.get(tenant, 7600 + len(self.state) + 1),
            id_base=ID_BASES.get(tenant, 90_000_000 + 1_000_000 * len(self.state)),
        )
        self.state[tenant] = state
        self.tables[tenant] = state.tables
        return state

    def _issue_key(self, tenant: str) -> None:
        generation = self._generation.get(tenant, -1) + 1
        self._generation[tenant] = generation
        digest = hashlib.sha256(f"velpic:{tenant}:{self.ctx.seed}:{generation}".encode()).hexdigest()[:24]
        key = f"vk-{tenant}-{self.ctx.seed:04d}-{digest}"
        old = self._key_of.get(tenant)
        if old is not None:
            self._tenant_of_key.pop(old, None)
        self._key_of[tenant] = key
        self._tenant_of_key[key] = tenant

    def access_key(self, tenant: str) -> str:
        return self._key_of[tenant]

    def revoke_tokens(self, tenant: str) -> None:
        """Regenerate ``tenant``'s AccessKey ([DOC]: regenerating invalidates the old key immediately)."""
        self._issue_key(tenant)

    def tenant_of(self, request: web.Request) -> str | None:
        key = request.headers.get("AccessKey")  # CIMultiDict: the header name is case-insensitive
        return self._tenant_of_key.get(key.strip()) if key else None

    # -- Platform ---------------------------------------------------------------------------------------------
    def seed(self, population: Population, tenant: str) -> None:
        state = self._new_state(tenant)
        if tenant not in self._key_of:
            self._issue_key(tenant)
        # The cyclic GC would walk every new dict several times while hundreds of thousands are built:
        # pausing it halves the seeding time. Nothing here creates reference cycles.
        paused = gc.isenabled()
        gc.disable()
        try:
            if tenant == "source":
                millis = self.ctx.option(PLATFORM, "user_date_format", "offset") == "millis"
                seed_source(state, population, millis=millis)
            else:
                seed_target(state, population)
        finally:
            if paused:
                gc.enable()

    def info(self, base_url: str) -> dict[str, Any]:
        return {
            "base_url": base_url.rstrip("/") + self.prefix + API,
            "tenants": [{"name": tenant, "access_key": key} for tenant, key in self._key_of.items()],
        }

    def env_lines(self, base_url: str) -> dict[str, str]:
        lines = {"VELPIC_BASE_URL": base_url.rstrip("/") + self.prefix + API}
        for tenant, key in self._key_of.items():
            lines[f"VELPIC_{tenant.upper()}_ACCESS_KEY"] = key
        return lines

    def too_many_requests(self, retry_after: int) -> web.StreamResponse:
        response = raw_json(E429, 429)
        response.headers["Retry-After"] = str(retry_after)
        return response

    def server_error(self) -> web.StreamResponse:
        return raw_json(E500, 503)

    # -- routes -----------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        for method, path, handler, short in ROUTES:
            route = self._wrap(method, path, handler, short)
            full = self.prefix + API + path
            app.router.add_route(method, full, route)
            app.router.add_route(method, full + "/", route)  # the doc's own example calls GET /user/?roleId=3

    def _denied(self, tenant: str, route: str) -> bool:
        """``velpic.denied``: routes (``"POST /bulkUserImport"``, ``"*"``, ``"target:*"`` …) answered 831."""
        denied = self.ctx.option(PLATFORM, "denied", ())
        if not denied:
            return False
        if isinstance(denied, str):  # from the command line: comma-separated
            denied = [part.strip() for part in denied.split(",")]
        return any(c in denied for c in (route, "*", f"{tenant}:{route}", f"{tenant}:*"))

    def _wrap(self, method: str, path: str, handler: Handler, short: bool) -> Callable[..., Any]:
        route = f"{method} {path}"
        invalid = E806_SHORT if short else E806_LONG

        async def endpoint(request: web.Request) -> web.StreamResponse:
            tenant = self.tenant_of(request)
            if tenant is None:
                return raw_json(invalid, 403)
            if self._denied(tenant, route):
                return raw_json(E831, 403)
            try:
                return await handler(self.state[tenant], request)
            except ApiError as exc:
                return json_response(exc.body, exc.status)
            except web.HTTPException:
                raise
            except Exception:
                log.exception("velpic_handler_failed", route=route, tenant=tenant)
                return self.server_error()

        return endpoint
