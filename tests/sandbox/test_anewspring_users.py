"""aNewSpring emulator: API keys, parameters and response formats, tenants, and the user calls."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from migrator.sandbox.anewspring import ANewSpringPlatform
from migrator.sandbox.clock import Clock
from migrator.sandbox.generator import generate
from migrator.sandbox.platform import Context

API = "/anewspring/api"


def key(platform: Any, tenant: str = "source") -> dict[str, str]:
    return {"X-API-Key": platform.api_key(tenant)}


def no_external_id(platform: Any) -> dict[str, Any]:
    return next(u for u in platform.table("source", "user") if u["id"] is None)


# --- authentication ------------------------------------------------------------------------------------
async def test_api_key_by_header_or_query_and_the_query_wins(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        good = platform.api_key("source")
        assert (await client.get(f"{API}/userExists/E0000001", headers=key(platform))).status == 200
        assert (await client.get(f"{API}/userExists/E0000001", params={"_key": good})).status == 200
        resp = await client.get(f"{API}/userExists/E0000001", params={"_key": "bad"}, headers=key(platform))
        assert resp.status == 401
        resp = await client.get(
            f"{API}/userExists/E0000001", params={"_key": good}, headers={"X-API-Key": "bad"}
        )
        assert resp.status == 200


async def test_bad_key_is_401_invalid_api_key(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, _):
        for headers in ({}, {"X-API-Key": "nope"}):
            resp = await client.get(f"{API}/getUsers", headers=headers)
            assert resp.status == 401
            assert await resp.text() == "Invalid API key"
        resp = await client.get(f"{API}/getUsers", params={"_formatErrors": "true"})
        assert await resp.json() == {"code": 401, "message": "Invalid API key"}
        resp = await client.post(f"{API}/noSuchCall")
        assert resp.status == 401


async def test_revoke_tokens_regenerates_the_key(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        old = key(platform)
        platform.revoke_tokens("source")
        assert (await client.get(f"{API}/getTemplates", headers=old)).status == 401
        new_key = next(t["api_key"] for t in platform.info("http://x")["tenants"] if t["name"] == "source")
        assert {"X-API-Key": new_key} != old
        assert (await client.get(f"{API}/getTemplates", headers={"X-API-Key": new_key})).status == 200
        assert (await client.get(f"{API}/getTemplates", headers=key(platform, "target"))).status == 200


async def test_tenants_are_isolated(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        resp = await client.get(f"{API}/userExists/E0000001", headers=key(platform, "target"))
        assert await resp.json() == {"result": False}
        assert (await client.get(f"{API}/getUser/E0000001", headers=key(platform, "target"))).status == 404
        assert (
            await client.post(f"{API}/addUser/T1", headers=key(platform, "target"), data={"login": "t1"})
        ).status == 200
        resp = await client.get(f"{API}/userExists/T1", headers=key(platform))
        assert await resp.json() == {"result": False}
        users = await (await client.get(f"{API}/getUsers", headers=key(platform, "target"))).json()
        assert [u["id"] for u in users["users"]] == ["T1"]


def test_tenant_of_reads_query_then_header() -> None:
    platform = ANewSpringPlatform(Context(clock=Clock(), seed=2))
    population = generate(seed=2, scale=10)
    for tenant in ("source", "target"):
        platform.seed(population, tenant)

    class Req:
        def __init__(self, query: dict[str, str], headers: dict[str, str]) -> None:
            self.query, self.headers = query, headers

    src, tgt = platform.api_key("source"), platform.api_key("target")
    assert platform.tenant_of(Req({}, {"X-API-Key": src})) == "source"  # type: ignore[arg-type]
    assert platform.tenant_of(Req({"_key": tgt}, {"X-API-Key": src})) == "target"  # type: ignore[arg-type]
    assert platform.tenant_of(Req({}, {})) is None  # type: ignore[arg-type]


def test_info_and_env_lines() -> None:
    platform = ANewSpringPlatform(Context(clock=Clock(), seed=5))
    info = platform.info("http://127.0.0.1:8765")
    assert info["base_url"] == "http://127.0.0.1:8765/anewspring/api"
    keys = {t["name"]: t["api_key"] for t in info["tenants"]}
    assert set(keys) == {"source", "target"} and keys["source"] != keys["target"]
    assert platform.env_lines("http://127.0.0.1:8765") == {
        "ANEWSPRING_BASE_URL": "http://127.0.0.1:8765/anewspring/api",
        "ANEWSPRING_SOURCE_API_KEY": keys["source"],
        "ANEWSPRING_TARGET_API_KEY": keys["target"],
    }
    assert ANewSpringPlatform(Context(clock=Clock(), seed=5)).info("x")["tenants"] == info["tenants"]


async def test_rate_limit_and_server_error_are_text_over_http() -> None:
    platform = ANewSpringPlatform(Context(clock=Clock()))

    async def limited(_: web.Request) -> web.StreamResponse:
        return platform.too_many_requests(3)

    async def broken(_: web.Request) -> web.StreamResponse:
        return platform.server_error()

    app = web.Application()
    app.router.add_get("/limited", limited)
    app.router.add_get("/broken", broken)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.get("/limited")
        assert resp.status == 429 and resp.headers["Retry-After"] == "3"
        assert resp.content_type == "text/plain" and (await resp.text()).startswith("429")
        resp = await client.get("/broken")
        assert resp.status == 500 and resp.content_type == "text/plain"


# --- methods and response formats --------------------------------------------------------------------
async def test_get_and_post_only_and_unknown_calls(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform)
        assert (await client.put(f"{API}/addUser/X", headers=headers)).status == 405
        assert (await client.delete(f"{API}/deleteUser/E0000001", headers=headers)).status == 405
        assert (await client.get(f"{API}/addUser/X", headers=headers)).status == 405
        assert (await client.post(f"{API}/getUser/E0000001", headers=headers)).status == 405
        resp = await client.get(f"{API}/getNothing", headers=headers)
        assert resp.status == 404 and "getNothing" in await resp.text()


async def test_commands_answer_empty_200_unless_a_success_message_is_asked(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        resp = await client.post(f"{API}/addUser/N1", headers=key(platform), data={"login": "n1"})
        assert resp.status == 200 and await resp.read() == b""
        resp = await client.post(
            f"{API}/addUser/N2",
            headers=key(platform),
            params={"_returnSuccessMessage": "true"},
            data={"login": "n2"},
        )
        assert resp.status == 200 and (await resp.json())["code"] == 200


async def test_errors_are_text_with_the_code_unless_formatted(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        resp = await client.post(f"{API}/addUser/E0000001", headers=key(platform), data={"login": "z"})
        assert resp.status == 409 and resp.content_type == "text/plain"
        text = await resp.text()
        assert text.startswith("409 ") and "E0000001" in text
        resp = await client.post(
            f"{API}/addUser/E0000001",
            headers=key(platform),
            params={"_formatErrors": "true"},
            data={"login": "z"},
        )
        body = await resp.json()
        assert body["code"] == 409 and "E0000001" in body["message"]
    options = {"anewspring.error_code_prefix": False}
    async with platform_server(ANewSpringPlatform, scale=50, options=options) as (client, platform):
        resp = await client.get(f"{API}/getUser/NOPE", headers=key(platform))
        assert resp.status == 404 and not (await resp.text()).startswith("404")


async def test_pretty_output(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        plain = await (await client.get(f"{API}/getUser/E0000001", headers=key(platform))).text()
        pretty = await (
            await client.get(f"{API}/getUser/E0000001", headers=key(platform), params={"_pretty": "true"})
        ).text()
        assert "\n" not in plain and "\n  " in pretty


# --- users -------------------------------------------------------------------------------------------
async def test_source_users_follow_the_population(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=200) as (client, platform):
        population = generate(seed=7, scale=200)
        users = (await (await client.get(f"{API}/getUsers", headers=key(platform))).json())["users"]
        assert len(users) == 200
        assert all(set(u) == {"id", "uid", "name", "login", "email", "active"} for u in users)
        without = [u for u in users if u["id"] is None]
        assert 1 <= len(without) <= 10  # a few created in the UI, without an external ID
        person = population.people[0]
        user = await (await client.get(f"{API}/getUser/{person.employee_number}", headers=key(platform))).json()
        assert user["login"] == person.username and user["email"] == person.email
        assert user["roles"] == [
            {"learner": "student", "assessor": "teacher", "admin": "administrator", "employer": "mentor"}[
                person.role
            ]
        ]
        for field in ("id", "uid", "active", "renewable", "roles", "firstName", "lastName"):
            assert field in user
        assert (await client.get(f"{API}/getUsers", headers=key(platform, "target"))).status == 200
        target = await (await client.get(f"{API}/getUsers", headers=key(platform, "target"))).json()
        assert target == {"users": []}


async def test_user_exists_and_get_user_404(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        assert await (await client.get(f"{API}/userExists/E0000001", headers=key(platform))).json() == {
            "result": True
        }
        assert await (await client.get(f"{API}/userExists/NOPE", headers=key(platform))).json() == {
            "result": False
        }
        resp = await client.get(f"{API}/getUser/NOPE", headers=key(platform))
        assert resp.status == 404 and "NOPE" in await resp.text()


async def test_uid_is_accepted_unless_switched_off(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        uid = no_external_id(platform)["uid"]
        assert (await client.get(f"{API}/getUser/{uid}", headers=key(platform))).status == 200
    async with platform_server(ANewSpringPlatform, scale=50, options={"anewspring.accept_uid": False}) as (
        c,
        p,
    ):
        uid = no_external_id(p)["uid"]
        assert (await c.get(f"{API}/getUser/{uid}", headers=key(p))).status == 404


async def test_initialize_id(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform)
        login = no_external_id(platform)["login"]
        assert (await client.post(f"{API}/initializeId/nobody/X9", headers=headers)).status == 404
        resp = await client.post(f"{API}/initializeId/{login}/E0000001", headers=headers)
        assert resp.status == 409  # the ID is taken
        assert (await client.post(f"{API}/initializeId/{login}/X9", headers=headers)).status == 200
        user = await (await client.get(f"{API}/getUser/X9", headers=headers)).json()
        assert user["login"] == login
        assert (await client.post(f"{API}/initializeId/{login}/X10", headers=headers)).status == 409  # has one


async def test_add_user_with_repeated_roles_and_conflicts(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform, "target")
        form = [
            ("login", "jdoe"),
            ("firstName", "Jo"),
            ("lastName", "D'Arcy"),
            ("email", "jo@example.com"),
            ("role", "student"),
            ("role", "teacher"),
            ("dateOfBirth", "1990-05-01"),
        ]
        assert (await client.post(f"{API}/addUser/U1", headers=headers, data=form)).status == 200
        user = await (await client.get(f"{API}/getUser/U1", headers=headers)).json()
        assert user["roles"] == ["student", "teacher"] and user["lastName"] == "D'Arcy"
        assert user["dateOfBirth"] == "1990-05-01" and user["active"] is True
        assert (await client.post(f"{API}/addUser/U1", headers=headers, data={"login": "other"})).status == 409
        assert (await client.post(f"{API}/addUser/U2", headers=headers, data={"login": "JDOE"})).status == 409
        resp = await client.post(f"{API}/addUser/U3", headers=headers, data={"firstName": "x"})
        assert resp.status == 400 and "login" in await resp.text()
        resp = await client.post(f"{API}/addUser/U3", headers=headers, data={"login": "u3", "role": "king"})
        assert resp.status == 400
        resp = await client.post(
            f"{API}/addUser/U3", headers=headers, data={"login": "u3", "dateOfBirth": "1990-02-31"}
        )
        assert resp.status == 400
        stats = platform.table("target", "user").stats()
        assert stats["creates"] == 1 and stats["count"] == 1


async def test_update_user_is_partial_and_keeps_a_set_date_of_birth(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform)
        before = await (await client.get(f"{API}/getUser/E0000001", headers=headers)).json()
        resp = await client.post(
            f"{API}/updateUser/E0000001", headers=headers, data={"function": "Chef", "dateOfBirth": ""}
        )
        assert resp.status == 200
        after = await (await client.get(f"{API}/getUser/E0000001", headers=headers)).json()
        assert after["function"] == "Chef"
        assert after["dateOfBirth"] == before["dateOfBirth"]  # cannot go back to empty
        assert {k: v for k, v in after.items() if k != "function"} == {
            k: v for k, v in before.items() if k != "function"
        }
        assert (
            await client.post(f"{API}/updateUser/NOPE", headers=headers, data={"function": "x"})
        ).status == 404
        assert platform.table("source", "user").updates == 1
    options = {"anewspring.clear_date_of_birth": "reject"}
    async with platform_server(ANewSpringPlatform, scale=50, options=options) as (client, platform):
        resp = await client.post(f"{API}/updateUser/E0000001", headers=key(platform), data={"dateOfBirth": ""})
        assert resp.status == 409


async def test_update_user_changes_external_id_and_archived(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform)
        resp = await client.post(f"{API}/updateUser/E0000001", headers=headers, data={"id": "E0000002"})
        assert resp.status == 409
        assert (
            await client.post(f"{API}/updateUser/E0000001", headers=headers, data={"id": "NEW1"})
        ).status == 200
        assert await (await client.get(f"{API}/userExists/E0000001", headers=headers)).json() == {
            "result": False
        }
        assert (
            await client.post(f"{API}/updateUser/NEW1", headers=headers, data={"archived": "true"})
        ).status == 200
        resp = await client.post(f"{API}/updateUser/NEW1", headers=headers, data={"function": "x"})
        assert resp.status == 409 and "archived" in await resp.text()
        resp = await client.post(f"{API}/updateUser/NEW1", headers=headers, data={"archived": "false"})
        assert resp.status == 200
        assert (await client.post(f"{API}/addUser/NEW1", headers=headers, data={"login": "q"})).status == 409


async def test_add_or_update_user_upserts_on_the_external_id(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform, "target")
        form = {"login": "amelie", "firstName": "Amélie", "email": "a@example.com"}
        assert (await client.post(f"{API}/addOrUpdateUser/E1", headers=headers, data=form)).status == 200
        form2 = {"firstName": "Amelie"}
        assert (await client.post(f"{API}/addOrUpdateUser/E1", headers=headers, data=form2)).status == 200
        user = await (await client.get(f"{API}/getUser/E1", headers=headers)).json()
        assert user["firstName"] == "Amelie" and user["email"] == "a@example.com"
        stats = platform.table("target", "user").stats()
        assert (stats["count"], stats["creates"], stats["updates"], stats["duplicates"]) == (1, 1, 1, 0)


async def test_add_user_roles(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform, "target")
        await client.post(f"{API}/addUser/R1", headers=headers, data={"login": "r1", "role": "student"})
        form = [("role", "teacher"), ("role", "student")]
        assert (await client.post(f"{API}/addUserRoles/R1", headers=headers, data=form)).status == 200
        user = await (await client.get(f"{API}/getUser/R1", headers=headers)).json()
        assert user["roles"] == ["student", "teacher"]
        strict = [("role", "student"), ("ignoreDuplicates", "false")]
        assert (await client.post(f"{API}/addUserRoles/R1", headers=headers, data=strict)).status == 409
        assert (await client.post(f"{API}/addUserRoles/R1", headers=headers)).status == 400
        assert (await client.post(f"{API}/addUserRoles/NOPE", headers=headers, data=form)).status == 404


async def test_delete_user_and_login_token(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform)
        token = await (await client.get(f"{API}/getLoginToken/E0000001", headers=headers)).json()
        assert isinstance(token["result"], str) and token["result"]
        assert (await client.post(f"{API}/deleteUser/E0000001", headers=headers)).status == 200
        assert (await client.post(f"{API}/deleteUser/E0000001", headers=headers)).status == 404
        assert (await client.get(f"{API}/getLoginToken/E0000001", headers=headers)).status == 404
        assert (await client.get(f"{API}/getSubscriptions/E0000001", headers=headers)).status == 404


async def test_duplicate_counter_counts_shared_emails(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform, "target")
        for ext, login in (("D1", "d1"), ("D2", "d2")):
            form = {"login": login, "email": "same@example.com"}
            assert (await client.post(f"{API}/addUser/{ext}", headers=headers, data=form)).status == 200
        assert platform.table("target", "user").stats()["duplicates"] == 1


async def test_assumed_switches_for_keys_required_fields_and_roles(platform_server: Any) -> None:
    options = {
        "anewspring.bad_key_status": 403,
        "anewspring.add_user_required": "login,lastName",
        "anewspring.default_role": "mentor",
        "anewspring.ignore_duplicates_default": True,
    }
    async with platform_server(ANewSpringPlatform, scale=50, options=options) as (client, platform):
        assert (await client.get(f"{API}/getUsers", headers={"X-API-Key": "bad"})).status == 403
        headers = key(platform, "target")
        resp = await client.post(f"{API}/addUser/M1", headers=headers, data={"login": "m1"})
        assert resp.status == 400 and "lastName" in await resp.text()
        assert (
            await client.post(f"{API}/addUser/M1", headers=headers, data={"login": "m1", "lastName": "M"})
        ).status == 200
        assert (await (await client.get(f"{API}/getUser/M1", headers=headers)).json())["roles"] == ["mentor"]
        await client.post(f"{API}/addGroup/MG", headers=headers, data={"type": "mentor", "name": "Mentors"})
        for _ in range(2):  # the second add is a duplicate, ignored by the switched default
            assert (
                await client.post(f"{API}/addGroupUsers/MG", headers=headers, data={"user": "M1"})
            ).status == 200
