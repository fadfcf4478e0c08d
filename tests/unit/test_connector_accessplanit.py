"""accessplanit connectors: v2 compound-key upserts (bookings), and v1 feeds (token, pages, links, writes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from migrator.connectors.accessplanit import v1 as accessplanit_v1
from migrator.connectors.accessplanit import v2 as accessplanit
from migrator.connectors.accessplanit.odata import filter_variants
from migrator.connectors.base import LookupWriter, Response, RowResult, SettingError, WriteItem
from migrator.errors import AuthError, TransientError
from migrator.protocol.pagination import NextPage, NoMore, PaginationLoopError, RemainingPages


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


def test_the_token_is_asked_for_by_get_then_by_a_posted_form_when_get_is_not_read() -> None:
    auth = accessplanit_v1.make_auth({"username": "apisource", "password": "pw"})
    request = auth.token_request()
    login = (("grant_type", "password"), ("username", "apisource"), ("password", "pw"))
    assert request is not None and (request.method, request.path, request.params) == ("GET", "/token", login)
    with pytest.raises(TransientError, match="asking again with a POSTed form"):
        auth.decode_token(_resp(400, {"error": "unsupported_grant_type"}), now=100.0)
    request = auth.token_request()
    assert request is not None and (request.method, request.form, request.params) == ("POST", login, ())
    token = auth.decode_token(_resp(200, {"access_token": "t0k", "expires_in": 3600}), now=100.0)
    assert (token.value, token.expires_at) == ("t0k", 3700.0)
    assert auth.headers(token) == {"Authorization": "Bearer t0k"}
    assert "pw" in auth.secrets()
    with pytest.raises(AuthError, match="incorrect"):  # the form is kept, and a refusal is final
        auth.decode_token(_resp(400, {"error": "invalid_grant", "error_description": "incorrect"}), now=1.0)
    first = accessplanit_v1.make_auth({"username": "apisource", "password": "pw"})
    with pytest.raises(AuthError):  # GET read the login and refused it: no second verb
        first.decode_token(_resp(400, {"error": "invalid_grant"}), now=1.0)
    assert not first.by_form


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


def _company(cid: str) -> dict[str, Any]:
    links = [
        {"Rel": "Self", "Href": f"/api/v1/companies/{cid}", "Action": "GET"},
        {"Rel": "CompanyGroups", "Href": f"/api/v1/companies/{cid}/companygroups", "Action": "GET"},
    ]
    return {"CompanyID": cid, "Links": links}


def test_v1_company_groups_page_the_companies_then_every_page_of_each_companys_link() -> None:
    reader = accessplanit_v1.make_reader("companygroup", {}, 2, "groups")
    assert isinstance(reader, accessplanit_v1.V1CompanyGroupReader)
    groups = {"A1": ["G1", "G2", "G3"], "B1": ["G2"], "C1": []}
    companies = [_company("A1"), _company("B1"), {"CompanyID": "X1", "Links": []}, _company("C1")]
    pager = reader.paginator()
    page: Any = pager.start()
    asked, keys = [], []
    while page is not None:
        request = reader.page_request(page)
        asked.append((request.path, request.endpoint, dict(request.params)["PageIndex"]))
        size, number = int(dict(request.params)["PageSize"]), int(dict(request.params)["PageIndex"])
        if request.path == "/companies":
            rows: list[Any] = companies[(number - 1) * size : number * size]
        else:
            cid = request.path.split("/")[2]
            rows = [{"CompanyGroupID": g, "Name": g} for g in groups[cid][(number - 1) * size : number * size]]
        decoded = reader.decode_page(_resp(200, rows))
        keys += [r["Key"] for r in decoded.records]
        outcome = pager.receive(page, decoded)
        page = outcome.request if isinstance(outcome, NextPage) else None
    assert pager.finished
    assert keys == ["A1/G1", "A1/G2", "A1/G3", "B1/G2"]
    link = "/companies/{id}/companygroups"
    assert asked == [
        ("/companies", "/companies", "1"),
        ("/companies/A1/companygroups", link, "1"),
        ("/companies/A1/companygroups", link, "2"),
        ("/companies/B1/companygroups", link, "1"),
        ("/companies", "/companies", "2"),
        ("/companies/C1/companygroups", link, "1"),
        ("/companies", "/companies", "3"),  # page 2 was full
    ]
    assert accessplanit_v1.link_path("http://host/x/accessplan/api/v1/users/a1") == "/users/a1"


def test_v1_company_groups_stop_when_the_companies_feed_ignores_pageindex() -> None:
    reader = accessplanit_v1.make_reader("companygroup", {}, 2, "groups")
    pager = reader.paginator()
    page: Any = pager.start()
    with pytest.raises(PaginationLoopError, match="same records"):
        for _ in range(10):  # every companies page is the first one; their links list nothing
            answer = [_company("A1"), _company("B1")] if reader.page_request(page).path == "/companies" else []
            outcome = pager.receive(page, reader.decode_page(_resp(200, answer)))
            assert isinstance(outcome, NextPage)
            page = outcome.request


def test_v1_feeds_take_no_filter() -> None:
    for entity in ("user", "company", "companygroup"):
        with pytest.raises(SettingError, match="document no filter") as info:
            accessplanit_v1.make_reader(entity, {"Status": "Active"}, 500, "s")
        assert info.value.key == "read.filter"


def test_v1_writer_create_and_partial_update() -> None:
    create = accessplanit_v1.make_writer("company", "create", "Name")
    item = create.prepare(WriteItem("k", "s", {"Name": "Acme", "Links": [{"Rel": "Self"}], "Town": None}))
    assert isinstance(item, WriteItem) and item.payload == {"Name": "Acme"}
    ((request, sent),) = create.requests([item])
    assert (request.method, request.path, request.endpoint) == ("POST", "/companies", "/companies")
    result = create.decode(_resp(201, {"CompanyID": "Acme1", "Name": "Acme"}), sent)[0]
    assert (result.action, result.target_id) == ("created", "Acme1")
    lookup = create.lookup_request(item)  # no filter in v1: the whole feed, compared exactly
    assert lookup is not None and (lookup.path, lookup.params) == (
        "/companies",
        (("PageSize", str(accessplanit_v1.LOOKUP_PAGE_SIZE)), ("PageIndex", "1")),
    )
    near = [{"CompanyID": "Acme2", "Name": "acme"}, {"CompanyID": "Acme1", "Name": "Acme"}]
    assert create.decode_lookup(_resp(200, near), item) == "Acme1"
    assert create.decode_lookup(_resp(200, near[:1]), item) is None
    assert create.decode_lookup(_resp(200, near + near[1:]), item) is None  # two: cannot tell which

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


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ()),
        ({"Status": "Active", "Town": "Leeds"}, ("Status eq 'Active' and Town eq 'Leeds'",)),
        ({"Status": ["A", "B"]}, ("Status eq 'A' or Status eq 'B'",)),  # an or chain alone
        (
            {"Status": ["A", "B", "A"], "Town": "Leeds"},
            ("Town eq 'Leeds' and Status eq 'A'", "Town eq 'Leeds' and Status eq 'B'"),
        ),
        (
            {"Status": ["A", " a"], "Kind": ["x", "y"]},
            (
                "Status eq 'A' and Kind eq 'x'",
                "Status eq 'A' and Kind eq 'y'",
                "Status eq ' a' and Status ne 'A' and Kind eq 'x'",  # kept apart from A: eq may ignore case
                "Status eq ' a' and Status ne 'A' and Kind eq 'y'",
            ),
        ),
        ({"$filter": "A eq '1' or B eq '2'"}, ("A eq '1' or B eq '2'",)),  # the plan's own, alone
        (
            {"$filter": "Name eq 'Black or White'", "Town": "Leeds"},
            ("Name eq 'Black or White' and Town eq 'Leeds'",),
        ),
    ],
)
def test_v2_filters_never_mix_and_with_or(filters: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert filter_variants(filters) == expected


@pytest.mark.parametrize(
    ("filters", "key"),
    [
        ({"$filter": "A eq '1' or B eq '2'", "Town": "Leeds"}, "read.filter.$filter"),
        ({"Status": []}, "read.filter.Status"),
    ],
)
def test_v2_filters_that_cannot_mean_what_the_plan_says_are_refused(filters: dict[str, Any], key: str) -> None:
    with pytest.raises(SettingError) as info:
        accessplanit.make_reader("user", filters, 50, "users")
    assert info.value.key == key


def test_v2_a_split_read_reads_its_parts_one_after_the_other_with_their_filters() -> None:
    reader = accessplanit.make_reader("user", {"Status": ["A", "B"], "Town": "Leeds"}, 2, "users", ("Town",))
    totals = {"Town eq 'Leeds' and Status eq 'A'": 3, "Town eq 'Leeds' and Status eq 'B'": 5}
    pager = reader.paginator()
    queue = [pager.start()]
    asked = []
    while queue:
        page = queue.pop(0)
        params = dict(reader.page_request(page).params)
        assert params["$orderby"] == "ID" and params["$select"] == "ID,Town"
        asked.append((page.page_key.split("|")[1], params["$filter"]))
        total = totals[params["$filter"]]
        start = int(params["$skip"]) * 2
        rows = [{"ID": f"{params['$filter'][-2]}{i}"} for i in range(start, min(start + 2, total))]
        outcome = pager.receive(page, reader.decode_page(_resp(200, {"results": rows, "totalCount": total})))
        if isinstance(outcome, NextPage):
            queue.append(outcome.request)
        elif isinstance(outcome, RemainingPages):
            assert all("Status eq 'B'" in dict(r.params)["$filter"] for r in outcome.requests)  # the last part
            queue.extend(outcome.requests)
    assert pager.finished
    a, b = "Town eq 'Leeds' and Status eq 'A'", "Town eq 'Leeds' and Status eq 'B'"
    assert asked == [
        ("$top=2&$skip=0", a),
        ("$top=2&$skip=1", a),
        ("$top=2&$skip=0", b),
        ("$top=2&$skip=1", b),
        ("$top=2&$skip=2", b),
    ]


def test_v2_a_delta_read_narrows_every_part_and_leaves_an_or_filter_whole() -> None:
    reader = accessplanit.make_reader("user", {"Status": ["A", "B"]}, 50, "users")
    assert reader.changed_since(0.0)
    assert reader.variants == (
        "DateUpdated ge '1970-01-01T00:00:00' and Status eq 'A'",
        "DateUpdated ge '1970-01-01T00:00:00' and Status eq 'B'",
    )
    own = accessplanit.make_reader("user", {"$filter": "A eq '1' or B eq '2'"}, 50, "users")
    assert not own.changed_since(0.0) and own.variants == ("A eq '1' or B eq '2'",)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b'{"ID": "abcd1"}', "abcd1"),
        (b'{"id": "abcd1"}', "abcd1"),
        (b'"abcd1"', "abcd1"),
        (b"2024", "2024"),
        (b"{}", None),
        (b"", None),
    ],
)
def test_v2_a_write_answers_the_id_in_any_shape(answer: bytes, expected: str | None) -> None:
    writer = accessplanit.make_writer("user", "create", "Email")
    item = writer.prepare(WriteItem("k", "s", {"Email": "a@x"}))
    assert isinstance(item, WriteItem)
    (row,) = writer.decode(Response(201, answer), [item])
    assert row.ok and row.target_id == expected


@pytest.mark.parametrize("status", [200, 201, 204])
def test_any_success_of_a_write_is_one(status: int) -> None:
    """The documents name 200 and 201; a 204 (an ASP.NET ``Ok()`` without a body) is not a rejection."""
    v2_update = accessplanit.make_writer("user", "update", "ID")
    v1_update = accessplanit_v1.make_writer("user", "update", "UserID")
    for writer, payload in ((v2_update, {"ID": "ab1", "JobTitle": "Chef"}), (v1_update, {"UserID": "ab1"})):
        item = writer.prepare(WriteItem("k", "s", payload))
        assert isinstance(item, WriteItem)
        (row,) = writer.decode(Response(status, b""), [item])
        assert row.ok and row.target_id == "ab1"
    create = accessplanit_v1.make_writer("company", "create", "Name")
    new = create.prepare(WriteItem("k", "s", {"Name": "Acme"}))
    assert isinstance(new, WriteItem)
    (row,) = create.decode(Response(status, b""), [new])
    assert row.ok and row.target_id is None and row.action == "created"  # not the text "None"


def test_a_success_whose_answer_is_not_json_says_nothing_of_the_write() -> None:
    """A proxy's HTML page under a 200 is no ID and no proof of a write: the engine's unreadable answer."""
    html = Response(200, b"<html><body>Service unavailable</body></html>")
    for writer, payload in (
        (accessplanit.make_writer("user", "upsert", "Email"), {"Email": "a@x"}),
        (accessplanit_v1.make_writer("user", "update", "UserID"), {"UserID": "ab1"}),
    ):
        item = writer.prepare(WriteItem("k", "s", payload))
        assert isinstance(item, WriteItem)
        with pytest.raises(ValueError):
            writer.decode(html, [item])


def test_v2_a_match_field_must_hold_one_value() -> None:
    writer = accessplanit.make_writer("usercoursedate", "upsert", "UserID,CourseDateID")
    refused = writer.prepare(WriteItem("k", "s", {"UserID": ["a1", "b2"], "CourseDateID": "1001"}))
    assert isinstance(refused, RowResult) and set(refused.fields) == {"UserID"}
