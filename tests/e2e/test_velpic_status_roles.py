"""Leavers keep their status and every user their roles on the routes that write Velpic, over real HTTP.

- plans/velpic-to-velpic.toml and plans/demo.toml read users of every status: each source user is on the
  target (counted by status), the inactive ones Not Current, roles as the source's after the plan's table
  (7 OWNER → 3 ADMIN);
- the status step's answers lost half the time: no duplicate, every status right, and a re-run writes nothing;
- the status step killed (kill -9) part-way and run again: every status right, no duplicate.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.crosswalk_check import crosswalk
from tests.e2e.helpers import PLANS, entity_stats, records, run_plan, start_run, write_env

#: the plans' role table: OWNER becomes ADMIN (the target has its own owner), every other role is kept
VELPIC_ROLES = {3: 3, 4: 4, 5: 5, 6: 6, 7: 3, 8: 8}
ACTIVE, NOT_CURRENT = 56, 57


def _sandbox(faults: str = "") -> SandboxThread:
    return SandboxThread(
        SandboxConfig(seed=17, scale=300, platforms=("velpic",), default_limits=False, faults=faults)
    )


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with _sandbox() as sb:
        yield sb


def _assert_carried(sandbox: SandboxThread, plan: Path, tmp: Path) -> dict[str, Any]:
    """Every source user is on the target (through the users step's crosswalk) with its status and its roles
    after the table; the target's counts by status equal the source's. Returns the target's user stats."""
    source = {str(u["id"]): u for u in records(sandbox.base_url, "velpic", "source", "user")}
    target = {str(u["id"]): u for u in records(sandbox.base_url, "velpic", "target", "user")}
    walk = crosswalk(plan, tmp, "users")
    assert set(walk) == set(source), f"{len(set(source) - set(walk))} source users not carried"
    assert len(target) == len(source)
    statuses = Counter(u["clientStatusId"] for u in source.values())
    assert statuses[NOT_CURRENT] > 5 and statuses[ACTIVE] > 200  # the seed has leavers
    assert Counter(u["clientStatusId"] for u in target.values()) == statuses
    roles_seen: set[int] = set()
    for key, target_id in walk.items():
        src, dst = source[key], target[target_id]
        assert dst["emailAddress"] == src["emailAddress"].lower()
        assert dst["clientStatusId"] == src["clientStatusId"], (src, dst)
        assert sorted(dst["roles"]) == sorted({VELPIC_ROLES[r] for r in src["roles"]}), (src, dst)
        roles_seen.update(src["roles"])
    assert roles_seen == set(VELPIC_ROLES)  # the source holds every role, OWNER included
    stats = entity_stats(sandbox.base_url, "velpic", "target", "user")
    assert stats["duplicates"] == 0
    return stats


@pytest.mark.parametrize("plan", ["velpic-to-velpic.toml", "demo.toml"])
def test_leavers_arrive_not_current_and_roles_through_the_table(
    sandbox: SandboxThread, tmp_path: Path, plan: str
) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    done = run_plan(PLANS / plan, tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    stats = _assert_carried(sandbox, PLANS / plan, tmp_path)

    again = run_plan(PLANS / plan, tmp_path, env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert entity_stats(sandbox.base_url, "velpic", "target", "user") == stats


def test_lost_status_answers_leave_every_status_right(tmp_path: Path) -> None:
    plan = PLANS / "velpic-to-velpic.toml"
    lossy = "velpic/user/*/activate:lose_rate=0.5;velpic/user/*/inactivate:lose_rate=0.5"
    with _sandbox(lossy) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        done = run_plan(plan, tmp_path, env)
        assert done.returncode == 0, done.stdout + done.stderr
        stats = _assert_carried(sb, plan, tmp_path)
        again = run_plan(plan, tmp_path, env)
        assert again.returncode == 0, again.stdout + again.stderr
        _assert_carried(sb, plan, tmp_path)
        assert entity_stats(sb.base_url, "velpic", "target", "user") == stats


def _status_batches(journal: Path) -> int:
    if not journal.exists():
        return 0
    conn = sqlite3.connect(f"{journal.absolute().as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT count(*) FROM batches WHERE step = 'user_status'").fetchone()
        return int(row[0])
    except sqlite3.OperationalError:  # the journal is being created
        return 0
    finally:
        conn.close()


def _wait_for_status_batches(proc: Any, journal: Path, count: int) -> None:
    deadline = time.monotonic() + 120
    while _status_batches(journal) < count:
        assert proc.poll() is None, "the run ended before the test saw the status step write"
        assert time.monotonic() < deadline, "the status step journaled no batch within 120 s"
        time.sleep(0.005)


def test_status_step_killed_part_way_resumes_right(tmp_path: Path) -> None:
    plan = PLANS / "velpic-to-velpic.toml"
    slow = "velpic/user/*/inactivate:latency=40ms"  # the run is still inactivating when it is killed
    with _sandbox(slow) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        proc = start_run(plan, tmp_path, env, quiet=True)
        _wait_for_status_batches(proc, tmp_path / "journal.sqlite", 30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        source = records(sb.base_url, "velpic", "source", "user")
        target: Mapping[str, Any] = {
            u["employeeNumber"]: u for u in records(sb.base_url, "velpic", "target", "user")
        }
        leavers = [u for u in source if u["clientStatusId"] == NOT_CURRENT]
        assert any(target[u["employeeNumber"]]["clientStatusId"] == ACTIVE for u in leavers), (
            "the kill came after every status was written: the test proves nothing"
        )

        resumed = run_plan(plan, tmp_path, env)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        _assert_carried(sb, plan, tmp_path)
