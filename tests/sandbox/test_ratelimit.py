"""Rate budgets through real HTTP: 429 + Retry-After, time scale, clock advance, credential/endpoint keys."""

from __future__ import annotations

from typing import ClassVar

import aiohttp

from migrator.sandbox.app import RunningSandbox
from migrator.sandbox.config import SandboxConfig
from tests.conftest import FAKES, FakePlatform, MakeSandbox

SRC = {"X-Key": "fake-source-7"}
TGT = {"X-Key": "fake-target-7"}


def cfg(faults: str = "", *, time_scale: float = 1.0, default_limits: bool = False) -> SandboxConfig:
    return SandboxConfig(seed=7, scale=20, faults=faults, time_scale=time_scale, default_limits=default_limits)


async def hit(
    http: aiohttp.ClientSession, sb: RunningSandbox, path: str, headers: dict[str, str]
) -> tuple[int, str | None]:
    async with http.get(sb.url(path), headers=headers) as resp:
        await resp.read()
        return resp.status, resp.headers.get("Retry-After")


async def advance(http: aiohttp.ClientSession, sb: RunningSandbox, seconds: float) -> None:
    async with http.post(sb.url("/_sandbox/clock"), json={"advance": seconds}) as resp:
        assert resp.status == 200


async def test_over_budget_gets_429_with_retry_after_until_the_window_passes(make_sandbox: MakeSandbox) -> None:
    async with (
        make_sandbox(cfg("fake:rate=3/h,window=fixed"), platform_classes=FAKES) as sb,
        aiohttp.ClientSession() as http,
    ):
        for _ in range(3):
            assert (await hit(http, sb, "/fake/api/items/1", SRC))[0] == 200
        status, retry_after = await hit(http, sb, "/fake/api/items/1", SRC)
        assert status == 429
        assert retry_after is not None and 1 <= int(retry_after) <= 3600
        await advance(http, sb, 3600)
        assert (await hit(http, sb, "/fake/api/items/1", SRC))[0] == 200
        async with http.get(sb.url("/_sandbox/stats")) as resp:
            stats = await resp.json()
    assert stats["rate_limited"] == 1
    assert stats["statuses"]["fake"] == {"200": 4, "429": 1}


async def test_time_scale_shortens_retry_after_and_windows(make_sandbox: MakeSandbox) -> None:
    """At time scale 60 an hourly window lasts a real minute: Retry-After is given in real seconds."""
    async with (
        make_sandbox(cfg("fake:rate=2/h", time_scale=60.0), platform_classes=FAKES) as sb,
        aiohttp.ClientSession() as http,
    ):
        statuses = [(await hit(http, sb, "/fake/api/items/1", SRC)) for _ in range(3)]
        assert [s for s, _ in statuses] == [200, 200, 429]
        retry_after = statuses[2][1]
        assert retry_after is not None and 50 <= int(retry_after) <= 60  # ≈ 3600 sandbox s / 60
        await advance(http, sb, 3600)
        assert (await hit(http, sb, "/fake/api/items/1", SRC))[0] == 200


async def test_real_time_retry_after_counts_sandbox_seconds(make_sandbox: MakeSandbox) -> None:
    async with (
        make_sandbox(cfg("fake:rate=1/m"), platform_classes=FAKES) as sb,
        aiohttp.ClientSession() as http,
    ):
        await hit(http, sb, "/fake/api/items/1", SRC)
        status, retry_after = await hit(http, sb, "/fake/api/items/1", SRC)
        assert status == 429
        assert retry_after is not None and 55 <= int(retry_after) <= 60
        await advance(http, sb, 30)
        status, retry_after = await hit(http, sb, "/fake/api/items/1", SRC)
        assert status == 429 and retry_after is not None and 25 <= int(retry_after) <= 30
        await advance(http, sb, 30)
        assert (await hit(http, sb, "/fake/api/items/1", SRC))[0] == 200


