"""Velpic emulator: users — list filters and paging, get, create, update, activate, login URL."""

from __future__ import annotations

import re
from typing import Any, cast

from migrator.sandbox.velpic import VelpicPlatform

API = "/velpic/api/v2"
USER_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")
MILLIS_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
USER_FIELDS = {
    "id",
    "userName",
    "firstName",
    "lastName",
    "emailAddress",
    "phoneNumber",
    "mobileNumber",
    "employeeNumber",
    "clientStatusId",
    "groups",
    "groupsSupervised",
    "roles",
    "timeZone",
    "createdDate",
    "modifiedDate",
}
# The document's "Create User" example, with a valid role (its roles:[1] is outside the enum 3-8).
DOC_CREATE = {
    "userName": "j.smith",
    "firstName": "John",
    "lastName": "Smith",
    "emailAddress": "john.smith@gmail.com",
    "phoneNumber": "0811112222",
    "mobileNumber": "0411222333",
    "employeeNumber": "E123",
    "sendWelcomeEmail": True,
    "password": "xsr113sdgas53",
    "roles": [6],
    "timeZone": "Australia/Perth",
}


def auth(platform: Any, tenant: str = "source") -> dict[str, str]:
    return {"AccessKey": cast(VelpicPlatform, platform).access_key(tenant)}


async def get_json(client: Any, platform: Any, path: str, tenant: str = "source") -> Any:
    resp = await client.get(API + path, headers=auth(platform, tenant))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_list_defaults_to_active_users_with_meta_and_request_dates(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=60) as (client, platform):
        state = cast(VelpicPlatform, platform).state["source"]
        active = sum(1 for u in state.users if u["clientStatusId"] == 56)
        assert 0 < active < 60
        body = await get_json(client, platform, "/user")
        assert body["meta"]["totalResultCount"] == active
        assert body["meta"]["startIndex"] == 0
        assert body["meta"]["endIndex"] == active
        assert all(u["clientStatusId"] == 56 for u in body["results"])
        assert [u["id"] for u in body["results"]] == sorted(u["id"] for u in body["results"])
        for where in (body, body["meta"]):
            assert MILLIS_DATE.match(where["createdDate"]) and MILLIS_DATE.match(where["modifiedDate"])
        inactive = await get_json(client, platform, "/user?activeValue=inactive")
        assert inactive["meta"]["totalResultCount"] == 60 - active
        assert all(u["clientStatusId"] == 57 for u in inactive["results"])
        assert (await get_json(client, platform, "/user?activeValue=all"))["meta"]["totalResultCount"] == 60
        resp = await client.get(f"{API}/user?activeValue=maybe", headers=auth(platform))
        assert resp.status == 400
        assert (await resp.json())["internalCode"] == 400


async def test_user_shape_and_date_format(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=10) as (client, platform):
        first = (await get_json(client, platform, "/user?activeValue=all&maxResults=1"))["results"][0]
        user = await get_json(client, platform, f"/user/{first['id']}")
        assert user == first
        assert set(user) >= USER_FIELDS
        assert USER_DATE.match(user["createdDate"]) and USER_DATE.match(user["modifiedDate"])
        assert user["groups"] and all(set(g) == {"id"} for g in user["groups"])
        assert user["timeZone"] == "Australia/Perth"
        for bad in ("999", "abc"):
            resp = await client.get(f"{API}/user/{bad}", headers=auth(platform))
            assert resp.status == 404
            assert (await resp.json())["internalCode"] == 404


