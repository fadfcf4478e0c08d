"""The Velpic connector is right whichever way Velpic behaves where its document is silent: each test turns on
the sandbox switch that makes Velpic answer the other way ([ASSUMED] behaviours, docs/platforms/velpic.md,
"Contract") and drives the connector's own requests and decoders through real HTTP on loopback, in the order
the write stage uses them (the writer's reads, then its calls). Where a call's answer says nothing of what the
target held (an add to a group, a registration), the writer reads it first, and its undo takes back only
what the run added."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import partial
from typing import Any, cast

import pytest

from migrator.connectors.base import (
    LookupWriter,
    Method,
    PagedPreReadWriter,
    PreReadJudge,
    PreReadWriter,
    Removed,
    Request,
    RequestWriter,
    Response,
    RowResult,
    WriteItem,
)
from migrator.connectors.velpic import make_auth, make_reader, make_writer
from migrator.connectors.velpic.calls import ONE_PAGE
from migrator.connectors.velpic.lessons import VelpicScheduleReader
from migrator.connectors.velpic.undo import make_undo_writer
from migrator.connectors.velpic.users import VelpicBulkCreate, VelpicBulkUsers
from migrator.errors import PermanentError
from migrator.protocol.pagination import PaginationLoopError
from migrator.runtime.children import children_read
from migrator.runtime.pre_reads import pre_read
from migrator.sandbox.velpic import VelpicPlatform
from tests.sandbox.conftest import serve_platform

API = "/velpic/api/v2"
FEW = {"velpic.default_max_results": 10}  # a list asked without maxResults answers 10 records
MANY = 12  # more than FEW answers


async def _send(client: Any, key: str, request: Request) -> Response:
    async with client.request(
        request.method,
        API + request.path,
        params=list(request.params),
        json=request.json,
        headers=make_auth({"access_key": key}).headers(None),
    ) as answer:
        return Response(answer.status, await answer.read())


async def _call(client: Any, key: str, method: Method, path: str, body: Any = None) -> Any:
    """Arrange: one Velpic call made directly, answered 200."""
    answer = await _send(client, key, Request(method, path, path, json=body))
    assert answer.status == 200, answer.text()
    return answer.json()


async def _imported(client: Any, key: str, users: list[dict[str, Any]]) -> Any:
    """Arrange: ``users`` on the target, imported merging on the employee number; the users answered."""
    return await _call(client, key, "POST", "/bulkUserImport", {"users": users, "mergeType": "empNo"})


async def _users_and_group(client: Any, key: str, users: int, adds: str, held: int) -> tuple[list[int], int]:
    """Arrange: ``users`` users on the target (their ids, ascending) and a group of the customer's whose
    members or supervisors (``adds``: the call that adds them) are the first ``held``."""
    ids = sorted(u["id"] for u in await _imported(client, key, [_user(n) for n in range(1, users + 1)]))
    group = (await _call(client, key, "POST", "/group", {"name": "Everyone", "description": "kept"}))["id"]
    await _call(client, key, "POST", f"/group/{group}/{adds}", {"userIds": ids[:held]})
    return ids, int(group)


def _user(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "firstName": f"Ann{n}",
        "lastName": "Lee",
        "emailAddress": f"ann.{n}@example.com",
        "employeeNumber": f"E{n}",
        "userName": f"ann.{n}",
        "roles": [6],
        **extra,
    }


def _prepared(writer: RequestWriter, payloads: Sequence[dict[str, Any]]) -> list[WriteItem]:
    items = [writer.prepare(WriteItem(f"k{n}", f"s{n}", payload)) for n, payload in enumerate(payloads)]
    assert all(isinstance(it, WriteItem) for it in items), items
    return cast(list[WriteItem], items)


async def _write(client: Any, key: str, writer: RequestWriter, items: Sequence[WriteItem]) -> list[RowResult]:
    """Each record's result, as the write stage gets it: the writer's reads first (a record they show held is
    settled without a call), then its calls."""
    items = await _pre_read(client, key, writer, items)
    settled = {
        it.idem_key: row for it in items if isinstance(writer, PreReadJudge) and (row := writer.settled(it))
    }
    rows = {
        row.idem_key: row
        for row in await _calls(client, key, writer, [it for it in items if it.idem_key not in settled])
    }
    return [settled.get(it.idem_key) or rows[it.idem_key] for it in items]


async def _pre_read(
    client: Any, key: str, writer: RequestWriter, items: Sequence[WriteItem]
) -> list[WriteItem]:
    """The records as the writer's reads complete them (none for a writer that reads nothing first)."""
    if not isinstance(writer, PreReadWriter):
        return list(items)
    answers = await pre_read(partial(_send, client, key), writer, items)
    ready = writer.apply_pre_lookups(items, answers)
    assert all(isinstance(it, WriteItem) for it in ready), ready
    return cast(list[WriteItem], ready)


