"""``migrator explain PLAN [--count STEP=N ...] [--format text|json]``.

Steps in dependency order, what runs in parallel, the endpoints each step calls with their budgets, and the
estimated requests (also per record: read pages and writes) and wall time per step and in total (model:
:mod:`migrator.estimate`). With ``--probe``: each step's source count, and the inventory of the sources by
entity and status against what the plan reads (:mod:`migrator.coverage`), what it would leave behind included.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import anyio

from migrator.commands._plan_args import add_plan_arguments, environment
from migrator.connectors.catalog import CATALOG
from migrator.coverage import CoverageRow, plan_coverage, rows_to_json, summary_lines
from migrator.errors import PlanError
from migrator.estimate import format_duration, per_record
from migrator.graph import EndpointUse, PlanEstimate, StepNode, TaskGraph, compile_graph, estimate_graph
from migrator.logging import Redactor
from migrator.plan.decode import did_you_mean
from migrator.plan.env import env_references, resolve_connections, secret_values
from migrator.plan.load import LoadedPlan, load_plan
from migrator.runtime.inventory import take_inventory
from migrator.runtime.probe import probe_counts

__all__ = ["add_arguments", "parse_counts", "render_json", "render_text", "run"]

HELP = "show the task graph, endpoints, budgets and estimated requests and time"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)
    parser.add_argument(
        "--count",
        metavar="STEP=N",
        action="append",
        default=[],
        help="number of records STEP will read (repeatable); steps without a count are 'unknown'",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--probe",
        action="store_true",
        help="ask each source for its record count (one small request per step; needs the env vars)",
    )
    parser.add_argument("--time-scale", type=float, default=1.0, help=argparse.SUPPRESS)


def parse_counts(items: list[str], steps: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not value.strip().replace("_", "").replace(",", "").isdigit():
            raise PlanError.single(
                "--count", item, "expected STEP=N with N a whole number, e.g. --count users=42000"
            )
        if name not in steps:
            raise PlanError.single(
                "--count", item, f'unknown step "{name}"{did_you_mean(name, steps)}; steps: {", ".join(steps)}'
            )
        counts[name] = int(value.strip().replace("_", "").replace(",", ""))
    return counts


def run(args: argparse.Namespace) -> int:
    loaded = load_plan(args.plan)
    graph = compile_graph(loaded)
    counts = parse_counts(args.count, list(graph.order))
    env = environment(args)
    probed: dict[str, int | None] = {}
    coverage: list[CoverageRow] = []
    if args.probe:
        probed, coverage = _probe(loaded, graph, env, args.time_scale)
        counts = {**{k: v for k, v in probed.items() if v is not None}, **counts}  # --count wins
    estimate = estimate_graph(graph, counts)
    missing = sorted({var for _, var in env_references(loaded.plan) if var not in env})
    if args.format == "json":
        data = render_json(graph, estimate, missing)
        if args.probe:
            data["probed"] = probed
            data["coverage"] = rows_to_json(coverage)
        print(json.dumps(data, indent=2))
    else:
        if args.probe:
            found = ", ".join(f"{k}={v:,}" if v is not None else f"{k}=unknown" for k, v in probed.items())
            print(f"probed counts: {found}")
            print("\n".join(summary_lines(coverage, {})))
        print(render_text(graph, estimate, missing))
    return 0


def _probe(
    loaded: LoadedPlan, graph: TaskGraph, env: dict[str, str], time_scale: float
) -> tuple[dict[str, int | None], list[CoverageRow]]:
    """Each step's count, and the inventory of the plan's sources set against what the plan reads."""
    connections = resolve_connections(loaded.plan, env, loaded.file)
    redactor = Redactor(secret_values(connections))
    base_dir = Path(loaded.file).parent

    async def main() -> tuple[dict[str, int | None], list[CoverageRow]]:
        counts = await probe_counts(
            loaded.plan, graph, connections, redactor, base_dir=base_dir, time_scale=time_scale
        )
        tallies = await take_inventory(
            loaded.plan, connections, redactor, base_dir=base_dir, time_scale=time_scale
        )
        return counts, plan_coverage(loaded.plan, CATALOG, tallies)

    return anyio.run(main)


# ---------------------------------------------------------------- rendering


def _budget_text(use: EndpointUse) -> str:
    if use.bucket is None:
        return "local file, no requests"
    if use.budget is None:
        return "no budget"
    scope = " for the whole API" if use.bucket[1] == "*" else ""
    text = f"{use.budget}{scope} ({use.origin})"
    if use.reserve:
        text += f" - {use.reserve:.0%} reserve = {use.rate}"
    return text


def _n(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def _step_time(seconds: float | None, records: int | None, parent: str | None) -> str:
    if parent is not None:
        return f"unknown (one read per {parent})"
    if records is None:
        return "unknown (give --count)"
    if seconds is None:
        return "not limited by a budget"
    return format_duration(seconds)


def _write_shape(node: StepNode) -> str:
    if node.per_record:
        return "one record per request"
    return f"batches of {node.batch}"


def _read_shape(node: StepNode) -> str:
    style = node.read_paging.style
    if style == "file":
        return "file"
    if style == "unpaged" or node.page_size is None:
        return "one request, unpaged"
    return f"pages of {node.page_size}"


def render_text(graph: TaskGraph, estimate: PlanEstimate, missing_env: list[str]) -> str:
    lines = [f"plan {graph.name} ({graph.file}): {len(graph.order)} steps in {len(graph.levels)} levels"]
    for i, level in enumerate(graph.levels):
        seconds = estimate.level_seconds[i]
        when = "unknown" if seconds is None else format_duration(seconds)
        kind = "parallel: " if len(level) > 1 else ""
        lines.append("")
        lines.append(f"level {i + 1} ({kind}{', '.join(level)}) - {when}")
        for name in level:
            node = graph.steps[name]
            est = estimate.steps[name]
            after = f"; after {', '.join(node.depends_on)}" if node.depends_on else ""
            match = f", match {node.match}" if node.match else ""
            lines.append(f"  {name}: {node.mode}{match}{after}")
            lines.append(
                f"    read  {node.read.connection} {node.read.endpoint} - {_read_shape(node)} - "
                f"{_budget_text(node.read)} - {_n(est.read_requests)} requests"
            )
            lines.append(
                f"    write {node.write.connection} {node.write.endpoint} - {_write_shape(node)} - "
                f"{_budget_text(node.write)} - {_n(est.write_requests)} requests"
            )
            lines.append(
                f"    estimate: {_n(est.records)} records, {_n(est.requests)} requests, "
                f"{_step_time(est.seconds, est.records, node.parent)}"
            )
            lines.extend(_per_record_text(est.read_requests, est.write_requests, est.records))
    lines.append("")
    if estimate.total_seconds is None:
        total_time = f"unknown (at least {format_duration(estimate.known_seconds)})"
    else:
        total_time = format_duration(estimate.total_seconds)
    lines.append(f"total: {_n(estimate.total_requests)} requests, {total_time}")
    if missing_env:
        lines.append(f"note: not set in the environment: {', '.join(missing_env)} (needed to run)")
    return "\n".join(lines)


def _per_record_text(reads: int | None, writes: int | None, records: int | None) -> list[str]:
    """The step's requests per record (read pages + writes), when its record count is known."""
    read, write = per_record(reads, records), per_record(writes, records)
    if read is None or write is None:
        return []
    return [f"    per record: {read:.4g} read + {write:.4g} write = {read + write:.4g} requests"]


