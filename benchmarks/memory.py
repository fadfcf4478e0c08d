"""Scenario 4: peak RSS of the migrator process (``VmHWM`` of the child, polled) moving 100,000 and
1,000,000 Velpic users. Memory should stay flat: ≤ 200 MB, and the 1M figure ≤ 1.3 × the 100k one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import Sandbox
from benchmarks.contenders import run_contender


def memory(workdir: Path, *, sizes: tuple[int, ...], log: Any) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for users in sizes:
        work = workdir / f"memory-{users}"
        log(f"== 4 · memory: {users:,} users (seeding may take a minute)")
        with Sandbox(work / "sandbox", scale=users) as sandbox:
            log(f"   {sandbox.ready_line}")
            outcome = run_contender(
                "migrator", sandbox, work, expected=users, timeout=3600, watch_rss=True, reset=False
            )
        log("   " + outcome.describe())
        rows.append(
            {
                "users": users,
                "peak_rss_mb": None if outcome.peak_rss_mb is None else round(outcome.peak_rss_mb, 1),
                "seconds": round(outcome.seconds, 2),
                "rec_s": outcome.rec_s,
                "valid": outcome.valid,
                "note": outcome.note,
            }
        )
    by_size = {r["users"]: r for r in rows if r["valid"]}
    return {
        "key": "memory",
        "rows": rows,
        "rss_100k_mb": by_size.get(100_000, {}).get("peak_rss_mb"),
        "rss_1m_mb": by_size.get(1_000_000, {}).get("peak_rss_mb"),
    }
