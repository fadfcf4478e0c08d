"""The window guard on answer times: whatever moment between our send and its answer a server counts a request
at, it never sees more than N in a window of T. Virtual clock throughout; no sockets, no real sleeping."""

from __future__ import annotations

import contextlib
import random

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.limits import Admission, ConnectionLimits, EndpointLimiter, RateBudgets
from migrator.plan.budgets import Budgets
from migrator.plan.rates import Rate, parse_rate
from migrator.sandbox.faults import SlidingWindow
from tests.unit.test_limits import SequentialClock, VirtualTime


def limiter(budget: str | Rate, clock: SequentialClock | VirtualTime, **kw: float) -> EndpointLimiter:
    rate = budget if isinstance(budget, Rate) else parse_rate(budget)
    return EndpointLimiter("POST /user", rate, clock=clock.clock, sleep=clock.sleep, **kw)


def assert_guard(flights: list[tuple[float, float]], n: int, window: float) -> None:
    """``flights`` = (send, answer) in admission order. For every request, fewer than ``n`` earlier ones were
    answered later than one window before its send: then no placement of the server's counts within the
    flights puts ``n + 1`` of them in one window."""
    for k, (send, _) in enumerate(flights):
        crowd = sum(1 for _, end in flights[:k] if end > send - window)
        assert crowd < n, f"request #{k} sent at {send:.6f} with {crowd} earlier ones answered in its window"


async def test_a_slow_answer_holds_back_the_request_cap_places_later() -> None:
    vt = SequentialClock()
    lim = limiter("2/second", vt)
    first = await lim.admit()
    vt.now = 0.3  # the server took 0.3 s to answer: it may have counted the request at any moment until then
    lim.answered(first)
    second = await lim.admit()
    assert second.sent_at == 0.5  # even pacing
    lim.answered(second)
    third = await lim.admit()
    assert third.sent_at == pytest.approx(1.3)  # a whole window after the first answer, not after its send
    assert lim.in_flight == 1


async def test_requests_in_flight_fill_the_window_until_an_answer_arrives() -> None:
    vt = VirtualTime()
    lim = limiter("2/second", vt)
    got: dict[str, float] = {}

    async def main() -> None:
        first, second = await lim.admit(), await lim.admit()
        assert (first.sent_at, second.sent_at) == (0.0, 0.5)

        async def third() -> None:
            got["third"] = (await lim.admit()).sent_at

        async with anyio.create_task_group() as tg:
            tg.start_soon(third)
            await vt.sleep(5.0)  # (until 5.5) both still in flight: the third waits, however long
            assert "third" not in got
            lim.answered(second)
            lim.answered(first)  # reported twice: only the first report counts
            lim.answered(first, 99.0)

    await vt.run(main)
    assert got["third"] == pytest.approx(6.5)  # the answers (at 5.5) leave the window at 6.5
    assert lim.in_flight == 1


async def test_permit_occupies_the_window_until_its_answer_or_its_end() -> None:
    vt = VirtualTime()
    limits = ConnectionLimits(
        RateBudgets(Budgets(parse_rate("1/second")), clock=vt.clock, sleep=vt.sleep), concurrency=4
    )
    lim = limits.budgets.limiter("POST /user")
    sends: list[float] = []

    async def request(answer_after: float, fail: bool = False) -> None:
        with pytest.raises(RuntimeError) if fail else contextlib.nullcontext():
            async with limits.permit("POST /user") as permit:
                sends.append(permit.sent_at)
                await vt.sleep(answer_after)
                if fail:
                    raise RuntimeError("connection reset")  # never answered: counts until the permit ends
                permit.answered()
                await vt.sleep(10.0)  # reading a slow body does not hold the window
                permit.ok()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(request, 0.5)
            await vt.settle()
            tg.start_soon(request, 2.0, True)
            await vt.settle()
            tg.start_soon(request, 0.1)

    await vt.run(main)
    # 1/second: the second waits a window after the first's answer (0.5); the third a window after the
    # failed second ended (1.5 + 2.0)
    assert sends == pytest.approx([0.0, 1.5, 4.5])
    assert lim.in_flight == 0


