"""The accessplanit connectors (v2 and v1) against the sandbox over real HTTP, whichever way the platform
behaves where its documents leave it open: each test runs with the sandbox switch that plays the other way.

- ``filter_precedence``: the document has no parentheses and does not say whether ``and`` binds tighter than
  ``or``; a list of values beside another field is read in parts that mean the same either way.
- ``token_verbs``: the document asks for the token with a GET, the vendor's demo POSTs a form.
- ``default_order``: the order of an unsorted answer is not documented; pages are read sorted by ID.
- ``create_answer``: a POST "will return the ID of the new record", in a shape the document does not show.
- ``count_names``: the names of the ``$count`` values are in screenshots only.
- ``module_fields``: most fields declared of a course, course date and booking are assumed; an ``$upsert``
  goes whole with those the module's help lists, and a module lacking one refuses it in a ``$select``.
- v1: a company's ``CompanyGroups`` link lists as many groups as ``PageSize`` allows, and a v1 create whose
  answer was lost is found in the feed, not created again.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from migrator.connectors.accessplanit import v1, v2
from migrator.connectors.accessplanit.auth import AccessPlanItAuth
from migrator.connectors.base import LookupWriter, WriteItem
from migrator.connectors.registry import make_reader
from migrator.errors import AuthError
from migrator.sandbox.accessplanit import AccessPlanItPlatform
from tests.sandbox.loopback import connection, read_all

V2 = "/accessplanit/accessplan/api/v2"
V1 = "/accessplanit/accessplan/api/v1"


def login(tenant: str) -> Any:
    return lambda p: {"username": p.credentials[tenant].username, "password": p.credentials[tenant].password}


def api_key(tenant: str) -> Any:
    return lambda p: {"api_key": p.credentials[tenant].api_key}


def users(platform: Any) -> list[dict[str, Any]]:
    return list(platform.tables["source"]["user"])


@pytest.mark.parametrize("precedence", ["and", "left"])
async def test_a_list_beside_another_field_selects_what_the_plan_says(precedence: str) -> None:
    options = {"accessplanit.filter_precedence": precedence}
    async with connection(AccessPlanItPlatform, "accessplanit", V2, login("source"), options=options) as (
        transport,
        platform,
    ):
        company = users(platform)[0]["MainCompanyID"]
        wanted = {"Inactive", "Active"}
        filters: dict[str, Any] = {"Status": ["Inactive", "Active", "active"], "MainCompanyID": company}
        reader = v2.make_reader("user", filters, 3, "users", ("Status", "MainCompanyID"))
        got = [r["ID"] for r in await read_all(transport, reader)]
        expected = {u["ID"] for u in users(platform) if u["MainCompanyID"] == company and u["Status"] in wanted}
        assert len(got) == len(set(got)) and set(got) == expected  # 'active' is 'Active' here: read once
        assert {u["MainCompanyID"] for u in users(platform)} - {company}, "other companies must exist"

        alone = v2.make_reader("user", {"Status": ["Inactive"]}, 50, "users", ("Status",))
        inactive = {r["ID"] for r in await read_all(transport, alone)}
        assert inactive == {u["ID"] for u in users(platform) if u["Status"] == "Inactive"} != set()


@pytest.mark.parametrize(("verbs", "by_form"), [("both", False), ("get", False), ("post", True)])
@pytest.mark.parametrize(("connector", "base"), [("accessplanit", V2), ("accessplanit_v1", V1)])
async def test_the_token_is_asked_for_by_get_and_by_a_posted_form_when_get_is_not_read(
    verbs: str, by_form: bool, connector: str, base: str
) -> None:
    options = {"accessplanit.token_verbs": verbs}
    async with connection(AccessPlanItPlatform, connector, base, login("source"), options=options) as (
        transport,
        _,
    ):
        reader = make_reader(connector, "user", {}, 5, "users")
        assert (await transport.send(reader.page_request(reader.paginator().start()))).status == 200
        assert isinstance(transport.auth, AccessPlanItAuth) and transport.auth.by_form is by_form
        assert transport.stats.token_refreshes == 1


async def test_concurrent_first_calls_all_get_the_token_when_get_is_not_read() -> None:
    """Token requests built as GETs before the switch to the form are answered after it: still no refusal."""
    options = {"accessplanit.token_verbs": "post"}
    async with connection(AccessPlanItPlatform, "accessplanit", V2, login("source"), options=options) as (
        transport,
        _,
    ):
        reader = v2.make_reader("user", {}, 5, "users")
        statuses: list[int] = []

        async def one() -> None:
            statuses.append((await transport.send(reader.page_request(reader.paginator().start()))).status)

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(one)
        assert statuses == [200] * 4 and transport.stats.token_refreshes == 1


async def test_a_wrong_password_is_refused_once_whatever_the_verb() -> None:
    options = {"accessplanit.token_verbs": "post"}

    def wrong(p: Any) -> dict[str, str]:
        return {"username": p.credentials["source"].username, "password": "not-it"}

    async with connection(AccessPlanItPlatform, "accessplanit", V2, wrong, options=options) as (transport, _):
        reader = v2.make_reader("user", {}, 5, "users")
        with pytest.raises(AuthError, match="user name or password is incorrect") as info:
            await transport.send(reader.page_request(reader.paginator().start()))
        assert "not-it" not in str(info.value)
        assert transport.stats.requests["/token"] == 2  # the GET, then the form once


async def test_pages_are_read_in_a_stable_order_when_answers_are_unsorted() -> None:
    options = {"accessplanit.default_order": "shuffled"}
    async with connection(AccessPlanItPlatform, "accessplanit", V2, login("source"), options=options) as (
        transport,
        platform,
    ):
        got = [r["ID"] for r in await read_all(transport, v2.make_reader("user", {}, 7, "users", ("ID",)))]
        assert len(got) == len(set(got)) and set(got) == {u["ID"] for u in users(platform)}


@pytest.mark.parametrize("shape", ["object", "bare"])
async def test_a_write_answers_the_new_id_in_either_shape(shape: str) -> None:
    options = {"accessplanit.create_answer": shape}
    async with connection(AccessPlanItPlatform, "accessplanit", V2, login("target"), options=options) as (
        transport,
        platform,
    ):
        for mode, email in (
            ("create", "ann@example.com"),
            ("upsert", "bob@example.com"),
            ("upsert", "ann@example.com"),
        ):
            writer = v2.make_writer("user", mode, "Email")
            item = writer.prepare(
                WriteItem(f"k-{mode}-{email}", "s", {"Forenames": "A", "Surname": "B", "Email": email})
            )
            assert isinstance(item, WriteItem)
            ((request, sent),) = writer.requests([item])
            (row,) = writer.decode(await transport.send(request), sent)
            held = {u["Email"]: u["ID"] for u in platform.tables["target"]["user"]}
            assert row.ok and row.target_id == held[email]


@pytest.mark.parametrize("fields", ["full", "lean"])
async def test_an_upsert_goes_whole_with_the_fields_its_module_lists(fields: str) -> None:
    lacking = {
        "course": {"Category", "DurationHours"},
        "coursedate": {"Places"},
        "usercoursedate": {"Passed", "Score"},
    }
    options = {"accessplanit.module_fields": fields}
    async with connection(AccessPlanItPlatform, "accessplanit", V2, login("target"), options=options) as (
        transport,
        _,
    ):
        for module in ("user", "company", "course", "coursedate", "usercoursedate"):
            writer = v2.AccessPlanItUpsert(module, "ID")
            declared = set(writer.record_fields)
            request = writer.fields_request()
            assert request is not None
            writer.keep_listed(writer.listed_fields(await transport.send(request)))
            gone = lacking.get(module, set()) if fields == "lean" else set()
            assert set(writer.record_fields) == declared - gone, module
            # what the module lacks it refuses to read; what it lists it reads
            reader = v2.make_reader(module, {}, 5, "target", writer.record_fields)
            answer = await transport.send(reader.page_request(reader.paginator().start()))
            assert answer.status == 200, answer.text()
            for field in gone:
                refused = v2.make_reader(module, {}, 5, "target", (field,))
                assert (await transport.send(refused.page_request(refused.paginator().start()))).status == 400


async def test_the_total_is_read_whatever_the_case_of_its_name() -> None:
    options = {"accessplanit.count_names": "pascal"}
    async with connection(AccessPlanItPlatform, "accessplanit", V2, login("source"), options=options) as (
        transport,
        platform,
    ):
        reader = v2.make_reader("user", {}, 10, "users")
        answer = await transport.send(reader.page_request(reader.paginator().start()))
        assert reader.decode_page(answer).total == len(users(platform))


async def test_a_lost_v2_create_is_found_exactly_not_its_near_miss() -> None:
    async with connection(AccessPlanItPlatform, "accessplanit", V2, login("target")) as (transport, platform):
        writer = v2.make_writer("user", "create", "Email")
        assert isinstance(writer, LookupWriter)
        created = []
        for n, email in enumerate(("ANN.LEE@EXAMPLE.COM", "ann.lee@example.com")):  # a near miss, then ours
            item = writer.prepare(
                WriteItem(f"k{n}", "s", {"Forenames": "Ann", "Surname": "Lee", "Email": email})
            )
            assert isinstance(item, WriteItem)
            ((request, sent),) = writer.requests([item])
            created.append(writer.decode(await transport.send(request), sent)[0].target_id)
        lookup = writer.lookup_request(item)  # the answer of our create was lost
        assert lookup is not None
        assert writer.decode_lookup(await transport.send(lookup), item) == created[1] != created[0]
        assert len(platform.tables["target"]["user"]) == 2


async def test_a_lost_v1_create_is_found_in_the_feed_not_created_again() -> None:
    async with connection(AccessPlanItPlatform, "accessplanit_v1", V1, api_key("target")) as (
        transport,
        platform,
    ):
        writer = v1.make_writer("company", "create", "Name")
        assert isinstance(writer, LookupWriter)
        ids = []
        for n, name in enumerate(("ACME Ltd", "Acme Ltd")):  # a near miss, then ours
            item = writer.prepare(WriteItem(f"k{n}", "s", {"Name": name, "Town": "Leeds"}))
            assert isinstance(item, WriteItem)
            ((request, sent),) = writer.requests([item])
            ids.append(writer.decode(await transport.send(request), sent)[0].target_id)
        lookup = writer.lookup_request(item)
        assert lookup is not None and lookup.endpoint == "/companies"
        assert writer.decode_lookup(await transport.send(lookup), item) == ids[1] != ids[0]
        never = WriteItem("k9", "s", {"Name": "Acme Limited"})
        again = writer.lookup_request(never)
        assert again is not None and writer.decode_lookup(await transport.send(again), never) is None
        assert len(platform.tables["target"]["company"]) == 2


async def test_every_page_of_a_company_groups_link_is_read() -> None:
    options = {"accessplanit.v1_default_page_size": 2}  # a link read without PageSize lists two groups
    async with connection(AccessPlanItPlatform, "accessplanit_v1", V1, api_key("source"), options=options) as (
        transport,
        platform,
    ):
        data = platform.data["source"]
        company = next(iter(data.tables["company"]))["ID"]
        data.load(
            "companygroup",
            [{"ID": f"GrpX{n}", "Name": f"Extra {n}", "CompanyIDs": [company]} for n in range(5)],
        )
        expected = {
            f"{cid}/{g['ID']}"
            for g in data.tables["companygroup"]
            for cid in g["CompanyIDs"]
            if data.get("company", cid)
        }
        got = [r["Key"] for r in await read_all(transport, v1.make_reader("companygroup", {}, 2, "groups"))]
        assert len(got) == len(set(got)) and set(got) == expected
        assert sum(k.startswith(f"{company}/") for k in got) >= 5
        assert transport.stats.requests["/companies/{id}/companygroups"] > len(data.tables["company"])
