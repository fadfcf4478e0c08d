"""The control API (/_sandbox/*) through real HTTP: shapes, counts, reset, faults, revoke, clock, options."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from migrator.sandbox.app import RunningSandbox
from migrator.sandbox.config import SandboxConfig
from tests.conftest import FAKES, MakeSandbox

SRC = {"X-Key": "fake-source-7"}


def cfg(faults: str = "") -> SandboxConfig:
    return SandboxConfig(seed=7, scale=30, default_limits=False, faults=faults)


async def get_json(http: aiohttp.ClientSession, sb: RunningSandbox, path: str) -> Any:
    async with http.get(sb.url(path)) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def post(http: aiohttp.ClientSession, sb: RunningSandbox, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.post(sb.url(path), **kwargs) as resp:
        return resp.status, await resp.json()


async def test_info_shape(make_sandbox: MakeSandbox) -> None:
    async with make_sandbox(cfg(), platform_classes=FAKES) as sb, aiohttp.ClientSession() as http:
        info = await get_json(http, sb, "/_sandbox/info")
    assert info["platforms"]["fake"] == {
        "base_url": sb.base_url + "/fake/api",
        "tenants": [{"name": "source", "key": "fake-source-7"}, {"name": "target", "key": "fake-target-7"}],
    }
    assert set(info["platforms"]) == {"fake", "other"}
    meta = info["sandbox"]
    assert (meta["seed"], meta["scale"], meta["dirty"], meta["time_scale"]) == (7, 30, 0.0, 1.0)
    assert meta["base_url"] == sb.base_url
    assert meta["default_limits"] is False


async def test_stats_count_requests_statuses_and_records(make_sandbox: MakeSandbox) -> None:
    async with make_sandbox(cfg(), platform_classes=FAKES) as sb, aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.get(sb.url("/fake/api/items/1"), headers=SRC) as resp:
                assert resp.status == 200
        async with http.get(sb.url("/fake/api/items/999"), headers=SRC) as resp:
            assert resp.status == 404
        async with http.get(sb.url("/fake/api/items"), headers={"X-Key": "wrong"}) as resp:
            assert resp.status == 401
        async with http.post(sb.url("/fake/api/items"), headers=SRC, json={"email": "A@example.com"}) as resp:
            assert resp.status == 201
        async with http.put(sb.url("/fake/api/items/1"), headers=SRC, json={"name": "Zoë"}) as resp:
            assert resp.status == 200
        first_email = sb.platforms["fake"].table("source", "item").get(1)["email"]  # type: ignore[index]
        async with http.post(
            sb.url("/fake/api/items"), headers=SRC, json={"email": first_email.upper()}
        ) as resp:
            assert resp.status == 201
        stats = await get_json(http, sb, "/_sandbox/stats")
    requests = {(r["platform"], r["method"], r["route"]): r["count"] for r in stats["requests"]}
    assert requests == {
        ("fake", "GET", "/fake/api/items/{id}"): 4,
        ("fake", "GET", "/fake/api/items"): 1,
        ("fake", "POST", "/fake/api/items"): 2,
        ("fake", "PUT", "/fake/api/items/{id}"): 1,
    }
    assert stats["statuses"] == {"fake": {"200": 4, "201": 2, "401": 1, "404": 1}}
    assert stats["rate_limited"] == 0
    assert stats["records"]["fake"]["source"]["item"] == {
        "count": 32,
        "creates": 2,
        "updates": 1,
        "duplicates": 1,
    }
    assert stats["records"]["other"]["target"]["item"] == {
        "count": 0,
        "creates": 0,
        "updates": 0,
        "duplicates": 0,
    }


async def test_stats_keep_the_most_requests_in_flight_at_once(make_sandbox: MakeSandbox) -> None:
    """Three requests held by a latency fault are in flight together; one after them does not raise the peak;
    a reset starts it again."""
    async with (
        make_sandbox(cfg("fake:methods=GET,latency=300ms"), platform_classes=FAKES) as sb,
        aiohttp.ClientSession() as http,
    ):

        async def item(n: int) -> int:
            async with http.get(sb.url(f"/fake/api/items/{n}"), headers=SRC) as resp:
                return resp.status

        assert await asyncio.gather(item(1), item(2), item(3)) == [200, 200, 200]
        assert await item(4) == 200
        stats = await get_json(http, sb, "/_sandbox/stats")
        assert stats["peak_in_flight"] == {"fake": 3}
        status, _ = await post(http, sb, "/_sandbox/reset", json={})
        assert status == 200
        assert (await get_json(http, sb, "/_sandbox/stats"))["peak_in_flight"] == {}
        assert await item(5) == 200
        assert (await get_json(http, sb, "/_sandbox/stats"))["peak_in_flight"] == {"fake": 1}


async def test_records_dump_jsonl(make_sandbox: MakeSandbox) -> None:
    async with make_sandbox(cfg(), platform_classes=FAKES) as sb, aiohttp.ClientSession() as http:
        async with http.get(sb.url("/_sandbox/records/fake/source/item")) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/x-ndjson"
            rows = [json.loads(line) for line in (await resp.text()).splitlines()]
        assert [row["id"] for row in rows] == list(range(1, 31))
        async with http.get(sb.url("/_sandbox/records/fake/target/item")) as resp:
            assert await resp.text() == ""
        for path, message in [
            ("/_sandbox/records/nope/source/item", "unknown platform 'nope'; this sandbox serves fake, other"),
            ("/_sandbox/records/fake/staging/item", "fake has no tenant 'staging'; tenants: source, target"),
            ("/_sandbox/records/fake/source/widget", "fake/source has no entity 'widget'; entities: item"),
        ]:
            async with http.get(sb.url(path)) as resp:
                assert resp.status == 404
                assert (await resp.json())["error"] == message


async def test_reset_reseeds_and_clears_stats(make_sandbox: MakeSandbox) -> None:
    async with (
        make_sandbox(cfg("fake:rate=1/h"), platform_classes=FAKES) as sb,
        aiohttp.ClientSession() as http,
    ):
        async with http.post(sb.url("/fake/api/items"), headers=SRC, json={"email": "new@example.com"}) as resp:
            assert resp.status == 201
        async with http.get(sb.url("/fake/api/items"), headers=SRC) as resp:
            assert resp.status == 429
        sb.platforms["fake"].revoke_tokens("target")
        status, body = await post(http, sb, "/_sandbox/reset", json={"seed": 9, "scale": 12, "dirty": 0.5})
        assert status == 200
        assert (body["seed"], body["scale"], body["dirty"]) == (9, 12, 0.5)
        stats = await get_json(http, sb, "/_sandbox/stats")
        assert stats["requests"] == [] and stats["statuses"] == {}
        item_stats = stats["records"]["fake"]["source"]["item"]
        assert (item_stats["count"], item_stats["creates"], item_stats["updates"]) == (12, 0, 0)
        # fresh platform state: new credentials from the new seed, revocations gone, budgets restarted
        assert sb.platforms["fake"].revoked == set()  # type: ignore[attr-defined]
        async with http.get(sb.url("/fake/api/items"), headers={"X-Key": "fake-source-9"}) as resp:
            assert resp.status == 200
            assert len(await resp.json()) == 12
        info = await get_json(http, sb, "/_sandbox/info")
        assert info["sandbox"]["seed"] == 9
        status, _ = await post(http, sb, "/_sandbox/reset")  # no body: same seed, scale and dirt again
        assert status == 200
        assert len(sb.platforms["fake"].table("source", "item")) == 12


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"seed": "x"}, "'seed' must be a whole number"),
        ({"scale": -1}, "'scale' must be a whole number"),
        ({"dirty": 2}, "'dirty' must be a fraction"),
        ({"speed": 1}, "unknown key 'speed'"),
        ([1], "must be a JSON object"),
    ],
)
async def test_reset_refuses_bad_bodies(make_sandbox: MakeSandbox, body: Any, message: str) -> None:
    async with make_sandbox(cfg(), platform_classes=FAKES) as sb, aiohttp.ClientSession() as http:
        status, answer = await post(http, sb, "/_sandbox/reset", json=body)
    assert status == 400
    assert message in answer["error"]


async def test_faults_set_at_run_time_as_text_or_json(make_sandbox: MakeSandbox) -> None:
    async with make_sandbox(cfg(), platform_classes=FAKES) as sb, aiohttp.ClientSession() as http:
        status, body = await post(http, sb, "/_sandbox/faults", data="fake:error_rate=1")
        assert status == 200
        assert [r["rule"] for r in body["rules"]] == ["fake:error_rate=1"]
        async with http.get(sb.url("/fake/api/items"), headers=SRC) as resp:
            assert resp.status == 503
        status, body = await post(
            http, sb, "/_sandbox/faults", json={"rules": [{"scope": "other", "rate": "5/s", "per": "endpoint"}]}
        )
        assert status == 200
        assert body["rules"][0]["rate"] == {"limit": 5, "period": 1.0, "window": "sliding", "per": "endpoint"}
        async with http.get(sb.url("/fake/api/items"), headers=SRC) as resp:
            assert resp.status == 200  # the previous rules were replaced
        status, body = await post(http, sb, "/_sandbox/faults", json={"spec": "fake:latency=1ms"})
        assert body["spec"] == "fake:latency=1ms"
        assert (await get_json(http, sb, "/_sandbox/faults"))["spec"] == "fake:latency=1ms"
        status, body = await post(http, sb, "/_sandbox/faults", data="fake:error_rat=1")
        assert status == 400
        assert "unknown setting 'error_rat'; did you mean 'error_rate'?" in body["error"]
        assert (await get_json(http, sb, "/_sandbox/faults"))["spec"] == "fake:latency=1ms"  # unchanged
        status, body = await post(http, sb, "/_sandbox/faults", data="")
        assert status == 200 and body["rules"] == []


async def test_revoke_calls_the_platform_hook(make_sandbox: MakeSandbox) -> None:
    async with make_sandbox(cfg(), platform_classes=FAKES) as sb, aiohttp.ClientSession() as http:
        status, body = await post(http, sb, "/_sandbox/revoke", json={"platform": "fake", "tenant": "source"})
        assert status == 200 and body == {"revoked": {"platform": "fake", "tenant": "source"}}
        async with http.get(sb.url("/fake/api/items"), headers=SRC) as resp:
            assert resp.status == 401
        async with http.get(sb.url("/fake/api/items"), headers={"X-Key": "fake-target-7"}) as resp:
            assert resp.status == 200
        status, body = await post(http, sb, "/_sandbox/revoke", json={"platform": "fake", "tenant": "nobody"})
        assert status == 404 and "tenants: source, target" in body["error"]
        status, body = await post(http, sb, "/_sandbox/revoke", json={"platform": "fake"})
        assert status == 400


async def test_clock_advance(make_sandbox: MakeSandbox) -> None:
    async with make_sandbox(cfg(), platform_classes=FAKES) as sb, aiohttp.ClientSession() as http:
        before = (await get_json(http, sb, "/_sandbox/clock"))["now"]
        status, body = await post(http, sb, "/_sandbox/clock", json={"advance": 86400})
        assert status == 200
        assert body["now"] - before >= 86400
        assert sb.state.clock.now() - before >= 86400
        for bad in ({"advance": -5}, {"advance": "soon"}, {"rewind": 5}):
            status, body = await post(http, sb, "/_sandbox/clock", json=bad)
            assert status == 400, bad
        status, body = await post(
            http, sb, "/_sandbox/clock", data=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert status == 400 and "not valid JSON" in body["error"]


async def test_options_reach_the_emulators_context(make_sandbox: MakeSandbox) -> None:
    async with make_sandbox(cfg(), platform_classes=FAKES) as sb, aiohttp.ClientSession() as http:
        status, body = await post(
            http, sb, "/_sandbox/options", json={"velpic.invalid_role": "store", "fake.x": 3}
        )
        assert status == 200
        assert body["options"] == {"velpic.invalid_role": "store", "fake.x": 3}
        assert sb.platforms["fake"].ctx.option("fake", "x", 0) == 3
        status, body = await post(http, sb, "/_sandbox/options", json={"fake.x": None})
        assert body["options"] == {"velpic.invalid_role": "store"}
        status, body = await post(http, sb, "/_sandbox/options", json={"token_ttl": 5})
        assert status == 400 and "must be '<platform>.<name>'" in body["error"]
