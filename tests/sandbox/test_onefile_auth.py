"""OneFile emulator: authentication, sessions, tenants, routing and the platform's error formats."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from migrator.sandbox.clock import Clock
from migrator.sandbox.onefile import OneFilePlatform
from migrator.sandbox.platform import Context

API = "/onefile/api/v2.1"
DENIED = {"Message": "Authorization has been denied for this request."}


async def login(client: Any, platform: Any, tenant: str = "source") -> dict[str, str]:
    resp = await client.post(
        f"{API}/Authentication", headers={"X-CustomerToken": platform.customer_token(tenant)}
    )
    assert resp.status == 200
    return {"X-TokenID": await resp.text()}


async def test_authentication_returns_the_session_token_as_plain_text(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        resp = await client.post(
            f"{API}/Authentication", headers={"X-CustomerToken": platform.customer_token("source")}, data=b""
        )
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        token = await resp.text()
        assert len(token) >= 40 and not token.startswith('"')
        customer = await client.get(f"{API}/Customer", headers={"X-TokenID": token})
        assert customer.status == 200


async def test_authentication_json_body_switch(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50, options={"onefile.auth_body": "json"}) as (client, p):
        resp = await client.post(
            f"{API}/Authentication", headers={"X-CustomerToken": p.customer_token("source")}
        )
        assert resp.content_type == "application/json"
        token = await resp.json()
        assert isinstance(token, str)
        assert (await client.get(f"{API}/Customer", headers={"X-TokenID": token})).status == 200


async def test_unknown_customer_token_is_refused(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, _):
        for headers in ({"X-CustomerToken": "not-a-token"}, {}):
            resp = await client.post(f"{API}/Authentication", headers=headers)
            assert resp.status == 401
            assert await resp.json() == DENIED


async def test_calls_without_a_valid_session_are_denied(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        for headers in ({}, {"X-TokenID": "forged"}, {"X-TokenID": platform.customer_token("source")}):
            resp = await client.get(f"{API}/Customer", headers=headers)
            assert resp.status == 401
            assert await resp.json() == DENIED
        resp = await client.post(f"{API}/User/Search", json={"OrganisationID": 5740, "Role": 1})
        assert resp.status == 401


async def test_unauthorized_empty_body_switch(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50, options={"onefile.unauthorized_body": "empty"}) as (
        c,
        _,
    ):
        resp = await c.get(f"{API}/Customer")
        assert resp.status == 401
        assert await resp.read() == b""


async def test_session_expires_after_24_hours_of_sandbox_time(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform)
        platform.ctx.clock.advance(86400 - 60)
        assert (await client.get(f"{API}/Customer", headers=headers)).status == 200
        platform.ctx.clock.advance(61)
        resp = await client.get(f"{API}/Customer", headers=headers)
        assert resp.status == 401
        assert await resp.json() == DENIED
        assert platform.tenant_of(_FakeRequest(headers)) == "source"  # expiry is not checked there
        fresh = await login(client, platform)
        assert (await client.get(f"{API}/Customer", headers=fresh)).status == 200


async def test_session_ttl_switch(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50, options={"onefile.session_ttl": 600}) as (client, p):
        headers = await login(client, p)
        p.ctx.clock.advance(601)
        assert (await client.get(f"{API}/Customer", headers=headers)).status == 401


async def test_revoke_tokens_kills_only_that_tenants_sessions(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        source, target = await login(client, platform), await login(client, platform, "target")
        platform.revoke_tokens("source")
        assert (await client.get(f"{API}/Customer", headers=source)).status == 401
        assert (await client.get(f"{API}/Customer", headers=target)).status == 200
        assert (await client.get(f"{API}/Customer", headers=await login(client, platform))).status == 200


class _FakeRequest:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


async def test_tenant_of_maps_sessions_and_customer_tokens(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        target = await login(client, platform, "target")
        assert platform.tenant_of(_FakeRequest(target)) == "target"
        token = platform.customer_token("source")
        assert platform.tenant_of(_FakeRequest({"X-CustomerToken": token})) == "source"
        assert platform.tenant_of(_FakeRequest({"X-TokenID": "nope"})) is None


async def test_tenants_are_isolated(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        source, target = await login(client, platform), await login(client, platform, "target")
        src_customer = await (await client.get(f"{API}/Customer", headers=source)).json()
        tgt_customer = await (await client.get(f"{API}/Customer", headers=target)).json()
        assert src_customer["ID"] != tgt_customer["ID"]
        # the target's customer and organisation are invisible with a source session, and vice versa
        resp = await client.post(
            f"{API}/Organisation/Search", headers=source, json={"CustomerID": tgt_customer["ID"]}
        )
        assert resp.status == 204
        tgt_orgs = await (
            await client.post(
                f"{API}/Organisation/Search", headers=target, json={"CustomerID": tgt_customer["ID"]}
            )
        ).json()
        resp = await client.post(
            f"{API}/User/Search", headers=source, json={"OrganisationID": tgt_orgs[0]["ID"]}
        )
        assert resp.status == 204
        target_user = next(iter(platform.table("target", "user").records))
        assert (await client.get(f"{API}/User/{target_user}", headers=source)).status == 404
        assert (await client.get(f"{API}/User/{target_user}", headers=target)).status == 200
        source_user = next(iter(platform.table("source", "user").records))
        assert (await client.get(f"{API}/User/{source_user}", headers=target)).status == 404


async def test_routes_match_case_insensitively_and_unknown_ones_are_404(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform)
        # the vendor document writes "Organisation/search"
        resp = await client.post(f"{API}/Organisation/search", headers=headers, json={"CustomerID": 2070})
        assert resp.status == 200
        resp = await client.post(f"{API}/user/search/1/5", headers=headers, json={"OrganisationID": 5740})
        assert resp.status == 200 and len(await resp.json()) == 5
        resp = await client.put(f"{API}/Customer", headers=headers)
        assert resp.status == 405
        resp = await client.get(f"{API}/Nothing/Here", headers=headers)
        assert resp.status == 404
        assert "No HTTP resource" in (await resp.json())["Message"]
        assert (await client.get(f"{API}/User/abc", headers=headers)).status == 404


async def test_info_and_env_lines_name_base_url_and_customer_tokens() -> None:
    platform = OneFilePlatform(Context(clock=Clock(), seed=3))
    info = platform.info("http://127.0.0.1:8765/")
    assert info["base_url"] == "http://127.0.0.1:8765/onefile/api/v2.1"
    assert [t["name"] for t in info["tenants"]] == ["source", "target"]
    tokens = {t["name"]: t["customer_token"] for t in info["tenants"]}
    assert tokens["source"] != tokens["target"]
    env = platform.env_lines("http://127.0.0.1:8765")
    assert env == {
        "ONEFILE_BASE_URL": "http://127.0.0.1:8765/onefile/api/v2.1",
        "ONEFILE_SOURCE_CUSTOMER_TOKEN": tokens["source"],
        "ONEFILE_TARGET_CUSTOMER_TOKEN": tokens["target"],
    }
    # deterministic from the seed
    assert OneFilePlatform(Context(clock=Clock(), seed=3)).info("x")["tenants"] == info["tenants"]
    assert OneFilePlatform(Context(clock=Clock(), seed=4)).info("x")["tenants"] != info["tenants"]


async def test_rate_limit_and_server_error_bodies_over_http() -> None:
    platform = OneFilePlatform(Context(clock=Clock()))

    async def limited(_: web.Request) -> web.StreamResponse:
        return platform.too_many_requests(7)

    async def broken(_: web.Request) -> web.StreamResponse:
        return platform.server_error()

    app = web.Application()
    app.router.add_get("/limited", limited)
    app.router.add_get("/broken", broken)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.get("/limited")
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "7"
        assert await resp.json() == {"Message": "Too Many Requests"}
        resp = await client.get("/broken")
        assert resp.status == 500
        assert await resp.json() == {"Message": "An error has occurred."}


async def test_unauthorized_status_switch(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50, options={"onefile.unauthorized_status": 403}) as (
        c,
        _,
    ):
        resp = await c.get(f"{API}/Customer")
        assert resp.status == 403 and await resp.json() == DENIED
