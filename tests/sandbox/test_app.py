"""The assembled sandbox over real HTTP: routing under prefixes, faults seen by clients, the thread starter."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import urllib.request

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from migrator.sandbox.app import SandboxThread, build_app, default_platform_classes
from migrator.sandbox.config import PLATFORM_NAMES, SandboxConfig
from tests.conftest import FAKES, FakePlatform, MakeSandbox

SRC = {"X-Key": "fake-source-7"}


def cfg(faults: str = "", **kwargs: object) -> SandboxConfig:
    return SandboxConfig(seed=7, scale=50, default_limits=False, faults=faults, **kwargs)  # type: ignore[arg-type]


async def test_platforms_are_served_under_their_prefixes(make_sandbox: MakeSandbox) -> None:
    async with make_sandbox(cfg(), platform_classes=FAKES) as sb, aiohttp.ClientSession() as http:
        assert sb.base_url.startswith("http://127.0.0.1:")
        assert set(sb.platforms) == {"fake", "other"}
        async with http.get(sb.url("/fake/api/items"), headers=SRC) as resp:
            assert resp.status == 200
            assert len(await resp.json()) == 50
        async with http.get(sb.url("/other/api/items"), headers={"X-Key": "other-source-7"}) as resp:
            assert resp.status == 200
        async with http.get(sb.url("/fake/api/items"), headers={"X-Key": "fake-target-7"}) as resp:
            assert await resp.json() == []  # the target tenant holds no population
        async with http.get(sb.url("/nowhere")) as resp:
            assert resp.status == 404


async def test_only_selected_platforms_are_served(make_sandbox: MakeSandbox) -> None:
    config = cfg()
    config.platforms = ("fake",)  # a test-only name: bypasses the check of real platform names
    async with make_sandbox(config, platform_classes=FAKES) as sb, aiohttp.ClientSession() as http:
        assert set(sb.platforms) == {"fake"}
        async with http.get(sb.url("/other/api/items"), headers={"X-Key": "other-source-7"}) as resp:
            assert resp.status == 404


async def test_lost_response_write_takes_effect(make_sandbox: MakeSandbox) -> None:
    async with (
        make_sandbox(cfg("fake/items:lose_rate=1"), platform_classes=FAKES) as sb,
        aiohttp.ClientSession() as http,
    ):
        with pytest.raises(aiohttp.ClientError):
            async with http.post(sb.url("/fake/api/items"), headers=SRC, json={"email": "lost@example.com"}):
                pass
        async with http.get(sb.url("/fake/api/items"), headers=SRC) as resp:
            assert resp.status == 200  # reads are not lost
        async with http.get(sb.url("/_sandbox/records/fake/source/item")) as resp:
            lines = (await resp.text()).splitlines()
        assert any(json.loads(line).get("email") == "lost@example.com" for line in lines)
        stats = sb.state.stats
        assert stats.faults["lost"] == 1
        assert sb.platforms["fake"].table("source", "item").creates == 1


async def test_reset_leaves_no_effect(make_sandbox: MakeSandbox) -> None:
    async with (
        make_sandbox(cfg("fake:reset_rate=1,methods=POST"), platform_classes=FAKES) as sb,
        aiohttp.ClientSession() as http,
    ):
        with pytest.raises(aiohttp.ClientError):
            async with http.post(sb.url("/fake/api/items"), headers=SRC, json={"email": "x@example.com"}):
                pass
        assert sb.platforms["fake"].table("source", "item").creates == 0
        assert sb.state.stats.faults["reset"] == 1


async def test_server_errors_use_the_platform_format(make_sandbox: MakeSandbox) -> None:
    async with (
        make_sandbox(cfg("other:error_rate=1"), platform_classes=FAKES) as sb,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(sb.url("/other/api/items"), headers={"X-Key": "other-source-7"}) as resp:
            assert resp.status == 503
            assert await resp.json() == {"error": "Service Unavailable"}
        async with http.get(sb.url("/fake/api/items"), headers=SRC) as resp:
            assert resp.status == 200  # the rule is scoped to "other"
        assert sb.state.stats.statuses == {"other": {503: 1}, "fake": {200: 1}}


async def test_error_rate_is_a_fraction_and_reproducible(make_sandbox: MakeSandbox) -> None:
    async def statuses() -> list[int]:
        async with (
            make_sandbox(cfg("fake:error_rate=0.3"), platform_classes=FAKES) as sb,
            aiohttp.ClientSession() as http,
        ):
            out = []
            for _ in range(60):
                async with http.get(sb.url("/fake/api/items/1"), headers=SRC) as resp:
                    out.append(resp.status)
            return out

    first, second = await statuses(), await statuses()
    assert first == second
    assert 5 <= first.count(503) <= 35
    assert set(first) == {200, 503}


async def test_stall_outlasts_a_client_timeout(make_sandbox: MakeSandbox) -> None:
    async with make_sandbox(cfg("fake:stall_rate=1,stall=30s"), platform_classes=FAKES) as sb:
        timeout = aiohttp.ClientTimeout(total=0.2)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            with pytest.raises(asyncio.TimeoutError):
                async with http.get(sb.url("/fake/api/items"), headers=SRC):
                    pass
        assert sb.state.stats.faults["stall"] == 1


async def test_latency_is_applied_through_the_injected_sleep() -> None:
    """The middleware sleeps the drawn latency before the handler (sleep injected: no real waiting)."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    app = build_app(cfg("fake:latency=20-80ms"), platform_classes=FAKES, sleep=fake_sleep)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        for _ in range(5):
            resp = await client.get("/fake/api/items/1", headers=SRC)
            assert resp.status == 200
        resp = await client.get("/other/api/items/1", headers={"X-Key": "other-source-7"})
        assert resp.status == 200
    assert len(slept) == 5
    assert all(0.02 <= s <= 0.08 for s in slept)
    assert len(set(slept)) > 1


