"""An accessplanit ``$upsert`` goes whole with the fields the module itself lists, over real HTTP.

Most fields the connector declares for a course, a course date and a booking are assumed. The sandbox switch
``accessplanit.module_fields=lean`` plays a platform whose modules lack some of them (a course's Category and
DurationHours, a course date's Places, a booking's Passed and Score): a ``$select`` or a write naming one is
refused. Under ``accessplanit.upsert_omitted=reset`` (an update clears what its body leaves out) the routes
still run clean, nothing rejected, and every field the module does have that the plan does not map stays:

- plans/csv-to-accessplanit.toml books learners (their Status only) onto bookings the target holds: their
  dates stay;
- plans/velpic-to-accessplanit.toml merges users (their middle names, birth dates, job titles stay) and
  completes bookings;
- a plan of its own renames courses and moves course dates: their description, dates and course stay.

The module's list (``GET …/apihelp/v2/modules/{module}``) is asked once per module the run writes whole. A
list that cannot be read (a proxy's HTML page) falls back to every declared field, says so once per module in
the run's summary, and fails nothing.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, course_plan, get_json, records, run_plan, write_env
from tests.e2e.test_switches_omitted_fields import TIME_SCALE, _apit, _table

HELD = 6
LEAN = {"accessplanit.module_fields": "lean", "accessplanit.upsert_omitted": "reset"}


def _sandbox(options: dict[str, str], faults: str = "") -> SandboxThread:
    config = SandboxConfig(
        seed=32,
        scale=30,
        time_scale=float(TIME_SCALE),
        platforms=("velpic", "accessplanit"),
        default_limits=False,
        options=dict(options),
        faults=faults,
    )
    return SandboxThread(config)


@pytest.fixture
def lean() -> Iterator[SandboxThread]:
    with _sandbox(LEAN) as sb:
        yield sb


def _help_requests(base: str) -> int:
    """The module help requests the sandbox served."""
    stats = get_json(base + "/_sandbox/stats")
    return sum(
        r["count"] for r in stats["requests"] if r["platform"] == "accessplanit" and "apihelp" in r["route"]
    )


def _run(sb: SandboxThread, plan: Path, tmp: Path) -> str:
    """The plan run to its end with no record rejected (exit 0, not 3), twice; the first run's output."""
    env = write_env(sb, tmp / "sandbox.env")
    outputs = []
    for _ in range(2):
        done = run_plan(plan, tmp, env, "--time-scale", TIME_SCALE)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(done.stdout)
    return outputs[0]


def _bookings(base: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (b["UserID"], b["CourseDateID"]): b for b in records(base, "accessplanit", "target", "usercoursedate")
    }


def _held_learner_bookings(sb: SandboxThread) -> dict[tuple[str, str], dict[str, Any]]:
    """Bookings the target holds of the first learners of plans/data/learners.csv, with dates of their own."""
    with (PLANS / "data" / "learners.csv").open(encoding="utf-8", newline="") as fh:
        learners = list(csv.DictReader(fh))[:HELD]
    coursedate = _table("lesson_coursedate.csv", "lesson_name", "coursedate_id")
    held: dict[tuple[str, str], dict[str, Any]] = {}
    for n, row in enumerate(learners):
        body = {"Forenames": "Old", "Surname": "Name", "Email": row["Email"].strip().lower()}
        user_id = str(_apit(sb, "/user", {**body, "ExternalID": row["LearnerID"]})["ID"])
        key = (user_id, coursedate[row["Course"]])
        held[key] = {
            "BookedDate": f"2024-01-{n + 1:02d}T09:00:00",
            "CompletedDate": f"2024-02-{n + 1:02d}T17:00:00",
        }
        _apit(
            sb,
            "/usercoursedate",
            {"UserID": key[0], "CourseDateID": key[1], "Status": "Completed", **held[key]},
        )
    return held


def test_csv_bookings_go_whole_with_the_fields_the_module_has(lean: SandboxThread, tmp_path: Path) -> None:
    sb, base = lean, lean.base_url
    held = _held_learner_bookings(sb)
    before = _help_requests(base)
    out = _run(sb, PLANS / "csv-to-accessplanit.toml", tmp_path)
    # companies, users and bookings are written whole: one list of each module, each run
    assert _help_requests(base) - before == 2 * 3
    assert "did not list the fields" not in out
    bookings = _bookings(base)
    for key, kept in held.items():
        got = bookings[key]
        assert got["Status"] == "Booked", got
        assert {f: got[f] for f in kept} == kept, got
        assert "Passed" not in got and "Score" not in got  # the module has none: none was written


