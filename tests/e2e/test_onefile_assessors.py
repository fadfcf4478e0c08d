"""OneFile's assessor <-> learner links carried to Velpic by plans/onefile-to-velpic.toml, through the real CLI
on the sandbox: every assessor gets one caseload group ("Learners of <name> (OneFile assessor <ID>)") that it
alone supervises; every learner with a DefaultAssessorID is a member of its assessor's caseload (and of its
classroom's group), of no other caseload; a second run adds nothing; learners changed in OneFile and sent to
the import again by a ``--delta`` keep every membership and supervisor, with no duplicate group. The starter
of ``migrator init onefile velpic`` carries the same links."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, entity_stats, get_json, migrator, records, run_plan, write_env

PLAN = PLANS / "onefile-to-velpic.toml"
TIME_SCALE = "40"  # the documented 300/minute, compressed


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=29, scale=150, time_scale=float(TIME_SCALE), platforms=("onefile", "velpic"), default_limits=False
    )
    with SandboxThread(config) as sb:
        yield sb


def _caseload(assessor: dict[str, Any]) -> str:
    return f"Learners of {assessor['FirstName']} {assessor['LastName']} (OneFile assessor {assessor['ID']})"


def _links(sb: SandboxThread) -> dict[str, Any]:
    """What the target holds: each user's groups and supervised groups, by employee number, and the groups."""
    users = records(sb.base_url, "velpic", "target", "user")
    return {
        "groups": sorted((g["id"], g["name"]) for g in records(sb.base_url, "velpic", "target", "group")),
        "members": {u["employeeNumber"]: sorted(g["id"] for g in u["groups"]) for u in users},
        "supervised": {u["employeeNumber"]: sorted(g["id"] for g in u["groupsSupervised"]) for u in users},
    }


def _add_calls(sb: SandboxThread) -> int:
    return sum(
        r["count"]
        for r in get_json(f"{sb.base_url}/_sandbox/stats")["requests"]
        if r["platform"] == "velpic" and r["route"].endswith(("/add_members", "/add_supervisors"))
    )


def _check(sb: SandboxThread) -> dict[str, Any]:
    source = records(sb.base_url, "onefile", "source", "user")
    assessors = {u["ID"]: u for u in source if u["Role"] == 5}
    learners = [u for u in source if u["Role"] == 1]
    classrooms = {c["ID"]: c["Name"].strip() for c in records(sb.base_url, "onefile", "source", "classroom")}
    links = _links(sb)
    group_id = {name: gid for gid, name in links["groups"]}
    assert len(group_id) == len(links["groups"])  # no two groups of a name
    caseloads = {aid: group_id[_caseload(a)] for aid, a in assessors.items()}
    assert set(group_id) == {*classrooms.values(), *map(_caseload, assessors.values())}
    linked = [u for u in learners if u.get("DefaultAssessorID") is not None]
    assert len(linked) > 50 and len({u["DefaultAssessorID"] for u in linked}) > 3  # the seed links them
    for learner in linked:
        want = sorted({group_id[classrooms[learner["ClassroomID"]]], caseloads[learner["DefaultAssessorID"]]})
        assert links["members"][learner["MISID"]] == want, learner
    for aid, assessor in assessors.items():
        own = {caseloads[aid]}
        if assessor.get("ClassroomID") is not None:
            own.add(group_id[classrooms[assessor["ClassroomID"]]])
        assert links["supervised"][assessor["MISID"]] == sorted(own), assessor
        assert links["members"][assessor["MISID"]] == []
    # each caseload is supervised by its assessor alone
    supervisors: dict[int, list[str]] = {}
    for misid, groups in links["supervised"].items():
        for gid in groups:
            supervisors.setdefault(gid, []).append(misid)
    for aid, gid in caseloads.items():
        assert supervisors[gid] == [assessors[aid]["MISID"]]
    assert entity_stats(sb.base_url, "velpic", "target", "group")["duplicates"] == 0
    assert entity_stats(sb.base_url, "velpic", "target", "user")["duplicates"] == 0
    return links


def test_each_learner_joins_its_assessors_caseload_which_the_assessor_supervises(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    first = run_plan(PLAN, tmp_path, env, "--time-scale", TIME_SCALE)
    assert first.returncode == 0, first.stdout + first.stderr
    links = _check(sandbox)

    before = _add_calls(sandbox)
    again = run_plan(PLAN, tmp_path, env, "--time-scale", TIME_SCALE)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _add_calls(sandbox) == before  # a second run adds nothing
    assert _links(sandbox) == links

    # learners changed in OneFile, then a delta: the import sends them again (with their new numbers), and no
    # membership or supervisor is lost
    changed = _change_mobiles(sandbox)
    third = run_plan(PLAN, tmp_path, env, "--time-scale", TIME_SCALE, "--delta")
    assert third.returncode == 0, third.stdout + third.stderr
    target = {u["employeeNumber"]: u for u in records(sandbox.base_url, "velpic", "target", "user")}
    assert all(target[misid]["mobileNumber"] == mobile for misid, mobile in changed.items())
    assert _links(sandbox) == links


def _change_mobiles(sb: SandboxThread) -> dict[str, str]:
    """A new MobileNumber for every fifth learner with an assessor, through OneFile's own update call: MISID ->
    the new number."""
    env = sb.sandbox.env()
    base = env["ONEFILE_BASE_URL"]
    auth = urllib.request.Request(
        f"{base}/Authentication",
        data=b"",
        headers={"X-CustomerToken": env["ONEFILE_SOURCE_CUSTOMER_TOKEN"]},
        method="POST",
    )
    with urllib.request.urlopen(auth, timeout=30) as resp:
        token = resp.read().decode().strip()
    learners = [
        u
        for u in records(sb.base_url, "onefile", "source", "user")
        if u["Role"] == 1 and u.get("DefaultAssessorID") is not None
    ]
    changed: dict[str, str] = {}
    for n, learner in enumerate(sorted(learners, key=lambda u: u["ID"])[::5]):
        mobile = f"07999{n:06d}"
        update = urllib.request.Request(
            f"{base}/User/{learner['ID']}",
            data=json.dumps({"MobileNumber": mobile}).encode(),
            headers={"X-TokenID": token, "Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(update, timeout=30).close()
        changed[learner["MISID"]] = mobile
    assert changed
    return changed


def test_the_init_starter_carries_the_links_too(tmp_path: Path) -> None:
    """``migrator init onefile velpic`` writes the same caseloads and link steps: run on a fresh sandbox, every
    learner joins its assessor's caseload, which the assessor supervises."""
    plan = tmp_path / "onefile-velpic.toml"
    made = migrator("init", "onefile", "velpic", "--out", str(plan), cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    config = SandboxConfig(
        seed=29, scale=150, time_scale=float(TIME_SCALE), platforms=("onefile", "velpic"), default_limits=False
    )
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        done = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
        assert done.returncode == 0, done.stdout + done.stderr
        _check(sb)
