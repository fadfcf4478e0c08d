"""Endpoint rate budgets: even pacing, a hard sliding-window cap, Retry-After pauses and AIMD on 429.

Requirement: for a budget "N/T", the server never sees more than N requests in any window of length T —
from the very first request, so a server counting fixed windows never sees a burst of N at the start plus N
more in its next window — whenever within its request's flight the server takes its count.

Why not a limiter library such as ``aiolimiter``: ``AsyncLimiter(N, T)`` is a leaky bucket that starts empty,
so it admits a burst of N at once and then N more over the next T (up to 2N in the first window);
``AsyncLimiter(1, T/N)`` paces evenly but reads the asyncio loop's clock and schedules its own timers, so its
time cannot be injected, and its rate cannot be changed while in use, which AIMD needs. So this module is a
small token scheduler instead:

- **Pacing**: each admission reserves the next free slot, one interval (``1/rate``) after the previous slot.
  Reservation is synchronous (no await between reading and advancing the state), so concurrent tasks get
  distinct slots in FIFO order, then sleep until theirs. Even pacing, no burst.
- **Sliding-window guard on answer times**: a server counts a request at some moment between our send and
  its answer reaching us; a loaded server (a GC pause, a busy event loop, another process on the CPU) counts
  some requests tens of ms after we sent them, which squeezes the gaps it sees. So each request occupies the
  window from its send until its answer (``answered``; a request still in flight occupies it for as long as
  it flies), and a request is sent only when fewer than N others could still fall within one window before
  it: at most N−1 previous requests answered after ``now − (T + margin)`` or still in flight. Whatever the
  server's delay, any N+1 requests then span at least T between the first one's count and the last one's.
  The check and the send are one synchronous step, so tasks that wake out of order stay within the cap. The
  cost: each window lasts T + margin + a round trip, which on loopback is ~0.3% of a 1 s window and nothing on
  hourly budgets.
  Memory: one float per request answered within the last window.
- **Margin**: ``margin`` seconds widen the enforced window (T + margin) for what the answer times cannot
  cover (clock rounding, a server clock running a little fast). **Reserve**: a fraction 0 ≤ r < 1 of the
  budget left for the customer's own traffic; the cap becomes ⌊N·(1−r)⌋ per window (a fractional budget below
  1 becomes one request per T/(N·(1−r))).
- **Retry-After**: :meth:`EndpointLimiter.on_rate_limited` pauses every user of the endpoint until the time
  given (one second when a 429 gives none and no budget is known: the server's window drains meanwhile, so
  the requests still sent into it do not each cut the rate again); a task already holding a slot inside the
  pause reserves again after it.
- **AIMD**: a 429 multiplies the pacing rate by ``decrease``, once per congestion episode (429s for requests
  sent before the last cut, or at its very moment, do not cut again); every ``successes`` successes add
  ``increase`` × the reference rate, never above the configured budget.
- **Finding an unstated budget**: with no configured budget an endpoint starts unlimited (bounded only by the
  connection's concurrency). A server that states its budget in its answers' headers
  (:func:`stated_budget`: ``RateLimit-Policy``, ``RateLimit-*``, ``X-RateLimit-*``) is then held to it
  exactly as if the plan had stated it (:meth:`EndpointLimiter.on_stated`; a plan's budget is only ever
  lowered this way); before that, a ``Remaining`` of 0 pauses the endpoint until the stated reset. A
  server that states nothing is found by its 429s: the first one takes the ceiling to be the rate of
  successes over the last ``observe_window`` seconds (at least one second); every 429 after it, the pacing
  rate it hit. What the rate does next depends on where the 429 fell (a round: about a second of successes,
  at least one; a rate is *held* once it has gone two rounds without a 429 — the server's window then holds
  only requests sent at it):

  - the first 429, or one before any rate was held: the limit is lower than it was taken to be; the rate
    drops to ``decrease`` × the ceiling and climbs back within a few rounds to ``hold`` × the ceiling;
  - a 429 at a rate above the one held (a probe refused): the limit lies between them; the rate goes back to
    the one held, with no cut below it and no climb;
  - a 429 at the rate held: the limit is just below it; the rate drops to ``hold`` × that rate.

  From the rate held it probes ``probe`` higher (each probe that draws no 429 doubling the next one's step,
  up to twice the rate), every ``probe_rounds`` rounds but never more often than a refused probe's pause
  (the ``Retry-After``, or the one second of a bare 429) is worth: a pause may take at most ``probe_pause``
  of the time between probes, so 20 rounds for a one-second pause. Every 429 that confirms the same ceiling
  (within 5%) doubles that interval, so a steady limit costs a number of 429s that grows with the logarithm
  of the run's length. A probe above the ceiling that draws no 429 raises the ceiling, and the next probe
  follows one round later: a limit far above the first estimate is found within a minute too. From the first
  429 on, the window guard holds the endpoint to fewer requests per round than the ceiling (and never fewer
  than the pacing rate): a stall on either side cannot then bunch into one second as many requests as the
  server was seen to refuse, which a server counting per second would refuse even while the rate is below
  its limit.

Time is injected: ``clock()`` returns monotonic seconds and ``sleep(seconds)`` waits; tests use a virtual clock.
A slot reserved by a task that is then cancelled is skipped; that only makes the limiter more cautious.

Use from the transport, per request (concurrency first, then the rate slot, then send)::

    async with limits.permit("GET /user") as permit:
        async with session.request(...) as response:
            permit.answered()  # the first byte of the answer is back: the server has counted the request
            ...
        permit.rate_limited(retry_after) if response.status == 429 else permit.ok()
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from migrator.plan.budgets import Budgets
from migrator.plan.rates import Rate

__all__ = [
    "Admission",
    "AimdPolicy",
    "ConnectionLimits",
    "EndpointLimiter",
    "Permit",
    "RateBudgets",
    "StatedBudget",
    "stated_budget",
]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class AimdPolicy:
    """How the pacing rate reacts to 429s (multiplicative decrease) and successes (additive increase)."""

    decrease: float = 0.5
    increase: float = 0.05  # fraction of the reference rate (the budget, or the rate observed at the first 429)
    successes: int = 10  # successes in a row before each increase
    min_rate: float = 1 / 60  # requests per second: never slower than one a minute
    observe_window: float = 10.0  # seconds of successes used to estimate the rate an unlimited endpoint reached
    # finding an unstated budget (no configured one): where to hold below the ceiling, and how to probe above it
    hold: float = 0.95  # pace at this fraction of the ceiling (the rate that last drew a 429)
    probe: float = 0.02  # the first probe raises the rate by this fraction; each one unrefused doubles the next
    probe_rounds: int = 4  # rounds held between probes at least; doubled by every 429 confirming the ceiling
    # a refused probe pauses the endpoint (its Retry-After, or a second): probes are spaced so that the pause
    # takes at most this share of the time between them
    probe_pause: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.decrease < 1 or not 0 < self.hold <= 1:
            raise ValueError(
                "AimdPolicy.decrease must be between 0 and 1 (exclusive) and hold above 0 and at most 1; got "
                f"{self.decrease} and {self.hold}"
            )
        if (
            self.increase <= 0
            or self.successes < 1
            or self.min_rate <= 0
            or self.observe_window <= 0
            or self.probe <= 0
            or self.probe_rounds < 1
            or not 0 < self.probe_pause <= 1
        ):
            raise ValueError(
                "AimdPolicy.increase, successes, min_rate, observe_window, probe and probe_rounds must be "
                "positive and probe_pause above 0 and at most 1; got "
                f"{self.increase}, {self.successes}, {self.min_rate}, {self.observe_window}, {self.probe}, "
                f"{self.probe_rounds}, {self.probe_pause}"
            )


#: a round of successes while finding a budget: about this many seconds of them
_ROUND_SECONDS = 1.0
#: a 429 at a rate within this fraction of the ceiling confirms it (the probe interval doubles)
_SAME_CEILING = 0.05
#: the probe interval stops doubling at this many rounds
_MAX_PROBE_ROUNDS = 256
#: a reset header larger than this is a Unix time (``X-RateLimit-Reset`` of several platforms), not seconds
_EPOCH = 1_000_000_000.0
_POLICY = re.compile(r"^\s*(?:\"[^\"]*\"\s*;\s*)?(?:q=)?(\d+(?:\.\d+)?)?(.*)$")
_WINDOW = re.compile(r";\s*(?:w|window)\s*=\s*(\d+(?:\.\d+)?)")
_QUOTA = re.compile(r";\s*q\s*=\s*(\d+(?:\.\d+)?)")


@dataclass(frozen=True, slots=True)
class StatedBudget:
    """What a server's answer says of its budget: ``limit`` requests per ``window`` seconds, ``remaining`` of
    them until ``reset`` seconds from now. Any part may be missing."""

    limit: float | None = None
    window: float | None = None
    remaining: float | None = None
    reset: float | None = None


def _number(value: str | None) -> float | None:
    """The first number of a header value (``"50"``, ``"50, 50;w=1"``); None when there is none."""
    if not value:
        return None
    m = _POLICY.match(value.split(",", 1)[0])
    return float(m.group(1)) if m is not None and m.group(1) is not None else None


def _policy(value: str) -> tuple[float | None, float | None]:
    """``(quota, window)`` of a ``RateLimit-Policy`` (``100;w=60``, ``"default";q=100;w=60``) or of a
    ``RateLimit-Limit`` listing policies (``10, 10;window=1, 50;window=60``): the first policy with a window,
    else the first number."""
    parts = value.split(",")
    for part in parts:
        window = _WINDOW.search(part)
        if window is not None:
            quota = _QUOTA.search(part)
            return (float(quota.group(1)) if quota else _number(part)), float(window.group(1))
    return _number(parts[0]), None


def stated_budget(headers: Mapping[str, str], wall_now: float) -> StatedBudget | None:
    """The budget an answer's headers (names lower-cased) state, or None when they state none.

    Read: ``RateLimit-Policy`` (quota and ``w=`` window), ``RateLimit-Limit`` / ``-Remaining`` / ``-Reset``
    and the same under ``X-RateLimit-``. A reset is seconds from now, or a Unix time (converted with
    ``wall_now``, seconds since the epoch) when it is that large. A window is never guessed here."""
    policy = headers.get("ratelimit-policy")
    limit_text = headers.get("ratelimit-limit") or headers.get("x-ratelimit-limit")
    remaining = _number(headers.get("ratelimit-remaining") or headers.get("x-ratelimit-remaining"))
    reset = _number(headers.get("ratelimit-reset") or headers.get("x-ratelimit-reset"))
    if policy is None and limit_text is None and remaining is None and reset is None:
        return None
    limit: float | None = None
    window: float | None = None
    if policy is not None:
        limit, window = _policy(policy)
    if limit_text is not None:
        stated, stated_window = _policy(limit_text)
        limit = limit if limit is not None else stated
        window = window if window is not None else stated_window
    if reset is not None and reset > _EPOCH:
        reset = max(0.0, reset - wall_now)
    if limit is not None and limit <= 0:
        limit = None
    if window is not None and window <= 0:
        window = None
    return StatedBudget(limit, window, remaining, reset)


class EndpointLimiter:
    """The budget of one endpoint, shared by every step that calls it."""

    def __init__(
        self,
        endpoint: str,
        budget: Rate | None,
        *,
        reserve: float = 0.0,
        margin: float = 0.0,
        aimd: AimdPolicy | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        if not 0.0 <= reserve < 1.0:
            raise ValueError(
                f"endpoint {endpoint!r}: reserve must be a fraction from 0 up to (not including) 1"
            )
        if margin < 0:
            raise ValueError(f"endpoint {endpoint!r}: margin must be 0 or more seconds; got {margin}")
        self.endpoint = endpoint
        self.budget = budget
        self.reserve = reserve
        self.margin = margin
        # a 429 under a budget (configured or stated by the server) means our count and the server's disagree
        # by a little (jitter): cut gently; with none the rate is being found: cut below the rate that drew it
        self._budget_aimd = aimd or AimdPolicy(decrease=0.9, increase=0.02)
        self._aimd = self._budget_aimd if budget is not None else aimd or AimdPolicy(decrease=0.8)
        self._clock = clock
        self._sleep = sleep
        self._cap: int | None = None
        self._window = 0.0
        self._max_rate: float | None = None
        if budget is not None:
            self._hold_to(budget)
        self._rate: float | None = self._max_rate  # None: unlimited (pacing off)
        self._reference: float | None = self._max_rate
        # the window guard: answer times within the last window (ascending) and requests still in flight
        self._ends: deque[float] = deque()
        self._in_flight = 0
        self._answer: anyio.Event | None = None  # set when an answer arrives; created by the first waiter
        self._recent: deque[float] = deque()  # success times within observe_window, while no budget is known
        self._last_slot = -math.inf
        self._paused_until = -math.inf
        self._last_cut = -math.inf
        self._successes = 0
        # finding an unstated budget: the rate that last drew a 429, and the probing schedule above it
        self._ceiling: float | None = None
        self._sustained: float | None = None  # the rate held (two rounds without a 429) since the last cut
        self._probe_rounds = self._aimd.probe_rounds
        self._held_rounds = 0
        self._probe_step = self._aimd.probe
        self._raising = False  # the last probe went above the ceiling unrefused
        # what the server stated: the largest reset seen (a window's length when none is stated) and the budget
        self._longest_reset = 0.0
        self._stated: Rate | None = None

    def _hold_to(self, budget: Rate) -> None:
        """Set the hard guard and the ceiling of the pacing rate from ``budget`` (after reserve and margin)."""
        effective = budget.count * (1.0 - self.reserve)
        cap = max(1, math.floor(effective))
        self._cap = cap
        self._window = budget.per_seconds * (cap / min(effective, cap)) + self.margin
        self._max_rate = cap / self._window

    # -- state, for progress and tests -------------------------------------------------------------

    @property
    def rate(self) -> float | None:
        """Current pacing rate in requests per second; ``None`` while unlimited."""
        return self._rate

    @property
    def max_rate(self) -> float | None:
        """The configured ceiling (after reserve and margin), requests per second; ``None`` if unconfigured."""
        return self._max_rate

    @property
    def cap(self) -> tuple[int, float] | None:
        """The hard guard: at most ``n`` sends in any window of ``seconds``; ``None`` while no budget is
        configured or stated and no 429 has come (then it follows the pacing rate, per round)."""
        return None if self._cap is None else (self._cap, self._window)

    @property
    def ceiling(self) -> float | None:
        """While finding an unstated budget: the rate that last drew a 429 (or a probe reached); else None."""
        return self._ceiling

    @property
    def stated(self) -> Rate | None:
        """The budget the server stated in its headers and this endpoint is held to; None if none."""
        return self._stated

    @property
    def paused_until(self) -> float:
        return self._paused_until

    @property
    def in_flight(self) -> int:
        """Requests admitted under the window guard whose answer has not been reported yet."""
        return self._in_flight

    # -- acquiring ---------------------------------------------------------------------------------

    async def admit(self) -> Admission:
        """Wait for this endpoint's next send slot and for room in the window; the request then counts as in
        flight until :meth:`answered` (pass the returned :class:`Admission`)."""
        slot = self._reserve(self._clock())
        while True:
            now = self._clock()
            if slot < self._paused_until:  # a Retry-After arrived while we waited: queue again behind it
                slot = self._reserve(now)
            until = slot
            if self._cap is not None:
                earliest = self._earliest(now)
                if earliest is None:  # the window is full of requests still in flight: wait for an answer
                    if self._answer is None:
                        self._answer = anyio.Event()
                    await self._answer.wait()
                    continue
                until = max(until, earliest)
            if until > now:
                await self._sleep(until - now)
                continue
            return self._admitted(now)

    def answered(self, admission: Admission, at: float | None = None) -> None:
        """The answer to ``admission``'s request arrived at ``at`` (default: now), or it failed or was
        abandoned then. Only the first report counts."""
        if not admission.open:
            return
        admission.open = False
        if self._cap is None:
            return
        if admission.guarded:
            self._in_flight -= 1
        self._insert_end(self._clock() if at is None else max(at, admission.sent_at))
        if self._answer is not None:
            self._answer.set()
            self._answer = None

    def _reserve(self, now: float) -> float:
        """The next pacing slot (not before a pause); advances the pacing state, so call once per slot."""
        t = max(now, self._paused_until)
        if self._rate is not None:
            t = max(t, self._last_slot + 1.0 / self._rate)
        self._last_slot = t
        return t

    def _earliest(self, now: float) -> float | None:
        """The earliest time, not before ``now``, at which a send keeps at most ``cap`` requests per window;
        ``None`` while only an answer (not time) can make room."""
        assert self._cap is not None
        ends, window = self._ends, self._window
        horizon = now - window
        while ends and ends[0] <= horizon:  # answered a whole window ago: out of every future window
            ends.popleft()
        excess = len(ends) + self._in_flight - self._cap + 1  # how many must leave the window first
        if excess <= 0:
            return now
        if excess > len(ends):
            return None
        oldest = ends[excess - 1]
        earliest = oldest + window
        while earliest - window < oldest or earliest - oldest < window:  # rounding: keep the guard exact
            earliest = math.nextafter(earliest, math.inf)
        return max(now, earliest)

    def _admitted(self, now: float) -> Admission:
        if self._cap is None:
            return Admission(now)
        self._in_flight += 1
        return Admission(now, guarded=True)

    def _insert_end(self, end: float) -> None:
        ends = self._ends
        i = len(ends)
        while i > 0 and ends[i - 1] > end:  # answers arrive in time order: this loop rarely runs
            i -= 1
        ends.insert(i, end)

    # -- feedback ----------------------------------------------------------------------------------

    def on_success(self, sent_at: float | None = None) -> None:
        """A request sent at ``sent_at`` succeeded (any answer but 429): count towards an increase."""
        if self._max_rate is None:  # no budget known: the successes tell the rate the server sustains
            now = self._clock()
            recent = self._recent
            recent.append(now)
            horizon = now - self._aimd.observe_window
            while recent[0] <= horizon:
                recent.popleft()
        if self._rate is None:
            return
        if sent_at is not None and sent_at <= self._last_cut:
            return  # sent before the last cut: says nothing about the new rate
        self._successes += 1
        if self._ceiling is not None:
            if self._successes >= max(1.0, self._rate * _ROUND_SECONDS):
                self._successes = 0
                self._next_round(self._ceiling)
                self._guard_round()
            return
        if self._successes < self._aimd.successes or self._reference is None:
            return
        self._successes = 0
        rate = self._rate + self._aimd.increase * self._reference
        self._rate = rate if self._max_rate is None else min(rate, self._max_rate)

    def _next_round(self, ceiling: float) -> None:
        """A round of successes while finding the budget: climb back to the hold after a cut, or hold (the
        second round at a rate makes it the rate held), or probe above."""
        assert self._rate is not None
        hold = self._aimd.hold * ceiling
        if self._sustained is None and self._rate < hold:  # after a cut: climb back to the hold
            self._rate = min(hold, self._rate + max(self._aimd.increase * ceiling, (hold - self._rate) / 2))
            return
        self._held_rounds += 1
        if self._held_rounds > 1:  # a second round at this rate: the server's window holds only its requests
            self._sustained = self._rate
        if self._held_rounds < (1 if self._raising else self._probe_rounds):
            return
        self._held_rounds = 0
        self._rate *= 1.0 + self._probe_step
        self._probe_step = min(1.0, 2.0 * self._probe_step)  # the last probe drew no 429: the next goes further
        self._raising = self._rate > ceiling
        if self._raising:  # no 429 up here (yet): the limit is at least this; probe again a round later
            self._ceiling = self._rate

    def on_rate_limited(self, retry_after: float | None = None, sent_at: float | None = None) -> None:
        """A request sent at ``sent_at`` got 429: pause everyone for ``retry_after`` s and cut the rate."""
        now = self._clock()
        if retry_after is None and self._max_rate is None:
            retry_after = _ROUND_SECONDS  # no budget known and no time given: let the server's window drain
        pause = max(0.0, retry_after or 0.0)
        self._paused_until = max(self._paused_until, now + pause)
        self._successes = 0
        if sent_at is not None and sent_at <= self._last_cut:
            return  # one cut per congestion episode
        self._last_cut = now
        aimd = self._aimd
        if self._max_rate is not None:  # a budget is known: our count and the server's differ a little
            assert self._rate is not None
            self._rate = max(aimd.min_rate, self._rate * aimd.decrease)
            return
        hit = self._observed_rate(now) if self._rate is None else self._rate
        ceiling = self._ceiling
        same = ceiling is not None and abs(hit - ceiling) <= _SAME_CEILING * ceiling
        if same:
            self._probe_rounds = min(_MAX_PROBE_ROUNDS, self._probe_rounds * 2)  # the same limit again
        else:  # a new limit: probe again soon, but not so often that refused probes' pauses cost much
            paused_rounds = math.ceil(pause / (aimd.probe_pause * _ROUND_SECONDS))
            self._probe_rounds = min(_MAX_PROBE_ROUNDS, max(aimd.probe_rounds, paused_rounds))
        self._ceiling = hit
        self._held_rounds = 0
        self._probe_step = aimd.probe
        self._raising = False
        sustained = self._sustained
        if sustained is not None and hit > sustained:  # a probe refused: back to the rate last held
            self._rate = sustained
        elif sustained is not None:  # refused at a rate held for rounds: the limit is just below it
            self._rate = max(aimd.min_rate, hit * aimd.hold)
            self._sustained = None
        else:  # refused unpaced, or before a rate held: the limit is lower than it was taken to be
            self._rate = max(aimd.min_rate, hit * aimd.decrease)
        self._guard_round()

    def _guard_round(self) -> None:
        """While finding a budget: the window guard (on answer times) of fewer requests per round than the
        ceiling drew a 429 at, and never fewer than the pacing rate needs. A stall on either side (a busy event
        loop here, a server counting late) can then not bunch into one second more requests than the server
        was seen to refuse, which a server counting per second would refuse even while the rate is below its
        limit."""
        assert self._rate is not None and self._ceiling is not None
        refused = math.ceil(self._ceiling * _ROUND_SECONDS) - 1
        self._cap = max(1, refused, math.ceil(self._rate * _ROUND_SECONDS))
        self._window = _ROUND_SECONDS + self.margin

    def _observed_rate(self, now: float) -> float:
        """The successes over the last ``observe_window`` seconds and the request refused now, per second
        (over a span of at least one second): a 429 on the very first request gives 1/s."""
        horizon = now - self._aimd.observe_window
        successes = [t for t in self._recent if t > horizon]
        span = max(now - successes[0], 1.0) if successes else 1.0
        return max(self._aimd.min_rate, (len(successes) + 1) / span)

    def on_stated(self, stated: StatedBudget) -> None:
        """An answer stated the server's budget (:func:`stated_budget`). A ``remaining`` of 0 pauses an
        endpoint that holds no budget until the reset; a limit with a window (stated, or else the longest reset
        seen) becomes the budget this endpoint is held to, unless the configured one is stricter."""
        now = self._clock()
        reset = stated.reset
        if reset is not None:
            self._longest_reset = max(self._longest_reset, reset)
            if stated.remaining is not None and stated.remaining <= 0 and self._max_rate is None:
                # with a budget held the guard already keeps within it (a reset is often rounded up)
                self._paused_until = max(self._paused_until, now + reset)
        window = stated.window or self._longest_reset
        if stated.limit is None or window <= 0:
            return
        budget = Rate(stated.limit, window)
        if budget == self._stated or (self.budget is not None and budget.per_second >= self.budget.per_second):
            return
        self._stated = budget
        self._hold_to(budget)
        self._aimd = self._budget_aimd
        self._ceiling = None
        self._rate = self._reference = self._max_rate
        # the guard starts from what the server may still count: the successes within its window
        horizon = now - self._window
        self._ends = deque(t for t in self._recent if t > horizon)
        self._recent.clear()

    def __repr__(self) -> str:
        rate = "unlimited" if self._rate is None else f"{self._rate:.3g}/s"
        return f"<EndpointLimiter {self.endpoint!r} {rate} budget={self.budget}>"


class RateBudgets:
    """The endpoint limiters of one connection (a budget counts per endpoint *and* credential).

    Each endpoint's limiter is created on first use with the rate its budget key draws from
    (:meth:`Budgets.rate <migrator.plan.budgets.Budgets.rate>`) and the connection's reserve; an endpoint
    without a rate gets an unlimited, AIMD-discovering limiter. Every step using an endpoint shares its limiter.
    """

    def __init__(
        self,
        budgets: Budgets | None = None,
        *,
        margin: float = 0.0,
        aimd: AimdPolicy | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        self.budgets = budgets if budgets is not None else Budgets()  # none: every endpoint unlimited
        self._margin = margin
        self._aimd = aimd
        self._clock = clock
        self._sleep = sleep
        self._limiters: dict[str, EndpointLimiter] = {}

    def limiter(self, endpoint: str) -> EndpointLimiter:
        """The (shared) limiter of ``endpoint``, created on first use."""
        lim = self._limiters.get(endpoint)
        if lim is None:
            lim = EndpointLimiter(
                endpoint,
                self.budgets.rate(endpoint),
                reserve=self.budgets.reserve,
                margin=self._margin,
                aimd=self._aimd,
                clock=self._clock,
                sleep=self._sleep,
            )
            self._limiters[endpoint] = lim
        return lim

    def clock(self) -> float:
        """The limiters' clock (monotonic seconds)."""
        return self._clock()

    @property
    def limiters(self) -> Mapping[str, EndpointLimiter]:
        return dict(self._limiters)