async def _calls(client: Any, key: str, writer: RequestWriter, items: Sequence[WriteItem]) -> list[RowResult]:
    rows: list[RowResult] = []
    for request, sent in writer.requests(items):
        rows += writer.decode(await _send(client, key, request), sent)
    return rows


async def _look_up(client: Any, key: str, writer: RequestWriter, item: WriteItem) -> str | None:
    """What the write stage does with a create in doubt: the writer's lookup, its answer decoded."""
    assert isinstance(writer, LookupWriter)
    request = writer.lookup_request(item)
    assert request is not None
    return writer.decode_lookup(await _send(client, key, request), item)


def _target_users(platform: Any) -> list[dict[str, Any]]:
    return list(cast(VelpicPlatform, platform).tables["target"]["user"])


# -- bulkUserImport: the answer's order and dates --------------------------------------------------------------
@pytest.mark.parametrize("order", ["reversed", "shuffled"])
@pytest.mark.parametrize("merge", ["email", "empNo", "userName"])
async def test_an_import_answered_in_another_order_gives_each_record_its_own_user(
    order: str, merge: str
) -> None:
    writer = make_writer("user", "bulk", merge)
    options = {"velpic.bulk_answer_order": order}
    async with serve_platform(VelpicPlatform, scale=5, options=options) as (client, platform):
        key = cast(VelpicPlatform, platform).access_key("target")
        items = _prepared(writer, [_user(n) for n in range(6)])
        rows = await _write(client, key, writer, items)
        by_email = {u["emailAddress"]: str(u["id"]) for u in _target_users(platform)}
        assert {r.idem_key: r.target_id for r in rows} == {
            it.idem_key: by_email[it.payload["emailAddress"]] for it in items
        }
        assert {r.ok for r in rows} == {True}


async def test_a_record_the_answer_leaves_out_or_shares_goes_again_alone_and_lands_on_its_own_user() -> None:
    writer = make_writer("user", "bulk", "email")
    # the import leaves out a row it cannot take (an unknown group) and answers in reverse
    options = {"velpic.bulk_answer_order": "reversed", "velpic.bulk_invalid_row": "skip"}
    async with serve_platform(VelpicPlatform, scale=5, options=options) as (client, platform):
        key = cast(VelpicPlatform, platform).access_key("target")
        twice = _user(1, firstName="Ann again")  # the same email as _user(1): one user, merged
        left_out = _user(2, groups=[{"id": 999_999}])
        items = _prepared(writer, [_user(0), _user(1), twice, left_out, _user(3)])
        rows = {r.idem_key: r for r in await _write(client, key, writer, items)}
        assert [rows[it.idem_key].action for it in items] == [
            "created",
            "pending",
            "pending",
            "pending",
            "created",
        ]
        assert "0 users" in rows["k3"].reason and "2 record(s)" in rows["k1"].reason
        alone = [r for it in items[1:3] for r in await _write(client, key, writer, [it])]
        by_email = {u["emailAddress"]: str(u["id"]) for u in _target_users(platform)}
        assert [r.target_id for r in alone] == [by_email["ann.1@example.com"]] * 2
        [missing] = await _write(client, key, writer, [items[3]])
        assert missing.action == "pending"  # alone and still left out: the write stage rejects it


