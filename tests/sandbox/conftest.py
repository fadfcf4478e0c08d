"""Fixtures for emulator conformance tests: one platform, seeded, served on loopback over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from migrator.sandbox.clock import Clock
from migrator.sandbox.generator import generate
from migrator.sandbox.platform import TENANTS, Context, Platform


@asynccontextmanager
async def serve_platform(
    platform_cls: type[Platform],
    *,
    seed: int = 7,
    scale: int = 200,
    dirty: float = 0.0,
    options: dict[str, Any] | None = None,
    time_scale: float = 1.0,
) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], Platform]]:
    ctx = Context(clock=Clock(time_scale), seed=seed, options=dict(options or {}))
    platform = platform_cls(ctx)
    population = generate(seed=seed, scale=scale, dirty=dirty)
    for tenant in TENANTS:
        platform.seed(population, tenant)
    app = web.Application()
    platform.add_routes(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, platform


@pytest.fixture
def platform_server() -> Callable[..., Any]:
    """``async with platform_server(VelpicPlatform, scale=50) as (client, platform): ...``"""
    return serve_platform
