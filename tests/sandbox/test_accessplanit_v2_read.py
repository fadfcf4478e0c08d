"""accessplanit API v2 reads over real HTTP: help, $top/$skip/$count/$select/$orderby/$filter, GET by id.

The URLs are the document's examples (``coursedate?$filter=CourseID eq 'FirAid'``, …).
"""

from __future__ import annotations

from typing import Any

import pytest

from migrator.sandbox.accessplanit import AccessPlanItPlatform
from migrator.sandbox.accessplanit_schema import MODULES

ROOT = "/accessplanit/accessplan"
V2 = f"{ROOT}/api/v2"
HELP = f"{ROOT}/apihelp/v2"


def key(platform: Any, tenant: str = "source") -> dict[str, str]:
    return {"Authorization": f"Bearer {platform.credentials[tenant].api_key}"}


async def get(client: Any, platform: Any, url: str, status: int = 200) -> Any:
    resp = await client.get(url, headers=key(platform))
    assert resp.status == status, await resp.text()
    return await resp.json()


async def everything(client: Any, platform: Any, module: str) -> list[dict[str, Any]]:
    names = ",".join(f["Name"] for f in (await get(client, platform, f"{HELP}/modules/{module}"))["Fields"])
    return list((await get(client, platform, f"{V2}/{module}?$top=-1&$select={names}"))["results"])


async def test_modules_list_and_field_help(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10) as (client, platform):
        modules = await get(client, platform, f"{HELP}/modules")
        assert {"User", "Company", "Course", "CourseDate", "UserCourseDate"} <= set(modules)
        help_ = await get(client, platform, f"{HELP}/modules/coursedate")
        assert help_["Module"] == "coursedate"
        fields = {f["Name"]: f for f in help_["Fields"]}
        assert {
            "ID",
            "CourseID",
            "StartDate",
            "EndDate",
            "Location",
            "Places",
            "Label",
            "Status",
            "SpacesLeft",
        } <= set(fields)
        assert fields["StartDate"] == {
            "Name": "StartDate",
            "DataType": "DateTime",
            "Sortable": True,
            "Filterable": True,
        }
        assert fields["Places"]["DataType"] == "Int32"
        user = {f["Name"]: f for f in (await get(client, platform, f"{HELP}/modules/USER"))["Fields"]}
        assert list(user)[:4] == ["ID", "Forenames", "MiddleNames", "Surname"]
        for name in ("Fullname", "Email", "Mobile", "Phone", "DOB", "JobTitle", "ExternalID", "MainCompanyID"):
            assert name in user
        for name in ("MainRoleID", "Status", "DateCreated", "DateUpdated", "UniqueID"):
            assert name in user
        assert user["Fullname"]["Filterable"] is False
        assert user["MiddleNames"]["Sortable"] is False
        resp = await client.get(f"{HELP}/modules/nosuch", headers=key(platform))
        assert resp.status == 404
        assert "nosuch" in (await resp.json())["Message"]


@pytest.mark.parametrize("module", sorted(MODULES))
async def test_every_helped_field_is_returned(platform_server: Any, module: str) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10) as (client, platform):
        help_names = [f["Name"] for f in (await get(client, platform, f"{HELP}/modules/{module}"))["Fields"]]
        rows = await everything(client, platform, module)
        assert rows, module
        assert list(rows[0]) == help_names
        one = await get(client, platform, f"{V2}/{module}/{rows[0]['ID']}")
        assert list(one) == help_names  # GET by id: every field
        assert one == rows[0]
        assert isinstance(one["ID"], str)


async def test_default_page_is_50_records_with_the_default_fields(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=120) as (client, platform):
        body = await get(client, platform, f"{V2}/user")
        assert list(body) == ["results"]
        assert len(body["results"]) == 50
        assert list(body["results"][0]) == [
            "ID",
            "Forenames",
            "Surname",
            "Email",
            "ExternalID",
            "MainCompanyID",
            "Status",
        ]


