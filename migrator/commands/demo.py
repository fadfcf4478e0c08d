"""``migrator demo``: the whole thing on this machine, no network, no configuration.

Starts the sandbox in-process (a seeded Velpic source tenant with a few thousand learners, groups, memberships,
lesson history and some dirty records), runs its plan (``demo.toml``, shipped inside the package, so the demo
runs from any folder; ``plans/demo.toml`` in the project is a link to it) into the empty target tenant with live
progress, and prints the summary. It exits 0 when the run is done, its dead letters included: the dirty records
are seeded on purpose, so rejecting them is the demo working (``migrator run`` itself exits 3 for them). The
journal, logs and the sandbox's env file (credentials: 0600) go to a fresh ``.migrator/demo/`` folder (it and
its missing parents 0700).
"""

from __future__ import annotations

import argparse
import shutil
from importlib.resources import as_file, files
from pathlib import Path

from migrator.commands import run as run_command
from migrator.errors import PlanError
from migrator.private_files import make_private_dir, write_private

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plan", default=None, help="plan to run (default: the demo plan shipped with migrator)"
    )
    parser.add_argument("--scale", type=int, default=3000, help="learners in the source tenant (default 3000)")
    parser.add_argument("--dirty", type=float, default=0.02, help="fraction of dirty source records")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=".migrator/demo", help="where the journal, log and env file go")
    parser.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")


def run(args: argparse.Namespace) -> int:
    if args.plan is None:
        with as_file(files("migrator") / "demo.toml") as shipped:
            return _demo(args, shipped)
    plan = Path(args.plan)
    if not plan.is_file():
        raise PlanError.single(
            str(plan), "", "plan file not found; leave --plan out to run the demo's own plan"
        )
    return _demo(args, plan)


def _demo(args: argparse.Namespace, plan: Path) -> int:
    from migrator.sandbox.app import SandboxThread  # noqa: PLC0415 - the engine never imports the sandbox
    from migrator.sandbox.config import SandboxConfig  # noqa: PLC0415

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    make_private_dir(out)
    config = SandboxConfig(seed=args.seed, scale=args.scale, dirty=args.dirty, platforms=("velpic",))
    print(f"demo: starting the sandbox (Velpic source tenant with {args.scale:,} people) …", flush=True)
    with SandboxThread(config) as sandbox:
        env_file = out / "sandbox.env"
        write_private(env_file, "".join(f"{k}={v}\n" for k, v in sandbox.sandbox.env().items()).encode())
        print(f"demo: sandbox on {sandbox.base_url}; running {plan} …", flush=True)
        ns = argparse.Namespace(
            plan=str(plan),
            env_file=[str(env_file)],
            environ={},
            journal=str(out / "journal.sqlite"),
            fresh=True,
            allow_plan_change=False,
            dry_run=False,
            log_file=str(out / "run.log.jsonl"),
            plain=args.plain,
            insecure=False,
            time_scale=1.0,
            report_dir=str(out / "report"),
            retry_rejected=False,
            delta=False,
            step=[],
            same_customers=False,
        )
        code = run_command.run(ns)
    verdict = {
        0: "done",
        3: "done; the rejected records are the dirty ones the demo seeds on purpose (see the dead letters)",
    }
    print(f"demo: {verdict.get(code, 'failed')}; files in {out}/")
    return 0 if code == 3 else code