async def test_filters_q_emp_id_email_and_role(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=60) as (client, platform):
        users = (await get_json(client, platform, "/user?activeValue=all"))["results"]
        target = users[7]
        found = await get_json(client, platform, f"/user?activeValue=all&empId={target['employeeNumber']}")
        assert [u["id"] for u in found["results"]] == [target["id"]]
        assert (await get_json(client, platform, "/user?activeValue=all&empId=E99"))["results"] == []
        email = target["emailAddress"].upper()
        found = await get_json(client, platform, f"/user?activeValue=all&emailAddress={email}")
        assert [u["id"] for u in found["results"]] == [target["id"]]
        needle = target["lastName"][1:4].upper()
        found = await get_json(client, platform, f"/user?activeValue=all&q={needle}")
        want = [
            u["id"]
            for u in users
            if any(needle.casefold() in u[f].casefold() for f in ("userName", "firstName", "lastName"))
        ]
        assert [u["id"] for u in found["results"]] == want and target["id"] in want
        trainees = await get_json(client, platform, "/user?activeValue=all&roleId=6")
        assert trainees["results"] and all(6 in u["roles"] for u in trainees["results"])
        assert trainees["meta"]["totalResultCount"] == sum(1 for u in users if 6 in u["roles"])


async def test_paging_edges(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=25) as (client, platform):
        everyone = (await get_json(client, platform, "/user?activeValue=all"))["results"]
        ids = [u["id"] for u in everyone]
        page = await get_json(client, platform, "/user?activeValue=all&startIndex=20&maxResults=10")
        assert [u["id"] for u in page["results"]] == ids[20:]
        assert page["meta"] == {**page["meta"], "totalResultCount": 25, "startIndex": 20, "endIndex": 25}
        zero = await get_json(client, platform, "/user?activeValue=all&maxResults=0")
        assert len(zero["results"]) == 25  # maxResults 0 = no limit
        past = await get_json(client, platform, "/user?activeValue=all&startIndex=40&maxResults=5")
        assert past["results"] == [] and past["meta"]["startIndex"] == 40 and past["meta"]["endIndex"] == 40
        for bad in ("startIndex=-1", "maxResults=x"):
            assert (await client.get(f"{API}/user?{bad}", headers=auth(platform))).status == 400
    options = {"velpic.end_index": "inclusive", "velpic.default_max_results": 20}
    async with platform_server(VelpicPlatform, scale=25, options=options) as (client, platform):
        page = await get_json(client, platform, "/user?activeValue=all&startIndex=0&maxResults=10")
        assert page["meta"]["endIndex"] == 9
        page = await get_json(client, platform, "/user?activeValue=all")  # maxResults absent: 20
        assert len(page["results"]) == 20 and page["meta"]["totalResultCount"] == 25
        assert len((await get_json(client, platform, "/user?activeValue=all&maxResults=0"))["results"]) == 25


async def test_a_largest_page_caps_every_list_whatever_maxresults_asks(platform_server: Any) -> None:
    """``velpic.max_page_size``: no largest page is documented, so the sandbox can answer fewer rows than asked
    (the total still says how many the list holds); without it a list answers what it is asked."""
    async with platform_server(VelpicPlatform, scale=25, options={"velpic.max_page_size": 7}) as (
        client,
        platform,
    ):
        for asked in ("maxResults=1000", "maxResults=0", ""):
            page = await get_json(client, platform, f"/user?activeValue=all&startIndex=14&{asked}")
            assert len(page["results"]) == 7 and page["meta"]["totalResultCount"] == 25
        few = await get_json(client, platform, "/user?activeValue=all&startIndex=0&maxResults=3")
        assert len(few["results"]) == 3
    async with platform_server(VelpicPlatform, scale=25) as (client, platform):
        page = await get_json(client, platform, "/user?activeValue=all&startIndex=0&maxResults=1000")
        assert len(page["results"]) == 25


