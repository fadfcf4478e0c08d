"""``explain --probe``: ask each step's source how many records it holds, with one small request, every step's
at once.

Velpic answers ``meta.totalResultCount`` and accessplanit v2 ``$count`` for a page of one record; a local file
is counted by reading it. Sources that give no total (OneFile's paged search, accessplanit v1, aNewSpring's
full lists) and nested reads (once per parent record) stay unknown: counting them would be a full read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anyio

from migrator.connectors.base import CountingReader, NestedReader, PagedReader
from migrator.connectors.registry import make_reader
from migrator.errors import first_leaf
from migrator.graph import TaskGraph
from migrator.logging import Redactor
from migrator.plan.env import ResolvedConnection, resolved_paths
from migrator.plan.model import Plan
from migrator.runtime.build import connection_folder
from migrator.runtime.connections import OpenedTransports

__all__ = ["probe_counts"]


async def probe_counts(
    plan: Plan,
    graph: TaskGraph,
    connections: Mapping[str, ResolvedConnection],
    redactor: Redactor,
    *,
    base_dir: Path,
    time_scale: float = 1.0,
) -> dict[str, int | None]:
    """Records each step would read, or None where the source cannot say without a full read; the steps'
    sources are asked all at once, each within its connection's concurrency and budget."""
    plan = resolved_paths(plan, connections)
    counts: dict[str, int | None] = dict.fromkeys(graph.order)

    async def count(name: str) -> None:
        node, step = graph.steps[name], plan.steps[name]
        conn = step.read.from_
        reader = make_reader(
            node.read.platform,
            step.read.entity,
            step.read.filter,
            1,
            f"{name}:probe",
            key=step.read.key,
            folder=connection_folder(plan, conn, base_dir),
        )
        if isinstance(reader, CountingReader):
            counts[name] = await reader.count()
        elif isinstance(reader, PagedReader) and not isinstance(reader, NestedReader):
            page = reader.paginator().start(())
            response = await (await opened(conn)).send(reader.page_request(page))
            counts[name] = reader.decode_page(response).total if response.status == 200 else None

    opened = OpenedTransports(plan, connections, redactor, time_scale=time_scale)
    try:
        async with opened, anyio.create_task_group() as group:
            for name in graph.order:
                if graph.steps[name].parent is None:  # a nested read (once per parent record): unknown
                    group.start_soon(count, name)
    except BaseExceptionGroup as errors:  # a source refused, or a reader cannot be made: that error, as it is
        raise first_leaf(errors) from None
    return counts
