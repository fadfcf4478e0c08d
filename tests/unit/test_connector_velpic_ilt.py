"""Velpic ILT sessions: reader, session create/update, registrations, attendance (request shapes, validation,
decoding, in-doubt lookups)."""

from __future__ import annotations

import json
from typing import Any

from migrator.connectors.base import LookupWriter, Response, RowResult, WriteItem
from migrator.connectors.velpic import make_reader, make_writer
from migrator.connectors.velpic.ilt import (
    VelpicIltAttendanceWriter,
    VelpicIltRegistrationWriter,
    VelpicIltSessionCreate,
    VelpicIltSessionReader,
    VelpicIltSessionWriter,
    attendee_ids,
    attendees_request,
)

SESSION = {
    "lessonId": "501",
    "startDatetime": "2024-03-01T09:00:00.000+0000",
    "endDatetime": "2024-03-01T16:00:00.000+0000",
    "location": "Leeds",
    "instructorId": "50000007",
    "notes": "Working at Heights - 01 Mar 2024",
}


def _resp(status: int, body: Any) -> Response:
    return Response(status, json.dumps(body).encode())


def _prepare(writer: Any, payload: dict[str, Any]) -> WriteItem | RowResult:
    out: WriteItem | RowResult = writer.prepare(WriteItem("k1", "s1", payload))
    return out


def test_reader_pages_ilt_sessions_with_filters_and_meta() -> None:
    reader = make_reader("ilt_session", {"instructorId": 7}, 50, "sessions")
    assert isinstance(reader, VelpicIltSessionReader)
    req = reader.page_request(reader.paginator().first())
    assert (req.method, req.path, req.endpoint) == ("GET", "/ilt_session", "/ilt_session")
    assert dict(req.params) == {"instructorId": "7", "startIndex": "0", "maxResults": "50"}
    page = reader.decode_page(_resp(200, {"results": [{"id": 1}], "meta": {"totalResultCount": 9}}))
    assert (page.records, page.total, reader.key_field) == ([{"id": 1}], 9, "id")


def test_create_session_request_normalises_ids() -> None:
    writer = make_writer("ilt_session", "create", "startDatetime")
    assert isinstance(writer, VelpicIltSessionWriter) and not writer.idempotent
    item = _prepare(writer, dict(SESSION))
    assert isinstance(item, WriteItem)
    [(req, sent)] = writer.requests([item])
    assert (req.method, req.path, req.endpoint) == ("POST", "/ilt_session", "/ilt_session")
    assert req.json == {**SESSION, "lessonId": 501, "instructorId": 50000007}
    assert sent == [item]
    [row] = writer.decode(_resp(200, {"id": 50001, "statusId": 1}), [item])
    assert (row.ok, row.target_id, row.action) == (True, "50001", "created")


def test_create_session_rejects_missing_fields_and_bad_dates_without_a_request() -> None:
    writer = VelpicIltSessionCreate()
    bad = {**SESSION, "startDatetime": "2024-03-01 09:00", "location": " ", "instructorId": None}
    row = _prepare(writer, bad)
    assert isinstance(row, RowResult) and row.action == "rejected"
    assert set(row.fields) == {"startDatetime", "location", "instructorId"}
    assert "2018-05-19T01:00:06.000+0800" in row.fields["startDatetime"][0]
    backwards = _prepare(writer, {**SESSION, "endDatetime": "2024-03-01T08:00:00.000+0000"})
    assert isinstance(backwards, RowResult)
    assert backwards.fields["endDatetime"] == ["endDatetime must not be before startDatetime"]
    missing = _prepare(writer, {"location": "x", "instructorId": 1})
    assert isinstance(missing, RowResult)
    assert set(missing.fields) == {"startDatetime", "endDatetime"}


def test_create_session_refusal_is_a_rejection_with_the_reason() -> None:
    writer = VelpicIltSessionCreate()
    item = _prepare(writer, dict(SESSION))
    assert isinstance(item, WriteItem)
    [row] = writer.decode(_resp(400, {"internalCode": 400, "error": "lessonId 9 is not a lesson"}), [item])
    assert (row.ok, row.action, row.status, row.reason) == (
        False,
        "rejected",
        400,
        "lessonId 9 is not a lesson",
    )


def test_in_doubt_lookup_matches_lesson_and_start_instant_across_zones() -> None:
    writer = VelpicIltSessionCreate()
    item = _prepare(writer, dict(SESSION))
    assert isinstance(item, WriteItem)
    req = writer.lookup_request(item)
    assert req is not None and (req.method, req.path, dict(req.params)) == (
        "GET",
        "/ilt_session",
        {"instructorId": "50000007", "startIndex": "0", "maxResults": "1000"},
    )
    listing = {
        "results": [
            {"id": 1, "lessonId": 502, "startDatetime": "2024-03-01T17:00:00.000+0800"},
            {"id": 2, "lessonId": 501, "startDatetime": "2024-03-02T17:00:00.000+0800"},
            {"id": 3, "lessonId": 501, "startDatetime": "2024-03-01T17:00:00.000+0800"},
        ],
        "meta": {"totalResultCount": 3},
    }
    assert writer.decode_lookup(_resp(200, listing), item) == "3"
    assert writer.decode_lookup(_resp(200, {"results": listing["results"][:2]}), item) is None
    assert writer.decode_lookup(_resp(403, {"internalCode": 806}), item) is None


