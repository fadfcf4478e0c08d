"""Whether an update through accessplanit ``$upsert`` or Velpic ``bulkUserImport`` clears a field its body
leaves out is not documented: the sandbox plays both (``accessplanit.upsert_omitted``, ``velpic.bulk_omitted``:
``keep``, ``reset``), and a user the target already holds keeps every value the plan does not carry, either
way, over real HTTP:

- plans/velpic-to-accessplanit.toml merges Velpic users into accessplanit users held already (same Email):
  their names and phones come from Velpic, their middle names, birth dates and job titles stay;
- plans/velpic-to-velpic.toml merges Velpic users into Velpic users held already (same employee number): it
  carries every field the source holds (phones, time zone), so a merge leaves none out;
- the bookings of plans/velpic-to-accessplanit.toml and plans/csv-to-accessplanit.toml update bookings held
  already (same user and course date): what the plan does not map (Passed, Score, the CSV's dates) stays;
- a plan of its own renames courses (by Code) and moves course dates (by Label): their other fields stay;
- plans/accessplanit-to-velpic.toml merges users (same email) into Velpic users held already: their time zone
  and user name, and the phones and employee number the source lacks, stay, from the step's one read of the
  target (one import, no read per record); a created user gets the account's time zone.

A second run writes nothing.
"""

from __future__ import annotations

import csv
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from migrator.sandbox.velpic_state import TIME_ZONE
from tests.e2e.helpers import PLANS, course_plan, entity_stats, get_json, records, run_plan, write_env

HELD = 8
#: the plans keep their documented 5000/hour accessplanit budget: the sandbox and the run share a fast clock
TIME_SCALE = "200"


def _sandbox(option: str, value: str) -> SandboxThread:
    config = SandboxConfig(
        seed=31,
        scale=40,
        time_scale=float(TIME_SCALE),
        platforms=("velpic", "accessplanit"),
        default_limits=False,
        options={option: value},
    )
    return SandboxThread(config)


def _apit(sb: SandboxThread, path: str, body: Any, *, method: str = "POST", tenant: str = "TARGET") -> Any:
    """``body`` sent to the accessplanit ``tenant`` (``TARGET``, ``SOURCE``) at ``path``; its answer."""
    env = sb.sandbox.env()
    base = env["ACCESSPLANIT_V2_BASE_URL"]
    form = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "username": env[f"ACCESSPLANIT_{tenant}_USERNAME"],
            "password": env[f"ACCESSPLANIT_{tenant}_PASSWORD"],
        }
    ).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{base}/token", data=form), timeout=30) as resp:
        token = json.loads(resp.read())["access_token"]
    request = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def _velpic(sb: SandboxThread, path: str, body: Any) -> Any:
    env = sb.sandbox.env()
    request = urllib.request.Request(
        f"{env['VELPIC_BASE_URL']}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"AccessKey": env["VELPIC_TARGET_ACCESS_KEY"], "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def _requests(base: str, platform: str, method: str, route_end: str) -> int:
    """The requests the sandbox served to ``platform`` by ``method`` on routes ending in ``route_end``."""
    stats = get_json(base + "/_sandbox/stats")
    return sum(
        r["count"]
        for r in stats["requests"]
        if r["platform"] == platform and r["method"] == method and r["route"].endswith(route_end)
    )


def _run_twice(
    sb: SandboxThread, plan: Path, tmp: Path, platform: str, entities: tuple[str, ...] = ("user",)
) -> None:
    env = write_env(sb, tmp / "sandbox.env")
    done = run_plan(plan, tmp, env, "--time-scale", TIME_SCALE)
    assert done.returncode == 0, done.stdout + done.stderr
    stats = {e: entity_stats(sb.base_url, platform, "target", e) for e in entities}
    assert all(s["duplicates"] == 0 for s in stats.values()), stats
    again = run_plan(plan, tmp, env, "--time-scale", TIME_SCALE)
    assert again.returncode == 0, again.stdout + again.stderr
    assert {e: entity_stats(sb.base_url, platform, "target", e) for e in entities} == stats


@pytest.fixture(params=["keep", "reset"])
def apit_sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxThread]:
    with _sandbox("accessplanit.upsert_omitted", request.param) as sb:
        yield sb


