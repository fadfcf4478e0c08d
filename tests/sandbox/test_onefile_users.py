"""OneFile emulator: the vendor document's examples, searches and paging, user writes, seeds, duplicates."""

from __future__ import annotations

import re
from typing import Any

import pytest

from migrator.sandbox.generator import generate
from migrator.sandbox.onefile import OneFilePlatform

API = "/onefile/api/v2.1"
ORG = 5740  # the source organisation (the document's own example ID)
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def login(client: Any, platform: Any, tenant: str = "source") -> dict[str, str]:
    resp = await client.post(
        f"{API}/Authentication", headers={"X-CustomerToken": platform.customer_token(tenant)}
    )
    return {"X-TokenID": await resp.text()}


def learners(platform: Any, tenant: str = "source") -> list[dict[str, Any]]:
    return [u for u in platform.table(tenant, "user") if u["Role"] == 1]


async def target_refs(client: Any, headers: dict[str, str]) -> dict[str, int]:
    """IDs a learner on the target needs: organisation, an assessor, a classroom, a placement."""
    customer = await (await client.get(f"{API}/Customer", headers=headers)).json()
    org = (
        await (
            await client.post(
                f"{API}/Organisation/Search", headers=headers, json={"CustomerID": customer["ID"]}
            )
        ).json()
    )[0]["ID"]
    body = {"OrganisationID": org}
    assessor = (
        await (await client.post(f"{API}/User/Search", headers=headers, json=body | {"Role": 5})).json()
    )[0]
    classroom = (await (await client.post(f"{API}/Classroom/Search", headers=headers, json=body)).json())[0]
    placement = (await (await client.post(f"{API}/Placement/Search", headers=headers, json=body)).json())[0]
    return {
        "OrganisationID": org,
        "DefaultAssessorID": assessor["ID"],
        "ClassroomID": classroom["ID"],
        "PlacementID": placement["ID"],
    }


def learner_body(refs: dict[str, int], **extra: Any) -> dict[str, Any]:
    return (
        {"FirstName": "Gemma", "LastName": "Hall", "Email": "gemma.hall@example.com", "Role": 1} | refs | extra
    )


# --- the vendor document's examples --------------------------------------------------------------------
async def test_document_example_customer_and_organisations(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform)
        customer = await (await client.get(f"{API}/Customer", headers=headers)).json()
        assert set(customer) == {"ID", "Name"} and customer["ID"] == 2070
        resp = await client.post(f"{API}/Organisation/search", headers=headers, json={"CustomerID": 2070})
        orgs = await resp.json()
        assert [set(o) for o in orgs] == [
            {"ID", "Name", "KeychainCreationForNewUserActive", "KeychainEmailSuppression"}
        ]
        assert orgs[0]["ID"] == ORG and orgs[0]["KeychainEmailSuppression"] is False
        resp = await client.post(f"{API}/Organisation/Search", headers=headers, json={})
        assert resp.status == 400 and "CustomerID" in (await resp.json())["message"]


async def test_document_example_assessors_paged(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=200) as (client, platform):
        headers = await login(client, platform)
        resp = await client.post(
            f"{API}/User/Search/1/10", headers=headers, json={"OrganisationID": ORG, "Role": 5}
        )
        rows = await resp.json()
        assessors = sorted(u["ID"] for u in platform.table("source", "user") if u["Role"] == 5)
        assert [r["ID"] for r in rows] == assessors[:10]
        for row in rows:
            assert {"ID", "FirstName", "LastName", "MISID"} <= set(row)
            assert row["Role"] == 5


async def test_document_example_learners_unpaged(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=200) as (client, platform):
        headers = await login(client, platform)
        resp = await client.post(f"{API}/User/Search", headers=headers, json={"OrganisationID": ORG, "Role": 1})
        rows = await resp.json()
        assert all(set(r) == {"ID", "FirstName", "LastName", "MISID"} for r in rows)
        population = generate(seed=7, scale=200)
        assert sorted(r["MISID"] for r in rows) == sorted(
            p.employee_number for p in population.people if p.role == "learner"
        )