async def test_an_always_create_import_that_leaves_a_record_out_is_looked_up_not_sent_again() -> None:
    writer = VelpicBulkCreate()
    options = {"velpic.bulk_answer_order": "shuffled", "velpic.bulk_invalid_row": "skip"}
    async with serve_platform(VelpicPlatform, scale=5, options=options) as (client, platform):
        key = cast(VelpicPlatform, platform).access_key("target")
        items = _prepared(writer, [_user(0), _user(1), _user(2, groups=[{"id": 999_999}])])
        [(request, sent)] = writer.requests(items)
        answer = await _send(client, key, request)
        with pytest.raises(
            ValueError, match=re.escape("answered 0 users with emailAddress 'ann.2@example.com'")
        ):
            writer.decode(answer, sent)  # the write stage looks the records up (its in-doubt path)
        lookup = writer.lookup_request(items[1])
        assert lookup is not None
        by_email = {u["emailAddress"]: str(u["id"]) for u in _target_users(platform)}
        assert writer.decode_lookup(await _send(client, key, lookup), items[1]) == by_email["ann.1@example.com"]


async def test_users_the_import_creates_are_created_though_modified_after_their_creation() -> None:
    writer = make_writer("user", "bulk", "empNo")
    options = {"velpic.created_modified": "later"}
    async with serve_platform(VelpicPlatform, scale=5, options=options) as (client, platform):
        key = cast(VelpicPlatform, platform).access_key("target")
        rows = await _write(client, key, writer, _prepared(writer, [_user(n) for n in range(3)]))
        assert [r.action for r in rows] == ["created"] * 3
        assert all(u["modifiedDate"] != u["createdDate"] for u in _target_users(platform))


def test_a_merge_import_refuses_a_record_without_its_merge_field() -> None:
    for merge, field in (("empNo", "employeeNumber"), ("userName", "userName")):
        out = VelpicBulkUsers(merge).prepare(WriteItem("k", "s", {**_user(1), field: ""}))
        assert isinstance(out, RowResult) and "created again at every send" in out.fields[field][0]


# -- lists read in one explicit page --------------------------------------------------------------------------
async def test_a_users_schedules_are_read_whole_when_a_list_without_maxresults_answers_ten() -> None:
    async with serve_platform(VelpicPlatform, scale=5, options=FEW) as (client, platform):
        key = cast(VelpicPlatform, platform).access_key("target")
        [user] = await _imported(client, key, [_user(1)])
        versions = sorted(lesson["lessonVersionId"] for lesson in platform.tables["target"]["lesson"])[:MANY]
        assert len(versions) == MANY
        await _call(client, key, "POST", f"/user/{user['id']}/lesson_schedule", {"lessonVersionIds": versions})
        reader = make_reader("lesson_schedule", {}, 100, "schedules")
        assert isinstance(reader, VelpicScheduleReader)
        request = reader.children(user)
        assert request is not None
        schedules = reader.decode_children(await _send(client, key, request), user)
        assert sorted(s["lessonVersionId"] for s in schedules) == versions


