"""accessplanit API v1 ("API Feeds") over real HTTP: paging from 1, 500 by default, Links, no DELETE, XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from migrator.sandbox.accessplanit import AccessPlanItPlatform

ROOT = "/accessplanit/accessplan"
V1 = f"{ROOT}/api/v1"
V1_DOC = f"{ROOT}//api/v1"  # the document's example URL has a double slash
V2 = f"{ROOT}/api/v2"
USER_V1_FIELDS = [
    "UserID",
    "Forenames",
    "MiddleNames",
    "Surname",
    "EmailAddress",
    "Mobile",
    "Phone",
    "DateOfBirth",
    "JobTitle",
    "ExternalID",
    "MainCompanyID",
    "MainRoleID",
    "Status",
    "Links",
]
COMPANY_V1_FIELDS = [  # the document's company example, in its order
    "CompanyID",
    "Name",
    "MainContactUserID",
    "EmailAddress",
    "ExternalID",
    "AddressLineOne",
    "Town",
    "County",
    "Postcode",
    "Country",
    "Links",
]


def key(platform: Any, tenant: str = "source") -> dict[str, str]:
    return {"Authorization": f"Bearer {platform.credentials[tenant].api_key}"}


async def call(client: Any, platform: Any, method: str, url: str, body: Any = None, status: int = 200) -> Any:
    resp = await client.request(method, url, json=body, headers=key(platform))
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_a_get_returns_the_first_500_records_as_a_bare_array(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=620) as (client, platform):
        first = await call(client, platform, "GET", f"{V1}/users")
        assert isinstance(first, list) and len(first) == 500
        assert list(first[0]) == USER_V1_FIELDS
        rest = await call(client, platform, "GET", f"{V1}/users?PageIndex=2")
        assert len(rest) == 120
        assert not {u["UserID"] for u in first} & {u["UserID"] for u in rest}
        assert await call(client, platform, "GET", f"{V1}/users?PageIndex=3") == []


async def test_the_documents_paging_example_with_its_double_slash(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=40) as (client, platform):
        v2 = await call(client, platform, "GET", f"{V2}/user?$top=-1&$select=ID")
        ids = [r["ID"] for r in v2["results"]]
        page = await call(client, platform, "GET", f"{V1_DOC}/users?PageSize=10&PageIndex=2")
        assert [u["UserID"] for u in page] == ids[10:20]  # PageIndex starts at 1
        same = await call(client, platform, "GET", f"{V1}/users?pagesize=10&pageindex=2")
        assert same == page
        assert [u["UserID"] for u in await call(client, platform, "GET", f"{V1}/users?PageSize=10")] == ids[:10]
        for bad in ("PageIndex=0", "PageSize=0", "PageSize=ten", "PageIndex=-1"):
            body = await call(client, platform, "GET", f"{V1}/users?{bad}", status=400)
            assert "Message" in body


async def test_company_record_and_links_as_in_the_documents_example(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=200) as (client, platform):
        companies = await call(client, platform, "GET", f"{V1}/companies")
        assert len(companies) == len(platform.tables["source"]["company"])
        company = next(c for c in companies if c["MainContactUserID"])
        assert list(company) == COMPANY_V1_FIELDS
        cid, contact = company["CompanyID"], company["MainContactUserID"]
        assert company["Links"] == [
            {"Rel": "Self", "Href": f"/api/v1/companies/{cid}", "Action": "GET"},
            {"Rel": "Self", "Href": f"/api/v1/companies/{cid}", "Action": "PUT"},
            {"Rel": "CompanyGroups", "Href": f"/api/v1/companies/{cid}/companygroups", "Action": "GET"},
            {"Rel": "MainContactUser", "Href": f"/api/v1/users/{contact}", "Action": "GET"},
        ]
        assert await call(client, platform, "GET", f"{V1}/companies/{cid}") == company
        user = await call(client, platform, "GET", f"{V1}/users/{contact}")  # the link leads somewhere
        assert user["UserID"] == contact
        assert {
            "Rel": "MainCompany",
            "Href": f"/api/v1/companies/{user['MainCompanyID']}",
            "Action": "GET",
        } in user["Links"]
        body = await call(client, platform, "GET", f"{V1}/companies/NoSuch1", status=404)
        assert "NoSuch1" in body["Message"]
        await call(client, platform, "GET", f"{V1}/users/nosuch1", status=404)


async def test_full_link_style_switch(platform_server: Any) -> None:
    options = {"accessplanit.v1_link_style": "full"}
    async with platform_server(AccessPlanItPlatform, scale=10, options=options) as (client, platform):
        user = (await call(client, platform, "GET", f"{V1}/users?PageSize=1"))[0]
        href = user["Links"][0]["Href"]
        assert href.startswith("http://127.0.0.1:")
        assert href.endswith(f"/accessplanit/accessplan/api/v1/users/{user['UserID']}")
        resp = await client.session.get(href, headers=key(platform))  # the absolute link is followable
        assert resp.status == 200
        assert (await resp.json())["UserID"] == user["UserID"]


async def test_company_groups(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=500) as (client, platform):
        groups = list(platform.tables["source"]["companygroup"])
        assert groups, "the seed must hold company groups"
        member = groups[0]["CompanyIDs"][-1]
        body = await call(client, platform, "GET", f"{V1}/companies/{member}/companygroups")
        assert {"CompanyGroupID": groups[0]["ID"], "Name": groups[0]["Name"], "Links": []} in body
        await call(client, platform, "GET", f"{V1}/companies/NoSuch1/companygroups", status=404)


async def test_post_and_put_with_v1_names_share_records_with_v2(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10) as (client, platform):
        body = {"Name": "Example Company", "AddressLineOne": "12 Lancaster Street", "Town": "Lancaster"}
        created = await call(client, platform, "POST", f"{V1}/companies", body, status=201)
        assert created["CompanyID"] == "Example1"
        assert created["Links"][0] == {"Rel": "Self", "Href": "/api/v1/companies/Example1", "Action": "GET"}
        user = {
            "Forenames": "Ex",
            "Surname": "Ample",
            "EmailAddress": "ex@example.com",
            "DateOfBirth": "1980-01-31",
        }
        user["MainCompanyID"] = "Example1"
        made = await call(client, platform, "POST", f"{V1}/users", user, status=201)
        uid = made["UserID"]
        assert uid == "exam1"
        updated = await call(client, platform, "PUT", f"{V1}/companies/Example1", {"MainContactUserID": uid})
        assert updated["MainContactUserID"] == uid
        assert updated["Name"] == "Example Company"  # partial update
        v2 = await call(client, platform, "GET", f"{V2}/user/{uid}")
        assert (v2["Email"], v2["DOB"], v2["MainCompanyID"]) == (
            "ex@example.com",
            "1980-01-31T00:00:00",
            "Example1",
        )
        # a record read can be written back as it is (Links and the ID are ignored)
        again = await call(client, platform, "PUT", f"{V1}/users/{uid}", {**made, "JobTitle": "Chef"})
        assert again["JobTitle"] == "Chef"
        stats = platform.tables["source"]["user"].stats()
        assert (stats["creates"], stats["updates"]) == (1, 1)


async def test_v1_400_body_is_the_documents_example(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        uid = (await call(client, platform, "GET", f"{V1}/users?PageSize=1"))[0]["UserID"]
        body = await call(
            client, platform, "PUT", f"{V1}/users/{uid}", {"DateOfBirth": "1990-13-01"}, status=400
        )
        assert body == {
            "Message": "The request is invalid.",
            "ModelState": {"user.DateOfBirth": ["An error has occurred."]},
        }
        body = await call(client, platform, "POST", f"{V1}/companies", {"Town": "Leeds"}, status=400)
        assert body["ModelState"] == {"company.Name": ["The Name field is required."]}
        await call(client, platform, "PUT", f"{V1}/users/nosuch1", {"JobTitle": "x"}, status=404)


async def test_there_is_no_delete_in_v1(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=5) as (client, platform):
        uid = (await call(client, platform, "GET", f"{V1}/users?PageSize=1"))[0]["UserID"]
        for url in (f"{V1}/users/{uid}", f"{V1}/users", f"{V1_DOC}/companies"):
            resp = await client.delete(url, headers=key(platform))
            assert resp.status == 405
            assert "DELETE" in (await resp.json())["Message"]
        assert (await client.get(f"{V1}/users/{uid}", headers=key(platform))).status == 200
        assert len(platform.tables["source"]["user"]) == 5


async def test_xml_on_request(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=10) as (client, platform):
        headers = {**key(platform), "Accept": "application/xml"}
        resp = await client.get(f"{V1}/companies?PageSize=2", headers=headers)
        assert resp.status == 200
        assert resp.content_type == "application/xml"
        root = ET.fromstring(await resp.text())
        assert root.tag == "ArrayOfCompany"
        companies = list(root)
        assert len(companies) == 2
        as_json = await call(client, platform, "GET", f"{V1}/companies?PageSize=2")
        assert companies[0].findtext("CompanyID") == as_json[0]["CompanyID"]
        assert companies[0].findtext("Name") == as_json[0]["Name"]
        links = companies[0].find("Links")
        assert links is not None
        assert [link.findtext("Rel") for link in links][:3] == ["Self", "Self", "CompanyGroups"]
        resp = await client.get(f"{V1}/users?PageSize=1", headers=headers)
        user = next(iter(ET.fromstring(await resp.text())))
        assert user.tag == "User"
        middle = user.find("MiddleNames")
        assert middle is not None and middle.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
