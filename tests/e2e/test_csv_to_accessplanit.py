"""plans/csv-to-accessplanit.toml: a consultant's CSV export (plans/data/companies.csv, learners.csv) into
accessplanit v2, with a course-name -> course-date table for the bookings.

``test_export_maps_through_the_plan`` reads the export with the files connector (``FileSource``) and maps
every row through the plan's own compiled maps and tables, checking each mapped field. ``test_run_end_to_end``
is the real CLI run against the sandbox."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.connectors.accessplanit.v2 import make_writer
from migrator.connectors.base import WriteItem
from migrator.connectors.files.local import FileSource
from migrator.plan.load import load_plan
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, entity_stats, records, run_plan, write_env

PLAN = PLANS / "csv-to-accessplanit.toml"
DATA = PLANS / "data"
TIME_SCALE = "200"


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _dob(text: str) -> str:
    day, month, year = text.split("/")
    return f"{year}-{month}-{day}T00:00:00"


def test_export_maps_through_the_plan() -> None:
    loaded = load_plan(str(PLAN))
    table = {r["lesson_name"]: r["coursedate_id"] for r in _rows("lesson_coursedate.csv")}

    def resolve(step: str, key: Any) -> Any:
        return f"{step}:{key}"

    companies = [r for _, page in FileSource(DATA, "companies", key="CompanyRef").pages() for r in page]
    assert [c["CompanyRef"] for c in companies] == [r["CompanyRef"] for r in _rows("companies.csv")]
    for row in companies:
        mapped = loaded.maps["companies"](row, resolve)
        expected = {"Name": row["CompanyName"].strip(), "ExternalID": row["CompanyRef"], "Town": row["Town"]}
        expected["Postcode"] = row["Postcode"]
        if row["Email"]:
            expected["EmailAddress"] = row["Email"].strip().lower()
        assert mapped == expected

    learners = [r for _, page in FileSource(DATA, "learners", key="LearnerID", chunk=4).pages() for r in page]
    assert len(learners) == len(_rows("learners.csv")) > 4
    bookings = make_writer("usercoursedate", "upsert", "UserID,CourseDateID")
    for row in learners:
        user = loaded.maps["learners"](row, resolve)
        assert user["Forenames"] == row["FirstName"].strip() and user["Surname"] == row["LastName"].strip()
        assert user["Email"] == row["Email"].strip().lower()
        assert user["DOB"] == _dob(row["DOB"])
        assert user["MainCompanyID"] == f"companies:{row['CompanyRef']}"
        assert user.get("Mobile") == row["Mobile"]
        booking = loaded.maps["bookings"](row, resolve)
        assert booking == {
            "UserID": f"learners:{row['LearnerID']}",
            "CourseDateID": table[row["Course"]],
            "Status": "Booked",
        }
        assert isinstance(bookings.prepare(WriteItem("k", row["LearnerID"], booking)), WriteItem)


@pytest.fixture(scope="module")
def sandbox(sandbox_profile: str) -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=9,
        scale=20,
        platforms=("accessplanit",),
        default_limits=False,
        time_scale=float(TIME_SCALE),
        profile=sandbox_profile,
    )
    with SandboxThread(config) as sb:
        yield sb


def test_run_end_to_end(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    first = run_plan(PLAN, tmp_path, env, "--time-scale", TIME_SCALE)
    assert first.returncode == 0, first.stdout + first.stderr

    base = sandbox.base_url
    companies = {c["ExternalID"]: c for c in records(base, "accessplanit", "target", "company")}
    users = {u["ExternalID"]: u for u in records(base, "accessplanit", "target", "user")}
    table = {r["lesson_name"]: r["coursedate_id"] for r in _rows("lesson_coursedate.csv")}
    for row in _rows("companies.csv"):
        assert companies[row["CompanyRef"]]["Name"] == row["CompanyName"].strip()
    bookings = {
        (b["UserID"], b["CourseDateID"]) for b in records(base, "accessplanit", "target", "usercoursedate")
    }
    for row in _rows("learners.csv"):
        u = users[row["LearnerID"]]
        assert (u["Forenames"], u["Email"], u["DOB"]) == (
            row["FirstName"].strip(),
            row["Email"].strip().lower(),
            _dob(row["DOB"]),
        )
        assert u["MainCompanyID"] == companies[row["CompanyRef"]]["ID"]
        assert (u["ID"], table[row["Course"]]) in bookings
    entities = ("company", "user", "usercoursedate")
    before = {e: entity_stats(base, "accessplanit", "target", e) for e in entities}
    assert all(s["duplicates"] == 0 for s in before.values())
    second = run_plan(PLAN, tmp_path, env, "--time-scale", TIME_SCALE)
    assert second.returncode == 0, second.stdout + second.stderr
    assert {e: entity_stats(base, "accessplanit", "target", e) for e in entities} == before