async def test_a_users_schedules_longer_than_the_page_the_server_answers_are_read_to_the_last() -> None:
    """The schedule list has no meta and no largest page is documented: on a Velpic that answers at most 5 rows
    whatever ``maxResults`` asks (``velpic.max_page_size``), a user's 12 schedules are read page after page
    from the rows answered, and a user with fewer schedules than a page the read was answered before (the
    users' page) costs one request."""
    async with serve_platform(VelpicPlatform, scale=5, options={"velpic.max_page_size": 5}) as (
        client,
        platform,
    ):
        key = cast(VelpicPlatform, platform).access_key("target")
        many, few, *_ = await _imported(client, key, [_user(n) for n in range(1, 8)])
        versions = sorted(lesson["lessonVersionId"] for lesson in platform.tables["target"]["lesson"])[:MANY]
        for user, held in ((many, versions), (few, versions[:2])):
            await _call(client, key, "POST", f"/user/{user['id']}/lesson_schedule", {"lessonVersionIds": held})
        reader = make_reader("lesson_schedule", {}, 100, "schedules")
        assert isinstance(reader, VelpicScheduleReader)
        users = Request("GET", "/user", "/user", params=(("activeValue", "all"), *dict(ONE_PAGE).items()))
        assert len(reader.decode_page(await _send(client, key, users)).records) == 5
        sent: list[Request] = []

        async def send(request: Request) -> Response:
            sent.append(request)
            return await _send(client, key, request)

        schedules = await children_read(reader)(send, many)
        assert isinstance(schedules, list)
        assert sorted(s["lessonVersionId"] for s in schedules) == versions
        assert [dict(r.params)["startIndex"] for r in sent] == ["0", "5", "10"]
        sent.clear()
        schedules = await children_read(reader)(send, few)
        assert isinstance(schedules, list) and len(schedules) == 2 and len(sent) == 1


async def test_a_server_answering_the_same_schedules_from_every_row_stops_the_read() -> None:
    """A Velpic that ignores ``startIndex``: the next page holds only what the first did, and the read stops
    saying so rather than go round."""
    reader = make_reader("lesson_schedule", {}, 100, "schedules")
    same = Response(200, json.dumps({"results": [{"id": n, "userId": 7} for n in range(3)]}).encode())

    async def send(request: Request) -> Response:
        return same

    with pytest.raises(PaginationLoopError, match="the page from row 3 holds only records of the pages before"):
        await children_read(reader)(send, {"id": 7})


async def test_a_lost_group_create_is_found_past_the_tenth_group_of_its_name() -> None:
    writer = make_writer("group", "create", "name")
    async with serve_platform(VelpicPlatform, scale=5, options=FEW) as (client, platform):
        key = cast(VelpicPlatform, platform).access_key("target")
        for n in range(MANY):  # groups whose names contain "Ops", listed before it
            await _call(client, key, "POST", "/group", {"name": f"Ops {n}", "description": "a team"})
        [item] = _prepared(writer, [{"name": "Ops", "description": "the team"}])
        [row] = await _write(client, key, writer, [item])
        assert await _look_up(client, key, writer, item) == row.target_id


async def test_a_lost_session_create_is_found_past_the_instructors_tenth_session() -> None:
    writer = make_writer("ilt_session", "create", "startDatetime")
    async with serve_platform(VelpicPlatform, scale=5, options=FEW) as (client, platform):
        key = cast(VelpicPlatform, platform).access_key("target")
        [instructor] = await _imported(client, key, [_user(1, roles=[8])])
        lesson = min(lesson["lessonId"] for lesson in platform.tables["target"]["lesson"])
        sessions = [
            {
                "lessonId": lesson,
                "startDatetime": f"2030-03-{day:02d}T09:00:00.000+0800",
                "endDatetime": f"2030-03-{day:02d}T17:00:00.000+0800",
                "location": "Perth",
                "instructorId": instructor["id"],
            }
            for day in range(1, MANY + 1)
        ]
        items = _prepared(writer, sessions)
        rows = await _write(client, key, writer, items)
        found = await _look_up(client, key, writer, items[-1])
        assert found == rows[-1].target_id is not None


