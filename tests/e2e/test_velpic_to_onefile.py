"""plans/velpic-to-onefile.toml end to end: Velpic groups found as OneFile classrooms and placements (by name),
supervisors → assessors, trainees → learners with ClassroomID/PlacementID through the crosswalk and the default
assessor; learners in no group are dead letters naming the missing mandatory fields (no request sent); the
300/minute budget is kept; a second run writes nothing."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.journal import Journal
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.crosswalk_check import assert_crosswalk_carries_keys, crosswalk
from tests.e2e.helpers import PLANS, entity_stats, get_json, records, run_plan, write_env

PLAN = PLANS / "velpic-to-onefile.toml"
TIME_SCALE = 40.0
ORGANISATION = 10005740
DEFAULT_ASSESSOR = 10122762


@pytest.fixture(scope="module")
def sandbox(sandbox_profile: str) -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=9, scale=300, time_scale=TIME_SCALE, platforms=("onefile", "velpic"), profile=sandbox_profile
    )
    with SandboxThread(config) as sb:
        yield sb


def _remove_from_groups(sandbox: SandboxThread, count: int) -> set[str]:
    """Arrange: take a few active trainees out of their Velpic group (Velpic's own remove_members call)."""
    env = sandbox.sandbox.env()
    users = records(sandbox.base_url, "velpic", "source", "user")
    chosen = [u for u in users if u["roles"] == [6] and u["clientStatusId"] == 56 and u["groups"]][:count]
    for u in chosen:
        req = urllib.request.Request(
            f"{env['VELPIC_BASE_URL']}/group/{u['groups'][0]['id']}/remove_members",
            data=json.dumps({"userIds": [u["id"]]}).encode(),
            headers={"AccessKey": env["VELPIC_SOURCE_ACCESS_KEY"], "Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(req, timeout=30).close()
    return {str(u["id"]) for u in chosen}


def test_users_arrive_as_assessors_and_learners_and_groupless_learners_are_dead_letters(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    groupless = _remove_from_groups(sandbox, 3)
    env = write_env(sandbox, tmp_path / "sandbox.env")
    first = run_plan(PLAN, tmp_path, env, "--time-scale", str(TIME_SCALE))
    assert first.returncode == 3, first.stdout + first.stderr  # done, with rejected records
    assert "Traceback" not in first.stderr

    base = sandbox.base_url
    classroom_of = {c["Name"]: c["ID"] for c in records(base, "onefile", "target", "classroom")}
    placement_of = {p["Name"]: p["ID"] for p in records(base, "onefile", "target", "placement")}
    group_name = {g["id"]: g["name"] for g in records(base, "velpic", "source", "group")}
    everyone = records(base, "velpic", "source", "user")  # active or Not Current: every one is carried
    supervisors = [u for u in everyone if {5, 8} & set(u["roles"])]  # SUPERVISOR, INSTRUCTOR: assessors
    trainees = [u for u in everyone if 6 in u["roles"] and str(u["id"]) not in groupless]
    target = {u["MISID"]: u for u in records(base, "onefile", "target", "user")}
    assert len(target) == 3 + len(supervisors) + len(trainees) > 200
    for u in supervisors + trainees:
        t = target[u["employeeNumber"]]
        assert t["OrganisationID"] == ORGANISATION
        assert t["FirstName"] == u["firstName"].strip()
        assert t["LastName"] == u["lastName"].strip()
        assert t["Email"] == u["emailAddress"].strip().lower()
        assert t["MobileNumber"] == u["mobileNumber"]
        assert t["Telephone"] == u["phoneNumber"]
    for u in supervisors + trainees:
        assert target[u["employeeNumber"]]["Archived"] is (u["clientStatusId"] == 57)
    for step, sources in (("assessors", [u for u in everyone if 5 in u["roles"]]), ("learners", trainees)):
        assert_crosswalk_carries_keys(  # each crosswalk row on the OneFile user with the source's MISID
            crosswalk(PLAN, tmp_path, step),
            sources,
            target.values(),
            source_key=lambda u: u["employeeNumber"],
            target_key=lambda u: u["MISID"],
            target_id="ID",
        )
    for u in supervisors:
        assert target[u["employeeNumber"]]["Role"] == 5
    # a learner's assessor: its first group's first supervisor (tests/e2e/test_onefile_assessors.py), else the
    # default one
    by_id = {u["id"]: u for u in everyone}
    supervising: dict[int, list[int]] = {}
    for u in everyone:
        for ref in u["groupsSupervised"]:
            supervising.setdefault(ref["id"], []).append(u["id"])
    for u in trainees:
        t = target[u["employeeNumber"]]
        name = group_name[u["groups"][0]["id"]]
        others = sorted(i for i in supervising.get(u["groups"][0]["id"], ()) if i != u["id"])
        first = by_id[others[0]] if others else None
        want = (
            target[first["employeeNumber"]]["ID"]
            if first and {5, 8} & set(first["roles"])
            else DEFAULT_ASSESSOR
        )
        assert (t["Role"], t["DefaultAssessorID"]) == (1, want)
        assert (t["ClassroomID"], t["PlacementID"]) == (classroom_of[name], placement_of[name])

    # the learners in no group: dead letters with the reason, never sent to OneFile
    journal = Journal.open(tmp_path / "journal.sqlite", "velpic-to-onefile")
    try:
        dead = {d.source_key: d for d in journal.dead_letters("learners")}
    finally:
        journal.close()
    assert set(dead) == groupless
    for letter in dead.values():
        assert letter.reason == (
            "a OneFile Learner (Role 1) needs DefaultAssessorID, ClassroomID, PlacementID; "
            "missing: ClassroomID, PlacementID"
        )
        assert letter.status is None  # refused before any request
    statuses = get_json(f"{base}/_sandbox/stats")["statuses"]["onefile"]
    # no 400: the rejected learners were never sent (a 204 is a search that found no such user: each learner
    # is looked up before it is created, so one already on OneFile is linked, not created twice)
    assert set(statuses) <= {"200", "204"}
    assert get_json(f"{base}/_sandbox/stats")["rate_limited"] == 0

    users = entity_stats(base, "onefile", "target", "user")
    assert users["duplicates"] == 0 and users["creates"] == len(supervisors) + len(trainees)

    # a second run writes nothing (the dead letters stay dead letters until retried)
    second = run_plan(PLAN, tmp_path, env, "--time-scale", str(TIME_SCALE))
    assert second.returncode in (0, 3), second.stdout + second.stderr
    assert entity_stats(base, "onefile", "target", "user") == users
