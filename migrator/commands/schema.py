"""``migrator schema``: the plan's JSON Schema, for editors that complete plan files."""

from __future__ import annotations

import argparse
import json

import msgspec

from migrator.plan.model import Plan

__all__ = ["add_arguments", "run"]

HELP = "print the JSON Schema of a plan file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    schema = msgspec.json.schema(Plan)
    schema["title"] = "migrator plan"
    print(json.dumps(schema, indent=2, sort_keys=True))
    return 0