async def test_attendance_by_user_finds_the_attendee_past_the_tenth() -> None:
    writer = make_writer("ilt_attendance", "create", "sessionId")
    async with serve_platform(VelpicPlatform, scale=5, options=FEW) as (client, platform):
        key = cast(VelpicPlatform, platform).access_key("target")
        users = await _imported(client, key, [_user(n) for n in range(MANY)])
        lesson = min(platform.tables["target"]["lesson"], key=lambda lesson: lesson["lessonId"])
        session = await _call(
            client,
            key,
            "POST",
            "/ilt_session",
            {
                "lessonId": lesson["lessonId"],
                "startDatetime": "2030-03-01T09:00:00.000+0800",
                "endDatetime": "2030-03-01T17:00:00.000+0800",
                "location": "Perth",
                "instructorId": users[0]["id"],
            },
        )
        for u in users:
            await _call(
                client,
                key,
                "POST",
                f"/user/{u['id']}/lesson_schedule",
                {"lessonVersionIds": [lesson["lessonVersionId"]]},
            )
        await _call(
            client,
            key,
            "POST",
            f"/ilt_session/{session['id']}/bulk_register",
            {"userIds": [u["id"] for u in users]},
        )
        last = users[-1]["id"]
        items = _prepared(
            writer, [{"sessionId": session["id"], "userId": last, "passed": True, "attended": True}]
        )
        [row] = await _write(client, key, writer, items)
        assert row.ok, row.reason
        attendee = next(a for a in platform.tables["target"]["ilt_attendee"] if a["userId"] == last)
        assert (attendee["passed"], attendee["attended"]) == (True, True)


async def test_a_lost_completion_is_found_past_the_users_tenth_completed_schedule() -> None:
    writer = make_writer("lesson_completion", "create", "lessonVersionId")
    async with serve_platform(VelpicPlatform, scale=5, options=FEW) as (client, platform):
        key = cast(VelpicPlatform, platform).access_key("target")
        [user] = await _imported(client, key, [_user(1)])
        versions = sorted(lesson["lessonVersionId"] for lesson in platform.tables["target"]["lesson"])[:MANY]
        completions = [
            {
                "userId": user["id"],
                "lessonVersionId": version,
                "completedDate": "2024-01-10T00:00:00.000Z",
                "manuallyCompletedByUserId": user["id"],
            }
            for version in versions
        ]
        items = _prepared(writer, completions)
        rows = await _write(client, key, writer, items)
        found = await _look_up(client, key, writer, items[-1])
        assert found == rows[-1].target_id is not None


# -- a second schedule of a lesson ----------------------------------------------------------------------------
@pytest.mark.parametrize("status", [409, 400, 200])
async def test_a_lesson_scheduled_again_is_unchanged_whatever_the_duplicates_status(status: int) -> None:
    writer = make_writer("lesson_schedule", "create", "userId")
    options = {"velpic.duplicate_schedule_status": status}
    async with serve_platform(VelpicPlatform, scale=5, options=options) as (client, platform):
        key = cast(VelpicPlatform, platform).access_key("target")
        [user] = await _imported(client, key, [_user(1)])
        version = min(lesson["lessonVersionId"] for lesson in platform.tables["target"]["lesson"])
        record = {"userId": user["id"], "lessonVersionIds": [version]}
        # read before the first is written (scheduled meanwhile): sent, and told by the documented body
        meanwhile = await _pre_read(client, key, writer, _prepared(writer, [record]))
        [first] = await _write(client, key, writer, _prepared(writer, [record]))
        [duplicate] = await _calls(client, key, writer, meanwhile)
        assert (first.action, duplicate.action) == ("created", "unchanged")
        # read after it: held, settled at its schedule without a call
        [again] = await _write(client, key, writer, _prepared(writer, [record]))
        assert (again.action, again.target_id) == ("unchanged", first.target_id)
        assert len(list(platform.tables["target"]["lesson_schedule"])) == 1
        [refused] = await _write(client, key, writer, _prepared(writer, [{**record, "lessonVersionIds": [1]}]))
        assert (refused.action, refused.status) == ("rejected", 400)
        assert "no lesson version 1" in refused.reason


# -- error text ------------------------------------------------------------------------------------------------
async def test_a_refusal_gives_the_documents_message_not_its_error_flag() -> None:
    writer = make_writer("group", "update", "id")
    async with serve_platform(VelpicPlatform, scale=5) as (client, platform):
        key = cast(VelpicPlatform, platform).access_key("target")
        items = _prepared(writer, [{"id": 999_999, "name": "Ops", "description": "a team"}])
        [row] = await _write(client, key, writer, items)  # the documented 404 body has "error": true
        assert (row.action, row.status, row.reason) == (
            "rejected",
            404,
            "No group found for that Id (No Group found)",
        )


