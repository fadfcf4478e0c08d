"""Endpoint rate budgets on a virtual clock: the sliding-window cap, pacing, reserve, AIMD, Retry-After."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
import pytest

from migrator.limits import (
    AimdPolicy,
    ConnectionLimits,
    EndpointLimiter,
    RateBudgets,
)
from migrator.plan.budgets import Budgets
from migrator.plan.rates import parse_rate


class SequentialClock:
    """One task: sleeping just moves time forward."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


class VirtualTime:
    """Many tasks: time jumps to the earliest sleeper once every task is blocked. Only ``run`` watches for
    that: a task that must let the others block first awaits ``settle`` (never ``anyio.wait_all_tasks_blocked``,
    whose polling sleep would look blocked to ``run`` and let time jump in the meantime)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._settling: list[anyio.Event] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        event = anyio.Event()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._seq), event))
        await event.wait()

    async def settle(self) -> None:
        """Return once every other task is blocked, the clock where it was."""
        event = anyio.Event()
        self._settling.append(event)
        await event.wait()

    async def run(self, main: Callable[[], Awaitable[None]]) -> None:
        finished = False

        async def runner() -> None:
            nonlocal finished
            await main()
            finished = True

        async with anyio.create_task_group() as tg:
            tg.start_soon(runner)
            idle = 0
            while True:
                await anyio.wait_all_tasks_blocked()
                if finished:
                    break
                if self._settling:  # before time moves on
                    for event in self._settling:
                        event.set()
                    self._settling.clear()
                    idle = 0
                    continue
                if not self._sleepers:  # a finished task's callbacks may still be pending: let them run
                    idle += 1
                    assert idle < 100, "deadlock: every task waits and nobody sleeps"
                    await anyio.lowlevel.checkpoint()
                    continue
                idle = 0
                wake, _, event = heapq.heappop(self._sleepers)
                self.now = max(self.now, wake)
                event.set()


def assert_window(times: list[float], n: int, window: float) -> None:
    """Never more than ``n`` sends in any window of length ``window`` (half-open, as servers count)."""
    s = sorted(times)
    for i in range(len(s) - n):
        assert s[i + n] - s[i] >= window, f"{n + 1} sends within {s[i + n] - s[i]:.6f}s < {window}s at #{i}"


def limiter(budget: str | None, clock: SequentialClock | VirtualTime, **kw: object) -> EndpointLimiter:
    return EndpointLimiter(
        "GET /user",
        None if budget is None else parse_rate(budget),
        clock=clock.clock,
        sleep=clock.sleep,
        **kw,  # type: ignore[arg-type]
    )


async def acquire(lim: EndpointLimiter) -> float:
    """Admit one request whose answer comes back at once; returns its send time."""
    admission = await lim.admit()
    lim.answered(admission, admission.sent_at)
    return admission.sent_at


# -- the window property --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("budget", "n", "window"), [("20/second", 20, 1.0), ("300/minute", 300, 60.0)])
async def test_never_more_than_n_in_any_window_and_evenly_paced(budget: str, n: int, window: float) -> None:
    vt = SequentialClock()
    lim = limiter(budget, vt)
    times = [await acquire(lim) for _ in range(5000)]
    assert_window(times, n, window)
    # no initial burst: the k-th send is not earlier than k intervals
    interval = window / n
    assert all(t >= k * interval - 1e-9 for k, t in enumerate(times))
    # and not slower than the budget allows (virtual time, not wall time)
    assert times[-1] == pytest.approx((len(times) - 1) * interval, rel=1e-6)
    # a fixed-window server counting [k·T, (k+1)·T) sees at most n per window
    counts: dict[int, int] = {}
    for t in times:
        counts[int(t // window)] = counts.get(int(t // window), 0) + 1
    assert max(counts.values()) <= n


async def test_window_property_with_many_concurrent_tasks() -> None:
    vt = VirtualTime()
    lim = limiter("50/second", vt)
    times: list[float] = []

    async def worker() -> None:
        for _ in range(60):
            times.append(await acquire(lim))

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(40):
                tg.start_soon(worker)

    await vt.run(main)
    assert len(times) == 2400
    assert len(set(times)) == 2400  # distinct slots
    assert_window(times, 50, 1.0)


async def test_window_holds_under_429s_pauses_and_recovery() -> None:
    vt = VirtualTime()
    lim = limiter("10/second", vt, aimd=AimdPolicy(successes=3, increase=0.2))
    rng = random.Random(7)
    times: list[float] = []
    cuts = 0

    async def worker() -> None:
        nonlocal cuts
        for _ in range(100):
            sent = await acquire(lim)
            times.append(sent)
            if rng.random() < 0.05:
                cuts += 1
                lim.on_rate_limited(retry_after=rng.choice([None, 0.5, 2.0]), sent_at=sent)
            else:
                lim.on_success(sent)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(15):
                tg.start_soon(worker)

    await vt.run(main)
    assert cuts > 10
    assert len(times) == 1500
    assert_window(times, 10, 1.0)
    assert lim.rate is not None
    assert lim.rate <= 10.0


@pytest.mark.parametrize(
    ("budget", "reserve", "margin", "n", "window"),
    [
        ("100/second", 0.2, 0.0, 80, 1.0),
        ("100/second", 0.25, 0.0, 75, 1.0),
        ("10/second", 0.0, 0.5, 10, 1.5),
        ("0.5/second", 0.0, 0.0, 1, 2.0),
        ("5000/hour", 0.5, 0.0, 2500, 3600.0),
    ],
)
async def test_reserve_and_margin_lower_the_cap(
    budget: str, reserve: float, margin: float, n: int, window: float
) -> None:
    vt = SequentialClock()
    lim = limiter(budget, vt, reserve=reserve, margin=margin)
    assert lim.cap == (n, pytest.approx(window))
    times = [await acquire(lim) for _ in range(3 * n + 5)]
    assert_window(times, n, window)
    assert times[n] >= window - 1e-9  # the (n+1)-th send waits a whole window after the first


def test_bad_reserve_or_margin_is_refused() -> None:
    vt = SequentialClock()
    with pytest.raises(ValueError, match="reserve"):
        limiter("10/second", vt, reserve=1.0)
    with pytest.raises(ValueError, match="margin"):
        limiter("10/second", vt, margin=-1.0)


# -- AIMD and Retry-After -------------------------------------------------------------------------------------


async def test_aimd_cuts_once_per_episode_and_recovers_to_the_budget() -> None:
    vt = SequentialClock()
    lim = limiter("20/second", vt, aimd=AimdPolicy(decrease=0.5, increase=0.1, successes=5))
    assert lim.rate == 20.0
    sent = await acquire(lim)
    inflight = await acquire(lim)
    lim.on_rate_limited(sent_at=sent)
    assert lim.rate == 10.0
    lim.on_rate_limited(sent_at=inflight)  # sent before the cut: same episode
    assert lim.rate == 10.0
    lim.on_success(inflight)  # says nothing about the new rate
    after = await acquire(lim)
    assert after - inflight == pytest.approx(0.1)  # paced at the new rate
    lim.on_rate_limited(sent_at=after)
    assert lim.rate == 5.0
    for _ in range(4):
        lim.on_success(await acquire(lim))
    assert lim.rate == 5.0
    lim.on_success(await acquire(lim))
    assert lim.rate == pytest.approx(7.0)  # + 0.1 × 20 after 5 successes
    for _ in range(200):
        lim.on_success(await acquire(lim))
    assert lim.rate == 20.0  # never above the budget


async def test_rate_never_drops_below_min_rate() -> None:
    vt = SequentialClock()
    lim = limiter("20/second", vt, aimd=AimdPolicy(min_rate=1.0))
    for _ in range(20):
        lim.on_rate_limited(sent_at=await acquire(lim))
    assert lim.rate == 1.0


async def test_retry_after_pauses_every_user_of_the_endpoint() -> None:
    vt = SequentialClock()
    budgets = RateBudgets(Budgets(parse_rate("100/second")), clock=vt.clock, sleep=vt.sleep)
    a = budgets.limiter("GET /user")
    sent = await acquire(a)
    a.on_rate_limited(retry_after=30.0, sent_at=sent)
    assert a.paused_until == pytest.approx(30.0)
    other = await acquire(budgets.limiter("GET /group"))  # another endpoint is not paused
    assert other < 30.0
    assert budgets.limiter("GET /user") is a  # every step shares it
    assert await acquire(budgets.limiter("GET /user")) >= 30.0


async def test_task_holding_a_slot_inside_a_new_pause_waits_for_the_pause() -> None:
    vt = VirtualTime()
    lim = limiter("1/second", vt)
    got: dict[str, float] = {}

    async def early() -> None:
        got["early"] = await acquire(lim)  # slot 0

    async def late() -> None:
        got["late"] = await acquire(lim)  # slot 1.0, reserved before the pause

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(early)
            tg.start_soon(late)
            await vt.settle()
            lim.on_rate_limited(retry_after=10.0, sent_at=0.0)

    await vt.run(main)
    assert got["early"] == 0.0
    assert got["late"] >= 10.0


async def test_unconfigured_endpoint_starts_unlimited_then_discovers_a_rate() -> None:
    vt = SequentialClock()
    lim = limiter(None, vt, aimd=AimdPolicy(decrease=0.5, observe_window=10.0))
    assert lim.rate is None and lim.max_rate is None and lim.cap is None
    times = []
    for _ in range(1000):  # 1000 requests in 4 virtual seconds: only the concurrency bounds them
        sent = await acquire(lim)
        lim.on_success(sent)
        times.append(sent)
        vt.now += 0.004
    assert vt.sleeps == 0
    lim.on_rate_limited(retry_after=1.0, sent_at=times[-1])
    # 1000 successes over the last 4 s (≈ 250/s): the ceiling, and the rate drops to half of it
    assert lim.ceiling == pytest.approx(250.0, rel=0.01)
    assert lim.rate == pytest.approx(125.0, rel=0.01)
    paced = [await acquire(lim) for _ in range(10)]
    assert paced[0] >= times[-1] + 0.004 + 1.0 - 1e-9  # after the Retry-After
    assert all(b - a == pytest.approx(1 / 125.0, rel=0.02) for a, b in itertools.pairwise(paced))
    for _ in range(300):
        lim.on_success(await acquire(lim))
    assert 125.0 < lim.rate <= 0.95 * 250.0 + 1e-9  # climbing back to the hold below the ceiling


# -- parsing, registry, concurrency ---------------------------------------------------------------------------


def test_budgets_per_endpoint_override_the_default() -> None:
    rates = Budgets(parse_rate("20/second"), {"POST /bulkUserImport": parse_rate("2/second")}, 0.5)
    b = RateBudgets(rates)
    assert b.limiter("GET /user").max_rate == pytest.approx(10.0)
    assert b.limiter("POST /bulkUserImport").max_rate == pytest.approx(1.0)
    assert set(b.limiters) == {"GET /user", "POST /bulkUserImport"}


async def test_connection_concurrency_is_bounded_separately() -> None:
    vt = VirtualTime()
    limits = ConnectionLimits(RateBudgets(clock=vt.clock, sleep=vt.sleep), concurrency=3)
    inflight = peak = 0

    async def request() -> None:
        nonlocal inflight, peak
        async with limits.permit("GET /user") as permit:
            inflight += 1
            peak = max(peak, inflight)
            await vt.sleep(1.0)  # the response takes a second
            inflight -= 1
            permit.ok()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(request)

    await vt.run(main)
    assert peak == 3
    assert vt.now == pytest.approx(4.0)  # 10 requests, 3 at a time, unlimited rate


async def test_permit_reports_a_429_to_its_limiter() -> None:
    vt = SequentialClock()
    budgets = Budgets(parse_rate("10/second"))
    limits = ConnectionLimits(RateBudgets(budgets, clock=vt.clock, sleep=vt.sleep), concurrency=2)
    async with limits.permit("GET /user") as permit:
        permit.rate_limited(retry_after=5.0)
    lim = limits.budgets.limiter("GET /user")
    assert lim.rate == 9.0  # a configured budget is cut gently (the server counted a little differently)
    assert lim.paused_until == 5.0
    with pytest.raises(ValueError, match="concurrency"):
        ConnectionLimits(limits.budgets, concurrency=0)