async def test_budgets_are_per_credential(make_sandbox: MakeSandbox) -> None:
    async with (
        make_sandbox(cfg("fake:rate=2/h"), platform_classes=FAKES) as sb,
        aiohttp.ClientSession() as http,
    ):
        assert [(await hit(http, sb, "/fake/api/items/1", SRC))[0] for _ in range(3)] == [200, 200, 429]
        assert (await hit(http, sb, "/fake/api/items", TGT))[0] == 200
        assert (await hit(http, sb, "/fake/api/items", SRC))[0] == 429  # per credential: all routes share


async def test_budgets_per_endpoint_key_on_the_route_template(make_sandbox: MakeSandbox) -> None:
    async with (
        make_sandbox(cfg("fake:rate=2/h,per=endpoint"), platform_classes=FAKES) as sb,
        aiohttp.ClientSession() as http,
    ):
        # /items/1 and /items/2 are one endpoint (route template /fake/api/items/{id}) ...
        assert (await hit(http, sb, "/fake/api/items/1", SRC))[0] == 200
        assert (await hit(http, sb, "/fake/api/items/2", SRC))[0] == 200
        assert (await hit(http, sb, "/fake/api/items/3", SRC))[0] == 429
        # ... the list is another, and the other credential has its own budgets.
        assert (await hit(http, sb, "/fake/api/items", SRC))[0] == 200
        assert (await hit(http, sb, "/fake/api/items/3", TGT))[0] == 404  # reached the handler: empty target


async def test_scoped_budget_and_no_retry_after(make_sandbox: MakeSandbox) -> None:
    async with (
        make_sandbox(cfg("fake/items/*:rate=1/h,no_retry_after=true"), platform_classes=FAKES) as sb,
        aiohttp.ClientSession() as http,
    ):
        await hit(http, sb, "/fake/api/items/1", SRC)
        assert await hit(http, sb, "/fake/api/items/1", SRC) == (429, None)
        assert [(await hit(http, sb, "/fake/api/items", SRC))[0] for _ in range(3)] == [200] * 3


async def test_burst_of_429s_without_retry_after(make_sandbox: MakeSandbox) -> None:
    async with (
        make_sandbox(cfg("fake:burst=2,no_retry_after=true"), platform_classes=FAKES) as sb,
        aiohttp.ClientSession() as http,
    ):
        results = [await hit(http, sb, "/fake/api/items/1", SRC) for _ in range(3)]
    assert results == [(429, None), (429, None), (200, None)]
    assert sb.state.stats.faults["throttled"] == 2


class OneFileLike(FakePlatform):
    """A fake carrying the OneFile name, so the documented OneFile budget (on by default) applies to it."""

    name: ClassVar[str] = "onefile"
    prefix: ClassVar[str] = "/onefile"


async def test_documented_onefile_budget_is_on_by_default_and_can_be_turned_off(
    make_sandbox: MakeSandbox,
) -> None:
    headers = {"X-Key": "onefile-source-7"}
    async with (
        make_sandbox(cfg(default_limits=True), platform_classes=[OneFileLike]) as sb,
        aiohttp.ClientSession() as http,
    ):
        statuses = [(await hit(http, sb, "/onefile/api/items/1", headers))[0] for _ in range(301)]
        assert statuses.count(200) == 300 and statuses[-1] == 429
        assert (await hit(http, sb, "/onefile/api/items", {"X-Key": "onefile-target-7"}))[0] == 200
        await advance(http, sb, 60)  # sliding 60 s window: everything has left it
        assert (await hit(http, sb, "/onefile/api/items/1", headers))[0] == 200
        async with http.post(sb.url("/_sandbox/faults"), json={"default_limits": False}) as resp:
            assert (await resp.json())["rules"] == []
        assert [(await hit(http, sb, "/onefile/api/items", headers))[0] for _ in range(301)] == [200] * 301


async def test_control_api_is_never_limited(make_sandbox: MakeSandbox) -> None:
    async with (
        make_sandbox(cfg("fake:rate=1/h;fake:error_rate=1"), platform_classes=FAKES) as sb,
        aiohttp.ClientSession() as http,
    ):
        for _ in range(5):
            async with http.get(sb.url("/_sandbox/stats")) as resp:
                assert resp.status == 200
                assert (await resp.json())["requests"] == []