@dataclass(slots=True)
class Admission:
    """One request admitted by :meth:`EndpointLimiter.admit`: in flight until its answer is reported."""

    sent_at: float
    open: bool = True
    guarded: bool = False  # counted as in flight by the window guard (a budget was known when it was sent)


@dataclass(slots=True)
class Permit:
    """One admitted request: report when its answer arrived and how it went."""

    limiter: EndpointLimiter
    admission: Admission
    reported: bool = False

    @property
    def sent_at(self) -> float:
        return self.admission.sent_at

    def answered(self) -> None:
        """The answer's first byte is back (the server has counted the request): it leaves the window one
        window from now. Called again (or by ``ok``/``rate_limited``/the end of the permit) it does nothing."""
        self.limiter.answered(self.admission)

    def ok(self, stated: StatedBudget | None = None) -> None:
        """Any answer but 429; ``stated``: what its headers said of the server's budget."""
        self.reported = True
        self.answered()
        if stated is not None:
            self.limiter.on_stated(stated)
        self.limiter.on_success(self.sent_at)

    def rate_limited(self, retry_after: float | None = None, stated: StatedBudget | None = None) -> None:
        """A 429, with its ``Retry-After`` in seconds and what its headers said of the server's budget."""
        self.reported = True
        self.answered()
        if stated is not None:
            self.limiter.on_stated(stated)
        self.limiter.on_rate_limited(retry_after, self.sent_at)


class ConnectionLimits:
    """Concurrency (at most ``concurrency`` requests in flight on the connection) plus its endpoint budgets."""

    def __init__(self, budgets: RateBudgets, *, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1; got {concurrency}")
        self.budgets = budgets
        self.concurrency = concurrency
        self._capacity = anyio.CapacityLimiter(concurrency)

    @asynccontextmanager
    async def permit(self, endpoint: str) -> AsyncIterator[Permit]:
        """Hold a concurrency slot, then wait for the endpoint's rate slot; yields the :class:`Permit`."""
        async with self._capacity:
            limiter = self.budgets.limiter(endpoint)
            permit = Permit(limiter, await limiter.admit())
            try:
                yield permit
            finally:  # an error or a cancellation: the request occupies the window until now
                permit.answered()
