"""``explain --probe``: ask each step's source how many records it holds, with one small request.

Velpic answers ``meta.totalResultCount`` and accessplanit v2 ``$count`` for a page of one record; a local file
is counted by reading it. Sources that give no total (OneFile's paged search, accessplanit v1, aNewSpring's
full lists) and nested reads (once per parent record) stay unknown: counting them would be a full read.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path

from migrator.connectors.base import CountingReader, NestedReader, PagedReader
from migrator.connectors.registry import make_reader
from migrator.graph import TaskGraph
from migrator.logging import Redactor
from migrator.plan.env import ResolvedConnection, resolved_paths
from migrator.plan.model import Plan
from migrator.runtime.build import connection_folder
from migrator.runtime.connections import build_transport
from migrator.transport import Transport

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
    """Records each step would read, or None where the source cannot say without a full read."""
    plan = resolved_paths(plan, connections)
    counts: dict[str, int | None] = {}
    async with AsyncExitStack() as stack:
        transports: dict[str, Transport] = {}
        for name in graph.order:
            node = graph.steps[name]
            step = plan.steps[name]
            if node.parent is not None:
                counts[name] = None
                continue
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
                continue
            if isinstance(reader, NestedReader) or not isinstance(reader, PagedReader):
                counts[name] = None
                continue
            if conn not in transports:
                transport = build_transport(plan, conn, connections[conn], redactor, time_scale=time_scale)
                transports[conn] = await stack.enter_async_context(transport)
            page = reader.paginator().start(())
            response = await transports[conn].send(reader.page_request(page))
            counts[name] = reader.decode_page(response).total if response.status == 200 else None
    return counts
