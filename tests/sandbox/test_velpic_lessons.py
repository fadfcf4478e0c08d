"""Velpic emulator: lessons, lessondetails, lesson schedules, manual completion, certificate, embed player."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, cast

from migrator.sandbox.generator import COURSE_NAMES
from migrator.sandbox.velpic import VelpicPlatform

API = "/velpic/api/v2"
SCHEDULE_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LESSON_FIELDS = {
    "lessonVersionId",
    "lessonId",
    "name",
    "duration",
    "status",
    "inLibrary",
    "version",
    "questionnaireType",
    "clientId",
    "lessonVersionCustomFields",
    "createdDate",
    "modifiedDate",
}
DETAIL_FIELDS = {
    "lessonVersionId",
    "lessonId",
    "name",
    "published",
    "duration",
    "status",
    "inLibrary",
    "version",
    "clientId",
}
ITEM_FIELDS = set(
    [
        "lessonName",
        "lessonId",
        "lessonVersionId",
        "version",
        "userId",
        "startDate",
        "endDate",
        "lessonStartedDate",
        "lessonCompletedDate",
        "userFirstName",
        "userLastName",
        "lessonDuration",
        "progress",
        "chapterCount",
        "questionnaireType",
        "questionCount",
        "scheduleType",
        "typeId",
        "thumbnailId",
        "lessonThumbnail",
        "status",
        "statusId",
        "completionTypeId",
        "lessonCompletedBy",
        "lessonCompletedByName",
        "lessonEvolution",
        "id",
        "createdDate",
        "modifiedDate",
    ]
)
DETAIL_SCHEDULE_FIELDS = set(
    [
        "startDate",
        "endDate",
        "active",
        "userId",
        "clientId",
        "clientName",
        "lessonVersionId",
        "lessonId",
        "version",
        "lessonName",
        "lessonDuration",
        "lessonEvolution",
        "thumbnailId",
        "lessonThumbnail",
        "lessonStartedDate",
        "lessonCompletedDate",
        "lessonCompletedBy",
        "lessonCompletedByName",
        "reminders",
        "questionResults",
        "questionCount",
        "questionnaireType",
        "userFirstName",
        "userLastName",
        "userUserName",
        "userEmployeeNumber",
        "userGroups",
        "supervisors",
        "published",
        "completionTypeId",
        "typeId",
        "questionnairePassRate",
        "progress",
        "scheduleOverEmailAttempted",
        "overdueEmailAttempted",
        "movieId",
        "moviePhysicalURI",
        "movieSizeInBytes",
        "chapterCount",
        "id",
        "createdDate",
        "modifiedDate",
    ]
)


def auth(platform: Any, tenant: str = "source") -> dict[str, str]:
    return {"AccessKey": cast(VelpicPlatform, platform).access_key(tenant)}


async def call(
    client: Any,
    platform: Any,
    method: str,
    path: str,
    body: Any = None,
    status: int = 200,
    tenant: str = "source",
) -> Any:
    resp = await client.request(method, API + path, headers=auth(platform, tenant), json=body)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def a_user(client: Any, platform: Any, tenant: str = "source") -> int:
    """A new user without schedules."""
    body = {"firstName": "Dana", "lastName": "Import", "emailAddress": "import@example.com"}
    return int((await call(client, platform, "POST", "/user", body, tenant=tenant))["id"])


async def lessons_of(client: Any, platform: Any, tenant: str = "source") -> list[dict[str, Any]]:
    return list((await call(client, platform, "GET", "/lesson", tenant=tenant))["results"])


async def test_lesson_catalogue_exists_in_both_tenants_with_own_ids(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        body = await call(client, platform, "GET", "/lesson")
        assert body["meta"] == {
            "totalResultCount": len(COURSE_NAMES),
            "startIndex": 0,
            "endIndex": len(COURSE_NAMES),
        }
        source = body["results"]
        target = await lessons_of(client, platform, "target")
        assert (
            [lesson["name"] for lesson in source] == [lesson["name"] for lesson in target] == list(COURSE_NAMES)
        )
        assert not {x["lessonId"] for x in source} & {x["lessonId"] for x in target}
        assert all(set(lesson) == LESSON_FIELDS and lesson["status"] == "active" for lesson in source)


async def test_lesson_filters_and_paging(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        source = await lessons_of(client, platform)
        found = (await call(client, platform, "GET", "/lesson?q=SAFETY"))["results"]
        assert [x["name"] for x in found] == [x["name"] for x in source if "safety" in x["name"].lower()]
        ids = f"{source[2]['lessonId']},{source[5]['lessonId']}"
        found = (await call(client, platform, "GET", f"/lesson?lessonIds={ids}"))["results"]
        assert [x["lessonId"] for x in found] == [source[2]["lessonId"], source[5]["lessonId"]]
        state = cast(VelpicPlatform, platform).state["source"]
        state.lessons.records[source[0]["lessonId"]]["status"] = "never"
        found = (await call(client, platform, "GET", "/lesson?publishedStates=never"))["results"]
        assert [x["lessonId"] for x in found] == [source[0]["lessonId"]]
        page = await call(client, platform, "GET", "/lesson?startIndex=10&maxResults=4")
        assert [x["lessonId"] for x in page["results"]] == [x["lessonId"] for x in source[10:14]]
        assert page["meta"] == {"totalResultCount": 16, "startIndex": 10, "endIndex": 14}
        await call(client, platform, "GET", "/lesson?publishedStates=draft", status=400)
        await call(client, platform, "GET", "/lesson?lessonIds=a,b", status=400)


async def test_lessondetails_carries_the_null_id_and_request_dates(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        body = await call(client, platform, "GET", "/lessondetails?maxResults=2&q=a")
        assert body["id"] == "null" and body["meta"]["id"] == "null"
        for where in (body, body["meta"]):
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$", where["createdDate"])
            assert where["modifiedDate"] == where["createdDate"]
        assert len(body["results"]) == 2 and body["meta"]["endIndex"] == 2
        assert all(set(x) == DETAIL_FIELDS and x["published"] == 65 for x in body["results"])


async def test_schedule_a_user_with_the_doc_example_body(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        uid = await a_user(client, platform, "target")
        lessons = await lessons_of(client, platform, "target")
        body = {
            "lessonVersionIds": [lessons[0]["lessonVersionId"], lessons[3]["lessonVersionId"]],
            "scheduleDate": "2015-10-29T15:28:59+0000",
            "gracePeriod": "14",
            "gracePeriodUnit": "days",
        }
        ids = (await call(client, platform, "POST", f"/user/{uid}/lesson_schedule", body, tenant="target"))[
            "ids"
        ]
        assert len(ids) == 2
        one = await call(client, platform, "GET", f"/lesson_schedule/{ids[0]}", tenant="target")
        assert set(one) == DETAIL_SCHEDULE_FIELDS
        assert one["startDate"] == "2015-10-29T15:28:59.000Z" and one["endDate"] == "2015-11-12T15:28:59.000Z"
        assert one["userId"] == uid and one["lessonId"] == lessons[0]["lessonId"] and one["active"] is True
        listed = await call(client, platform, "GET", f"/user/{uid}/lesson_schedule?status=all", tenant="target")
        assert set(listed) == {"results"}  # no meta
        assert [s["id"] for s in listed["results"]] == ids
        item = listed["results"][0]
        assert set(item) == ITEM_FIELDS and item["status"] == "due" and item["scheduleType"] == "automatic"
        assert SCHEDULE_DATE.match(item["createdDate"])
        # scheduling the same lesson again → 409 with the documented body, nothing created
        again = {"lessonVersionIds": [lessons[3]["lessonVersionId"]]}
        err = await call(
            client, platform, "POST", f"/user/{uid}/lesson_schedule", again, status=409, tenant="target"
        )
        assert err == {"error": "Lesson Schedule already exists"}
        assert len(cast(VelpicPlatform, platform).tables["target"]["lesson_schedule"]) == 2


async def test_schedule_dates_grace_rules_and_future_status(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        uid = await a_user(client, platform)
        lessons = await lessons_of(client, platform)
        path = f"/user/{uid}/lesson_schedule"
        future = (datetime.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        body = {"lessonVersionIds": [lessons[0]["lessonVersionId"]], "scheduleDate": future}
        sid = (await call(client, platform, "POST", path, body))["ids"][0]
        one = await call(client, platform, "GET", f"/lesson_schedule/{sid}")
        start = datetime.fromisoformat(one["startDate"])
        assert datetime.fromisoformat(one["endDate"]) - start == timedelta(days=14)  # account default
        status = (await call(client, platform, "GET", f"{path}?status=scheduled"))["results"]
        assert [s["id"] for s in status] == [sid]
        body = {
            "lessonVersionIds": [lessons[1]["lessonVersionId"]],
            "scheduleDate": "2024-01-31T00:00:00Z",
            "gracePeriod": 1,
            "gracePeriodUnit": "months",
        }
        sid = (await call(client, platform, "POST", path, body))["ids"][0]
        assert (await call(client, platform, "GET", f"/lesson_schedule/{sid}"))[
            "endDate"
        ] == "2024-02-29T00:00:00.000Z"
        for bad in (
            {"lessonVersionIds": [lessons[2]["lessonVersionId"]], "gracePeriod": "14"},
            {
                "lessonVersionIds": [lessons[2]["lessonVersionId"]],
                "gracePeriod": "14",
                "gracePeriodUnit": "weeks",
            },
            {"lessonVersionIds": [lessons[2]["lessonVersionId"]], "scheduleDate": "soon"},
            {"lessonVersionIds": []},
            {"lessonVersionIds": [999999]},
        ):
            assert (await call(client, platform, "POST", path, bad, status=400))["internalCode"] == 400
        await call(client, platform, "POST", "/user/5/lesson_schedule", {"lessonVersionIds": [1]}, status=404)
    async with platform_server(VelpicPlatform, scale=5, options={"velpic.grace_period_required": True}) as (
        client,
        platform,
    ):
        uid = await a_user(client, platform)
        vid = (await lessons_of(client, platform))[0]["lessonVersionId"]
        await call(
            client, platform, "POST", f"/user/{uid}/lesson_schedule", {"lessonVersionIds": [vid]}, status=400
        )


async def test_only_active_lessons_can_be_scheduled(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        uid = await a_user(client, platform)
        lessons = await lessons_of(client, platform)
        state = cast(VelpicPlatform, platform).state["source"]
        for status in ("inactive", "never", "rendering", "error"):
            state.lessons.records[lessons[0]["lessonId"]]["status"] = status
            body = {"lessonVersionIds": [lessons[0]["lessonVersionId"]]}
            err = await call(client, platform, "POST", f"/user/{uid}/lesson_schedule", body, status=400)
            assert status in err["error"]


async def test_source_schedules_are_seeded_from_enrolments(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=60) as (client, platform):
        state = cast(VelpicPlatform, platform).state["source"]
        completed = next(s for s in state.schedules if s["status"] == "completed")
        uid = completed["userId"]
        listed = (await call(client, platform, "GET", f"/user/{uid}/lesson_schedule"))["results"]
        assert [s["id"] for s in listed] == [completed["id"]]
        assert listed[0]["statusId"] == 94 and SCHEDULE_DATE.match(listed[0]["lessonCompletedDate"])
        assert (await call(client, platform, "GET", f"/user/{uid}/lesson_schedule?status=cancelled"))[
            "results"
        ] == []
        await call(client, platform, "GET", f"/user/{uid}/lesson_schedule?status=finished", status=400)
        statuses = {s["status"] for s in state.schedules}
        assert statuses <= {"completed", "scheduled", "overdue", "cancelled"} and "completed" in statuses
        assert state.schedules.duplicates() == 0
        err = await call(client, platform, "GET", "/lesson_schedule/5", status=404)
        assert err == {"internalCode": 840, "error": "Lesson Schedule does not exist"}


async def test_manual_completion(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        trainee, admin = await a_user(client, platform, "target"), await a_user(client, platform, "target")
        lessons = await lessons_of(client, platform, "target")
        sid = (
            await call(
                client,
                platform,
                "POST",
                f"/user/{trainee}/lesson_schedule",
                {"lessonVersionIds": [lessons[0]["lessonVersionId"]]},
                tenant="target",
            )
        )["ids"][0]
        doc = {
            "lessonId": lessons[0]["lessonId"],
            "completedDate": "2015-10-29T15:28:59+0000",
            "manuallyCompletedByUserId": admin,
        }
        path = f"/lesson_schedule/{trainee}/complete_lesson"
        out = await call(client, platform, "POST", path, doc, tenant="target")
        assert out == {"ids": [sid]}  # the open schedule is completed
        one = await call(client, platform, "GET", f"/lesson_schedule/{sid}", tenant="target")
        assert one["lessonCompletedDate"] == "2015-10-29T15:28:59.000Z" and one["lessonCompletedBy"] == admin
        assert one["lessonCompletedByName"] == "Dana Import" and one["active"] is False
        # no open schedule: a completed one is created (by lessonVersionId)
        by_version = {**doc, "lessonId": None, "lessonVersionId": lessons[1]["lessonVersionId"]}
        new_id = (await call(client, platform, "POST", path, by_version, tenant="target"))["ids"][0]
        created = await call(client, platform, "GET", f"/lesson_schedule/{new_id}", tenant="target")
        assert created["lessonId"] == lessons[1]["lessonId"] and created["completionTypeId"] == 77
        # completing again creates another record (counted as a duplicate) by default
        await call(client, platform, "POST", path, by_version, tenant="target")
        assert cast(VelpicPlatform, platform).tables["target"]["lesson_schedule"].duplicates() == 1
        for bad in (
            {k: v for k, v in doc.items() if k != "completedDate"},
            {k: v for k, v in doc.items() if k != "lessonId"},
            {**doc, "manuallyCompletedByUserId": 424242},
            {**doc, "lessonId": 424242},
        ):
            await call(client, platform, "POST", path, bad, status=400, tenant="target")
        await call(client, platform, "POST", f"/user/{admin}/inactivate", tenant="target", status=200)
        await call(client, platform, "POST", path, doc, status=400, tenant="target")


async def test_complete_again_switch_returns_the_existing_completion(platform_server: Any) -> None:
    options = {"velpic.complete_again": "existing"}
    async with platform_server(VelpicPlatform, scale=5, options=options) as (client, platform):
        trainee = await a_user(client, platform, "target")
        lesson = (await lessons_of(client, platform, "target"))[0]
        doc = {
            "lessonId": lesson["lessonId"],
            "completedDate": "2020-01-01",
            "manuallyCompletedByUserId": trainee,
        }
        path = f"/lesson_schedule/{trainee}/complete_lesson"
        first = await call(client, platform, "POST", path, doc, tenant="target")
        assert await call(client, platform, "POST", path, doc, tenant="target") == first
        assert cast(VelpicPlatform, platform).tables["target"]["lesson_schedule"].duplicates() == 0


async def test_certificate_and_embed_player(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=60) as (client, platform):
        state = cast(VelpicPlatform, platform).state["source"]
        by_status = {s["status"]: s["id"] for s in state.schedules}
        resp = await client.get(
            f"{API}/lesson_schedule/{by_status['completed']}/certificate", headers=auth(platform)
        )
        assert resp.status == 200 and resp.content_type == "application/pdf"
        assert (await resp.read()).startswith(b"%PDF")
        await call(
            client, platform, "GET", f"/lesson_schedule/{by_status['scheduled']}/certificate", status=400
        )
        await call(client, platform, "GET", "/lesson_schedule/7/certificate", status=404)
        out = await call(client, platform, "GET", f"/embed_player?lessonScheduleId={by_status['scheduled']}")
        assert f"#player/{by_status['scheduled']}?embed=true&token=" in out["embedUrl"]
        out2 = await call(client, platform, "GET", f"/embed_player/version/{by_status['scheduled']}")
        assert out2 == out
        for status, body in (
            ("completed", {"internalCode": 837, "error": "This lesson schedule is completed"}),
            ("cancelled", {"internalCode": 836, "error": "This lesson schedule is cancelled"}),
        ):
            assert (
                await call(
                    client, platform, "GET", f"/embed_player?lessonScheduleId={by_status[status]}", status=400
                )
                == body
            )
        err = await call(client, platform, "GET", "/embed_player?lessonScheduleId=3", status=404)
        assert err == {"internalCode": 840, "error": "Lesson Schedule does not exist"}


async def test_duplicate_schedule_status_switch_answers_the_documented_body_with_another_status(
    platform_server: Any,
) -> None:
    for status in (400, 200):
        options = {"velpic.duplicate_schedule_status": status}
        async with platform_server(VelpicPlatform, scale=5, options=options) as (client, platform):
            uid = await a_user(client, platform)
            body = {"lessonVersionIds": [(await lessons_of(client, platform))[0]["lessonVersionId"]]}
            path = f"/user/{uid}/lesson_schedule"
            before = len(cast(VelpicPlatform, platform).tables["source"]["lesson_schedule"])
            await call(client, platform, "POST", path, body)
            err = await call(client, platform, "POST", path, body, status=status)
            assert err == {"error": "Lesson Schedule already exists"}
            assert len(cast(VelpicPlatform, platform).tables["source"]["lesson_schedule"]) == before + 1
