"""``migrator validate PLAN``: every problem of a plan, one per line (exit 2), or ``ok: N steps`` (exit 0)."""

from __future__ import annotations

import argparse

from migrator.commands._plan_args import add_plan_arguments, environment
from migrator.errors import PlanError, PlanProblem
from migrator.graph import compile_graph
from migrator.plan.env import resolve_connections
from migrator.plan.load import load_plan

__all__ = ["add_arguments", "run"]

HELP = "check a plan: syntax, keys, references, catalog, cycles and env vars"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)


def run(args: argparse.Namespace) -> int:
    loaded = load_plan(args.plan)
    problems: list[PlanProblem] = []
    try:
        compile_graph(loaded)
    except PlanError as err:
        problems.extend(err.problems)
    try:
        resolve_connections(loaded.plan, environment(args), loaded.file)
    except PlanError as err:
        problems.extend(err.problems)
    if problems:
        raise PlanError(problems)
    n = len(loaded.plan.steps)
    print(f"ok: {n} step{'s' if n != 1 else ''}")
    return 0
