"""`migrator explain --probe` asks the sources for their counts and estimates with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, get_json, migrator, records, write_env


def _probe_demo(sb: SandboxThread, tmp_path: Path, *extra: str) -> Any:
    """``explain plans/demo.toml --probe --format json`` against ``sb``: the JSON it prints."""
    env = write_env(sb, tmp_path / "sb.env")
    args = ("explain", str(PLANS / "demo.toml"), "--env-file", str(env), "--probe", *extra, "--format", "json")
    result = migrator(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _source_counts(sb: SandboxThread) -> tuple[int, int]:
    """The Velpic source's groups and users (the demo reads users with activeValue = all)."""
    groups = len(records(sb.base_url, "velpic", "source", "group"))
    return groups, len(records(sb.base_url, "velpic", "source", "user"))


def test_probe_uses_the_sources_real_counts(tmp_path: Path) -> None:
    with SandboxThread(SandboxConfig(seed=13, scale=180, platforms=("velpic",), default_limits=False)) as sb:
        data = _probe_demo(sb, tmp_path)
        groups, users = _source_counts(sb)
        assert data["probed"] == {"groups": groups, "users": users, "user_status": users}
        text = json.dumps(data)
        assert f'"records": {users}' in text or f'"count": {users}' in text

        # an explicit --count wins over the probe
        forced = json.dumps(_probe_demo(sb, tmp_path, "--count", "users=7"))
        assert '"records": 7' in forced or '"count": 7' in forced


def test_the_counts_are_asked_all_at_once(tmp_path: Path) -> None:
    """Each source slice's count is a request of its own, held here by 300 ms of latency: the inventory sends
    them together, not one after the other, and the counts are still each step's own."""
    faults = "velpic:methods=GET,latency=300ms"
    config = SandboxConfig(seed=13, scale=60, platforms=("velpic",), default_limits=False, faults=faults)
    with SandboxThread(config) as sb:
        data = _probe_demo(sb, tmp_path)
        stats = get_json(sb.base_url + "/_sandbox/stats")
        groups, users = _source_counts(sb)
    assert data["probed"] == {"groups": groups, "users": users, "user_status": users}
    # the probe's per-step counts go one by one; the inventory's five (groups, users by status, and what the
    # plan leaves behind) go together: one at a time, the peak would be 1
    assert stats["peak_in_flight"]["velpic"] >= 3
