"""Retry decisions: exponential backoff with full jitter, ``Retry-After``, and when to give up.

Pure: randomness, the current time and sleeping are all passed in, so tests are tables that run in microseconds.

- :func:`decide` says what to do after attempt ``n`` failed with an error from :mod:`migrator.errors`:
  ``TransientError`` → retry after a jittered backoff; ``UnreachableError`` (connection refused, host not
  found) → retry only ``unreachable_attempts`` times, ``unreachable_delay`` seconds apart (a platform that is
  down or a wrong address fails within seconds, not after the minutes of backoff a busy server gets);
  ``RateLimitedError`` → retry after its ``retry_after`` (or the backoff when the server gave none);
  ``PermanentError`` / ``AuthError`` and anything that is not a classified connector error → give up at once.
- A request gives up after ``max_attempts`` attempts in all, or when the next wait would take the total time
  spent waiting past ``max_total_delay``.
- :func:`parse_retry_after` reads the header in both forms of RFC 9110 §10.2.3: delta-seconds and an HTTP-date.
- :func:`retrying` runs an async call under a policy with an injected ``sleep``.

Backoff is "full jitter" (AWS architecture blog, *Exponential Backoff And Jitter*): the wait before retry ``n``
is uniform in ``[0, min(max_delay, base_delay · 2^(n-1))]``.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from migrator.errors import (
    ConnectorError,
    PermanentError,
    RateLimitedError,
    TransientError,
    UnreachableError,
)

__all__ = [
    "Decision",
    "GiveUp",
    "Retry",
    "RetryPolicy",
    "backoff_delay",
    "decide",
    "parse_retry_after",
    "retrying",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one request tries.

    ``max_attempts`` counts every attempt, the first included (1 = never retry). ``max_total_delay`` bounds the
    sum of the waits of one request; it is large by default because a ``Retry-After`` from an hourly budget
    (accessplanit: 5000 requests per hour per endpoint) may legitimately ask for most of an hour.
    A connection that cannot be opened at all is tried ``unreachable_attempts`` times (within
    ``max_attempts``), ``unreachable_delay`` seconds apart: 3 tries in 1 s by default.
    """

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 60.0
    max_total_delay: float = 3900.0
    unreachable_attempts: int = 3
    unreachable_delay: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be at least 1; got {self.max_attempts}")
        if self.unreachable_attempts < 1:
            raise ValueError(
                f"RetryPolicy.unreachable_attempts must be at least 1; got {self.unreachable_attempts}"
            )
        if min(self.base_delay, self.max_delay, self.max_total_delay, self.unreachable_delay) < 0:
            raise ValueError(
                "RetryPolicy delays must be 0 or more seconds; got "
                f"base_delay={self.base_delay}, max_delay={self.max_delay}, "
                f"max_total_delay={self.max_total_delay}, unreachable_delay={self.unreachable_delay}"
            )


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop: ``reason`` says why, for the log and the dead letter."""

    reason: str


Decision = Retry | GiveUp


def backoff_delay(attempt: int, policy: RetryPolicy, random: Callable[[], float] = _random.random) -> float:
    """The full-jitter wait after failed attempt ``attempt`` (1-based); ``random()`` is uniform in [0, 1)."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1; got {attempt}")
    # 2 ** 1100 would overflow a float: cap the exponent, the ceiling is reached long before.
    ceiling = min(policy.max_delay, policy.base_delay * 2.0 ** min(attempt - 1, 1000))
    return ceiling * random()


def parse_retry_after(value: str | None, *, now: Callable[[], datetime] | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, or ``None`` if absent or unreadable.

    ``"120"`` → 120.0 (a decimal such as ``"1.5"`` is accepted too, some servers send one); an HTTP-date →
    seconds from ``now()`` (UTC, injectable) until that date, 0.0 if it is already past. Negative numbers and
    garbage give ``None``: the caller then falls back to its own backoff.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text[0].isdigit():
        try:
            seconds = float(text)
        except ValueError:
            seconds = -1.0
        if 0 <= seconds < math.inf:  # not NaN, not inf
            return seconds
        # "1 Jan" would start with a digit too but is no valid HTTP-date form (they start with a day name)
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 850 / asctime forms carry no zone: HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    current = now() if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def decide(
    attempt: int,
    error: BaseException,
    policy: RetryPolicy,
    *,
    waited: float = 0.0,
    random: Callable[[], float] = _random.random,
) -> Decision:
    """What to do after attempt ``attempt`` (from 1) failed with ``error``, ``waited`` seconds so far."""
    if isinstance(error, PermanentError):  # AuthError included
        return GiveUp(f"{type(error).__name__} is not retryable")
    if not isinstance(error, TransientError):
        what = "unclassified connector error" if isinstance(error, ConnectorError) else type(error).__name__
        return GiveUp(f"{what} is not retryable")
    if attempt >= policy.max_attempts:
        return GiveUp(f"gave up after {attempt} attempts (max_attempts={policy.max_attempts})")
    if isinstance(error, UnreachableError):
        if attempt >= policy.unreachable_attempts:
            return GiveUp(
                f"unreachable after {attempt} attempts (unreachable_attempts={policy.unreachable_attempts})"
            )
        return Retry(policy.unreachable_delay)
    if isinstance(error, RateLimitedError) and error.retry_after is not None:
        delay = max(0.0, error.retry_after)
    else:
        delay = backoff_delay(attempt, policy, random)
    if waited + delay > policy.max_total_delay:
        return GiveUp(
            f"waiting {delay:.1f}s more would exceed max_total_delay={policy.max_total_delay:g}s "
            f"(already waited {waited:.1f}s over {attempt} attempts)"
        )
    return Retry(delay)


async def retrying(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[object]],
    random: Callable[[], float] = _random.random,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Await ``call()`` until it succeeds or :func:`decide` gives up; then its last error propagates.

    ``on_retry(attempt, error, delay)`` is told about each retry before the wait (for logging). When giving up
    after more than one attempt, a note with the reason is added to the error (``BaseException.add_note``).
    Cancellation is never caught: ``sleep`` is the only await besides ``call``.
    """
    attempt = 0
    waited = 0.0
    while True:
        attempt += 1
        try:
            return await call()
        except Exception as error:
            decision = decide(attempt, error, policy, waited=waited, random=random)
            if isinstance(decision, GiveUp):
                if attempt > 1:
                    error.add_note(f"retry: {decision.reason}")
                raise
            if on_retry is not None:
                on_retry(attempt, error, decision.delay)
        await sleep(decision.delay)
        waited += decision.delay
