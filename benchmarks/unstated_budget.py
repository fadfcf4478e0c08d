"""Scenario 9: a budget the plan does not state. The fast target allows 50 imports per second (any sliding
second); the migrator sends one import per record (``batch = 1``). Four runs: the plan states the budget
(the reference), then it states none while the server answers 429 with ``Retry-After``, with no header at
all, and with ``RateLimit-*`` headers on every answer. The physical limit is imports ÷ 50; each run should
finish within 10% of it with at most 2% of its imports answered 429."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import PLANS, FastTargetProcess, migrator_cmd, run_child
from benchmarks.contenders import step_seconds

RATE = 50
STATED = PLANS / "velpic-one-by-one-50rps.toml"
UNSTATED = PLANS / "velpic-one-by-one.toml"
#: (run, plan, how the server answers over its limit)
RUNS = (
    ("budget stated in the plan", STATED, "retry-after"),
    ("unstated; 429 with Retry-After", UNSTATED, "retry-after"),
    ("unstated; 429 without any header", UNSTATED, "bare"),
    ("unstated; RateLimit-* headers", UNSTATED, "headers"),
)


def unstated_budget(workdir: Path, *, users: int, log: Any) -> dict[str, Any]:
    work = workdir / "unstated_budget"
    log(f"== 9 · unstated budget: {users:,} imports of one record, the server allows {RATE}/s")
    rows = []
    for i, (name, plan, style) in enumerate(RUNS):
        run = work / f"run-{i}"
        run.mkdir(parents=True, exist_ok=True)
        with FastTargetProcess(run / "target", users=users, rate=RATE, limit_style=style) as target:
            cmd = migrator_cmd(plan, target.env_file, run / "journal.sqlite", run)
            seconds, code, output, *_ = run_child(cmd, cwd=run, timeout=users / RATE * 5 + 120)
            stats = target.stats()
        imports = stats["imports"] - stats["rate_limited"]
        physical = imports / RATE
        valid = code in (0, 3) and stats["count"] == users and stats["duplicates"] == 0
        share = stats["rate_limited"] / max(1, stats["imports"])
        row = {
            "run": name,
            "limit_style": style,
            "budget_stated": plan == STATED,
            "imports": imports,
            "physical_limit_s": round(physical, 2),
            "migrator_s": round(seconds, 2),
            "migrator_step_s": _round(step_seconds(run / "migrator.log.jsonl")),
            "responses_429": stats["rate_limited"],
            "share_429": round(share, 4),
            "valid": valid,
            "note": "" if valid else f"exit {code}; {stats}; {_last_line(output)}",
        }
        log(
            f"   {name}: {'ok' if valid else 'INVALID'} {seconds:.2f} s for {imports} imports (limit "
            f"{physical:.2f} s), {stats['rate_limited']} × 429 ({share:.1%})"
        )
        rows.append(row)
    return {"key": "unstated_budget", "users": users, "rate": RATE, "rows": rows}


def _last_line(output: str) -> str:
    return (output.strip().splitlines() or [""])[-1][:200]


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)
