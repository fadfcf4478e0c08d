"""Velpic emulator: groups — list, get, create, update, members, supervisors, inactivate."""

from __future__ import annotations

import re
from typing import Any, cast

from migrator.sandbox.velpic import VelpicPlatform

API = "/velpic/api/v2"
GROUP_DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
GROUP_FIELDS = {"id", "name", "parentId", "description", "memberCount", "createdDate", "clientId"}


def auth(platform: Any, tenant: str = "source") -> dict[str, str]:
    return {"AccessKey": cast(VelpicPlatform, platform).access_key(tenant)}


async def call(client: Any, platform: Any, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    resp = await client.request(method, API + path, headers=auth(platform), json=body)
    assert resp.status == status, await resp.text()
    raw = await resp.read()
    return await resp.json() if raw else None


def not_found_842(gid: Any) -> dict[str, Any]:
    return {
        "message": f"Group with id {gid} not found",
        "reason": "Group not found",
        "internalCode": 842,
        "statusCode": 404,
    }


async def test_list_and_get_groups(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=100) as (client, platform):
        body = await call(client, platform, "GET", "/group")
        groups = body["results"]
        assert body["meta"] == {"totalResultCount": len(groups), "startIndex": 0, "endIndex": len(groups)}
        assert len(groups) == 3
        for group in groups:
            assert set(group) == GROUP_FIELDS and GROUP_DATE.match(group["createdDate"])
            members = await call(client, platform, "GET", f"/group/{group['id']}/member")
            assert members["meta"]["totalResultCount"] == group["memberCount"]
            assert all({"id": group["id"]} in u["groups"] for u in members["results"])
        assert sum(g["memberCount"] for g in groups) == 100
        one = await call(client, platform, "GET", f"/group/{groups[1]['id']}")
        assert one == groups[1]
        word = groups[0]["name"].split()[0].lower()
        found = await call(client, platform, "GET", f"/group?q={word}")
        assert [g["id"] for g in found["results"]] == [g["id"] for g in groups if word in g["name"].lower()]
        paged = await call(client, platform, "GET", "/group?startIndex=1&maxResults=1")
        assert [g["id"] for g in paged["results"]] == [groups[1]["id"]]
        assert paged["meta"] == {"totalResultCount": 3, "startIndex": 1, "endIndex": 2}


async def test_get_unknown_group_answers_the_documented_404_with_842(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        body = await call(client, platform, "GET", "/group/99999", status=404)
        assert body == {
            "message": "No group found for that Id",
            "reason": "No Group found",
            "error": True,
            "internalCode": 842,
            "statusCode": 404,
        }
    options = {"velpic.group_get_not_found_code": "TBD"}
    async with platform_server(VelpicPlatform, scale=5, options=options) as (client, platform):
        body = await call(client, platform, "GET", "/group/99999", status=404)
        assert body["internalCode"] == "TBD"


async def test_create_and_update_group(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        parent = (await call(client, platform, "GET", "/group"))["results"][0]["id"]
        doc_body = {"name": "Dev Group", "description": "The Development Team", "parentId": parent}
        created = await call(client, platform, "POST", "/group", doc_body)
        assert set(created) == GROUP_FIELDS
        assert {k: created[k] for k in doc_body} == doc_body
        assert created["memberCount"] == 0 and GROUP_DATE.match(created["createdDate"])
        assert await call(client, platform, "GET", f"/group/{created['id']}") == created
        updated = await call(
            client, platform, "POST", f"/group/{created['id']}", {"name": "Ops", "description": "Operations"}
        )
        assert updated["name"] == "Ops" and updated["parentId"] == parent
        for bad in ({"name": "No description"}, {"description": "no name"}, {**doc_body, "parentId": 4242}):
            err = await call(client, platform, "POST", "/group", bad, status=400)
            assert err["internalCode"] == 400
        await call(client, platform, "POST", f"/group/{created['id']}", {"name": "x"}, status=400)
        await call(client, platform, "POST", "/group/77777", doc_body, status=404)
        assert cast(VelpicPlatform, platform).tables["source"]["group"].creates == 1


async def test_duplicate_group_names_allowed_and_counted_or_rejected_by_switch(platform_server: Any) -> None:
    body = {"name": "Crew", "description": "x"}
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        await call(client, platform, "POST", "/group", body)
        await call(client, platform, "POST", "/group", {**body, "name": " crew "})
        assert cast(VelpicPlatform, platform).tables["source"]["group"].duplicates() == 1
    async with platform_server(VelpicPlatform, scale=5, options={"velpic.duplicate_group_name": "reject"}) as (
        client,
        platform,
    ):
        await call(client, platform, "POST", "/group", body)
        err = await call(client, platform, "POST", "/group", {**body, "name": "CREW"}, status=409)
        assert err["internalCode"] == 409


async def test_members_add_list_remove_keep_users_consistent(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=20) as (client, platform):
        gid = (await call(client, platform, "POST", "/group", {"name": "Crew", "description": "x"}))["id"]
        ids = [
            u["id"]
            for u in (await call(client, platform, "GET", "/user?activeValue=all&maxResults=5"))["results"]
        ]
        assert await call(client, platform, "POST", f"/group/{gid}/add_members", {"userIds": ids}) is None
        await call(client, platform, "POST", f"/group/{gid}/add_members", {"userIds": ids[:2]})  # idempotent
        members = await call(client, platform, "GET", f"/group/{gid}/member?startIndex=0&maxResults=3")
        assert [u["id"] for u in members["results"]] == ids[:3]
        assert members["meta"] == {"totalResultCount": 5, "startIndex": 0, "endIndex": 3}
        assert (await call(client, platform, "GET", f"/group/{gid}"))["memberCount"] == 5
        user = await call(client, platform, "GET", f"/user/{ids[0]}")
        assert {"id": gid} in user["groups"]
        await call(client, platform, "POST", f"/group/{gid}/remove_members", {"userIds": ids[:1]})
        assert {"id": gid} not in (await call(client, platform, "GET", f"/user/{ids[0]}"))["groups"]
        assert (await call(client, platform, "GET", f"/group/{gid}"))["memberCount"] == 4
        err = await call(client, platform, "POST", f"/group/{gid}/add_members", {"userIds": [1, 2]}, status=400)
        assert err["internalCode"] == 400
        assert (await call(client, platform, "GET", f"/group/{gid}"))["memberCount"] == 4


async def test_supervisors_add_list_remove(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=20) as (client, platform):
        gid = (await call(client, platform, "POST", "/group", {"name": "Crew", "description": "x"}))["id"]
        uid = (await call(client, platform, "GET", "/user?maxResults=1"))["results"][0]["id"]
        await call(client, platform, "POST", f"/group/{gid}/add_supervisors", {"userIds": [uid]})
        sups = await call(client, platform, "GET", f"/group/{gid}/supervisor")
        assert [u["id"] for u in sups["results"]] == [uid]
        assert sups["meta"]["totalResultCount"] == 1
        assert {"id": gid} in (await call(client, platform, "GET", f"/user/{uid}"))["groupsSupervised"]
        assert (await call(client, platform, "GET", f"/group/{gid}"))["memberCount"] == 0
        await call(client, platform, "POST", f"/group/{gid}/remove_supervisors", {"userIds": [uid]})
        assert (await call(client, platform, "GET", f"/group/{gid}/supervisor"))["results"] == []
        assert {"id": gid} not in (await call(client, platform, "GET", f"/user/{uid}"))["groupsSupervised"]


async def test_seeded_supervisors_are_listed(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=100) as (client, platform):
        users = (await call(client, platform, "GET", "/user?activeValue=all"))["results"]
        supervising = [u for u in users if u["groupsSupervised"]]
        assert supervising
        gid = supervising[0]["groupsSupervised"][0]["id"]
        sups = await call(client, platform, "GET", f"/group/{gid}/supervisor")
        assert supervising[0]["id"] in [u["id"] for u in sups["results"]]


async def test_unknown_group_on_membership_endpoints_answers_842(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        for method, suffix in (
            ("POST", "add_members"),
            ("POST", "remove_members"),
            ("POST", "add_supervisors"),
            ("POST", "remove_supervisors"),
            ("GET", "member"),
            ("GET", "supervisor"),
            ("POST", "inactivate"),
        ):
            body = await call(client, platform, method, f"/group/1/{suffix}", {"userIds": [1]}, status=404)
            assert body == not_found_842(1), suffix


async def test_inactivate_group_hides_it_from_the_list(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        gid = (await call(client, platform, "POST", "/group", {"name": "Old", "description": "x"}))["id"]
        assert await call(client, platform, "POST", f"/group/{gid}/inactivate") is None
        assert gid not in [g["id"] for g in (await call(client, platform, "GET", "/group"))["results"]]
        assert (await call(client, platform, "GET", f"/group/{gid}"))["id"] == gid
    options = {"velpic.list_inactive_groups": "true"}  # a command-line string counts as a boolean
    async with platform_server(VelpicPlatform, scale=5, options=options) as (client, platform):
        gid = (await call(client, platform, "POST", "/group", {"name": "Old", "description": "x"}))["id"]
        await call(client, platform, "POST", f"/group/{gid}/inactivate")
        assert gid in [g["id"] for g in (await call(client, platform, "GET", "/group"))["results"]]
