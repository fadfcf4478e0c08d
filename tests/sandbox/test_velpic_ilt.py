"""Velpic emulator: ILT sessions — create, list, get, patch, register, attendees, progress, complete, cancel."""

from __future__ import annotations

import re
from typing import Any, cast

from migrator.sandbox.velpic import VelpicPlatform

API = "/velpic/api/v2"
ILT_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0800$")
LIST_FIELDS = set(
    [
        "id",
        "statusId",
        "instructorId",
        "instructorFirstName",
        "instructorLastName",
        "lessonId",
        "notes",
        "numberOfPlaces",
        "startDatetime",
        "endDatetime",
        "location",
        "createdDate",
        "modifiedDate",
    ]
)
DETAIL_FIELDS = set(
    [
        "id",
        "instructorId",
        "statusId",
        "lessonId",
        "lessonName",
        "instructorLed",
        "notes",
        "numberOfAttendees",
        "numberOfPlaces",
        "startDatetime",
        "endDatetime",
        "location",
        "state",
        "attendanceRate",
        "passRate",
        "iltSessionCancellationTraineeNotificationEnabled",
        "iltSessionCancellationInstructorNotificationEnabled",
        "createdDate",
        "modifiedDate",
    ]
)
ATTENDEE_FIELDS = set(
    [
        "id",
        "userId",
        "sessionId",
        "lessonScheduleId",
        "userName",
        "firstName",
        "lastName",
        "registeringUserId",
        "registeringUserFirstName",
        "registeringUserLastName",
        "passed",
        "attended",
        "createdDate",
        "modifiedDate",
    ]
)


def auth(platform: Any) -> dict[str, str]:
    return {"AccessKey": cast(VelpicPlatform, platform).access_key("target")}