def _use_json(use: EndpointUse) -> dict[str, Any]:
    rate = use.rate
    return {
        "connection": use.connection,
        "platform": use.platform,
        "method": use.endpoint.method,
        "path": use.endpoint.path,
        "budget_key": None if use.bucket is None else use.bucket[1],
        "budget": None if use.budget is None else str(use.budget),
        "budget_origin": use.origin,
        "reserve": use.reserve,
        "effective_per_second": None if rate is None else rate.per_second,
    }


def render_json(graph: TaskGraph, estimate: PlanEstimate, missing_env: list[str]) -> dict[str, Any]:
    steps = []
    for name in graph.order:
        node = graph.steps[name]
        est = estimate.steps[name]
        steps.append(
            {
                "name": name,
                "level": node.level + 1,
                "depends_on": list(node.depends_on),
                "parallel_with": list(graph.parallel_with(name)),
                "mode": node.mode,
                "match": node.match,
                "page_size": node.page_size,
                "batch": node.batch,
                "per_record": node.per_record,
                "read": _use_json(node.read),
                "write": _use_json(node.write),
                "records": est.records,
                "read_requests": est.read_requests,
                "write_requests": est.write_requests,
                "requests": est.requests,
                "read_requests_per_record": per_record(est.read_requests, est.records),
                "write_requests_per_record": per_record(est.write_requests, est.records),
                "requests_per_record": per_record(est.requests, est.records),
                "seconds": est.seconds,
            }
        )
    return {
        "plan": graph.name,
        "file": graph.file,
        "levels": [list(level) for level in graph.levels],
        "steps": steps,
        "level_seconds": list(estimate.level_seconds),
        "total_requests": estimate.total_requests,
        "total_seconds": estimate.total_seconds,
        "total_duration": None if estimate.total_seconds is None else format_duration(estimate.total_seconds),
        "missing_env": missing_env,
    }
