"""Fault and rate-limit rules: the spec syntax, and the per-request decision. Pure: no I/O, no sleeping.

Spec syntax (``--faults`` and ``POST /_sandbox/faults``)::

    spec    := rule (";" rule)*
    rule    := scope ":" setting ("," setting)*
    scope   := platform | platform "/" path-glob
    setting := key "=" value

``path-glob`` is matched against the request path *relative to the platform prefix* and against the route
template (``api/v2/user/{userId}``), anchored at the end and at a segment boundary at the start, so
``velpic/bulkUserImport`` matches ``/velpic/api/v2/user/bulkUserImport``. ``*`` matches within one segment,
``**`` across segments, ``?`` one character.

Settings (see ``SETTINGS``): ``rate=20/s`` (also ``/m``, ``/h`` or ``/<duration>``), ``window=sliding|fixed``,
``per=credential|endpoint|all``, ``latency=50ms`` or ``latency=20-80ms``, ``error_rate=0.05``,
``reset_rate=0.01``, ``stall_rate=0.01``, ``stall=30s``, ``lose_rate=0.1`` (writes only), ``garble_rate=0.01``,
``html_rate=0.01``, ``echo_rate=0.01``, ``truncate_rate=0.1`` (writes only), ``burst=5``,
``burst_rate=0.01``, ``retry_after=2s``, ``no_retry_after=true``, ``methods=POST|PUT``, ``first=2`` (the rule's
faults hit only the first 2 requests it matches: ``lose_rate=1,first=2`` loses exactly the first two answers).

Determinism: every rule owns a ``random.Random`` seeded from (seed, rule text), and draws in a fixed order,
so the same seed and the same request sequence give the same faults.
"""

from __future__ import annotations

import difflib
import math
import random
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HTTP_METHODS = frozenset({"GET", "HEAD", "OPTIONS", *WRITE_METHODS})

SETTINGS: dict[str, str] = {
    "rate": "request budget, e.g. 20/s, 300/m, 5000/h or 100/10s",
    "window": "how the budget is counted: sliding (default) or fixed (aligned to the clock)",
    "per": "who shares the budget: credential (default), endpoint (route template and credential) or all",
    "latency": "added delay before the handler: 50ms, or a uniform range 20-80ms",
    "error_rate": "fraction of requests answered with the platform's 5xx (0..1)",
    "reset_rate": "fraction of requests whose connection is reset before the handler runs (0..1)",
    "stall_rate": "fraction of requests held for `stall` before being handled (0..1)",
    "stall": "how long a stalled request is held (default 30s)",
    "lose_rate": "fraction of writes (POST/PUT/PATCH/DELETE) handled, then dropped before any response byte",
    "garble_rate": "fraction of requests handled, then answered with a malformed (cut) JSON body (0..1)",
    "html_rate": "fraction of requests answered 200 with a proxy's HTML error page; the handler does not run",
    "truncate_rate": "fraction of writes handled, then answered without the last row of the answer's list",
    "echo_rate": "fraction of requests answered 400 with a body that echoes the request's headers (0..1)",
    "burst": "number of consecutive 429s in a burst",
    "burst_rate": "chance that a burst starts at a request (default: one burst, at the first request)",
    "retry_after": "Retry-After of burst 429s, in sandbox time (default 1s)",
    "no_retry_after": "true: 429s from this rule carry no Retry-After header",
    "methods": "only these HTTP methods, separated by |, e.g. POST|PUT",
    "first": "the rule's faults and latency hit only the first N requests it matches, e.g. first=2",
}

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_RATE_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|min|h)\s*$")


class FaultSpecError(ValueError):
    """A fault spec could not be parsed; the message quotes the rule and says what to write instead."""


@dataclass(frozen=True, slots=True)
class RateSpec:
    limit: int
    period: float  # sandbox seconds
    window: str = "sliding"  # sliding | fixed
    per: str = "credential"  # credential | endpoint | all