async def call(client: Any, platform: Any, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    resp = await client.request(method, API + path, headers=auth(platform), json=body)
    assert resp.status == status, await resp.text()
    raw = await resp.read()
    return await resp.json() if raw else None


async def setup(client: Any, platform: Any) -> tuple[int, list[int], dict[str, Any]]:
    """An instructor, three trainees (the first two scheduled to the lesson) and a lesson, on the target."""
    ids = []
    for n in range(4):
        body = {"firstName": f"F{n}", "lastName": f"L{n}", "emailAddress": f"u{n}@example.com", "roles": [6, 8]}
        ids.append((await call(client, platform, "POST", "/user", body))["id"])
    lesson = (await call(client, platform, "GET", "/lesson"))["results"][0]
    for uid in ids[1:3]:
        await call(
            client,
            platform,
            "POST",
            f"/user/{uid}/lesson_schedule",
            {"lessonVersionIds": [lesson["lessonVersionId"]]},
        )
    return ids[0], ids[1:], lesson


def doc_create(instructor: int, lesson_id: int) -> dict[str, Any]:
    return {
        "lessonId": lesson_id,
        "startDatetime": "2018-05-19T01:00:06.000+0800",
        "endDatetime": "2018-05-19T03:00:06.000+0800",
        "location": "Here",
        "instructorId": instructor,
        "notes": "Test",
    }


async def test_create_list_get_and_patch(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        instructor, _trainees, lesson = await setup(client, platform)
        created = await call(
            client, platform, "POST", "/ilt_session", doc_create(instructor, lesson["lessonId"])
        )
        assert set(created) == LIST_FIELDS
        assert created["startDatetime"] == "2018-05-19T01:00:06.000+0800"
        assert created["endDatetime"] == "2018-05-19T03:00:06.000+0800"
        assert created["statusId"] == 1 and created["instructorFirstName"] == "F0"
        assert ILT_DATE.match(created["createdDate"])
        utc = await call(
            client, platform, "POST", "/ilt_session",
            {**doc_create(instructor, lesson["lessonId"]), "startDatetime": "2030-01-01T00:00:00Z",
             "endDatetime": "2030-01-01T02:00:00Z"},
        )  # fmt: skip
        assert utc["startDatetime"] == "2030-01-01T08:00:00.000+0800"  # shown in the client's zone (Perth)
        listed = await call(client, platform, "GET", "/ilt_session")
        assert [s["id"] for s in listed["results"]] == [created["id"], utc["id"]]
        assert listed["meta"] == {"totalResultCount": 2, "startIndex": 0, "endIndex": 2}
        assert [s["id"] for s in (await call(client, platform, "GET", "/ilt_session?state=3"))["results"]] == [
            created["id"]
        ]
        assert [s["id"] for s in (await call(client, platform, "GET", "/ilt_session?state=1"))["results"]] == [
            utc["id"]
        ]
        assert (
            len((await call(client, platform, "GET", f"/ilt_session?instructorId={instructor}"))["results"])
            == 2
        )
        assert (await call(client, platform, "GET", "/ilt_session?instructorId=1"))["results"] == []
        page = await call(client, platform, "GET", "/ilt_session?startIndex=1&maxResults=1")
        assert [s["id"] for s in page["results"]] == [utc["id"]] and page["meta"]["endIndex"] == 2
        one = await call(client, platform, "GET", f"/ilt_session/{created['id']}")
        assert set(one) == DETAIL_FIELDS
        assert one["state"] == "past" and one["lessonName"] == lesson["name"] and one["numberOfAttendees"] == 0
        patch = {
            "instructorId": instructor,
            "statusId": 1,
            "notes": "Moved",
            "numberOfPlaces": 1,
            "location": "There",
        }
        patched = await call(client, platform, "PATCH", f"/ilt_session/{created['id']}", patch)
        assert set(patched) == DETAIL_FIELDS
        assert {k: patched[k] for k in patch} == patch
        await call(
            client, platform, "PATCH", f"/ilt_session/{created['id']}", {"instructorId": instructor}, status=400
        )
        await call(client, platform, "GET", "/ilt_session/424242", status=404)


async def test_create_validation(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        instructor, _trainees, lesson = await setup(client, platform)
        good = doc_create(instructor, lesson["lessonId"])
        for field in ("startDatetime", "endDatetime", "location", "instructorId"):
            body = {k: v for k, v in good.items() if k != field}
            err = await call(client, platform, "POST", "/ilt_session", body, status=400)
            assert field in err["error"]
        await call(client, platform, "POST", "/ilt_session", {**good, "lessonId": 424242}, status=400)
        await call(
            client,
            platform,
            "POST",
            "/ilt_session",
            {**good, "endDatetime": "2018-05-18T00:00:00Z"},
            status=400,
        )
        assert len(cast(VelpicPlatform, platform).tables["target"]["ilt_session"]) == 0


async def test_register_attendees_progress_and_complete(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        instructor, trainees, lesson = await setup(client, platform)
        sid = (
            await call(client, platform, "POST", "/ilt_session", doc_create(instructor, lesson["lessonId"]))
        )["id"]
        # the third trainee is not scheduled to the lesson: the whole request is refused
        err = await call(
            client, platform, "POST", f"/ilt_session/{sid}/bulk_register", {"userIds": trainees}, status=400
        )
        assert str(trainees[2]) in err["error"]
        assert (await call(client, platform, "GET", f"/ilt_session/{sid}/attendees"))["results"] == []
        assert (
            await call(client, platform, "POST", f"/ilt_session/{sid}/bulk_register", {"userIds": trainees[:2]})
            is None
        )
        await call(
            client, platform, "POST", f"/ilt_session/{sid}/bulk_register", {"userIds": trainees[:1]}
        )  # again
        attendees = await call(client, platform, "GET", f"/ilt_session/{sid}/attendees")
        assert attendees["meta"] == {"totalResultCount": 2, "startIndex": 0, "endIndex": 2}
        rows = attendees["results"]
        assert all(set(a) == ATTENDEE_FIELDS for a in rows)
        assert [a["userId"] for a in rows] == trainees[:2] and rows[0]["firstName"] == "F1"
        assert all(a["sessionId"] == sid and a["lessonScheduleId"] for a in rows)
        linked = await call(
            client, platform, "GET", f"/ilt_session?lessonScheduleId={rows[0]['lessonScheduleId']}"
        )
        assert [s["id"] for s in linked["results"]] == [sid]
        progress = {"attendees": [{"id": rows[0]["id"], "passed": True, "attended": True}]}
        assert await call(client, platform, "POST", f"/ilt_session/{sid}/save_progress", progress) is None
        bad = {"attendees": [{"id": 424242, "passed": True}]}
        await call(client, platform, "POST", f"/ilt_session/{sid}/save_progress", bad, status=400)
        one = await call(client, platform, "GET", f"/ilt_session/{sid}")
        assert (one["numberOfAttendees"], one["attendanceRate"], one["passRate"]) == (2, 50, 50)
        assert await call(client, platform, "POST", f"/ilt_session/{sid}/complete") is None
        assert (await call(client, platform, "GET", f"/ilt_session/{sid}"))["statusId"] == 2
        for row in rows:
            schedule = await call(client, platform, "GET", f"/lesson_schedule/{row['lessonScheduleId']}")
            assert schedule["lessonCompletedDate"] and schedule["active"] is False
        schedules = await call(client, platform, "GET", f"/user/{trainees[0]}/lesson_schedule?status=completed")
        assert len(schedules["results"]) == 1


async def test_deregister_and_cancel(platform_server: Any) -> None:
    async with platform_server(VelpicPlatform, scale=5) as (client, platform):
        instructor, trainees, lesson = await setup(client, platform)
        sid = (
            await call(client, platform, "POST", "/ilt_session", doc_create(instructor, lesson["lessonId"]))
        )["id"]
        await call(client, platform, "POST", f"/ilt_session/{sid}/bulk_register", {"userIds": trainees[:2]})
        assert (
            await call(
                client, platform, "POST", f"/ilt_session/{sid}/bulk_deregister", {"userIds": trainees[:1]}
            )
            is None
        )
        attendees = (await call(client, platform, "GET", f"/ilt_session/{sid}/attendees"))["results"]
        assert [a["userId"] for a in attendees] == trainees[1:2]
        await call(client, platform, "POST", f"/ilt_session/{sid}/bulk_register", {}, status=400)
        flags = {
            "iltSessionCancellationTraineeNotificationEnabled": True,
            "iltSessionCancellationInstructorNotificationEnabled": False,
        }
        one_flag = {"iltSessionCancellationTraineeNotificationEnabled": True}
        await call(client, platform, "POST", f"/ilt_session/{sid}/cancel_session", one_flag, status=400)
        assert await call(client, platform, "POST", f"/ilt_session/{sid}/cancel_session", flags) is None
        one = await call(client, platform, "GET", f"/ilt_session/{sid}")
        assert one["statusId"] == 3 and one["iltSessionCancellationInstructorNotificationEnabled"] is False
        assert [s["id"] for s in (await call(client, platform, "GET", "/ilt_session?status=3"))["results"]] == [
            sid
        ]
        assert (await call(client, platform, "GET", "/ilt_session?status=1"))["results"] == []
        await call(client, platform, "POST", "/ilt_session/424242/complete", status=404)
