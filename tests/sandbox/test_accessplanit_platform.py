"""accessplanit emulator as a sandbox platform: seeding both tenants, info / env lines, 429 and 5xx bodies."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
from aiohttp import web

from migrator.sandbox.accessplanit import AccessPlanItPlatform
from migrator.sandbox.clock import Clock
from migrator.sandbox.generator import generate
from migrator.sandbox.platform import Context

V2 = "/accessplanit/accessplan/api/v2"


def seeded(scale: int = 300, seed: int = 5, dirty: float = 0.0) -> tuple[AccessPlanItPlatform, Any]:
    platform = AccessPlanItPlatform(Context(clock=Clock(), seed=seed))
    population = generate(seed=seed, scale=scale, dirty=dirty)
    platform.seed(population, "source")
    platform.seed(population, "target")
    return platform, population


def test_source_holds_the_population_and_target_only_the_catalogue() -> None:
    platform, pop = seeded()
    src, tgt = platform.tables["source"], platform.tables["target"]
    assert len(src["user"]) == len(pop.people)
    assert len(src["company"]) == len(pop.orgs)
    assert len(src["course"]) == len(pop.courses)
    assert len(src["usercoursedate"]) == len(pop.enrollments)
    per_course = Counter(d["CourseID"] for d in src["coursedate"])
    assert set(per_course) == {c["ID"] for c in src["course"]}
    assert min(per_course.values()) >= 3
    for entity in ("user", "company", "usercoursedate", "companygroup"):
        assert len(tgt[entity]) == 0, entity
    assert [c for c in tgt["course"]] == [c for c in src["course"]]
    assert len(tgt["coursedate"]) == len(src["coursedate"])
    assert all(d["SpacesLeft"] == d["Places"] for d in tgt["coursedate"])
    for entity in src.values():
        stats = entity.stats()
        assert (stats["creates"], stats["updates"], stats["duplicates"]) == (0, 0, 0), entity.entity


def test_seeded_records_reference_each_other_and_use_string_ids() -> None:
    platform, pop = seeded()
    src = platform.tables["source"]
    people = {p.employee_number: p for p in pop.people}
    for user in src["user"]:
        assert isinstance(user["ID"], str)
        assert src["company"].get(user["MainCompanyID"]) is not None
        person = people[user["ExternalID"]]
        assert (user["Forenames"], user["Surname"], user["Email"]) == (
            person.first_name,
            person.last_name,
            person.email,
        )
        assert user["Status"] == ("Active" if person.active else "Inactive")
        assert user["DOB"] == f"{person.dob}T00:00:00"
    for booking in src["usercoursedate"]:
        date = src["coursedate"].get(booking["CourseDateID"])
        assert date is not None and booking["CourseID"] == date["CourseID"]
        assert src["user"].get(booking["UserID"]) is not None
        assert booking["UserCourseDateKey"] == f"{booking['UserID']}:{booking['CourseDateID']}"
    for date in src["coursedate"]:
        booked = sum(
            1 for b in src["usercoursedate"] if b["CourseDateID"] == date["ID"] and b["Status"] != "Cancelled"
        )
        assert date["SpacesLeft"] == date["Places"] - booked >= 0
    assert "FirAid" in {c["ID"] for c in src["course"]}  # the document's CourseID example
    contacts = [c["MainContactUserID"] for c in src["company"] if c["MainContactUserID"]]
    assert contacts and all(src["user"].get(u) is not None for u in contacts)


def test_seeding_is_deterministic_and_a_reseed_starts_afresh() -> None:
    a, pop = seeded(scale=100, seed=9)
    b, _ = seeded(scale=100, seed=9)
    dump = lambda p: orjson.dumps([list(t) for t in p.tables["source"].values()])  # noqa: E731
    assert dump(a) == dump(b)
    a.seed(pop, "source")
    assert len(a.tables["source"]["user"]) == 100
    assert dump(a) == dump(b)


def test_dirty_population_shows_up_as_duplicates_and_bad_dates() -> None:
    platform, pop = seeded(scale=1000, dirty=0.3)
    users = platform.tables["source"]["user"]
    emails = Counter(p.email.casefold() for p in pop.people if p.email)
    assert users.duplicates() == sum(n - 1 for n in emails.values()) > 0
    assert any(u["Email"] is None for u in users)
    assert any(u["DOB"] and u["DOB"][5:10] == "02-31" for u in users)


def test_info_and_env_lines() -> None:
    platform, _ = seeded(scale=5)
    info = platform.info("http://127.0.0.1:8765")
    assert info["base_url_v1"] == "http://127.0.0.1:8765/accessplanit/accessplan/api/v1"
    assert info["base_url_v2"] == "http://127.0.0.1:8765/accessplanit/accessplan/api/v2"
    assert [t["name"] for t in info["tenants"]] == ["source", "target"]
    assert set(info["tenants"][0]) == {"name", "username", "password", "api_key"}
    env = platform.env_lines("http://127.0.0.1:8765")
    assert env["ACCESSPLANIT_V1_BASE_URL"] == info["base_url_v1"]
    assert env["ACCESSPLANIT_V2_BASE_URL"] == info["base_url_v2"]
    for tenant in ("SOURCE", "TARGET"):
        t = info["tenants"][0 if tenant == "SOURCE" else 1]
        assert env[f"ACCESSPLANIT_{tenant}_USERNAME"] == t["username"]
        assert env[f"ACCESSPLANIT_{tenant}_PASSWORD"] == t["password"]
        assert env[f"ACCESSPLANIT_{tenant}_API_KEY"] == t["api_key"]


def test_rate_limit_and_server_error_answers() -> None:
    platform, _ = seeded(scale=1)
    resp: Any = platform.too_many_requests(42)
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "42"
    assert orjson.loads(resp.body) == {"Message": "Rate limit exceeded"}
    resp = platform.server_error()
    assert resp.status == 500
    assert orjson.loads(resp.body) == {"Message": "An error has occurred."}


async def test_the_target_receives_writes_and_counts_them(platform_server: Any) -> None:
    async with platform_server(AccessPlanItPlatform, scale=20) as (client, platform):
        headers = {"Authorization": f"Bearer {platform.credentials['target'].api_key}"}
        course = (await (await client.get(f"{V2}/course?$top=1", headers=headers)).json())["results"][0]
        assert course["ID"]
        for n in range(3):
            body = {"Forenames": "Ann", "Surname": f"Lee{n}", "Email": "ann.lee@example.com"}
            resp = await client.post(
                f"{V2}/user?$upsert=Email eq 'ann.lee@example.com'", json=body, headers=headers
            )
            assert resp.status == (201 if n == 0 else 200)
        stats = platform.tables["target"]["user"].stats()
        assert stats == {"count": 1, "creates": 1, "updates": 2, "duplicates": 0}
        assert platform.tables["source"]["user"].stats()["creates"] == 0


def test_each_v2_module_and_v1_feed_is_its_own_route() -> None:
    """Rate budgets are per endpoint (route template): modules must not share one ``{module}`` route."""
    platform, _ = seeded(scale=1)
    app = web.Application()
    platform.add_routes(app)
    routes = {r.canonical for r in app.router.resources()}
    for module in ("user", "company", "course", "coursedate", "usercoursedate"):
        assert f"{V2}/{module}" in routes
        assert f"{V2}/{module}/{{id}}" in routes
    for feed in ("users", "companies"):
        assert f"/accessplanit/accessplan/api/v1/{feed}" in routes
        assert f"/accessplanit/accessplan//api/v1/{feed}" in routes
    assert all(r.startswith("/accessplanit/") for r in routes)
