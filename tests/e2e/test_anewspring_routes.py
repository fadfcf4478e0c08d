"""plans/anewspring-to-velpic.toml and plans/velpic-to-anewspring.toml end to end against one sandbox:

- aNewSpring → Velpic: the users' companies → groups, users (getUsers + getUser) → bulkUserImport merged on
  email with roles through the value table and their company's group;
- Velpic → aNewSpring: groups → student groups, users → addOrUpdateUser (roles repeated), trainees → group
  members (addGroupUsers), lesson schedules (not cancelled) → subscriptions to the mapped course.

Every mapped field of every record is checked on the target, links through the crosswalk, no duplicates, and a
second run writes nothing. The plans' 20/second budgets are rehearsed on a compressed clock."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.crosswalk_check import assert_crosswalk_carries_keys, crosswalk
from tests.e2e.helpers import PLANS, entity_stats, get_json, give_ui_users_ids, records, run_plan, write_env

TIME_SCALE = "20"
ANS_TO_VELPIC_ROLES = {"student": 6, "teacher": 8, "mentor": 5, "administrator": 3}
VELPIC_TO_ANS_ROLES = {
    3: "administrator",
    4: "designer",
    5: "teacher",
    6: "student",
    7: "administrator",
    8: "teacher",
}


@pytest.fixture(scope="module")
def sandbox(sandbox_profile: str) -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=13,
        scale=300,
        time_scale=float(TIME_SCALE),
        platforms=("anewspring", "velpic"),
        profile=sandbox_profile,
    )
    with SandboxThread(config) as sb:
        give_ui_users_ids(sb)
        yield sb


def _anewspring(sandbox: SandboxThread, call: str) -> Any:
    env = sandbox.sandbox.env()
    req = urllib.request.Request(
        f"{env['ANEWSPRING_BASE_URL']}/{call}", headers={"X-API-Key": env["ANEWSPRING_TARGET_API_KEY"]}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_anewspring_users_and_companies_arrive_in_velpic(sandbox: SandboxThread, tmp_path: Path) -> None:
    plan = PLANS / "anewspring-to-velpic.toml"
    env = write_env(sandbox, tmp_path / "sandbox.env")
    first = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Traceback" not in first.stderr

    base = sandbox.base_url
    # the users getUsers lists: every one, or only the active ones (``list_inactive``, adversarial: false)
    every_status = get_json(f"{base}/_sandbox/options")["options"].get("anewspring.list_inactive", True)
    source = [u for u in records(base, "anewspring", "source", "user") if every_status or u["active"]]
    companies = {u["company"] for u in source if u.get("company")}
    groups = {g["name"]: g for g in records(base, "velpic", "target", "group")}
    assert set(groups) == {c.strip() for c in companies} and len(groups) > 1
    for name, g in groups.items():
        assert g["description"] == f"Migrated from aNewSpring company {name}"

    target = {u["emailAddress"]: u for u in records(base, "velpic", "target", "user")}
    with_email = [u for u in source if u.get("email")]
    assert len(target) == len(with_email) > 250
    assert any(u["id"].startswith("UI-") for u in with_email)  # users created in the UI come too, with an ID
    for u in with_email:
        t = target[u["email"].strip().lower()]
        assert t["firstName"] == u["firstName"].strip()
        assert t["lastName"] == u["lastName"].strip()
        assert t["userName"] == u["login"]
        assert (t.get("employeeNumber") or None) == u["id"]
        assert t["phoneNumber"] == u["telephoneNumber"]
        assert t["mobileNumber"] == u["cellPhoneNumber"]
        assert t["roles"] == [ANS_TO_VELPIC_ROLES.get(r, 6) for r in u["roles"]]
        assert [g["id"] for g in t["groups"]] == [groups[u["company"].strip()]["id"]]
    assert_crosswalk_carries_keys(  # each crosswalk row (aNewSpring uid → Velpic id) on the user by e-mail
        crosswalk(plan, tmp_path, "users"),
        with_email,
        target.values(),
        source_key=lambda u: u["email"].strip().lower(),
        target_key=lambda u: u["emailAddress"],
        source_id="uid",
    )

    users = entity_stats(base, "velpic", "target", "user")
    velpic_groups = entity_stats(base, "velpic", "target", "group")
    assert users["duplicates"] == 0 and velpic_groups["duplicates"] == 0

    second = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
    assert second.returncode == 0, second.stdout + second.stderr
    assert entity_stats(base, "velpic", "target", "user") == users
    assert entity_stats(base, "velpic", "target", "group") == velpic_groups


def test_velpic_groups_users_memberships_and_schedules_arrive_in_anewspring(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    plan = PLANS / "velpic-to-anewspring.toml"
    env = write_env(sandbox, tmp_path / "sandbox.env")
    first = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Traceback" not in first.stderr

    base = sandbox.base_url
    src_groups = records(base, "velpic", "source", "group")
    groups = {g["id"]: g for g in records(base, "anewspring", "target", "group")}
    assert set(groups) == {f"VG{g['id']}" for g in src_groups}
    for g in src_groups:
        assert (groups[f"VG{g['id']}"]["name"], groups[f"VG{g['id']}"]["type"]) == (
            g["name"].strip(),
            "student",
        )

    everyone = records(base, "velpic", "source", "user")  # active or Not Current: every one is carried
    target = {u["id"]: u for u in records(base, "anewspring", "target", "user")}
    assert len(target) == len(everyone) > 250
    for u in everyone:
        t = target[u["employeeNumber"]]
        assert t["login"] == u["userName"]
        assert t["firstName"] == u["firstName"].strip()
        assert t["lastName"] == u["lastName"].strip()
        assert t["email"] == u["emailAddress"].strip().lower()
        assert t["telephoneNumber"] == u["phoneNumber"]
        assert t["cellPhoneNumber"] == u["mobileNumber"]
        assert sorted(set(t["roles"])) == sorted({VELPIC_TO_ANS_ROLES[r] for r in u["roles"]})
        assert t["active"] is (u["clientStatusId"] == 56)
    assert_crosswalk_carries_keys(  # each crosswalk row (Velpic id → aNewSpring ID) on the user by its ID
        crosswalk(plan, tmp_path, "users"),
        everyone,
        target.values(),
        source_key=lambda u: u["employeeNumber"],
        target_key=lambda u: u["id"],
    )

    # memberships: every trainee is in the group made from their first Velpic group
    members: dict[str, set[str]] = {
        gid: {m["id"] for m in _anewspring(sandbox, f"getGroupUsers/{urllib.parse.quote(gid)}")["users"]}
        for gid in groups
    }
    want: dict[str, set[str]] = {gid: set() for gid in groups}
    for u in everyone:
        if 6 in u["roles"] and u["groups"]:
            want[f"VG{u['groups'][0]['id']}"].add(u["employeeNumber"])
    assert members == want and sum(map(len, want.values())) > 200

    # subscriptions: one per schedule that is not cancelled, to the course of the lesson's name, from its date
    course_id = {c["uid"]: c["id"] for c in records(base, "anewspring", "target", "course")}
    course_of_name = {c["name"]: c["id"] for c in records(base, "anewspring", "target", "course")}
    user_id = {u["uid"]: u["id"] for u in target.values()}
    emp_of = {u["id"]: u["employeeNumber"] for u in everyone}
    lesson_name = {x["lessonId"]: x["name"] for x in records(base, "velpic", "source", "lesson")}
    expected = {
        (emp_of[s["userId"]], course_of_name[lesson_name[s["lessonId"]]]): s["startDate"][:10]
        for s in records(base, "velpic", "source", "lesson_schedule")
        if s["status"] != "cancelled" and s["userId"] in emp_of
    }
    got = {
        (user_id[s["user"]], course_id[s["course"]]): s["startDateTime"][:10]
        for s in records(base, "anewspring", "target", "subscription")
    }
    assert got == expected and len(got) > 100

    stats = {e: entity_stats(base, "anewspring", "target", e) for e in ("user", "group", "subscription")}
    assert all(s["duplicates"] == 0 for s in stats.values())

    second = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
    assert second.returncode == 0, second.stdout + second.stderr
    assert {e: entity_stats(base, "anewspring", "target", e) for e in stats} == stats
