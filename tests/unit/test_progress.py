"""Pace and ETA of a step: the budget bounds the pace (a step at 5000 requests an hour shows hours, not the
seconds its first burst suggests), a slow step never shows ``0/s``, and the live line carries both."""

from __future__ import annotations

import io

import pytest

from migrator.estimate import format_duration
from migrator.graph import compile_graph
from migrator.plan.load import parse_plan_text
from migrator.runtime.counters import StepCounters
from migrator.runtime.progress import (
    ProgressDisplay,
    budget_pace,
    budget_paces,
    eta_seconds,
    format_rate,
    step_pace,
)

PLAN = """
[plan]
name = "p"
[connections.v]
platform = "velpic"
base_url = "${VELPIC_BASE_URL}"
access_key = "${VELPIC_SOURCE_ACCESS_KEY}"
[connections.a]
platform = "accessplanit"
base_url = "${ACCESSPLANIT_V2_BASE_URL}"
username = "${U}"
password = "${P}"
[steps.users]
read  = { from = "v", entity = "user", page_size = 100 }
write = { to = "a", entity = "user", mode = "upsert", match = "Email" }
map = { Email = "emailAddress" }
"""


def _graph():  # type: ignore[no-untyped-def]
    return compile_graph(parse_plan_text(PLAN, "p.toml"))


def test_an_accessplanit_upsert_step_is_bound_by_5000_an_hour() -> None:
    node = _graph().steps["users"]
    # one record per request (a per-record upsert) at accessplanit's documented 5000 requests/hour/endpoint
    assert node.per_record
    assert budget_pace(node) == pytest.approx(5000 / 3600)
    assert budget_paces(_graph(), time_scale=10.0)["users"] == pytest.approx(50000 / 3600)


def test_a_5000_an_hour_budget_gives_hours() -> None:
    pace = step_pace(settled=300, elapsed=3.0, budget=5000 / 3600)  # 100/s seen in the first burst
    assert pace == pytest.approx(5000 / 3600)
    eta = eta_seconds(remaining=42_000 - 300, pace=pace)
    assert eta == pytest.approx(41_700 / (5000 / 3600))
    assert format_duration(eta or 0) == "8 h 20 min"


def test_without_a_budget_the_pace_seen_is_the_pace() -> None:
    assert step_pace(settled=600, elapsed=3.0, budget=None) == pytest.approx(200.0)
    assert step_pace(settled=6, elapsed=3.0, budget=50.0) == pytest.approx(2.0)  # slower than the budget
    assert step_pace(settled=0, elapsed=0.0, budget=2.0) == 2.0  # nothing settled yet: the budget alone
    assert step_pace(settled=0, elapsed=0.0, budget=None) is None


def test_an_unknown_total_or_pace_has_no_eta() -> None:
    assert eta_seconds(None, 3.0) is None
    assert eta_seconds(100, None) is None
    assert eta_seconds(100, 0.0) is None
    assert eta_seconds(0, 3.0) == 0.0


@pytest.mark.parametrize(
    ("per_second", "text"),
    [(1234.4, "1,234/s"), (10.0, "10/s"), (5000 / 3600, "83/min"), (0.5, "30/min"), (1 / 6, "10/min"),
     (1 / 60, "60/h"), (1 / 3600, "1.0/h"), (0.002, "7.2/h"), (0.0, "0.0/h")],
)  # fmt: skip
def test_a_slow_pace_is_never_0_per_second(per_second: float, text: str) -> None:
    assert format_rate(per_second) == text


def test_the_live_line_shows_the_pace_and_the_eta_from_the_budget() -> None:
    out = io.StringIO()
    display = ProgressDisplay(out, plain=True, paces={"users": 5000 / 3600})
    first = display.detail("users", StepCounters(read=100, total=3000), now=100.0)
    assert first == "read 100 written 0 rejected 0 · 83/min · ETA 36 min"
    later = display.detail("users", StepCounters(read=400, written=300, total=3000), now=103.0)
    assert later == "read 400 written 300 rejected 0 · 83/min · ETA 32 min 24 s"
    done = display.detail("users", StepCounters(read=3000, written=3000, total=3000, finished_at=1.0), 110.0)
    assert done == "read 3,000 written 3,000 rejected 0 · 83/min"
