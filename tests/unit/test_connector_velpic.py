"""Velpic connector, remaining entities: lessons, lesson schedules per user, scheduling, completions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from migrator.connectors.base import Response, RowResult, SettingError, WriteItem
from migrator.connectors.velpic import make_reader, make_writer
from migrator.connectors.velpic.lessons import (
    VelpicCompletionWriter,
    VelpicScheduleReader,
    VelpicScheduleWriter,
)


def _resp(status: int, body: Any) -> Response:
    return Response(status, json.dumps(body).encode())


def _prepared(writer: Any, payload: dict[str, Any]) -> WriteItem:
    out = writer.prepare(WriteItem("k1", "s1", payload))
    assert isinstance(out, WriteItem), out
    return out


def test_lesson_reader_keys_on_lesson_id() -> None:
    assert make_reader("lesson", {}, 100, "lessons").key_field == "lessonId"


def test_schedule_reader_pages_users_and_asks_each_user_with_the_status_filter() -> None:
    reader = make_reader("lesson_schedule", {"status": "completed", "activeValue": "all"}, 50, "s")
    assert isinstance(reader, VelpicScheduleReader)
    page = reader.paginator().first()
    first = reader.page_request(page)
    assert (first.path, dict(first.params)) == (
        "/user",
        {"activeValue": "all", "startIndex": "0", "maxResults": "50"},
    )
    child = reader.children({"id": 1000007})
    assert child is not None
    assert (child.method, child.path, child.endpoint, child.params) == (
        "GET",
        "/user/1000007/lesson_schedule",
        "/user/{userId}/lesson_schedule",
        (("status", "completed"), ("startIndex", "0"), ("maxResults", "1000")),
    )
    assert reader.children({"id": None}) is None
    kids = reader.decode_children(_resp(200, {"results": [{"id": 5, "lessonName": "X"}]}), {"id": 9})
    assert kids == [{"id": 5, "lessonName": "X", "userId": 9}]
    assert reader.key_field == "id"


def test_schedule_reader_refuses_an_unknown_status() -> None:
    with pytest.raises(SettingError, match="status must be one of"):
        make_reader("lesson_schedule", {"status": "done"}, 50, "s")


def test_schedule_writer_posts_version_ids_and_treats_409_as_unchanged() -> None:
    writer = make_writer("lesson_schedule", "create", "userId")
    assert isinstance(writer, VelpicScheduleWriter) and writer.idempotent
    item = _prepared(
        writer, {"userId": 50000001, "lessonVersionIds": ["5201"], "gracePeriod": 14, "gracePeriodUnit": "days"}
    )
    ((request, sent),) = writer.requests([item])
    assert (request.method, request.path, request.endpoint) == (
        "POST",
        "/user/50000001/lesson_schedule",
        "/user/{userId}/lesson_schedule",
    )
    assert request.json == {"lessonVersionIds": [5201], "gracePeriod": "14", "gracePeriodUnit": "days"}
    created = writer.decode(_resp(200, {"ids": [77]}), sent)
    assert [(r.ok, r.action, r.target_id) for r in created] == [(True, "created", "77")]
    again = writer.decode(_resp(409, {"error": "Lesson Schedule already exists"}), sent)
    assert [(r.ok, r.action) for r in again] == [(True, "unchanged")]
    bad = writer.decode(_resp(400, {"internalCode": 400, "error": "lesson version 9 is not active"}), sent)
    assert not bad[0].ok and "not active" in bad[0].reason


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"lessonVersionIds": [1]}, "userId"),
        ({"userId": 1, "lessonVersionIds": []}, "lessonVersionIds"),
        ({"userId": 1, "lessonVersionIds": ["x"]}, "lessonVersionIds"),
        ({"userId": 1, "lessonVersionIds": [1], "gracePeriod": 3}, "gracePeriodUnit"),
    ],
)
def test_schedule_writer_rejects_before_sending(payload: dict[str, Any], field: str) -> None:
    out = VelpicScheduleWriter().prepare(WriteItem("k", "s", payload))
    assert isinstance(out, RowResult) and field in out.fields


def test_completion_writer_sends_the_completed_date_and_is_create_only() -> None:
    writer = make_writer("lesson_completion", "create", "lessonVersionId")
    assert isinstance(writer, VelpicCompletionWriter) and not writer.idempotent
    item = _prepared(
        writer,
        {
            "userId": 50000002,
            "lessonVersionId": "5203",
            "completedDate": "2024-01-10T00:00:00.000Z",
            "manuallyCompletedByUserId": 50000002,
        },
    )
    ((request, sent),) = writer.requests([item])
    assert (request.method, request.path, request.endpoint) == (
        "POST",
        "/lesson_schedule/50000002/complete_lesson",
        "/lesson_schedule/{userId}/complete_lesson",
    )
    assert request.json == {
        "lessonVersionId": 5203,
        "completedDate": "2024-01-10T00:00:00.000Z",
        "manuallyCompletedByUserId": 50000002,
    }
    assert writer.decode(_resp(200, {"ids": [9]}), sent)[0].target_id == "9"
    lookup = writer.lookup_request(item)
    assert lookup is not None
    assert lookup.params == (("status", "completed"), ("startIndex", "0"), ("maxResults", "1000"))
    found = {"results": [{"id": 4, "lessonVersionId": 5201}, {"id": 8, "lessonVersionId": 5203}]}
    assert writer.decode_lookup(_resp(200, found), item) == "8"


def test_completion_writer_needs_a_lesson_a_date_and_a_completer() -> None:
    out = VelpicCompletionWriter().prepare(WriteItem("k", "s", {"userId": 1}))
    assert isinstance(out, RowResult)
    assert {"lessonId", "completedDate", "manuallyCompletedByUserId"} <= set(out.fields)


def test_member_writer_adds_members_per_group_and_rejects_missing_ids() -> None:
    writer = make_writer("group_member", "create", None)
    ok = writer.prepare(WriteItem("k1", "s1", {"groupId": "12", "userIds": ["5", 6]}))
    assert isinstance(ok, WriteItem) and ok.payload == {"groupId": 12, "userIds": [5, 6]}
    [(request, items)] = writer.requests([ok])
    assert (request.method, request.path, request.endpoint) == (
        "POST",
        "/group/12/add_members",
        "/group/{groupId}/add_members",
    )
    assert request.json == {"userIds": [5, 6]}
    [row] = writer.decode(Response(200, b""), items)
    assert row.ok and row.target_id == "12:5,6"
    missing = writer.prepare(WriteItem("k2", "s2", {"userIds": [5]}))
    assert isinstance(missing, RowResult) and not missing.ok and "groupId" in missing.fields
    supervisors = make_writer("group_supervisor", "create", None)
    [(request, _)] = supervisors.requests([ok])
    assert request.path == "/group/12/add_supervisors"


# -- user status -------------------------------------------------------------------------------------------
def test_status_writer_calls_activate_or_inactivate_at_the_target_id() -> None:
    writer = make_writer("user_status", "update", "id")
    leaver = _prepared(writer, {"id": "42", "clientStatusId": "57"})
    back = _prepared(writer, {"id": 43, "clientStatusId": 56})
    assert leaver.payload == {"id": 42, "clientStatusId": 57}
    calls = writer.requests([leaver, back])
    assert [(r.method, r.path) for r, _ in calls] == [
        ("POST", "/user/42/inactivate"),
        ("POST", "/user/43/activate"),
    ]
    row = writer.decode(Response(200, b""), [leaver])[0]
    assert (row.ok, row.target_id, row.action) == (True, "42", "updated")
    refused = writer.decode(_resp(500, {"internalCode": 500, "error": "Internal Server Error"}), [leaver])[0]
    assert refused.action == "rejected" and "Internal Server Error" in refused.reason


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"clientStatusId": 57}, "id"),
        ({"id": "x", "clientStatusId": 57}, "id"),
        ({"id": 4, "clientStatusId": 1}, "clientStatusId"),
        ({"id": 4}, "clientStatusId"),
    ],
)
def test_status_writer_rejects_a_record_without_target_id_or_known_status(
    payload: dict[str, Any], field: str
) -> None:
    out = make_writer("user_status", "update", "id").prepare(WriteItem("k", "s", payload))
    assert isinstance(out, RowResult) and out.action == "rejected" and field in out.fields


def test_status_writer_matches_on_id_and_status_and_settles_a_doubt_by_the_user_read() -> None:
    writer = make_writer("user_status", "update", "id")
    assert writer.match_fields == ("id", "clientStatusId") and not writer.idempotent
    item = _prepared(writer, {"id": 42, "clientStatusId": 57})
    lookup = writer.lookup_request(item)  # type: ignore[attr-defined]
    assert (lookup.method, lookup.path) == ("GET", "/user/42")
    found = writer.decode_lookup(_resp(200, {"id": 42, "clientStatusId": 57}), item)  # type: ignore[attr-defined]
    still = writer.decode_lookup(_resp(200, {"id": 42, "clientStatusId": 56}), item)  # type: ignore[attr-defined]
    by_flag = writer.decode_lookup(_resp(200, {"id": 42, "active": False}), item)  # type: ignore[attr-defined]
    assert (found, still, by_flag) == ("42", None, "42")


def test_status_read_lists_every_status() -> None:
    reader = make_reader("user_status", {"activeValue": "active"}, 100, "s")
    first = reader.page_request(reader.paginator().first())
    assert first.path == "/user" and ("activeValue", "all") in first.params


def test_roles_are_sent_once_each() -> None:
    writer = make_writer("user", "bulk", "email")
    user = {"firstName": "A", "lastName": "B", "emailAddress": "a@b.co", "roles": [3, 3, 8]}
    assert _prepared(writer, user).payload["roles"] == [3, 8]


@pytest.mark.parametrize("group", [[], [5], {"id": 5}, True, "G-5", 5.5])
def test_a_membership_whose_group_is_no_group_id_is_rejected_naming_it(group: Any) -> None:
    """A ``groupId`` that is no Velpic group id (a crosswalk mapped to a list, an object, a flag, a name) is a
    dead letter saying what it got, never an exception."""
    writer = make_writer("group_member", "create", None)
    got = writer.prepare(WriteItem("k", "s", {"groupId": group, "userIds": [7]}))
    assert isinstance(got, RowResult) and not got.ok
    assert "groupId must be a Velpic group id" in (got.reason or "")
    sent = writer.prepare(WriteItem("k", "s", {"groupId": "12", "userIds": 7}))
    assert isinstance(sent, WriteItem) and sent.payload == {"groupId": 12, "userIds": [7]}
