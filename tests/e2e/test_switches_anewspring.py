"""What aNewSpring's document leaves open, played both ways by the sandbox, over real HTTP:

- ``anewspring.subscribe_dates``: ``subscribe`` takes the start and expiry date as ``yyyy-MM-dd`` (``date``)
  or as a date and time (``datetime``); plans/velpic-to-anewspring.toml subscribes every schedule that is not
  cancelled from its start to its due date either way, each once;
- ``anewspring.result_fields``: ``getResults`` names its dates as the public client code does (``client``) or
  with the ``…DateTime`` names ``getSubscriptions`` uses (``datetime``); plans/anewspring-to-velpic.toml
  completes each finished result's lesson with its completion date either way;
- ``anewspring.list_inactive``: ``getUsers`` lists inactive users (``true``) or leaves them out (``false``):
  every user listed arrives with its status; a user left out is not carried, and never arrives active.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, entity_stats, records, run_plan, write_env

TIME_SCALE = "20"


def _sandbox(option: str, value: object) -> SandboxThread:
    config = SandboxConfig(
        seed=29,
        scale=150,
        time_scale=float(TIME_SCALE),
        platforms=("anewspring", "velpic"),
        options={option: value},
    )
    return SandboxThread(config)


@pytest.fixture(params=["date", "datetime"])
def dates_sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxThread]:
    with _sandbox("anewspring.subscribe_dates", request.param) as sb:
        yield sb


def test_subscriptions_carry_their_start_and_expiry_in_either_date_form(
    dates_sandbox: SandboxThread, tmp_path: Path
) -> None:
    sb, base = dates_sandbox, dates_sandbox.base_url
    plan = PLANS / "velpic-to-anewspring.toml"
    env = write_env(sb, tmp_path / "sandbox.env")
    done = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
    assert done.returncode == 0, done.stdout + done.stderr

    emp_of = {u["id"]: u["employeeNumber"] for u in records(base, "velpic", "source", "user")}
    lesson_name = {x["lessonId"]: x["name"] for x in records(base, "velpic", "source", "lesson")}
    course_of_name = {c["name"]: c["id"] for c in records(base, "anewspring", "target", "course")}
    course_id = {c["uid"]: c["id"] for c in records(base, "anewspring", "target", "course")}
    user_id = {u["uid"]: u["id"] for u in records(base, "anewspring", "target", "user")}
    expected = {
        (emp_of[s["userId"]], course_of_name[lesson_name[s["lessonId"]]]): (
            s["startDate"][:10],
            s["endDate"][:10],
        )
        for s in records(base, "velpic", "source", "lesson_schedule")
        if s["status"] != "cancelled" and s["userId"] in emp_of
    }
    got = {
        (user_id[s["user"]], course_id[s["course"]]): (
            s["startDateTime"][:10],
            (s["expiryDateTime"] or "")[:10],
        )
        for s in records(base, "anewspring", "target", "subscription")
    }
    assert got == expected and len(got) > 50
    stats = entity_stats(base, "anewspring", "target", "subscription")
    assert stats["duplicates"] == 0 and stats["creates"] == len(expected)

    again = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
    assert again.returncode == 0, again.stdout + again.stderr
    assert entity_stats(base, "anewspring", "target", "subscription") == stats
