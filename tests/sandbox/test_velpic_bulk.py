"""Velpic emulator: POST /bulkUserImport — mergeType values, roles reset, partial update, invalid rows."""

from __future__ import annotations

from typing import Any, cast

import pytest

from migrator.sandbox.velpic import VelpicPlatform

API = "/velpic/api/v2"
# The document's "Bulk Create User" example.
DOC_BULK = {
    "users": [
        {
            "userName": "j.smith",
            "firstName": "John",
            "lastName": "Smith",
            "emailAddress": "john.smith@gmail.com",
            "phoneNumber": "0811112222",
            "mobileNumber": "0411222333",
            "employeeNumber": "E123",
            "roles": [1],
            "timeZone": "Australia/Perth",
        }
    ],
    "mergeType": "none",
}


def auth(platform: Any, tenant: str = "target") -> dict[str, str]:
    return {"AccessKey": cast(VelpicPlatform, platform).access_key(tenant)}


def row(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "firstName": f"First{n}",
        "lastName": f"Last{n}",
        "emailAddress": f"user{n}@example.com",
        "employeeNumber": f"EMP{n}",
        "userName": f"user{n}",
        "roles": [6],
        **extra,
    }


async def bulk(
    client: Any, platform: Any, users: list[Any], merge: str | None = None, status: int = 200
) -> Any:
    body: dict[str, Any] = {"users": users}
    if merge is not None:
        body["mergeType"] = merge
    resp = await client.post(f"{API}/bulkUserImport", headers=auth(platform), json=body)
    assert resp.status == status, await resp.text()
    return await resp.json()


def user_table(platform: Any) -> Any:
    return cast(VelpicPlatform, platform).tables["target"]["user"]


