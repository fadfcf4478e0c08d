"""A journal that lost its -wal is refused, never taken for a new journal: a run killed with -9 early, its
journal's -wal deleted, and the next run (and `migrator status`) says what happened and what to do, and sends
nothing — where it used to start an empty journal and create every group again."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from tests.e2e.helpers import PLANS, entity_stats, get_json, migrator, run_plan, start_run, write_env
from tests.e2e.journal_watch import SLOW_WRITES, wait_for_a_sent_batch

PLAN = PLANS / "velpic-to-velpic.toml"


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(SLOW_WRITES) as sb:
        yield sb


def _writes(sb: SandboxThread) -> int:
    return sum(
        r["count"] for r in get_json(f"{sb.base_url}/_sandbox/stats")["requests"] if r["method"] != "GET"
    )


def test_a_journal_whose_wal_was_deleted_is_refused(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sb.env")
    journal = tmp_path / "journal.sqlite"
    first = start_run(PLAN, tmp_path, env, quiet=True)
    wait_for_a_sent_batch(first, journal)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=60)
    Path(f"{journal}-wal").unlink()
    writes = _writes(sandbox)

    again = run_plan(PLAN, tmp_path, env)
    assert again.returncode == 1, again.stdout + again.stderr
    assert f"the journal {journal} has lost its write-ahead log: journal.sqlite-wal is missing" in again.stderr
    assert "--fresh" in again.stderr and "Traceback" not in again.stderr
    assert _writes(sandbox) == writes  # nothing sent again
    assert entity_stats(sandbox.base_url, "velpic", "target", "group")["duplicates"] == 0

    status = migrator("status", str(PLAN), "--journal", str(journal), cwd=tmp_path)
    assert status.returncode == 1 and "has lost its write-ahead log" in status.stderr, status.stderr
