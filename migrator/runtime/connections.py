"""One ``Transport`` per plan connection: its budgets (plan, else the catalog's documented ones), reserve,
concurrency, timeout and auth. Used by ``run``, ``verify`` and ``explain --probe``."""

from __future__ import annotations

import time

from migrator.connectors.registry import make_auth
from migrator.limits import ConnectionLimits
from migrator.logging import Redactor
from migrator.plan.env import ResolvedConnection
from migrator.plan.model import Plan
from migrator.transport import Transport

__all__ = ["DEFAULT_CONCURRENCY", "build_transport"]

DEFAULT_CONCURRENCY = 8


def build_transport(
    plan: Plan,
    name: str,
    resolved: ResolvedConnection,
    redactor: Redactor,
    *,
    verify_tls: bool = True,
    time_scale: float = 1.0,
) -> Transport:
    """The (not yet entered) transport of connection ``name``; use it with ``async with``."""
    from migrator.runtime.runner import _budgets  # noqa: PLC0415 - one budget rule, kept in the runner

    conn = plan.connections[name]
    concurrency = conn.concurrency or plan.defaults.concurrency or DEFAULT_CONCURRENCY
    budgets = _budgets(conn, resolved.platform, time.monotonic, time_scale)
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
