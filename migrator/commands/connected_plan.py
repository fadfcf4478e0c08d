"""A plan with its connections, for the commands that reach its targets after a run (``undo``, ``verify``):
their shared arguments (the journal, TLS, the sandbox's clock) and set-up — the plan loaded and compiled, its
connections resolved from the environment and the env files, logging through the redactor of their secrets,
and the files of its journal."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from migrator.commands._plan_args import add_plan_arguments, environment
from migrator.graph import TaskGraph, compile_graph
from migrator.logging import Redactor, configure_logging
from migrator.plan.env import ResolvedConnection, resolve_connections, secret_values
from migrator.plan.load import LoadedPlan, load_plan
from migrator.run_files import RunFiles

__all__ = ["ConnectedPlan", "add_connected_arguments"]


def add_connected_arguments(parser: argparse.ArgumentParser, *, doing: str) -> None:
    """The plan, its env files, ``--journal``, ``--insecure`` and ``--time-scale`` (``doing``: what the
    command does against the sandbox, for the help)."""
    add_plan_arguments(parser)
    parser.add_argument("--journal", metavar="PATH", help="journal file (default .migrator/<plan name>.sqlite)")
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="X",
        help=f"{doing} against `migrator sandbox --time-scale X` (budgets X× larger)",
    )


@dataclass(frozen=True, slots=True)
class ConnectedPlan:
    """The plan of a command's arguments, compiled, with its connections, their redactor and its journal's
    files; ``verify_tls`` and ``time_scale`` as the arguments say."""

    loaded: LoadedPlan
    graph: TaskGraph
    connections: dict[str, ResolvedConnection]
    redactor: Redactor
    files: RunFiles
    verify_tls: bool
    time_scale: float

    @classmethod
    def of(cls, args: argparse.Namespace) -> ConnectedPlan:
        """Load and compile ``args.plan``, resolve its connections and log through their redactor."""
        loaded = load_plan(args.plan)
        graph = compile_graph(loaded)
        connections = resolve_connections(loaded.plan, environment(args), loaded.file)
        redactor = Redactor(secret_values(connections))
        configure_logging(redactor=redactor)
        files = RunFiles.of(Path(args.journal) if args.journal else None, graph.name)
        return cls(loaded, graph, connections, redactor, files, not args.insecure, args.time_scale)

    @property
    def name(self) -> str:
        return self.graph.name
