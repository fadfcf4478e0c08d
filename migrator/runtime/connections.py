"""One ``Transport`` per plan connection: its budgets (:func:`migrator.plan.budgets.resolve_budgets`: the
plan's, else the catalog's documented ones), concurrency, timeout and auth. Used by ``run``, ``verify`` and
``explain --probe``; :class:`OpenedTransports` opens them on first use, for the passes that ask a few
connections a few questions (the inventory, the probe)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack

import anyio

from migrator.connectors.catalog import CATALOG
from migrator.connectors.registry import make_auth
from migrator.limits import ConnectionLimits, RateBudgets
from migrator.logging import Redactor
from migrator.plan.budgets import Budgets, resolve_budgets
from migrator.plan.env import ResolvedConnection
from migrator.plan.model import Connection, Plan
from migrator.transport import Transport

__all__ = ["DEFAULT_CONCURRENCY", "OpenedTransports", "build_transport", "connection_budgets"]

DEFAULT_CONCURRENCY = 8


def build_transport(
    plan: Plan,
    name: str,
    resolved: ResolvedConnection,
    redactor: Redactor,
    *,
    verify_tls: bool = True,
    time_scale: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> Transport:
    """The (not yet entered) transport of connection ``name``; use it with ``async with``."""
    conn = plan.connections[name]
    concurrency = conn.concurrency or plan.defaults.concurrency or DEFAULT_CONCURRENCY
    budgets = connection_budgets(conn, resolved.platform).compressed(time_scale)
    window = budgets.default.per_seconds if budgets.default is not None else 1.0
    # the limiter's window guard counts each request until its answer arrives, which bounds the server's count
    # whatever its delay (a loaded server counts some requests tens of ms after we send them); the margin only
    # covers clock rounding and a server clock running a little fast: 0.1% of the window
    limits = ConnectionLimits(RateBudgets(budgets, margin=0.001 * window, clock=clock), concurrency=concurrency)
    return Transport(
        name=name,
        platform=resolved.platform,
        base_url=resolved.base_url or "",
        auth=make_auth(resolved.platform, resolved.credentials),
        limits=limits,
        redactor=redactor,
        timeout=conn.timeout,
        verify_tls=verify_tls,
        time_scale=time_scale,
    )


class OpenedTransports:
    """The plan's connections' transports, each built and opened the first time it is asked for (by any of
    the tasks that share this), and all closed when the ``async with`` ends. ``await opened(name)``."""

    def __init__(
        self,
        plan: Plan,
        connections: Mapping[str, ResolvedConnection],
        redactor: Redactor,
        *,
        verify_tls: bool = True,
        time_scale: float = 1.0,
    ) -> None:
        self._plan, self._connections, self._redactor = plan, connections, redactor
        self._verify_tls, self._time_scale = verify_tls, time_scale
        self._open: dict[str, Transport] = {}
        self._opening = anyio.Lock()  # two tasks asking at once for one connection open it once
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> OpenedTransports:
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def __call__(self, name: str) -> Transport:
        async with self._opening:
            if name not in self._open:
                built = build_transport(
                    self._plan,
                    name,
                    self._connections[name],
                    self._redactor,
                    verify_tls=self._verify_tls,
                    time_scale=self._time_scale,
                )
                self._open[name] = await self._stack.enter_async_context(built)
        return self._open[name]


def connection_budgets(conn: Connection, platform: str) -> Budgets:
    """The budgets of a connection to ``platform`` as the plan states them, else as the catalog documents
    them; a run keeps ``connection_budgets(...).stated()`` in its statistics for the reports."""
    return resolve_budgets(conn.budget, CATALOG[platform].budget)
