"""``migrator init SOURCE TARGET [--out FILE] [--name NAME]``: write a starter plan for a route.

The plan carries every entity the route can carry, every field the target takes (those it cannot map commented
with why), the route's role and status tables and, at the top, every environment variable it references. An
existing file is never overwritten.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from migrator.errors import PlanError, PlanProblem
from migrator.plan.model import PLATFORMS
from migrator.starter.render import render_plan
from migrator.starter.routes import ROUTES

__all__ = ["add_arguments", "run"]

HELP = "write a starter plan for a route (SOURCE -> TARGET platform)"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SOURCE", help="platform read: " + ", ".join(PLATFORMS))
    parser.add_argument("target", metavar="TARGET", help="platform written: " + ", ".join(PLATFORMS))
    parser.add_argument(
        "--out", metavar="FILE", help="plan file to write (default: NAME.toml here); never replaced"
    )
    parser.add_argument("--name", metavar="NAME", help="the plan's name (default: SOURCE-to-TARGET)")


def run(args: argparse.Namespace) -> int:
    source, target = args.source, args.target
    name = args.name or f"{source}-to-{target}"
    out = Path(args.out) if args.out else Path(f"{name}.toml")
    problems = [
        PlanProblem("migrator init", arg, f"unknown platform {value!r}: choose one of {', '.join(PLATFORMS)}")
        for arg, value in (("SOURCE", source), ("TARGET", target))
        if value not in PLATFORMS
    ]
    if not problems and (source, target) not in ROUTES:
        known = ", ".join(f"{s} -> {t}" for s, t in ROUTES)
        problems.append(
            PlanProblem(
                "migrator init", "", f"no starter is known for {source} -> {target}; known routes: {known}"
            )
        )
    if not _NAME.match(name):
        problems.append(
            PlanProblem(
                "migrator init", "--name", f"{name!r} is not a plan name: letters, digits, '_', '.', '-'"
            )
        )
    if problems:
        raise PlanError(problems)
    text = render_plan(ROUTES[source, target], name)
    try:
        with out.open("x", encoding="utf-8") as fh:  # exclusive: an existing file (or link) is left as it is
            fh.write(text)
    except FileExistsError:
        raise PlanError.single(
            str(out), "", "already exists: init never replaces a file; choose another --out or remove it first"
        ) from None
    except OSError as err:
        raise PlanError.single(
            str(out), "", f"cannot be written: {err.strerror}; choose another --out"
        ) from None
    print(f"wrote {out}: {source} -> {target}; next: migrator validate {out} --env-file .env")
    return 0
