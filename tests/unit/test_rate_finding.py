"""Finding a budget the plan does not state: a simulated server allowing 50 requests/second (the sandbox's own
sliding and fixed windows), with and without ``Retry-After``, with and without rate-limit headers; 16 workers
on a virtual clock. The limiter must settle within 10% of the server's rate with at most 2% of the requests
answered 429, and a run as short as benchmark scenario 9's (1,000 requests, 20 s at the limit) must finish
within 7% of it, also against a loaded server that counts requests late; a server that stalls and then
counts a bunch of requests at once draws no 429 from the rate found. Deterministic: no sockets, no real
sleeping, no randomness."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from migrator.connectors.base import Request
from migrator.connectors.registry import make_auth
from migrator.errors import RateLimitedError
from migrator.limits import ConnectionLimits, EndpointLimiter, RateBudgets, StatedBudget, stated_budget
from migrator.logging import Redactor
from migrator.plan.rates import Rate
from migrator.protocol.retry import RetryPolicy
from migrator.sandbox.faults import FixedWindow, SlidingWindow
from migrator.transport import Transport
from tests.unit.test_limits import SequentialClock, VirtualTime

LIMIT = 50
RTT = 0.004  # the server counts a request half-way through its flight
BACKOFF = 0.5  # a 429 without Retry-After: the transport's first backoff, without its jitter


@dataclass
class Server:
    """``LIMIT`` per second in one window (sliding or fixed); Retry-After as whole seconds, rounded up (as the
    sandbox answers), or none; optionally ``RateLimit-*`` headers on every answer."""

    window: SlidingWindow | FixedWindow
    retry_after: bool
    headers: bool
    answered: list[tuple[float, bool]] = field(default_factory=list)  # (count time, accepted)

    def decide(self, now: float) -> tuple[bool, float | None, StatedBudget | None]:
        wait = self.window.check(None, now)
        if wait is None:
            self.window.commit(None, now)
        self.answered.append((now, wait is None))
        retry = None if wait is None or not self.retry_after else float(math.ceil(wait))
        stated = stated_budget(self._headers(now), 0.0) if self.headers else None
        return wait is None, retry, stated

    def _headers(self, now: float) -> dict[str, str]:
        period = self.window.period
        used = sum(1 for t, ok in self.answered if ok and t > now - period)
        reset = period - (now % period) if isinstance(self.window, FixedWindow) else period
        return {
            "ratelimit-limit": str(LIMIT),
            "ratelimit-remaining": str(max(0, LIMIT - used)),
            "ratelimit-reset": str(math.ceil(reset)),
        }


def late(n: int, now: float) -> float:
    """A loaded server's delay before it counts request ``n``: 0 to 30 ms, spread over the requests without a
    pattern a pacer could line up with (a GC pause, a busy event loop, another process on the CPU)."""
    return (n * 7919 % 31) / 1000


def stalled(n: int, now: float) -> float:
    """A server stalled from 9.8 s to 10.1 s (across a fixed window's boundary): the requests reaching it
    meanwhile are counted (and answered) together when it resumes."""
    return 10.1 - now if 9.8 <= now < 10.1 else 0.0


async def migrate(
    server: Server, requests: int, workers: int = 16, delay: Callable[[int, float], float] | None = None
) -> tuple[float, EndpointLimiter]:
    """Send ``requests`` records through a limiter with no configured budget; every 429 is retried. The
    server counts each request half-way through its flight, or ``delay(n, now)`` later than that."""
    vt = VirtualTime()
    lim = EndpointLimiter("POST /user", None, clock=vt.clock, sleep=vt.sleep)
    todo = iter(range(requests))
    sent = itertools.count()

    async def worker() -> None:
        for _ in todo:
            while True:
                admission = await lim.admit()
                await vt.sleep(RTT / 2)
                if delay is not None:
                    await vt.sleep(delay(next(sent), vt.now))
                ok, retry_after, stated = server.decide(vt.now)
                await vt.sleep(RTT / 2)
                lim.answered(admission)
                if stated is not None:
                    lim.on_stated(stated)
                if ok:
                    lim.on_success(admission.sent_at)
                    break
                lim.on_rate_limited(retry_after, admission.sent_at)
                await vt.sleep(retry_after if retry_after is not None else BACKOFF)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(worker)

    await vt.run(main)
    return vt.now, lim


def settled_rate(server: Server, since: float) -> float:
    """Accepted requests per second from ``since`` to the last one (the limiter has found the rate by then)."""
    accepted = [t for t, ok in server.answered if ok and t >= since]
    return (len(accepted) - 1) / (accepted[-1] - accepted[0])


WINDOWS = {"sliding": lambda: SlidingWindow(LIMIT, 1.0), "fixed": lambda: FixedWindow(LIMIT, 1.0)}


@pytest.mark.parametrize("kind", sorted(WINDOWS))
@pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "no-retry-after"])
async def test_an_unstated_limit_is_found_within_10_percent_with_at_most_2_percent_429s(
    kind: str, retry_after: bool
) -> None:
    server = Server(WINDOWS[kind](), retry_after=retry_after, headers=False)
    requests = 3000  # 60 s at the server's limit
    elapsed, lim = await migrate(server, requests)
    rejected = sum(1 for _, ok in server.answered if not ok)
    assert rejected <= 0.02 * len(server.answered), f"{rejected} × 429 of {len(server.answered)} requests"
    assert settled_rate(server, since=10.0) >= 0.9 * LIMIT
    assert elapsed <= requests / LIMIT * 1.1  # the whole migration, the discovery included
    assert lim.ceiling is not None and lim.ceiling >= LIMIT  # what it holds below is at least the real limit


@pytest.mark.parametrize("loaded", [False, True], ids=["prompt", "loaded"])
@pytest.mark.parametrize("kind", sorted(WINDOWS))
@pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "no-retry-after"])
async def test_a_short_run_finds_the_limit_within_7_percent(kind: str, retry_after: bool, loaded: bool) -> None:
    """Benchmark scenario 9's run: 1,000 requests, 20 s at the limit. Each 429 pauses the endpoint for a
    second (the server's ``Retry-After``, rounded up, or the pause of a bare 429) — 5% of such a run — so the
    discovery must cost few of them and little climbing. A loaded server counts requests up to 30 ms late,
    which squeezes the gaps it sees: a rate held too close to the limit draws 429s there."""
    server = Server(WINDOWS[kind](), retry_after=retry_after, headers=False)
    requests = 1000
    elapsed, lim = await migrate(server, requests, delay=late if loaded else None)
    rejected = sum(1 for _, ok in server.answered if not ok)
    assert rejected <= 0.02 * len(server.answered), f"{rejected} × 429 of {len(server.answered)} requests"
    assert elapsed <= requests / LIMIT * 1.07, f"{elapsed:.2f} s for {requests / LIMIT:.0f} s at the limit"
    assert lim.ceiling is not None and lim.ceiling >= LIMIT


@pytest.mark.parametrize("kind", sorted(WINDOWS))
async def test_a_stalled_server_draws_no_429_from_the_rate_held(kind: str) -> None:
    """The requests a stalled server counts at once when it resumes would, with the pacing carrying on, put
    more than its limit into one second. While finding the budget, the limiter guards each second (by answer
    times, as for a stated budget) to fewer requests than the ceiling: no 429 after the first ones."""
    server = Server(WINDOWS[kind](), retry_after=True, headers=False)
    await migrate(server, 1000, delay=stalled)
    refused = [t for t, ok in server.answered if not ok]
    assert refused and max(refused) < 1.0, refused


@pytest.mark.parametrize("kind", sorted(WINDOWS))
async def test_a_limit_stated_in_headers_is_held_from_the_first_answer(kind: str) -> None:
    server = Server(WINDOWS[kind](), retry_after=True, headers=True)
    requests = 1000
    elapsed, lim = await migrate(server, requests)
    rejected = sum(1 for _, ok in server.answered if not ok)
    assert lim.stated == Rate(LIMIT, 1.0)
    assert rejected <= 16  # at most the first flight, sent before any answer stated anything
    assert elapsed <= requests / LIMIT * 1.05


@pytest.mark.parametrize("burst", [20, 0], ids=["burst-of-20", "refused-first-request"])
async def test_probes_find_a_limit_far_above_the_first_estimate(burst: int) -> None:
    """The start saw ``burst`` requests accepted in a second, then a 429 (or the very first request refused:
    1/s); the server never refuses again. Probes above the ceiling double their step: within a minute the
    rate is ten times the first estimate."""
    clock = SequentialClock()
    lim = EndpointLimiter("POST /user", None, clock=clock.clock, sleep=clock.sleep)
    for _ in range(burst):
        lim.on_success((await lim.admit()).sent_at)
    lim.on_rate_limited(None, clock.now)
    first = burst + 1.0
    assert lim.ceiling == pytest.approx(first)
    while clock.now < 60.0 and (lim.rate or 0) <= 10 * first:
        admission = await lim.admit()
        lim.answered(admission)
        lim.on_success(admission.sent_at)
    assert clock.now < 60.0 and lim.rate is not None and lim.rate > 10 * first
    assert lim.ceiling is not None and lim.ceiling > 10 * first


async def held(lim: EndpointLimiter, clock: SequentialClock, rounds: int) -> None:
    """``rounds`` rounds of successes (about a second of them each) at whatever rate the limiter paces."""
    for _ in range(rounds):
        for _ in range(max(1, math.ceil(lim.rate or 1.0))):
            admission = await lim.admit()
            lim.answered(admission)
            lim.on_success(admission.sent_at)


async def test_a_refused_probe_goes_back_to_the_rate_it_held() -> None:
    """A 429 at a rate a probe just reached says the limit lies between it and the rate held before: the
    limiter goes back to the held rate (no cut below it, no climb), and the next probe waits twice as long."""
    clock = SequentialClock()
    lim = EndpointLimiter("POST /user", None, clock=clock.clock, sleep=clock.sleep)
    for _ in range(50):
        lim.on_success((await lim.admit()).sent_at)
    lim.on_rate_limited(1.0, clock.now)  # the first 429: 51 requests in the last second
    assert lim.ceiling == pytest.approx(51.0)
    while lim.rate is not None and lim.rate < 0.95 * 51.0 - 1e-9:  # climbing back to the hold
        await held(lim, clock, 1)
    hold = lim.rate
    assert hold == pytest.approx(0.95 * 51.0)
    start = clock.now
    while lim.rate == hold and clock.now - start < 60.0:
        await held(lim, clock, 1)
    assert clock.now - start >= 19.0  # a refused probe would cost a 1 s pause: probes are 20 rounds apart
    probe = lim.rate
    assert probe is not None and probe > hold
    lim.on_rate_limited(1.0, clock.now)
    assert lim.rate == hold and lim.ceiling == probe  # back to the rate held for 20 rounds
    again = clock.now
    while lim.rate == hold and clock.now - again < 120.0:
        await held(lim, clock, 1)
    assert clock.now - again >= 39.0  # the same ceiling again: the interval doubled


async def test_probes_are_spaced_by_the_pause_a_refused_one_would_cost() -> None:
    """A server answering ``Retry-After: 5``: a refused probe would stop the endpoint for 5 s, so the
    limiter holds 100 rounds (5 s ÷ 5%) before probing; a ``Retry-After: 0`` lets it probe every 4 rounds."""
    for retry_after, rounds in ((5.0, 100), (0.0, 4)):
        clock = SequentialClock()
        lim = EndpointLimiter("POST /user", None, clock=clock.clock, sleep=clock.sleep)
        for _ in range(50):
            lim.on_success((await lim.admit()).sent_at)
        lim.on_rate_limited(retry_after, clock.now)
        while lim.rate is not None and lim.rate < 0.95 * 51.0 - 1e-9:
            await held(lim, clock, 1)
        hold = lim.rate
        for n in range(1, rounds):
            await held(lim, clock, 1)
            assert lim.rate == hold, f"Retry-After {retry_after}: a probe after {n} rounds"
        await held(lim, clock, 1)
        assert lim.rate is not None and lim.rate > hold, retry_after


# -- the headers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"ratelimit-policy": "50;w=1"}, StatedBudget(50.0, 1.0)),
        ({"ratelimit-policy": '"default";q=100;w=60'}, StatedBudget(100.0, 60.0)),
        ({"ratelimit-limit": "10, 10;window=1, 50;window=60"}, StatedBudget(10.0, 1.0)),
        (
            {"ratelimit-limit": "50", "ratelimit-remaining": "7", "ratelimit-reset": "1"},
            StatedBudget(50.0, None, 7.0, 1.0),
        ),
        (  # GitHub's form: the reset is a Unix time
            {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700003600"},
            StatedBudget(5000.0, None, 0.0, 3600.0),
        ),
        ({"x-ratelimit-limit": "0"}, StatedBudget(None, None)),
        ({"content-type": "application/json"}, None),
    ],
)
def test_stated_budget_reads_every_form(headers: dict[str, str], expected: StatedBudget | None) -> None:
    assert stated_budget(headers, wall_now=1_700_000_000.0) == expected


async def test_remaining_zero_pauses_an_endpoint_holding_no_budget_until_the_reset() -> None:
    clock = SequentialClock()
    lim = EndpointLimiter("GET /user", None, clock=clock.clock, sleep=clock.sleep)
    lim.on_stated(StatedBudget(remaining=0.0, reset=30.0))
    assert lim.paused_until == pytest.approx(30.0) and lim.stated is None
    assert (await lim.admit()).sent_at == pytest.approx(30.0)
    held = EndpointLimiter("GET /user", Rate(10, 1.0), clock=clock.clock, sleep=clock.sleep)
    held.on_stated(StatedBudget(remaining=0.0, reset=1.0))  # the guard keeps within the budget already
    assert held.paused_until == -math.inf


async def test_a_stricter_plan_budget_wins_over_a_stated_one_and_a_stricter_stated_one_is_held() -> None:
    clock = SequentialClock()
    lim = EndpointLimiter("GET /user", Rate(10, 1.0), clock=clock.clock, sleep=clock.sleep)
    lim.on_stated(StatedBudget(limit=100.0, window=1.0))
    assert lim.stated is None and lim.max_rate == pytest.approx(10.0)
    lim.on_stated(StatedBudget(limit=5.0, window=1.0))
    assert lim.stated == Rate(5.0, 1.0) and lim.max_rate == pytest.approx(5.0) and lim.cap == (5, 1.0)


async def test_a_stated_limit_without_a_window_takes_the_longest_reset_seen() -> None:
    clock = SequentialClock()
    lim = EndpointLimiter("GET /user", None, clock=clock.clock, sleep=clock.sleep)
    lim.on_stated(StatedBudget(limit=300.0, remaining=299.0, reset=42.0))
    lim.on_stated(StatedBudget(limit=300.0, remaining=298.0, reset=60.0))
    assert lim.stated == Rate(300.0, 60.0) and lim.cap == (300, 60.0)


# -- through the transport, over HTTP on loopback -------------------------------------------------------------


@asynccontextmanager
async def serve(handler: web.Handler) -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        yield server


def origin(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


def transport(platform: str, base_url: str, credentials: dict[str, str], limits: ConnectionLimits) -> Transport:
    return Transport(
        name="target",
        platform=platform,
        base_url=base_url,
        auth=make_auth(platform, credentials),
        limits=limits,
        redactor=Redactor(credentials.values()),
        retry=RetryPolicy(max_attempts=1),
    )


async def test_the_transport_hands_the_stated_budget_and_a_bare_429_to_the_limiter() -> None:
    """A real server: the first answer states 5 per 2 s in ``X-RateLimit-*`` headers (the reset as a Unix
    time), the endpoint is then held to it; a 429 without ``Retry-After`` on another endpoint with no budget
    pauses it for a second and sets its ceiling."""
    answers = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal answers
        answers += 1
        if request.path == "/bulkUserImport":
            return web.json_response({"error": "Too Many Requests"}, status=429)
        reset = str(int(time.time()) + 2)
        headers = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4", "X-RateLimit-Reset": reset}
        return web.json_response({"results": [], "meta": {"totalResultCount": 0}}, headers=headers)

    async with serve(handler) as server:
        limits = ConnectionLimits(RateBudgets(), concurrency=2)
        async with transport("velpic", origin(server), {"access_key": "k"}, limits) as t:
            await t.send(Request("GET", "/user", "/user"))
            users = limits.budgets.limiter("/user")
            assert users.stated is not None and users.stated.count == 5
            assert 1.0 <= users.stated.per_seconds <= 2.0  # the reset, read as seconds from now
            assert users.cap == (5, users.stated.per_seconds)
            with pytest.raises(RateLimitedError):
                await t.send(Request("POST", "/bulkUserImport", "/bulkUserImport", json={"users": []}))
            imports = limits.budgets.limiter("/bulkUserImport")
            assert imports.ceiling is not None and imports.rate is not None
            assert imports.paused_until >= limits.budgets.clock() + 0.5
    assert answers == 2
