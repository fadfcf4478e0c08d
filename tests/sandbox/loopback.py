"""A connector against one served emulator over real loopback HTTP, as a run uses it.

``connection(...)`` serves the emulator (``tests.sandbox.conftest.serve_platform``) and yields a ``Transport``
to it built from the connector's own auth (no rate budget, retries without waiting), with the platform object
so that a test can read its records or flip its switches (``platform.ctx.options`` is read on every request).
``read_all(transport, reader)`` reads every page of a reader through the run's own fetch stage
(``runtime.fetch``) and returns the records it sends on, in order.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio

from migrator.connectors.base import Reader
from migrator.connectors.registry import make_auth
from migrator.limits import ConnectionLimits, RateBudgets
from migrator.logging import Redactor
from migrator.protocol.retry import RetryPolicy
from migrator.runtime.counters import StepCounters
from migrator.runtime.fetch import page_feed
from migrator.sandbox.platform import Platform
from migrator.transport import Transport
from tests.sandbox.conftest import serve_platform


@asynccontextmanager
async def connection(
    platform_cls: type[Platform],
    connector: str,
    base_path: str,
    credentials: Callable[[Any], Mapping[str, str]],
    *,
    scale: int = 60,
    options: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[Transport, Any]]:
    """A transport of ``connector`` to ``base_path`` of the served ``platform_cls``, with ``credentials`` read
    from the platform object (``lambda p: {"api_key": p.api_key("source")}``)."""
    async with serve_platform(platform_cls, scale=scale, options=options) as (client, platform):
        transport = Transport(
            name="loopback",
            platform=connector,
            base_url=str(client.make_url(base_path)),
            auth=make_auth(connector, dict(credentials(platform))),
            limits=ConnectionLimits(RateBudgets(), concurrency=4),
            redactor=Redactor(),
            retry=RetryPolicy(base_delay=0.0, max_delay=0.0),
        )
        async with transport:
            yield transport, platform


async def read_all(transport: Transport, reader: Reader) -> list[dict[str, Any]]:
    """Every record the fetch stage sends on for ``reader``, in the order it sends them."""
    send, receive = anyio.create_memory_object_stream[tuple[str, list[dict[str, Any]]]](math.inf)
    await page_feed("loopback", reader, transport, StepCounters(), 4).run((), send)
    async with receive:
        return [record async for _, records in receive for record in records]
