"""A journal is written by one run at a time: a second `migrator run` of the same journal is refused while the
first holds it (naming the first's pid and start time), `migrator status` still reads it meanwhile, the first
ends as if alone (0 duplicates), and a run killed with -9 leaves no lock behind."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from tests.e2e.helpers import PLANS, entity_stats, migrator, records, run_plan, start_run, write_env
from tests.e2e.journal_watch import SLOW_WRITES, wait_for_a_sent_batch

PLAN = PLANS / "velpic-to-velpic.toml"


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(SLOW_WRITES) as sb:
        yield sb


def _assert_exact_target(sb: SandboxThread) -> None:
    groups = entity_stats(sb.base_url, "velpic", "target", "group")
    users = entity_stats(sb.base_url, "velpic", "target", "user")
    assert groups["duplicates"] == 0 and users["duplicates"] == 0
    assert groups["count"] == len(records(sb.base_url, "velpic", "source", "group"))
    everyone = records(sb.base_url, "velpic", "source", "user")  # leavers too: the plan carries them
    assert users["count"] == len(everyone)


def test_a_second_run_of_a_journal_in_use_is_refused(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sb.env")
    journal = tmp_path / "journal.sqlite"
    first = start_run(PLAN, tmp_path, env)
    try:
        wait_for_a_sent_batch(first, journal)
        # held where it is (mid-run, the lock taken) while the second run tries: no race with its end
        os.kill(first.pid, signal.SIGSTOP)
        try:
            second = run_plan(PLAN, tmp_path, env)
            status = migrator("status", str(PLAN), "--journal", str(journal), cwd=tmp_path)
        finally:
            os.kill(first.pid, signal.SIGCONT)
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"is in use by another migrator run (pid {first.pid}, started " in second.stderr, second.stderr
    assert "Wait for that run to finish" in second.stderr
    assert "Traceback" not in second.stderr
    assert status.returncode == 0, status.stdout + status.stderr  # a reader works while the run holds it
    assert "plan velpic-to-velpic" in status.stdout and "running" in status.stdout
    assert first.returncode == 0, out + err
    _assert_exact_target(sandbox)


def test_a_run_killed_with_minus_9_leaves_no_lock(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sb.env")
    journal = tmp_path / "journal.sqlite"
    first = start_run(PLAN, tmp_path, env, quiet=True)
    wait_for_a_sent_batch(first, journal)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=60)
    assert Path(f"{journal}-lock").exists()  # the file stays; the lock died with its process
    resumed = run_plan(PLAN, tmp_path, env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    _assert_exact_target(sandbox)
