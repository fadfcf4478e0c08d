"""The Velpic connector against its own spec and the engine's Protocols: a reader per declared list and a
writer per declared (entity, mode, match key), each with the Protocols its kind needs and the endpoint, key
field and batch limit the spec declares; every create-only writer finds a record in doubt by each match key
the spec accepts, by the field's value (a near miss listed first is not taken). Also: unknown entities and
modes, refused settings, and the answer that refuses the AccessKey."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from migrator.connectors.base import (
    EngineSupportError,
    IdWriter,
    LookupWriter,
    NestedReader,
    PagedReader,
    PreReadWriter,
    RequestWriter,
    Response,
    SettingError,
    WriteItem,
)
from migrator.connectors.velpic import make_auth, make_reader, make_writer
from migrator.connectors.velpic.spec import VELPIC

_USER = {"firstName": "Ann", "lastName": "Lee", "emailAddress": "ann.lee@example.com", "userName": "ann.lee"}
_SESSION = {
    "lessonId": 501,
    "startDatetime": "2024-03-01T09:00:00.000+0000",
    "endDatetime": "2024-03-01T16:00:00.000+0000",
    "location": "Leeds",
    "instructorId": 50000007,
}
_COMPLETION = {"userId": 5, "completedDate": "2024-01-10T00:00:00.000Z", "manuallyCompletedByUserId": 5}

#: a record each declared write accepts (its ``prepare`` passes it)
PAYLOADS: dict[tuple[str, str], dict[str, Any]] = {
    ("user", "bulk"): {**_USER, "employeeNumber": "E7", "roles": [6]},
    ("user", "create"): {**_USER, "employeeNumber": "E7"},
    ("user", "update"): {**_USER, "id": 9, "employeeNumber": "E7"},
    ("user_status", "update"): {"id": 9, "clientStatusId": 56},
    ("group", "create"): {"name": "Sales"},
    ("group", "update"): {"id": 4, "name": "Sales"},
    ("group_member", "create"): {"groupId": 4, "userIds": [5, 6]},
    ("group_supervisor", "create"): {"groupId": 4, "userIds": [5]},
    ("lesson_schedule", "create"): {"userId": 5, "lessonVersionIds": [5201]},
    ("lesson_completion", "create"): {**_COMPLETION, "lessonId": 52, "lessonVersionId": 5201},
    ("ilt_session", "create"): _SESSION,
    ("ilt_session", "update"): {"id": 50001, "instructorId": 7, "location": "Hull"},
    ("ilt_registration", "create"): {"sessionId": 50001, "userIds": [5]},
    ("ilt_attendance", "create"): {"sessionId": 50001, "attendees": [{"id": 9, "passed": True}]},
}
#: a completion names one lesson: the one its step matches on
_ONE_LESSON = {"lessonId": "lessonVersionId", "lessonVersionId": "lessonId"}


def _payload(entity: str, mode: str, match: str | None) -> dict[str, Any]:
    payload = dict(PAYLOADS[(entity, mode)])
    if entity == "lesson_completion" and match in _ONE_LESSON:
        del payload[_ONE_LESSON[match]]
    return payload


def _writes() -> Iterator[tuple[str, str, str | None]]:
    for entity in VELPIC.entities.values():
        for mode, write in entity.writes.items():
            for key in write.match_keys:
                yield entity.name, mode, key
            if not write.match_required:
                yield entity.name, mode, None


WRITES = list(_writes())


def _prepared(writer: RequestWriter, payload: dict[str, Any]) -> WriteItem:
    item = writer.prepare(WriteItem("k1", "s1", payload))
    assert isinstance(item, WriteItem), item
    return item


def _listing(*records: dict[str, Any]) -> Response:
    body = {"results": list(records), "meta": {"totalResultCount": len(records)}}
    return Response(200, json.dumps(body).encode())


def _near(value: Any) -> Any:
    """A value close to ``value`` but not equal (what a partial-match filter such as ``q`` also lists)."""
    return value + 1 if isinstance(value, int) else f"{value}x"


@pytest.mark.parametrize(("entity", "mode", "match"), WRITES, ids=[str(w) for w in WRITES])
def test_every_declared_write_has_a_writer_with_the_protocols_of_its_kind(
    entity: str, mode: str, match: str | None
) -> None:
    write = VELPIC.entities[entity].writes[mode]
    writer = make_writer(entity, mode, match)
    assert isinstance(writer, RequestWriter)
    assert (writer.mode, writer.max_batch) == (mode, write.max_batch)
    assert isinstance(writer, IdWriter) == (mode == "update")
    # the attendance writer reads attendee ids, the schedule writer the schedules the user already holds, the
    # membership and registration writers who is in the group or the session already
    reads_first = ("ilt_attendance", "ilt_registration", "lesson_schedule", "group_member", "group_supervisor")
    assert isinstance(writer, PreReadWriter) == (entity in reads_first)
    # only a create-only writer is looked up; a resend of any other is safe
    assert isinstance(writer, LookupWriter) != writer.idempotent
    ((request, sent),) = writer.requests([item := _prepared(writer, _payload(entity, mode, match))])
    assert (request.method, request.endpoint, sent) == (
        write.endpoint.method,
        write.endpoint.budget_key,
        [item],
    )
    assert "{" not in request.path


CREATE_ONLY = [w for w in WRITES if w[2] is not None and not make_writer(*w).idempotent]


def test_the_create_only_writes_are_the_ones_to_look_up() -> None:
    assert {(e, m) for e, m, _ in CREATE_ONLY} == {
        ("user", "create"),
        ("user_status", "update"),  # a repeated activate is not documented: the target's state decides
        ("group", "create"),
        ("lesson_completion", "create"),
        ("ilt_session", "create"),
    }


#: the creates looked up in a list by their match key (a status in doubt is read at its user's id: below)
LISTED = [w for w in CREATE_ONLY if w[0] != "user_status"]


@pytest.mark.parametrize(("entity", "mode", "match"), LISTED, ids=[str(w) for w in LISTED])
def test_a_create_in_doubt_is_found_by_each_accepted_match_key(entity: str, mode: str, match: str) -> None:
    writer = make_writer(entity, mode, match)
    assert isinstance(writer, LookupWriter)
    item = _prepared(writer, _payload(entity, mode, match))
    assert item.payload.get(match) not in (None, "")
    request = writer.lookup_request(item)
    assert request is not None, f"no lookup by {match}"
    assert request.method == "GET"
    found = {**item.payload, "id": 77}
    near = {**item.payload, match: _near(item.payload[match]), "id": 76}
    assert writer.decode_lookup(_listing(near, found), item) == "77"
    assert writer.decode_lookup(_listing(near), item) is None
    assert writer.decode_lookup(_listing(), item) is None
    assert writer.decode_lookup(Response(403, b'{"internalCode":806,"error":"Token not valid"}'), item) is None


@pytest.mark.parametrize(
    ("match", "param"), [("emailAddress", "emailAddress"), ("employeeNumber", "empId"), ("userName", "q")]
)
def test_a_user_is_looked_up_with_the_documented_list_filter_in_one_bounded_page(
    match: str, param: str
) -> None:
    writer = make_writer("user", "create", match)
    assert isinstance(writer, LookupWriter)
    item = _prepared(writer, PAYLOADS[("user", "create")])
    request = writer.lookup_request(item)
    assert request is not None
    assert (request.path, request.endpoint) == ("/user", "/user")
    assert request.params == (
        (param, str(item.payload[match])),
        ("activeValue", "all"),
        ("startIndex", "0"),
        ("maxResults", "1000"),
    )
    assert writer.lookup_request(WriteItem("k", "s", {**item.payload, match: ""})) is None


def test_a_user_create_without_a_match_key_is_looked_up_by_email() -> None:
    writer = make_writer("user", "create", None)
    assert isinstance(writer, LookupWriter) and writer.match_fields == ("emailAddress",)
    request = writer.lookup_request(_prepared(writer, PAYLOADS[("user", "create")]))
    assert request is not None and ("emailAddress", "ann.lee@example.com") in request.params


def test_a_bulk_import_that_merges_on_nothing_is_create_only_and_looked_up_by_email() -> None:
    writer = make_writer("user", "bulk", None)
    assert isinstance(writer, LookupWriter) and not writer.idempotent
    item = _prepared(writer, PAYLOADS[("user", "bulk")])
    ((request, _),) = writer.requests([item])
    assert request.json["mergeType"] == "none"
    lookup = writer.lookup_request(item)
    assert lookup is not None and ("emailAddress", "ann.lee@example.com") in lookup.params
    assert writer.decode_lookup(_listing({**item.payload, "id": 3}), item) == "3"


@pytest.mark.parametrize(("merge", "field"), [("email", "emailAddress"), ("empNo", "employeeNumber")])
def test_a_merging_bulk_import_matches_on_the_merged_field(merge: str, field: str) -> None:
    writer = make_writer("user", "bulk", merge)
    assert writer.idempotent and writer.match_fields == (field,)


def test_updates_write_at_the_payload_id() -> None:
    for entity in ("user", "group", "ilt_session"):
        writer = make_writer(entity, "update", "id")
        assert isinstance(writer, IdWriter) and writer.id_field == "id"
        ((request, _),) = writer.requests([_prepared(writer, PAYLOADS[(entity, "update")])])
        assert request.path.endswith("/" + str(PAYLOADS[(entity, "update")]["id"]))


def test_every_declared_list_has_a_reader_keyed_as_declared() -> None:
    lists = {name: e.read for name, e in VELPIC.entities.items() if e.read is not None}
    assert set(lists) == {
        "user",
        "user_status",
        "group",
        "lesson",
        "lesson_schedule",
        "certificate",
        "ilt_session",
        "user_supervisors",
    }
    for name, read in lists.items():
        reader = make_reader(name, {}, 50, "s")
        assert isinstance(reader, PagedReader)
        assert (reader.key_field, reader.page_size) == (read.key, 50)
        request = reader.page_request(reader.paginator().first())
        listed = read
        while listed.parent:  # the pages are the outermost parent's (certificates: schedules of users)
            parent = VELPIC.entities[listed.parent].read
            assert parent is not None
            listed = parent
        assert (request.method, request.path, request.endpoint) == (
            "GET",
            listed.endpoint.path,
            listed.endpoint.path,
        )
        assert isinstance(reader, NestedReader) == (read.parent is not None)


def test_what_velpic_does_not_serve_is_an_engine_support_error() -> None:
    with pytest.raises(EngineSupportError) as read:
        make_reader("group_member", {}, 50, "s")
    assert str(read.value) == "the Velpic connector cannot read 'group_member' yet"
    with pytest.raises(EngineSupportError) as write:
        make_writer("lesson", "create", None)
    assert str(write.value) == "the Velpic connector cannot write 'lesson' in mode 'create' yet"
    with pytest.raises(EngineSupportError, match="cannot write 'user' in mode 'upsert'"):
        make_writer("user", "upsert", "emailAddress")


def test_refused_settings_name_their_key() -> None:
    with pytest.raises(
        SettingError, match="Velpic mergeType must be one of none, email, empNo, userName"
    ) as bad:
        make_writer("user", "bulk", "phone")
    assert bad.value.key == "write.match"
    with pytest.raises(SettingError, match="lesson schedule status must be one of all, scheduled") as status:
        make_reader("lesson_schedule", {"status": "done"}, 50, "s")
    assert status.value.key == "read.filter.status"


@pytest.mark.parametrize(
    ("status", "body", "refused"),
    [
        (
            403,
            b'{"message":"AccessKey does not exist","reason":"Invalid access key","internalCode":806,'
            b'"error":"Invalid security token"}',
            True,
        ),
        (403, b'{"internalCode":806,"error":"Token not valid"}', True),
        (403, b'{"internalCode":831,"error":"You are not authorised to make this request"}', False),
        (503, b'{"internalCode":500,"error":"Internal Server Error"}', False),
        (200, b'{"results":[{"id":806}]}', False),
    ],
)
def test_a_bad_access_key_is_a_403_with_code_806(status: int, body: bytes, refused: bool) -> None:
    auth = make_auth({"access_key": "k-1"})
    assert auth.headers(None) == {"AccessKey": "k-1"} and auth.token_request() is None
    assert auth.refused(Response(status, body)) is refused


def test_a_status_in_doubt_is_read_at_its_user_and_settled_only_by_the_wanted_status() -> None:
    writer = make_writer("user_status", "update", "id")
    assert isinstance(writer, LookupWriter)
    item = _prepared(writer, {"id": 9, "clientStatusId": 57})
    ((request, _),) = writer.requests([item])
    assert (request.method, request.path) == ("POST", "/user/9/inactivate")
    lookup = writer.lookup_request(item)
    assert lookup is not None and (lookup.method, lookup.path) == ("GET", "/user/9")
    assert writer.decode_lookup(Response(200, b'{"id": 9, "clientStatusId": 57}'), item) == "9"
    assert writer.decode_lookup(Response(200, b'{"id": 9, "clientStatusId": 56}'), item) is None
    assert writer.decode_lookup(Response(404, b'{"error": true}'), item) is None