# -- memberships: who is in a group already ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entity", "listed"), [("group_member", "members"), ("group_supervisor", "supervisors")]
)
async def test_a_user_already_in_the_group_is_not_added_again_nor_named_as_added(
    entity: str, listed: str
) -> None:
    """The add answers nothing of who was in the group: the writer reads the group once per step first, sends
    only the users not in it, settles a record all of whose users are in without a call, and names in a
    record's target id only the users it added (what an undo takes out again)."""
    writer = make_writer(entity, "create", "groupId")
    async with serve_platform(VelpicPlatform, scale=5) as (client, platform):
        key = cast(VelpicPlatform, platform).access_key("target")
        users = await _imported(client, key, [_user(n) for n in (1, 2, 3)])
        one, two, three = sorted(u["id"] for u in users)
        own = {"name": "Customer's own", "description": "kept"}
        group = (await _call(client, key, "POST", "/group", own))["id"]
        adds = "add_members" if entity == "group_member" else "add_supervisors"
        await _call(client, key, "POST", f"/group/{group}/{adds}", {"userIds": [one]})  # the customer's
        records = [
            {"groupId": group, "userIds": one},
            {"groupId": group, "userIds": two},
            {"groupId": group, "userIds": [one, three]},
        ]
        rows = await _write(client, key, writer, _prepared(writer, records))
        assert [(r.action, r.target_id) for r in rows] == [
            ("unchanged", f"{group}:{one}"),
            ("created", f"{group}:{two}"),
            ("created", f"{group}:{three}"),
        ]
        # a later batch of the step: the users it added are in the group as the step knows it (no read)
        [later] = await _write(client, key, writer, _prepared(writer, [{"groupId": group, "userIds": two}]))
        assert (later.action, later.target_id) == ("unchanged", f"{group}:{two}")
        state = cast(VelpicPlatform, platform).state["target"]
        held = state.members if listed == "members" else state.supervisors
        assert set(held[group]) == {one, two, three}
        # another step (a re-run) reads the group again: everything is there, no add is sent
        again = make_writer(entity, "create", "groupId")
        rows = await _write(client, key, again, _prepared(again, records))
        assert {r.action for r in rows} == {"unchanged"}


@pytest.mark.parametrize("entity", ["group_member", "group_supervisor"])
async def test_a_group_longer_than_the_page_the_server_answers_is_read_to_its_end(entity: str) -> None:
    """No largest page is documented: a Velpic that answers at most 2 rows whatever ``maxResults`` asks
    (``velpic.max_page_size``) has the group read page after page from the rows answered, so a user on its
    last page is known to be in it: not added again, not named as added (an undo would take them out)."""
    writer = make_writer(entity, "create", "groupId")
    async with serve_platform(VelpicPlatform, scale=5, options={"velpic.max_page_size": 2}) as (
        client,
        platform,
    ):
        key = cast(VelpicPlatform, platform).access_key("target")
        adds = "add_members" if entity == "group_member" else "add_supervisors"
        users, group = await _users_and_group(client, key, 7, adds, 5)
        sent: list[Request] = []

        async def send(request: Request) -> Response:
            sent.append(request)
            return await _send(client, key, request)

        items = _prepared(
            writer, [{"groupId": group, "userIds": users[4]}, {"groupId": group, "userIds": users[4:]}]
        )
        ready = writer.apply_pre_lookups(items, await pre_read(send, writer, items))
        assert [dict(r.params)["startIndex"] for r in sent] == ["0", "2", "4"]
        assert isinstance(writer, PreReadJudge)
        settled = [writer.settled(cast(WriteItem, it)) for it in ready]
        assert settled[0] is not None and (settled[0].action, settled[0].target_id) == (
            "unchanged",
            f"{group}:{users[4]}",
        )
        assert settled[1] is None
        [added] = await _calls(client, key, writer, [cast(WriteItem, ready[1])])
        assert (added.action, added.target_id) == ("created", f"{group}:{users[5]},{users[6]}")


