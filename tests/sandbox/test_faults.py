"""Fault spec parsing and per-request decisions: pure, no sockets."""

from __future__ import annotations

import pytest

from migrator.sandbox.config import DEFAULT_LIMITS, PLATFORM_NAMES
from migrator.sandbox.faults import (
    ERROR,
    LOSE,
    PASS,
    RATE_LIMITED,
    RESET,
    THROTTLED,
    FaultEngine,
    FaultSpecError,
    FixedWindow,
    RateSpec,
    SlidingWindow,
    build_engine,
    parse_spec,
    spec_from_json,
)

P = PLATFORM_NAMES


class FakeNow:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("velpic:error_rate=0.05", {"platform": "velpic", "glob": None, "error_rate": 0.05}),
        (
            "velpic/bulkUserImport:latency=200ms,lose_rate=0.1",
            {"glob": "bulkUserImport", "latency": (0.2, 0.2), "lose_rate": 0.1},
        ),
        ("onefile:latency=20-80ms", {"latency": (0.02, 0.08)}),
        ("onefile:latency=0.5s-1s", {"latency": (0.5, 1.0)}),
        ("accessplanit/api/v2/user:rate=50/s", {"rate": RateSpec(50, 1.0)}),
        (
            "accessplanit:rate=5000/h,window=fixed,per=endpoint",
            {"rate": RateSpec(5000, 3600.0, "fixed", "endpoint")},
        ),
        ("velpic:rate=100/10s,per=all", {"rate": RateSpec(100, 10.0, "sliding", "all")}),
        ("velpic:rate=300/minute", {"rate": RateSpec(300, 60.0)}),
        ("anewspring:stall_rate=0.5,stall=2s", {"stall_rate": 0.5, "stall": 2.0}),
        ("anewspring:reset_rate=1", {"reset_rate": 1.0}),
        ("velpic:methods=post|Put,error_rate=1", {"methods": frozenset({"POST", "PUT"})}),
        ("velpic:burst=3,no_retry_after=true", {"burst": 3, "no_retry_after": True, "burst_rate": None}),
        ("velpic:burst=3,burst_rate=0.1,retry_after=5s", {"burst_rate": 0.1, "retry_after": 5.0}),
        ("  VELPIC / user/* : error_rate = 0.5 ", {"platform": "velpic", "glob": "user/*", "error_rate": 0.5}),
    ],
)
def test_parse_good_specs(spec: str, expected: dict[str, object]) -> None:
    (rule,) = parse_spec(spec, P)
    for key, value in expected.items():
        assert getattr(rule, key) == value, key
    assert rule.text == spec.strip()


def test_parse_several_rules_and_empty_parts() -> None:
    rules = parse_spec("velpic:error_rate=0.1; ;accessplanit:latency=5ms;", P)
    assert [r.platform for r in rules] == ["velpic", "accessplanit"]
    assert parse_spec("", P) == []
    assert parse_spec("  ;  ", P) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "velpc:error_rate=0.1",
            "unknown platform 'velpc'; choose from velpic, accessplanit, onefile, anewspring; did you mean",
        ),
        ("velpic", "has no settings"),
        ("velpic:", "has no settings"),
        ("velpic:eror_rate=0.1", "unknown setting 'eror_rate'; did you mean 'error_rate'?"),
        ("velpic:error_rate", "must be written key=value"),
        ("velpic:error_rate=1.5", "error_rate: '1.5' is outside 0..1"),
        ("velpic:error_rate=lots", "'lots' is not a number"),
        ("velpic:latency=50", "write a number with a unit: 50ms"),
        ("velpic:latency=80-20ms", "goes backwards"),
        ("velpic:stall=forever", "'forever' is not a duration"),
        ("velpic:rate=fast", "must be '<count>/<period>'"),
        ("velpic:rate=0/s", "count > 0"),
        ("velpic:rate=10/fortnight", "'fortnight' is not a duration"),
        ("velpic:window=fixed", "needs a rate=… setting"),
        ("velpic:rate=1/s,window=tumbling", "must be one of sliding, fixed"),
        ("velpic:rate=1/s,per=user", "must be one of credential, endpoint, all"),
        ("velpic:burst=0", "burst: '0' must be a whole number"),
        ("velpic:burst_rate=0.1", "burst_rate needs burst"),
        ("velpic:methods=FETCH", "unknown: FETCH"),
        ("velpic:no_retry_after=maybe", "not true or false"),
        ("velpic:error_rate=0.1,error_rate=0.2", "given twice"),
        ("velpic:error_rate=0.1;onefile:latency=fast", "rule 'onefile:latency=fast'"),
    ],
)
def test_parse_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError) as info:
        parse_spec(spec, P)
    assert message in str(info.value)


