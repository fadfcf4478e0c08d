"""The run's CSVs say who each record is: a Velpic → aNewSpring run through the real CLI where the target
refuses some users (their login, built from the last name, is already another user's: 409) and takes the
others; every row of ``success.csv``, ``crosswalk.csv`` and ``errors.csv`` for a user that was sent carries
that person's name, e-mail and employee number as the sandbox's source holds them, a membership and a
subscription carry their learner's (through the crosswalk) and the group's name or the course id beside.
Records refused before any request (by the mapping, by the target's rules) are named too, in a run's
errors.csv and in a dry run's."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import VELPIC_TO_APIT, records, run_plan, write_env

PLAN = """[plan]
name = "identity"

[connections.velpic]
platform = "velpic"
base_url = "${VELPIC_BASE_URL}"
access_key = "${VELPIC_SOURCE_ACCESS_KEY}"

[connections.anewspring]
platform = "anewspring"
base_url = "${ANEWSPRING_BASE_URL}"
api_key = "${ANEWSPRING_TARGET_API_KEY}"

[tables.courses.values]
"Working at Heights" = "C001"
"Manual Handling" = "C002"
"Fire Safety Awareness" = "C003"
"First Aid at Work" = "C004"
"Infection Control" = "C005"
"Food Hygiene Level 2" = "C006"
"COSHH Essentials" = "C007"
"Asbestos Awareness" = "C008"
"Safeguarding Adults" = "C009"
"Data Protection (GDPR)" = "C010"
"Confined Spaces" = "C011"
"Electrical Safety" = "C012"
"Equality & Diversity" = "C013"
"Lone Working" = "C014"
"Forklift Refresher" = "C015"
"Slips, Trips & Falls" = "C016"

[steps.groups]
read  = { from = "velpic", entity = "group" }
write = { to = "anewspring", entity = "group", mode = "create", match = "groupID" }
map = { groupID = "'VG' + id", type = "'student'", name = "name | trim" }

[steps.users]
read  = { from = "velpic", entity = "user", filter = { activeValue = "all" } }
write = { to = "anewspring", entity = "user", mode = "upsert", match = "userID" }
map.userID    = "employeeNumber"
map.login     = "lastName | lower"
map.firstName = "firstName | trim"
map.lastName  = "lastName | trim"
map.email     = "emailAddress | trim | lower"
map.password  = "'Secret-Passw0rd'"
map.role      = "'student'"

[steps.memberships]
read  = { from = "velpic", entity = "user", filter = { roleId = 6, activeValue = "all" } }
write = { to = "anewspring", entity = "group_member", mode = "create", match = "groupID" }
map = { groupID = "groups.0.id -> groups", user = "id -> users" }

[steps.subscriptions]
read  = { from = "velpic", entity = "lesson_schedule", filter = { status = "completed", activeValue = "all" } }
write = { to = "anewspring", entity = "subscription", mode = "create", match = "courseID" }
map = { userID = "userId -> users", courseID = "lessonName | lookup(courses)" }
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(
        SandboxConfig(seed=5, scale=120, time_scale=60, platforms=("velpic", "anewspring"))
    ) as sb:
        yield sb


