"""A step's circuit breakers: limits as counts or percentages, checked as pure functions; the plan's
``limits`` and its short form ``on_error.max_rejected``; a limit change keeps the plan's hash."""

from __future__ import annotations

import pytest

from migrator.commands.run import plan_hash
from migrator.errors import PlanError
from migrator.graph import compile_graph
from migrator.plan.load import parse_plan_text
from migrator.runtime.breakers import Baseline, Breaker, Figures, Limit, StepLimits, parse_limit
from migrator.runtime.counters import StepCounters
from migrator.runtime.failures import StepFailed

PLAN = """
[plan]
name = "b"
%(defaults)s
[connections.v]
platform = "velpic"
base_url = "${VELPIC_BASE_URL}"
access_key = "${VELPIC_SOURCE_ACCESS_KEY}"
[connections.a]
platform = "accessplanit"
base_url = "${ACCESSPLANIT_V2_BASE_URL}"
api_key = "${ACCESSPLANIT_TARGET_API_KEY}"
[steps.people]
read  = { from = "v", entity = "user" }
write = { to = "a", entity = "user", mode = "upsert", match = "Email" }
map = { Email = "emailAddress", Forenames = "firstName", Surname = "lastName" }
%(step)s
"""


def _plan(step: str = "", defaults: str = "") -> str:
    return PLAN % {"step": step, "defaults": defaults}


def _limits(step: str = "", defaults: str = "") -> StepLimits:
    return compile_graph(parse_plan_text(_plan(step, defaults), "b.toml")).steps["people"].limits


def test_parse_limit_reads_counts_and_percentages() -> None:
    assert parse_limit(500) == (500, None)
    assert parse_limit(0) == (0, None)
    assert parse_limit("2%") == (None, 2.0)
    assert parse_limit(" 0.5 % ") == (None, 0.5)
    for bad in ("2", "two%", "-1%", "101%", True):
        with pytest.raises(ValueError, match="percentage"):
            parse_limit(bad)  # type: ignore[arg-type]


def test_a_count_limit_trips_one_past_its_threshold() -> None:
    limits = StepLimits(rejected=Limit.of("max_rejected", "limits.max_rejected", 5))
    assert limits.breach(Figures(base=1000, rejected=5)) is None
    breach = limits.breach(Figures(base=1000, rejected=6))
    assert breach is not None and breach.figure == 6
    message = breach.message("users")
    assert message.startswith("step users: 6 records rejected, more than limits.max_rejected = 5.")


def test_a_percentage_limit_is_of_the_base() -> None:
    limits = StepLimits(updates=Limit.of("max_updates", "limits.max_updates", "10%"))
    assert limits.breach(Figures(base=400, updated=40)) is None
    breach = limits.breach(Figures(base=400, updated=41))
    assert breach is not None
    assert 'updated of 400 records, more than limits.max_updates = "10%"' in breach.message("users")
    creates = StepLimits(creates=Limit.of("max_creates", "limits.max_creates", 0))
    assert creates.breach(Figures(base=10, created=1)) is not None
    assert creates.breach(Figures(base=10, updated=10, rejected=10)) is None


def test_the_breaker_counts_the_whole_step_and_the_source_count_when_known() -> None:
    limits = StepLimits(rejected=Limit.of("max_rejected", "limits.max_rejected", "10%"))
    counters = StepCounters(read=50, skipped=20, rejected=2)
    # resumed: 40 settled before (4 of them rejected); 50 read now, 20 of those settled before
    breaker = Breaker(limits, Baseline(settled=40, rejected=4))
    assert breaker.figures(counters) == Figures(base=70, rejected=6)
    assert limits.breach(breaker.figures(counters)) is None  # 6 ≤ 7
    counters.total = 1000  # the source told its count: 8 of 1000 is within 10%
    counters.rejected = 4
    breaker.check(counters)
    assert breaker.tripped is None
    breaker.raise_if_tripped("people")
    counters.total = None
    breaker.check(counters)  # 8 of 70: tripped
    assert breaker.tripped is not None
    with pytest.raises(StepFailed, match=r"8 records rejected of 70 records"):
        breaker.raise_if_tripped("people")


def test_plan_limits_and_the_short_form() -> None:
    assert _limits() == StepLimits()
    full = _limits('limits = { max_rejected = "2%", max_updates = "10%", max_creates = 500 }')
    assert full.rejected == Limit("max_rejected", "limits.max_rejected", None, 2.0)
    assert full.updates == Limit("max_updates", "limits.max_updates", None, 10.0)
    assert full.creates == Limit("max_creates", "limits.max_creates", 500, None)
    short = _limits("on_error = { max_rejected = 3 }")
    assert short.rejected == Limit("max_rejected", "on_error.max_rejected", 3, None)
    default = _limits(defaults="[defaults]\nmax_rejected = 7")
    assert default.rejected == Limit("max_rejected", "defaults.max_rejected", 7, None)
    mine = _limits("limits = { max_rejected = 1 }", defaults="[defaults]\nmax_rejected = 7")
    assert mine.rejected == Limit("max_rejected", "limits.max_rejected", 1, None)


def test_plan_limit_problems_name_the_key() -> None:
    with pytest.raises(PlanError) as info:
        compile_graph(parse_plan_text(_plan('limits = { max_updates = "ten%" }'), "b.toml"))
    assert "steps.people.limits.max_updates" in str(info.value)
    with pytest.raises(PlanError) as info:
        text = _plan("limits = { max_rejected = 1 }\non_error = { max_rejected = 2 }")
        compile_graph(parse_plan_text(text, "b.toml"))
    assert "steps.people.on_error.max_rejected" in str(info.value)
    assert "set max_rejected once" in str(info.value)


def test_a_limit_change_keeps_the_plan_hash_and_a_map_change_does_not() -> None:
    def digest(step: str = "", defaults: str = "") -> str:
        return plan_hash(parse_plan_text(_plan(step, defaults), "b.toml"))

    plain = digest()
    assert digest("limits = { max_rejected = 5 }") == plain
    assert digest('limits = { max_rejected = "50%", max_creates = 2 }') == plain
    assert digest("on_error = { max_rejected = 1 }") == plain
    assert digest(defaults="[defaults]\nmax_rejected = 9") == plain
    assert digest(defaults="[defaults]\nbatch = 9") != plain
    assert digest('overwrite = { Surname = "once" }') != plain
