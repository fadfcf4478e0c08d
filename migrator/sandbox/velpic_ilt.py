"""Velpic emulator: instructor-led training (ILT) sessions and their attendees."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from migrator.sandbox.store import Record
from migrator.sandbox.velpic_format import (
    bad_request,
    empty_ok,
    ilt_date,
    int_list,
    json_response,
    not_found,
    page,
    parse_date,
    path_id,
    read_object,
)
from migrator.sandbox.velpic_state import OPEN_STATUSES, VelpicTenant

STATES = {1: "upcoming", 2: "inprogress", 3: "past"}
STATUS_ACTIVE, STATUS_COMPLETED, STATUS_CANCELLED = 1, 2, 3
TRAINEE_FLAG = "iltSessionCancellationTraineeNotificationEnabled"
INSTRUCTOR_FLAG = "iltSessionCancellationInstructorNotificationEnabled"
LIST_FIELDS = ("id", "statusId", "instructorId", "lessonId", "notes", "numberOfPlaces")


def _state(t: VelpicTenant, rec: Record) -> int:
    if rec["statusId"] == STATUS_COMPLETED:
        return 3
    now = t.now()
    if now < datetime.fromisoformat(rec["startDatetime"]).timestamp():
        return 1
    if now < datetime.fromisoformat(rec["endDatetime"]).timestamp():
        return 2
    return 3


def _list_item(t: VelpicTenant, rec: Record) -> Record:
    instructor = t.users.records.get(rec["instructorId"]) or {}
    return {
        "id": rec["id"],
        "statusId": rec["statusId"],
        "instructorId": rec["instructorId"],
        "instructorFirstName": instructor.get("firstName"),
        "instructorLastName": instructor.get("lastName"),
        "lessonId": rec["lessonId"],
        "notes": rec["notes"],
        "numberOfPlaces": rec["numberOfPlaces"],
        "startDatetime": rec["startDatetime"],
        "endDatetime": rec["endDatetime"],
        "location": rec["location"],
        "createdDate": rec["createdDate"],
        "modifiedDate": rec["modifiedDate"],
    }


def _detail(t: VelpicTenant, rec: Record) -> Record:
    lesson = t.lessons.records.get(rec["lessonId"]) or {}
    attendees = [t.attendees.records[a] for a in t.attendees_of.get(rec["id"], {}).values()]
    n = len(attendees)
    attended = sum(1 for a in attendees if a["attended"])
    passed = sum(1 for a in attendees if a["passed"])
    return {
        "id": rec["id"],
        "instructorId": rec["instructorId"],
        "statusId": rec["statusId"],
        "lessonId": rec["lessonId"],
        "lessonName": lesson.get("name"),
        "instructorLed": True,
        "notes": rec["notes"],
        "numberOfAttendees": n,
        "numberOfPlaces": rec["numberOfPlaces"],
        "startDatetime": rec["startDatetime"],
        "endDatetime": rec["endDatetime"],
        "location": rec["location"],
        "state": STATES[_state(t, rec)],
        "attendanceRate": round(100 * attended / n) if n else 0,
        "passRate": round(100 * passed / n) if n else 0,
        TRAINEE_FLAG: rec[TRAINEE_FLAG],
        INSTRUCTOR_FLAG: rec[INSTRUCTOR_FLAG],
        "createdDate": rec["createdDate"],
        "modifiedDate": rec["modifiedDate"],
    }


def _attendee(t: VelpicTenant, rec: Record) -> Record:
    user = t.users.records.get(rec["userId"]) or {}
    return {
        "id": rec["id"],
        "userId": rec["userId"],
        "sessionId": rec["sessionId"],
        "lessonScheduleId": rec["lessonScheduleId"],
        "userName": user.get("userName"),
        "firstName": user.get("firstName"),
        "lastName": user.get("lastName"),
        "registeringUserId": None,
        "registeringUserFirstName": None,
        "registeringUserLastName": None,
        "passed": rec["passed"],
        "attended": rec["attended"],
        "createdDate": rec["createdDate"],
        "modifiedDate": rec["modifiedDate"],
    }


def _session(t: VelpicTenant, request: web.Request) -> Record:
    sid = path_id(request, "iltSessionId")
    rec = t.sessions.records.get(sid) if sid is not None else None
    if rec is None:
        raise not_found(f"ILT session {request.match_info['iltSessionId']} not found in this account.")
    return rec


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"{name} must be a number, got {raw!r}.") from None


def _instructor(t: VelpicTenant, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value not in t.users.records:
        raise bad_request(f"instructorId {value!r} is not a user of this account.")
    return value


def _location(body: Record) -> str:
    value = body.get("location")
    if not isinstance(value, str) or not value.strip():
        raise bad_request("location is required (a non-empty string).")
    return value


def _places(body: Record) -> int | None:
    value = body.get("numberOfPlaces")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise bad_request(f"numberOfPlaces must be a non-negative whole number, got {value!r}.")
    return value


def _touch(t: VelpicTenant, rec: Record, changes: Record, table: str = "sessions") -> None:
    changes["modifiedDate"] = ilt_date(t.now())
    (t.sessions if table == "sessions" else t.attendees).update(rec["id"], changes)


# -- handlers -------------------------------------------------------------------------------------------------
async def list_sessions(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    schedule_id = _int_param(request, "lessonScheduleId")
    state, status = _int_param(request, "state"), _int_param(request, "status")
    instructor = _int_param(request, "instructorId")
    items = []
    for rec in t.sessions:
        if status is not None and rec["statusId"] != status:
            continue
        if instructor is not None and rec["instructorId"] != instructor:
            continue
        if state is not None and _state(t, rec) != state:
            continue
        if schedule_id is not None:
            linked = (
                t.attendees.records[a]["lessonScheduleId"] for a in t.attendees_of.get(rec["id"], {}).values()
            )
            if schedule_id not in linked:
                continue
        items.append(rec)
    start, max_results = t.paging(request.query)
    results = [_list_item(t, rec) for rec in page(items, start, max_results)]
    return json_response({"results": results, "meta": t.meta(len(items), start, len(results))})


async def get_session(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    return json_response(_detail(t, _session(t, request)))


async def create_session(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    body = await read_object(request)
    start = parse_date(body.get("startDatetime"), "startDatetime")
    end = parse_date(body.get("endDatetime"), "endDatetime")
    if end < start:
        raise bad_request("endDatetime must not be before startDatetime.")
    location = _location(body)
    instructor = _instructor(t, body.get("instructorId"))
    lesson_id = body.get("lessonId")
    if lesson_id is not None and (not isinstance(lesson_id, int) or lesson_id not in t.lessons.records):
        raise bad_request(f"lessonId {lesson_id!r} is not a lesson of this account.")
    notes = body.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise bad_request(f"notes must be a string, got {notes!r}.")
    sid = t.sessions.next_id()
    stamp = ilt_date(t.now())
    rec: Record = {
        "id": sid,
        "statusId": STATUS_ACTIVE,
        "instructorId": instructor,
        "lessonId": lesson_id,
        "notes": notes,
        "numberOfPlaces": _places(body),
        "startDatetime": ilt_date(start),
        "endDatetime": ilt_date(end),
        "location": location,
        TRAINEE_FLAG: True,
        INSTRUCTOR_FLAG: True,
        "createdDate": stamp,
        "modifiedDate": stamp,
    }
    t.sessions.create(sid, rec)
    t.attendees_of[sid] = {}
    return json_response(_list_item(t, rec))


async def update_session(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    rec = _session(t, request)
    body = await read_object(request)
    changes: Record = {"instructorId": _instructor(t, body.get("instructorId")), "location": _location(body)}
    if "statusId" in body:
        if body["statusId"] not in (STATUS_ACTIVE, STATUS_COMPLETED, STATUS_CANCELLED):
            raise bad_request(
                f"statusId must be 1 (active), 2 (completed) or 3 (cancelled), got {body['statusId']!r}."
            )
        changes["statusId"] = body["statusId"]
    if "notes" in body:
        if body["notes"] is not None and not isinstance(body["notes"], str):
            raise bad_request(f"notes must be a string, got {body['notes']!r}.")
        changes["notes"] = body["notes"]
    if "numberOfPlaces" in body:
        changes["numberOfPlaces"] = _places(body)
    _touch(t, rec, changes)
    return json_response(_detail(t, rec))


async def complete_session(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    rec = _session(t, request)
    now = t.now()
    for aid in t.attendees_of.get(rec["id"], {}).values():
        schedule = t.schedules.records.get(t.attendees.records[aid]["lessonScheduleId"])
        if schedule is not None and schedule["status"] in OPEN_STATUSES:
            t.complete_schedule(schedule, now, None)
    _touch(t, rec, {"statusId": STATUS_COMPLETED})
    return empty_ok()


async def cancel_session(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    rec = _session(t, request)
    body = await read_object(request)
    for flag in (TRAINEE_FLAG, INSTRUCTOR_FLAG):
        if not isinstance(body.get(flag), bool):
            raise bad_request(f"{flag} is required (true or false).")
    _touch(
        t,
        rec,
        {
            "statusId": STATUS_CANCELLED,
            TRAINEE_FLAG: body[TRAINEE_FLAG],
            INSTRUCTOR_FLAG: body[INSTRUCTOR_FLAG],
        },
    )
    return empty_ok()


async def bulk_register(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    rec = _session(t, request)
    body = await read_object(request)
    user_ids = int_list(body.get("userIds"), "userIds")
    unknown = [uid for uid in user_ids if uid not in t.users.records]
    if unknown:
        raise bad_request(f"userIds: no user with id {', '.join(map(str, unknown))} in this account.")
    links: dict[int, int | None] = {}
    unscheduled = []
    for uid in user_ids:
        if rec["lessonId"] is None:
            links[uid] = None
            continue
        open_ = [
            s
            for s in t.user_schedules(uid)
            if s["lessonId"] == rec["lessonId"] and s["status"] in OPEN_STATUSES
        ]
        if open_:
            links[uid] = open_[0]["id"]
        else:
            unscheduled.append(uid)
    if unscheduled:
        raise bad_request(
            f"Users must be scheduled to lesson {rec['lessonId']} before registering; not scheduled: "
            f"{', '.join(map(str, unscheduled))}."
        )
    registered = t.attendees_of.setdefault(rec["id"], {})
    stamp = ilt_date(t.now())
    for uid, schedule_id in links.items():
        if uid in registered:
            continue
        aid = t.attendees.next_id()
        t.attendees.create(
            aid,
            {
                "id": aid,
                "userId": uid,
                "sessionId": rec["id"],
                "lessonScheduleId": schedule_id,
                "sessionUserKey": f"{rec['id']}:{uid}",
                "registeringUserId": None,
                "passed": False,
                "attended": False,
                "createdDate": stamp,
                "modifiedDate": stamp,
            },
        )
        registered[uid] = aid
    return empty_ok()


async def bulk_deregister(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    rec = _session(t, request)
    body = await read_object(request)
    registered = t.attendees_of.setdefault(rec["id"], {})
    for uid in int_list(body.get("userIds"), "userIds"):
        aid = registered.pop(uid, None)
        if aid is not None:
            t.attendees.delete(aid)
    return empty_ok()


async def list_attendees(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    rec = _session(t, request)
    items = [t.attendees.records[a] for a in sorted(t.attendees_of.get(rec["id"], {}).values())]
    start, max_results = t.paging(request.query)
    results = [_attendee(t, a) for a in page(items, start, max_results)]
    return json_response({"results": results, "meta": t.meta(len(items), start, len(results))})


async def save_progress(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    rec = _session(t, request)
    body = await read_object(request)
    rows = body.get("attendees")
    if not isinstance(rows, list):
        raise bad_request(
            'attendees is required: a list such as [{"id": 1, "passed": true, "attended": true}].'
        )
    own = set(t.attendees_of.get(rec["id"], {}).values())
    updates: list[tuple[Record, Record]] = []
    for i, row in enumerate(rows):
        aid = row.get("id") if isinstance(row, dict) else None
        if aid not in own:
            raise bad_request(f"attendees[{i}]: id {aid!r} is not an attendee of ILT session {rec['id']}.")
        assert isinstance(row, dict)
        changes = {}
        for flag in ("passed", "attended"):
            if flag in row:
                if not isinstance(row[flag], bool):
                    raise bad_request(f"attendees[{i}]: {flag} must be true or false, got {row[flag]!r}.")
                changes[flag] = row[flag]
        updates.append((t.attendees.records[aid], changes))
    for attendee, changes in updates:
        _touch(t, attendee, changes, "attendees")
    return empty_ok()
