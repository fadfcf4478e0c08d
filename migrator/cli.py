"""Command line: argv and the environment are read here and nowhere else.

Each command is one module in :mod:`migrator.commands` (or elsewhere) with ``add_arguments(parser)`` and
``run(args) -> int``; add a command by adding a line to :data:`COMMANDS`. Logging is set up before a command
runs: warnings to stderr, never stdout (a ``--format json`` output stays parseable); a command that resolves
secrets sets it up again with its redactor. Lazy commands are imported only when
chosen, so a missing or broken module does not break the others. ``args.environ`` carries the environment.

Exit codes: 0 ok, 2 plan error (or bad usage), 1 any other failure, 130 interrupted (Ctrl-C at any moment,
even while the command's modules are still being imported: one line, no traceback). No traceback unless
``MIGRATOR_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from dataclasses import dataclass
from types import ModuleType

from migrator import __version__
from migrator.errors import MigratorError
from migrator.logging import Redactor, configure_logging

__all__ = ["COMMANDS", "Command", "build_parser", "main"]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    module: str
    help: str
    lazy: bool = False


COMMANDS: tuple[Command, ...] = (
    Command("validate", "migrator.commands.validate", "check a plan and list every problem", lazy=True),
    Command(
        "peek", "migrator.commands.peek", "show what a step's source holds: fields, fill rates, ids", lazy=True
    ),
    Command(
        "explain",
        "migrator.commands.explain",
        "show the task graph, budgets and estimates of a plan",
        lazy=True,
    ),
    Command("init", "migrator.commands.init", "write a starter plan for a route", lazy=True),
    Command("schema", "migrator.commands.schema", "print the plan JSON Schema", lazy=True),
    Command(
        "preview", "migrator.commands.preview", "what a run would change: a change set to approve", lazy=True
    ),
    Command("run", "migrator.commands.run", "run or resume a migration", lazy=True),
    Command("status", "migrator.commands.status", "what the journal says about a plan's runs", lazy=True),
    Command("trace", "migrator.commands.trace", "what happened to one record, in every run", lazy=True),
    Command("demo", "migrator.commands.demo", "run the demo migration against the built-in sandbox", lazy=True),
    Command("report", "migrator.commands.report", "write the CSV and HTML reports from the journal", lazy=True),
    Command(
        "verify", "migrator.commands.verify", "reconcile the target with the source and journal", lazy=True
    ),
    Command("undo", "migrator.commands.undo", "reverse what a run wrote (after a bad load)", lazy=True),
    Command("sandbox", "migrator.sandbox.cli", "run the emulated platform APIs on 127.0.0.1", lazy=True),
)


def _chosen(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    """The parser, and the command modules loaded for it (lazy ones only when ``argv`` chooses them)."""
    parser = argparse.ArgumentParser(
        prog="migrator", description="Async, resumable bulk migration for training platforms."
    )
    parser.add_argument("--version", action="version", version=f"migrator {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen(argv)
    modules: dict[str, ModuleType] = {}
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        if cmd.lazy and cmd.name != chosen:
            continue
        module = importlib.import_module(cmd.module)
        module.add_arguments(p)
        modules[cmd.name] = module
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` chooses (``sys.argv`` by default) and return its exit code."""
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except BaseException as error:
        if not _interrupted(error):
            raise
        print("migrator: interrupted", file=sys.stderr)
        return 130


def _interrupted(error: BaseException) -> bool:
    """Whether ``error`` is a Ctrl-C or was raised because of one: Python 3.11 wraps an error raised in a
    ``__set_name__`` call (a class being created, e.g. while a module is imported) in a ``RuntimeError``."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _main(args_list: list[str]) -> int:
    environ = dict(os.environ)
    debug = environ.get("MIGRATOR_DEBUG", "") not in ("", "0")
    try:
        parser, modules = build_parser(args_list)
    except ImportError as err:
        name = _chosen(args_list)
        print(f"migrator {name}: not available in this installation ({err})", file=sys.stderr)
        return 1
    args = parser.parse_args(args_list)
    args.environ = environ
    # stdout is the commands' (their JSON must parse): logs go to stderr until a command sets its own
    configure_logging(redactor=Redactor())
    try:
        result: int = modules[args.command].run(args)
        return result
    except MigratorError as err:
        print(str(err), file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:
        return 1
    except Exception as err:
        if _interrupted(err):
            raise
        if debug:
            traceback.print_exc()
        print(
            f"migrator: internal error: {type(err).__name__}: {err} (set MIGRATOR_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1