def test_spec_from_json_forms() -> None:
    assert spec_from_json("velpic:error_rate=1") == "velpic:error_rate=1"
    text = spec_from_json(
        {
            "rules": [
                {"scope": "velpic/user", "error_rate": 0.5, "methods": ["POST", "PUT"], "no_retry_after": True}
            ]
        }
    )
    (rule,) = parse_spec(text, P)
    assert (rule.glob, rule.error_rate, rule.methods, rule.no_retry_after) == (
        "user",
        0.5,
        frozenset({"POST", "PUT"}),
        True,
    )
    assert (
        len(parse_spec(spec_from_json(["velpic:error_rate=1", {"scope": "onefile", "latency": "5ms"}]), P)) == 2
    )
    with pytest.raises(FaultSpecError, match="scope"):
        spec_from_json([{"error_rate": 1}])
    with pytest.raises(FaultSpecError, match="spec string"):
        spec_from_json(42)


def _decisions(engine: FaultEngine, n: int, method: str = "POST") -> list[tuple[str, float]]:
    return [
        (d.action, round(d.latency, 6))
        for d in (
            engine.decide("velpic", method, "api/v2/user", "api/v2/user", lambda: "source") for _ in range(n)
        )
    ]


SPEC = "velpic:latency=1-50ms,error_rate=0.2,reset_rate=0.1,lose_rate=0.2"


def test_decisions_are_deterministic_from_the_seed() -> None:
    now = FakeNow()
    first = _decisions(build_engine(SPEC, seed=5, now=now, platforms=P), 200)
    again = _decisions(build_engine(SPEC, seed=5, now=now, platforms=P), 200)
    other = _decisions(build_engine(SPEC, seed=6, now=now, platforms=P), 200)
    assert first == again
    assert first != other
    actions = {a for a, _ in first}
    assert {PASS, ERROR, RESET, LOSE} <= actions
    assert all(0.001 <= latency <= 0.05 for _, latency in first)


def test_each_rule_has_its_own_stream() -> None:
    """Adding a rule for another platform does not shift this rule's draws."""
    now = FakeNow()
    alone = _decisions(build_engine(SPEC, seed=5, now=now, platforms=P), 100)
    extra = build_engine("onefile:error_rate=0.5;" + SPEC, seed=5, now=now, platforms=P)
    for _ in range(10):
        extra.decide("onefile", "GET", "x", "x", lambda: None)
    assert _decisions(extra, 100) == alone


def test_first_limits_a_rule_to_its_first_matching_requests() -> None:
    """``first=2``: exactly the first two matching writes lose their answer; reads do not count."""
    engine = build_engine("velpic:methods=POST,lose_rate=1,first=2", seed=1, now=FakeNow(), platforms=P)
    actions = [
        engine.decide("velpic", m, "a", "a", lambda: None).action for m in ("GET", "POST", "POST", "POST")
    ]
    assert actions == [PASS, LOSE, LOSE, PASS]
    with pytest.raises(FaultSpecError, match="first: '0' must be a whole number"):
        build_engine("velpic:lose_rate=1,first=0", seed=1, now=FakeNow(), platforms=P)


def test_lose_only_on_writes_and_methods_filter() -> None:
    engine = build_engine(
        "velpic:lose_rate=1;onefile:methods=POST,error_rate=1", seed=1, now=FakeNow(), platforms=P
    )
    assert engine.decide("velpic", "GET", "a", "a", lambda: None).action == PASS
    assert engine.decide("velpic", "PUT", "a", "a", lambda: None).action == LOSE
    assert engine.decide("onefile", "GET", "a", "a", lambda: None).action == PASS
    assert engine.decide("onefile", "POST", "a", "a", lambda: None).action == ERROR


@pytest.mark.parametrize(
    ("glob", "path", "route", "hit"),
    [
        ("bulkUserImport", "api/v2/user/bulkUserImport", "api/v2/user/bulkUserImport", True),
        ("api/v2/user", "accessplan/api/v2/user", "accessplan/api/v2/user", True),
        ("api/v2/user", "accessplan/api/v2/user/12", "accessplan/api/v2/user/{id}", False),
        ("api/v2/user/*", "accessplan/api/v2/user/12", "accessplan/api/v2/user/{id}", True),
        ("user/{userId}", "api/v2/user/5", "api/v2/user/{userId}", True),
        ("ser", "api/v2/user", "api/v2/user", False),
        ("api/**", "api/v2/user/5/groups", "api/v2/user/{id}/groups", True),
        ("Search/?/*", "api/v2.1/User/Search/1/50", "api/v2.1/User/Search/{page}/{size}", True),
        ("Search/?/*", "api/v2.1/User/Search/12/50", "api/v2.1/User/Search/{page}/{size}", False),
    ],
)
def test_path_globs(glob: str, path: str, route: str, hit: bool) -> None:
    engine = build_engine(f"velpic/{glob}:error_rate=1", seed=1, now=FakeNow(), platforms=P)
    assert (engine.decide("velpic", "GET", path, route, lambda: None).action == ERROR) is hit


