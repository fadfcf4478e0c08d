"""Velpic emulator: AccessKey auth (806 long/short bodies, 831), key regeneration, tenants, info, 429/503."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from migrator.sandbox.clock import Clock
from migrator.sandbox.generator import generate
from migrator.sandbox.platform import TENANTS, Context
from migrator.sandbox.velpic import VelpicPlatform

API = "/velpic/api/v2"
LONG_806 = {
    "message": "AccessKey does not exist",
    "reason": "Invalid access key",
    "internalCode": 806,
    "error": "Invalid security token",
}
SHORT_806 = {"internalCode": 806, "error": "Token not valid"}
E831 = {"internalCode": 831, "error": "You are not authorised to make this request"}

SHORT_ROUTES = [
    ("GET", "/group"),
    ("GET", "/group/1001"),
    ("GET", "/lesson"),
    ("GET", "/lessondetails"),
    ("GET", "/ilt_session"),
    ("GET", "/ilt_session/1"),
    ("GET", "/ilt_session/1/attendees"),
]
LONG_ROUTES = [
    ("GET", "/user"),
    ("GET", "/user/1000001"),
    ("POST", "/user"),
    ("PUT", "/user/1000001"),
    ("POST", "/user/1000001/activate"),
    ("POST", "/user/1000001/inactivate"),
    ("POST", "/user/1000001/generate_login_url?expiresIn=day"),
    ("POST", "/bulkUserImport"),
    ("POST", "/group"),
    ("POST", "/group/1001"),
    ("GET", "/group/1001/member"),
    ("POST", "/group/1001/add_members"),
    ("GET", "/group/1001/supervisor"),
    ("POST", "/group/1001/inactivate"),
    ("GET", "/user/1000001/lesson_schedule"),
    ("POST", "/user/1000001/lesson_schedule"),
    ("GET", "/lesson_schedule/1000001"),
    ("POST", "/lesson_schedule/1000001/complete_lesson"),
    ("GET", "/lesson_schedule/1000001/certificate"),
    ("GET", "/embed_player?lessonScheduleId=1000001"),
    ("POST", "/ilt_session"),
    ("PATCH", "/ilt_session/1"),
    ("POST", "/ilt_session/1/complete"),
    ("POST", "/ilt_session/1/cancel_session"),
    ("POST", "/ilt_session/1/bulk_register"),
    ("POST", "/ilt_session/1/bulk_deregister"),
    ("POST", "/ilt_session/1/save_progress"),
]


def velpic(platform: Any) -> VelpicPlatform:
    return cast(VelpicPlatform, platform)


def auth(platform: Any, tenant: str = "source") -> dict[str, str]:
    return {"AccessKey": velpic(platform).access_key(tenant)}


async def test_missing_and_wrong_keys_answer_403_with_the_documented_body_per_endpoint(
    platform_server: Any,
) -> None:
    async with platform_server(VelpicPlatform, scale=20) as (client, _platform):
        for routes, body in ((SHORT_ROUTES, SHORT_806), (LONG_ROUTES, LONG_806)):
            for method, path in routes:
                for headers in ({}, {"AccessKey": "not-a-key"}):
                    resp = await client.request(method, API + path, headers=headers, json={})
                    assert resp.status == 403, (method, path)
                    assert await resp.json() == body, (method, path)


async def test_header_name_is_case_insensitive_and_the_doc_trailing_slash_example_works(
    platform_server: Any,
) -> None:
    async with platform_server(VelpicPlatform, scale=20) as (client, platform):
        key = velpic(platform).access_key("source")
        for name in ("AccessKey", "accesskey", "ACCESSKEY"):
            resp = await client.get(f"{API}/user/?roleId=6&maxResults=100", headers={name: key})
            assert resp.status == 200, name
            body = await resp.json()
            assert body["results"] and all(6 in u["roles"] for u in body["results"])


async def test_regenerating_a_key_invalidates_the_old_one_at_once(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=20) as (client, platform):
        old_source, old_target = auth(platform, "source"), auth(platform, "target")
        velpic(platform).revoke_tokens("source")
        resp = await client.get(f"{API}/user", headers=old_source)
        assert resp.status == 403
        assert await resp.json() == LONG_806
        new = velpic(platform).info("http://x")["tenants"][0]
        assert new["name"] == "source"
        assert new["access_key"] != old_source["AccessKey"]
        assert (await client.get(f"{API}/user", headers={"AccessKey": new["access_key"]})).status == 200
        assert (await client.get(f"{API}/user", headers=old_target)).status == 200  # other tenant untouched


def test_keys_are_deterministic_from_seed_and_tenant() -> None:
    def keys(seed: int) -> list[str]:
        platform = VelpicPlatform(Context(clock=Clock(), seed=seed))
        return [platform.access_key(t) for t in TENANTS]

    assert keys(3) == keys(3)
    assert keys(3) != keys(4)
    assert len(set(keys(3))) == 2
    assert all(k.startswith(f"vk-{t}-0003-") for k, t in zip(keys(3), TENANTS, strict=True))


def test_info_and_env_lines() -> None:
    platform = VelpicPlatform(Context(clock=Clock(), seed=5))
    info = platform.info("http://127.0.0.1:8765")
    assert info == {
        "base_url": "http://127.0.0.1:8765/velpic/api/v2",
        "tenants": [
            {"name": "source", "access_key": platform.access_key("source")},
            {"name": "target", "access_key": platform.access_key("target")},
        ],
    }
    assert platform.env_lines("http://127.0.0.1:8765") == {
        "VELPIC_BASE_URL": "http://127.0.0.1:8765/velpic/api/v2",
        "VELPIC_SOURCE_ACCESS_KEY": platform.access_key("source"),
        "VELPIC_TARGET_ACCESS_KEY": platform.access_key("target"),
    }


@pytest.mark.parametrize(
    ("denied", "source_status", "target_status"),
    [
        (["POST /bulkUserImport"], 403, 403),
        (["target:*"], 200, 403),
        (["*"], 403, 403),
        ("GET /user, source:POST /bulkUserImport", 403, 200),
    ],
)
async def test_valid_key_without_permission_gets_831(
    platform_server: Any, denied: list[str] | str, source_status: int, target_status: int
) -> None:
    async with platform_server(VelpicPlatform, scale=10, options={"velpic.denied": denied}) as (
        client,
        platform,
    ):
        for tenant, status in (("source", source_status), ("target", target_status)):
            resp = await client.post(
                f"{API}/bulkUserImport", headers=auth(platform, tenant), json={"users": []}
            )
            assert resp.status == status, tenant
            if status == 403:
                assert await resp.json() == E831
        if denied == ["POST /bulkUserImport"]:
            assert (await client.get(f"{API}/user", headers=auth(platform))).status == 200
        if isinstance(denied, str):  # comma-separated, as given on the command line; exact routes only
            assert (await client.get(f"{API}/user", headers=auth(platform, "target"))).status == 403
            assert (await client.get(f"{API}/user/1000001", headers=auth(platform))).status == 200


async def test_tenants_are_isolated(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=30) as (client, platform):
        src = await (await client.get(f"{API}/user?activeValue=all", headers=auth(platform, "source"))).json()
        tgt = await (await client.get(f"{API}/user?activeValue=all", headers=auth(platform, "target"))).json()
        assert src["meta"]["totalResultCount"] == 30
        assert tgt == {**tgt, "results": [], "meta": {**tgt["meta"], "totalResultCount": 0}}
        uid = src["results"][0]["id"]
        assert (await client.get(f"{API}/user/{uid}", headers=auth(platform, "target"))).status == 404
        # a user created on the target is invisible to the source key
        body = {"firstName": "Tara", "lastName": "Get", "emailAddress": "tara@example.com"}
        created = await (await client.post(f"{API}/user", headers=auth(platform, "target"), json=body)).json()
        assert (await client.get(f"{API}/user/{created['id']}", headers=auth(platform, "source"))).status == 404
        assert (await client.get(f"{API}/user/{created['id']}", headers=auth(platform, "target"))).status == 200
        groups = await (await client.get(f"{API}/group", headers=auth(platform, "target"))).json()
        assert groups["results"] == []
        gid = (await (await client.get(f"{API}/group", headers=auth(platform))).json())["results"][0]["id"]
        assert (await client.get(f"{API}/group/{gid}", headers=auth(platform, "target"))).status == 404


async def test_probe_hooks_used_by_the_middleware_tenant_of_429_and_503() -> None:
    platform = VelpicPlatform(Context(clock=Clock(), seed=2))
    pop = generate(seed=2, scale=10)
    for tenant in TENANTS:
        platform.seed(pop, tenant)
    app = web.Application()
    platform.add_routes(app)

    async def tenant(request: web.Request) -> web.StreamResponse:
        return web.json_response({"tenant": platform.tenant_of(request)})

    async def limited(_request: web.Request) -> web.StreamResponse:
        return platform.too_many_requests(7)

    async def failed(_request: web.Request) -> web.StreamResponse:
        return platform.server_error()

    app.router.add_get("/probe/tenant", tenant)
    app.router.add_get("/probe/429", limited)
    app.router.add_get("/probe/503", failed)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        for tenant_name in TENANTS:
            resp = await client.get("/probe/tenant", headers={"accesskey": platform.access_key(tenant_name)})
            assert (await resp.json()) == {"tenant": tenant_name}
        assert (await (await client.get("/probe/tenant", headers={"AccessKey": "nope"})).json()) == {
            "tenant": None
        }
        resp = await client.get("/probe/429")
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "7"
        assert await resp.json() == {"internalCode": 429, "error": "Too Many Requests"}
        resp = await client.get("/probe/503")
        assert resp.status == 503
        assert await resp.json() == {"internalCode": 500, "error": "Internal Server Error"}


async def test_an_internal_failure_answers_503_with_internal_code_500(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        state = velpic(platform).state["source"]
        uid = next(iter(state.users.records))
        state.users.records[uid]["timeZone"] = object()  # not JSON-serialisable: the handler fails
        resp = await client.get(f"{API}/user/{uid}", headers=auth(platform))
        assert resp.status == 503
        assert await resp.json() == {"internalCode": 500, "error": "Internal Server Error"}