async def test_document_example_classrooms_and_placements(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=200) as (client, platform):
        for tenant in ("source", "target"):
            headers = await login(client, platform, tenant)
            customer = await (await client.get(f"{API}/Customer", headers=headers)).json()
            orgs = await (
                await client.post(
                    f"{API}/Organisation/Search", headers=headers, json={"CustomerID": customer["ID"]}
                )
            ).json()
            names = {}
            for kind in ("Classroom", "Placement"):
                resp = await client.post(
                    f"{API}/{kind}/Search", headers=headers, json={"OrganisationID": orgs[0]["ID"]}
                )
                rows = await resp.json()
                assert all(set(r) == {"ID", "Name", "MISID"} for r in rows)
                names[kind] = sorted(r["Name"] for r in rows)
            assert names["Classroom"] == names["Placement"] == sorted(o.name for o in generate(7, 200).orgs)
        resp = await client.post(f"{API}/Classroom/Search", headers=headers, json={"OrganisationID": 1})
        assert resp.status == 204


# --- searches and paging ------------------------------------------------------------------------------
async def test_paged_search_walks_every_user_once(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=200) as (client, platform):
        headers = await login(client, platform)
        body = {"OrganisationID": ORG, "Role": 1}
        everyone = [
            r["ID"] for r in await (await client.post(f"{API}/User/Search", headers=headers, json=body)).json()
        ]
        seen: list[int] = []
        page = 1
        while True:
            resp = await client.post(f"{API}/User/Search/{page}/30", headers=headers, json=body)
            if resp.status == 204:
                break
            rows = await resp.json()
            seen += [r["ID"] for r in rows]
            page += 1
            if len(rows) < 30:
                break
        assert seen == everyone == sorted(everyone)
        past = await client.post(f"{API}/User/Search/{page + 5}/30", headers=headers, json=body)
        assert past.status == 204 and await past.read() == b""


async def test_paging_edges(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=200) as (client, platform):
        headers = await login(client, platform)
        body = {"OrganisationID": ORG}
        assert len(learners(platform)) > 100
        resp = await client.post(f"{API}/User/Search/1/500", headers=headers, json=body)
        assert len(await resp.json()) == 100  # capped
        for path in ("0/10", "1/0", "-1/10"):
            resp = await client.post(f"{API}/User/Search/{path}", headers=headers, json=body)
            assert resp.status == 400, path
            assert "page" in (await resp.json())["message"]


async def test_max_page_size_switch(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=200, options={"onefile.max_page_size": 0}) as (c, p):
        headers = await login(c, p)
        resp = await c.post(f"{API}/User/Search/1/500", headers=headers, json={"OrganisationID": ORG})
        assert len(await resp.json()) == 200


async def test_paged_results_carry_richer_fields_and_omit_empty_ones(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform)
        resp = await client.post(
            f"{API}/User/Search/1/100", headers=headers, json={"OrganisationID": ORG, "Role": 1}
        )
        rows = await resp.json()
        assert all({"Email", "ULN", "NINO"} <= set(r) for r in rows)
        assert all(None not in r.values() for r in rows)
    options = {"onefile.paged_empty_fields": "null"}
    async with platform_server(OneFilePlatform, scale=50, options=options) as (client, platform):
        headers = await login(client, platform)
        resp = await client.post(
            f"{API}/User/Search/1/100", headers=headers, json={"OrganisationID": ORG, "Role": 5}
        )
        rows = await resp.json()
        assert rows and all(r["ULN"] is None for r in rows)  # assessors have no ULN: sent as null


async def test_search_filters_and_204_when_nothing_matches(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform)
        one = learners(platform)[3]
        resp = await client.post(
            f"{API}/User/Search", headers=headers, json={"OrganisationID": ORG, "MISID": one["MISID"].lower()}
        )
        assert [r["ID"] for r in await resp.json()] == [one["ID"]]
        body = {"OrganisationID": ORG, "Role": 1, "FirstName": one["FirstName"], "LastName": one["LastName"]}
        rows = await (await client.post(f"{API}/User/Search", headers=headers, json=body)).json()
        assert one["ID"] in [r["ID"] for r in rows]
        assert all(r["FirstName"] == one["FirstName"] for r in rows)
        for body in ({"OrganisationID": ORG, "MISID": "NOPE"}, {"OrganisationID": ORG, "FirstName": "Zz"}):
            resp = await client.post(f"{API}/User/Search", headers=headers, json=body)
            assert resp.status == 204 and await resp.read() == b""
            resp = await client.post(f"{API}/User/Search/1/10", headers=headers, json=body)
            assert resp.status == 204
        resp = await client.post(f"{API}/User/Search", headers=headers, json={"Role": 1})
        assert resp.status == 400 and "OrganisationID" in (await resp.json())["message"]
        resp = await client.post(f"{API}/User/Search", headers=headers, json={"OrganisationID": ORG, "Role": 2})
        assert resp.status == 400


