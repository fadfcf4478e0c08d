"""The aNewSpring connector: pure request builders and decoders, no sockets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from migrator.connectors import anewspring
from migrator.connectors.anewspring.calls import form_pairs
from migrator.connectors.anewspring.results import ANewSpringResults
from migrator.connectors.anewspring.subscriptions import ANewSpringSubscriptions
from migrator.connectors.anewspring.users import ANewSpringUserDetails
from migrator.connectors.base import EngineSupportError, Request, Response, RowResult, WriteItem
from migrator.connectors.catalog import CATALOG
from migrator.plan.load import load_plan


def item(key: str = "k1", **payload: Any) -> WriteItem:
    return WriteItem(key, "s-" + key, payload)


def ok(body: Any, status: int = 200) -> Response:
    return Response(status, body if isinstance(body, bytes) else orjson.dumps(body))


def prepared(writer: Any, wi: WriteItem) -> WriteItem:
    out = writer.prepare(wi)
    assert isinstance(out, WriteItem), out
    return out


def budget_keys() -> set[str]:
    spec = CATALOG["anewspring"]
    return {e.read.endpoint.budget_key for e in spec.entities.values() if e.read} | {
        w.endpoint.budget_key for e in spec.entities.values() for w in e.writes.values()
    }


def test_the_api_key_is_a_static_header() -> None:
    auth = anewspring.make_auth({"api_key": "ans-secret"})
    assert auth.token_request() is None
    assert auth.headers(None) == {"X-API-Key": "ans-secret"}
    assert auth.secrets() == ["ans-secret"]


def test_form_pairs_repeat_list_keys_and_spell_booleans() -> None:
    pairs = form_pairs(
        {"userID": "E1", "role": ["student", "teacher"], "notify": False, "x": None}, ("userID",)
    )
    assert pairs == (("role", "student"), ("role", "teacher"), ("notify", "false"))


# -- reads ----------------------------------------------------------------------------------------------------
def test_get_users_alone_serves_maps_that_read_only_its_fields() -> None:
    reader = anewspring.make_reader("user", {}, 100, "users", ("email", "login", "uid"))
    assert not hasattr(reader, "children")
    req = reader.page_request(reader.paginator().start())
    assert (req.method, req.path, req.endpoint) == ("GET", "/getUsers", "/getUsers")
    page = reader.decode_page(ok({"users": [{"uid": "u1", "id": "E1"}, {"uid": "u2", "id": None}]}))
    assert [r["uid"] for r in page.records] == ["u1", "u2"] and reader.key_field == "uid"


def test_other_fields_call_get_user_per_user_by_external_id() -> None:
    reader = anewspring.make_reader("user", {}, 100, "users", ("firstName", "email"))
    assert isinstance(reader, ANewSpringUserDetails)
    by_id = reader.children({"uid": "u1", "id": "E 1/2"})
    assert by_id is not None
    assert (by_id.path, by_id.endpoint) == ("/getUser/E%201%2F2", "/getUser/{userID}")
    assert reader.children({"uid": "u2", "id": None}) is None  # never by the generated UID
    merged = reader.decode_children(ok({"firstName": "Ann", "roles": ["student"]}), {"uid": "u1", "id": "E1"})
    assert merged == [{"uid": "u1", "id": "E1", "firstName": "Ann", "roles": ["student"]}]


@pytest.mark.parametrize(
    ("entity", "fields"), [("user", ("firstName",)), ("company", ()), ("subscription", ())]
)
def test_a_read_per_user_stops_at_users_without_an_external_id_saying_what_to_do(
    entity: str, fields: tuple[str, ...]
) -> None:
    reader = anewspring.make_reader(entity, {}, 100, "s", fields)
    users = [{"uid": "u1", "id": "E1"}, {"uid": "u2", "id": None, "login": "ann.ui"}, {"uid": "u3", "id": ""}]
    with pytest.raises(ValueError, match=r"2 aNewSpring users have no external ID \('ann.ui', 'u3'\)") as info:
        reader.decode_page(ok({"users": users}))
    assert "initializeId" in str(info.value) and len(str(info.value)) < 200  # the fetch quotes 200 characters
    assert reader.decode_page(ok({"users": users[:1]})).records == users[:1]


def test_companies_are_the_distinct_company_values_of_the_users() -> None:
    reader = anewspring.make_reader("company", {}, 100, "companies")
    assert reader.key_field == "name"
    got = [
        reader.decode_children(ok({"company": company}), {"uid": f"u{i}"})
        for i, company in enumerate(["Acme", "Beta", "Acme", "", None])
    ]
    assert got == [[{"name": "Acme"}], [{"name": "Beta"}], [], [], []]


def test_subscriptions_are_read_per_user_with_a_stable_key() -> None:
    reader = anewspring.make_reader("subscription", {}, 100, "subs")
    assert isinstance(reader, ANewSpringSubscriptions)
    req = reader.children({"uid": "u1", "id": "E1"})
    assert req is not None and (req.path, req.endpoint) == (
        "/getSubscriptions/E1",
        "/getSubscriptions/{userID}",
    )
    rows = reader.decode_children(
        ok({"courses": [{"id": "C001", "uid": "c1", "progress": 40}]}), {"uid": "u1", "id": "E1"}
    )
    assert rows == [
        {
            "id": "C001",
            "uid": "c1",
            "progress": 40,
            "key": "u1|C001",
            "userID": "E1",
            "userUID": "u1",
            "courseID": "C001",
        }
    ]
    assert reader.key_field == "key"


# -- users ----------------------------------------------------------------------------------------------------
def test_upsert_is_addorupdateuser_on_the_external_id_with_a_form_body() -> None:
    writer = anewspring.make_writer("user", "upsert", "userID")
    assert writer.idempotent
    wi = prepared(writer, item(userID=" E1 ", firstName="Ann", role=["student", "teacher"], email=None))
    [(req, sent)] = writer.requests([wi])
    assert (req.method, req.path, req.endpoint) == ("POST", "/addOrUpdateUser/E1", "/addOrUpdateUser/{userID}")
    assert req.form == (("firstName", "Ann"), ("role", "student"), ("role", "teacher")) and req.json is None
    [row] = writer.decode(Response(200, b""), sent)
    assert (row.ok, row.target_id) == (True, "E1")


def test_a_user_without_external_id_is_rejected_locally() -> None:
    result = anewspring.make_writer("user", "upsert", "userID").prepare(item(firstName="Ann"))
    assert isinstance(result, RowResult) and "userID" in result.fields and not result.ok


def test_add_user_is_create_only_and_its_409_is_a_rejection_with_the_plain_text_reason() -> None:
    writer = anewspring.make_writer("user", "create", "userID")
    assert not writer.idempotent
    wi = prepared(writer, item(userID="E1", login="ann"))
    [(req, _)] = writer.requests([wi])
    assert (req.path, req.endpoint) == ("/addUser/E1", "/addUser/{userID}")
    [row] = writer.decode(Response(409, b"409 A user with ID 'E1' already exists."), [wi])
    assert (row.ok, row.action, row.status) == (False, "rejected", 409)
    assert "A user with ID 'E1' already exists." in row.reason and "upsert" in row.reason
    assert not row.reason.startswith("409")
    lookup = writer.lookup_request(wi)
    assert lookup is not None and (lookup.path, lookup.endpoint) == ("/userExists/E1", "/userExists/{userID}")
    assert writer.decode_lookup(ok({"result": True}), wi) == "E1"
    assert writer.decode_lookup(ok({"result": False}), wi) is None


# -- groups ---------------------------------------------------------------------------------------------------
def test_add_group_needs_type_and_name_and_409_means_it_exists() -> None:
    writer = anewspring.make_writer("group", "create", "groupID")
    assert isinstance(writer.prepare(item(groupID="G1", name="North")), RowResult)  # no type
    assert isinstance(writer.prepare(item(groupID="G1", type="student")), RowResult)  # no name
    own_parent = writer.prepare(item(groupID="G1", type="student", name="N", parent="G1"))
    assert isinstance(own_parent, RowResult) and "parent" in own_parent.fields
    wi = prepared(writer, item(groupID="G1", type="student", name="North"))
    [(req, _)] = writer.requests([wi])
    assert (req.path, req.endpoint, req.form) == (
        "/addGroup/G1",
        "/addGroup/{groupID}",
        (("type", "student"), ("name", "North")),
    )
    assert writer.decode(Response(200, b""), [wi])[0].action == "created"
    exists = writer.decode(Response(409, b"409 Group 'G1' already exists."), [wi])[0]
    assert (exists.ok, exists.target_id, exists.action) == (True, "G1", "unchanged")
    parent = writer.decode(Response(404, b"404 Unknown parent group 'X'."), [wi])[0]
    assert not parent.ok and "Unknown parent group" in parent.reason


def test_members_are_sent_per_group_with_repeated_users_and_ignore_duplicates() -> None:
    writer = anewspring.make_writer("group_member", "create", "groupID")
    assert writer.idempotent
    items = [
        prepared(writer, item("a", groupID="G1", user="E1")),
        prepared(writer, item("b", groupID="G2", user="E2")),
        prepared(writer, item("c", groupID="G1", user="E3")),
    ]
    calls = writer.requests(items)
    assert [(r.path, r.endpoint, r.form, [i.idem_key for i in sent]) for r, sent in calls] == [
        (
            "/addGroupUsers/G1",
            "/addGroupUsers/{groupID}",
            (("user", "E1"), ("user", "E3"), ("ignoreDuplicates", "true")),
            ["a", "c"],
        ),
        (
            "/addGroupUsers/G2",
            "/addGroupUsers/{groupID}",
            (("user", "E2"), ("ignoreDuplicates", "true")),
            ["b"],
        ),
    ]
    assert [r.target_id for r in writer.decode(Response(200, b""), calls[0][1])] == ["G1/E1", "G1/E3"]
    # all-or-nothing: a failure for several users leaves them pending (the write halves the call);
    # alone, it is a rejection
    assert {r.action for r in writer.decode(Response(409, b"409 wrong role"), calls[0][1])} == {"pending"}
    [alone] = writer.decode(Response(404, b"404 Unknown user 'E2'."), calls[1][1])
    assert (alone.ok, alone.status) == (False, 404) and "Unknown user 'E2'" in alone.reason
    assert isinstance(writer.prepare(item(groupID="G1")), RowResult)  # no user


# -- subscriptions --------------------------------------------------------------------------------------------
def test_subscribe_treats_409_as_done_and_checks_is_subscribed_when_in_doubt() -> None:
    writer = anewspring.make_writer("subscription", "create", "courseID")
    assert not writer.idempotent
    wi = prepared(writer, item(userID="E1", courseID="C 1", startDate="2024-01-22"))
    [(req, _)] = writer.requests([wi])
    assert (req.path, req.endpoint, req.form) == (
        "/subscribe/E1/C%201",
        "/subscribe/{userID}/{courseID}",
        (("startDate", "2024-01-22"),),
    )
    assert writer.decode(Response(200, b""), [wi])[0].action == "created"
    again = writer.decode(Response(409, b"409 Already subscribed."), [wi])[0]
    assert (again.ok, again.action, again.target_id) == (True, "unchanged", "E1/C 1")
    assert not writer.decode(Response(404, b"404 Unknown course."), [wi])[0].ok
    lookup = writer.lookup_request(wi)
    assert lookup is not None and lookup.path == "/isSubscribed/E1/C%201"
    assert writer.decode_lookup(ok({"result": True}), wi) == "E1/C 1"
    assert isinstance(writer.prepare(item(userID="E1")), RowResult)  # no course


def test_every_request_endpoint_is_a_budget_key_of_the_catalog() -> None:
    keys = budget_keys()
    requests: list[Request] = []
    users = anewspring.make_reader("user", {}, 1, "s", ("firstName",))
    requests.append(users.page_request(users.paginator().start()))
    requests.append(users.children({"id": "E1"}))  # type: ignore[arg-type]
    for nested in ("subscription", "result"):
        per_user = anewspring.make_reader(nested, {}, 1, "s")
        requests.append(per_user.children({"id": "E1"}))  # type: ignore[arg-type]
    for entity, mode, payload in [
        ("user", "upsert", {"userID": "E1"}),
        ("user", "create", {"userID": "E1"}),
        ("user", "update", {"userID": "E1"}),
        ("group", "create", {"groupID": "G", "type": "student", "name": "N"}),
        ("group", "update", {"groupID": "G"}),
        ("group_member", "create", {"groupID": "G", "user": "E1"}),
        ("subscription", "create", {"userID": "E1", "courseID": "C"}),
    ]:
        writer = anewspring.make_writer(entity, mode, None)
        requests.extend(r for r, _ in writer.requests([prepared(writer, item(**payload))]))
    assert {r.endpoint for r in requests} <= keys


def test_unsupported_entities_and_modes_say_so() -> None:
    with pytest.raises(EngineSupportError, match="cannot read 'group'"):
        anewspring.make_reader("group", {}, 1, "s")
    with pytest.raises(EngineSupportError, match="cannot write 'subscription' in mode 'upsert'"):
        anewspring.make_writer("subscription", "upsert", None)


# -- results and the learning history -------------------------------------------------------------------------
def test_results_are_read_per_user_for_every_result_with_the_subscriptions_key() -> None:
    reader = anewspring.make_reader("result", {}, 100, "results")
    assert isinstance(reader, ANewSpringResults)
    req = reader.children({"uid": "u1", "id": "E 1"})
    # asStudent=false always: the default is not documented, and true hides what the learner may not see
    assert req is not None and (req.path, req.endpoint, req.params) == (
        "/getResults/E%201",
        "/getResults/{userID}",
        (("asStudent", "false"),),
    )
    assert reader.children({"uid": "u2", "id": None}) is None
    done = {"id": "C001", "uid": "c1", "finished": True, "lastTrainingCompletedDate": "2024-03-01", "score": 80}
    rows = reader.decode_children(
        ok({"courses": [done, {"uid": "c2", "finished": False}]}), {"uid": "u1", "id": "E1"}
    )
    assert rows == [
        {**done, "key": "u1|C001", "userID": "E1", "userUID": "u1", "courseID": "C001"},
        {"uid": "c2", "finished": False, "key": "u1|c2", "userID": "E1", "userUID": "u1", "courseID": None},
    ]
    assert reader.key_field == "key"
    assert reader.decode_children(Response(200, b""), {"uid": "u1", "id": "E1"}) == []


def test_subscribe_sends_the_start_and_expiry_dates() -> None:
    writer = anewspring.make_writer("subscription", "create", "courseID")
    wi = prepared(writer, item(userID="E1", courseID="C1", startDate="2024-01-22", expiryDate="2024-02-05"))
    [(req, _)] = writer.requests([wi])
    assert req.form == (("startDate", "2024-01-22"), ("expiryDate", "2024-02-05"))
    assert {"startDate", "expiryDate"} <= CATALOG["anewspring"].entities["subscription"].fields


def _plan_map(plan: str, step: str) -> Any:
    loaded = load_plan(str(Path(__file__).resolve().parents[2] / "plans" / plan))
    return loaded.maps[step]


@pytest.mark.parametrize(("active", "status"), [(True, 56), (False, 57), ("true", 56), ("False", 57)])
def test_a_leaver_is_found_by_uid_and_its_active_in_either_form(active: Any, status: int) -> None:
    """getUsers lists ``{id, uid, …, active}``; the users step's source key is the uid. A boolean ``active`` is
    the text "True"/"False" to a table, so the plan reads it lower-cased; the crosswalk is asked for the uid."""
    asked: list[tuple[str, Any]] = []

    def resolve(step: str, key: Any) -> int:
        asked.append((step, key))
        return 500

    compiled = _plan_map("anewspring-to-velpic.toml", "user_status")
    got = compiled({"id": "E1", "uid": "u1", "login": "ann", "active": active}, resolve)
    assert got.pop("imported") == "|||E1|ann||||"  # never sent: what the users step imports of the user
    assert got == {"id": 500, "clientStatusId": status}
    assert asked == [("users", "u1")]


def test_subscriptions_and_results_are_mapped_to_the_learners_target_id() -> None:
    asked: list[tuple[str, Any]] = []

    def resolve(step: str, key: Any) -> int:
        asked.append((step, key))
        return 500

    sub = {"courseID": "C002", "userID": "E1", "userUID": "u1", "startDateTime": "2024-01-22T09:30:00Z"}
    schedule = _plan_map("anewspring-to-velpic.toml", "schedules")(sub, resolve)
    assert schedule == {"userId": 500, "lessonVersionIds": [5202], "scheduleDate": "2024-01-22T09:30:00.000Z"}
    completions = _plan_map("anewspring-to-velpic.toml", "completions")
    # a date and time, in UTC or with an offset, or a bare date: the same completion
    for when in ("2024-03-01T00:00:00Z", "2024-03-01T01:00:00+01:00", "2024-03-01"):
        result = {"courseID": "C002", "userUID": "u1", "finished": True, "lastTrainingCompletedDate": when}
        assert completions(result, resolve) == {
            "userId": 500,
            "lessonVersionId": 5202,
            "completedDate": "2024-03-01T00:00:00.000Z",
            "manuallyCompletedByUserId": 500,
        }
    assert {key for _, key in asked} == {"u1"}
