"""aNewSpring emulator: user groups, subscriptions, templates and courses."""

from __future__ import annotations

from typing import Any

from migrator.sandbox.anewspring import ANewSpringPlatform
from migrator.sandbox.generator import generate

API = "/anewspring/api"


def key(platform: Any, tenant: str = "source") -> dict[str, str]:
    return {"X-API-Key": platform.api_key(tenant)}


async def add_user(client: Any, platform: Any, ext: str, *roles: str) -> None:
    form = [("login", ext.lower()), ("firstName", ext), *(("role", r) for r in roles)]
    resp = await client.post(f"{API}/addUser/{ext}", headers=key(platform, "target"), data=form)
    assert resp.status == 200


# --- groups ------------------------------------------------------------------------------------------
async def test_source_groups_hold_the_orgs_learners(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=200) as (client, platform):
        population = generate(seed=7, scale=200)
        org = population.orgs[0]
        assert await (await client.get(f"{API}/groupExists/{org.code}", headers=key(platform))).json() == {
            "result": True
        }
        users = (await (await client.get(f"{API}/getGroupUsers/{org.code}", headers=key(platform))).json())[
            "users"
        ]
        expected = [p for p in population.people if p.role == "learner" and p.org == 0]
        assert sorted(u["login"] for u in users) == sorted(p.username for p in expected)
        assert all(set(u) == {"id", "uid", "name", "login", "email", "active"} for u in users)
        resp = await client.get(f"{API}/groupExists/{org.code}", headers=key(platform, "target"))
        assert await resp.json() == {"result": False}


async def test_add_group_rules(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform, "target")
        ok = {"type": "student", "name": "Apprentices 2024"}
        assert (await client.post(f"{API}/addGroup/G1", headers=headers, data=ok)).status == 200
        assert await (await client.get(f"{API}/groupExists/G1", headers=headers)).json() == {"result": True}
        assert (await client.post(f"{API}/addGroup/G1", headers=headers, data=ok)).status == 409
        assert (
            await client.post(f"{API}/addGroup/G2", headers=headers, data=ok | {"parent": "G2"})
        ).status == 409
        assert (
            await client.post(f"{API}/addGroup/G2", headers=headers, data=ok | {"parent": "NOPE"})
        ).status == 404
        assert (
            await client.post(f"{API}/addGroup/G2", headers=headers, data=ok | {"parent": "G1"})
        ).status == 200
        assert (await client.post(f"{API}/addGroup/G3", headers=headers, data={"name": "x"})).status == 400
        resp = await client.post(f"{API}/addGroup/G3", headers=headers, data={"name": "x", "type": "boss"})
        assert resp.status == 400
        assert (await client.post(f"{API}/addGroup/G3", headers=headers, data={"type": "mentor"})).status == 400
        assert platform.table("target", "group").stats()["creates"] == 2


async def test_update_group_name_and_parent(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform, "target")
        for gid in ("A", "B"):
            await client.post(f"{API}/addGroup/{gid}", headers=headers, data={"type": "teacher", "name": gid})
        assert (await client.post(f"{API}/updateGroup/B", headers=headers, data={"parent": "A"})).status == 200
        assert (await client.post(f"{API}/updateGroup/A", headers=headers, data={"parent": "B"})).status == 409
        assert (await client.post(f"{API}/updateGroup/A", headers=headers, data={"parent": "A"})).status == 409
        assert (await client.post(f"{API}/updateGroup/A", headers=headers, data={"parent": "Z"})).status == 404
        assert (await client.post(f"{API}/updateGroup/Z", headers=headers, data={"name": "z"})).status == 404
        assert (
            await client.post(f"{API}/updateGroup/A", headers=headers, data={"name": "Tutors"})
        ).status == 200
        table = platform.table("target", "group")
        assert table.get("A")["name"] == "Tutors" and table.get("B")["parent"] == "A"