@pytest.fixture(scope="module")
def reports(sandbox: SandboxThread, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("identity")
    (tmp / "plan.toml").write_text(PLAN)
    result = run_plan(tmp / "plan.toml", tmp, write_env(sandbox, tmp / "sandbox.env"), "--time-scale", "60")
    assert result.returncode == 3, result.stdout + result.stderr  # some records rejected
    assert "Traceback" not in result.stderr
    return tmp / "journal.sqlite.reports"


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def _people(sandbox: SandboxThread) -> dict[str, dict[str, Any]]:
    return {str(u["id"]): u for u in records(sandbox.base_url, "velpic", "source", "user")}


def _who(user: dict[str, Any]) -> tuple[str, str, str]:
    name = f"{user['firstName'].strip()} {user['lastName'].strip()}".strip()
    return name, user["emailAddress"].strip().lower(), user["employeeNumber"]


def _cells(row: dict[str, str]) -> tuple[str, str, str]:
    return row["name"], row["email"], row["number"]


def test_users_written_and_refused_carry_their_person(sandbox: SandboxThread, reports: Path) -> None:
    people = _people(sandbox)
    written = [r for r in _csv(reports / "success.csv") if r["step"] == "users"]
    refused = [r for r in _csv(reports / "errors.csv") if r["step"] == "users"]
    assert written and refused
    assert all(r["status"] == "409" and "already used by another user" in r["reason"] for r in refused)
    for row in [*written, *refused]:
        assert _cells(row) == _who(people[row["source_key"]]), row
        assert row["linked_to"] == ""
    walk = {r["source_id"]: r for r in _csv(reports / "crosswalk.csv") if r["step"] == "users"}
    assert {k: _cells(r) for k, r in walk.items()} == {r["source_key"]: _cells(r) for r in written}


def test_memberships_and_subscriptions_name_their_learner(sandbox: SandboxThread, reports: Path) -> None:
    people = _people(sandbox)
    groups = {str(g["id"]): g["name"].strip() for g in records(sandbox.base_url, "velpic", "source", "group")}
    schedules = {str(s["id"]): s for s in records(sandbox.base_url, "velpic", "source", "lesson_schedule")}
    success = _csv(reports / "success.csv")
    members = [r for r in success if r["step"] == "memberships"]
    subscriptions = [r for r in success if r["step"] == "subscriptions"]
    assert members and subscriptions
    for row in members:
        person = people[row["source_key"]]
        assert _cells(row) == _who(person), row
        assert row["linked_to"] == groups[str(person["groups"][0]["id"])]
    for row in subscriptions:
        schedule = schedules[row["source_key"]]
        assert _cells(row) == _who(people[str(schedule["userId"])]), row
        assert row["linked_to"] == f"courseID {row['target_id'].split('/')[1]}"


def test_no_secret_in_the_csvs(reports: Path) -> None:
    for name in ("success.csv", "errors.csv", "crosswalk.csv"):
        assert b"Secret-Passw0rd" not in (reports / name).read_bytes()


# -- records refused before any request ----------------------------------------------------------------------

REFUSED_PLAN = """[plan]
name = "identity-refused"
{connections}
[tables.titles.values]
{titles}

[steps.users]
read  = {{ from = "velpic", entity = "user", page_size = 50, filter = {{ activeValue = "all" }} }}
write = {{ to = "apit", entity = "user", mode = "upsert", match = "Email" }}
map.Forenames  = "firstName | trim"
map.Surname    = "lastName | trim"
map.Email      = "emailAddress | lower"
map.ExternalID = "employeeNumber"
map.JobTitle   = "lastName | lookup(titles)"
"""
#: the surname the plan's table leaves out: its users are refused by the mapping
LEFT_OUT = "Wilson"


@pytest.fixture(scope="module")
def dirty_sandbox() -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=37, scale=120, dirty=0.2, time_scale=60, platforms=("velpic", "accessplanit"), default_limits=False
    )
    with SandboxThread(config) as sb:
        yield sb


def _refused_plan(people: dict[str, dict[str, Any]]) -> str:
    titles = "\n".join(
        f'"{name}" = "Staff"' for name in sorted({u["lastName"] for u in people.values()}) if name != LEFT_OUT
    )
    return REFUSED_PLAN.format(connections=VELPIC_TO_APIT, titles=titles)


def _refused_by(row: dict[str, str]) -> str:
    return "mapping" if "not in table 'titles'" in row["reason"] else "target"


@pytest.mark.parametrize("dry", [True, False], ids=["dry run", "run"])
def test_records_refused_before_any_request_say_who_they_are(
    dirty_sandbox: SandboxThread, tmp_path: Path, dry: bool
) -> None:
    """A record the mapping refuses (its surname is not in the plan's table) is named from its source record;
    one the target's rules refuse before sending (no e-mail: the match key) from its mapped payload; in the
    errors.csv of a run and of a dry run alike."""
    people = {str(u["id"]): u for u in records(dirty_sandbox.base_url, "velpic", "source", "user")}
    (tmp_path / "plan.toml").write_text(_refused_plan(people))
    env = write_env(dirty_sandbox, tmp_path / "sandbox.env")
    result = run_plan(
        tmp_path / "plan.toml", tmp_path, env, "--time-scale", "60", *(["--dry-run"] if dry else [])
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    folder = tmp_path / ("journal.sqlite.dry-run" if dry else "journal.sqlite.reports")
    errors = _csv(folder / "errors.csv")
    refused = {r["source_key"]: r for r in errors if r["step"] == "users"}
    by_mapping = {k for k, u in people.items() if u["lastName"] == LEFT_OUT}
    by_target = {k for k, u in people.items() if not u["emailAddress"].strip()} - by_mapping
    assert by_mapping and by_target
    assert set(refused) == by_mapping | by_target
    for key, row in refused.items():
        person = people[key]
        assert _refused_by(row) == ("mapping" if key in by_mapping else "target"), row
        name = f"{person['firstName'].strip()} {person['lastName'].strip()}"
        assert _cells(row) == (name, person["emailAddress"].strip(), person["employeeNumber"]), row
