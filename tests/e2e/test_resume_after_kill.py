"""Kill -9 of the real `migrator run` subprocess at 10 random points, each followed by a resumed run: the
final target equals what a single run gives, with 0 duplicates and 0 missing — for a create-only target
(Velpic POST /group and POST /user, with responses lost by the sandbox after the write took effect) and for an
upsert target (accessplanit `$upsert`)."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import (
    VELPIC_TO_APIT,
    VELPIC_TO_VELPIC,
    entity_stats,
    records,
    run_plan,
    start_run,
    write_env,
)

CREATE_ONLY = (
    """
[plan]
name = "kill-create-only"
"""
    + VELPIC_TO_VELPIC
    + """concurrency = 6
[steps.groups]
read  = { from = "source", entity = "group", page_size = 5 }
write = { to = "target", entity = "group", mode = "create", match = "name" }
map = { name = "name", description = "'g' + id" }
[steps.users]
read  = { from = "source", entity = "user", page_size = 20, filter = { activeValue = "all" } }
write = { to = "target", entity = "user", mode = "create", match = "emailAddress" }
map.firstName = "firstName"
map.lastName = "lastName"
map.emailAddress = "emailAddress | lower"
map.employeeNumber = "employeeNumber"
map.roles = [6]
map.groups = "groups.id -> groups | as_object('id')"
map.sendWelcomeEmail = false
"""
)

UPSERT = (
    """
[plan]
name = "kill-upsert"
"""
    + VELPIC_TO_APIT
    + """budget = "100000/hour"
concurrency = 6
[steps.companies]
read  = { from = "velpic", entity = "group", page_size = 5 }
write = { to = "apit", entity = "company", mode = "upsert", match = "ExternalID" }
map = { Name = "name", ExternalID = "'vg-' + id" }
[steps.users]
read  = { from = "velpic", entity = "user", page_size = 20, filter = { activeValue = "all" } }
write = { to = "apit", entity = "user", mode = "upsert", match = "Email" }
map.Forenames = "firstName | trim"
map.Surname = "lastName | trim"
map.Email = "emailAddress | lower"
map.ExternalID = "'vu-' + id"
map.MainCompanyID = "groups.0.id -> companies"
"""
)

FAULTS = (
    "velpic/user:methods=POST,latency=15ms,lose_rate=0.08;"
    "velpic/group:methods=POST,latency=15ms,lose_rate=0.15;"
    "accessplanit:methods=POST,latency=15ms,lose_rate=0.08"
)
SCALE = 240


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=23, scale=SCALE, platforms=("velpic", "accessplanit"), default_limits=False, faults=FAULTS
    )
    with SandboxThread(config) as sb:
        yield sb


def _kill_loop(
    plan: Path, tmp: Path, env: Path, count_target: Callable[[], int], total: int, kills: int
) -> int:
    """Start the run, SIGKILL it once the target holds a random share of the records; repeat. Returns kills."""
    rng = random.Random(4242)
    points = sorted(rng.uniform(0.05, 0.95) for _ in range(kills))
    done_kills = 0
    for share in points:
        proc = start_run(plan, tmp, env, quiet=True)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if count_target() >= share * total:
                os.kill(proc.pid, signal.SIGKILL)
                done_kills += 1
                break
            time.sleep(0.005)
        proc.wait(timeout=60)
    return done_kills


def _users_by_email(base: str) -> dict[str, dict]:
    return {u["emailAddress"].lower(): u for u in records(base, "velpic", "source", "user")}


def test_create_only_target_survives_ten_kills(sandbox: SandboxThread, tmp_path: Path) -> None:
    base = sandbox.base_url
    env = write_env(sandbox, tmp_path / "sb.env")
    plan = tmp_path / "plan.toml"
    plan.write_text(CREATE_ONLY)
    source = _users_by_email(base)
    total = len(source) + len(records(base, "velpic", "source", "group"))

    def on_target() -> int:
        s = entity_stats(base, "velpic", "target", "user")["count"]
        return s + entity_stats(base, "velpic", "target", "group")["count"]

    kills = _kill_loop(plan, tmp_path, env, on_target, total, 10)
    assert kills >= 8, f"only {kills} kills landed mid-run"
    final = run_plan(plan, tmp_path, env)
    assert final.returncode == 0, final.stdout + final.stderr

    users = entity_stats(base, "velpic", "target", "user")
    groups = entity_stats(base, "velpic", "target", "group")
    assert users["duplicates"] == 0 and groups["duplicates"] == 0
    assert users["count"] == len(source)
    dst_groups = {g["id"]: g["name"] for g in records(base, "velpic", "target", "group")}
    src_groups = {g["id"]: g["name"] for g in records(base, "velpic", "source", "group")}
    assert sorted(dst_groups.values()) == sorted(src_groups.values())
    for t in records(base, "velpic", "target", "user"):
        s = source[t["emailAddress"]]
        assert (t["firstName"], t["lastName"], t["employeeNumber"]) == (
            s["firstName"],
            s["lastName"],
            s["employeeNumber"],
        )
        assert sorted(dst_groups[g["id"]] for g in t["groups"]) == sorted(
            src_groups[g["id"]] for g in s["groups"]
        )


def test_upsert_target_survives_ten_kills(sandbox: SandboxThread, tmp_path: Path) -> None:
    base = sandbox.base_url
    env = write_env(sandbox, tmp_path / "sb.env")
    plan = tmp_path / "plan.toml"
    plan.write_text(UPSERT)
    source = _users_by_email(base)
    total = len(source) + len(records(base, "velpic", "source", "group"))

    def on_target() -> int:
        return (
            entity_stats(base, "accessplanit", "target", "user")["count"]
            + entity_stats(base, "accessplanit", "target", "company")["count"]
        )

    kills = _kill_loop(plan, tmp_path, env, on_target, total, 10)
    assert kills >= 8, f"only {kills} kills landed mid-run"
    final = run_plan(plan, tmp_path, env)
    assert final.returncode == 0, final.stdout + final.stderr

    users = entity_stats(base, "accessplanit", "target", "user")
    companies = entity_stats(base, "accessplanit", "target", "company")
    assert users["duplicates"] == 0 and companies["duplicates"] == 0
    assert users["count"] == len(source)
    src_groups = {g["id"]: g for g in records(base, "velpic", "source", "group")}
    comp = {c["ID"]: c for c in records(base, "accessplanit", "target", "company")}
    assert sorted(c["ExternalID"] for c in comp.values()) == sorted(f"vg-{gid}" for gid in src_groups)
    for t in records(base, "accessplanit", "target", "user"):
        s = source[t["Email"]]
        assert (t["Forenames"], t["Surname"], t["ExternalID"]) == (
            s["firstName"].strip(),
            s["lastName"].strip(),
            f"vu-{s['id']}",
        )
        if s["groups"]:
            assert comp[t["MainCompanyID"]]["ExternalID"] == f"vg-{s['groups'][0]['id']}"
