"""A ``Transport`` over the in-memory wire, for tests that run the engine without a socket.

``memory_transport(platform, auth, handler)`` builds the transport (use it with ``async with``); ``handler``
gets each call as a ``migrator.wire.WireRequest`` and returns (or awaits) a ``Response``, which
``json_response`` builds; raising ``ConnectionResetError`` or ``TimeoutError`` simulates a lost connection.
Time is a ``VirtualClock``: token lifetimes, rate budgets and retry waits read and advance it, and no test waits
for real.
"""

from __future__ import annotations

from typing import Any

import anyio.lowlevel
import orjson

from migrator.connectors.base import Auth, Response
from migrator.limits import ConnectionLimits, RateBudgets
from migrator.logging import Redactor
from migrator.protocol.retry import RetryPolicy
from migrator.transport import Transport
from migrator.wire import Handler, MemoryWire

__all__ = ["VirtualClock", "json_response", "memory_transport"]


class VirtualClock:
    """Time that moves only when a task sleeps: each ``sleep`` is recorded in ``sleeps`` and moves ``now``
    forward by its length at once (one task at a time: concurrent sleeps add up)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()


def json_response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
    """An answer with ``body`` as JSON (no body when None)."""
    return Response(status, b"" if body is None else orjson.dumps(body), headers or {})


def memory_transport(
    platform: str,
    auth: Auth,
    handler: Handler,
    *,
    clock: VirtualClock | None = None,
    budgets: RateBudgets | None = None,
    concurrency: int = 4,
    retry: RetryPolicy | None = None,
    redactor: Redactor | None = None,
    name: str = "memory",
) -> Transport:
    """A transport of ``platform`` with ``auth`` whose calls ``handler`` answers. The transport reads ``clock``
    for tokens and sleeps on it between retries; ``budgets`` (build them on the same clock) default to none:
    every endpoint unlimited."""
    time = clock or VirtualClock()
    return Transport(
        name=name,
        platform=platform,
        base_url="memory:",
        auth=auth,
        limits=ConnectionLimits(
            budgets or RateBudgets(clock=time.clock, sleep=time.sleep), concurrency=concurrency
        ),
        redactor=redactor or Redactor(),
        retry=retry,
        clock=time.clock,
        sleep=time.sleep,
        wire=MemoryWire(handler),
    )
