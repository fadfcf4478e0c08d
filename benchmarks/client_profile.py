"""Scenario 10, where the client's CPU goes: scenario 7's route (the fast target, Velpic users, page 100, bulk
500, journal on disk, reports on) run once under the sampling profiler of ``benchmarks/cpu_sample.py``, each
stage's CPU seconds and the functions that spent the most themselves; then the floor the journal sets, by
``benchmarks/ledger_writes.py`` (the same ledger writes a run makes for every batch, in-process, no network,
no mapping): what a durable ledger row per record costs before anything else is done. RESULTS.md's "What
limits it" sets both beside the raw loop's CPU per record from scenario 7."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from benchmarks.common import PYTHON, FastTargetProcess, migrator_cmd, run_child
from benchmarks.contenders import USERS_PLAN
from benchmarks.ledger_writes import STAGES, one_run

LEDGER_RUNS = 2


def client_profile(workdir: Path, *, users: int, log: Any) -> dict[str, Any]:
    work = workdir / "client_profile"
    work.mkdir(parents=True, exist_ok=True)
    log(f"== 10 · where the client's CPU goes: {users:,} users on scenario 7's route, sampled")
    out = work / "profile.json"
    with FastTargetProcess(work / "target", users=users) as target:
        cmd = migrator_cmd(USERS_PLAN, target.env_file, work / "journal.sqlite", work)
        child = run_child(
            [PYTHON, "-m", "benchmarks.cpu_sample", "--json", str(out), *cmd[3:]], cwd=work, timeout=1800
        )
        got = target.entity("velpic", "target", "user")
    valid = child.returncode in (0, 3) and got.get("count") == users and got.get("duplicates") == 0
    sampled: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {"stages": [], "own": []}
    log(f"   {'ok' if valid else 'INVALID'}: CPU {child.cpu_s:.2f} s, wall {child.seconds:.2f} s")
    floor: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for i in range(LEDGER_RUNS):
        folder = work / f"ledger-{i}"
        folder.mkdir()
        for stage, spent in one_run(folder, users, 500).items():
            floor[stage].append(round(spent, 3))
        shutil.rmtree(folder)
    log("   ledger writes alone (min): " + ", ".join(f"{s} {min(v):.2f} s" for s, v in floor.items()))
    return {
        "key": "client_profile",
        "users": users,
        "valid": valid,
        "note": "" if valid else f"exit {child.returncode}; target {got}; {child.output[-300:]}",
        "cpu_s": round(child.cpu_s, 2),
        "seconds": round(child.seconds, 2),
        "stages": [[stage, round(spent, 2)] for stage, spent in sampled["stages"]],
        "own": [[_short(where), round(spent, 2)] for where, spent in sampled["own"][:15]],
        "ledger_floor": {stage: min(v) for stage, v in floor.items()},
    }


def _short(where: str) -> str:
    """``/abs/path/migrator/journal.py:12 f`` → ``migrator/journal.py:12 f`` (the checkout's root left out)."""
    for root in ("/migrator/", "/benchmarks/"):
        if root in where:
            return root[1:] + where.split(root, 1)[1]
    return where.rsplit("/", 1)[-1]
