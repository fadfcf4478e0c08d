"""After `POST /_sandbox/reset`, writes through every platform's API land in the records that
`/_sandbox/records` and `/_sandbox/stats` show (route handlers must not keep the pre-reset state)."""

from __future__ import annotations

import aiohttp

from migrator.sandbox.app import RunningSandbox


async def _stats(http: aiohttp.ClientSession, sb: RunningSandbox, platform: str, entity: str) -> dict[str, int]:
    async with http.get(sb.url("/_sandbox/stats")) as r:
        data = await r.json()
    stats: dict[str, int] = data["records"][platform]["target"][entity]
    return stats


async def test_writes_after_a_reset_are_visible(sandbox: RunningSandbox) -> None:
    env = sandbox.env()
    async with aiohttp.ClientSession() as http:
        async with http.post(sandbox.url("/_sandbox/reset"), json={"scale": 50}) as r:
            assert r.status == 200
        env = sandbox.env()  # credentials derive from the seed: unchanged, but read them again anyway

        # accessplanit v2: token, then a POST create
        form = {
            "grant_type": "password",
            "username": env["ACCESSPLANIT_TARGET_USERNAME"],
            "password": env["ACCESSPLANIT_TARGET_PASSWORD"],
        }
        async with http.post(env["ACCESSPLANIT_V2_BASE_URL"] + "/token", data=form) as r:
            token = (await r.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        body = {"Forenames": "Renée", "Surname": "O'Brien", "Email": "renee@example.com"}
        async with http.post(env["ACCESSPLANIT_V2_BASE_URL"] + "/user", json=body, headers=headers) as r:
            assert r.status == 201
        apit = await _stats(http, sandbox, "accessplanit", "user")
        assert (apit["count"], apit["creates"]) == (1, 1)
        async with http.get(sandbox.url("/_sandbox/records/accessplanit/target/user")) as r:
            assert "renee@example.com" in await r.text()

        # Velpic: a bulk import into the target
        users = {"users": [{"firstName": "A", "lastName": "B", "emailAddress": "a@example.com", "roles": [6]}]}
        key = {"AccessKey": env["VELPIC_TARGET_ACCESS_KEY"]}
        async with http.post(env["VELPIC_BASE_URL"] + "/bulkUserImport", json=users, headers=key) as r:
            assert r.status == 200
        velpic = await _stats(http, sandbox, "velpic", "user")
        assert (velpic["count"], velpic["creates"]) == (1, 1)
