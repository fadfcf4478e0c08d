"""The OneFile connector: pure request builders and decoders, no sockets."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from migrator.connectors import onefile
from migrator.connectors.base import EngineSupportError, Response, RowResult, WriteItem
from migrator.connectors.catalog import CATALOG
from migrator.connectors.onefile.roles import missing_mandatory
from migrator.connectors.onefile.spec import ALL
from migrator.connectors.onefile.values import normalise
from migrator.errors import AuthError
from migrator.protocol.pagination import NextPage, NoMore

TOKEN = "of-secret-customer-token"


def item(**payload: Any) -> WriteItem:
    return WriteItem("k1", "s1", payload)


def ok(body: Any, status: int = 200) -> Response:
    return Response(status, body if isinstance(body, bytes) else orjson.dumps(body))


LEARNER = {
    "OrganisationID": "5740",
    "FirstName": "Gemma",
    "LastName": "Hall",
    "Email": "gemma@example.com",
    "Role": 1,
    "DefaultAssessorID": 122762,
    "ClassroomID": "15379",  # crosswalk values arrive as text
    "PlacementID": 18928,
    "MISID": "GHALL391",
}


# -- auth -----------------------------------------------------------------------------------------------------
def test_session_comes_from_authentication_with_the_customer_token_and_lasts_24_hours() -> None:
    auth = onefile.make_auth({"customer_token": TOKEN})
    req = auth.token_request()
    assert req is not None
    assert (req.method, req.path, req.endpoint) == ("POST", "/Authentication", "*")
    assert dict(req.headers) == {"X-CustomerToken": TOKEN}
    token = auth.decode_token(Response(200, b"c2Vzc2lvbi10b2tlbg==\n"), now=1000.0)
    assert (token.value, token.expires_at) == ("c2Vzc2lvbi10b2tlbg==", 1000.0 + 24 * 3600)
    assert auth.decode_token(Response(200, b'"quoted-token"'), now=0.0).value == "quoted-token"
    assert auth.headers(token) == {"X-TokenID": "c2Vzc2lvbi10b2tlbg=="}
    assert TOKEN in auth.secrets()


@pytest.mark.parametrize("response", [Response(401, b'{"Message":"denied"}'), Response(200, b"  ")])
def test_a_refused_or_empty_session_is_an_auth_error_without_the_token(response: Response) -> None:
    with pytest.raises(AuthError) as info:
        onefile.make_auth({"customer_token": TOKEN}).decode_token(response, now=0.0)
    assert TOKEN not in str(info.value)
    assert "customer_token" in str(info.value)


# -- reads ----------------------------------------------------------------------------------------------------
def test_users_are_read_through_the_paged_search_with_the_filter_as_body() -> None:
    reader = onefile.make_reader("user", {"OrganisationID": 5740, "Role": 1}, 100, "learners")
    pager = reader.paginator()
    first = pager.start()
    req = reader.page_request(first)
    assert (req.method, req.path, req.endpoint, req.json) == (
        "POST",
        "/User/Search/1/100",
        "*",
        {"OrganisationID": 5740, "Role": 1},
    )
    full = reader.decode_page(ok([{"ID": i} for i in range(100)]))
    outcome = pager.receive(first, full)
    assert isinstance(outcome, NextPage)
    assert reader.page_request(outcome.request).path == "/User/Search/2/100"
    assert reader.decode_page(Response(204, b"")).records == []
    assert isinstance(pager.receive(outcome.request, reader.decode_page(Response(204, b""))), NoMore)


@pytest.mark.parametrize(
    ("cap", "sizes"), [(None, [100, 100, 100]), (30, [100, 30, 30, 30, 30, 30]), (250, [100] * 3)]
)
def test_users_are_read_up_to_an_empty_page_in_the_page_size_the_server_serves(
    cap: int | None, sizes: list[int]
) -> None:
    """A server that serves fewer rows than asked (a cap OneFile does not document) is followed; a short page
    is not the end: only an empty one is."""
    users = [{"ID": i} for i in range(130)]
    reader = onefile.make_reader("user", {"OrganisationID": 5740}, 100, "learners")
    pager = reader.paginator()
    page: Any = pager.start()
    got, asked = [], []
    while page is not None:
        number, size = (int(x) for x in reader.page_request(page).path.split("/")[-2:])
        asked.append(size)
        served = min(size, cap or size)
        rows = users[(number - 1) * served : number * served]
        decoded = reader.decode_page(ok(rows) if rows else Response(204, b""))
        got += [r["ID"] for r in decoded.records]
        outcome = pager.receive(page, decoded)
        page = outcome.request if isinstance(outcome, NextPage) else None
    assert got == list(range(130)) and asked == sizes and pager.finished


def test_unpaged_searches_and_the_customer() -> None:
    for entity, path in [("classroom", "/Classroom/Search"), ("placement", "/Placement/Search")]:
        reader = onefile.make_reader(entity, {"OrganisationID": 5740}, 100, "s")
        req = reader.page_request(reader.paginator().start())
        assert (req.method, req.path, req.endpoint, req.json) == ("POST", path, "*", {"OrganisationID": 5740})
        assert reader.decode_page(ok([{"ID": 1, "Name": "BAD1"}])).records == [{"ID": 1, "Name": "BAD1"}]
    org = onefile.make_reader("organisation", {"CustomerID": 2070}, 100, "s")
    assert org.page_request(org.paginator().start()).json == {"CustomerID": 2070}
    customer = onefile.make_reader("customer", {}, 100, "s")
    req = customer.page_request(customer.paginator().start())
    assert (req.method, req.path) == ("GET", "/Customer")
    assert customer.decode_page(ok({"ID": 2070, "Name": "X"})).records == [{"ID": 2070, "Name": "X"}]


# -- mandatory fields per role --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("user", "missing", "reason"),
    [
        (LEARNER, set(), ""),
        (
            {k: v for k, v in LEARNER.items() if k not in ("ClassroomID", "PlacementID")},
            {"ClassroomID", "PlacementID"},
            "a OneFile Learner (Role 1) needs DefaultAssessorID, ClassroomID, PlacementID; "
            "missing: ClassroomID, PlacementID",
        ),
        (
            {**{k: LEARNER[k] for k in ("OrganisationID", "FirstName", "LastName", "Email")}, "Role": 40},
            {"PlacementID"},
            "a OneFile Employer (Role 40) needs PlacementID; missing: PlacementID",
        ),
        (
            {**{k: LEARNER[k] for k in ("OrganisationID", "FirstName", "LastName", "Email")}, "Role": 5},
            set(),
            "",
        ),
        ({"Role": 5, "FirstName": "A"}, {"OrganisationID", "LastName", "Email"}, "missing: OrganisationID"),
        ({"FirstName": "A"}, {"Role"}, "Role is required"),
        ({"Role": 2}, {"Role"}, "unknown OneFile role 2"),
    ],
)
def test_mandatory_fields_per_role(user: dict[str, Any], missing: set[str], reason: str) -> None:
    problems = missing_mandatory(normalise(user)[0])
    assert set(problems) == missing
    assert all(reason in m for msgs in problems.values() for m in msgs)


def test_a_learner_without_its_classroom_is_rejected_before_any_request_with_that_reason() -> None:
    writer = onefile.make_writer("user", "create", "MISID")
    result = writer.prepare(item(**{k: v for k, v in LEARNER.items() if k != "ClassroomID"}))
    assert isinstance(result, RowResult)
    assert (result.ok, result.action, result.status) == (False, "rejected", None)
    assert result.reason == (
        "a OneFile Learner (Role 1) needs DefaultAssessorID, ClassroomID, PlacementID; missing: ClassroomID"
    )
    assert set(result.fields) == {"ClassroomID"}


def test_create_sends_whole_numbers_and_reads_the_bare_id_back() -> None:
    writer = onefile.make_writer("user", "create", "MISID")
    prepared = writer.prepare(item(**LEARNER, MobileNumber="", ULN=None))
    assert isinstance(prepared, WriteItem)
    assert prepared.payload["ClassroomID"] == 15379 and prepared.payload["OrganisationID"] == 5740
    assert "MobileNumber" not in prepared.payload and "ULN" not in prepared.payload
    assert prepared.match_value == "GHALL391"
    [(req, sent)] = writer.requests([prepared])
    assert (req.method, req.path, req.endpoint) == ("POST", "/User", "*")
    assert req.json == prepared.payload and sent == [prepared]
    [row] = writer.decode(Response(200, b"137945"), [prepared])
    assert (row.ok, row.target_id, row.action) == (True, "137945", "created")
    assert not writer.idempotent


@pytest.mark.parametrize(
    ("payload", "field"),
    [({**LEARNER, "ClassroomID": "BAD1"}, "ClassroomID"), ({**LEARNER, "Email": "not-an-email"}, "Email")],
)
def test_values_onefile_would_refuse_are_rejected_locally(payload: dict[str, Any], field: str) -> None:
    result = onefile.make_writer("user", "create", None).prepare(item(**payload))
    assert isinstance(result, RowResult) and field in result.fields


def test_a_400_is_a_rejection_with_onefiles_message() -> None:
    writer = onefile.make_writer("user", "create", "MISID")
    prepared = writer.prepare(item(**LEARNER))
    assert isinstance(prepared, WriteItem)
    [row] = writer.decode(ok({"message": "The DefaultAssessorID field is invalid."}, 400), [prepared])
    assert (row.ok, row.action, row.status) == (False, "rejected", 400)
    assert "The DefaultAssessorID field is invalid." in row.reason
    with pytest.raises(ValueError, match="ID was expected"):
        writer.decode(Response(200, b"<html>"), [prepared])


def test_update_posts_to_the_user_and_needs_its_id() -> None:
    writer = onefile.make_writer("user", "update", "ID")
    assert writer.idempotent
    rejected = writer.prepare(item(FirstName="A"))
    assert isinstance(rejected, RowResult) and "ID" in rejected.fields
    prepared = writer.prepare(item(ID="137945", MISID="NEW1"))
    assert isinstance(prepared, WriteItem)
    [(req, _)] = writer.requests([prepared])
    assert (req.path, req.endpoint, req.json) == ("/User/137945", "*", {"MISID": "NEW1"})
    assert writer.decode(ok({"ID": 137945}), [prepared])[0].action == "updated"
    assert writer.decode(ok({"Message": "not found"}, 404), [prepared])[0].status == 404


def test_in_doubt_lookup_by_misid_and_by_email() -> None:
    by_misid = onefile.make_writer("user", "create", "MISID")
    prepared = by_misid.prepare(item(**LEARNER))
    assert isinstance(prepared, WriteItem)
    req = by_misid.lookup_request(prepared)
    assert req is not None
    assert (req.path, req.endpoint, req.json) == (
        "/User/Search",
        "*",
        {"OrganisationID": 5740, "MISID": "GHALL391", "Role": 1},
    )
    assert by_misid.decode_lookup(ok([{"ID": 7, "MISID": "ghall391"}]), prepared) == "7"
    assert by_misid.decode_lookup(ok([{"ID": 7, "MISID": "X"}, {"ID": 8, "MISID": "Y"}]), prepared) is None
    assert by_misid.decode_lookup(Response(204, b""), prepared) is None

    by_email = onefile.make_writer("user", "create", "Email")
    prepared = by_email.prepare(item(**LEARNER))
    assert isinstance(prepared, WriteItem)
    req = by_email.lookup_request(prepared)
    assert req is not None and req.path == "/User/Search/1/100"
    assert req.json == {"OrganisationID": 5740, "Role": 1, "FirstName": "Gemma", "LastName": "Hall"}
    rows = [{"ID": 1, "Email": "other@example.com"}, {"ID": 2, "Email": "GEMMA@example.com"}]
    assert by_email.decode_lookup(ok(rows), prepared) == "2"


def test_classrooms_are_found_by_name_since_the_api_cannot_create_them() -> None:
    finder = onefile.make_writer("classroom", "update", "Name")
    assert finder.idempotent
    prepared = finder.prepare(item(OrganisationID="10005740", Name="Business Admin L2"))
    assert isinstance(prepared, WriteItem)
    [(req, _)] = finder.requests([prepared])
    assert (req.method, req.path, req.endpoint, req.json) == (
        "POST",
        "/Classroom/Search",
        "*",
        {"OrganisationID": 10005740},
    )
    rows = [{"ID": 15379, "Name": " business admin l2"}, {"ID": 15381, "Name": "Business Admin L3"}]
    [row] = finder.decode(ok(rows), [prepared])
    assert (row.ok, row.target_id, row.action) == (True, "15379", "unchanged")
    [missing] = finder.decode(Response(204, b""), [prepared])
    assert not missing.ok and "cannot create classrooms" in missing.reason
    [twice] = finder.decode(ok(rows[:1] * 2), [prepared])
    assert not twice.ok and "2 OneFile classrooms" in twice.reason
    assert isinstance(finder.prepare(item(Name="X")), RowResult)  # no OrganisationID


def test_placements_are_created_with_their_bare_id_and_looked_up_by_name() -> None:
    writer = onefile.make_writer("placement", "create", "Name")
    assert isinstance(writer.prepare(item(Name="BT")), RowResult)
    prepared = writer.prepare(item(OrganisationID=5740, Name="BT - Manchester", MISID="BT1"))
    assert isinstance(prepared, WriteItem)
    [(req, _)] = writer.requests([prepared])
    assert (req.path, req.endpoint) == ("/Placement", "*")
    assert writer.decode(Response(200, b"18930"), [prepared])[0].target_id == "18930"
    lookup = writer.lookup_request(prepared)
    assert lookup is not None and lookup.json == {"OrganisationID": 5740}
    assert writer.decode_lookup(ok([{"ID": 5, "Name": "BT - Manchester"}]), prepared) == "5"


def test_every_request_draws_from_the_api_wide_budget_key_of_the_catalog() -> None:
    spec = CATALOG["onefile"]
    assert spec.budget_scope == "api"
    keys = {e.read.endpoint.budget_key for e in spec.entities.values() if e.read} | {
        w.endpoint.budget_key for e in spec.entities.values() for w in e.writes.values()
    }
    assert keys == {ALL}
    auth_req = onefile.make_auth({"customer_token": TOKEN}).token_request()
    assert auth_req is not None and auth_req.endpoint == ALL


def test_unsupported_entities_and_modes_say_so() -> None:
    with pytest.raises(EngineSupportError, match="cannot read 'visit'"):
        onefile.make_reader("visit", {}, 10, "s")
    with pytest.raises(EngineSupportError, match="cannot write 'classroom' in mode 'create'"):
        onefile.make_writer("classroom", "create", None)
