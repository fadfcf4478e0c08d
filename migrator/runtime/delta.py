"""Where a ``--delta`` run starts reading from: the source platform's own clock, never the local one.

A delta run reads, from a source that can narrow its read by modified date (``ChangesReader``), only what
changed since the last completed run — less a safety margin. "Since" is taken from the source's answers: the
``Date`` header of the first page that run read, per step (``StepCounters.source_clock``), so a local clock
that is fast or slow cannot make a delta skip changes. A step whose last run saw no such header (an older
journal, a source without one) falls back to that run's local start time.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["DELTA_MARGIN", "delta_origins", "server_clock"]

#: seconds subtracted from the origin of a delta read by modified date (commits that land late, rounding)
DELTA_MARGIN = 600.0


def server_clock(headers: Mapping[str, str]) -> float | None:
    """The server's time (epoch seconds) from an answer's ``Date`` header, or None."""
    value = headers.get("date") or headers.get("Date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def delta_origins(runs: list[dict[str, Any]], stats: Mapping[int, Mapping[str, Any]]) -> dict[str, float]:
    """Per step, when the last completed run started reading its source, by the source's clock where it said
    (else the run's local start): what a delta reads changes since. ``runs`` and ``stats`` are the journal's
    (``Journal.runs``, ``Journal.run_stats``)."""
    done = [r for r in runs if r.get("status") == "done"]
    if not done:
        return {}
    last = max(done, key=lambda r: float(r["started"]))
    origins: dict[str, float] = {}
    steps = (stats.get(int(last["id"])) or {}).get("steps") or {}
    for name, counts in steps.items():
        clock = counts.get("source_clock") if isinstance(counts, Mapping) else None
        origins[str(name)] = float(clock) if isinstance(clock, int | float) else float(last["started"])
    origins["*"] = float(last["started"])
    return origins