async def test_top_and_skip_as_a_page_number(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=120) as (client, platform):
        all_ids = [r["ID"] for r in (await get(client, platform, f"{V2}/user?$top=-1&$select=ID"))["results"]]
        assert len(all_ids) == 120
        page = await get(client, platform, f"{V2}/user?$top=20&$skip=1&$select=ID")
        assert [r["ID"] for r in page["results"]] == all_ids[20:40]
        page = await get(client, platform, f"{V2}/user?$skip=2&$select=ID")  # default $top 50
        assert [r["ID"] for r in page["results"]] == all_ids[100:120]
        assert (await get(client, platform, f"{V2}/user?$skip=3"))["results"] == []
        assert (await get(client, platform, f"{V2}/user?$top=0"))["results"] == []
        assert (await get(client, platform, f"{V2}/user?$top=-1&$skip=1"))["results"] == []
        for bad in ("$top=abc", "$top=-2", "$skip=-1", "$skip=x", "$count=maybe", "$expand=Company"):
            body = await get(client, platform, f"{V2}/user?{bad}", status=400)
            assert body["Message"].startswith("The query specified in the URI is not valid.")


async def test_default_top_switch(platform_server: Any) -> None:
    options = {"accessplanit.default_top": 7}
    async with platform_server(AccessPlanItPlatform, scale=20, options=options) as (client, platform):
        assert len((await get(client, platform, f"{V2}/user"))["results"]) == 7


async def test_count_adds_page_index_page_size_and_total(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=120) as (client, platform):
        body = await get(client, platform, f"{V2}/coursedate?$count=true")
        total = len(await everything(client, platform, "coursedate"))
        assert list(body) == ["results", "pageIndex", "pageSize", "totalCount"]
        assert (body["pageIndex"], body["pageSize"], body["totalCount"]) == (0, 50, total)
        body = await get(client, platform, f"{V2}/user?$count=true&$top=25&$skip=2&$filter=Status eq 'Active'")
        users = await everything(client, platform, "user")
        active = [u for u in users if u["Status"] == "Active"]
        assert (body["pageIndex"], body["pageSize"], body["totalCount"]) == (2, 25, len(active))
        assert [r["ID"] for r in body["results"]] == [u["ID"] for u in active[50:75]]
        body = await get(client, platform, f"{V2}/user?$count=true&$top=-1")
        assert (body["pageSize"], body["totalCount"], len(body["results"])) == (120, 120, 120)
        body = await get(client, platform, f"{V2}/user?$count=false")
        assert list(body) == ["results"]


async def test_select_returns_fields_in_the_requested_order(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=20) as (client, platform):
        body = await get(client, platform, f"{V2}/coursedate?$select=label,startdate,status,spacesleft")
        assert all(list(r) == ["Label", "StartDate", "Status", "SpacesLeft"] for r in body["results"])
        body = await get(client, platform, f"{V2}/user?$select=Surname,ID&$top=1")
        assert list(body["results"][0]) == ["Surname", "ID"]
        body = await get(client, platform, f"{V2}/user?$select=Surname,Shoe", status=400)
        assert "Shoe" in body["Message"]


async def test_orderby_the_documents_examples(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=50) as (client, platform):
        rows = await everything(client, platform, "coursedate")
        body = await get(client, platform, f"{V2}/coursedate?$orderby=startdate desc&$top=-1")
        dates = [r["StartDate"] for r in body["results"]]
        assert dates == sorted(dates, reverse=True)
        body = await get(
            client, platform, f"{V2}/coursedate?$orderby=startdate desc,label asc&$top=-1&$select=ID"
        )
        expected = sorted(rows, key=lambda r: r["Label"].casefold())
        expected.sort(key=lambda r: r["StartDate"], reverse=True)
        assert [r["ID"] for r in body["results"]] == [r["ID"] for r in expected]
        body = await get(client, platform, f"{V2}/user?$orderby=Surname,Forenames desc&$top=-1&$select=Surname")
        surnames = [r["Surname"].casefold() for r in body["results"]]
        assert surnames == sorted(surnames)
        body = await get(client, platform, f"{V2}/user?$orderby=MiddleNames", status=400)
        assert "not sortable" in body["Message"]