def test_upsert_keeps_what_the_plan_does_not_carry(apit_sandbox: SandboxThread, tmp_path: Path) -> None:
    sb, base = apit_sandbox, apit_sandbox.base_url
    source = [u for u in records(base, "velpic", "source", "user") if u["emailAddress"]][:HELD]
    held: dict[str, dict[str, Any]] = {}
    for n, user in enumerate(source):
        email = user["emailAddress"].strip().lower()
        held[email] = {
            "MiddleNames": f"Held{n}",
            "DOB": f"1980-01-{n + 1:02d}T00:00:00",
            "JobTitle": f"Role {n}",
        }
        _apit(sb, "/user", {"Forenames": "Old", "Surname": "Name", "Email": email, **held[email]})

    _run_twice(sb, PLANS / "velpic-to-accessplanit.toml", tmp_path, "accessplanit")
    target = {u["Email"]: u for u in records(base, "accessplanit", "target", "user")}
    for user in source:
        got = target[user["emailAddress"].strip().lower()]
        assert (got["Forenames"], got["Surname"]) == (user["firstName"].strip(), user["lastName"].strip())
        assert got["Phone"] == user["phoneNumber"] and got["Mobile"] == user["mobileNumber"]
        kept = held[got["Email"]]
        assert {f: got[f] for f in kept} == kept, got


@pytest.fixture(params=["keep", "reset"])
def velpic_sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxThread]:
    with _sandbox("velpic.bulk_omitted", request.param) as sb:
        yield sb


def test_bulk_import_leaves_out_no_field_the_source_holds(
    velpic_sandbox: SandboxThread, tmp_path: Path
) -> None:
    sb, base = velpic_sandbox, velpic_sandbox.base_url
    source = [u for u in records(base, "velpic", "source", "user") if u["employeeNumber"]][:HELD]
    for n, user in enumerate(source):  # held on the target with other phones and another time zone
        body = {
            "firstName": "Old",
            "lastName": "Name",
            "emailAddress": f"held-{n}@example.com",
            "employeeNumber": user["employeeNumber"],
            "phoneNumber": "000",
            "mobileNumber": "111",
            "timeZone": "Asia/Tokyo",
            "roles": [6],
        }
        _velpic(sb, "/user", body)

    _run_twice(sb, PLANS / "velpic-to-velpic.toml", tmp_path, "velpic")
    target = {u["employeeNumber"]: u for u in records(base, "velpic", "target", "user")}
    fields = ("firstName", "lastName", "phoneNumber", "mobileNumber", "timeZone")
    for user in records(base, "velpic", "source", "user"):
        got = target[user["employeeNumber"]]
        assert {f: got[f] for f in fields} == {f: user[f] for f in fields}, (user, got)


def _table(name: str, key: str, value: str) -> dict[str, str]:
    with (PLANS / "data" / name).open(encoding="utf-8", newline="") as fh:
        return {row[key]: row[value] for row in csv.DictReader(fh)}


