"""Estimates checked against hand-computed numbers."""

from __future__ import annotations

import pytest

from migrator.commands.explain import render_json, render_text
from migrator.estimate import (
    fewest_requests,
    format_duration,
    per_record,
    read_requests,
    shared_durations,
    write_requests,
)
from migrator.graph import compile_graph, estimate_graph
from migrator.plan.load import parse_plan_text


@pytest.mark.parametrize(
    ("records", "style", "size", "knows_total", "expected"),
    [
        (42_000, "velpic_offset", 100, True, 420),
        (42_001, "velpic_offset", 100, True, 421),
        (0, "velpic_offset", 100, True, 1),
        (1_000, "accessplanit_v1_page", 100, False, 11),  # stops at the first short/empty page
        (1_050, "accessplanit_v1_page", 100, False, 11),
        (5_000, "unpaged", None, True, 1),
        (5_000, "file", None, True, 0),
    ],
)
def test_read_requests(records: int, style: str, size: int | None, knows_total: bool, expected: int) -> None:
    assert read_requests(records, style, size, knows_total) == expected


def test_write_requests() -> None:
    assert write_requests(42_000, True, 1) == 42_000
    assert write_requests(42_000, False, 500) == 84
    assert write_requests(42_001, False, 500) == 85
    with pytest.raises(ValueError, match="batch must be positive"):
        write_requests(1, False, 0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (0.2, "1 s"),
        (45, "45 s"),
        (200, "3 min 20 s"),
        (120, "2 min"),
        (30_240, "8 h 24 min"),
        (3600, "1 h"),
        (2 * 86400 + 3 * 3600, "2 d 3 h"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_42000_upserts_at_5000_an_hour_take_8_h_24_min() -> None:
    durations = shared_durations({"users": {"apit/user": 42_000}}, {"apit/user": 5000 / 3600})
    assert durations["users"] == pytest.approx(30_240)
    assert format_duration(durations["users"] or 0) == "8 h 24 min"


def test_steps_sharing_a_budget_share_it_fairly() -> None:
    rate = 1.0  # request per second
    durations = shared_durations({"a": {"b": 100}, "c": {"b": 300}, "free": {"x": 50}}, {"b": rate, "x": None})
    assert durations["a"] == pytest.approx(200)  # both run at half rate until a is done
    assert durations["c"] == pytest.approx(400)  # all 400 requests through one budget
    assert durations["free"] is None  # not rate-limited


def test_step_time_is_its_slowest_budget() -> None:
    durations = shared_durations({"s": {"read": 60, "write": 600}}, {"read": 1.0, "write": 5.0})
    assert durations["s"] == pytest.approx(120)


PLAN = """
[plan]
name = "e"
[connections.v]
platform = "velpic"
base_url = "${VELPIC_BASE_URL}"
access_key = "${VELPIC_SOURCE_ACCESS_KEY}"
[connections.a]
platform = "accessplanit"
base_url = "${ACCESSPLANIT_V2_BASE_URL}"
username = "${U}"
password = "${P}"
budget = { reserve = RESERVE }
[steps.users]
read  = { from = "v", entity = "user", page_size = 500 }
write = { to = "a", entity = "user", mode = "upsert", match = "Email" }
map = { Email = "emailAddress" }
[steps.companies]
read  = { from = "v", entity = "group", page_size = 100 }
write = { to = "a", entity = "company", mode = "upsert", match = "ExternalID" }
[steps.more_users]
read  = { from = "v", entity = "user" }
write = { to = "a", entity = "user", mode = "upsert", match = "Email" }
after = ["users"]
"""


def estimate(reserve: float, counts: dict[str, int]):  # type: ignore[no-untyped-def]
    graph = compile_graph(parse_plan_text(PLAN.replace("RESERVE", str(reserve)), "e.toml"))
    return graph, estimate_graph(graph, counts)


def test_plan_estimate_without_reserve() -> None:
    graph, est = estimate(0.0, {"users": 42_000, "companies": 1_000, "more_users": 5_000})
    assert graph.levels == (("users", "companies"), ("more_users",))
    users = est.steps["users"]
    assert (users.read_requests, users.write_requests) == (84, 42_000)
    # users and companies write to different accessplanit endpoints (/user, /company): separate budgets.
    assert users.seconds == pytest.approx(42_000 / 5000 * 3600)
    assert est.steps["companies"].seconds == pytest.approx(1_000 / 5000 * 3600)
    assert est.level_seconds[0] == pytest.approx(30_240)
    assert est.steps["more_users"].read_requests == 50  # default Velpic page size 100
    assert est.total_requests == 84 + 42_000 + 10 + 1_000 + 50 + 5_000
    assert est.total_seconds == pytest.approx(30_240 + 5_000 / 5000 * 3600)


def test_plan_estimate_applies_the_reserve() -> None:
    _, est = estimate(0.2, {"users": 42_000, "companies": 1_000, "more_users": 5_000})
    assert est.steps["users"].seconds == pytest.approx(42_000 / 4000 * 3600)  # 10.5 h
    assert format_duration(est.steps["users"].seconds or 0) == "10 h 30 min"


def test_unknown_counts_leave_the_total_unknown() -> None:
    _, est = estimate(0.0, {"users": 42_000})
    assert est.steps["companies"].requests is None
    assert est.total_requests is None
    assert est.total_seconds is None
    assert est.known_seconds == pytest.approx(30_240)


def test_parallel_steps_on_one_endpoint_share_its_budget() -> None:
    text = PLAN.replace("RESERVE", "0.0").replace('after = ["users"]', "")
    graph = compile_graph(parse_plan_text(text, "e.toml"))
    assert graph.levels == (("users", "companies", "more_users"),)
    est = estimate_graph(graph, {"users": 10_000, "companies": 0, "more_users": 5_000})
    # /user budget 5000/h shared by users (10,000) and more_users (5,000): fair share.
    assert est.steps["more_users"].seconds == pytest.approx((5_000 + 5_000) / 5000 * 3600)  # 2 h
    assert est.steps["users"].seconds == pytest.approx(15_000 / 5000 * 3600)  # 3 h
    assert est.total_seconds == pytest.approx(3 * 3600)


def test_requests_per_record_and_the_fewest_a_route_allows() -> None:
    assert per_record(84 + 42_000, 42_000) == pytest.approx(1.002)
    assert per_record(10, 0) is None and per_record(None, 10) is None
    # 100,000 Velpic users in pages of 100, bulkUserImport batches of 500
    assert fewest_requests(100_000, "velpic_offset", 100, True, False, 500) == (1_000, 200)
    assert fewest_requests(100_000, "accessplanit_v1_page", 500, False, True, 1) == (201, 100_000)


def test_explain_shows_requests_per_record_for_each_step() -> None:
    graph, est = estimate(0.0, {"users": 42_000, "companies": 1_000})
    text = render_text(graph, est, [])
    users = text[text.index("  users:") : text.index("  companies:")]
    assert "per record: 0.002 read + 1 write = 1.002 requests" in users
    assert text.count("per record:") == 2  # more_users: no count, no per-record figure
    steps = {s["name"]: s for s in render_json(graph, est, [])["steps"]}
    assert steps["companies"]["read_requests_per_record"] == pytest.approx(10 / 1_000)
    assert steps["companies"]["write_requests_per_record"] == pytest.approx(1.0)
    assert steps["companies"]["requests_per_record"] == pytest.approx(1.01)
    assert steps["more_users"]["requests_per_record"] is None