async def test_create_user_returns_id_and_dates_and_applies_defaults(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        resp = await client.post(f"{API}/user", headers=auth(platform, "target"), json=DOC_CREATE)
        assert resp.status == 200
        created = await resp.json()
        assert set(created) == {"id", "createdDate", "modifiedDate"}
        assert MILLIS_DATE.match(created["createdDate"])
        user = await get_json(client, platform, f"/user/{created['id']}", "target")
        assert {k: user[k] for k in ("userName", "firstName", "emailAddress", "employeeNumber", "roles")} == {
            "userName": "j.smith",
            "firstName": "John",
            "emailAddress": "john.smith@gmail.com",
            "employeeNumber": "E123",
            "roles": [6],
        }
        assert "password" not in user and user["clientStatusId"] == 56
        minimal = {"firstName": "Zoë", "lastName": "O'Brien", "emailAddress": "zoe@example.com"}
        created = await (
            await client.post(f"{API}/user", headers=auth(platform, "target"), json=minimal)
        ).json()
        user = await get_json(client, platform, f"/user/{created['id']}", "target")
        assert (
            user["roles"] == [6] and user["timeZone"] == "Australia/Perth" and user["userName"] == "zoeobrien"
        )
        assert cast(VelpicPlatform, platform).tables["target"]["user"].creates == 2


async def test_create_user_validation_and_invalid_role_switch(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        resp = await client.post(f"{API}/user", headers=auth(platform), json={**DOC_CREATE, "roles": [1]})
        assert resp.status == 400
        assert await resp.json() == {"internalCode": 400, "error": "Invalid role"}
        body = {k: v for k, v in DOC_CREATE.items() if k != "lastName"}
        resp = await client.post(f"{API}/user", headers=auth(platform), json=body)
        assert resp.status == 400
        assert "lastName" in (await resp.json())["error"]
        resp = await client.post(f"{API}/user", headers=auth(platform), data=b"{not json")
        assert resp.status == 400
        resp = await client.post(
            f"{API}/user", headers=auth(platform), json={**DOC_CREATE, "groups": [{"id": 5}]}
        )
        assert resp.status == 400
    async with platform_server(VelpicPlatform, scale=5, options={"velpic.invalid_role": "store"}) as (
        client,
        p,
    ):
        resp = await client.post(f"{API}/user", headers=auth(p), json={**DOC_CREATE, "roles": [1]})
        assert resp.status == 200
        assert (await get_json(client, p, f"/user/{(await resp.json())['id']}"))["roles"] == [1]


async def test_duplicate_email_allowed_by_default_and_counted_or_rejected_by_switch(
    platform_server: Any,
) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        for _ in range(2):
            assert (
                await client.post(f"{API}/user", headers=auth(platform, "target"), json=DOC_CREATE)
            ).status == 200
        assert cast(VelpicPlatform, platform).tables["target"]["user"].duplicates() == 1
    async with platform_server(VelpicPlatform, scale=5, options={"velpic.unique_email": "reject"}) as (
        client,
        p,
    ):
        assert (await client.post(f"{API}/user", headers=auth(p, "target"), json=DOC_CREATE)).status == 200
        upper = {**DOC_CREATE, "emailAddress": "JOHN.SMITH@gmail.com"}
        resp = await client.post(f"{API}/user", headers=auth(p, "target"), json=upper)
        assert resp.status == 409
        assert cast(VelpicPlatform, p).tables["target"]["user"].duplicates() == 0


async def test_update_is_a_full_replacement_via_put_or_post(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=10) as (client, platform):
        users = (await get_json(client, platform, "/user?activeValue=all"))["results"]
        user = users[0]
        groups = (await get_json(client, platform, "/group"))["results"]
        other = next(g["id"] for g in groups if {"id": g["id"]} not in user["groups"])
        body = {
            "id": user["id"],
            "userName": "Username",
            "firstName": "John",
            "lastName": "Smith",
            "emailAddress": "john.smith@gmail.com",
            "phoneNumber": "0811112222",
            "mobileNumber": "0411222333",
            "employeeNumber": "E123",
            "groups": [{"id": other}],
            "groupsSupervised": [],
            "password": "xsr113sdgas53",
            "roles": [3],
            "timeZone": "Australia/Perth",
        }
        resp = await client.put(f"{API}/user/{user['id']}", headers=auth(platform), json=body)
        assert resp.status == 200
        updated = await resp.json()
        assert {k: updated[k] for k in body if k != "password"} == {
            k: v for k, v in body.items() if k != "password"
        }
        assert updated["createdDate"] == user["createdDate"] and USER_DATE.match(updated["modifiedDate"])
        # indexes and memberships follow the update
        old = await get_json(client, platform, f"/user?activeValue=all&emailAddress={user['emailAddress']}")
        assert old["results"] == []
        found = await get_json(client, platform, "/user?activeValue=all&emailAddress=john.smith@gmail.com")
        assert [u["id"] for u in found["results"]] == [user["id"]]
        members = await get_json(client, platform, f"/group/{other}/member")
        assert user["id"] in [u["id"] for u in members["results"]]
        before = await get_json(client, platform, f"/group/{user['groups'][0]['id']}/member")
        assert user["id"] not in [u["id"] for u in before["results"]]
        # POST /user/{id} is accepted too; employeeNumber may be null
        resp = await client.post(
            f"{API}/user/{user['id']}", headers=auth(platform), json={**body, "employeeNumber": None}
        )
        assert resp.status == 200 and (await resp.json())["employeeNumber"] is None


async def test_update_missing_fields_rejected_or_lenient_by_switch(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        uid = (await get_json(client, platform, "/user?activeValue=all"))["results"][0]["id"]
        resp = await client.put(f"{API}/user/{uid}", headers=auth(platform), json={"id": uid, "firstName": "X"})
        assert resp.status == 400
        error = (await resp.json())["error"]
        assert "phoneNumber" in error and "roles" in error
        resp = await client.put(f"{API}/user/{uid}", headers=auth(platform), json={"id": uid + 1})
        assert resp.status == 400
        assert (await client.put(f"{API}/user/4", headers=auth(platform), json={})).status == 404
    options = {"velpic.update_missing_fields": "lenient"}
    async with platform_server(VelpicPlatform, scale=5, options=options) as (client, platform):
        before = (await get_json(client, platform, "/user?activeValue=all"))["results"][0]
        resp = await client.put(
            f"{API}/user/{before['id']}", headers=auth(platform), json={"firstName": "Renée"}
        )
        assert resp.status == 200
        after = await resp.json()
        assert after["firstName"] == "Renée" and after["lastName"] == before["lastName"]


async def test_activate_and_inactivate(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=10) as (client, platform):
        uid = (await get_json(client, platform, "/user"))["results"][0]["id"]
        resp = await client.post(f"{API}/user/{uid}/inactivate", headers=auth(platform))
        assert resp.status == 200 and await resp.read() == b""
        assert (await get_json(client, platform, f"/user/{uid}"))["clientStatusId"] == 57
        assert uid not in [u["id"] for u in (await get_json(client, platform, "/user"))["results"]]
        assert uid in [
            u["id"] for u in (await get_json(client, platform, "/user?activeValue=inactive"))["results"]
        ]
        assert (await client.post(f"{API}/user/{uid}/activate", headers=auth(platform))).status == 200
        assert (await get_json(client, platform, f"/user/{uid}"))["clientStatusId"] == 56
        assert (await client.post(f"{API}/user/12/activate", headers=auth(platform))).status == 404


async def test_generate_login_url(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        uid = (await get_json(client, platform, "/user?activeValue=all"))["results"][0]["id"]
        resp = await client.post(f"{API}/user/{uid}/generate_login_url?expiresIn=day", headers=auth(platform))
        assert resp.status == 200
        url = await resp.json()
        assert isinstance(url, str) and url.startswith("http://127.0.0.1:") and "touch" in url
        for bad in ("", "?expiresIn=fortnight"):
            resp = await client.post(f"{API}/user/{uid}/generate_login_url{bad}", headers=auth(platform))
            assert resp.status == 400


async def test_user_date_format_switch_to_millis(platform_server: Any) -> None:
    options = {"velpic.user_date_format": "millis"}
    async with platform_server(VelpicPlatform, scale=5, options=options) as (client, platform):
        user = (await get_json(client, platform, "/user?activeValue=all"))["results"][0]
        assert MILLIS_DATE.match(user["createdDate"])
        resp = await client.post(f"{API}/user", headers=auth(platform), json=DOC_CREATE)
        created = await get_json(client, platform, f"/user/{(await resp.json())['id']}")
        assert MILLIS_DATE.match(created["modifiedDate"])