async def test_name_match_contains_switch(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50, options={"onefile.name_match": "contains"}) as (c, p):
        headers = await login(c, p)
        one = learners(p)[0]
        body = {"OrganisationID": ORG, "LastName": one["LastName"].strip()[1:-1]}
        rows = await (await c.post(f"{API}/User/Search", headers=headers, json=body)).json()
        assert one["ID"] in [r["ID"] for r in rows]


async def test_form_encoded_bodies_with_mixed_key_casing(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform)
        resp = await client.post(
            f"{API}/User/Search", headers=headers, data={"organisationID": str(ORG), "role": "1"}
        )
        assert len(await resp.json()) == len(learners(platform))
        resp = await client.post(f"{API}/User/Search", headers=headers, json={"organisationid": ORG, "ROLE": 1})
        assert len(await resp.json()) == len(learners(platform))
        json_headers = headers | {"Content-Type": "application/json"}
        resp = await client.post(f"{API}/User/Search", headers=json_headers, data=b"{bad")
        assert resp.status == 400 and "JSON" in (await resp.json())["message"]


# --- users -------------------------------------------------------------------------------------------
async def test_get_user_returns_the_full_user_or_404(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform)
        one = learners(platform)[0]
        user = await (await client.get(f"{API}/User/{one['ID']}", headers=headers)).json()
        for key in ("ID", "Email", "FirstName", "LastName", "MISID", "DOB", "ULN", "NINO", "HomeAddress"):
            assert key in user
        for key in ("Telephone", "MobileNumber", "StartOn", "PlannedEndDate", "EpisodeName", "PlacementID"):
            assert key in user
        assert ISO_MS.match(user["DOB"]) and ISO_MS.match(user["CreatedOn"])
        resp = await client.get(f"{API}/User/999", headers=headers)
        assert resp.status == 404 and "999" in (await resp.json())["Message"]


async def test_seeded_source_users_follow_the_population(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=200) as (_client, platform):
        population = generate(seed=7, scale=200)
        users = {u["MISID"]: u for u in platform.table("source", "user")}
        assert len(users) == 200
        roles = {"learner": 1, "assessor": 5, "admin": 10, "employer": 40}
        for person in population.people:
            assert users[person.employee_number]["Role"] == roles[person.role]
        assessors = {u["ID"] for u in users.values() if u["Role"] == 5}
        for learner in learners(platform):
            assert learner["DefaultAssessorID"] in assessors
            assert learner["ClassroomID"] in platform.table("source", "classroom").records
            assert learner["PlacementID"] in platform.table("source", "placement").records
        assert all(u.get("PlacementID") for u in users.values() if u["Role"] == 40)
        assert platform.table("source", "user").creates == 0


