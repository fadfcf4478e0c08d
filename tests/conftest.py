"""Shared fixtures: the whole sandbox on a random loopback port, async (``sandbox``) or in a thread
(``sandbox_thread``), plus ``make_sandbox`` for a custom config and ``FakePlatform``, a minimal emulator for
testing the sandbox infrastructure itself (app, middleware, control API) independently of the real ones;
``sandbox_profile``, which runs every test that takes it once per sandbox profile; and the order the test
folders run in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from aiohttp import web

from migrator.sandbox.app import PlatformClasses, RunningSandbox, SandboxThread, running_sandbox
from migrator.sandbox.config import PROFILES, SandboxConfig
from migrator.sandbox.generator import Population
from migrator.sandbox.platform import Context, Platform
from migrator.sandbox.store import Table


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


class FakePlatform(Platform):
    """``/fake/api/items``: list, get, create (POST), update (PUT); auth by ``X-Key``; tenants source/target."""

    name: ClassVar[str] = "fake"
    prefix: ClassVar[str] = "/fake"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.keys = {f"{self.name}-source-{ctx.seed}": "source", f"{self.name}-target-{ctx.seed}": "target"}
        self.revoked: set[str] = set()

    def key(self, tenant: str) -> str:
        return next(k for k, t in self.keys.items() if t == tenant)

    # Platform ------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        base = self.prefix + "/api/items"
        app.router.add_get(base, self.list_items)
        app.router.add_post(base, self.create_item)
        app.router.add_get(base + "/{id}", self.get_item)
        app.router.add_put(base + "/{id}", self.update_item)

    def seed(self, population: Population, tenant: str) -> None:
        table = Table("item", natural_keys=("email",))
        self.tables[tenant] = {"item": table}
        if tenant == "source":
            for person in population.people:
                table.load(
                    person.idx + 1, {"id": person.idx + 1, "name": person.first_name, "email": person.email}
                )

    def tenant_of(self, request: web.Request) -> str | None:
        return self.keys.get(request.headers.get("X-Key", ""))

    def info(self, base_url: str) -> dict[str, Any]:
        return {
            "base_url": base_url + self.prefix + "/api",
            "tenants": [{"name": t, "key": k} for k, t in self.keys.items()],
        }

    def env_lines(self, base_url: str) -> dict[str, str]:
        up = self.name.upper()
        return {
            f"{up}_BASE_URL": base_url + self.prefix + "/api",
            f"{up}_SOURCE_KEY": self.key("source"),
            f"{up}_TARGET_KEY": self.key("target"),
        }

    def too_many_requests(self, retry_after: int) -> web.StreamResponse:
        response = _json({"error": "Too Many Requests"}, 429)
        response.headers["Retry-After"] = str(retry_after)
        return response

    def server_error(self) -> web.StreamResponse:
        return _json({"error": "Service Unavailable"}, 503)

    def revoke_tokens(self, tenant: str) -> None:
        self.revoked.add(tenant)

    # handlers ------------------------------------------------------------------------------------------
    def _auth(self, request: web.Request) -> str:
        tenant = self.tenant_of(request)
        if tenant is None or tenant in self.revoked:
            raise web.HTTPUnauthorized(text='{"error": "bad key"}', content_type="application/json")
        return tenant

    async def list_items(self, request: web.Request) -> web.Response:
        table = self.table(self._auth(request), "item")
        return _json(list(table))

    async def get_item(self, request: web.Request) -> web.Response:
        record = self.table(self._auth(request), "item").get(int(request.match_info["id"]))
        return _json(record) if record is not None else _json({"error": "not found"}, 404)

    async def create_item(self, request: web.Request) -> web.Response:
        table = self.table(self._auth(request), "item")
        body = await request.json(loads=orjson.loads)
        item_id = table.next_id()
        return _json(table.create(item_id, {"id": item_id, **body}), 201)

    async def update_item(self, request: web.Request) -> web.Response:
        table = self.table(self._auth(request), "item")
        item_id = int(request.match_info["id"])
        if table.get(item_id) is None:
            return _json({"error": "not found"}, 404)
        return _json(table.update(item_id, await request.json(loads=orjson.loads)))


class OtherPlatform(FakePlatform):
    """A second fake, to show that rules and stats are per platform."""

    name: ClassVar[str] = "other"
    prefix: ClassVar[str] = "/other"


FAKES: PlatformClasses = (FakePlatform, OtherPlatform)

MakeSandbox = Callable[..., AbstractAsyncContextManager[RunningSandbox]]

#: the folders under tests/ in the order their files run: the long end-to-end and chaos files first, so that
#: under ``make test`` (a file to a worker) the many short files fill the end instead of one long file alone
FOLDER_ORDER = ("e2e", "chaos", "security", "sandbox", "unit")
TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Sorted by folder (:data:`FOLDER_ORDER`); within a folder the order pytest chose is kept."""

    def rank(item: pytest.Item) -> int:
        folder = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
        return FOLDER_ORDER.index(folder) if folder in FOLDER_ORDER else len(FOLDER_ORDER)

    items.sort(key=rank)


@pytest.fixture(scope="session", params=tuple(PROFILES))
def sandbox_profile(request: pytest.FixtureRequest) -> str:
    """A sandbox profile (``SandboxConfig(profile=…)``): a route test's sandbox that takes it runs the route
    under each, the [ASSUMED] defaults and every switch at its least convenient value."""
    profile: str = request.param
    return profile


@pytest.fixture
def make_sandbox() -> MakeSandbox:
    """``async with make_sandbox(SandboxConfig(...), platform_classes=FAKES) as sb: ...`` on a free port."""

    def make(config: SandboxConfig | None = None, **kwargs: Any) -> AbstractAsyncContextManager[RunningSandbox]:
        return running_sandbox(config or SandboxConfig(seed=7, scale=50, default_limits=False), **kwargs)

    return make


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    """The full sandbox (all four emulators, seed 7, 200 people, documented limits OFF) on a free port."""
    async with running_sandbox(SandboxConfig(seed=7, scale=200, default_limits=False)) as running:
        yield running


@pytest.fixture
def sandbox_thread() -> Iterator[SandboxThread]:
    """Like ``sandbox`` but served from a background thread, for synchronous code and subprocess tests."""
    thread = SandboxThread(SandboxConfig(seed=7, scale=200, default_limits=False))
    with thread:
        yield thread
