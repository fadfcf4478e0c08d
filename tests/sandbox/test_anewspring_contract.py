"""The aNewSpring connector against the sandbox over real HTTP, whichever way the platform behaves where its
document leaves it open: calls address users by external ID, and whether they also take the generated UID
(switch ``accept_uid``) is not documented. A read that calls the API once per user (details, companies,
subscriptions) never addresses a user by UID: users created in the UI, without an external ID, stop it with
what to do, instead of dropping out of it unseen; once they have an ID (``initializeId``) every user is read."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from migrator.connectors import anewspring
from migrator.connectors.base import Request
from migrator.runtime.failures import StepFailed
from migrator.sandbox.anewspring import ANewSpringPlatform
from tests.sandbox.loopback import connection, read_all

API = "/anewspring/api"
READS = [("user", ("firstName", "company")), ("company", ()), ("subscription", ())]


def key(p: Any) -> dict[str, str]:
    return {"api_key": p.api_key("source")}


def ui_users(platform: Any) -> list[dict[str, Any]]:
    return [u for u in platform.tenants["source"].users if u.get("id") is None]


@pytest.mark.parametrize("accept_uid", [True, False])
@pytest.mark.parametrize(("entity", "fields"), READS)
async def test_users_without_an_external_id_stop_a_read_per_user_with_what_to_do(
    accept_uid: bool, entity: str, fields: tuple[str, ...]
) -> None:
    options = {"anewspring.accept_uid": accept_uid}
    async with connection(ANewSpringPlatform, "anewspring", API, key, scale=90, options=options) as (
        transport,
        platform,
    ):
        missing = ui_users(platform)
        assert missing, "the seed has users created in the UI"
        with pytest.raises(StepFailed, match=f"{len(missing)} aNewSpring users have no external ID") as info:
            await read_all(transport, anewspring.make_reader(entity, {}, 100, "s", fields))
        assert "initializeId" in str(info.value)
        assert not any(r.startswith("/getUser/") for r in transport.stats.requests)  # nothing read per user


@pytest.mark.parametrize(("entity", "fields"), READS)
async def test_once_every_user_has_an_external_id_every_user_is_read(
    entity: str, fields: tuple[str, ...]
) -> None:
    options = {"anewspring.accept_uid": False}
    async with connection(ANewSpringPlatform, "anewspring", API, key, scale=90, options=options) as (
        transport,
        platform,
    ):
        for n, user in enumerate(ui_users(platform)):
            path = f"/initializeId/{quote(user['login'], safe='')}/UI-{n}"
            assert (await transport.send(Request("POST", path, "/initializeId"))).status == 200
        got = await read_all(transport, anewspring.make_reader(entity, {}, 100, "s", fields))
        users = list(platform.tenants["source"].users)
        if entity == "user":
            first_names = {u["uid"]: u.get("firstName") for u in users}
            assert {r["uid"]: r.get("firstName") for r in got} == first_names and len(got) == len(users)
        elif entity == "company":
            assert {r["name"] for r in got} == {u["company"] for u in users if (u.get("company") or "").strip()}
        else:
            subs = platform.tenants["source"].tables["subscription"]
            assert len(got) == len(subs) > 0
