"""Estimate arithmetic for ``migrator explain`` — pure functions on numbers.

The model:

- **Reads** of N records with page size P: ``ceil(N / P)`` requests when the API reports totals, else
  ``floor(N / P) + 1`` (the reader stops at the first short or empty page); at least 1. An ``unpaged`` list is
  1 request; a local ``file`` 0. (Styles as in :class:`migrator.connectors.spec.Paging`.)
- **Writes**: one request per record for per-record modes (upsert, create, update on most platforms), else
  ``ceil(N / batch)``.
- **Budget**: a step's endpoint draws from a budget (plan override, else the catalog default) scaled by
  ``1 - reserve``. Endpoints without a budget are assumed not to limit the wall time (latency is not modelled).
- **Per record**: a step's read and write requests divided by its records (``per_record``): what each record
  costs in requests. The fewest a route allows (``fewest_requests``) reads with the largest page and writes
  with the largest batch its platforms take.
- **A step** reads and writes in a pipeline, so its time is the max over its budgets of the time that budget
  needs for its requests.
- **Sharing**: steps of one level run at the same time; steps drawing from the same budget share it fairly
  (processor sharing). With requests ``r_i`` on a budget of rate ``R``, step ``i`` is done with it after
  ``sum_j min(r_j, r_i) / R``.
- **Levels** are barriers: a level starts when the previous one is done; the plan's time is the sum of the
  levels' times (a level's time is its slowest step). This overestimates a little when a long step does not
  block the next level's steps.

Example: 42,000 accessplanit upserts (one request each) at 5000/hour take 42,000 / 5000 h = 8.4 h = 8 h 24 min.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping

__all__ = [
    "fewest_requests",
    "format_duration",
    "per_record",
    "read_requests",
    "shared_durations",
    "write_requests",
]


def read_requests(records: int, style: str, page_size: int | None, knows_total: bool = True) -> int:
    """Requests to read ``records`` records of paging ``style`` (see the module docstring)."""
    if style == "file":
        return 0
    if style == "unpaged" or page_size is None:
        return 1
    if knows_total:
        return max(1, math.ceil(records / page_size))
    return records // page_size + 1


def write_requests(records: int, per_record: bool, batch: int) -> int:
    if batch <= 0:
        raise ValueError(f"batch must be positive, got {batch}")
    return records if per_record else math.ceil(records / batch)


def per_record(requests: int | None, records: int | None) -> float | None:
    """``requests`` per record of ``records``; None when either is unknown or there are no records."""
    if requests is None or not records:
        return None
    return requests / records


def fewest_requests(
    records: int,
    style: str,
    max_page: int | None,
    knows_total: bool,
    per_record_write: bool,
    max_batch: int,
) -> tuple[int, int]:
    """``(reads, writes)`` for ``records`` records read in pages of ``max_page`` (the largest a platform
    serves; None: one request, as in :func:`read_requests`) and written in batches of ``max_batch`` (the largest
    its write takes)."""
    return (
        read_requests(records, style, max_page, knows_total),
        write_requests(records, per_record_write, max_batch),
    )


def shared_durations(
    loads: Mapping[str, Mapping[Hashable, int]], rates: Mapping[Hashable, float | None]
) -> dict[str, float | None]:
    """Seconds each step of one level needs, given its requests per budget and each budget's rate (req/s).

    ``None`` for a step none of whose requests go to a rate-limited budget.
    """
    per_bucket: dict[Hashable, list[int]] = {}
    for buckets in loads.values():
        for bucket, n in buckets.items():
            per_bucket.setdefault(bucket, []).append(n)
    out: dict[str, float | None] = {}
    for step, buckets in loads.items():
        worst: float | None = None
        for bucket, n in buckets.items():
            rate = rates.get(bucket)
            if rate is None or rate <= 0:
                continue
            seconds = sum(min(other, n) for other in per_bucket[bucket]) / rate
            worst = seconds if worst is None else max(worst, seconds)
        out[step] = worst
    return out


def format_duration(seconds: float) -> str:
    """``"8 h 24 min"``, ``"3 min 20 s"``, ``"45 s"``, ``"2 d 3 h"``."""
    if seconds < 60:
        return f"{math.ceil(seconds)} s" if seconds > 0 else "0 s"
    if seconds < 3600:
        m, s = divmod(round(seconds), 60)
        return f"{m} min {s} s" if s else f"{m} min"
    minutes = round(seconds / 60)
    if minutes < 24 * 60:
        h, m = divmod(minutes, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    hours = round(seconds / 3600)
    d, h = divmod(hours, 24)
    return f"{d} d {h} h" if h else f"{d} d"
