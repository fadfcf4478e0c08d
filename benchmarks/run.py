"""Entry point: ``python -m benchmarks.run [--quick] [--only a,b] [--keep]``.

Runs the scenarios of issues #7 and #18 in order and rewrites ``benchmarks/RESULTS.md`` and
``benchmarks/results.json``. Full: 1 throughput (200,000 users), 2 latency (20,000), 3 rate-limited (3,000
upserts at 50/s), 4 memory (100,000 and 1,000,000), 5 resume (100,000), 6 journal cost (200,000); on the fast
target, 7 throughput (100,000), 8 latency (50,000), 9 an unstated budget (1,000 imports at 50/s, four ways)
and 10 where the client's CPU goes (scenario 7's route, 100,000, sampled). Quick: 1–3 and 7–10 at a tenth of
the size, then 4 at 100,000 only and 5–6 at 20,000.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.client_profile import client_profile
from benchmarks.common import engine_version, machine
from benchmarks.fast import fast_latency, fast_throughput
from benchmarks.journal_cost import journal_cost
from benchmarks.memory import memory
from benchmarks.rate_limited import rate_limited
from benchmarks.resume import resume
from benchmarks.throughput import latency, throughput
from benchmarks.unstated_budget import unstated_budget

SCENARIOS = (
    "throughput",
    "latency",
    "rate_limited",
    "memory",
    "resume",
    "journal",
    "fast_throughput",
    "fast_latency",
    "unstated_budget",
    "client_profile",
)

FULL = {
    "throughput": 200_000,
    "latency": 20_000,
    "rate_limited": 3_000,
    "memory": (100_000, 1_000_000),
    "resume": 100_000,
    "journal": 200_000,
    "fast_throughput": 100_000,
    "fast_latency": 50_000,
    "unstated_budget": 1_000,
    "client_profile": 100_000,
    "repeats": 2,
}
QUICK = {
    "throughput": 20_000,
    "latency": 2_000,
    "rate_limited": 300,
    "memory": (100_000,),
    "resume": 20_000,
    "journal": 20_000,
    "fast_throughput": 10_000,
    "fast_latency": 5_000,
    "unstated_budget": 100,
    "client_profile": 10_000,
    "repeats": 1,
}


def log(message: str) -> None:
    print(message, flush=True)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="scenarios 1–3 and 7–10 at a tenth of the size")
    parser.add_argument(
        "--only", default="", help=f"comma-separated scenarios to run (default all: {', '.join(SCENARIOS)})"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (journals, logs)")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    unknown = [s for s in only if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}")
    sizes = QUICK if args.quick else FULL
    reps = int(sizes["repeats"])  # type: ignore[call-overload]

    runners: dict[str, Callable[[Path], dict[str, Any]]] = {
        "throughput": lambda w: throughput(w, users=sizes["throughput"], repeats=reps, log=log),  # type: ignore[arg-type]
        "latency": lambda w: latency(w, users=sizes["latency"], repeats=reps, log=log),  # type: ignore[arg-type]
        "rate_limited": lambda w: rate_limited(w, users=sizes["rate_limited"], log=log),  # type: ignore[arg-type]
        "memory": lambda w: memory(w, sizes=sizes["memory"], log=log),  # type: ignore[arg-type]
        "resume": lambda w: resume(w, users=sizes["resume"], log=log),  # type: ignore[arg-type]
        "journal": lambda w: journal_cost(w, users=sizes["journal"], repeats=reps, log=log),  # type: ignore[arg-type]
        "fast_throughput": lambda w: fast_throughput(w, users=sizes["fast_throughput"], repeats=reps, log=log),  # type: ignore[arg-type]
        "fast_latency": lambda w: fast_latency(w, users=sizes["fast_latency"], repeats=reps, log=log),  # type: ignore[arg-type]
        "unstated_budget": lambda w: unstated_budget(w, users=sizes["unstated_budget"], log=log),  # type: ignore[arg-type]
        "client_profile": lambda w: client_profile(w, users=sizes["client_profile"], log=log),  # type: ignore[arg-type]
    }
    # SIGTERM unwinds like Ctrl-C, so every sandbox and contender process started here is stopped
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    engine = engine_version()
    log(
        f"benchmarks ({'quick' if args.quick else 'full'}) on {info['nproc']} × {info['cpu']}, "
        f"{info['ram_gb']} GB"
    )
    workdir = Path(tempfile.mkdtemp(prefix="migrator-bench-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        for name in only:
            t0 = time.monotonic()
            results[name] = runners[name](workdir)
            log(f"   ({time.monotonic() - t0:.0f} s)")
    finally:
        took = time.monotonic() - started
        if results:
            info["load_at_end"] = round(os.getloadavg()[0], 2)
            report.write(date, info, results, args.quick, took, engine)
            log(f"wrote benchmarks/RESULTS.md and benchmarks/results.json ({took / 60:.1f} min)")
        if args.keep:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    for target, measured, met in report.targets(results):
        log(f"   {'MET ' if met else 'MISS' if met is False else '  – '} {target}: {measured}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
