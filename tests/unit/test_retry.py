"""Retry decisions: full-jitter bounds, give-up rules, Retry-After parsing, and the retrying loop."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from migrator.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    RateLimitedError,
    TransientError,
    UnreachableError,
)
from migrator.protocol.retry import (
    GiveUp,
    Retry,
    RetryPolicy,
    backoff_delay,
    decide,
    parse_retry_after,
    retrying,
)

POLICY = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=10.0, max_total_delay=100.0)
NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (6, 10.0), (5000, 10.0)],
)
def test_full_jitter_bounds(attempt: int, ceiling: float) -> None:
    assert backoff_delay(attempt, POLICY, random=lambda: 0.0) == 0.0
    assert backoff_delay(attempt, POLICY, random=lambda: 0.5) == pytest.approx(ceiling / 2)
    assert backoff_delay(attempt, POLICY, random=lambda: 0.999999) == pytest.approx(ceiling, rel=1e-5)
    assert backoff_delay(attempt, POLICY, random=lambda: 0.999999) <= ceiling


def test_backoff_uses_the_real_random_within_bounds() -> None:
    delays = [backoff_delay(3, POLICY) for _ in range(500)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 400  # jittered, not constant


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TransientError("reset"), Retry),
        (RateLimitedError("429", retry_after=7.0), Retry),
        (RateLimitedError("429"), Retry),
        (PermanentError("404"), GiveUp),
        (AuthError("401"), GiveUp),
        (ConnectorError("?"), GiveUp),
        (ValueError("bug"), GiveUp),
    ],
)
def test_decision_by_error_class(error: BaseException, expected: type) -> None:
    assert isinstance(decide(1, error, POLICY, random=lambda: 0.5), expected)


def test_rate_limited_waits_retry_after_exactly() -> None:
    assert decide(1, RateLimitedError("429", retry_after=7.0), POLICY) == Retry(7.0)
    assert decide(2, RateLimitedError("429"), POLICY, random=lambda: 0.5) == Retry(1.0)


def test_gives_up_at_max_attempts() -> None:
    assert isinstance(decide(4, TransientError("x"), POLICY, random=lambda: 0.5), Retry)
    out = decide(5, TransientError("x"), POLICY, random=lambda: 0.5)
    assert isinstance(out, GiveUp)
    assert "5 attempts" in out.reason


def test_gives_up_past_max_total_delay() -> None:
    assert isinstance(decide(1, RateLimitedError("429", retry_after=60.0), POLICY, waited=40.0), Retry)
    out = decide(1, RateLimitedError("429", retry_after=61.0), POLICY, waited=40.0)
    assert isinstance(out, GiveUp)
    assert "max_total_delay" in out.reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 5 ", 5.0),
        ("1.5", 1.5),
        ("Wed, 01 Jan 2025 12:00:30 GMT", 30.0),  # IMF-fixdate
        ("Wednesday, 01-Jan-25 12:01:00 GMT", 60.0),  # RFC 850
        ("Wed Jan  1 12:00:10 2025", 10.0),  # asctime
        ("Wed, 01 Jan 2025 11:00:00 GMT", 0.0),  # in the past
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("12abc", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=lambda: NOW) == expected


def test_invalid_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="0 or more seconds"):
        RetryPolicy(base_delay=-1)


async def test_retrying_retries_transient_then_succeeds_with_injected_sleep() -> None:
    slept: list[float] = []
    calls = 0

    async def sleep(d: float) -> None:
        slept.append(d)

    async def call() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RateLimitedError("429", retry_after=3.0)
        if calls == 2:
            raise TransientError("reset")
        return "ok"

    seen: list[int] = []
    result = await retrying(
        call, POLICY, sleep=sleep, random=lambda: 0.5, on_retry=lambda n, e, d: seen.append(n)
    )
    assert result == "ok"
    assert calls == 3
    assert slept == [3.0, 1.0]
    assert seen == [1, 2]


async def test_retrying_raises_the_last_error_with_a_note() -> None:
    async def sleep(d: float) -> None:
        pass

    async def call() -> None:
        raise TransientError("still down")

    with pytest.raises(TransientError, match="still down") as info:
        await retrying(call, RetryPolicy(max_attempts=3), sleep=sleep, random=lambda: 0.0)
    assert any("3 attempts" in note for note in info.value.__notes__)


async def test_retrying_does_not_retry_permanent_errors() -> None:
    calls = 0

    async def sleep(d: float) -> None:
        raise AssertionError("must not sleep")

    async def call() -> None:
        nonlocal calls
        calls += 1
        raise AuthError("401")

    with pytest.raises(AuthError):
        await retrying(call, POLICY, sleep=sleep)
    assert calls == 1


def _refused() -> UnreachableError:
    return UnreachableError("cannot connect to http://h/x: connection refused", check="Check it")


def test_an_unreachable_platform_gets_a_few_quick_tries_not_the_backoff() -> None:
    policy = RetryPolicy()  # the defaults: a 5xx gets 8 attempts with up to a minute between them
    assert decide(1, _refused(), policy, random=lambda: 0.999) == Retry(0.5)
    assert decide(2, _refused(), policy, waited=0.5, random=lambda: 0.999) == Retry(0.5)
    gave_up = decide(3, _refused(), policy, waited=1.0)
    assert isinstance(gave_up, GiveUp) and "unreachable after 3 attempts" in gave_up.reason
    assert isinstance(decide(3, TransientError("503"), policy), Retry)  # a busy server is retried on


async def test_retrying_an_unreachable_platform_waits_one_second_in_all() -> None:
    slept: list[float] = []

    async def sleep(d: float) -> None:
        slept.append(d)

    async def call() -> str:
        raise _refused()

    with pytest.raises(UnreachableError):
        await retrying(call, RetryPolicy(), sleep=sleep)
    assert slept == [0.5, 0.5]


def test_tries_are_named_in_the_message() -> None:
    error = _refused().after(3, 1.04)
    assert str(error) == "cannot connect to http://h/x: connection refused (tried 3 times in 1.0 s). Check it"
    assert str(_refused().after(1, 0.0)).startswith(
        "cannot connect to http://h/x: connection refused (tried once)"
    )