def test_velpic_bookings_keep_what_the_plan_does_not_carry(apit_sandbox: SandboxThread, tmp_path: Path) -> None:
    """plans/velpic-to-accessplanit.toml completes bookings the target already holds: Status and the dates come
    from Velpic, Passed and Score (which no Velpic field carries) stay."""
    sb, base = apit_sandbox, apit_sandbox.base_url
    users = {u["id"]: u for u in records(base, "velpic", "source", "user")}
    lesson_name = {lesson["lessonId"]: lesson["name"] for lesson in records(base, "velpic", "source", "lesson")}
    coursedate = _table("lesson_coursedate.csv", "lesson_name", "coursedate_id")
    chosen: dict[int, dict[str, Any]] = {}  # one completed schedule of each of HELD users
    for s in records(base, "velpic", "source", "lesson_schedule"):
        if s["status"] == "completed" and users[s["userId"]]["emailAddress"] and len(chosen) < HELD:
            chosen.setdefault(s["userId"], s)
    assert len(chosen) == HELD
    held: dict[tuple[str, str], dict[str, Any]] = {}
    for n, (uid, s) in enumerate(chosen.items()):
        email = users[uid]["emailAddress"].strip().lower()
        user_id = str(_apit(sb, "/user", {"Forenames": "Old", "Surname": "Name", "Email": email})["ID"])
        key = (user_id, coursedate[lesson_name[s["lessonId"]]])
        held[key] = {"Passed": True, "Score": 60.0 + n}
        booking = {"UserID": key[0], "CourseDateID": key[1], "Status": "Booked", **held[key]}
        _apit(sb, "/usercoursedate", booking)

    _run_twice(sb, PLANS / "velpic-to-accessplanit.toml", tmp_path, "accessplanit", ("user", "usercoursedate"))
    bookings = {
        (b["UserID"], b["CourseDateID"]): b for b in records(base, "accessplanit", "target", "usercoursedate")
    }
    for (key, kept), s in zip(held.items(), chosen.values(), strict=True):
        got = bookings[key]
        assert (got["Status"], got["CompletedDate"]) == ("Completed", s["lessonCompletedDate"][:19]), got
        assert {f: got[f] for f in kept} == kept, got


def test_csv_bookings_keep_what_the_plan_does_not_carry(apit_sandbox: SandboxThread, tmp_path: Path) -> None:
    """plans/csv-to-accessplanit.toml books each learner (its Status only) onto a booking the target already
    holds: its dates, Passed and Score stay."""
    sb, base = apit_sandbox, apit_sandbox.base_url
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
            "Passed": True,
            "Score": 70.0 + n,
        }
        _apit(
            sb,
            "/usercoursedate",
            {"UserID": key[0], "CourseDateID": key[1], "Status": "Completed", **held[key]},
        )

    _run_twice(sb, PLANS / "csv-to-accessplanit.toml", tmp_path, "accessplanit", ("user", "usercoursedate"))
    bookings = {
        (b["UserID"], b["CourseDateID"]): b for b in records(base, "accessplanit", "target", "usercoursedate")
    }
    for key, kept in held.items():
        got = bookings[key]
        assert got["Status"] == "Booked", got
        assert {f: got[f] for f in kept} == kept, got


def test_course_and_course_date_upserts_keep_what_the_plan_does_not_carry(
    apit_sandbox: SandboxThread, tmp_path: Path
) -> None:
    """A plan renaming courses (by Code) and moving course dates (by Label) keeps every other field of them."""
    sb, base = apit_sandbox, apit_sandbox.base_url
    courses, dates = [], []
    for n in range(3):
        course = {
            "Name": f"Old course {n}",
            "Code": f"WR-{n}",
            "Description": f"Held description {n}",
            "Category": "Held",
            "DurationHours": 7.5,
        }
        course_id = str(_apit(sb, "/course", course)["ID"])
        courses.append(course)
        date = {
            "CourseID": course_id,
            "Label": f"WR date {n}",
            "StartDate": f"2025-03-{n + 1:02d}T09:00:00",
            "EndDate": f"2025-03-{n + 1:02d}T17:00:00",
            "Location": "Old room",
            "Places": 12 + n,
        }
        _apit(sb, "/coursedate", date)
        dates.append(date)
    plan = course_plan(tmp_path, "WR")

    _run_twice(sb, plan, tmp_path, "accessplanit", ("course", "coursedate"))
    by_code = {c["Code"]: c for c in records(base, "accessplanit", "target", "course")}
    by_label = {d["Label"]: d for d in records(base, "accessplanit", "target", "coursedate")}
    for n, (course, date) in enumerate(zip(courses, dates, strict=True)):
        got = by_code[course["Code"]]
        assert got["Name"] == f"New course {n}"
        assert {f: got[f] for f in ("Description", "Category", "DurationHours")} == {
            f: course[f] for f in ("Description", "Category", "DurationHours")
        }, got
        got = by_label[date["Label"]]
        assert got["Location"] == f"Room {n}"
        assert {f: got[f] for f in ("CourseID", "StartDate", "EndDate", "Places")} == {
            f: date[f] for f in ("CourseID", "StartDate", "EndDate", "Places")
        }, got