def test_velpic_users_and_bookings_go_whole_with_the_fields_the_module_has(
    lean: SandboxThread, tmp_path: Path
) -> None:
    sb, base = lean, lean.base_url
    users = {u["id"]: u for u in records(base, "velpic", "source", "user")}
    lesson_name = {lesson["lessonId"]: lesson["name"] for lesson in records(base, "velpic", "source", "lesson")}
    coursedate = _table("lesson_coursedate.csv", "lesson_name", "coursedate_id")
    chosen: dict[int, dict[str, Any]] = {}  # one completed schedule of each of HELD users
    for s in records(base, "velpic", "source", "lesson_schedule"):
        if s["status"] == "completed" and users[s["userId"]]["emailAddress"] and len(chosen) < HELD:
            chosen.setdefault(s["userId"], s)
    assert len(chosen) == HELD
    held_users: dict[str, dict[str, Any]] = {}
    held: list[tuple[str, str]] = []
    for n, (uid, s) in enumerate(chosen.items()):
        email = users[uid]["emailAddress"].strip().lower()
        held_users[email] = {
            "MiddleNames": f"Held{n}",
            "DOB": f"1980-01-{n + 1:02d}T00:00:00",
            "JobTitle": f"R{n}",
        }
        body = {"Forenames": "Old", "Surname": "Name", "Email": email, **held_users[email]}
        key = (str(_apit(sb, "/user", body)["ID"]), coursedate[lesson_name[s["lessonId"]]])
        _apit(sb, "/usercoursedate", {"UserID": key[0], "CourseDateID": key[1], "Status": "Booked"})
        held.append(key)

    _run(sb, PLANS / "velpic-to-accessplanit.toml", tmp_path)
    target = {u["Email"]: u for u in records(base, "accessplanit", "target", "user")}
    for email, kept in held_users.items():
        assert {f: target[email][f] for f in kept} == kept, target[email]
    bookings = _bookings(base)
    for key, s in zip(held, chosen.values(), strict=True):
        got = bookings[key]
        assert (got["Status"], got["CompletedDate"]) == ("Completed", s["lessonCompletedDate"][:19]), got


def _held_courses(sb: SandboxThread) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    courses, dates = [], []
    for n in range(3):
        course = {"Name": f"Old course {n}", "Code": f"ML-{n}", "Description": f"Held description {n}"}
        course_id = str(_apit(sb, "/course", course)["ID"])
        date = {
            "CourseID": course_id,
            "Label": f"ML date {n}",
            "StartDate": f"2025-03-{n + 1:02d}T09:00:00",
            "EndDate": f"2025-03-{n + 1:02d}T17:00:00",
            "Location": "Old room",
        }
        _apit(sb, "/coursedate", date)
        courses.append(course)
        dates.append(date)
    return courses, dates


def test_courses_and_course_dates_go_whole_with_the_fields_the_module_has(
    lean: SandboxThread, tmp_path: Path
) -> None:
    sb, base = lean, lean.base_url
    courses, dates = _held_courses(sb)
    _run(sb, course_plan(tmp_path, "ML"), tmp_path)
    by_code = {c["Code"]: c for c in records(base, "accessplanit", "target", "course")}
    by_label = {d["Label"]: d for d in records(base, "accessplanit", "target", "coursedate")}
    for n, (course, date) in enumerate(zip(courses, dates, strict=True)):
        got = by_code[course["Code"]]
        assert (got["Name"], got["Description"]) == (f"New course {n}", course["Description"]), got
        got = by_label[date["Label"]]
        assert got["Location"] == f"Room {n}"
        kept = ("CourseID", "StartDate", "EndDate")
        assert {f: got[f] for f in kept} == {f: date[f] for f in kept}, got


def test_an_unreadable_list_falls_back_to_the_declared_fields_and_says_so_once(tmp_path: Path) -> None:
    """The module help answers a proxy's HTML page: every declared field is completed (the module has them
    all), the summary says so once per module, and the run is clean."""
    options = {"accessplanit.upsert_omitted": "reset"}
    with _sandbox(options, faults="accessplanit/apihelp/**:html_rate=1") as sb:
        courses, dates = _held_courses(sb)
        out = _run(sb, course_plan(tmp_path, "ML"), tmp_path)
        by_code = {c["Code"]: c for c in records(sb.base_url, "accessplanit", "target", "course")}
        by_label = {d["Label"]: d for d in records(sb.base_url, "accessplanit", "target", "coursedate")}
    assert out.count("did not list the fields of course (") == 1, out
    assert out.count("did not list the fields of coursedate (") == 1, out
    for course, date in zip(courses, dates, strict=True):
        assert by_code[course["Code"]]["Description"] == course["Description"]
        got = by_label[date["Label"]]
        kept = ("CourseID", "StartDate", "EndDate")
        assert {f: got[f] for f in kept} == {f: date[f] for f in kept}, got
