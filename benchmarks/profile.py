"""Profile the migrator on a scenario's route: ``python -m benchmarks.profile [--users N] [--latency]
[--journal PATH] [--out FILE]``. Starts the sandbox in its own process, runs
``python -m pyinstrument -m migrator run …`` on ``plans/velpic-users.toml`` against it and writes pyinstrument's
text report (where the time goes, by function) to ``--out`` (default ``benchmarks/profiles/<scenario>.txt``)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks.common import PYTHON, Sandbox, migrator_cmd, run_child
from benchmarks.contenders import USERS_PLAN
from benchmarks.throughput import LATENCY_FAULTS

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--latency", action="store_true", help="scenario 2's sandbox latency")
    parser.add_argument("--journal", type=Path, help="journal path (default: a fresh file in a temp dir)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    name = "latency" if args.latency else "throughput"
    out = (args.out or HERE / "profiles" / f"{name}.txt").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="migrator-profile-"))
    with Sandbox(work / "sandbox", scale=args.users, faults=LATENCY_FAULTS if args.latency else "") as sandbox:
        print(sandbox.ready_line, flush=True)
        cmd = migrator_cmd(USERS_PLAN, sandbox.env_file, args.journal or work / "journal.sqlite", work)
        prof = [PYTHON, "-m", "pyinstrument", "-r", "text", "-o", str(out), *cmd[1:]]
        seconds, code, output, _ = run_child(prof, cwd=work, timeout=3600)
        target = sandbox.entity("velpic", "target", "user")
    print(f"exit {code} in {seconds:.2f} s; target {target}; profile: {out}")
    if code not in (0, 3):
        print(output)
    return 0 if code in (0, 3) else 1


if __name__ == "__main__":
    sys.exit(main())
