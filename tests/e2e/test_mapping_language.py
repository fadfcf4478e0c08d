"""The map language on real data through the real CLI: a CSV export into accessplanit v2 users with a step
``where``, ``if``, ``coalesce``, ``re_replace``, a time-zone conversion and the plan's Python functions.

The sandbox's target must hold the mapped values; the run summary names the records the where excluded and
warns of a mapped field no record carried (a typo); the record the plan's function raises for is a dead letter
with the function's reason, and the dry run shows the same exclusion and warning."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import migrator, records, run_args, run_plan, write_env

TIME_SCALE = "200"

PLAN = """
[plan]
name = "mapping-language"
functions = "functions.py"

[connections.export]
platform = "files"
path = "data"

[connections.accessplanit]
platform = "accessplanit"
base_url = "${ACCESSPLANIT_V2_BASE_URL}"
username = "${ACCESSPLANIT_TARGET_USERNAME}"
password = "${ACCESSPLANIT_TARGET_PASSWORD}"

[steps.learners]
read  = { from = "export", entity = "learners", key = "LearnerID" }
write = { to = "accessplanit", entity = "user", mode = "upsert", match = "ExternalID" }
where = "Status != 'Deleted' and not (Kind in ['test', 'demo'])"
map.ExternalID = "LearnerID"
map.Forenames  = "call(initial_caps, FirstName)"
map.Surname    = "LastName | trim | fn(surname_check)"
map.Email      = "coalesce(WorkEmail, HomeEmail, LearnerID + '@no-email.invalid') | trim | lower"
map.Mobile     = "Mobile | re_replace('[^0-9+]', '')"
map.JobTitle   = "if(Role == 'T', 'Tutor', coalesce(JobTitel, 'Learner'))"
map.DOB        = "LastSeen | datetime('%d/%m/%Y %H:%M', 'Europe/London', 'UTC', '%Y-%m-%dT%H:%M:%S')"
"""

FUNCTIONS = """
def initial_caps(name):
    return " ".join(part[:1].upper() + part[1:].lower() for part in (name or "").split())


def surname_check(name):
    if name.startswith("?"):
        raise ValueError(f"surname {name!r} is a placeholder")
    return name
"""

LEARNERS = """LearnerID,FirstName,LastName,WorkEmail,HomeEmail,Mobile,Role,JobTitle,Status,Kind,LastSeen
L1,ada,Lovelace ,ADA@Work.example, ,+44 (0)7700-900001,T,,Active,user,01/07/2024 09:30
L2,CHARLES babbage,Babbage,,charles@home.example,07700 900002,L,Analyst,Active,user,15/01/2024 23:45
L3,grace,Hopper,,,0770.090.0003,L,,Active,user,31/03/2024 00:30
L4,alan,Turing,alan@work.example,,,L,,Deleted,user,01/02/2024 10:00
L5,test,Account,test@work.example,,,L,,Active,test,01/02/2024 10:00
L6,nobody,?unknown,n@work.example,,,L,,Active,user,01/02/2024 10:00
"""


@pytest.fixture(scope="module")
def sandbox(sandbox_profile: str) -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=4,
        scale=20,
        platforms=("accessplanit",),
        default_limits=False,
        time_scale=float(TIME_SCALE),
        profile=sandbox_profile,
    )
    with SandboxThread(config) as sb:
        yield sb


def _write_plan(folder: Path) -> Path:
    (folder / "data").mkdir()
    (folder / "data" / "learners.csv").write_text(LEARNERS, encoding="utf-8")
    (folder / "functions.py").write_text(FUNCTIONS, encoding="utf-8")
    plan = folder / "plan.toml"
    plan.write_text(PLAN, encoding="utf-8")
    return plan


def test_plan_language_on_the_sandbox(sandbox: SandboxThread, tmp_path: Path) -> None:
    plan = _write_plan(tmp_path)
    env = write_env(sandbox, tmp_path / "sandbox.env")

    dry = migrator(
        *run_args(plan, tmp_path, env, "--dry-run", "--journal", str(tmp_path / "dry.sqlite")), cwd=tmp_path
    )
    assert "excluded by where 2" in dry.stdout, dry.stdout + dry.stderr
    assert "map.JobTitle: no record carried source field 'JobTitel'" in dry.stdout
    assert not {u.get("ExternalID") for u in records(sandbox.base_url, "accessplanit", "target", "user")} & {
        "L1",
        "L2",
    }

    result = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
    assert result.returncode == 3, result.stdout + result.stderr  # done, with one rejected record
    assert "Traceback" not in result.stderr
    line = next(x for x in result.stdout.splitlines() if x.strip().startswith("learners"))
    assert "excluded by where 2" in line and "rejected       1" in line, result.stdout
    assert (
        "warning: map.JobTitle: no record carried source field 'JobTitel' (6 read) "
        '(did you mean "JobTitle"?)' in result.stdout
    )
    events = [json.loads(x) for x in (tmp_path / "run.log.jsonl").read_text(encoding="utf-8").splitlines()]
    absent = [e for e in events if e["event"] == "source_field_absent"]  # the dry run's and the run's
    assert [(e["level"], e["step"]) for e in absent] == [("warning", "learners")] * 2
    assert all(
        e["detail"].startswith("map.JobTitle: no record carried source field 'JobTitel'") for e in absent
    )

    users = {u["ExternalID"]: u for u in records(sandbox.base_url, "accessplanit", "target", "user")}
    assert set(users) & {"L1", "L2", "L3", "L4", "L5", "L6"} == {"L1", "L2", "L3"}
    picked = {
        k: {f: users[k].get(f) for f in ("Forenames", "Surname", "Email", "Mobile", "JobTitle", "DOB")}
        for k in ("L1", "L2", "L3")
    }
    assert picked == {
        "L1": {
            "Forenames": "Ada",
            "Surname": "Lovelace",
            "Email": "ada@work.example",
            "Mobile": "+4407700900001",
            "JobTitle": "Tutor",
            "DOB": "2024-07-01T08:30:00",  # British Summer Time: UTC+1
        },
        "L2": {
            "Forenames": "Charles Babbage",
            "Surname": "Babbage",
            "Email": "charles@home.example",
            "Mobile": "07700900002",
            "JobTitle": "Learner",  # not "Analyst": the plan's typo JobTitel, which the warning names
            "DOB": "2024-01-15T23:45:00",  # Greenwich Mean Time: UTC+0
        },
        "L3": {
            "Forenames": "Grace",
            "Surname": "Hopper",
            "Email": "l3@no-email.invalid",
            "Mobile": "07700900003",
            "JobTitle": "Learner",
            "DOB": "2024-03-31T00:30:00",  # the clocks go forward at 01:00 that day
        },
    }

    status = migrator("status", str(plan), "--journal", str(tmp_path / "journal.sqlite"), cwd=tmp_path)
    assert (
        "learners L6: Surname: function 'surname_check' (functions.py) raised ValueError: "
        "surname '?unknown' is a placeholder" in status.stdout
    ), status.stdout + status.stderr