async def test_doc_example_invalid_role_rejected_by_default_and_stored_by_switch(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        resp = await client.post(f"{API}/bulkUserImport", headers=auth(platform), json=DOC_BULK)
        assert resp.status == 400
        assert await resp.json() == {"internalCode": 400, "error": "Invalid role"}
        assert len(user_table(platform)) == 0
    async with platform_server(VelpicPlatform, scale=5, options={"velpic.invalid_role": "store"}) as (
        client,
        p,
    ):
        resp = await client.post(f"{API}/bulkUserImport", headers=auth(p), json=DOC_BULK)
        assert resp.status == 200
        out = await resp.json()
        assert isinstance(out, list) and len(out) == 1
        assert out[0]["roles"] == [1] and out[0]["userName"] == "j.smith" and out[0]["clientStatusId"] == 56
        assert {"id", "createdDate", "modifiedDate", "groups", "groupsSupervised"} <= set(out[0])


async def test_merge_type_none_is_the_default_and_always_creates(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        first = await bulk(client, platform, [row(1)])
        second = await bulk(client, platform, [row(1)], "none")
        assert first[0]["id"] != second[0]["id"]
        assert len(user_table(platform)) == 2
        assert user_table(platform).duplicates() == 1


async def test_merge_on_email_is_case_insensitive_partial_and_in_input_order(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        existing = await bulk(client, platform, [row(1, phoneNumber="0811112222"), row(2)])
        out = await bulk(
            client,
            platform,
            [
                row(3),
                {"firstName": "Johnny", "lastName": "Last1", "emailAddress": "USER1@EXAMPLE.COM", "roles": [6]},
            ],
            "email",
        )
        assert [u["emailAddress"] for u in out] == ["user3@example.com", "user1@example.com".upper()]
        assert out[1]["id"] == existing[0]["id"]
        assert out[1]["firstName"] == "Johnny"
        assert out[1]["phoneNumber"] == "0811112222"  # not supplied: kept
        assert out[1]["employeeNumber"] == "EMP1"
        assert len(user_table(platform)) == 3 and user_table(platform).updates == 1


async def test_merge_on_user_name_and_employee_number(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        existing = await bulk(client, platform, [row(1), row(2)])
        out = await bulk(client, platform, [row(9, userName="USER1")], "userName")
        assert out[0]["id"] == existing[0]["id"] and out[0]["emailAddress"] == "user9@example.com"
        out = await bulk(client, platform, [row(8, employeeNumber="EMP2")], "empNo")
        assert out[0]["id"] == existing[1]["id"] and out[0]["firstName"] == "First8"
        out = await bulk(client, platform, [row(7, employeeNumber="emp2")], "empNo")
        assert out[0]["id"] not in (existing[0]["id"], existing[1]["id"])  # employee numbers match exactly
        assert len(user_table(platform)) == 3


async def test_merged_row_without_roles_resets_roles_to_trainee(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        admin = (await bulk(client, platform, [row(1, roles=[3, 5])]))[0]
        kept = await bulk(client, platform, [row(1, roles=[3, 5], firstName="A")], "email")
        assert kept[0]["roles"] == [3, 5]
        no_roles = {k: v for k, v in row(1).items() if k != "roles"}
        reset = await bulk(client, platform, [no_roles], "email")
        assert reset[0]["id"] == admin["id"]
        assert reset[0]["roles"] == [6]
        resp = await client.get(f"{API}/user/{admin['id']}", headers=auth(platform))
        assert (await resp.json())["roles"] == [6]


async def test_lowest_id_wins_when_several_users_match(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        a = (await bulk(client, platform, [row(1)]))[0]
        b = (await bulk(client, platform, [row(1)]))[0]
        assert a["id"] < b["id"]
        out = await bulk(client, platform, [row(1, firstName="Merged")], "email")
        assert out[0]["id"] == a["id"]
        resp = await client.get(f"{API}/user/{b['id']}", headers=auth(platform))
        assert (await resp.json())["firstName"] == "First1"


async def test_rows_in_one_request_are_applied_in_order(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        out = await bulk(client, platform, [row(1), row(1, firstName="Second")], "email")
        assert out[0]["id"] == out[1]["id"]
        assert out[1]["firstName"] == "Second"
        assert len(user_table(platform)) == 1


async def test_invalid_row_rejects_the_whole_request_or_is_skipped_by_switch(platform_server: Any) -> None:
    bad = {"lastName": "NoFirst", "emailAddress": "nofirst@example.com"}
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        err = await bulk(client, platform, [row(1), bad, row(3)], "email", status=400)
        assert err["internalCode"] == 400 and "users[1]" in err["error"] and "firstName" in err["error"]
        assert len(user_table(platform)) == 0
        err = await bulk(client, platform, [row(1), "not an object"], status=400)
        assert "users[1]" in err["error"]
    options = {"velpic.bulk_invalid_row": "skip"}
    async with platform_server(VelpicPlatform, scale=5, options=options) as (client, platform):
        out = await bulk(client, platform, [row(1), bad, row(3)], "email")
        assert [u["emailAddress"] for u in out] == ["user1@example.com", "user3@example.com"]
        assert len(user_table(platform)) == 2
        # an invalid role still fails the whole request
        err = await bulk(client, platform, [row(4), row(5, roles=[1])], status=400)
        assert err == {"internalCode": 400, "error": "Invalid role"}
        assert len(user_table(platform)) == 2


async def test_request_level_validation(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        for body in ({}, {"users": "x"}, {"users": [], "mergeType": "employee"}, [1, 2]):
            resp = await client.post(f"{API}/bulkUserImport", headers=auth(platform), json=body)
            assert resp.status == 400, body
            assert (await resp.json())["internalCode"] == 400
        assert await bulk(client, platform, []) == []


async def test_groups_in_rows_keep_memberships_consistent(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        resp = await client.post(
            f"{API}/group", headers=auth(platform), json={"name": "Crew", "description": "Site crew"}
        )
        gid = (await resp.json())["id"]
        out = await bulk(client, platform, [row(1, groups=[{"id": gid}]), row(2)])
        members = await (await client.get(f"{API}/group/{gid}/member", headers=auth(platform))).json()
        assert [u["id"] for u in members["results"]] == [out[0]["id"]]
        out2 = await bulk(client, platform, [row(1, groups=[])], "email")
        assert out2[0]["groups"] == []
        members = await (await client.get(f"{API}/group/{gid}/member", headers=auth(platform))).json()
        assert members["results"] == []
        assert (await bulk(client, platform, [row(3, groups=[{"id": 424242}])], status=400))[
            "internalCode"
        ] == 400


@pytest.mark.parametrize("omitted", ["keep", "reset"])
async def test_a_merged_row_without_groups_keeps_or_clears_them(platform_server: Any, omitted: str) -> None:
    """``bulk_omitted_groups``: what a merge does to the memberships and supervised groups a row leaves out
    is not documented; kept (``keep``) or cleared (``reset``), as the members and supervisors lists show."""
    options = {"velpic.bulk_omitted_groups": omitted}
    async with platform_server(VelpicPlatform, scale=5, options=options) as (client, platform):
        resp = await client.post(
            f"{API}/group",
            headers=auth(platform),
            json={"name": "Customer own group", "description": "made before the migration"},
        )
        gid = (await resp.json())["id"]
        (held,) = await bulk(client, platform, [row(1, groups=[{"id": gid}], groupsSupervised=[{"id": gid}])])
        (merged,) = await bulk(client, platform, [row(1, firstName="New")], "email")
        lists = {}
        for kind in ("member", "supervisor"):
            answer = await client.get(f"{API}/group/{gid}/{kind}", headers=auth(platform))
            lists[kind] = [u["id"] for u in (await answer.json())["results"]]
        want = [held["id"]] if omitted == "keep" else []
        assert lists == {"member": want, "supervisor": want}
        groups = [gid] if omitted == "keep" else []
        assert [g["id"] for g in merged["groups"]] == [g["id"] for g in merged["groupsSupervised"]] == groups


async def test_a_500_row_batch_creates_then_merges_every_row(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        rows = [row(n) for n in range(500)]
        created = await bulk(client, platform, rows, "empNo")
        assert len(created) == 500 and len({u["id"] for u in created}) == 500
        merged = await bulk(client, platform, [{**r, "mobileNumber": "0400"} for r in rows], "empNo")
        assert [u["id"] for u in merged] == [u["id"] for u in created]
        table = user_table(platform)
        assert (len(table), table.creates, table.updates, table.duplicates()) == (500, 500, 500, 0)


async def test_answer_order_switch_reverses_or_shuffles_the_answer(platform_server: Any) -> None:
    sent = [row(n) for n in range(6)]
    emails = [r["emailAddress"] for r in sent]
    for order in ("reversed", "shuffled"):
        options = {"velpic.bulk_answer_order": order}
        async with platform_server(VelpicPlatform, scale=5, options=options) as (client, platform):
            out = [u["emailAddress"] for u in await bulk(client, platform, sent, "email")]
            assert sorted(out) == sorted(emails) and out != emails
            assert out == emails[::-1] or order == "shuffled"
            again = [u["emailAddress"] for u in await bulk(client, platform, sent, "email")]
            assert again == out  # seeded: the same users answer in the same order
    async with platform_server(VelpicPlatform, scale=5, options={"velpic.bulk_answer_order": "x"}) as (c, p):
        err = await bulk(c, p, sent, "email", status=400)
        assert "bulk_answer_order must be one of as_sent, reversed, shuffled" in err["error"]


async def test_created_modified_switch_dates_a_new_users_modification_after_its_creation(
    platform_server: Any,
) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        [same] = await bulk(client, platform, [row(1)], "email")
        assert same["modifiedDate"] == same["createdDate"]
    async with platform_server(VelpicPlatform, scale=5, options={"velpic.created_modified": "later"}) as (
        client,
        platform,
    ):
        [later] = await bulk(client, platform, [row(1)], "email")
        assert later["modifiedDate"] > later["createdDate"]  # the next second in the +0000 format
        resp = await client.post(f"{API}/user", headers=auth(platform), json=row(2))
        created = await resp.json()
        assert created["modifiedDate"] > created["createdDate"]
        assert created["modifiedDate"][-5:] != created["createdDate"][-5:]  # 5 ms apart, .000Z format