@dataclass(frozen=True, slots=True)
class Rule:
    """One parsed rule. ``text`` is the rule as written (trimmed); it seeds the rule's random stream."""

    text: str
    platform: str
    glob: str | None = None
    methods: frozenset[str] | None = None
    rate: RateSpec | None = None
    latency: tuple[float, float] | None = None  # real seconds, uniform in [lo, hi]
    error_rate: float = 0.0
    reset_rate: float = 0.0
    stall_rate: float = 0.0
    stall: float = 30.0
    lose_rate: float = 0.0
    garble_rate: float = 0.0
    html_rate: float = 0.0
    truncate_rate: float = 0.0
    echo_rate: float = 0.0
    burst: int = 0
    burst_rate: float | None = None
    retry_after: float = 1.0
    no_retry_after: bool = False
    first: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.text, "platform": self.platform, "path": self.glob}
        if self.methods is not None:
            out["methods"] = sorted(self.methods)
        if self.rate is not None:
            out["rate"] = {
                "limit": self.rate.limit,
                "period": self.rate.period,
                "window": self.rate.window,
                "per": self.rate.per,
            }
        return out


# --------------------------------------------------------------------------------------------- parsing
def parse_duration(text: str, *, what: str) -> float:
    """``"50ms"`` → 0.05, ``"30s"`` → 30.0, ``"2m"`` → 120.0, ``"1h"`` → 3600.0 (seconds)."""
    match = _DURATION.match(text)
    if match is None:
        raise FaultSpecError(
            f"{what}: {text!r} is not a duration; write a number with a unit: 50ms, 1.5s, 2m, 1h"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def _parse_rate(text: str) -> tuple[int, float]:
    count, slash, per = text.partition("/")
    if not slash or not count.strip().isdigit() or int(count) <= 0:
        raise FaultSpecError(
            f"rate: {text!r} must be '<count>/<period>' with count > 0, e.g. 20/s, 300/m, 5000/h"
        )
    per = per.strip().lower()
    if per in _RATE_UNITS:
        return int(count), _RATE_UNITS[per]
    period = parse_duration(per, what="rate period")
    if period <= 0:
        raise FaultSpecError(f"rate: the period of {text!r} must be > 0")
    return int(count), period


def _parse_fraction(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FaultSpecError(
            f"{key}: {text!r} is not a number; write a fraction between 0 and 1, e.g. 0.05"
        ) from None
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise FaultSpecError(f"{key}: {text!r} is outside 0..1; write a fraction, e.g. 0.05 for 5%")
    return value


def _parse_bool(key: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise FaultSpecError(f"{key}: {text!r} is not true or false")


def _parse_latency(text: str) -> tuple[float, float]:
    low, dash, high = text.partition("-")
    if not dash:
        value = parse_duration(text, what="latency")
        return value, value
    unit_match = re.search(r"[a-z]+\s*$", high)
    if unit_match is not None and re.search(r"[a-z]", low) is None:
        low = low + unit_match.group(0)  # "20-80ms": the unit applies to both ends
    lo, hi = parse_duration(low, what="latency"), parse_duration(high, what="latency")
    if lo > hi:
        raise FaultSpecError(f"latency: range {text!r} goes backwards; write low-high, e.g. 20-80ms")
    return lo, hi


def _parse_methods(text: str) -> frozenset[str]:
    methods = frozenset(m.strip().upper() for m in text.split("|") if m.strip())
    unknown = sorted(methods - HTTP_METHODS)
    if not methods or unknown:
        raise FaultSpecError(
            f"methods: {text!r} must list HTTP methods separated by |, e.g. POST|PUT"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return methods


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def parse_rule(text: str, platforms: Sequence[str]) -> Rule:
    """Parse one rule (``scope:key=value,…``) — see the module docstring."""
    text = text.strip()
    scope, colon, body = text.partition(":")
    scope = scope.strip()
    if not colon or not body.strip():
        raise FaultSpecError(
            f"rule {text!r} has no settings; write '<platform>[/<path-glob>]:<key>=<value>,…', "
            "e.g. velpic/bulkUserImport:latency=200ms"
        )
    platform, _, glob = scope.partition("/")
    platform = platform.strip().lower()
    if platform not in platforms:
        raise FaultSpecError(
            f"rule {text!r}: unknown platform {platform!r}; choose from {', '.join(platforms)}"
            + _suggest(platform, platforms)
        )
    glob = glob.strip().strip("/")
    values: dict[str, Any] = {}
    rate_extra: dict[str, str] = {}
    for item in body.split(","):
        key, eq, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not eq or not key or not value:
            raise FaultSpecError(f"rule {text!r}: setting {item.strip()!r} must be written key=value")
        if key not in SETTINGS:
            raise FaultSpecError(
                f"rule {text!r}: unknown setting {key!r}"
                + _suggest(key, SETTINGS)
                + f" (known: {', '.join(SETTINGS)})"
            )
        if key in values or key in rate_extra:
            raise FaultSpecError(f"rule {text!r}: setting {key!r} is given twice")
        try:
            if key == "rate":
                values["rate"] = _parse_rate(value)
            elif key in ("window", "per"):
                allowed = ("sliding", "fixed") if key == "window" else ("credential", "endpoint", "all")
                if value.lower() not in allowed:
                    raise FaultSpecError(f"{key}: {value!r} must be one of {', '.join(allowed)}")
                rate_extra[key] = value.lower()
            elif key == "latency":
                values["latency"] = _parse_latency(value)
            elif key in ("stall", "retry_after"):
                values[key] = parse_duration(value, what=key)
            elif key.endswith("_rate"):
                values[key] = _parse_fraction(key, value)
            elif key == "burst":
                if not value.isdigit() or int(value) <= 0:
                    raise FaultSpecError(f"burst: {value!r} must be a whole number of 429s > 0, e.g. burst=5")
                values["burst"] = int(value)
            elif key == "first":
                if not value.isdigit() or int(value) <= 0:
                    raise FaultSpecError(
                        f"first: {value!r} must be a whole number of requests > 0, e.g. first=2"
                    )
                values["first"] = int(value)
            elif key == "no_retry_after":
                values["no_retry_after"] = _parse_bool(key, value)
            else:  # methods
                values["methods"] = _parse_methods(value)
        except FaultSpecError as exc:
            raise FaultSpecError(f"rule {text!r}: {exc}") from None
    if rate_extra and "rate" not in values:
        raise FaultSpecError(f"rule {text!r}: {'/'.join(rate_extra)} needs a rate=… setting in the same rule")
    if "burst_rate" in values and "burst" not in values:
        raise FaultSpecError(f"rule {text!r}: burst_rate needs burst=<count> in the same rule")
    rate = values.pop("rate", None)
    if rate is not None:
        values["rate"] = RateSpec(rate[0], rate[1], **rate_extra)
    return Rule(text=text, platform=platform, glob=glob or None, **values)


def parse_spec(spec: str, platforms: Sequence[str]) -> list[Rule]:
    """Parse a whole spec (rules separated by ``;``); an empty spec gives no rules."""
    return [parse_rule(part, platforms) for part in spec.split(";") if part.strip()]


def spec_from_json(value: Any) -> str:
    """The JSON forms of ``POST /_sandbox/faults`` as a spec string.

    Accepts a spec string, a list of rule objects, or ``{"rules": [...]}``; a rule object has ``scope`` and any
    settings, e.g. ``{"scope": "velpic/user", "error_rate": 0.5, "methods": ["POST"]}``.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "rules" in value:
        value = value["rules"]
    if not isinstance(value, list):
        raise FaultSpecError('faults must be a spec string, a list of rules, or {"rules": [...]}')
    parts = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            parts.append(item)
            continue
        if not isinstance(item, dict) or not isinstance(item.get("scope"), str):
            raise FaultSpecError(
                f'rule {i}: must be an object with a "scope" string, e.g. {{"scope": "velpic"}}'
            )
        settings = []
        for key, raw in item.items():
            if key == "scope":
                continue
            if isinstance(raw, list):
                text = "|".join(str(s) for s in raw)
            elif isinstance(raw, bool):
                text = "true" if raw else "false"
            else:
                text = str(raw)
            settings.append(f"{key}={text}")
        parts.append(f"{item['scope']}:{','.join(settings)}")
    return ";".join(parts)


def _glob_regex(glob: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile(r"(?:^|.*/)" + "".join(out) + "$")


# --------------------------------------------------------------------------------------------- windows
class SlidingWindow:
    """At most ``limit`` hits in any ``period``: a log of hit times per key."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self._hits: dict[Any, deque[float]] = {}

    def check(self, key: Any, now: float) -> float | None:
        """None if a hit is allowed now, else the sandbox seconds until it would be."""
        hits = self._hits.get(key)
        if hits is None:
            return None
        horizon = now - self.period
        while hits and hits[0] <= horizon:
            hits.popleft()
        if len(hits) < self.limit:
            return None
        return hits[0] + self.period - now

    def commit(self, key: Any, now: float) -> None:
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        hits.append(now)


class FixedWindow:
    """At most ``limit`` hits per window; windows are aligned to multiples of ``period`` on the clock."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self._windows: dict[Any, list[float]] = {}  # key → [window start, count]

    def _window(self, key: Any, now: float) -> list[float]:
        start = math.floor(now / self.period) * self.period
        window = self._windows.get(key)
        if window is None or window[0] != start:
            window = self._windows[key] = [start, 0.0]
        return window

    def check(self, key: Any, now: float) -> float | None:
        window = self._window(key, now)
        if window[1] < self.limit:
            return None
        return window[0] + self.period - now

    def commit(self, key: Any, now: float) -> None:
        self._window(key, now)[1] += 1


# --------------------------------------------------------------------------------------------- decisions
PASS = "pass"
RATE_LIMITED = "rate_limited"  # over a rate budget: 429 with Retry-After
THROTTLED = "throttled"  # a burst 429
RESET = "reset"  # connection reset before the handler
ERROR = "error"  # platform 5xx
LOSE = "lose"  # handler runs, then the connection is dropped before any response byte
GARBLE = "garble"  # handler runs, then its body is cut in half (malformed JSON)
HTML = "html"  # 200 with an HTML error page instead of the handler's answer (the handler does not run)
ECHO = "echo"  # 400 whose body echoes the request headers (credentials included): redaction must hold
TRUNCATE = "truncate"  # a write is handled, then the last row of the answer's list is removed


@dataclass(slots=True)
class Decision:
    """What the middleware does with one request. Latency and stall are real seconds, ``retry_after`` is
    sandbox seconds (``None``: no Retry-After header)."""

    action: str = PASS
    latency: float = 0.0
    stall: float = 0.0
    retry_after: float | None = None
    rule: str | None = None


@dataclass(slots=True)
class _RuleState:
    rule: Rule
    rng: random.Random
    pattern: re.Pattern[str] | None
    window: SlidingWindow | FixedWindow | None
    burst_left: int = 0
    burst_started: bool = False
    seen: int = 0  # matching requests so far (for ``first``)

    def matches(self, method: str, path: str, route: str) -> bool:
        rule = self.rule
        if rule.methods is not None and method not in rule.methods:
            return False
        pattern = self.pattern
        return pattern is None or pattern.match(path) is not None or pattern.match(route) is not None


@dataclass
class FaultEngine:
    """The per-request decision for a set of rules, with their random streams, windows and bursts."""

    rules: Sequence[Rule]
    seed: int
    now: Callable[[], float]  # sandbox clock
    _by_platform: dict[str, list[_RuleState]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for rule in self.rules:
            window: SlidingWindow | FixedWindow | None = None
            if rule.rate is not None:
                kind = FixedWindow if rule.rate.window == "fixed" else SlidingWindow
                window = kind(rule.rate.limit, rule.rate.period)
            state = _RuleState(
                rule=rule,
                rng=random.Random(f"{self.seed}\x00{rule.text}"),
                pattern=_glob_regex(rule.glob) if rule.glob else None,
                window=window,
            )
            self._by_platform.setdefault(rule.platform, []).append(state)

    def applies_to(self, platform: str) -> bool:
        return platform in self._by_platform

    def decide(
        self,
        platform: str,
        method: str,
        path: str,
        route: str,
        credential: Callable[[], str | None],
    ) -> Decision:
        """Decide for one request. ``path`` and ``route`` are relative to the platform prefix, without the
        leading ``/``; ``credential`` is called only when a rate rule matches."""
        states = self._by_platform.get(platform)
        decision = Decision()
        if not states:
            return decision
        matching = [s for s in states if s.matches(method, path, route)]
        if not matching:
            return decision
        # 1. budgets: every matching budget must allow the request; it is counted only when all do.
        budgets = [s for s in matching if s.window is not None]
        if budgets:
            now = self.now()
            cred = credential() or "-"
            keys = []
            for state in budgets:
                per = state.rule.rate.per if state.rule.rate is not None else "credential"
                key: Any = (cred, route) if per == "endpoint" else cred if per == "credential" else None
                assert state.window is not None
                wait = state.window.check(key, now)
                if wait is not None:
                    decision.action = RATE_LIMITED
                    decision.retry_after = None if state.rule.no_retry_after else wait
                    decision.rule = state.rule.text
                    return decision
                keys.append(key)
            for state, key in zip(budgets, keys, strict=True):
                assert state.window is not None
                state.window.commit(key, now)
        # 2. faults: latency adds up across rules; the first rule whose draw fires decides the action.
        is_write = method in WRITE_METHODS
        for state in matching:
            rule, rng = state.rule, state.rng
            state.seen += 1
            if rule.first is not None and state.seen > rule.first:
                continue
            if rule.latency is not None:
                lo, hi = rule.latency
                decision.latency += lo if lo == hi else rng.uniform(lo, hi)
            if rule.burst and decision.action == PASS and self._burst(state):
                decision.action = THROTTLED
                decision.retry_after = None if rule.no_retry_after else rule.retry_after
                decision.rule = rule.text
            if rule.stall_rate and rng.random() < rule.stall_rate and decision.stall == 0.0:
                decision.stall = rule.stall
                decision.rule = decision.rule or rule.text
            for action, rate in (
                (RESET, rule.reset_rate),
                (ERROR, rule.error_rate),
                (HTML, rule.html_rate),
                (GARBLE, rule.garble_rate),
                (ECHO, rule.echo_rate),
            ):
                if rate and rng.random() < rate and decision.action == PASS:
                    decision.action = action
                    decision.rule = rule.text
            if is_write and rule.lose_rate and rng.random() < rule.lose_rate and decision.action == PASS:
                decision.action = LOSE
                decision.rule = rule.text
            if (
                is_write
                and rule.truncate_rate
                and rng.random() < rule.truncate_rate
                and decision.action == PASS
            ):
                decision.action = TRUNCATE
                decision.rule = rule.text
        return decision

    @staticmethod
    def _burst(state: _RuleState) -> bool:
        rule = state.rule
        if state.burst_left > 0:
            state.burst_left -= 1
            return True
        if rule.burst_rate is None:
            if state.burst_started:
                return False
            state.burst_started = True
        elif state.rng.random() >= rule.burst_rate:
            return False
        state.burst_left = rule.burst - 1
        return True


def build_engine(
    spec: str,
    *,
    seed: int,
    now: Callable[[], float],
    platforms: Sequence[str],
    defaults: Iterable[str] = (),
) -> FaultEngine:
    """Rules of ``defaults`` (the documented budgets; those of platforms not served are skipped) then of
    ``spec``, as one engine."""
    rules = [parse_rule(text, platforms) for text in defaults if text.partition(":")[0].strip() in platforms]
    rules.extend(parse_spec(spec, platforms))
    return FaultEngine(rules, seed, now)
