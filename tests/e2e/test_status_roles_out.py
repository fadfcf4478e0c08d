"""Users leave Velpic with their status and their roles, on every route out of it, end to end over the sandbox:

- Velpic -> accessplanit: every user, active or Not Current, with ``Status`` Active / Inactive and the
  ``MainRoleID`` of the plan's table;
- Velpic -> OneFile: every user a OneFile role can hold, the Not Current ones archived; supervisors and
  instructors are assessors (one who is both is one assessor), trainees learners; ADMIN / OWNER / EDITOR are not
  held. Archive answers are lost on purpose, and a second archive is refused (``archive_again=refuse``): the
  status steps end with no duplicate, no dead letter and the right state for every user;
- Velpic -> aNewSpring: every user, ``active`` false for the Not Current ones, roles through the table.

The old plans read active users only (Velpic's default), so each of these tests fails on them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.journal import Journal
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, entity_stats, get_json, records, run_plan, write_env

TIME_SCALE = "200"
ACTIVE, NOT_CURRENT = 56, 57

#: the plans' tables, restated: what each Velpic role must become
APIT_MAIN_ROLE = {
    3: "Administrator",
    7: "Administrator",
    5: "Manager",
    8: "Trainer",
    6: "Delegate",
    4: "Delegate",
}
ANS_ROLES = {3: "administrator", 4: "designer", 5: "teacher", 6: "student", 7: "administrator", 8: "teacher"}


def _users(base: str) -> list[dict[str, Any]]:
    users = records(base, "velpic", "source", "user")
    statuses = {u["clientStatusId"] for u in users}
    assert statuses == {ACTIVE, NOT_CURRENT}, statuses  # the seed holds users of both
    return users


def _run(plan: Path, tmp: Path, env: Path, *extra: str) -> int:
    done = run_plan(plan, tmp, env, "--time-scale", TIME_SCALE, *extra)
    assert done.returncode in (0, 3), done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.returncode


def _dead(tmp: Path, plan_name: str, step: str) -> dict[str, str]:
    journal = Journal.open(tmp / "journal.sqlite", plan_name)
    try:
        return {d.source_key: d.reason for d in journal.dead_letters(step)}
    finally:
        journal.close()


# -- accessplanit ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def apit_sandbox(sandbox_profile: str) -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=21,
        scale=200,
        platforms=("velpic", "accessplanit"),
        default_limits=False,
        time_scale=float(TIME_SCALE),
        profile=sandbox_profile,
    )
    with SandboxThread(config) as sb:
        yield sb


def test_velpic_to_accessplanit_carries_every_user_with_status_and_main_role(
    apit_sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = write_env(apit_sandbox, tmp_path / "sandbox.env")
    assert _run(PLANS / "velpic-to-accessplanit.toml", tmp_path, env) == 0
    base = apit_sandbox.base_url
    source = _users(base)
    target = {u["ExternalID"]: u for u in records(base, "accessplanit", "target", "user")}
    assert len(target) == len(source)
    for u in source:
        t = target[f"velpic-user-{u['id']}"]
        assert t["Status"] == ("Active" if u["clientStatusId"] == ACTIVE else "Inactive"), u["id"]
        assert t["MainRoleID"] == APIT_MAIN_ROLE[u["roles"][0]], u["id"]
    assert entity_stats(base, "accessplanit", "target", "user")["duplicates"] == 0


# -- OneFile --------------------------------------------------------------------------------------------------
ONEFILE_PLAN = PLANS / "velpic-to-onefile.toml"
#: every Archive / Unarchive may lose its answer after the change was made
LOST_STATUS_ANSWERS = (
    "onefile/User/*/Archive:methods=POST,lose_rate=0.5;onefile/User/*/Unarchive:methods=POST,lose_rate=0.5"
)


@pytest.fixture(scope="module")
def onefile_sandbox(sandbox_profile: str) -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=9,
        scale=300,
        time_scale=float(TIME_SCALE),
        platforms=("onefile", "velpic"),
        default_limits=False,
        faults=LOST_STATUS_ANSWERS,
        options={"onefile.archive_again": "refuse"},
        profile=sandbox_profile,
    )
    with SandboxThread(config) as sb:
        yield sb


def test_velpic_to_onefile_archives_not_current_users_once_through_lost_answers(
    onefile_sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = write_env(onefile_sandbox, tmp_path / "sandbox.env")
    _run(ONEFILE_PLAN, tmp_path, env)
    base = onefile_sandbox.base_url
    source = _users(base)
    target = records(base, "onefile", "target", "user")
    by_key = {(t["MISID"], t["Role"]): t for t in target if t.get("MISID")}
    assert entity_stats(base, "onefile", "target", "user")["duplicates"] == 0
    assert len(by_key) == len([t for t in target if t.get("MISID")])  # one user per (person, OneFile role)

    learners_dead = _dead(tmp_path, "velpic-to-onefile", "learners")
    expected: dict[tuple[str, int], bool] = {}
    for u in source:
        archived = u["clientStatusId"] == NOT_CURRENT
        if {5, 8} & set(u["roles"]):
            expected[(u["employeeNumber"], 5)] = archived
        if 6 in u["roles"] and str(u["id"]) not in learners_dead:
            expected[(u["employeeNumber"], 1)] = archived
    assert any(expected.values()) and not all(expected.values())
    assert {k: by_key[k]["Archived"] for k in expected} == expected
    # only users in no Velpic group are dead letters (a learner needs a classroom), in both steps that read them
    assert all(not u["groups"] for u in source if str(u["id"]) in learners_dead)
    assert set(_dead(tmp_path, "velpic-to-onefile", "learners_status")) == set(learners_dead)
    for step in ("assessors", "instructors", "assessors_status", "instructors_status"):
        assert _dead(tmp_path, "velpic-to-onefile", step) == {}, step
    # answers were lost, and no second archive was ever refused (no 400)
    stats = get_json(f"{base}/_sandbox/stats")
    assert sum(stats["faults"].values()) > 0, stats["faults"]
    assert "400" not in stats["statuses"]["onefile"]

    # a second run changes nothing
    before = entity_stats(base, "onefile", "target", "user")
    _run(ONEFILE_PLAN, tmp_path, env)
    assert entity_stats(base, "onefile", "target", "user") == before


# -- aNewSpring -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ans_sandbox(sandbox_profile: str) -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=13,
        scale=200,
        time_scale=float(TIME_SCALE),
        platforms=("anewspring", "velpic"),
        profile=sandbox_profile,
    )
    with SandboxThread(config) as sb:
        yield sb


def test_velpic_to_anewspring_carries_every_user_active_or_not_with_roles(
    ans_sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = write_env(ans_sandbox, tmp_path / "sandbox.env")
    _run(PLANS / "velpic-to-anewspring.toml", tmp_path, env)
    base = ans_sandbox.base_url
    source = _users(base)
    target = {u["id"]: u for u in records(base, "anewspring", "target", "user")}
    assert len(target) == len(source)
    for u in source:
        t = target[u["employeeNumber"]]
        assert t["active"] is (u["clientStatusId"] == ACTIVE), u["id"]
        assert sorted(set(t["roles"])) == sorted({ANS_ROLES[r] for r in u["roles"]}), u["id"]
    assert entity_stats(base, "anewspring", "target", "user")["duplicates"] == 0
