"""The client's own CPU on the fast target, two checkouts in alternation: ``python -m benchmarks.client_cpu
[--users N] [--runs R] CHECKOUT [CHECKOUT …]``. Starts the fast target (``benchmarks/fast_target.py``) once,
then runs ``migrator run plans/velpic-users.toml`` from each checkout in turn (its ``PYTHONPATH``), ``R``
rounds, the target emptied and the journal fresh before each run. A run counts only when the target then holds
exactly the users with no duplicate. Prints each run's CPU seconds of the whole client process (user + system,
from ``wait4``: not wall time, so a shared machine's other work does not count) and wall seconds, then per
checkout the minimum and the median."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import FastTargetProcess, clean_environ, migrator_cmd
from benchmarks.contenders import USERS_PLAN


def run_once(checkout: Path, target: FastTargetProcess, work: Path) -> tuple[float, float]:
    """(client CPU seconds, wall seconds) of one run from ``checkout``."""
    target.reset()
    journal = work / f"journal-{time.monotonic_ns()}.sqlite"
    env = clean_environ()
    env["PYTHONPATH"] = str(checkout)
    cmd = migrator_cmd(USERS_PLAN, target.env_file, journal, work)
    start = time.perf_counter()
    with (work / "client.log").open("w") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    got = target.entity("velpic", "target", "user")
    if proc.returncode not in (0, 3) or got["count"] != target_users(target) or got["duplicates"]:
        tail = (work / "client.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{checkout}: exit {proc.returncode}, target {got}\n{tail}")
    for leftover in work.glob("journal-*"):
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    return usage.ru_utime + usage.ru_stime, wall


def target_users(target: FastTargetProcess) -> int:
    return int(target.args[target.args.index("--users") + 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.client_cpu")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("checkouts", nargs="+", type=Path)
    args = parser.parse_args(argv)
    checkouts = [c.resolve() for c in args.checkouts]
    cpu: dict[Path, list[float]] = {c: [] for c in checkouts}
    work = Path(tempfile.mkdtemp(prefix="migrator-client-cpu-"))
    with FastTargetProcess(work / "server", users=args.users) as target:
        for c in checkouts:  # warm-up: page cache, the target's encoded pages
            run_once(c, target, work)
        for round_ in range(args.runs):
            for c in checkouts:
                seconds, wall = run_once(c, target, work)
                cpu[c].append(seconds)
                print(f"round {round_ + 1} {c}: CPU {seconds:.2f} s, wall {wall:.2f} s", flush=True)
    for c in checkouts:
        print(f"{c}: CPU min {min(cpu[c]):.2f} s, median {statistics.median(cpu[c]):.2f} s ({args.runs} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
