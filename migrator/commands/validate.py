"""``migrator validate PLAN``: every problem of a plan, one per line (exit 2), or ``ok: N steps`` (exit 0).

``--connect`` also checks each connection, writing nothing: one cheap authenticated GET per connection (a
page of one record of a read the plan makes on it, else of the first plain list its platform's catalog
declares), which also obtains the session token where the platform has one (accessplanit, OneFile); a
folder connection is checked for being a readable folder (one the plan only writes to may not exist yet: its
first write makes it; a ``relative_to = "journal"`` one is the default journal's). One line per connection,
``OK`` or what failed and what to check; exit 1 when one failed.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

import anyio

from migrator.commands._plan_args import add_plan_arguments, environment
from migrator.connectors.base import EngineSupportError, NestedReader, PagedReader
from migrator.connectors.catalog import CATALOG
from migrator.connectors.registry import make_reader
from migrator.errors import AuthError, ConnectorError, PlanError, PlanProblem
from migrator.graph import compile_graph
from migrator.logging import Redactor, configure_logging
from migrator.plan.env import ResolvedConnection, resolve_connections, resolved_paths, secret_values
from migrator.plan.load import LoadedPlan, load_plan
from migrator.run_files import RunFiles
from migrator.runtime.build import connection_folder
from migrator.runtime.connections import build_transport
from migrator.wire import shown_url

__all__ = ["add_arguments", "check_connection", "run"]

HELP = "check a plan: syntax, keys, references, catalog, cycles and env vars"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)
    parser.add_argument(
        "--connect",
        action="store_true",
        help="also reach every connection and check its credentials (one small read each; nothing written)",
    )


def run(args: argparse.Namespace) -> int:
    loaded = load_plan(args.plan)
    problems: list[PlanProblem] = []
    try:
        compile_graph(loaded)
    except PlanError as err:
        problems.extend(err.problems)
    connections: Mapping[str, ResolvedConnection] = {}
    try:
        connections = resolve_connections(loaded.plan, environment(args), loaded.file)
    except PlanError as err:
        problems.extend(err.problems)
    if problems:
        raise PlanError(problems)
    n = len(loaded.plan.steps)
    print(f"ok: {n} step{'s' if n != 1 else ''}")
    if not args.connect:
        return 0
    redactor = Redactor(secret_values(connections))
    configure_logging(redactor=redactor)

    async def main() -> dict[str, str | None]:
        return {
            name: await check_connection(loaded, name, conn, redactor) for name, conn in connections.items()
        }

    failures = 0
    for name, failure in anyio.run(main).items():
        where = connections[name].base_url or connections[name].path or ""
        if failure is None:
            print(f"connection {name} ({connections[name].platform} {where}): OK")
        else:
            failures += 1
            print(f"connection {name} ({connections[name].platform} {where}): {redactor.text(failure)}")
    return 1 if failures else 0


def _probe_reader(loaded: LoadedPlan, name: str, platform: str) -> PagedReader | None:
    """A reader of one record per page on connection ``name``: of a step's read on it, else of the first
    plain list (no parent, no required filter) its platform's catalog declares."""
    plan = loaded.plan
    candidates = [(s.read.entity, dict(s.read.filter)) for s in plan.steps.values() if s.read.from_ == name]
    for entity_name, spec in CATALOG[platform].entities.items():
        read = spec.read
        if read is not None and read.parent is None and not read.required_filters:
            candidates.append((entity_name, {}))
    for entity, filters in candidates:
        try:
            reader = make_reader(platform, entity, filters, 1, f"{name}:connect")
        except EngineSupportError:
            continue
        if isinstance(reader, PagedReader) and not isinstance(reader, NestedReader):
            return reader
    return None


async def check_connection(
    loaded: LoadedPlan, name: str, conn: ResolvedConnection, redactor: Redactor
) -> str | None:
    """None when connection ``name`` answers an authenticated read, else what failed and what to check."""
    if conn.base_url is None:
        placed = RunFiles.of(None, loaded.plan.plan.name).place(loaded).plan  # (the default journal's)
        placed = resolved_paths(placed, {name: conn})
        folder = connection_folder(placed, name, Path(loaded.file).parent)
        written_only = all(step.read.from_ != name for step in placed.steps.values())
        if folder is not None and written_only and not folder.exists():
            return None  # a folder the plan only writes to: its first write makes it
        if folder is None or not folder.is_dir():
            return f"the folder {folder} does not exist: check the connection's path"
        if not os.access(folder, os.R_OK | os.X_OK):
            return f"the folder {folder} cannot be read: check its permissions"
        return None
    reader = _probe_reader(loaded, name, conn.platform)
    if reader is None:
        return "nothing this engine reads on it can be asked for one record: not checked"
    request = reader.page_request(reader.paginator().start(()))
    url = shown_url(conn.base_url, request)
    try:
        async with build_transport(loaded.plan, name, conn, redactor) as transport:
            response = await transport.send(request)
    except AuthError as error:
        return f"credentials refused: {error}"
    except ConnectorError as error:
        return str(error)
    if response.status in (401, 403):
        return f"credentials refused: GET {url} answered {response.status}; check the connection's credentials"
    if not 200 <= response.status < 300:
        return f"GET {url} answered {response.status}: check the base URL (it should be the API root)"
    return None