def test_a_list_the_server_pages_wrongly_leaves_its_group_unknown_and_its_records_sent_whole() -> None:
    """A page of no user not read before (a server that ignores ``startIndex``), a refused page, or an empty
    page before the total: the group is not known, its records are sent whole and none is settled."""
    writer = make_writer("group_member", "create", "groupId")
    assert isinstance(writer, PreReadJudge) and isinstance(writer, PagedPreReadWriter)

    def page(ids: list[int], total: int) -> Response:
        body = {"results": [{"id": i} for i in ids], "meta": {"totalResultCount": total}}
        return Response(200, json.dumps(body).encode())

    for second in (page([1, 2], 3), Response(500, b"{}"), page([], 3)):
        items = _prepared(writer, [{"groupId": 9, "userIds": [1, 4]}])
        [first] = writer.pre_lookups(items)
        assert dict(first[0].params) == {"startIndex": "0", "maxResults": "1000"}
        [following] = writer.next_lookups([(page([1, 2], 3), first[1])])
        assert dict(following[0].params)["startIndex"] == "2"
        assert writer.next_lookups([(second, following[1])]) == []
        [ready] = writer.apply_pre_lookups(items, [])
        assert isinstance(ready, WriteItem) and ready.payload["userIds"] == [1, 4]
        assert writer.settled(ready) is None
        writer = make_writer("group_member", "create", "groupId")
        assert isinstance(writer, PreReadJudge) and isinstance(writer, PagedPreReadWriter)


def test_two_batches_reading_one_group_at_once_each_read_it_to_its_end() -> None:
    """Write workers read at once: two batches of one step may each read the same group, page for page, and
    neither read is taken for the other's (the group is known once either ends, with what both found)."""
    writer = make_writer("group_member", "create", "groupId")
    assert isinstance(writer, PreReadJudge) and isinstance(writer, PagedPreReadWriter)

    def page(ids: list[int]) -> Response:
        return Response(200, json.dumps({"results": [{"id": i} for i in ids], "meta": {"totalResultCount": 4}}))

    first = _prepared(writer, [{"groupId": 9, "userIds": [3]}])
    second = [WriteItem("k9", "s9", {"groupId": 9, "userIds": [4, 5]})]
    [(_, a)] = writer.pre_lookups(first)
    [(_, b)] = writer.pre_lookups(second)
    [(a_next, _)] = writer.next_lookups([(page([1, 2]), a)])
    [(b_next, _)] = writer.next_lookups([(page([1, 2]), b)])
    assert dict(a_next.params)["startIndex"] == dict(b_next.params)["startIndex"] == "2"
    assert writer.next_lookups([(page([3, 4]), a)]) == [] and writer.next_lookups([(page([3, 4]), b)]) == []
    [held] = writer.apply_pre_lookups(first, [])
    [partly] = writer.apply_pre_lookups(second, [])
    assert isinstance(held, WriteItem) and isinstance(partly, WriteItem)
    assert writer.settled(held) is not None and partly.payload["userIds"] == [5]


async def test_a_group_that_cannot_be_read_is_added_to_whole_and_refused_with_its_reason() -> None:
    writer = make_writer("group_member", "create", "groupId")
    async with serve_platform(VelpicPlatform, scale=5) as (client, platform):
        key = cast(VelpicPlatform, platform).access_key("target")
        [user] = await _imported(client, key, [_user(1)])
        [row] = await _write(
            client, key, writer, _prepared(writer, [{"groupId": 999999, "userIds": user["id"]}])
        )
        assert (row.action, row.status) == ("rejected", 404), row
        assert "999999" in (row.reason or "")


