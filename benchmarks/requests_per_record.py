"""Requests per record of every benchmark route, as ``migrator explain`` estimates them for the plan (read pages
+ writes per record), next to the fewest the platforms allow: pages of the largest size the source serves and
the largest batch the target's write takes (``migrator.connectors.catalog``). No server is needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import PLANS
from migrator.connectors.catalog import entity_spec
from migrator.estimate import fewest_requests, per_record
from migrator.graph import compile_graph, estimate_graph
from migrator.plan.load import load_plan

RECORDS = 100_000


def route_rows(plans: tuple[Path, ...] | None = None, records: int = RECORDS) -> list[dict[str, Any]]:
    """One row per step of every plan in ``benchmarks/plans``."""
    rows = []
    for path in plans or tuple(sorted(PLANS.glob("*.toml"))):
        loaded = load_plan(str(path))
        graph = compile_graph(loaded)
        estimate = estimate_graph(graph, dict.fromkeys(graph.order, records))
        for name in graph.order:
            step, node, est = loaded.plan.steps[name], graph.steps[name], estimate.steps[name]
            source = entity_spec(loaded.plan.connections[step.read.from_].platform, step.read.entity)
            target = entity_spec(loaded.plan.connections[step.write.to].platform, step.write.entity)
            assert source is not None and source.read is not None and target is not None
            write = target.writes[node.mode]
            paging = source.read.paging
            reads, writes = fewest_requests(
                records, paging.style, paging.max_size, paging.knows_total, write.per_record, write.max_batch
            )
            rows.append(
                {
                    "plan": path.name,
                    "step": name,
                    "route": f"{node.read.platform} {node.read.endpoint} → {node.write.platform} "
                    f"{node.write.endpoint}",
                    "read": per_record(est.read_requests, records),
                    "write": per_record(est.write_requests, records),
                    "fewest_read": per_record(reads, records),
                    "fewest_write": per_record(writes, records),
                    "largest": f"page {paging.max_size or '—'}, batch {write.max_batch}",
                }
            )
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The Markdown table of :func:`route_rows`."""
    lines = [
        f"Per record, estimated for {RECORDS:,} records: read pages + writes, as `migrator explain` shows "
        "them; the fewest the platforms allow reads the largest page the source serves and writes the largest "
        "batch the target takes, as each connector declares them (docs/platforms/).",
        "",
        "| Plan | Step | Route | Plan: read + write | Fewest: read + write | Largest page, batch |",
        "|---|---|---|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['plan']}` | {r['step']} | {r['route']} | {r['read']:.4g} + {r['write']:.4g} "
            f"= {r['read'] + r['write']:.4g} | {r['fewest_read']:.4g} + {r['fewest_write']:.4g} "
            f"= {r['fewest_read'] + r['fewest_write']:.4g} | {r['largest']} |"
        )
    return lines


if __name__ == "__main__":
    print("\n".join(table(route_rows())))
