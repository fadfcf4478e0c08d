"""Scenario 5: resume. The migrator is SIGKILLed once the target holds ~50% of the users (polled through
``/_sandbox/stats``), then run again on the same journal. Records written twice = the target's ``updates``
counter (every first write of a user into the empty target is a create); the bound is the batches that may be
in flight when the process dies (write concurrency × batch). Extra time = killed run + resumed run − one
uninterrupted run, measured in the same scenario."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

from benchmarks.common import Sandbox
from benchmarks.contenders import run_contender

#: the runner writes with as many workers as the target connection's concurrency, a batch each
_PLAN = tomllib.loads((Path(__file__).parent / "plans" / "velpic-users.toml").read_text())
WRITE_CONCURRENCY = int(_PLAN["connections"]["target"].get("concurrency", 8))
BATCH = int(_PLAN["steps"]["users"]["write"]["batch"])


def resume(workdir: Path, *, users: int, log: Any) -> dict[str, Any]:
    work = workdir / "resume"
    log(f"== 5 · resume: {users:,} users, SIGKILL at ~50%")
    with Sandbox(work / "sandbox", scale=users) as sandbox:
        log(f"   {sandbox.ready_line}")
        single = run_contender("migrator", sandbox, work / "single", expected=users, timeout=3600)
        log("   uninterrupted: " + single.describe())

        seen = {"count": 0, "at": 0.0}
        # /_sandbox/stats counts every table's duplicates: polling it often slows the sandbox itself, so poll
        # about 20 times over the uninterrupted run's length (a quick run of 20,000 users is over in ~1 s)
        interval = min(0.5, max(0.02, single.seconds / 20))

        def half_way() -> bool:
            now = time.monotonic()
            if now - seen["at"] < interval:
                return False
            seen["at"] = now
            seen["count"] = sandbox.entity("velpic", "target", "user")["count"]
            return seen["count"] >= users // 2

        journal = work / "killed" / "journal.sqlite"
        killed = run_contender(
            "migrator",
            sandbox,
            work / "killed",
            expected=users,
            timeout=3600,
            journal=journal,
            kill_when=half_way,
        )
        at_kill = killed.target.get("count", 0)
        log(f"   killed (exit {killed.returncode}) after {killed.seconds:.2f} s, {at_kill:,} users written")
        resumed = run_contender(
            "migrator", sandbox, work / "killed", expected=users, timeout=3600, journal=journal, reset=False
        )
        log("   resumed: " + resumed.describe())
    twice = resumed.target.get("updates", 0)
    extra = killed.seconds + resumed.seconds - single.seconds
    valid = single.valid and resumed.valid and killed.returncode != 0
    return {
        "key": "resume",
        "users": users,
        "single_s": round(single.seconds, 2),
        "killed_s": round(killed.seconds, 2),
        "killed_at_count": at_kill,
        "resumed_s": round(resumed.seconds, 2),
        "records_written_twice": twice,
        "in_flight_bound": WRITE_CONCURRENCY * BATCH,
        "extra_s": round(extra, 2),
        "valid": valid,
        "target": resumed.target,
        "note": "; ".join(n for n in (single.note, resumed.note) if n),
    }
