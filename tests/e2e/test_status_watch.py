"""`migrator status --watch` follows a run from another terminal: the journal read as a reader while the run
writes it, a refresh every ``--interval`` until the run ends, then the final view and exit 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from tests.e2e.helpers import PLANS, start_run, write_env
from tests.e2e.journal_watch import SLOW_WRITES, wait_for_a_sent_batch

PLAN = PLANS / "velpic-to-velpic.toml"


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(SLOW_WRITES) as sb:
        yield sb


def _first_view(watch: subprocess.Popen[str]) -> list[str]:
    """The lines of the watch's first refresh (up to its "watching" line)."""
    assert watch.stdout is not None
    lines: list[str] = []
    for line in watch.stdout:
        if line.startswith("(watching: "):
            return lines
        lines.append(line.rstrip("\n"))
    raise AssertionError("the watch ended before its first refresh: " + "\n".join(lines))


def test_status_watch_shows_a_running_run_until_it_ends(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sb.env")
    journal = tmp_path / "journal.sqlite"
    run = start_run(PLAN, tmp_path, env, quiet=True)
    watch: subprocess.Popen[str] | None = None
    try:
        wait_for_a_sent_batch(run, journal)
        os.kill(run.pid, signal.SIGSTOP)  # held mid-run while the watch takes its first look
        try:
            watch = subprocess.Popen(
                [sys.executable, "-m", "migrator", "status", str(PLAN), "--journal", str(journal), "--watch",
                 "--interval", "0.2"],
                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            first = _first_view(watch)
        finally:
            os.kill(run.pid, signal.SIGCONT)
        assert run.wait(timeout=120) == 0
        rest, err = watch.communicate(timeout=60)
    finally:
        for proc in (run, watch):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert watch.returncode == 0, rest + err
    assert any(line.startswith("  run 1: ") and line.endswith(" running") for line in first), first
    groups = next(line for line in first if line.startswith("  groups "))
    counts = re.search(r"done +([\d,]+) .* in doubt +([\d,]+)", groups)
    assert counts is not None, first  # the step has started, as the journal has it mid-run
    assert sum(int(n.replace(",", "")) for n in counts.groups()) > 0, groups
    final = rest.strip().splitlines()
    assert any(line.startswith("  run 1: ") and line.endswith(" done") for line in final), rest
    users = next(line for line in reversed(final) if line.startswith("  users "))
    assert " done " in users and "in doubt     0" in users, users
    assert "(watching: " not in final[-1]  # the run ended: the watch stopped by itself
