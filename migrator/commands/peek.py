"""``migrator peek PLAN STEP [--sample N] [--format text|json]``: what a step's source actually holds.

Reads the first ``--sample`` records (default: one page of the step's page size) of the step's read, as a
run reads them (same reader, filter, transport, auth and budget; nothing is written, the journal is not
opened), and shows per source field its fill rate, value types and a few example values, and the distinct
values of the id-like and status-like fields a plan needs (organisations, roles, statuses: see
:mod:`migrator.fieldstats`). Secrets are never shown: fields named like one show ``***``, and every value
is masked with the run's redactor. ``--format json`` prints one JSON document on stdout (logs go to stderr).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

from migrator.commands._plan_args import add_plan_arguments, environment
from migrator.connectors.registry import make_reader
from migrator.errors import PlanError
from migrator.fieldstats import FieldStats, field_stats
from migrator.graph import compile_graph
from migrator.logging import Redactor, configure_logging
from migrator.plan.decode import did_you_mean
from migrator.plan.env import ResolvedConnection, resolve_connections, resolved_paths, secret_values
from migrator.plan.load import LoadedPlan, load_plan
from migrator.runtime.build import connection_folder
from migrator.runtime.connections import build_transport
from migrator.runtime.counters import StepCounters
from migrator.runtime.fetch import page_feed

__all__ = ["add_arguments", "read_sample", "render_json", "render_text", "run"]

#: the longest example value shown, in characters
MAX_VALUE = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)
    parser.add_argument("step", metavar="STEP", help="the step whose read to sample")
    parser.add_argument(
        "--sample", type=int, metavar="N", help="records to read (default: one page of the step's page size)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--time-scale", type=float, default=1.0, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    loaded = load_plan(args.plan)
    graph = compile_graph(loaded)
    if args.step not in graph.steps:
        steps = list(graph.order)
        raise PlanError.single(
            loaded.file,
            "steps",
            f"no step {args.step!r}{did_you_mean(args.step, steps)}; steps: {', '.join(steps)}",
        )
    if args.sample is not None and args.sample < 1:
        raise PlanError.single("--sample", str(args.sample), "give a number of records, 1 or more, e.g. 50")
    node = graph.steps[args.step]
    sample = args.sample or node.page_size or 100
    connections = resolve_connections(loaded.plan, environment(args), loaded.file)
    redactor = Redactor(secret_values(connections))
    configure_logging(redactor=redactor)

    async def main() -> list[dict[str, Any]]:
        page_size = max(1, min(sample, node.page_size or sample))
        return await read_sample(loaded, args.step, connections, redactor, sample, page_size, args.time_scale)

    records = anyio.run(main)
    stats = field_stats(records, max_len=MAX_VALUE)
    where = f"{node.read.connection} {node.read.endpoint}"
    if args.format == "json":
        print(redactor.text(json.dumps(render_json(args.step, where, sample, len(records), stats), indent=2)))
    else:
        print(redactor.text(render_text(args.step, where, sample, len(records), stats)))
    return 0


async def read_sample(
    loaded: LoadedPlan,
    step_name: str,
    connections: Mapping[str, ResolvedConnection],
    redactor: Redactor,
    sample: int,
    page_size: int,
    time_scale: float = 1.0,
) -> list[dict[str, Any]]:
    """The first ``sample`` records of the step's read (fewer when the source holds fewer), read in pages of
    ``page_size`` through the connection's transport (its auth and budget), one page at a time."""
    plan = resolved_paths(loaded.plan, connections)
    step = plan.steps[step_name]
    source = step.read.from_
    reader = make_reader(
        plan.connections[source].platform,
        step.read.entity,
        step.read.filter,
        page_size,
        f"{step_name}:peek",
        key=step.read.key,
        folder=connection_folder(plan, source, Path(loaded.file).parent),
    )
    records: list[dict[str, Any]] = []
    transport = build_transport(plan, source, connections[source], redactor, time_scale=time_scale)
    async with transport:
        feed = page_feed(step_name, reader, transport, StepCounters(), 1)
        send, receive = anyio.create_memory_object_stream[tuple[str, list[dict[str, Any]]]](1)
        async with anyio.create_task_group() as tg:
            tg.start_soon(feed.run, (), send)
            async with receive:
                async for _, page in receive:
                    records.extend(page[: sample - len(records)])
                    if len(records) >= sample:
                        break
            tg.cancel_scope.cancel()
    return records


def _percent(stats: FieldStats) -> str:
    return f"{stats.fill_rate:.0%}"


def render_text(step: str, where: str, sample: int, read: int, stats: list[FieldStats]) -> str:
    lines = [f"step {step}: {read:,} record{'s' if read != 1 else ''} read from {where} (sample {sample:,})"]
    if not stats:
        lines.append("  the source returned no record")
        return "\n".join(lines)
    width = max(len(s.name) for s in stats)
    lines.append(f"  {'field':<{width}}  {'filled':>6}  {'types':<16}  examples")
    for s in stats:
        examples = ", ".join(s.examples)
        lines.append(f"  {s.name:<{width}}  {_percent(s):>6}  {'/'.join(s.types) or '-':<16}  {examples}")
    ids = [s for s in stats if s.id_like]
    if ids:
        lines.append("")
        lines.append("ids and statuses (distinct values in the sample, with their counts):")
        for s in ids:
            if s.unique:
                text = "one value per record (a key)"
            elif not s.values:
                text = "no value"
            else:
                text = ", ".join(f"{v} ×{n}" for v, n in s.values)
            lines.append(f"  {s.name:<{width}}  {text}")
    return "\n".join(lines)


def render_json(step: str, where: str, sample: int, read: int, stats: list[FieldStats]) -> dict[str, Any]:
    return {
        "step": step,
        "read": where,
        "sample": sample,
        "records": read,
        "fields": [
            {
                "name": s.name,
                "filled": s.filled,
                "fill_rate": round(s.fill_rate, 4),
                "types": list(s.types),
                "examples": list(s.examples),
                "secret": s.secret,
            }
            for s in stats
        ],
        "ids": {
            s.name: {"unique": s.unique, "values": [{"value": v, "count": n} for v, n in s.values]}
            for s in stats
            if s.id_like
        },
    }
