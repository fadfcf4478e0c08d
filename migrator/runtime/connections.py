"""One ``Transport`` per plan connection: its budgets (plan, else the catalog's documented ones), reserve,
concurrency, timeout and auth. Used by ``run``, ``verify`` and ``explain --probe``."""

from __future__ import annotations

import time
from collections.abc import Callable

from migrator.connectors.catalog import CATALOG
from migrator.connectors.registry import make_auth
from migrator.limits import ConnectionLimits, RateBudgets
from migrator.logging import Redactor
from migrator.plan.env import ResolvedConnection
from migrator.plan.model import Budget, Connection, Plan
from migrator.plan.rates import Rate, parse_rate
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
    budgets = connection_budgets(conn, resolved.platform, clock, time_scale)
    return Transport(
        name=name,
        platform=resolved.platform,
        base_url=resolved.base_url or "",
        auth=make_auth(resolved.platform, resolved.credentials),
        limits=ConnectionLimits(budgets, concurrency=concurrency),
        redactor=redactor,
        timeout=conn.timeout,
        verify_tls=verify_tls,
        time_scale=time_scale,
    )


def connection_budgets(
    conn: Connection, platform: str, clock: Callable[[], float], time_scale: float
) -> RateBudgets:
    """The endpoint budgets of one connection: the plan's, else the catalog's documented ones, with its
    reserve; ``time_scale`` compresses them for a sandbox rehearsal."""
    spec = CATALOG[platform]
    default: Rate | None = spec.budget
    endpoints: dict[str, str] = {}
    reserve = 0.0
    if isinstance(conn.budget, str):
        default = parse_rate(conn.budget)
    elif isinstance(conn.budget, Budget):
        reserve = conn.budget.reserve
        endpoints = dict(conn.budget.endpoints)
        if conn.budget.default is not None:
            default = parse_rate(conn.budget.default)
    rates = {k: parse_rate(v) for k, v in endpoints.items()}
    if time_scale != 1.0:
        default = None if default is None else Rate(default.count, default.per_seconds / time_scale)
        rates = {k: Rate(r.count, r.per_seconds / time_scale) for k, r in rates.items()}
    window = default.per_seconds if default is not None else 1.0
    # the limiter's window guard counts each request until its answer arrives, which bounds the server's count
    # whatever its delay (a loaded server counts some requests tens of ms after we send them); the margin only
    # covers clock rounding and a server clock running a little fast: 0.1% of the window
    margin = 0.001 * window
    return RateBudgets(default=default, endpoints=dict(rates), reserve=reserve, margin=margin, clock=clock)
