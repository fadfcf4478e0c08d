"""plans/accessplanit-coursedates-to-velpic-ilt.toml end to end over the sandbox.

accessplanit course dates -> Velpic ILT sessions (lesson through the course -> lesson table, one instructor
account), live bookings -> lesson schedules -> registrations to the booked session. Every session's fields are
checked on the target, every registration as an ``ilt_attendee``, 0 duplicates, and a second run writes
nothing. The accessplanit budgets stay documented (5000/hour): sandbox and client run at ``TIME_SCALE``."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from migrator.connectors.velpic import parse_ilt_date
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.crosswalk_check import assert_crosswalk_carries_keys, crosswalk
from tests.e2e.helpers import PLANS, entity_stats, records, run_plan, write_env

TIME_SCALE = "200"
PLAN = PLANS / "accessplanit-coursedates-to-velpic-ilt.toml"
_SUMMARY = re.compile(r"^\s*(\w+)\s+done\s.*rejected\s+(\d+)\s*$", re.M)


@pytest.fixture(scope="module")
def sandbox(sandbox_profile: str) -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=11,
        scale=200,
        platforms=("velpic", "accessplanit"),
        default_limits=False,
        time_scale=float(TIME_SCALE),
        profile=sandbox_profile,
    )
    with SandboxThread(config) as sb:
        yield sb


def _run(tmp: Path, env: Path) -> dict[str, int]:
    done = run_plan(PLAN, tmp, env, "--time-scale", TIME_SCALE)
    # bookings of inactive users (not migrated) are dead letters: exit 3
    assert done.returncode in (0, 3), done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return {m[1]: int(m[2]) for m in _SUMMARY.finditer(done.stdout)}


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _lesson_of() -> dict[str, int]:
    with (PLANS / "data" / "course_lesson.csv").open(encoding="utf-8", newline="") as fh:
        return {row["course_id"]: int(row["lesson_id"]) for row in csv.DictReader(fh)}


def test_coursedates_to_ilt_sessions(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    rejected = _run(tmp_path, env)
    base = sandbox.base_url

    instructors = [u for u in records(base, "velpic", "target", "user") if u["roles"] == [8]]
    assert [u["emailAddress"] for u in instructors] == ["ilt.instructor@example.com"]
    instructor = instructors[0]["id"]

    lesson_of = _lesson_of()
    dates = [
        d
        for d in records(base, "accessplanit", "source", "coursedate")
        if d["Status"] in ("Available", "Full", "Completed")
    ]
    sessions = records(base, "velpic", "target", "ilt_session")
    assert len(sessions) == len(dates) > 10
    by_key = {(s["lessonId"], parse_ilt_date(s["startDatetime"])): s for s in sessions}
    assert len(by_key) == len(sessions)
    session_of: dict[str, int] = {}
    for d in dates:
        s = by_key[(lesson_of[d["CourseID"]], _utc(d["StartDate"]))]
        assert parse_ilt_date(s["endDatetime"]) == _utc(d["EndDate"])
        assert s["location"] == ((d["Location"] or "").strip() or "To be confirmed")
        assert s["instructorId"] == instructor
        assert s["notes"] == d["Label"]
        session_of[d["ID"]] = s["id"]

    users = {u["emailAddress"]: u["id"] for u in records(base, "velpic", "target", "user")}
    user_of = {
        u["ID"]: users[u["Email"].strip().lower()]
        for u in records(base, "accessplanit", "source", "user")
        if u["Status"] == "Active"
    }
    assert_crosswalk_carries_keys(  # each crosswalk row on the target user with its email
        crosswalk(PLAN, tmp_path, "users"),
        records(base, "accessplanit", "source", "user"),
        records(base, "velpic", "target", "user"),
        source_key=lambda u: u["Email"].strip().lower(),
        target_key=lambda u: u["emailAddress"],
        source_id="ID",
    )
    bookings = [
        b
        for b in records(base, "accessplanit", "source", "usercoursedate")
        if b["Status"] in ("Booked", "Completed")
    ]
    migrated = [b for b in bookings if b["UserID"] in user_of]
    expected = {f"{session_of[b['CourseDateID']]}:{user_of[b['UserID']]}" for b in migrated}
    assert len(expected) == len(migrated) > 20
    attendees = records(base, "velpic", "target", "ilt_attendee")
    assert {a["sessionUserKey"] for a in attendees} == expected
    assert len(attendees) == len(expected)
    # each attendee is linked to the user's schedule of the session's lesson
    assert all(a["lessonScheduleId"] is not None for a in attendees)
    assert rejected["registrations"] == len(bookings) - len(migrated) > 0
    assert rejected["sessions"] == rejected["users"] == rejected["instructors"] == 0
    # attendance: every completed booking of a migrated user is saved as attended and passed, through the
    # attendee id the writer looked up; the others keep no result
    completed = {
        f"{session_of[b['CourseDateID']]}:{user_of[b['UserID']]}"
        for b in migrated
        if b["Status"] == "Completed"
    }
    assert completed
    for a in attendees:
        done = a["sessionUserKey"] in completed
        assert (bool(a.get("attended")), bool(a.get("passed"))) == (done, done), a
    assert rejected["attendance"] == sum(
        1 for b in bookings if b["Status"] == "Completed" and b["UserID"] not in user_of
    )

    entities = ("user", "lesson_schedule", "ilt_session", "ilt_attendee")
    before = {e: entity_stats(base, "velpic", "target", e) for e in entities}
    assert all(s["duplicates"] == 0 for s in before.values()), before
    _run(tmp_path, env)  # every page is done: nothing is read, written or rejected again
    assert {e: entity_stats(base, "velpic", "target", e) for e in entities} == before
