"""A step's circuit breakers: limits on the records it rejects, creates and updates.

A limit is a count (``500``: at most 500) or a percentage (``"2%"``) of the step's records: the source's count
when the source tells it up front, else the records read so far (a burst of rejections at the start of a step
can then trip a percentage early: give a count where that matters). A step whose figure goes past a limit
stops cleanly: no more batches are made, the batches in flight finish and are journaled, and the step fails with
a message naming the limit and the figure (the figure that trips ``max_rejected = 5`` is 6). Records not yet
sent are not in the journal: a resumed run writes them.

Figures count the whole step, not one run of it: a resumed run starts from what the journal already holds
(``Baseline``), so resuming a stopped step with the same limits stops it again, and raising the limit lets it
go on. A ``--retry-rejected`` or ``--delta`` pass counts only what it writes itself.

:meth:`StepLimits.breach` is pure: a preview (``run --dry-run``, whose would-create and would-update counts go
through the same check) asks it with the figures it expects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import anyio

from migrator.journal import LedgerCounts
from migrator.runtime.counters import StepCounters
from migrator.runtime.failures import StepFailed

__all__ = ["Baseline", "Breach", "Breaker", "Figures", "Limit", "StepLimits", "parse_limit"]

LimitKey = Literal["max_rejected", "max_creates", "max_updates"]

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")

#: what each limit counts, in a message
_NOUN: dict[str, str] = {"max_rejected": "rejected", "max_creates": "created", "max_updates": "updated"}


def parse_limit(value: int | str) -> tuple[int | None, float | None]:
    """A limit's ``(count, percent)`` from the plan (``500`` or ``"2%"``); ValueError says what is wrong."""
    if isinstance(value, bool):
        raise ValueError(f"a count (500) or a percentage ('2%'), got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a count must be 0 or more, got {value}")
        return value, None
    match = _PERCENT.match(value)
    if match is None:
        raise ValueError(f"a count (500) or a percentage ('2%'), got {value!r}")
    percent = float(match.group(1))
    if percent > 100:
        raise ValueError(f"a percentage is at most 100%, got {value!r}")
    return None, percent


@dataclass(frozen=True, slots=True)
class Limit:
    """One breaker: ``key`` as the plan names it, ``where`` it was set (``limits.max_rejected``,
    ``on_error.max_rejected`` or ``defaults.max_rejected``), and a ``count`` or a ``percent``."""

    key: LimitKey
    where: str
    count: int | None = None
    percent: float | None = None

    @classmethod
    def of(cls, key: LimitKey, where: str, value: int | str) -> Limit:
        count, percent = parse_limit(value)
        return cls(key, where, count, percent)

    def allowed(self, base: int) -> float:
        """How many records the limit allows out of ``base``."""
        if self.count is not None:
            return float(self.count)
        assert self.percent is not None
        return self.percent * base / 100.0

    def __str__(self) -> str:
        return f"{self.count}" if self.count is not None else f'"{self.percent:g}%"'


@dataclass(frozen=True, slots=True)
class Figures:
    """What a step did so far: the records its percentages are of (``base``), and those it rejected, created
    and updated."""

    base: int
    rejected: int = 0
    created: int = 0
    updated: int = 0

    def of(self, key: LimitKey) -> int:
        return {"max_rejected": self.rejected, "max_creates": self.created, "max_updates": self.updated}[key]


@dataclass(frozen=True, slots=True)
class Breach:
    """A limit gone past: ``figure`` records out of ``base``."""

    limit: Limit
    figure: int
    base: int

    def message(self, step: str) -> str:
        limit = self.limit
        of = f" of {self.base:,} records" if limit.percent is not None else ""
        return (
            f"step {step}: {self.figure:,} records {_NOUN[limit.key]}{of}, more than {limit.where} = {limit}. "
            "The step stopped; the journal is consistent. Look at what it did (`migrator status`, the report's "
            "errors.csv), then fix the data or the plan, or raise the limit if this is expected, and run again "
            "to resume (a changed limit needs no --allow-plan-change): done records are not written twice."
        )


@dataclass(frozen=True, slots=True)
class StepLimits:
    """A step's breakers, each unset (None) or a :class:`Limit`."""

    rejected: Limit | None = None
    creates: Limit | None = None
    updates: Limit | None = None

    def breach(self, figures: Figures) -> Breach | None:
        """The first limit ``figures`` go past, or None (pure)."""
        for limit in (self.rejected, self.creates, self.updates):
            if limit is None:
                continue
            figure = figures.of(limit.key)
            if figure > limit.allowed(figures.base):
                return Breach(limit, figure, figures.base)
        return None


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the journal holds of a step before a normal run resumes it: its settled records (done or
    rejected), and of those the rejected, created and updated ones. Zero for a first run, a retry or a
    delta."""

    settled: int = 0
    rejected: int = 0
    created: int = 0
    updated: int = 0

    @classmethod
    def of(cls, counts: LedgerCounts | None) -> Baseline:
        if counts is None:
            return cls()
        settled = counts.records_done + counts.records_rejected
        return cls(settled, counts.records_rejected, counts.created, counts.updated)


@dataclass
class Breaker:
    """A step's limits and where its figures start (``baseline``). :meth:`check` trips it once the step goes
    past a limit: ``tripped`` holds the breach, and the cancel scope the step reads and maps in
    (:meth:`reads`) is cancelled, so that no more batches are made while the writes in flight finish and are
    journaled."""

    limits: StepLimits = StepLimits()
    baseline: Baseline = Baseline()
    tripped: Breach | None = None
    reading: anyio.CancelScope | None = None

    def reads(self) -> anyio.CancelScope:
        """The cancel scope the step reads and maps in (a tripped breaker cancels it)."""
        self.reading = anyio.CancelScope()
        return self.reading

    def figures(self, counters: StepCounters) -> Figures:
        """The step's figures now. The base is the source's count when it told it, else every record the
        step has met: read in this run and not settled before, plus those settled before."""
        b = self.baseline
        base = counters.total if counters.total is not None else counters.read - counters.skipped + b.settled
        return Figures(
            base=base,
            rejected=b.rejected + counters.rejected,
            created=b.created + counters.created,
            updated=b.updated + counters.updated,
        )

    def check(self, counters: StepCounters) -> None:
        """Trip when the step went past a limit (the first breach is kept)."""
        if self.tripped is not None:
            return
        breach = self.limits.breach(self.figures(counters))
        if breach is not None:
            self.tripped = breach
            if self.reading is not None:
                self.reading.cancel()

    def raise_if_tripped(self, step: str) -> None:
        """``StepFailed`` naming the limit and the figure, when the breaker tripped."""
        if self.tripped is not None:
            raise StepFailed(self.tripped.message(step))