async def test_a_cancelled_permit_leaves_the_window_when_it_ends() -> None:
    vt = VirtualTime()
    limits = ConnectionLimits(
        RateBudgets(Budgets(parse_rate("1/second")), clock=vt.clock, sleep=vt.sleep), concurrency=2
    )
    lim = limits.budgets.limiter("POST /user")
    sends: list[float] = []

    async def request() -> None:
        async with limits.permit("POST /user") as permit:
            sends.append(permit.sent_at)
            await vt.sleep(100.0)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(request)
            await vt.sleep(3.0)
            tg.cancel_scope.cancel()
        assert lim.in_flight == 0
        async with limits.permit("POST /user") as permit:
            sends.append(permit.sent_at)
            permit.ok()

    await vt.run(main)
    assert sends == pytest.approx([0.0, 4.0])  # cancelled at 3.0: one window later


async def test_each_window_costs_one_round_trip_and_delays_do_not_compound() -> None:
    """50/s, 16 workers, every answer 2 ms after its send, one 40 ms stall: 3,000 requests take 60 windows of
    (1 s + 2 ms) — the stall delays only the requests that follow it one window later."""
    vt = VirtualTime()
    lim = limiter("50/second", vt)
    flights: list[tuple[float, float]] = []
    todo = iter(range(3000))

    async def worker() -> None:
        for i in todo:
            admission = await lim.admit()
            row = len(flights)
            flights.append((admission.sent_at, admission.sent_at))
            await vt.sleep(0.040 if i == 1234 else 0.002)
            lim.answered(admission)
            flights[row] = (admission.sent_at, vt.now)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(16):
                tg.start_soon(worker)

    await vt.run(main)
    assert_guard(flights, 50, 1.0)
    # the last request is the 50th of the 60th window: 59 windows of 1.002 s, then 49 intervals of 20 ms;
    # the stall held back only the requests one window after it, not the whole train behind them
    assert max(send for send, _ in flights) == pytest.approx(59 * 1.002 + 49 * 0.02, abs=1e-3)
    stalled = next(send for send, end in flights if end - send > 0.03)
    next_window = sorted(send - stalled for send, _ in flights if stalled + 1.0 < send <= stalled + 1.041)
    assert next_window == pytest.approx([1.022, 1.04])  # its neighbour on time, its follower 40 ms on


@settings(max_examples=25, deadline=None)
@given(
    cap=st.integers(1, 12),
    window=st.sampled_from([0.5, 1.0, 60.0]),
    workers=st.integers(1, 16),
    stall_rate=st.sampled_from([0.0, 0.05, 0.3]),
    margin=st.sampled_from([0.0, 0.001]),
    seed=st.integers(0, 2**32 - 1),
)
async def test_no_server_count_within_the_flights_ever_exceeds_the_cap(
    cap: int, window: float, workers: int, stall_rate: float, margin: float, seed: int
) -> None:
    """Random answer delays and stalls (some longer than the window), errors answered late: a server that
    counts each request at any moment of its flight, with the sandbox's strict sliding window, never refuses."""
    rng = random.Random(seed)
    vt = VirtualTime()
    lim = limiter(Rate(cap, window), vt, margin=margin)
    flights: list[tuple[float, float]] = []
    todo = iter(range(8 * cap + 10))

    async def worker() -> None:
        for _ in todo:
            admission: Admission = await lim.admit()
            row = len(flights)
            flights.append((admission.sent_at, admission.sent_at))
            stalled = rng.random() < stall_rate
            await vt.sleep(rng.uniform(0.5, 2.0) * window if stalled else rng.uniform(0.0, 0.05) * window)
            lim.answered(admission)
            flights[row] = (admission.sent_at, vt.now)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(worker)

    await vt.run(main)
    assert_guard(flights, cap, window)
    server = SlidingWindow(cap, window)
    counts = sorted(rng.uniform(send, end) for send, end in flights)
    for t in counts:
        assert server.check("credential", t) is None, f"the server refused a request counted at {t}"
        server.commit("credential", t)
