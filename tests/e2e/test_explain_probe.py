"""`migrator explain --probe` asks the sources for their counts and estimates with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio

from migrator.graph import compile_graph
from migrator.logging import Redactor
from migrator.plan.env import read_env_file, resolve_connections
from migrator.plan.load import load_plan
from migrator.runtime.probe import probe_counts
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


LATENT = SandboxConfig(
    seed=13, scale=60, platforms=("velpic",), default_limits=False, faults="velpic:methods=GET,latency=300ms"
)


def test_the_inventorys_counts_are_asked_all_at_once(tmp_path: Path) -> None:
    """Each source slice's count is a request of its own, held here by 300 ms of latency: the inventory sends
    them together, not one after the other, and the counts are still each step's own."""
    with SandboxThread(LATENT) as sb:
        data = _probe_demo(sb, tmp_path)
        stats = get_json(sb.base_url + "/_sandbox/stats")
        groups, users = _source_counts(sb)
    assert data["probed"] == {"groups": groups, "users": users, "user_status": users}
    # five slices (groups, users by status, and what the plan leaves behind): one at a time, the peak would be 1
    assert stats["peak_in_flight"]["velpic"] >= 3


def test_the_steps_counts_are_asked_all_at_once(tmp_path: Path) -> None:
    """The probe's own pass (one request per step, before the inventory): the demo's three steps that read
    Velpic are asked together, and each gets its own count."""
    with SandboxThread(LATENT) as sb:
        env = read_env_file(str(write_env(sb, tmp_path / "sb.env")))
        loaded = load_plan(str(PLANS / "demo.toml"))
        connections = resolve_connections(loaded.plan, env, loaded.file)

        async def probe() -> dict[str, int | None]:
            graph = compile_graph(loaded)
            return await probe_counts(loaded.plan, graph, connections, Redactor(), base_dir=PLANS)

        counts = anyio.run(probe)
        stats = get_json(sb.base_url + "/_sandbox/stats")
        groups, users = _source_counts(sb)
    assert counts == {"groups": groups, "users": users, "user_status": users}
    assert stats["peak_in_flight"] == {"velpic": 3}