def test_an_undo_takes_out_of_the_group_only_the_users_a_record_added() -> None:
    undo = make_undo_writer()
    for entity, call in (("group_member", "remove_members"), ("group_supervisor", "remove_supervisors")):
        first = undo.next_removal(entity, "12:5,7", [])
        assert isinstance(first, Request)
        assert (first.method, first.path, first.json) == ("POST", f"/group/12/{call}", {"userIds": [5, 7]})
        assert undo.next_removal(entity, "12:5,7", [Response(200, b"{}")]) == Removed()
        assert undo.next_removal(entity, "12:5,7", [Response(404, b"{}")]) == Removed(already=True)
        assert undo.next_removal(entity, "12:", []) == Removed(already=True)  # a record that added nobody
        assert "is not a Velpic group" in str(undo.next_removal(entity, "x:5", []))


def test_an_undo_cancels_a_session_quietly_unless_it_is_cancelled_already() -> None:
    undo = make_undo_writer()
    read = undo.next_removal("ilt_session", "31", [])
    assert isinstance(read, Request) and (read.method, read.path) == ("GET", "/ilt_session/31")
    active = Response(200, b'{"id": 31, "statusId": 1}')
    cancel = undo.next_removal("ilt_session", "31", [active])
    assert isinstance(cancel, Request)
    assert (cancel.method, cancel.path) == ("POST", "/ilt_session/31/cancel_session")
    assert cancel.json == {
        "iltSessionCancellationTraineeNotificationEnabled": False,
        "iltSessionCancellationInstructorNotificationEnabled": False,
    }
    assert undo.next_removal("ilt_session", "31", [active, Response(200, b"")]) == Removed()
    cancelled = Response(200, b'{"id": 31, "statusId": 3}')
    assert undo.next_removal("ilt_session", "31", [cancelled]) == Removed(already=True)  # no second cancel
    assert undo.next_removal("ilt_session", "31", [Response(404, b"{}")]) == Removed(already=True)
    refused = undo.next_removal("ilt_session", "31", [active, Response(403, b'{"error": "no"}')])
    assert isinstance(refused, str) and "answered 403" in refused


async def test_a_list_read_in_one_call_that_holds_more_than_the_page_answered_stops_saying_how_much() -> None:
    """A Velpic that answers smaller pages than asked: a list read in one call (a group's supervisors, for a
    user's ``user_supervisors`` record) that says it holds more stops the step with the list's total and the
    rows answered, rather than miss a supervisor."""
    reader = make_reader("user_supervisors", {}, 100, "supervisors")
    async with serve_platform(VelpicPlatform, scale=5, options={"velpic.max_page_size": 4}) as (
        client,
        platform,
    ):
        key = cast(VelpicPlatform, platform).access_key("target")
        users, group = await _users_and_group(client, key, 6, "add_supervisors", 5)
        parent = {"id": users[5], "groups": [{"id": group}]}
        call = reader.children(parent)
        assert call is not None
        answer = await _send(client, key, call)
    with pytest.raises(PermanentError) as refused:
        reader.decode_children(answer, parent)
    assert str(refused.value).startswith(
        f"Velpic: the supervisors of group {group} holds 5 records, more than the one page this call reads "
        "(4 answered to maxResults=1000); "
    )


def test_a_registration_reads_the_sessions_attendees_and_sends_only_who_is_not_registered() -> None:
    writer = make_writer("ilt_registration", "create", "sessionId")
    items = _prepared(writer, [{"sessionId": 7, "userIds": [1]}, {"sessionId": 7, "userIds": [1, 2]}])
    ((read, its),) = writer.pre_lookups(items)
    assert (read.method, read.path, its) == ("GET", "/ilt_session/7/attendees", items)
    attendees = {"results": [{"id": 90, "userId": 1, "sessionId": 7}], "meta": {"totalResultCount": 1}}
    answers = [(Response(200, json.dumps(attendees).encode()), its)]
    assert isinstance(writer, PagedPreReadWriter) and writer.next_lookups(answers) == []  # one page: all of it
    first, second = writer.apply_pre_lookups(items, answers)
    assert isinstance(first, WriteItem) and isinstance(second, WriteItem)
    assert writer.settled(first) == RowResult("k0", ok=True, target_id="7:1", action="unchanged")
    assert writer.settled(second) is None and second.payload["userIds"] == [2]
    assert writer.pre_lookups(items) == []  # read once per step
