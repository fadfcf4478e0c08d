"""Arguments and helpers shared by the commands that read a plan."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from migrator.plan.env import read_env_file

__all__ = ["add_plan_arguments", "environment"]


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan", metavar="PLAN", help="plan file (.toml, .yaml/.yml or .json)")
    parser.add_argument(
        "--env-file",
        metavar="PATH",
        action="append",
        default=[],
        help="dotenv file (NAME=value lines) whose values are used besides, and over, the process environment",
    )


def environment(args: argparse.Namespace) -> dict[str, str]:
    """The process environment (from ``args.environ``) overlaid with every ``--env-file`` in order."""
    base: Mapping[str, str] = getattr(args, "environ", {}) or {}
    env = dict(base)
    for path in args.env_file:
        env.update(read_env_file(path))
    return env
