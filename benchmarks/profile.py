"""Profile the migrator on a scenario's route: ``python -m benchmarks.profile [--users N] [--latency]
[--target sandbox|fast] [--profiler pyinstrument|cprofile] [--journal PATH] [--out FILE]``. Starts the server
in its own process (the sandbox, or the fast target of ``benchmarks/fast_target.py`` where the client's own cost
decides), runs ``migrator run`` on ``plans/velpic-users.toml`` against it under the profiler and writes its text
report (pyinstrument's call tree, or cProfile's top functions by own CPU time and by cumulative CPU time:
``benchmarks/cpu_profile.py``) to ``--out``
(default ``benchmarks/profiles/<target>-<scenario>[-cprofile].txt``; the sandbox's keeps its old name)."""

from __future__ import annotations

import argparse
import io
import pstats
import sys
import tempfile
from pathlib import Path

from benchmarks.common import PYTHON, FastTargetProcess, Sandbox, migrator_cmd, run_child
from benchmarks.contenders import USERS_PLAN
from benchmarks.fast import READ_LATENCY, WRITE_LATENCY
from benchmarks.throughput import LATENCY_FAULTS

HERE = Path(__file__).resolve().parent
TOP = 40


def _server(target: str, work: Path, users: int, latency: bool) -> Sandbox:
    if target == "fast":
        if latency:
            return FastTargetProcess(work, users=users, read_latency=READ_LATENCY, write_latency=WRITE_LATENCY)
        return FastTargetProcess(work, users=users)
    return Sandbox(work, scale=users, faults=LATENCY_FAULTS if latency else "")


def _cprofile_text(stats_file: Path) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(stats_file), stream=out)
    stats.strip_dirs()
    out.write(f"== top {TOP} by own time (tottime)\n")
    stats.sort_stats("tottime").print_stats(TOP)
    out.write(f"\n== top {TOP} by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(TOP)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--latency", action="store_true", help="scenario 2's (or 8's) latency")
    parser.add_argument("--target", choices=("sandbox", "fast"), default="sandbox")
    parser.add_argument("--profiler", choices=("pyinstrument", "cprofile"), default="pyinstrument")
    parser.add_argument("--journal", type=Path, help="journal path (default: a fresh file in a temp dir)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    name = "latency" if args.latency else "throughput"
    default = name if args.target == "sandbox" else f"fast-{name}"
    default += "-cprofile" if args.profiler == "cprofile" else ""
    out = (args.out or HERE / "profiles" / f"{default}.txt").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="migrator-profile-"))
    with _server(args.target, work / "server", args.users, args.latency) as server:
        print(server.ready_line, flush=True)
        cmd = migrator_cmd(USERS_PLAN, server.env_file, args.journal or work / "journal.sqlite", work)
        stats_file = work / "client.prof"
        if args.profiler == "cprofile":
            prof = [
                PYTHON,
                "-m",
                "benchmarks.cpu_profile",
                str(stats_file),
                *cmd[3:],
            ]  # cmd: python -m migrator …
        else:
            prof = [PYTHON, "-m", "pyinstrument", "-r", "text", "-o", str(out), *cmd[1:]]
        seconds, code, output, *_ = run_child(prof, cwd=work, timeout=3600)
        target = server.entity("velpic", "target", "user")
    if args.profiler == "cprofile" and stats_file.exists():
        out.write_text(_cprofile_text(stats_file))
    print(f"exit {code} in {seconds:.2f} s; target {target}; profile: {out}")
    if code not in (0, 3):
        print(output)
    return 0 if code in (0, 3) else 1


if __name__ == "__main__":
    sys.exit(main())
