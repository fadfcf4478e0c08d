"""Scenarios 7 (fast throughput: no latency) and 8 (fast latency: 50 ms per page read, 200 ms per import) on
the fast target (``benchmarks/fast_target.py``), where the server costs next to nothing and the client's own
cost per record decides. The same contenders, route and checks as scenarios 1 and 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import FastTargetProcess
from benchmarks.throughput import side_by_side

READ_LATENCY = 0.05
WRITE_LATENCY = 0.2


def fast_throughput(workdir: Path, *, users: int, repeats: int, log: Any) -> dict[str, Any]:
    return side_by_side(
        "fast_throughput",
        "7 · fast target, throughput",
        workdir / "fast_throughput",
        users=users,
        faults="",
        timeout=1800,
        repeats=repeats,
        log=log,
        target=lambda work: FastTargetProcess(work, users=users),
    )


def fast_latency(workdir: Path, *, users: int, repeats: int, log: Any) -> dict[str, Any]:
    return side_by_side(
        "fast_latency",
        "8 · fast target, latency",
        workdir / "fast_latency",
        users=users,
        faults=f"{READ_LATENCY * 1000:.0f} ms per page read, {WRITE_LATENCY * 1000:.0f} ms per import",
        timeout=1800,
        repeats=repeats,
        log=log,
        target=lambda work: FastTargetProcess(
            work, users=users, read_latency=READ_LATENCY, write_latency=WRITE_LATENCY
        ),
    )
