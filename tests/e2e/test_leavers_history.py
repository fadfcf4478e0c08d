"""Leavers keep their learning history on the routes into Velpic that carry completions, whatever status the
target gives a user first: a completion is recorded by the learner (``manuallyCompletedByUserId``), who must be
an active user of the account, so a learner the target holds Not Current before the run, or one the import
creates so (``velpic.created_status=not_current``: the document does not say), is made Active before its
history goes in (``active_for_history``) and gets its own status after it (``user_status``). Through the real
CLI on the sandbox (accessplanit-to-velpic): every completed booking is a completed schedule, no record is
rejected, and each user ends with its source's status."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, records, run_plan, write_env

TIME_SCALE = "200"
STATUS = {"Active": 56, "Inactive": 57}
_REJECTED = re.compile(r"^\s*(\w+)\s+done\s.*rejected\s+(\d+)\s*$", re.M)


def _velpic(base: str, key: str, path: str, body: Any) -> Any:
    request = urllib.request.Request(
        f"{base}/velpic/api/v2{path}",
        data=json.dumps(body).encode(),
        headers={"AccessKey": key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        raw = answer.read()
        return json.loads(raw) if raw else None


def _held_not_current(sb: SandboxThread, people: list[dict[str, Any]]) -> None:
    """``people`` already on the Velpic target before the run (same e-mail), each made Not Current."""
    key = sb.sandbox.env()["VELPIC_TARGET_ACCESS_KEY"]
    for person in people:
        body = {"firstName": "Was", "lastName": "Here", "emailAddress": person["Email"].strip().lower()}
        made = _velpic(sb.base_url, key, "/user", body | {"sendWelcomeEmail": False})
        _velpic(sb.base_url, key, f"/user/{made['id']}/inactivate", {})


@pytest.mark.parametrize("created_status", ["active", "not_current"])
def test_every_learner_keeps_its_completions_and_ends_with_its_status(
    tmp_path: Path, created_status: str
) -> None:
    plan = PLANS / "accessplanit-to-velpic.toml"
    config = SandboxConfig(
        seed=23,
        scale=80,
        platforms=("accessplanit", "velpic"),
        default_limits=False,
        time_scale=float(TIME_SCALE),
        options={"velpic.created_status": created_status},
    )
    with SandboxThread(config) as sb:
        base = sb.base_url
        users = {u["ID"]: u for u in records(base, "accessplanit", "source", "user") if u["Status"] in STATUS}
        completed = [
            b
            for b in records(base, "accessplanit", "source", "usercoursedate")
            if b["Status"] == "Completed" and b["UserID"] in users
        ]
        learners = {b["UserID"] for b in completed}
        emails = [u["Email"].strip().lower() for u in users.values()]
        unique = [u for u in users.values() if emails.count(u["Email"].strip().lower()) == 1]
        # learners with completions the target already holds Not Current: leavers and active ones alike
        held = [u for u in unique if u["ID"] in learners and u["Status"] == "Inactive"][:3]
        held += [u for u in unique if u["ID"] in learners and u["Status"] == "Active"][:3]
        assert len(held) == 6
        _held_not_current(sb, held)
        env = write_env(sb, tmp_path / "sandbox.env")

        done = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
        assert done.returncode == 0, done.stdout + done.stderr
        rejected = {m[1]: int(m[2]) for m in _REJECTED.finditer(done.stdout)}
        assert rejected and set(rejected.values()) == {0}, done.stdout

        target = {u["emailAddress"]: u for u in records(base, "velpic", "target", "user")}
        schedules = records(base, "velpic", "target", "lesson_schedule")
    assert any(u["Status"] == "Inactive" for u in users.values() if u["ID"] in learners)  # leavers' history
    by_user = {u["ID"]: target[u["Email"].strip().lower()] for u in users.values()}
    completions = {(s["userId"], s["lessonCompletedDate"]) for s in schedules if s["status"] == "completed"}
    for booking in completed:
        user = by_user[booking["UserID"]]
        assert (user["id"], booking["CompletedDate"] + ".000Z") in completions, booking
    for source_id, user in by_user.items():
        assert user["clientStatusId"] == STATUS[users[source_id]["Status"]], (users[source_id], user)
