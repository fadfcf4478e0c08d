"""Request, status and fault counters behind ``GET /_sandbox/stats``: plain dict increments, cheap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migrator.sandbox.store import Table


class Stats:
    """Counts per (platform, method, route template), statuses per platform, 429s from budgets, faults, and
    the most requests each platform had in flight at once (a client's concurrency, as the server sees it)."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], int] = {}
        self.statuses: dict[str, dict[int, int]] = {}
        self.rate_limited = 0
        self.faults: dict[str, int] = {}
        self.in_flight: dict[str, int] = {}
        self.peak_in_flight: dict[str, int] = {}

    def clear(self) -> None:
        """Every count back to zero; the peaks start again from the requests in flight now."""
        self.requests.clear()
        self.statuses.clear()
        self.rate_limited = 0
        self.faults.clear()
        self.peak_in_flight = {name: n for name, n in self.in_flight.items() if n}

    def entered(self, platform: str) -> None:
        """A request to ``platform`` arrived (before its latency, faults and handler)."""
        now = self.in_flight[platform] = self.in_flight.get(platform, 0) + 1
        if now > self.peak_in_flight.get(platform, 0):
            self.peak_in_flight[platform] = now

    def left(self, platform: str) -> None:
        """That request is answered, dropped or abandoned by its client."""
        self.in_flight[platform] -= 1

    def request(self, platform: str, method: str, route: str, status: int | None) -> None:
        """One request; ``status`` is None when no response was sent (reset, lost response)."""
        key = (platform, method, route)
        self.requests[key] = self.requests.get(key, 0) + 1
        if status is not None:
            per_platform = self.statuses.get(platform)
            if per_platform is None:
                per_platform = self.statuses[platform] = {}
            per_platform[status] = per_platform.get(status, 0) + 1

    def fault(self, kind: str) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + 1

    def snapshot(self, tables: Mapping[str, Mapping[str, Mapping[str, Table]]]) -> dict[str, Any]:
        """The ``/_sandbox/stats`` document; ``tables`` is platform → tenant → entity → Table."""
        return {
            "requests": [
                {"platform": platform, "method": method, "route": route, "count": count}
                for (platform, method, route), count in sorted(self.requests.items())
            ],
            "statuses": {
                platform: {str(status): n for status, n in sorted(counts.items())}
                for platform, counts in sorted(self.statuses.items())
            },
            "rate_limited": self.rate_limited,
            "faults": dict(sorted(self.faults.items())),
            "peak_in_flight": dict(sorted(self.peak_in_flight.items())),
            "records": {
                platform: {
                    tenant: {entity: table.stats() for entity, table in entities.items()}
                    for tenant, entities in tenants.items()
                }
                for platform, tenants in tables.items()
            },
        }