async def test_group_users_add_check_list_and_delete(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform, "target")
        await client.post(f"{API}/addGroup/S", headers=headers, data={"type": "student", "name": "Students"})
        await add_user(client, platform, "L1", "student")
        await add_user(client, platform, "L2", "student")
        await add_user(client, platform, "T1", "teacher")
        form = [("user", "L1"), ("user", "L2")]
        assert (await client.post(f"{API}/addGroupUsers/S", headers=headers, data=form)).status == 200
        users = (await (await client.get(f"{API}/getGroupUsers/S", headers=headers)).json())["users"]
        assert [u["id"] for u in users] == ["L1", "L2"]
        resp = await client.get(f"{API}/groupUserExists/S/L1", headers=headers)
        assert await resp.json() == {"result": True}
        resp = await client.get(f"{API}/groupUserExists/S/T1", headers=headers)
        assert await resp.json() == {"result": False}
        assert (await client.get(f"{API}/groupUserExists/NOPE/L1", headers=headers)).status == 404
        # duplicates: 409 unless ignored; wrong role: 409; unknown user: 404; all-or-nothing
        assert (await client.post(f"{API}/addGroupUsers/S", headers=headers, data={"user": "L1"})).status == 409
        ignored = {"user": "L1", "ignoreDuplicates": "true"}
        assert (await client.post(f"{API}/addGroupUsers/S", headers=headers, data=ignored)).status == 200
        resp = await client.post(f"{API}/addGroupUsers/S", headers=headers, data={"user": "T1"})
        assert resp.status == 409 and "student" in await resp.text()
        assert (
            await client.post(f"{API}/addGroupUsers/S", headers=headers, data={"user": "NOPE"})
        ).status == 404
        assert (await client.post(f"{API}/addGroupUsers/S", headers=headers)).status == 400
        assert (await client.post(f"{API}/addGroupUsers/NOPE", headers=headers, data=form)).status == 404
        users = (await (await client.get(f"{API}/getGroupUsers/S", headers=headers)).json())["users"]
        assert len(users) == 2
        # delete: a non-member is 404 unless ignoreMissing
        assert (
            await client.post(f"{API}/deleteGroupUsers/S", headers=headers, data={"user": "T1"})
        ).status == 404
        form = [("user", "L1"), ("user", "T1"), ("ignoreMissing", "true")]
        assert (await client.post(f"{API}/deleteGroupUsers/S", headers=headers, data=form)).status == 200
        users = (await (await client.get(f"{API}/getGroupUsers/S", headers=headers)).json())["users"]
        assert [u["id"] for u in users] == ["L2"]


async def test_delete_group_needs_force_while_in_use(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform, "target")
        await client.post(f"{API}/addGroup/P", headers=headers, data={"type": "student", "name": "Parent"})
        await client.post(
            f"{API}/addGroup/C", headers=headers, data={"type": "student", "name": "C", "parent": "P"}
        )
        await client.post(f"{API}/addGroup/E", headers=headers, data={"type": "student", "name": "Empty"})
        assert (await client.post(f"{API}/deleteGroup/E", headers=headers)).status == 200
        assert (await client.post(f"{API}/deleteGroup/P", headers=headers)).status == 409
        assert (
            await client.post(f"{API}/deleteGroup/P", headers=headers, data={"force": "true"})
        ).status == 200
        assert await (await client.get(f"{API}/groupExists/P", headers=headers)).json() == {"result": False}
        assert platform.table("target", "group").get("C")["parent"] is None
        assert (await client.post(f"{API}/deleteGroup/P", headers=headers)).status == 404


async def test_group_duplicate_names_are_counted(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform, "target")
        for gid in ("X1", "X2"):
            data = {"type": "student", "name": "Same name"}
            assert (await client.post(f"{API}/addGroup/{gid}", headers=headers, data=data)).status == 200
        assert platform.table("target", "group").stats()["duplicates"] == 1


