"""Learning history and leavers on plans/anewspring-to-velpic.toml and plans/velpic-to-anewspring.toml, end to
end over loopback HTTP:

- aNewSpring → Velpic: every active subscription (getSubscriptions) becomes a lesson schedule of the course's
  lesson from its start date, every finished result (getResults) a completion with its completed date, and every
  user inactive in aNewSpring arrives Not Current (after the completions, which an active user records); both
  forms of the results' dates (``result_dates``: date and time, or a bare date) arrive the same;
- Velpic → aNewSpring: every schedule that is not cancelled becomes a subscription with its start and expiry
  dates.

Each route is run once, then again (which writes nothing), and once with a quarter of the answers to its
writes lost (no duplicate, everything right). The plans' 20/second budgets run on a compressed clock."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import (
    PLANS,
    entity_stats,
    get_json,
    give_ui_users_ids,
    records,
    run_plan,
    write_env,
)

TO_VELPIC = PLANS / "anewspring-to-velpic.toml"
TO_ANEWSPRING = PLANS / "velpic-to-anewspring.toml"
#: the plan's course table: aNewSpring course C0nn → Velpic target lesson version 52nn
LESSON_OF_COURSE = {f"C{n:03d}": 5200 + n for n in range(1, 17)}
NOT_CURRENT, ACTIVE = 57, 56
#: a quarter of the answers of every write of each route lost after the write is stored
LOSSY_TO_VELPIC = (
    "velpic/user/*/lesson_schedule:lose_rate=0.25;velpic/lesson_schedule/*/complete_lesson:lose_rate=0.25;"
    "velpic/user/*/inactivate:lose_rate=0.25"
)
LOSSY_TO_ANEWSPRING = "anewspring/subscribe/*/*:lose_rate=0.25"
HISTORY = ("user", "lesson_schedule")
TIME_SCALE = "20"


def _sandbox(faults: str = "", **options: Any) -> SandboxThread:
    config = SandboxConfig(
        seed=13,
        scale=300,
        time_scale=float(TIME_SCALE),
        platforms=("anewspring", "velpic"),
        faults=faults,
        options={f"anewspring.{k}": v for k, v in options.items()},
    )
    return SandboxThread(config)


@pytest.fixture(params=["datetime", "date"])
def history_sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxThread]:
    with _sandbox(result_dates=request.param) as sb:
        give_ui_users_ids(sb)
        yield sb


def _lost(sb: SandboxThread) -> int:
    """How many answers the sandbox's faults have lost so far."""
    faults: dict[str, int] = get_json(f"{sb.base_url}/_sandbox/stats")["faults"]
    return sum(faults.values())


def _day(value: str) -> str:
    """The calendar day of an ISO 8601 date or date and time (the sandboxes' dates are UTC)."""
    return value[:10]


def _assert_history_in_velpic(sb: SandboxThread) -> None:
    base = sb.base_url
    users = records(base, "anewspring", "source", "user")
    subs = records(base, "anewspring", "source", "subscription")
    target = {u["emailAddress"]: u for u in records(base, "velpic", "target", "user")}
    target_of = {u["uid"]: target[u["email"].strip().lower()]["id"] for u in users}
    course_id = {c["uid"]: c["id"] for c in records(base, "anewspring", "source", "course")}

    schedules = records(base, "velpic", "target", "lesson_schedule")
    per_lesson = Counter((s["userId"], s["lessonVersionId"]) for s in schedules if s["status"] != "cancelled")
    assert per_lesson, "no lesson schedule arrived on the target"
    assert max(per_lesson.values()) == 1, "a lesson scheduled or completed twice"
    by_lesson = {(s["userId"], s["lessonVersionId"]): s for s in schedules}

    carried = [s for s in subs if s["active"]]
    assert len(carried) > 200 and any(not s["active"] for s in subs)  # the source has inactive ones too
    for sub in carried:
        got = by_lesson[(target_of[sub["user"]], LESSON_OF_COURSE[course_id[sub["course"]]])]
        assert _day(got["startDate"]) == _day(sub["startDateTime"]), (sub, got)
    finished = [s for s in subs if s["finished"]]
    assert len(finished) > 100
    for sub in finished:
        got = by_lesson[(target_of[sub["user"]], LESSON_OF_COURSE[course_id[sub["course"]]])]
        assert got["status"] == "completed", (sub, got)
        assert _day(got["lessonCompletedDate"]) == _day(sub["finishedDateTime"]), (sub, got)
        assert got["lessonCompletedBy"] == target_of[sub["user"]]
    # nothing else: the target holds exactly the carried subscriptions
    assert len(per_lesson) == len(carried)

    status = {u["id"]: u["clientStatusId"] for u in target.values()}
    leavers = [u for u in users if not u["active"]]
    assert len(leavers) > 10
    for u in users:
        assert status[target_of[u["uid"]]] == (ACTIVE if u["active"] else NOT_CURRENT), u
    assert all(entity_stats(base, "velpic", "target", e)["duplicates"] == 0 for e in HISTORY)


