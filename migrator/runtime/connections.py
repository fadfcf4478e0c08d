"""One ``Transport`` per plan connection: its budgets (:func:`migrator.plan.budgets.resolve_budgets`: the
plan's, else the catalog's documented ones), concurrency, timeout and auth. Used by ``run``, ``verify`` and
``explain --probe``."""

from __future__ import annotations

import time
from collections.abc import Callable

from migrator.connectors.catalog import CATALOG
from migrator.connectors.registry import make_auth
from migrator.limits import ConnectionLimits, RateBudgets
from migrator.logging import Redactor
from migrator.plan.budgets import Budgets, resolve_budgets
from migrator.plan.env import ResolvedConnection
from migrator.plan.model import Connection, Plan
from migrator.transport import Transport

__all__ = ["DEFAULT_CONCURRENCY", "build_transport", "connection_budgets"]

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


def connection_budgets(conn: Connection, platform: str) -> Budgets:
    """The budgets of a connection to ``platform`` as the plan states them, else as the catalog documents
    them; a run keeps ``connection_budgets(...).stated()`` in its statistics for the reports."""
    return resolve_budgets(conn.budget, CATALOG[platform].budget)
