"""plans/onefile-to-velpic.toml end to end: OneFile classrooms → Velpic groups, learners and assessors → users
(bulkUserImport merged on MISID, roles through the value table), learners → group members, assessors → group
supervisors; OneFile's 300/minute budget is kept (sandbox budget on, time compressed); a second run writes
nothing."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.crosswalk_check import assert_crosswalk_carries_keys, crosswalk
from tests.e2e.helpers import PLANS, entity_stats, get_json, records, run_plan, write_env

PLAN = PLANS / "onefile-to-velpic.toml"
TIME_SCALE = 40.0  # the documented 300/minute becomes 200/second, on both sides


@pytest.fixture(scope="module")
def sandbox(sandbox_profile: str) -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=5, scale=300, time_scale=TIME_SCALE, platforms=("onefile", "velpic"), profile=sandbox_profile
    )
    with SandboxThread(config) as sb:
        yield sb


def _onefile(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    headers = {"X-TokenID": token, "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}{path}", data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw.strip().startswith((b"[", b"{")) else raw.decode()


def _attach_assessors_to_classrooms(sandbox: SandboxThread) -> dict[int, int]:
    """Arrange: give every other source assessor a ClassroomID (through OneFile's own update call)."""
    env = sandbox.sandbox.env()
    base = env["ONEFILE_BASE_URL"]
    auth = urllib.request.Request(
        f"{base}/Authentication",
        data=b"",
        headers={"X-CustomerToken": env["ONEFILE_SOURCE_CUSTOMER_TOKEN"]},
        method="POST",
    )
    with urllib.request.urlopen(auth, timeout=30) as resp:
        token = resp.read().decode().strip()
    classrooms = sorted(c["ID"] for c in records(sandbox.base_url, "onefile", "source", "classroom"))
    assessors = sorted(
        u["ID"] for u in records(sandbox.base_url, "onefile", "source", "user") if u["Role"] == 5
    )
    attached: dict[int, int] = {}
    for i, uid in enumerate(assessors[::2]):
        cid = classrooms[i % len(classrooms)]
        _onefile(base, token, "POST", f"/User/{uid}", {"ClassroomID": cid})
        attached[uid] = cid
    return attached


def test_classrooms_learners_and_assessors_arrive_with_every_mapped_field(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    attached = _attach_assessors_to_classrooms(sandbox)
    assert attached
    env = write_env(sandbox, tmp_path / "sandbox.env")
    first = run_plan(PLAN, tmp_path, env, "--time-scale", str(TIME_SCALE))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Traceback" not in first.stderr

    base = sandbox.base_url
    classrooms = {c["ID"]: c for c in records(base, "onefile", "source", "classroom")}
    groups = {g["name"]: g for g in records(base, "velpic", "target", "group")}
    caseloads = {g for g in groups if g.startswith("Learners of ")}  # tests/e2e/test_onefile_assessors.py
    assert set(groups) - caseloads == {c["Name"].strip() for c in classrooms.values()}
    for c in classrooms.values():
        assert groups[c["Name"].strip()]["description"] == f"Migrated from OneFile classroom {c['MISID']}"
    group_of = {cid: groups[c["Name"].strip()]["id"] for cid, c in classrooms.items()}
    classroom_groups = set(group_of.values())

    source = records(base, "onefile", "source", "user")
    learners = [u for u in source if u["Role"] == 1]
    assessors = [u for u in source if u["Role"] == 5]
    target = {u["employeeNumber"]: u for u in records(base, "velpic", "target", "user")}
    assert len(target) == len(learners) + len(assessors) > 200
    for u in learners + assessors:
        t = target[u["MISID"]]
        assert t["firstName"] == u["FirstName"].strip()
        assert t["lastName"] == u["LastName"].strip()
        assert t["emailAddress"] == u["Email"].strip().lower()
        assert t["mobileNumber"] == u["MobileNumber"]
        assert t["phoneNumber"] == u["Telephone"]
    for u in learners:
        t = target[u["MISID"]]
        assert t["roles"] == [6]
        assert [g["id"] for g in t["groups"] if g["id"] in classroom_groups] == [group_of[u["ClassroomID"]]]
    for u in assessors:
        t = target[u["MISID"]]
        assert t["roles"] == [5]
        want = [group_of[attached[u["ID"]]]] if u["ID"] in attached else []
        assert [g["id"] for g in t["groupsSupervised"] if g["id"] in classroom_groups] == want

    for step in ("learners", "assessors"):  # each crosswalk row on the target user with its MISID
        assert_crosswalk_carries_keys(
            crosswalk(PLAN, tmp_path, step),
            source,
            target.values(),
            source_key=lambda u: u["MISID"],
            target_key=lambda u: u["employeeNumber"],
            source_id="ID",
        )

    users = entity_stats(base, "velpic", "target", "user")
    velpic_groups = entity_stats(base, "velpic", "target", "group")
    assert users["duplicates"] == 0 and velpic_groups["duplicates"] == 0
    assert get_json(f"{base}/_sandbox/stats")["rate_limited"] == 0  # OneFile's budget was kept

    # a second run of the same plan writes nothing
    second = run_plan(PLAN, tmp_path, env, "--time-scale", str(TIME_SCALE))
    assert second.returncode == 0, second.stdout + second.stderr
    assert entity_stats(base, "velpic", "target", "user") == users
    assert entity_stats(base, "velpic", "target", "group") == velpic_groups
