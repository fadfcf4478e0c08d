"""accessplanit API v2 writes over real HTTP: POST, PUT, $upsert, DELETE, 400 ModelState bodies, counters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from migrator.sandbox.accessplanit import AccessPlanItPlatform

ROOT = "/accessplanit/accessplan"
V2 = f"{ROOT}/api/v2"

JOHN = {"Forenames": "John", "Surname": "Smith", "Email": "john.smith@my_company.com"}


def key(platform: Any, tenant: str = "source") -> dict[str, str]:
    return {"Authorization": f"Bearer {platform.credentials[tenant].api_key}"}


async def call(client: Any, platform: Any, method: str, url: str, body: Any = None, status: int = 200) -> Any:
    resp = await client.request(method, url, json=body, headers=key(platform))
    assert resp.status == status, await resp.text()
    return await resp.json()


def stats(platform: Any, entity: str, tenant: str = "source") -> dict[str, int]:
    return dict(platform.tables[tenant][entity].stats())


async def a_company_and_date(client: Any, platform: Any) -> tuple[str, dict[str, Any]]:
    company = (await call(client, platform, "GET", f"{V2}/company?$top=1"))["results"][0]["ID"]
    date = (await call(client, platform, "GET", f"{V2}/coursedate?$top=1&$select=ID,SpacesLeft,CourseID"))[
        "results"
    ][0]
    return company, date


async def test_post_creates_a_record_and_returns_201_with_its_string_id(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10) as (client, platform):
        company, _ = await a_company_and_date(client, platform)
        body = {
            **JOHN,
            "MiddleNames": "Paul",
            "DOB": "1990-05-04",
            "MainCompanyID": company,
            "ExternalID": "X1",
        }
        resp = await client.post(f"{V2}/user", json=body, headers=key(platform))
        assert resp.status == 201
        created = await resp.json()
        assert list(created) == ["ID"] and isinstance(created["ID"], str)
        assert created["ID"].startswith("josm")
        user = await call(client, platform, "GET", f"{V2}/user/{created['ID']}")
        now = datetime.fromtimestamp(platform.ctx.clock.now(), UTC).strftime("%Y-%m-%dT%H:%M")
        assert user["Fullname"] == "John Paul Smith"
        assert user["DOB"] == "1990-05-04T00:00:00"
        assert user["Status"] == "Active"
        assert user["MainCompanyID"] == company
        assert user["DateCreated"].startswith(now[:13])
        assert len(user["UniqueID"]) == 36
        assert stats(platform, "user")["creates"] == 1
        assert stats(platform, "user")["count"] == 11


async def test_create_a_course_date_and_book_it(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10, seed=3) as (client, platform):
        cd = {
            "CourseID": "FirAid",
            "StartDate": "2025-03-01T10:00:00",
            "EndDate": "2025-03-01T16:00:00",
            "Places": 8,
        }
        new_id = (await call(client, platform, "POST", f"{V2}/coursedate", cd, status=201))["ID"]
        assert new_id.isdigit()
        date = await call(client, platform, "GET", f"{V2}/coursedate/{new_id}")
        assert (date["SpacesLeft"], date["Status"], date["Label"]) == (
            8,
            "Available",
            "First Aid at Work - 2025-03-01",
        )
        user = (await call(client, platform, "GET", f"{V2}/user?$top=1"))["results"][0]["ID"]
        booking = {"UserID": user, "CourseDateID": new_id}
        bid = (await call(client, platform, "POST", f"{V2}/usercoursedate", booking, status=201))["ID"]
        got = await call(client, platform, "GET", f"{V2}/usercoursedate/{bid}")
        assert (got["CourseID"], got["Status"], got["UserID"]) == ("FirAid", "Booked", user)
        assert (await call(client, platform, "GET", f"{V2}/coursedate/{new_id}"))["SpacesLeft"] == 7
        await call(client, platform, "PUT", f"{V2}/usercoursedate/{bid}", {"Status": "Cancelled"})
        assert (await call(client, platform, "GET", f"{V2}/coursedate/{new_id}"))["SpacesLeft"] == 8
        await call(
            client, platform, "PUT", f"{V2}/usercoursedate/{bid}", {"Status": "completed", "Passed": "true"}
        )
        assert (await call(client, platform, "GET", f"{V2}/coursedate/{new_id}"))["SpacesLeft"] == 7
        await call(client, platform, "PUT", f"{V2}/coursedate/{new_id}", {"Places": 12})
        assert (await call(client, platform, "GET", f"{V2}/coursedate/{new_id}"))["SpacesLeft"] == 11
        await call(client, platform, "DELETE", f"{V2}/usercoursedate/{bid}")
        assert (await call(client, platform, "GET", f"{V2}/coursedate/{new_id}"))["SpacesLeft"] == 12


async def test_put_is_a_partial_update_returning_the_record(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10) as (client, platform):
        _, date = await a_company_and_date(client, platform)
        before = await call(client, platform, "GET", f"{V2}/coursedate/{date['ID']}")
        platform.ctx.clock.advance(86400)
        new_start = before["StartDate"][:11] + "09:30"
        after = await call(client, platform, "PUT", f"{V2}/coursedate/{date['ID']}", {"StartDate": new_start})
        assert after["StartDate"] == new_start + ":00"
        for name in ("CourseID", "Label", "Location", "Places", "SpacesLeft", "Status", "DateCreated"):
            assert after[name] == before[name], name
        assert after["DateUpdated"] > before["DateUpdated"]
        assert await call(client, platform, "GET", f"{V2}/coursedate/{date['ID']}") == after
        assert stats(platform, "coursedate")["updates"] == 1
        late = {"StartDate": "2030-01-01"}
        body = await call(client, platform, "PUT", f"{V2}/coursedate/{date['ID']}", late, status=400)
        assert body["ModelState"] == {"coursedate.EndDate": ["EndDate must not be before StartDate."]}
        await call(client, platform, "PUT", f"{V2}/coursedate/99999", {"Location": "x"}, status=404)


async def test_read_only_fields_are_ignored_on_write(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        user = await call(client, platform, "GET", f"{V2}/user?$top=1")
        uid = user["results"][0]["ID"]
        full = await call(client, platform, "GET", f"{V2}/user/{uid}")
        changed = await call(
            client,
            platform,
            "PUT",
            f"{V2}/user/{uid}",
            {**full, "ID": "hacked", "Fullname": "X", "Surname": "Zed"},
        )
        assert changed["ID"] == uid
        assert changed["Surname"] == "Zed"
        assert changed["Fullname"] == f"{full['Forenames'].strip()} Zed"


async def test_invalid_date_of_birth_gives_the_documents_400_body(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        body = await call(client, platform, "POST", f"{V2}/user", {**JOHN, "DOB": "1990-02-31"}, status=400)
        assert body == {
            "Message": "The request is invalid.",
            "ModelState": {"user.DateOfBirth": ["An error has occurred."]},
        }
        uid = (await call(client, platform, "GET", f"{V2}/user?$top=1"))["results"][0]["ID"]
        body = await call(client, platform, "PUT", f"{V2}/user/{uid}", {"DOB": "not a date"}, status=400)
        assert body["ModelState"] == {"user.DateOfBirth": ["An error has occurred."]}
        assert stats(platform, "user") == {"count": 5, "creates": 0, "updates": 0, "duplicates": 0}


async def test_missing_required_and_unknown_fields(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        body = await call(client, platform, "POST", f"{V2}/user", {"Email": "a@b.c", "Shoe": 9}, status=400)
        assert body["Message"] == "The request is invalid."
        assert body["ModelState"] == {
            "user.Shoe": ["'Shoe' is not a field of user."],
            "user.Forenames": ["The Forenames field is required."],
            "user.Surname": ["The Surname field is required."],
        }
        body = await call(client, platform, "POST", f"{V2}/coursedate", {"Location": "x"}, status=400)
        assert set(body["ModelState"]) == {"coursedate.CourseID", "coursedate.StartDate"}
        body = await call(client, platform, "POST", f"{V2}/company", {"Name": "  "}, status=400)
        assert body["ModelState"] == {"company.Name": ["The Name field is required."]}
        uid = (await call(client, platform, "GET", f"{V2}/user?$top=1"))["results"][0]["ID"]
        body = await call(client, platform, "PUT", f"{V2}/user/{uid}", {"Surname": ""}, status=400)
        assert body["ModelState"] == {"user.Surname": ["The Surname field is required."]}
        body = await call(client, platform, "PUT", f"{V2}/user/{uid}", {"Status": "Deleted"}, status=400)
        assert "user.Status" in body["ModelState"]
        body = await call(
            client,
            platform,
            "POST",
            f"{V2}/coursedate",
            {"CourseID": "Nope", "StartDate": "2025-01-01"},
            status=400,
        )
        assert body["ModelState"] == {"coursedate.CourseID": ["There is no course with ID 'Nope'."]}
        body = await call(
            client, platform, "POST", f"{V2}/user", {**JOHN, "MainCompanyID": "Nowhere9"}, status=400
        )
        assert body["ModelState"] == {"user.MainCompanyID": ["There is no company with ID 'Nowhere9'."]}
        bad = {"CourseID": "FirAid", "StartDate": "2025-01-02", "EndDate": "2025-01-01", "Places": "x"}
        body = await call(client, platform, "POST", f"{V2}/coursedate", bad, status=400)
        assert "coursedate.Places" in body["ModelState"]
        resp = await client.post(f"{V2}/user", data=b"{not json", headers=key(platform))
        assert resp.status == 400
        assert (await resp.json())["Message"] == "The request is invalid."
        resp = await client.post(f"{V2}/user", json=[JOHN], headers=key(platform))
        assert resp.status == 400
        assert stats(platform, "user")["count"] == 5
        assert stats(platform, "coursedate")["creates"] == 0


async def test_unknown_fields_switch_and_email_required_switch(platform_server: Any) -> None:
    options = {"accessplanit.unknown_fields": "ignore", "accessplanit.user_email_required": True}
    async with platform_server(AccessPlanItPlatform, scale=5, options=options) as (client, platform):
        await call(client, platform, "POST", f"{V2}/user", {**JOHN, "Shoe": 9}, status=201)
        body = await call(
            client, platform, "POST", f"{V2}/user", {"Forenames": "A", "Surname": "B"}, status=400
        )
        assert body["ModelState"] == {"user.EmailAddress": ["The EmailAddress field is required."]}


async def test_upsert_the_documents_example(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10) as (client, platform):
        url = f"{V2}/user?$upsert=Email eq 'john.smith@my_company.com'"
        resp = await client.post(url, json=JOHN, headers=key(platform))
        assert resp.status == 201
        first = (await resp.json())["ID"]
        resp = await client.post(url, json={**JOHN, "JobTitle": "Chef"}, headers=key(platform))
        assert resp.status == 200
        assert await resp.json() == {"ID": first}
        user = await call(client, platform, "GET", f"{V2}/user/{first}")
        assert (user["JobTitle"], user["Forenames"]) == ("Chef", "John")
        s = stats(platform, "user")
        assert (s["count"], s["creates"], s["updates"], s["duplicates"]) == (11, 1, 1, 0)
        # matching is case-insensitive, on any filterable field
        resp = await client.post(
            f"{V2}/user?$upsert=Email eq 'JOHN.SMITH@MY_COMPANY.COM' and Surname eq 'smith'",
            json={"Mobile": "0700"},
            headers=key(platform),
        )
        assert resp.status == 200
        assert (await call(client, platform, "GET", f"{V2}/user/{first}"))["Mobile"] == "0700"


async def test_upsert_with_several_matches_is_400_and_changes_nothing(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10) as (client, platform):
        a = (await call(client, platform, "POST", f"{V2}/user", JOHN, status=201))["ID"]
        b = (await call(client, platform, "POST", f"{V2}/user", JOHN, status=201))["ID"]
        assert stats(platform, "user")["duplicates"] == 1  # the duplicate counter sees the shared email
        before = [await call(client, platform, "GET", f"{V2}/user/{i}") for i in (a, b)]
        resp = await client.post(
            f"{V2}/user?$upsert=Email eq 'john.smith@my_company.com'",
            json={"Surname": "X"},
            headers=key(platform),
        )
        assert resp.status == 400
        assert "matched 2" in (await resp.json())["Message"]
        after = [await call(client, platform, "GET", f"{V2}/user/{i}") for i in (a, b)]
        assert after == before
        assert stats(platform, "user")["count"] == 12


async def test_upsert_refusals(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        for bad in ("(Email eq 'x')", "Nope eq 'x'", ""):
            resp = await client.post(f"{V2}/user?$upsert={bad}", json=JOHN, headers=key(platform))
            assert resp.status == 400, bad
        resp = await client.post(
            f"{V2}/user?$upsert=Email eq 'new@x.org'", json={"Email": "new@x.org"}, headers=key(platform)
        )
        assert resp.status == 400  # creating needs the required fields
        assert set((await resp.json())["ModelState"]) == {"user.Forenames", "user.Surname"}
        assert stats(platform, "user")["count"] == 5


async def test_upsert_by_external_id_on_companies(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        url = f"{V2}/company?$upsert=ExternalID eq 'ACME-1'"
        cid = (
            await call(client, platform, "POST", url, {"Name": "Acme Ltd", "ExternalID": "ACME-1"}, status=201)
        )["ID"]
        assert cid == "Acme1"
        assert (await call(client, platform, "POST", url, {"Town": "Leeds"}))["ID"] == cid
        assert (await call(client, platform, "GET", f"{V2}/company/{cid}"))["Town"] == "Leeds"


async def test_delete_user_in_two_phases(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10) as (client, platform):
        uid = (await call(client, platform, "POST", f"{V2}/user", JOHN, status=201))["ID"]
        assert await call(client, platform, "DELETE", f"{V2}/user/{uid}") == {"ID": uid, "Status": "Deleted"}
        assert (await call(client, platform, "GET", f"{V2}/user/{uid}"))["Status"] == "Deleted"
        listed = await call(client, platform, "GET", f"{V2}/user?$top=-1&$select=ID")
        assert uid in [r["ID"] for r in listed["results"]]
        live = await call(client, platform, "GET", f"{V2}/user?$top=-1&$select=ID&$filter=Status ne 'Deleted'")
        assert uid not in [r["ID"] for r in live["results"]]
        assert await call(client, platform, "DELETE", f"{V2}/user/{uid}") == {"ID": uid}
        await call(client, platform, "GET", f"{V2}/user/{uid}", status=404)
        await call(client, platform, "DELETE", f"{V2}/user/{uid}", status=404)
        assert stats(platform, "user")["count"] == 10


async def test_delete_other_modules_is_permanent_at_once(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10) as (client, platform):
        cid = (await call(client, platform, "POST", f"{V2}/company", {"Name": "Gone Ltd"}, status=201))["ID"]
        assert await call(client, platform, "DELETE", f"{V2}/company/{cid}") == {"ID": cid}
        body = await call(client, platform, "GET", f"{V2}/company/{cid}", status=404)
        assert cid in body["Message"]
        found = await call(client, platform, "GET", f"{V2}/company?$filter=Name eq 'Gone Ltd'")
        assert found["results"] == []
        _, date = await a_company_and_date(client, platform)
        await call(client, platform, "DELETE", f"{V2}/coursedate/{date['ID']}")
        await call(client, platform, "GET", f"{V2}/coursedate/{date['ID']}", status=404)


async def test_double_booking_allowed_by_default_and_counted(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10) as (client, platform):
        _, date = await a_company_and_date(client, platform)
        uid = (await call(client, platform, "POST", f"{V2}/user", JOHN, status=201))["ID"]
        booking = {"UserID": uid, "CourseDateID": date["ID"]}
        await call(client, platform, "POST", f"{V2}/usercoursedate", booking, status=201)
        await call(client, platform, "POST", f"{V2}/usercoursedate", booking, status=201)
        assert stats(platform, "usercoursedate")["duplicates"] == 1


async def test_double_booking_reject_switch(platform_server: Any) -> None:
    options = {"accessplanit.double_booking": "reject"}
    async with platform_server(AccessPlanItPlatform, scale=10, options=options) as (client, platform):
        _, date = await a_company_and_date(client, platform)
        uid = (await call(client, platform, "POST", f"{V2}/user", JOHN, status=201))["ID"]
        booking = {"UserID": uid, "CourseDateID": date["ID"]}
        bid = (await call(client, platform, "POST", f"{V2}/usercoursedate", booking, status=201))["ID"]
        body = await call(client, platform, "POST", f"{V2}/usercoursedate", booking, status=400)
        assert list(body["ModelState"]) == ["usercoursedate.UserID"]
        await call(
            client, platform, "PUT", f"{V2}/usercoursedate/{bid}", {"Status": "Completed"}
        )  # itself is fine
        upsert = f"{V2}/usercoursedate?$upsert=UserID eq '{uid}' and CourseDateID eq '{date['ID']}'"
        assert (await call(client, platform, "POST", upsert, {"Passed": True}))["ID"] == bid
        assert stats(platform, "usercoursedate")["duplicates"] == 0