# --- catalogue ---------------------------------------------------------------------------------------
async def test_templates_and_courses_exist_in_both_tenants(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        names = {}
        for tenant in ("source", "target"):
            templates = (await (await client.get(f"{API}/getTemplates", headers=key(platform, tenant))).json())[
                "templates"
            ]
            assert all(set(t) == {"id", "uid", "name"} and t["id"] for t in templates)
            names[tenant] = [t["name"] for t in templates]
            resp = await client.get(
                f"{API}/getTemplates", headers=key(platform, tenant), params={"includeWithoutId": "true"}
            )
            with_none = (await resp.json())["templates"]
            assert len(with_none) == len(templates) + 1 and with_none[-1]["id"] is None
        assert names["source"] == names["target"] == [c.name for c in generate(7, 50).courses]
        headers = key(platform, "target")
        courses = (await (await client.get(f"{API}/getCourses/T-C001", headers=headers)).json())["courses"]
        assert [c["id"] for c in courses] == ["C001"]
        course = await (await client.get(f"{API}/getCourse/C001", headers=headers)).json()
        assert course["name"] == "Working at Heights" and course["uid"]
        assert (await client.get(f"{API}/getCourse/NOPE", headers=headers)).status == 404
        assert (await client.get(f"{API}/getCourses/NOPE", headers=headers)).status == 404


# --- subscriptions -----------------------------------------------------------------------------------
async def test_subscribe_is_subscribed_and_unsubscribe(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform, "target")
        await add_user(client, platform, "L1", "student")
        assert await (await client.get(f"{API}/isSubscribed/L1/C001", headers=headers)).json() == {
            "result": False
        }
        assert (await client.post(f"{API}/subscribe/L1/C001", headers=headers)).status == 200
        assert await (await client.get(f"{API}/isSubscribed/L1/C001", headers=headers)).json() == {
            "result": True
        }
        assert (await client.post(f"{API}/subscribe/L1/C001", headers=headers)).status == 409
        assert (await client.post(f"{API}/subscribe/L1/NOPE", headers=headers)).status == 404
        assert (await client.post(f"{API}/subscribe/NOPE/C001", headers=headers)).status == 404
        courses = (await (await client.get(f"{API}/getSubscriptions/L1", headers=headers)).json())["courses"]
        expected = {
            "id",
            "uid",
            "name",
            "reseller",
            "active",
            "subscribeDate",
            "subscribeDateTime",
            "startDate",
            "startDateTime",
            "finished",
            "expired",
            "progress",
            "knowledgeIntake",
            "efficiency",
            "objectiveProgress",
        }
        assert len(courses) == 1 and set(courses[0]) == expected
        assert courses[0]["id"] == "C001" and courses[0]["finished"] is False
        students = (await (await client.get(f"{API}/getStudentSubscriptions/C001", headers=headers)).json())[
            "students"
        ]
        assert [s["id"] for s in students] == ["L1"]
        assert platform.table("target", "subscription").stats()["creates"] == 1
        assert (await client.post(f"{API}/unsubscribe/L1/C001", headers=headers)).status == 200
        assert await (await client.get(f"{API}/isSubscribed/L1/C001", headers=headers)).json() == {
            "result": False
        }
        assert (await client.post(f"{API}/unsubscribe/L1/C001", headers=headers)).status == 404
        assert len(platform.table("target", "subscription")) == 0


async def test_seeded_subscriptions_carry_progress_and_finished(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=200) as (client, platform):
        population = generate(seed=7, scale=200)
        done = next(
            e
            for e in population.enrollments
            if e.status == "completed" and population.people[e.person].idx % 40 != 39
        )
        person, course = population.people[done.person], population.courses[done.course]
        headers = key(platform)
        courses = (
            await (await client.get(f"{API}/getSubscriptions/{person.employee_number}", headers=headers)).json()
        )["courses"]
        row = next(c for c in courses if c["id"] == course.code)
        assert row["finished"] is True and row["progress"] == 100
        resp = await client.get(
            f"{API}/getSubscriptions/{person.employee_number}", headers=headers, params={"skipStats": "true"}
        )
        assert all("progress" not in c for c in (await resp.json())["courses"])
        results = (
            await (await client.get(f"{API}/getResults/{person.employee_number}", headers=headers)).json()
        )["courses"]
        assert any(r["id"] == course.code and r["finished"] for r in results)
        students = (
            await (await client.get(f"{API}/getStudentSubscriptions/{course.code}", headers=headers)).json()
        )["students"]
        assert person.employee_number in [s["id"] for s in students]
        assert len(platform.table("source", "subscription")) == len(population.enrollments)
        assert platform.table("source", "subscription").duplicates() == 0


async def test_subscriptions_follow_a_deleted_user(platform_server: Any) -> None:
    async with platform_server(ANewSpringPlatform, scale=50) as (client, platform):
        headers = key(platform, "target")
        await add_user(client, platform, "L1", "student")
        await client.post(f"{API}/subscribe/L1/C002", headers=headers)
        assert (await client.post(f"{API}/deleteUser/L1", headers=headers)).status == 200
        students = (await (await client.get(f"{API}/getStudentSubscriptions/C002", headers=headers)).json())[
            "students"
        ]
        assert students == []
        assert len(platform.table("target", "subscription")) == 0