def test_update_session_patches_by_id() -> None:
    writer = make_writer("ilt_session", "update", "id")
    assert isinstance(writer, VelpicIltSessionWriter) and writer.idempotent
    item = _prepare(writer, {"id": "50001", "instructorId": 7, "location": "Hull", "statusId": 2})
    assert isinstance(item, WriteItem)
    [(req, _)] = writer.requests([item])
    assert (req.method, req.path, req.endpoint) == (
        "PATCH",
        "/ilt_session/50001",
        "/ilt_session/{iltSessionId}",
    )
    assert req.json == {"instructorId": 7, "location": "Hull", "statusId": 2}
    [row] = writer.decode(_resp(200, {"id": 50001}), [item])
    assert (row.target_id, row.action) == ("50001", "updated")
    no_id = _prepare(writer, {"instructorId": 7, "location": "Hull", "statusId": 5})
    assert isinstance(no_id, RowResult) and set(no_id.fields) == {"id", "statusId"}


def test_registration_posts_user_ids_to_bulk_register() -> None:
    writer = make_writer("ilt_registration", "create", "sessionId")
    assert isinstance(writer, VelpicIltRegistrationWriter) and writer.idempotent
    item = _prepare(writer, {"sessionId": "50001", "userIds": ["50000001", 50000002]})
    assert isinstance(item, WriteItem)
    [(req, _)] = writer.requests([item])
    assert (req.method, req.path, req.endpoint) == (
        "POST",
        "/ilt_session/50001/bulk_register",
        "/ilt_session/{iltSessionId}/bulk_register",
    )
    assert req.json == {"userIds": [50000001, 50000002]}
    [row] = writer.decode(Response(200, b""), [item])
    assert (row.ok, row.target_id) == (True, "50001:50000001,50000002")
    refusal = {"internalCode": 400, "error": "Users must be scheduled to lesson 501 before registering"}
    [bad] = writer.decode(_resp(400, refusal), [item])
    assert (bad.ok, bad.action, bad.reason) == (False, "rejected", refusal["error"])
    assert not isinstance(writer, LookupWriter)  # a resend is safe: never looked up


def test_registration_rejects_missing_session_and_users() -> None:
    writer = VelpicIltRegistrationWriter()
    row = _prepare(writer, {"userIds": []})
    assert isinstance(row, RowResult) and set(row.fields) == {"sessionId", "userIds"}
    bad = _prepare(writer, {"sessionId": 1, "userIds": ["x"]})
    assert isinstance(bad, RowResult) and bad.fields["userIds"][0].startswith("userIds must be Velpic user ids")


def test_attendance_posts_attendee_ids_to_save_progress() -> None:
    writer = make_writer("ilt_attendance", "create", "sessionId")
    assert isinstance(writer, VelpicIltAttendanceWriter)
    item = _prepare(
        writer, {"sessionId": 50001, "attendees": [{"id": "9", "passed": True, "attended": True, "x": 1}]}
    )
    assert isinstance(item, WriteItem)
    [(req, _)] = writer.requests([item])
    assert (req.path, req.endpoint) == (
        "/ilt_session/50001/save_progress",
        "/ilt_session/{iltSessionId}/save_progress",
    )
    assert req.json == {"attendees": [{"id": 9, "passed": True, "attended": True}]}
    [row] = writer.decode(Response(200, b""), [item])
    assert (row.ok, row.target_id, row.action) == (True, "50001:9", "updated")
    bad = _prepare(writer, {"sessionId": 1, "attendees": [{"passed": "yes"}]})
    assert isinstance(bad, RowResult) and "attendee id, not the user id" in bad.reason


def test_attendee_ids_map_users_to_attendees() -> None:
    req = attendees_request(50001)
    assert (req.method, req.path, req.endpoint) == (
        "GET",
        "/ilt_session/50001/attendees",
        "/ilt_session/{iltSessionId}/attendees",
    )
    body = {"results": [{"id": 9, "userId": 50000001}, {"id": 10, "userId": 50000002}], "meta": {}}
    assert dict(req.params) == {"startIndex": "0", "maxResults": "1000"}
    assert attendee_ids(_resp(200, body), 50001) == {50000001: 9, 50000002: 10}
    assert attendee_ids(_resp(403, {"internalCode": 806}), 50001) == {}