async def test_target_holds_the_catalogue_and_a_few_assessors_only(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        users = list(platform.table("target", "user"))
        assert 1 <= len(users) <= 5 and all(u["Role"] == 5 for u in users)
        assert len(platform.table("target", "organisation")) == 1
        assert len(platform.table("target", "classroom")) == len(platform.table("source", "classroom"))
        headers = await login(client, platform, "target")
        refs = await target_refs(client, headers)
        body = {"OrganisationID": refs["OrganisationID"], "Role": 1}
        assert (await client.post(f"{API}/User/Search", headers=headers, json=body)).status == 204


LEARNER_MANDATORY = [
    "OrganisationID",
    "FirstName",
    "LastName",
    "Email",
    "Role",
    "DefaultAssessorID",
    "ClassroomID",
    "PlacementID",
]


async def test_create_learner_requires_each_mandatory_field(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform, "target")
        refs = await target_refs(client, headers)
        for field in LEARNER_MANDATORY:
            body = {k: v for k, v in learner_body(refs).items() if k != field}
            resp = await client.post(f"{API}/User", headers=headers, json=body)
            assert resp.status == 400, field
            assert field in (await resp.json())["message"]
        assert platform.table("target", "user").creates == 0


@pytest.mark.parametrize(
    ("role", "needs_placement"), [(40, True), (45, True), (5, False), (10, False), (4, False)]
)
async def test_create_other_roles_mandatory_fields(
    platform_server: Any, role: int, needs_placement: bool
) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform, "target")
        refs = await target_refs(client, headers)
        base = {
            "OrganisationID": refs["OrganisationID"],
            "FirstName": "K",
            "LastName": "A",
            "Email": "k@a.example",
        }
        resp = await client.post(f"{API}/User", headers=headers, json=base | {"Role": role})
        if needs_placement:
            assert resp.status == 400 and "PlacementID" in (await resp.json())["message"]
            resp = await client.post(
                f"{API}/User", headers=headers, json=base | {"Role": role, "PlacementID": refs["PlacementID"]}
            )
        assert resp.status == 200
        assert isinstance(await resp.json(), int)


async def test_create_learner_returns_a_bare_id_and_the_user_is_found(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform, "target")
        refs = await target_refs(client, headers)
        platform.ctx.clock.advance(3600)
        body = learner_body(refs, MISID="GHALL391", DOB="1990-02-01", ULN="1234567890")
        resp = await client.post(f"{API}/User", headers=headers, json=body)
        assert resp.status == 200
        new_id = int(await resp.text())
        user = await (await client.get(f"{API}/User/{new_id}", headers=headers)).json()
        assert user["MISID"] == "GHALL391" and user["DOB"] == "1990-02-01T00:00:00.000Z"
        assert ISO_MS.match(user["CreatedOn"]) and user["Archived"] is False
        search = {"OrganisationID": refs["OrganisationID"], "Role": 1, "MISID": "GHALL391"}
        rows = await (await client.post(f"{API}/User/Search/1/10", headers=headers, json=search)).json()
        assert [r["ID"] for r in rows] == [new_id] and rows[0]["ULN"] == "1234567890"
        assert platform.table("target", "user").stats()["creates"] == 1


async def test_create_form_encoded_with_lower_case_keys(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform, "target")
        refs = await target_refs(client, headers)
        form = {k.lower(): str(v) for k, v in learner_body(refs).items()}
        resp = await client.post(f"{API}/User", headers=headers, data=form)
        assert resp.status == 200
        user = platform.table("target", "user").get(await resp.json())
        assert user["ClassroomID"] == refs["ClassroomID"] and user["Role"] == 1


async def test_create_rejects_bad_references_and_values(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform, "target")
        refs = await target_refs(client, headers)
        learner_id = await (await client.post(f"{API}/User", headers=headers, json=learner_body(refs))).json()
        bad = [
            {"DefaultAssessorID": learner_id},  # a learner is not an assessor
            {"ClassroomID": 1},
            {"PlacementID": 1},
            {"OrganisationID": ORG},  # the source's organisation
            {"Role": 3},
            {"DOB": "1990-02-31"},
            {"ClassroomID": "abc"},
        ]
        for change in bad:
            resp = await client.post(f"{API}/User", headers=headers, json=learner_body(refs) | change)
            assert resp.status == 400, change
            assert (await resp.json())["message"]


async def test_update_is_partial_and_returns_the_user(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform)
        one = learners(platform)[0]
        before = dict(one)
        platform.ctx.clock.advance(60)
        resp = await client.post(f"{API}/User/{one['ID']}", headers=headers, json={"misid": "NEW-1", "ULN": ""})
        user = await resp.json()
        assert resp.status == 200 and user["MISID"] == "NEW-1"
        assert user["FirstName"] == before["FirstName"] and user["ULN"] == before["ULN"]
        assert user["ModifiedOn"] != before["ModifiedOn"]
        rows = await (
            await client.post(
                f"{API}/User/Search", headers=headers, json={"OrganisationID": ORG, "MISID": "new-1"}
            )
        ).json()
        assert [r["ID"] for r in rows] == [one["ID"]]
        assert (await client.post(f"{API}/User/1", headers=headers, json={"MISID": "x"})).status == 404
        resp = await client.post(f"{API}/User/{one['ID']}", headers=headers, json={"ClassroomID": 1})
        assert resp.status == 400
        assert platform.table("source", "user").updates == 1


