"""plans/velpic-to-accessplanit.toml and plans/accessplanit-to-velpic.toml end to end over the sandbox.

Velpic -> accessplanit: groups -> companies, every user (active or not) -> users (with their first group's
company), completed lesson schedules (a nested read per user) -> completed bookings on the course date the
lesson table names.
accessplanit -> Velpic: companies -> groups, active users -> users (mergeType email) in their company's group,
bookings -> lesson schedules through the course -> lesson table, completed ones completed with their date.
Every mapped field of every record is checked on the target, links through the crosswalk, 0 duplicates, and a
second run writes nothing.

The plans keep their documented 5000/hour accessplanit budgets: the sandbox runs at ``TIME_SCALE`` (without
its own limits) and ``migrator run --time-scale`` scales the client's budgets to match."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.crosswalk_check import assert_crosswalk_carries_keys, crosswalk
from tests.e2e.helpers import PLANS, entity_stats, records, run_plan, write_env

TIME_SCALE = "200"


@pytest.fixture(scope="module")
def sandbox(sandbox_profile: str) -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=7,
        scale=200,
        platforms=("velpic", "accessplanit"),
        default_limits=False,
        time_scale=float(TIME_SCALE),
        profile=sandbox_profile,
    )
    with SandboxThread(config) as sb:
        yield sb


def _table(name: str, key: str, value: str) -> dict[str, str]:
    with (PLANS / "data" / name).open(encoding="utf-8", newline="") as fh:
        return {row[key]: row[value] for row in csv.DictReader(fh)}


def _stats(base: str, platform: str, entities: tuple[str, ...]) -> dict[str, Any]:
    return {e: entity_stats(base, platform, "target", e) for e in entities}


def _run(plan: Path, tmp: Path, env: Path, *, rejected: bool = False) -> dict[str, int]:
    """Run the plan; the rejected count per step from the summary (exit 3 = done with dead letters)."""
    done = run_plan(plan, tmp, env, "--time-scale", TIME_SCALE)
    assert done.returncode == (3 if rejected else 0), done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return {m[1]: int(m[2]) for m in _SUMMARY.finditer(done.stdout)}


#: the plan's tables: accessplanit main role → Velpic role, accessplanit status → Velpic clientStatusId
_ROLES = {"Delegate": 6, "Trainer": 8, "Manager": 5, "Administrator": 3}
_STATUS = {"Active": 56, "Inactive": 57}

_SUMMARY = re.compile(r"^\s*(\w+)\s+done\s.*rejected\s+(\d+)\s*$", re.M)


def test_velpic_to_accessplanit(sandbox: SandboxThread, tmp_path: Path) -> None:
    plan = PLANS / "velpic-to-accessplanit.toml"
    env = write_env(sandbox, tmp_path / "sandbox.env")
    _run(plan, tmp_path, env)

    base = sandbox.base_url
    groups = records(base, "velpic", "source", "group")
    companies = {c["ExternalID"]: c for c in records(base, "accessplanit", "target", "company")}
    assert len(companies) == len(groups) > 1
    company_of = {}
    for g in groups:
        c = companies[f"velpic-group-{g['id']}"]
        assert c["Name"] == g["name"].strip()
        company_of[g["id"]] = c["ID"]

    everyone = records(base, "velpic", "source", "user")  # active or Not Current: every one is carried
    users = {u["Email"]: u for u in records(base, "accessplanit", "target", "user")}
    assert len(users) == len(everyone) > 100
    user_of = {}
    for u in everyone:
        t = users[u["emailAddress"].strip().lower()]
        assert (t["Forenames"], t["Surname"]) == (u["firstName"].strip(), u["lastName"].strip())
        assert (t["Mobile"], t["Phone"]) == (u["mobileNumber"], u["phoneNumber"])
        assert t["ExternalID"] == f"velpic-user-{u['id']}"
        assert t["MainCompanyID"] == (company_of[u["groups"][0]["id"]] if u["groups"] else None)
        user_of[u["id"]] = t["ID"]
    assert_crosswalk_carries_keys(  # each crosswalk row on the company and the user with its match key
        crosswalk(plan, tmp_path, "companies"),
        groups,
        companies.values(),
        source_key=lambda g: f"velpic-group-{g['id']}",
        target_key=lambda c: c["ExternalID"],
        target_id="ID",
    )
    assert_crosswalk_carries_keys(
        crosswalk(plan, tmp_path, "users"),
        everyone,
        users.values(),
        source_key=lambda u: u["emailAddress"].strip().lower(),
        target_key=lambda u: u["Email"],
        target_id="ID",
    )

    lesson_name = {lesson["lessonId"]: lesson["name"] for lesson in records(base, "velpic", "source", "lesson")}
    coursedate = _table("lesson_coursedate.csv", "lesson_name", "coursedate_id")
    expected = {
        (user_of[s["userId"]], coursedate[lesson_name[s["lessonId"]]]): s
        for s in records(base, "velpic", "source", "lesson_schedule")
        if s["status"] == "completed" and s["userId"] in user_of
    }
    bookings = {
        (b["UserID"], b["CourseDateID"]): b for b in records(base, "accessplanit", "target", "usercoursedate")
    }
    assert len(expected) > 20
    assert set(bookings) == set(expected)
    for key, s in expected.items():
        b = bookings[key]
        assert b["Status"] == "Completed"
        assert b["CompletedDate"] == s["lessonCompletedDate"][:19]
        assert b["BookedDate"] == s["startDate"][:19]

    entities = ("company", "user", "usercoursedate")
    before = _stats(base, "accessplanit", entities)
    assert all(s["duplicates"] == 0 for s in before.values()), before
    _run(plan, tmp_path, env)
    assert _stats(base, "accessplanit", entities) == before


def test_accessplanit_to_velpic(sandbox: SandboxThread, tmp_path: Path) -> None:
    plan = PLANS / "accessplanit-to-velpic.toml"
    env = write_env(sandbox, tmp_path / "sandbox.env")
    # every user, leavers too: every booking has its learner on the target, nothing is rejected
    rejected = _run(plan, tmp_path, env)

    base = sandbox.base_url
    companies = records(base, "accessplanit", "source", "company")
    groups = {g["name"]: g for g in records(base, "velpic", "target", "group")}
    assert len(groups) == len(companies) > 1
    group_of = {}
    for c in companies:
        g = groups[c["Name"].strip()]
        assert g["description"] == f"Migrated from accessplanit company {c['ID']}"
        group_of[c["ID"]] = g["id"]

    carried = [u for u in records(base, "accessplanit", "source", "user") if u["Status"] in _STATUS]
    assert {u["Status"] for u in carried} == set(_STATUS)  # the source has leavers
    users = {u["emailAddress"]: u for u in records(base, "velpic", "target", "user")}
    assert len(users) == len(carried) > 100
    user_of = {}
    for u in carried:
        t = users[u["Email"].strip().lower()]
        assert (t["firstName"], t["lastName"]) == (u["Forenames"].strip(), u["Surname"].strip())
        assert (t["employeeNumber"], t["mobileNumber"], t["phoneNumber"]) == (
            u["ExternalID"],
            u["Mobile"],
            u["Phone"],
        )
        assert t["roles"] == [_ROLES[u["MainRoleID"]]]
        assert t["clientStatusId"] == _STATUS[u["Status"]], u["ID"]
        assert [g["id"] for g in t["groups"]] == [group_of[u["MainCompanyID"]]]
        user_of[u["ID"]] = t["id"]
    assert_crosswalk_carries_keys(  # each crosswalk row on the target user with its email
        crosswalk(plan, tmp_path, "users"),
        carried,
        users.values(),
        source_key=lambda u: u["Email"].strip().lower(),
        target_key=lambda u: u["emailAddress"],
        source_id="ID",
    )

    lesson_of = _table("course_lesson.csv", "course_id", "lesson_id")
    bookings = [
        b
        for b in records(base, "accessplanit", "source", "usercoursedate")
        if b["Status"] in ("Booked", "Completed") and b["UserID"] in user_of
    ]
    schedules = {s["userLessonKey"]: s for s in records(base, "velpic", "target", "lesson_schedule")}
    expected = {f"{user_of[b['UserID']]}:{lesson_of[b['CourseID']]}": b for b in bookings}
    assert len(expected) == len(bookings) > 20
    assert all(
        b["UserID"] in user_of
        for b in records(base, "accessplanit", "source", "usercoursedate")
        if b["Status"] in ("Booked", "Completed")
    )
    assert set(rejected.values()) == {0}, rejected
    assert set(schedules) == set(expected)
    for key, b in expected.items():
        s = schedules[key]
        if b["Status"] == "Completed":
            assert s["status"] == "completed", key
            assert s["lessonCompletedDate"] == b["CompletedDate"] + ".000Z"
        else:
            assert s["status"] in ("scheduled", "due"), key
            assert s["startDate"] == b["BookedDate"] + ".000Z"

    entities = ("group", "user", "lesson_schedule")
    before = _stats(base, "velpic", entities)
    assert all(s["duplicates"] == 0 for s in before.values()), before
    _run(plan, tmp_path, env)  # every page is done: nothing is read, written or rejected again
    assert _stats(base, "velpic", entities) == before
