"""accessplanit emulator: token endpoint, token expiry and revocation, API keys, tenants, over real HTTP."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import make_mocked_request

from migrator.sandbox.accessplanit import AccessPlanItPlatform
from migrator.sandbox.clock import Clock
from migrator.sandbox.platform import Context

ROOT = "/accessplanit/accessplan"
V2 = f"{ROOT}/api/v2"
V1 = f"{ROOT}/api/v1"
HELP = f"{ROOT}/apihelp/v2"


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def key(platform: Any, tenant: str = "source") -> dict[str, str]:
    return bearer(platform.credentials[tenant].api_key)


async def get_token(client: Any, platform: Any, tenant: str = "source") -> dict[str, Any]:
    cred = platform.credentials[tenant]
    resp = await client.post(
        f"{V2}/token", data={"grant_type": "password", "username": cred.username, "password": cred.password}
    )
    assert resp.status == 200
    return dict(await resp.json())


async def test_token_by_get_with_query_parameters_as_in_the_document(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=20) as (client, platform):
        cred = platform.credentials["source"]
        resp = await client.get(
            f"{V2}/token",
            params={"grant_type": "password", "username": cred.username, "password": cred.password},
        )
        assert resp.status == 200
        body = await resp.json()
        assert set(body) == {
            "access_token",
            "token_type",
            "expires_in",
            "refresh_token",
            "userID",
            "refresh_token_expires_in",
        }
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 3600
        assert body["userID"] == cred.username
        resp = await client.get(f"{V2}/user", headers=bearer(body["access_token"]))
        assert resp.status == 200
        assert len((await resp.json())["results"]) == 20


async def test_token_by_post_form_with_the_demo_clients_key_spelling(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10) as (client, platform):
        cred = platform.credentials["target"]
        resp = await client.post(
            f"{V1}/token", data={"Grant_Type": "password", "UserName": cred.username, "Password": cred.password}
        )
        assert resp.status == 200
        token = (await resp.json())["access_token"]
        resp = await client.get(f"{V1}/users", headers=bearer(token))
        assert resp.status == 200
        assert await resp.json() == []  # the target tenant has no users


async def test_token_refused_with_invalid_grant(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        cred = platform.credentials["source"]
        for data in (
            {"grant_type": "password", "username": cred.username, "password": cred.password + "x"},
            {"grant_type": "password", "username": "nobody", "password": cred.password},
            {
                "grant_type": "password",
                "username": cred.username,
                "password": platform.credentials["target"].password,
            },
        ):
            resp = await client.post(f"{V2}/token", data=data)
            assert resp.status == 400
            body = await resp.json()
            assert body == {
                "error": "invalid_grant",
                "error_description": "The user name or password is incorrect.",
            }
            assert cred.password not in await resp.text()
        resp = await client.post(f"{V2}/token", data={"username": cred.username, "password": cred.password})
        assert resp.status == 400
        assert (await resp.json())["error"] == "unsupported_grant_type"


async def test_token_lasts_60_minutes_on_the_sandbox_clock(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        token = (await get_token(client, platform))["access_token"]
        platform.ctx.clock.advance(3590)
        assert (await client.get(f"{V2}/user", headers=bearer(token))).status == 200
        platform.ctx.clock.advance(11)
        resp = await client.get(f"{V2}/user", headers=bearer(token))
        assert resp.status == 401
        assert await resp.json() == {"Message": "Authorization has been denied for this request."}
        # a fresh token works again
        token = (await get_token(client, platform))["access_token"]
        assert (await client.get(f"{V2}/user", headers=bearer(token))).status == 200


async def test_token_ttl_switch(platform_server: Any) -> None:
    options = {"accessplanit.token_ttl": 120}
    async with platform_server(AccessPlanItPlatform, scale=5, options=options) as (client, platform):
        body = await get_token(client, platform)
        assert body["expires_in"] == 120
        platform.ctx.clock.advance(121)
        assert (await client.get(f"{V2}/user", headers=bearer(body["access_token"]))).status == 401


async def test_refresh_token_gives_a_new_token_once(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        first = await get_token(client, platform)
        platform.ctx.clock.advance(3700)
        form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        resp = await client.post(f"{V2}/token", data=form)
        assert resp.status == 200
        second = await resp.json()
        assert (await client.get(f"{V2}/user", headers=bearer(second["access_token"]))).status == 200
        resp = await client.post(f"{V2}/token", data=form)  # already used
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_grant"
        # a refresh token is not an access token
        assert (await client.get(f"{V2}/user", headers=bearer(second["refresh_token"]))).status == 401


async def test_revoke_tokens_hits_one_tenant_only(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        source = (await get_token(client, platform, "source"))["access_token"]
        target = (await get_token(client, platform, "target"))["access_token"]
        platform.revoke_tokens("source")
        assert (await client.get(f"{V2}/user", headers=bearer(source))).status == 401
        assert (await client.get(f"{V2}/user", headers=bearer(target))).status == 200
        assert (await client.get(f"{V2}/user", headers=key(platform))).status == 200  # keys are not tokens
        fresh = (await get_token(client, platform, "source"))["access_token"]
        assert (await client.get(f"{V2}/user", headers=bearer(fresh))).status == 200


async def test_missing_or_invalid_credentials_get_401_everywhere(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        api_key = platform.credentials["source"].api_key
        for headers in (
            {},
            bearer("not-a-token"),
            {"Authorization": f"Basic {api_key}"},
            {"Authorization": "Bearer "},
        ):
            for method, url in (
                ("GET", f"{V2}/user"),
                ("GET", f"{V2}/user/x"),
                ("POST", f"{V2}/user"),
                ("PUT", f"{V2}/user/x"),
                ("DELETE", f"{V2}/user/x"),
                ("GET", f"{HELP}/modules"),
                ("GET", f"{HELP}/modules/user"),
                ("GET", f"{V1}/users"),
                ("GET", f"{V1}/companies/x"),
                ("POST", f"{V1}/companies"),
            ):
                resp = await client.request(method, url, headers=headers)
                assert resp.status == 401, (method, url, headers)
                assert "Message" in await resp.json()


async def test_api_key_as_bearer_on_v2_help_and_v1(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        for url in (f"{V2}/user", f"{HELP}/modules", f"{V1}/users"):
            assert (await client.get(url, headers=key(platform))).status == 200


async def test_api_key_disabled_then_enabled(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        platform.ctx.options["accessplanit.api_key_enabled.source"] = False
        assert (await client.get(f"{V2}/user", headers=key(platform))).status == 401
        assert (await client.get(f"{V2}/user", headers=key(platform, "target"))).status == 200
        platform.ctx.options["accessplanit.api_key_enabled.source"] = True
        assert (await client.get(f"{V2}/user", headers=key(platform))).status == 200


async def test_api_key_expiry(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        platform.ctx.options["accessplanit.api_key_expiry.source"] = "2001-01-01"
        assert (await client.get(f"{V2}/user", headers=key(platform))).status == 401
        expiry = platform.ctx.clock.now() + 600
        platform.ctx.options["accessplanit.api_key_expiry.source"] = expiry
        assert (await client.get(f"{V2}/user", headers=key(platform))).status == 200
        platform.ctx.clock.advance(601)
        assert (await client.get(f"{V2}/user", headers=key(platform))).status == 401


async def test_api_key_ip_whitelist(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        platform.ctx.options["accessplanit.api_key_ip_whitelist.source"] = "10.1.2.3"
        assert (await client.get(f"{V2}/user", headers=key(platform))).status == 401
        platform.ctx.options["accessplanit.api_key_ip_whitelist.source"] = "10.1.2.3, 127.0.0.1"
        assert (await client.get(f"{V2}/user", headers=key(platform))).status == 200


async def test_v1_api_keys_switch(platform_server: Any) -> None:
    options = {"accessplanit.v1_api_keys": False}
    async with platform_server(AccessPlanItPlatform, scale=5, options=options) as (client, platform):
        assert (await client.get(f"{V1}/users", headers=key(platform))).status == 401
        assert (await client.get(f"{V2}/user", headers=key(platform))).status == 200
        token = (await get_token(client, platform))["access_token"]
        assert (await client.get(f"{V1}/users", headers=bearer(token))).status == 200


async def test_tenants_are_isolated(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=30) as (client, platform):
        src, tgt = key(platform, "source"), key(platform, "target")
        users = (await (await client.get(f"{V2}/user?$top=-1", headers=src)).json())["results"]
        assert len(users) == 30
        assert (await (await client.get(f"{V2}/user", headers=tgt)).json())["results"] == []
        assert (await client.get(f"{V2}/user/{users[0]['ID']}", headers=tgt)).status == 404
        assert (await client.get(f"{V1}/users/{users[0]['ID']}", headers=tgt)).status == 404
        resp = await client.post(f"{V2}/company", json={"Name": "Only On Target"}, headers=tgt)
        assert resp.status == 201
        new_id = (await resp.json())["ID"]
        assert (await client.get(f"{V2}/company/{new_id}", headers=src)).status == 404
        assert (await client.get(f"{V2}/company/{new_id}", headers=tgt)).status == 200
        filtered = await client.get(f"{V2}/company?$filter=Name eq 'Only On Target'", headers=src)
        assert (await filtered.json())["results"] == []


async def test_tenant_of_maps_credentials_without_checking_expiry(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        token = (await get_token(client, platform, "target"))["access_token"]
        platform.ctx.clock.advance(7200)

        def req(headers: dict[str, str], path: str = f"{V2}/user") -> Any:
            return make_mocked_request("GET", path, headers=headers)

        assert platform.tenant_of(req(bearer(token))) == "target"
        assert platform.tenant_of(req(key(platform, "source"))) == "source"
        assert platform.tenant_of(req(bearer("nope"))) is None
        assert platform.tenant_of(req({})) is None
        username = platform.credentials["target"].username
        assert platform.tenant_of(req({}, f"{V2}/token?username={username}")) == "target"


def test_credentials_are_deterministic_per_seed_and_tenant() -> None:
    def creds(seed: int) -> dict[str, Any]:
        return AccessPlanItPlatform(Context(clock=Clock(), seed=seed)).info("http://h")["tenants"]

    assert creds(3) == creds(3)
    assert creds(3) != creds(4)
    first = creds(3)
    assert first[0]["name"] == "source" and first[1]["name"] == "target"
    assert len({t["api_key"] for t in first}) == 2
    assert len({t["password"] for t in first}) == 2
