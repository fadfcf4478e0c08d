"""Ctrl-C: the first SIGINT stops the run cleanly (exit 130, journal consistent), a second one exits at once;
either way the next `migrator run` resumes and the target ends with every record exactly once."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from migrator.journal import Journal
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, entity_stats, records, run_plan, start_run, write_env


@pytest.mark.parametrize("signals", [1, 2])
def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path: Path, signals: int) -> None:
    config = SandboxConfig(
        seed=9,
        scale=400,
        platforms=("velpic",),
        default_limits=False,
        faults="velpic/bulkUserImport:latency=150ms",
    )
    # the example plan with small batches on two connections' worth of writers: the run lasts a few seconds
    text = (PLANS / "velpic-to-velpic.toml").read_text()
    text = text.replace("batch = 500", "batch = 20").replace(
        'access_key = "${VELPIC_TARGET_ACCESS_KEY}"',
        'access_key = "${VELPIC_TARGET_ACCESS_KEY}"\nconcurrency = 2',
    )
    assert "batch = 20" in text and "concurrency = 2" in text
    plan = tmp_path / "velpic-to-velpic.toml"
    plan.write_text(text)
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sb.env")
        journal = tmp_path / "journal.sqlite"
        proc = start_run(plan, tmp_path, env)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if entity_stats(sb.base_url, "velpic", "target", "user")["count"] > 0:
                break
            time.sleep(0.01)
        for _ in range(signals):
            proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stderr
        assert "journal is consistent" in stderr
        assert "Traceback" not in stderr
        with Journal.open(journal, "velpic-to-velpic") as j:
            assert j.integrity_check() == []
        partial = entity_stats(sb.base_url, "velpic", "target", "user")["count"]
        assert partial < len(records(sb.base_url, "velpic", "source", "user"))

        resumed = run_plan(plan, tmp_path, env)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        users = entity_stats(sb.base_url, "velpic", "target", "user")
        everyone = records(sb.base_url, "velpic", "source", "user")  # leavers too: the plan carries them
        assert users["count"] == len(everyone)
        assert users["duplicates"] == 0