async def test_archive_unarchive_and_the_search_archived_switch(platform_server: Any) -> None:
    for mode, visible_when_archived in (("include", True), ("exclude", False)):
        options = {"onefile.search_archived": mode}
        async with platform_server(OneFilePlatform, scale=50, options=options) as (client, platform):
            headers = await login(client, platform)
            one = next(u for u in learners(platform) if not u["Archived"])
            body = {"role": 1, "organisationID": ORG}
            assert (
                await client.post(f"{API}/User/{one['ID']}/Archive", headers=headers, json=body)
            ).status == 200
            assert (await (await client.get(f"{API}/User/{one['ID']}", headers=headers)).json())[
                "Archived"
            ] is True
            search = {"OrganisationID": ORG, "MISID": one["MISID"]}
            resp = await client.post(f"{API}/User/Search", headers=headers, json=search)
            assert (resp.status == 200) is visible_when_archived
            assert (
                await client.post(f"{API}/User/{one['ID']}/Unarchive", headers=headers, json=body)
            ).status == 200
            resp = await client.post(f"{API}/User/Search", headers=headers, json=search)
            assert resp.status == 200
            assert (await client.post(f"{API}/User/1/Archive", headers=headers)).status == 404


async def test_delete_user(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform)
        one = learners(platform)[0]
        assert (await client.delete(f"{API}/User/{one['ID']}", headers=headers)).status == 200
        assert (await client.get(f"{API}/User/{one['ID']}", headers=headers)).status == 404
        assert (await client.delete(f"{API}/User/{one['ID']}", headers=headers)).status == 404
        search = {"OrganisationID": ORG, "MISID": one["MISID"]}
        assert (await client.post(f"{API}/User/Search", headers=headers, json=search)).status == 204


async def test_placements_get_and_create(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform, "target")
        refs = await target_refs(client, headers)
        placement = await (await client.get(f"{API}/Placement/{refs['PlacementID']}", headers=headers)).json()
        assert {"ID", "Name", "Active", "Address"} <= set(placement)
        body = {"OrganisationID": refs["OrganisationID"], "Name": "BT - Manchester", "MISID": "BT54810A"}
        resp = await client.post(f"{API}/Placement", headers=headers, json=body)
        new_id = await resp.json()
        got = await (await client.get(f"{API}/Placement/{new_id}", headers=headers)).json()
        assert got["Name"] == "BT - Manchester" and got["Active"] is True
        assert (await client.post(f"{API}/Placement", headers=headers, json={"Name": "x"})).status == 400
        assert (await client.get(f"{API}/Placement/1", headers=headers)).status == 404
        assert platform.table("target", "placement").creates == 1


async def test_duplicate_counter_and_duplicate_misid_switch(platform_server: Any) -> None:
    async with platform_server(OneFilePlatform, scale=50) as (client, platform):
        headers = await login(client, platform, "target")
        refs = await target_refs(client, headers)
        table = platform.table("target", "user")
        assert table.duplicates() == 0
        for email in ("a@x.example", "b@x.example"):
            body = learner_body(refs, MISID="E0000001", Email=email)
            assert (await client.post(f"{API}/User", headers=headers, json=body)).status == 200
        assert table.stats()["duplicates"] == 1
    options = {"onefile.duplicate_misid": "reject"}
    async with platform_server(OneFilePlatform, scale=50, options=options) as (client, platform):
        headers = await login(client, platform, "target")
        refs = await target_refs(client, headers)
        body = learner_body(refs, MISID="E0000001")
        assert (await client.post(f"{API}/User", headers=headers, json=body)).status == 200
        resp = await client.post(f"{API}/User", headers=headers, json=body | {"MISID": " e0000001 "})
        assert resp.status == 400 and "MISID" in (await resp.json())["message"]
        assert platform.table("target", "user").duplicates() == 0