FILTERS = [
    ("CourseID eq 'FirAid'", lambda r: r["CourseID"] == "FirAid"),
    ("CourseID ne 'FirAid'", lambda r: r["CourseID"] != "FirAid"),
    ("StartDate lt '2025-01-01T10:00:00'", lambda r: r["StartDate"] < "2025-01-01T10:00:00"),
    ("StartDate le '2025-01-01T10:00:00'", lambda r: r["StartDate"] <= "2025-01-01T10:00:00"),
    ("StartDate gt '2025-01-01T10:00:00'", lambda r: r["StartDate"] > "2025-01-01T10:00:00"),
    ("StartDate ge '2025-01-01T10:00:00'", lambda r: r["StartDate"] >= "2025-01-01T10:00:00"),
    ("contains(CourseID,'FirAid')", lambda r: "firaid" in r["CourseID"].casefold()),
    ("startswith(CourseID,'Fir')", lambda r: r["CourseID"].startswith("Fir")),
    ("endswith(CourseID,'aid')", lambda r: r["CourseID"].casefold().endswith("aid")),
    (
        "StartDate gt '2024-06-01T10:00:00' and status eq 'Completed'",
        lambda r: r["StartDate"] > "2024-06-01T10:00:00" and r["Status"] == "Completed",
    ),
    (
        "StartDate gt '2025-01-01T10:00:00' or status eq 'Available'",
        lambda r: r["StartDate"] > "2025-01-01T10:00:00" or r["Status"] == "Available",
    ),
    ("courseid eq 'firaid'", lambda r: r["CourseID"] == "FirAid"),
    ("Places ge '20' and SpacesLeft lt '20'", lambda r: r["Places"] >= 20 and r["SpacesLeft"] < 20),
]


@pytest.mark.parametrize(("text", "predicate"), FILTERS, ids=[f[0] for f in FILTERS])
async def test_filter_the_documents_examples(platform_server: Any, text: str, predicate: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=100) as (client, platform):
        rows = await everything(client, platform, "coursedate")
        body = await get(client, platform, f"{V2}/coursedate?$top=-1&$select=ID&$filter={text}")
        expected = [r["ID"] for r in rows if predicate(r)]
        assert expected, "the seeded data must exercise the filter"
        assert [r["ID"] for r in body["results"]] == expected


async def test_filter_on_indexed_and_plain_fields_is_case_insensitive(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=30) as (client, platform):
        users = await everything(client, platform, "user")
        target = next(u for u in users if "'" in u["Surname"])
        quoted = target["Surname"].upper().replace("'", "''")  # a quote inside a value is doubled
        for text in (
            f"Email eq '{target['Email'].upper()}'",
            f"externalid EQ '{target['ExternalID'].lower()}'",
            f"Surname eq '{quoted}' and ID eq '{target['ID']}'",
        ):
            body = await get(client, platform, f"{V2}/user?$filter={text}")
            assert [r["ID"] for r in body["results"]] == [target["ID"]], text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("(CourseID eq 'FirAid')", "parentheses"),
        ("CourseID eq 'FirAid' and (Status eq 'Full' or Status eq 'Available')", "parentheses"),
        ("Colour eq 'red'", "unknown field 'Colour'"),
        ("CourseID like 'Fir'", "unknown operator"),
        ("StartDate gt 'soon'", "is a date"),
    ],
)
async def test_filter_refused_with_400(platform_server: Any, text: str, fragment: str) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        body = await get(client, platform, f"{V2}/coursedate?$filter={text}", status=400)
        assert fragment in body["Message"]


async def test_filter_on_a_non_filterable_field_is_refused(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        body = await get(client, platform, f"{V2}/user?$filter=Fullname eq 'x'", status=400)
        assert "not filterable" in body["Message"]


async def test_get_by_id_and_not_found(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10) as (client, platform):
        first = (await get(client, platform, f"{V2}/company?$top=1"))["results"][0]
        one = await get(client, platform, f"{V2}/Company/{first['ID']}")  # module names are case-insensitive
        assert one["ID"] == first["ID"] and one["Name"] == first["Name"]
        assert "Country" in one
        picked = await get(client, platform, f"{V2}/company/{first['ID']}?$select=Name,ID")
        assert picked == {"Name": first["Name"], "ID": first["ID"]}
        body = await get(client, platform, f"{V2}/company/NoSuchCompany", status=404)
        assert list(body) == ["Message"] and "NoSuchCompany" in body["Message"]
        body = await get(client, platform, f"{V2}/widget", status=404)
        assert "widget" in body["Message"]
        await get(client, platform, f"{V2}/widget/1", status=404)


async def test_the_vendor_sandbox_root_serves_the_same_api(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10) as (client, platform):
        a = await get(client, platform, f"{V2}/user?$select=ID")
        b = await get(client, platform, "/accessplanit/accessplansandbox/api/v2/user?$select=ID")
        assert a == b
        await get(client, platform, "/accessplanit/accessplansandbox/apihelp/v2/modules")
