"""Scenario 3: a rate-limited route. Velpic users → accessplanit v2 ``$upsert`` (one request per record) with
a budget of 50 requests/second set both on the sandbox and in the plan. The physical limit is requests ÷ budget;
the migrator should finish within 3% of it and receive 0 × 429."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import PLANS, Sandbox, migrator_cmd, run_child
from benchmarks.contenders import step_seconds

RATE = 50
PLAN = PLANS / "velpic-to-accessplanit-50rps.toml"
FAULTS = f"accessplanit/api/v2/user:rate={RATE}/s,methods=POST"


def rate_limited(workdir: Path, *, users: int, log: Any) -> dict[str, Any]:
    work = workdir / "rate_limited"
    work.mkdir(parents=True, exist_ok=True)
    log(f"== 3 · rate-limited: {users:,} users → accessplanit v2 $upsert at {RATE} req/s")
    with Sandbox(work / "sandbox", scale=users, platforms=("velpic", "accessplanit"), faults=FAULTS) as sandbox:
        log(f"   {sandbox.ready_line}")
        # a fresh sandbox, not a reset: after POST /_sandbox/reset the accessplanit emulator's writes no longer
        # show in /_sandbox/stats or /records (reported to the sandbox's owner)
        journal = work / "journal.sqlite"
        cmd = migrator_cmd(PLAN, sandbox.env_file, journal, work)
        seconds, code, output, *_ = run_child(cmd, cwd=work, timeout=users / RATE * 3 + 120)
        stats = sandbox.stats()
    target = stats["records"]["accessplanit"]["target"]["user"]
    writes = sum(
        r["count"]
        for r in stats["requests"]
        if r["platform"] == "accessplanit" and r["method"] == "POST" and r["route"].endswith("/api/v2/user")
    )
    responses_429 = max(
        int(stats.get("rate_limited", 0)), int(stats.get("statuses", {}).get("accessplanit", {}).get("429", 0))
    )
    physical = writes / RATE
    step = step_seconds(work / "migrator.log.jsonl")
    valid = code in (0, 3) and target.get("count") == users and target.get("duplicates") == 0
    note = "" if valid else f"exit {code}; target {target}; " + (output.strip().splitlines() or [""])[-1][:200]
    log(
        f"   migrator {'ok' if valid else 'INVALID'}: {seconds:.2f} s wall ({step or 0:.2f} s in the step) for "
        f"{writes} upserts; physical limit {physical:.2f} s; 429s {responses_429}"
    )
    return {
        "key": "rate_limited",
        "users": users,
        "rate": RATE,
        "requests": writes,
        "physical_limit_s": round(physical, 2),
        "migrator_s": round(seconds, 2),
        "migrator_step_s": None if step is None else round(step, 2),
        "responses_429": responses_429,
        "valid": valid,
        "target": target,
        "note": note,
    }
