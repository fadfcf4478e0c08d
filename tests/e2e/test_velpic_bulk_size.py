"""A Velpic import larger than the platform takes, over real HTTP.

The document states no limit on ``bulkUserImport``'s size, nor that there is none: the sandbox takes any
(``velpic.bulk_max_users=0``) or refuses an import of more users whole, naming no row (``=N``). A bulk step
sends the largest batch the catalog allows when its plan names none (500); a batch refused whole is halved and
each half sent again until Velpic takes it. Every user lands once and nobody is rejected, in a clean run,
with answers lost, and across ``kill -9``; the imports served stay near 2·records/N, where one by one would be
one per record.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PEOPLE_TO_VELPIC, entity_stats, get_json, records, run_plan, start_run, write_env

PEOPLE = 300
TAKES = 40


def _sandbox(takes: int, faults: str = "") -> SandboxThread:
    options = {"velpic.bulk_max_users": takes}
    config = SandboxConfig(seed=23, scale=20, platforms=("velpic",), options=options, faults=faults)
    return SandboxThread(config)


def _plan(tmp: Path) -> Path:
    export = tmp / "export"
    export.mkdir()
    rows = "".join(f"person{n}@example.com,First{n},Last{n}\n" for n in range(PEOPLE))
    (export / "people.csv").write_text("Email,First,Last\n" + rows)
    plan = tmp / "plan.toml"
    plan.write_text(PEOPLE_TO_VELPIC)
    return plan


def _imports(base: str) -> int:
    """The ``bulkUserImport`` calls the sandbox served."""
    stats = get_json(base + "/_sandbox/stats")
    return sum(
        r["count"]
        for r in stats["requests"]
        if r["platform"] == "velpic" and r["route"].endswith("bulkUserImport")
    )


def _imported(base: str) -> dict[str, int]:
    """How many target users hold each of the export's addresses."""
    counts: dict[str, int] = {}
    for user in records(base, "velpic", "target", "user"):
        email = str(user.get("emailAddress") or "")
        if email.startswith("person"):
            counts[email] = counts.get(email, 0) + 1
    return counts


def _dead_letters(tmp: Path) -> list[Any]:
    with sqlite3.connect(tmp / "journal.sqlite") as conn:
        return conn.execute("SELECT source_key, reason FROM dead_letters").fetchall()


def _every_person_once(base: str, tmp: Path) -> None:
    assert _imported(base) == {f"person{n}@example.com": 1 for n in range(PEOPLE)}
    assert entity_stats(base, "velpic", "target", "user")["duplicates"] == 0
    assert _dead_letters(tmp) == []


def test_an_import_larger_than_velpic_takes_is_halved_until_it_is_taken(tmp_path: Path) -> None:
    with _sandbox(TAKES) as sb:
        plan = _plan(tmp_path)
        done = run_plan(plan, tmp_path, write_env(sb, tmp_path / "sb.env"))
        assert done.returncode == 0, done.stdout + done.stderr
        _every_person_once(sb.base_url, tmp_path)
        # 300 → 150 → 75 → 38 and 37: 1 + 2 + 4 + 8 imports; one by one after the first refusal would be 301
        assert _imports(sb.base_url) == 15


def test_without_a_limit_the_plan_without_a_batch_sends_one_import(tmp_path: Path) -> None:
    with _sandbox(0) as sb:
        plan = _plan(tmp_path)
        done = run_plan(plan, tmp_path, write_env(sb, tmp_path / "sb.env"))
        assert done.returncode == 0, done.stdout + done.stderr
        _every_person_once(sb.base_url, tmp_path)
        assert _imports(sb.base_url) == 1  # the batch is the most the catalog allows: 500


def test_halving_with_answers_lost_writes_every_person_once(tmp_path: Path) -> None:
    with _sandbox(TAKES, faults="velpic/bulkUserImport:lose_rate=0.3") as sb:
        plan = _plan(tmp_path)
        done = run_plan(plan, tmp_path, write_env(sb, tmp_path / "sb.env"))
        assert done.returncode == 0, done.stdout + done.stderr
        _every_person_once(sb.base_url, tmp_path)
        assert get_json(sb.base_url + "/_sandbox/stats")["faults"], "no answer was lost"


def test_halving_killed_and_resumed_writes_every_person_once(tmp_path: Path) -> None:
    with _sandbox(TAKES, faults="velpic/bulkUserImport:latency=40ms") as sb:
        plan = _plan(tmp_path)
        env = write_env(sb, tmp_path / "sb.env")
        kills = 0
        for served in (3, 8, 12):  # killed after the sandbox served that many imports of the halving
            proc = start_run(plan, tmp_path, env, quiet=True)
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if _imports(sb.base_url) >= served:
                    os.kill(proc.pid, signal.SIGKILL)
                    kills += 1
                    break
                time.sleep(0.005)
            proc.wait(timeout=60)
        assert kills >= 2, f"only {kills} kills landed while the batch was halved"
        done = run_plan(plan, tmp_path, env)
        assert done.returncode == 0, done.stdout + done.stderr
        _every_person_once(sb.base_url, tmp_path)
