"""Scenarios 1 (throughput: no latency) and 2 (latency: 50 ms per page read, 200 ms per bulk write).

Every contender moves the same Velpic source users to the Velpic target tenant (``bulkUserImport``,
``mergeType=empNo``, page 100, bulk 500) against one sandbox process; the target is reset between contenders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import Outcome, Sandbox
from benchmarks.contenders import CONTENDERS, run_contender

LATENCY_FAULTS = "velpic/user:latency=50ms;velpic/bulkUserImport:latency=200ms"


def side_by_side(
    key: str,
    title: str,
    workdir: Path,
    *,
    users: int,
    faults: str,
    timeout: float,
    repeats: int,
    log: Any,
    target: Callable[[Path], Sandbox] | None = None,
) -> dict[str, Any]:
    """Every contender once; raw and migrator ``repeats`` times, alternating, best run kept (the machine is
    shared: a burst of someone else's load should not decide the ratio). ``target`` starts the server (default:
    the sandbox with ``faults``)."""
    log(f"== {title}: {users:,} users{' (' + faults + ')' if faults else ''}")
    outcomes: dict[str, Outcome] = {}
    start = target or (lambda work: Sandbox(work, scale=users, faults=faults))
    with start(workdir / "sandbox") as sandbox:
        log(f"   {sandbox.ready_line}")
        order = [n for _ in range(repeats) for n in ("raw", "migrator")]
        order += [n for n in CONTENDERS if n not in ("raw", "migrator")]
        for i, name in enumerate(order):
            outcome = run_contender(name, sandbox, workdir / f"{name}-{i}", expected=users, timeout=timeout)
            log("   " + outcome.describe())
            best = outcomes.get(name)
            if best is None or (outcome.valid and (not best.valid or outcome.seconds < best.seconds)):
                outcomes[name] = outcome
    return {
        "key": key,
        "title": title,
        "users": users,
        "faults": faults,
        "figures": {name: o.rec_s for name, o in outcomes.items()},
        "rows": [_row(outcomes[n]) for n in CONTENDERS if n in outcomes],
    }


def _row(o: Outcome) -> dict[str, Any]:
    return {
        "contender": o.name,
        "seconds": round(o.seconds, 2),
        "cpu_s": None if o.cpu_s is None else round(o.cpu_s, 2),
        "rec_s": o.rec_s,
        "valid": o.valid,
        "target": o.target,
        "note": o.note,
    }


def throughput(workdir: Path, *, users: int, repeats: int, log: Any) -> dict[str, Any]:
    return side_by_side(
        "throughput",
        "1 · throughput",
        workdir / "throughput",
        users=users,
        faults="",
        timeout=1800,
        repeats=repeats,
        log=log,
    )


def latency(workdir: Path, *, users: int, repeats: int, log: Any) -> dict[str, Any]:
    return side_by_side(
        "latency",
        "2 · latency",
        workdir / "latency",
        users=users,
        faults=LATENCY_FAULTS,
        timeout=1800,
        repeats=repeats,
        log=log,
    )
