"""Every user lands with its status and its roles on the routes into Velpic from OneFile and from a CSV export,
through the real CLI on the sandbox, user by user (as tests/e2e/test_velpic_status_roles.py does for Velpic ->
Velpic):

- plans/onefile-to-velpic.toml: each OneFile learner and assessor, archived ones included, is one Velpic user
  (by MISID = employee number), Not Current when archived and Active otherwise, with its role after the plan's
  table (1 Learner -> [6] TRAINEE, 5 Assessor -> [5] SUPERVISOR); the target's counts by status equal the
  source's;
- the starter of ``migrator init files velpic`` on an export with leavers and every role of its table: each
  learner is one Velpic user (by email), a leaver Not Current, with its role after the table (a missing Role:
  TRAINEE; a missing Status: Active).

A re-run changes no user."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.crosswalk_check import crosswalk
from tests.e2e.helpers import PLANS, entity_stats, migrator, records, run_plan, write_env

ACTIVE, NOT_CURRENT = 56, 57
#: the plans' tables, restated: what each source role and status must become
ONEFILE_ROLES = {1: [6], 5: [5]}
CSV_ROLES = {"Learner": 6, "Trainer": 8, "Manager": 5, "Administrator": 3}
CSV_STATUS = {"Active": ACTIVE, "Inactive": NOT_CURRENT}
TIME_SCALE = "40"  # OneFile's 300/minute, compressed


def _target_users(sb: SandboxThread) -> dict[str, dict[str, Any]]:
    return {str(u["id"]): u for u in records(sb.base_url, "velpic", "target", "user")}


def test_onefile_users_land_with_their_status_and_role(tmp_path: Path) -> None:
    plan = PLANS / "onefile-to-velpic.toml"
    config = SandboxConfig(
        seed=19, scale=200, time_scale=float(TIME_SCALE), platforms=("onefile", "velpic"), default_limits=False
    )
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        done = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
        assert done.returncode == 0, done.stdout + done.stderr
        source = [u for u in records(sb.base_url, "onefile", "source", "user") if u["Role"] in ONEFILE_ROLES]
        archived = Counter(bool(u["Archived"]) for u in source)
        assert archived[True] > 3 and archived[False] > 100  # the seed has leavers
        assert {u["Role"] for u in source} == set(ONEFILE_ROLES)
        target = _target_users(sb)
        assert len(target) == len(source)
        walks = {role: crosswalk(plan, tmp_path, step) for role, step in ((1, "learners"), (5, "assessors"))}
        for user in source:
            dst = target[walks[user["Role"]][str(user["ID"])]]
            assert dst["employeeNumber"] == user["MISID"]
            assert dst["clientStatusId"] == (NOT_CURRENT if user["Archived"] else ACTIVE), (user, dst)
            assert dst["roles"] == ONEFILE_ROLES[user["Role"]], (user, dst)
        expected = Counter(NOT_CURRENT if u["Archived"] else ACTIVE for u in source)
        assert Counter(u["clientStatusId"] for u in target.values()) == expected
        stats = entity_stats(sb.base_url, "velpic", "target", "user")
        assert stats["duplicates"] == 0

        again = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
        assert again.returncode == 0, again.stdout + again.stderr
        assert _target_users(sb) == target


def _export(folder: Path) -> list[dict[str, str]]:
    """An export of 40 learners in 3 companies: every role of the table and none, leavers and no status."""
    folder.mkdir()
    companies = [
        {
            "CompanyRef": f"CO-{i:03d}",
            "CompanyName": f"Company {i}",
            "Email": "",
            "Town": "Leeds",
            "Postcode": "",
        }
        for i in range(1, 4)
    ]
    roles = [*CSV_ROLES, ""]
    statuses = ["Active", "Inactive", "", "Active"]
    learners = [
        {
            "LearnerID": f"L{i:04d}",
            "FirstName": f"First{i}",
            "LastName": f"Last{i}",
            "Email": f"Learner.{i}@example.com",
            "Mobile": f"07700900{i:03d}",
            "JobTitle": "Operative",
            "DOB": "14/03/1990",
            "CompanyRef": companies[i % 3]["CompanyRef"],
            "Course": "Manual Handling",
            "Role": roles[i % len(roles)],
            "Status": statuses[i % len(statuses)],
        }
        for i in range(40)
    ]
    for name, rows in (("companies.csv", companies), ("learners.csv", learners)):
        with (folder / name).open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return learners


def test_csv_learners_land_with_their_status_and_role(tmp_path: Path) -> None:
    learners = _export(tmp_path / "export")
    plan = tmp_path / "files-velpic.toml"
    made = migrator("init", "files", "velpic", "--out", str(plan), cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    config = SandboxConfig(seed=19, scale=20, platforms=("velpic",), default_limits=False)
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        done = run_plan(plan, tmp_path, env, "--time-scale", "200")
        assert done.returncode == 0, done.stdout + done.stderr
        target = _target_users(sb)
        by_email = {u["emailAddress"]: u for u in target.values()}
        assert len(target) == len(by_email) == len(learners)
        walk = crosswalk(plan, tmp_path, "users")
        assert set(walk) == {learner["LearnerID"] for learner in learners}
        for learner in learners:
            dst = target[walk[learner["LearnerID"]]]
            assert dst is by_email[learner["Email"].lower()]
            assert dst["employeeNumber"] == learner["LearnerID"]
            assert dst["clientStatusId"] == CSV_STATUS.get(learner["Status"], ACTIVE), (learner, dst)
            assert dst["roles"] == [CSV_ROLES.get(learner["Role"], 6)], (learner, dst)
        assert {u["clientStatusId"] for u in target.values()} == {ACTIVE, NOT_CURRENT}
        assert {r for u in target.values() for r in u["roles"]} == set(CSV_ROLES.values())
        assert entity_stats(sb.base_url, "velpic", "target", "user")["duplicates"] == 0

        again = run_plan(plan, tmp_path, env, "--time-scale", "200")
        assert again.returncode == 0, again.stdout + again.stderr
        assert _target_users(sb) == target
