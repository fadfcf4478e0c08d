"""accessplanit connectors: v2 compound-key upserts (bookings), and v1 feeds (token, pages, links, writes)."""

from __future__ import annotations

import json
from typing import Any

from migrator.connectors.accessplanit import v1 as accessplanit_v1
from migrator.connectors.accessplanit import v2 as accessplanit
from migrator.connectors.base import LookupWriter, Response, RowResult, WriteItem
from migrator.protocol.pagination import NextPage, NoMore


def _resp(status: int, body: Any) -> Response:
    return Response(status, json.dumps(body).encode())


def test_v2_booking_upsert_on_a_compound_key() -> None:
    writer = accessplanit.make_writer("usercoursedate", "upsert", "UserID,CourseDateID")
    item = writer.prepare(
        WriteItem("k", "s", {"UserID": "O'Neil1", "CourseDateID": "1001", "Status": "Booked"})
    )
    assert isinstance(item, WriteItem)
    ((request, _),) = writer.requests([item])
    assert request.params == (("$upsert", "UserID eq 'O''Neil1' and CourseDateID eq '1001'"),)
    assert request.endpoint == "/usercoursedate"
    create = accessplanit.make_writer("usercoursedate", "create", "UserID,CourseDateID")
    assert isinstance(create, LookupWriter)  # an upsert is sent again; a create in doubt is looked up first
    lookup = create.lookup_request(item)
    assert lookup is not None and lookup.params[0] == (
        "$filter",
        "UserID eq 'O''Neil1' and CourseDateID eq '1001'",
    )
    missing = writer.prepare(WriteItem("k", "s", {"UserID": "a1"}))
    assert isinstance(missing, RowResult) and set(missing.fields) == {"CourseDateID"}


def test_v2_single_key_upsert_unchanged() -> None:
    writer = accessplanit.make_writer("user", "upsert", "Email")
    item = writer.prepare(WriteItem("k", "s", {"Email": "a@x", "Phone": None}))
    assert isinstance(item, WriteItem) and item.payload == {"Email": "a@x"}
    ((request, sent),) = writer.requests([item])
    assert request.params == (("$upsert", "Email eq 'a@x'"),)
    assert writer.decode(_resp(201, {"ID": "abcd1"}), sent)[0].target_id == "abcd1"


def test_v1_token_from_the_v1_base_and_bearer_header() -> None:
    auth = accessplanit_v1.make_auth({"username": "apisource", "password": "pw"})
    request = auth.token_request()
    assert request is not None and (request.method, request.path) == ("POST", "/token")
    token = auth.decode_token(_resp(200, {"access_token": "t0k", "expires_in": 3600}), now=100.0)
    assert (token.value, token.expires_at) == ("t0k", 3700.0)
    assert auth.headers(token) == {"Authorization": "Bearer t0k"}
    assert "pw" in auth.secrets()


def test_v1_reader_pages_from_one_with_bare_arrays() -> None:
    reader = accessplanit_v1.make_reader("user", {}, 2, "users")
    assert reader.key_field == "UserID"
    pager = reader.paginator()
    first = pager.start()
    request = reader.page_request(first)
    assert (request.path, request.endpoint, request.params) == (
        "/users",
        "/users",
        (("PageSize", "2"), ("PageIndex", "1")),
    )
    page = reader.decode_page(_resp(200, [{"UserID": "a"}, {"UserID": "b"}]))
    outcome = pager.receive(first, page)
    assert isinstance(outcome, NextPage) and dict(outcome.request.params)["PageIndex"] == "2"
    short = reader.decode_page(_resp(200, [{"UserID": "c"}]))
    assert isinstance(pager.receive(outcome.request, short), NoMore)


def test_v1_company_groups_follow_the_companygroups_link() -> None:
    reader = accessplanit_v1.make_reader("companygroup", {}, 500, "groups")
    company = {
        "CompanyID": "North1",
        "Links": [
            {"Rel": "Self", "Href": "/api/v1/companies/North1", "Action": "GET"},
            {"Rel": "CompanyGroups", "Href": "/api/v1/companies/North1/companygroups", "Action": "GET"},
        ],
    }
    assert isinstance(reader, accessplanit_v1.V1CompanyGroupReader)
    request = reader.children(company)
    assert request is not None and request.path == "/companies/North1/companygroups"
    groups = reader.decode_children(
        _resp(200, [{"CompanyGroupID": "G1", "Name": "Group", "Links": []}]), company
    )
    assert groups[0]["Key"] == "North1/G1" and groups[0]["CompanyID"] == "North1"
    assert reader.children({"CompanyID": "X", "Links": []}) is None
    assert accessplanit_v1.link_path("http://host/x/accessplan/api/v1/users/a1") == "/users/a1"


def test_v1_writer_create_and_partial_update() -> None:
    create = accessplanit_v1.make_writer("company", "create", "Name")
    item = create.prepare(WriteItem("k", "s", {"Name": "Acme", "Links": [{"Rel": "Self"}], "Town": None}))
    assert isinstance(item, WriteItem) and item.payload == {"Name": "Acme"}
    ((request, sent),) = create.requests([item])
    assert (request.method, request.path, request.endpoint) == ("POST", "/companies", "/companies")
    result = create.decode(_resp(201, {"CompanyID": "Acme1", "Name": "Acme"}), sent)[0]
    assert (result.action, result.target_id) == ("created", "Acme1")
    assert create.lookup_request(item) is None  # v1 has no filter to find a create in doubt

    update = accessplanit_v1.make_writer("user", "update", "UserID")
    assert update.idempotent
    upd = update.prepare(WriteItem("k", "s", {"UserID": "ab1", "JobTitle": "Chef"}))
    assert isinstance(upd, WriteItem)
    ((put, sent),) = update.requests([upd])
    assert (put.method, put.path, put.endpoint, put.json) == (
        "PUT",
        "/users/ab1",
        "/users",
        {"JobTitle": "Chef"},
    )
    bad = update.decode(
        _resp(400, {"Message": "The request is invalid.", "ModelState": {"user.DateOfBirth": ["An error"]}}),
        sent,
    )[0]
    assert not bad.ok and bad.fields == {"user.DateOfBirth": ["An error"]}
    no_id = update.prepare(WriteItem("k", "s", {"JobTitle": "Chef"}))
    assert isinstance(no_id, RowResult) and "UserID" in no_id.fields