def test_sandbox_thread_serves_synchronous_clients() -> None:
    with SandboxThread(cfg(), platform_classes=FAKES) as thread:
        request = urllib.request.Request(thread.base_url + "/fake/api/items/2", headers=SRC)
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert json.loads(resp.read())["id"] == 2
        base = thread.base_url
    with pytest.raises(OSError):
        urllib.request.urlopen(base + "/_sandbox/info", timeout=2)


def test_sandbox_thread_reports_a_failed_start() -> None:
    class Broken(FakePlatform):
        def seed(self, population: object, tenant: str) -> None:  # type: ignore[override]
            raise ValueError("seed exploded")

    with pytest.raises(RuntimeError, match="seed exploded"):
        SandboxThread(cfg(), platform_classes=[Broken]).start()


MISSING = [n for n in PLATFORM_NAMES if importlib.util.find_spec(f"migrator.sandbox.{n}") is None]


@pytest.mark.skipif(bool(MISSING), reason=f"emulator modules not written yet: {MISSING}")
async def test_the_full_sandbox_serves_all_four_platforms(sandbox) -> None:  # type: ignore[no-untyped-def]
    assert [cls.name for cls in default_platform_classes()] == list(PLATFORM_NAMES)
    async with aiohttp.ClientSession() as http, http.get(sandbox.url("/_sandbox/info")) as resp:
        info = await resp.json()
    assert set(info["platforms"]) == set(PLATFORM_NAMES)
    assert info["platforms"]["velpic"]["base_url"] == sandbox.base_url + "/velpic/api/v2"
    assert sandbox.env()["VELPIC_BASE_URL"] == sandbox.base_url + "/velpic/api/v2"


@pytest.mark.skipif(bool(MISSING), reason=f"emulator modules not written yet: {MISSING}")
async def test_reset_reseeds_the_real_emulators(sandbox) -> None:  # type: ignore[no-untyped-def]
    async with aiohttp.ClientSession() as http:
        async with http.post(sandbox.url("/_sandbox/reset"), json={"seed": 8, "scale": 30}) as resp:
            assert resp.status == 200
        async with http.get(sandbox.url("/_sandbox/stats")) as resp:
            records = (await resp.json())["records"]
        async with http.get(sandbox.url("/_sandbox/info")) as resp:
            velpic = (await resp.json())["platforms"]["velpic"]
        key = velpic["tenants"][0]["access_key"]
        async with http.get(velpic["base_url"] + "/user?maxResults=5", headers={"AccessKey": key}) as resp:
            assert resp.status == 200  # the routes bound at start-up serve the re-initialised emulator
    assert {name: records[name]["source"]["user"]["count"] for name in PLATFORM_NAMES} == dict.fromkeys(
        PLATFORM_NAMES, 30
    )
    assert {name: records[name]["target"]["user"]["creates"] for name in PLATFORM_NAMES} == dict.fromkeys(
        PLATFORM_NAMES, 0
    )