def test_bulk_import_keeps_what_no_source_field_carries(velpic_sandbox: SandboxThread, tmp_path: Path) -> None:
    """plans/accessplanit-to-velpic.toml merges accessplanit users (by email) into Velpic users held already:
    their time zone and user name (no accessplanit field carries them), and their phones and employee number
    where the source has none, stay; a user the import creates gets the account's time zone."""
    sb, base = velpic_sandbox, velpic_sandbox.base_url
    carried = [
        u for u in records(base, "accessplanit", "source", "user") if u["Status"] in ("Active", "Inactive")
    ]
    source = carried[:HELD]
    for user in source[::2]:  # every other one has no phones and no external ID on the source
        blank = {"Phone": None, "Mobile": None, "ExternalID": None}
        _apit(sb, f"/user/{user['ID']}", blank, method="PUT", tenant="SOURCE")
        user.update(blank)
    held: dict[str, dict[str, Any]] = {}
    for n, user in enumerate(source):
        email = user["Email"].strip().lower()
        held[email] = {
            "userName": f"held.{n}",
            "phoneNumber": f"0{n}000",
            "mobileNumber": f"0{n}111",
            "employeeNumber": f"held-{n}",
            "timeZone": "Asia/Tokyo",
        }
        _velpic(
            sb,
            "/user",
            {"firstName": "Old", "lastName": "Name", "emailAddress": email, "roles": [6], **held[email]},
        )

    imports = _requests(base, "velpic", "POST", "/bulkUserImport")
    reads = _requests(base, "velpic", "GET", "/user")
    _run_twice(sb, PLANS / "accessplanit-to-velpic.toml", tmp_path, "velpic")
    # one import of every user (a batch of 250); the target's users read by pages (by the users step and the
    # two status steps, in each of the two runs), no read per record
    assert _requests(base, "velpic", "POST", "/bulkUserImport") - imports == 1
    assert _requests(base, "velpic", "GET", "/user") - reads < len(carried)
    target = {u["emailAddress"]: u for u in records(base, "velpic", "target", "user")}
    for user in source:
        got, kept = target[user["Email"].strip().lower()], held[user["Email"].strip().lower()]
        mapped = {
            "phoneNumber": user["Phone"],
            "mobileNumber": user["Mobile"],
            "employeeNumber": user["ExternalID"],
        }
        want = {**kept, **{f: v for f, v in mapped.items() if v is not None}}
        assert (got["firstName"], got["lastName"]) == (user["Forenames"].strip(), user["Surname"].strip())
        assert {f: got[f] for f in want} == want, (user, got)
    created = [target[u["Email"].strip().lower()] for u in carried[HELD:]]
    assert created and all(u["timeZone"] == TIME_ZONE for u in created)

    # run afresh (a new journal): every user is as the target holds it, nothing is imported again
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    updates = entity_stats(base, "velpic", "target", "user")["updates"]
    done = run_plan(
        PLANS / "accessplanit-to-velpic.toml",
        fresh,
        write_env(sb, fresh / "sandbox.env"),
        "--time-scale",
        TIME_SCALE,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _requests(base, "velpic", "POST", "/bulkUserImport") - imports == 1
    # no user imported again; a journal of its own makes each leaver Active for its completions and Not
    # Current after them again (active_for_history, user_status): two status writes per leaver, nothing else
    leavers = sum(1 for u in carried if u["Status"] == "Inactive")
    assert leavers and entity_stats(base, "velpic", "target", "user")["updates"] == updates + 2 * leavers