def test_burst_once_then_pass_and_no_retry_after() -> None:
    engine = build_engine("velpic:burst=3,no_retry_after=true", seed=1, now=FakeNow(), platforms=P)
    decisions = [engine.decide("velpic", "GET", "a", "a", lambda: None) for _ in range(5)]
    assert [d.action for d in decisions] == [THROTTLED] * 3 + [PASS] * 2
    assert decisions[0].retry_after is None
    engine = build_engine("velpic:burst=2,retry_after=4s", seed=1, now=FakeNow(), platforms=P)
    assert engine.decide("velpic", "GET", "a", "a", lambda: None).retry_after == 4.0


def test_random_bursts_come_in_runs() -> None:
    engine = build_engine("velpic:burst=4,burst_rate=0.05", seed=3, now=FakeNow(), platforms=P)
    actions = [engine.decide("velpic", "GET", "a", "a", lambda: None).action for _ in range(2000)]
    runs = "".join("T" if a == THROTTLED else "." for a in actions).split(".")
    lengths = [len(r) for r in runs if r]
    assert lengths and all(n % 4 == 0 for n in lengths)


def test_sliding_window() -> None:
    window = SlidingWindow(limit=2, period=60.0)
    window.commit("k", 0.0)
    window.commit("k", 10.0)
    assert window.check("k", 30.0) == pytest.approx(30.0)  # the hit at 0 leaves at 60
    assert window.check("other", 30.0) is None
    assert window.check("k", 60.0) is None


def test_fixed_window_aligned_to_the_clock() -> None:
    window = FixedWindow(limit=2, period=3600.0)
    window.commit("k", 7200.0 + 100)
    window.commit("k", 7200.0 + 200)
    assert window.check("k", 7200.0 + 300) == pytest.approx(3300.0)
    assert window.check("k", 10800.0) is None  # next hour: fresh count


def test_budget_keys_per_credential_endpoint_and_all() -> None:
    now = FakeNow()
    spec = "velpic:rate=1/h,per=endpoint;onefile:rate=1/h;anewspring:rate=1/h,per=all"
    engine = build_engine(spec, seed=1, now=now, platforms=P)

    def act(platform: str, route: str, cred: str) -> str:
        return engine.decide(platform, "GET", route, route, lambda: cred).action

    assert act("velpic", "a", "s") == PASS
    assert act("velpic", "b", "s") == PASS  # another endpoint
    assert act("velpic", "a", "t") == PASS  # another credential
    assert act("velpic", "a", "s") == RATE_LIMITED
    assert act("onefile", "a", "s") == PASS
    assert act("onefile", "b", "s") == RATE_LIMITED  # per credential across endpoints
    assert act("onefile", "b", "t") == PASS
    assert act("anewspring", "a", "s") == PASS
    assert act("anewspring", "b", "t") == RATE_LIMITED  # one budget for all


def test_rejected_requests_do_not_consume_other_budgets() -> None:
    now = FakeNow(0.0)
    engine = build_engine("velpic:rate=1/h;velpic/a:rate=5/h", seed=1, now=now, platforms=P)
    assert engine.decide("velpic", "GET", "a", "a", lambda: "s").action == PASS
    for _ in range(10):
        assert engine.decide("velpic", "GET", "a", "a", lambda: "s").action == RATE_LIMITED
    now.t = 3600.0
    assert engine.decide("velpic", "GET", "a", "a", lambda: "s").action == PASS  # 2 of 5 used, not 11


def test_default_limits_are_the_documented_budgets() -> None:
    engine = build_engine("", seed=1, now=FakeNow(0.0), platforms=P, defaults=DEFAULT_LIMITS)
    by_platform = {rule.platform: rule.rate for rule in engine.rules}
    assert by_platform == {
        "accessplanit": RateSpec(5000, 3600.0, "fixed", "endpoint"),
        "onefile": RateSpec(300, 60.0, "sliding", "credential"),
    }
    served_only = build_engine("", seed=1, now=FakeNow(), platforms=("velpic",), defaults=DEFAULT_LIMITS)
    assert list(served_only.rules) == []
