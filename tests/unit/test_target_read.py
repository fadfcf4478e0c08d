"""The target's records are read before a step writes: pages whose total is known go concurrently (as many
as the target's connection allows), and a refused page makes the view unknowable, whichever page it is."""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import anyio
import orjson
import pytest

from migrator.connectors.base import Request, Response
from migrator.connectors.registry import make_writer
from migrator.runtime.target_index import CurrentValues, read_current_values

pytestmark = pytest.mark.anyio

USERS = 1_000


@dataclass
class PagedTarget:
    """Velpic ``GET /user`` pages of ``USERS`` users; each call waits until every other task is blocked, so
    the calls a reader makes at once are all in flight together (``peak``)."""

    concurrency: int
    refuse_start: int | None = None
    in_flight: int = 0
    peak: int = 0
    calls: int = 0

    @property
    def limits(self) -> Any:
        return SimpleNamespace(concurrency=self.concurrency)

    async def send(self, request: Request) -> Response:
        params = dict(request.params)
        start, size = int(params.get("startIndex", 0)), int(params.get("maxResults", 100))
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await anyio.wait_all_tasks_blocked()
        self.in_flight -= 1
        if start == self.refuse_start:
            return Response(403, b'{"error": "Access denied"}')
        users = [
            {"id": i, "employeeNumber": f"E{i}", "firstName": f"F{i}"}
            for i in range(start, min(USERS, start + size))
        ]
        meta = {"totalResultCount": USERS, "startIndex": start, "endIndex": start + len(users)}
        return Response(200, orjson.dumps({"results": users, "meta": meta}))


async def _read(target: PagedTarget) -> Any:
    writer = make_writer("velpic", "user", "bulk", "empNo")
    return await read_current_values(target, "velpic", "user", writer, "users", ["firstName"])  # type: ignore[arg-type]


async def test_planned_pages_are_read_as_concurrently_as_the_connection_allows() -> None:
    target = PagedTarget(concurrency=4)
    with anyio.fail_after(30):  # a guard: a sequential reader never has two calls in flight
        current = await _read(target)
    assert current is not None and len(current) == USERS
    assert target.calls == USERS // 100
    assert target.peak == 4
    record = current.get("e7")
    assert record is not None and record.target_id == "7" and current.values(record) == {"firstName": "F7"}
    current.close()


async def test_a_refused_page_among_the_concurrent_ones_makes_the_view_unknowable() -> None:
    target = PagedTarget(concurrency=4, refuse_start=500)
    assert await _read(target) is None


def test_the_view_of_the_target_stays_out_of_memory_however_many_records_it_holds() -> None:
    """200,000 records read and 200,000 created by the run: the Python heap grows by a few MiB at most
    (held in memory, the view took ~150 MB per million records)."""
    current = CurrentValues(("firstName", "lastName", "roles"))
    tracemalloc.start()
    try:
        for i in range(200_000):
            current.add(f"e{i}", str(i), {"firstName": f"F{i}", "lastName": f"L{i}", "roles": [6]})
        current.written((f"n{i}", str(10**6 + i)) for i in range(200_000))
        assert len(current) == 400_000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak / 2**20:.1f} MiB"
    found = current.lookup(["e5", "n5", "missing"])
    assert set(found) == {"e5", "n5"}
    assert found["e5"].values == {"firstName": "F5", "lastName": "L5", "roles": [6]} and not found["e5"].used
    assert found["n5"].written and found["n5"].used and found["n5"].target_id == str(10**6 + 5)
    current.close()