def test_subscriptions_results_and_leavers_arrive_in_velpic(
    history_sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = write_env(history_sandbox, tmp_path / "sandbox.env")
    first = run_plan(TO_VELPIC, tmp_path, env, "--time-scale", TIME_SCALE)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Traceback" not in first.stderr
    _assert_history_in_velpic(history_sandbox)
    stats = {e: entity_stats(history_sandbox.base_url, "velpic", "target", e) for e in HISTORY}

    again = run_plan(TO_VELPIC, tmp_path, env, "--time-scale", TIME_SCALE)
    assert again.returncode == 0, again.stdout + again.stderr
    assert {e: entity_stats(history_sandbox.base_url, "velpic", "target", e) for e in HISTORY} == stats


def test_lost_answers_to_velpic_leave_no_duplicate(tmp_path: Path) -> None:
    with _sandbox(LOSSY_TO_VELPIC) as sb:
        give_ui_users_ids(sb)
        env = write_env(sb, tmp_path / "sandbox.env")
        first = run_plan(TO_VELPIC, tmp_path, env, "--time-scale", TIME_SCALE)
        assert first.returncode == 0, first.stdout + first.stderr
        assert _lost(sb) > 10, "no answer was lost: the test proves nothing"
        _assert_history_in_velpic(sb)
        stats = {e: entity_stats(sb.base_url, "velpic", "target", e) for e in HISTORY}
        again = run_plan(TO_VELPIC, tmp_path, env, "--time-scale", TIME_SCALE)
        assert again.returncode == 0, again.stdout + again.stderr
        assert {e: entity_stats(sb.base_url, "velpic", "target", e) for e in HISTORY} == stats


def _assert_subscriptions_in_anewspring(sb: SandboxThread) -> None:
    base = sb.base_url
    emp_of = {u["id"]: u["employeeNumber"] for u in records(base, "velpic", "source", "user")}
    lesson_name = {x["lessonId"]: x["name"] for x in records(base, "velpic", "source", "lesson")}
    courses = records(base, "anewspring", "target", "course")
    course_of_name = {c["name"]: c["id"] for c in courses}
    course_id = {c["uid"]: c["id"] for c in courses}
    user_id = {u["uid"]: u["id"] for u in records(base, "anewspring", "target", "user")}
    expected = {
        (emp_of[s["userId"]], course_of_name[lesson_name[s["lessonId"]]]): (
            _day(s["startDate"]),
            _day(s["endDate"]),
        )
        for s in records(base, "velpic", "source", "lesson_schedule")
        if s["status"] != "cancelled"
    }
    subs = records(base, "anewspring", "target", "subscription")
    got = {
        (user_id[s["user"]], course_id[s["course"]]): (
            _day(s["startDateTime"]),
            _day(s["expiryDateTime"] or "no expiry date"),
        )
        for s in subs
    }
    assert got == expected and len(got) > 100
    assert len(subs) == len(got)
    assert entity_stats(base, "anewspring", "target", "subscription")["duplicates"] == 0


@pytest.mark.parametrize("faults", ["", LOSSY_TO_ANEWSPRING], ids=["answered", "lost-answers"])
def test_schedules_arrive_in_anewspring_with_start_and_expiry(tmp_path: Path, faults: str) -> None:
    with _sandbox(faults) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        first = run_plan(TO_ANEWSPRING, tmp_path, env, "--time-scale", TIME_SCALE)
        assert first.returncode == 0, first.stdout + first.stderr
        assert (_lost(sb) > 10) is bool(faults)
        _assert_subscriptions_in_anewspring(sb)
        stats = entity_stats(sb.base_url, "anewspring", "target", "subscription")
        again = run_plan(TO_ANEWSPRING, tmp_path, env, "--time-scale", TIME_SCALE)
        assert again.returncode == 0, again.stdout + again.stderr
        assert entity_stats(sb.base_url, "anewspring", "target", "subscription") == stats


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ("startDate=2024-01-22&expiryDate=2024-02-05", 200),
        ("startDate=2024-01-22&expiryDate=2024-01-21", 400),  # expires before it starts
        ("startDate=2024-01-22&expiryDate=05/02/2024", 400),  # not yyyy-MM-dd
    ],
)
def test_subscribe_checks_its_dates(form: str, status: int) -> None:
    with _sandbox() as sb:
        env = sb.sandbox.env()
        key = {"X-API-Key": env["ANEWSPRING_TARGET_API_KEY"]}
        add = urllib.request.Request(
            f"{env['ANEWSPRING_BASE_URL']}/addUser/E1", data=b"login=e1", headers=key, method="POST"
        )
        urllib.request.urlopen(add, timeout=30).close()
        subscribe = urllib.request.Request(
            f"{env['ANEWSPRING_BASE_URL']}/subscribe/E1/C001", data=form.encode(), headers=key, method="POST"
        )
        try:
            with urllib.request.urlopen(subscribe, timeout=30) as resp:
                got = resp.status
        except urllib.error.HTTPError as err:
            got = err.code
            assert "Parameter 'expiryDate'" in err.read().decode()
        assert got == status
        subs = records(sb.base_url, "anewspring", "target", "subscription")
        if status == 200:
            [sub] = subs
            assert (sub["startDateTime"], sub["expiryDateTime"]) == (
                "2024-01-22T00:00:00Z",
                "2024-02-05T00:00:00Z",
            )
        else:
            assert subs == []
