"""Whether an update through accessplanit ``$upsert`` or Velpic ``bulkUserImport`` clears a field its body
leaves out is not documented: the sandbox plays both (``accessplanit.upsert_omitted``, ``velpic.bulk_omitted``:
``keep``, ``reset``), and a user the target already holds keeps every value the plan does not carry, either
way, over real HTTP:

- plans/velpic-to-accessplanit.toml merges Velpic users into accessplanit users held already (same Email):
  their names and phones come from Velpic, their middle names, birth dates and job titles stay;
- plans/velpic-to-velpic.toml merges Velpic users into Velpic users held already (same employee number): it
  carries every field the source holds (phones, time zone), so a merge leaves none out.

A second run writes nothing.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, entity_stats, records, run_plan, write_env

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


def _apit(sb: SandboxThread, path: str, body: Any) -> Any:
    env = sb.sandbox.env()
    base = env["ACCESSPLANIT_V2_BASE_URL"]
    form = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "username": env["ACCESSPLANIT_TARGET_USERNAME"],
            "password": env["ACCESSPLANIT_TARGET_PASSWORD"],
        }
    ).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{base}/token", data=form), timeout=30) as resp:
        token = json.loads(resp.read())["access_token"]
    request = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(body).encode(),
        method="POST",
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


def _run_twice(sb: SandboxThread, plan: Path, tmp: Path, platform: str) -> None:
    env = write_env(sb, tmp / "sandbox.env")
    done = run_plan(plan, tmp, env, "--time-scale", TIME_SCALE)
    assert done.returncode == 0, done.stdout + done.stderr
    stats = entity_stats(sb.base_url, platform, "target", "user")
    assert stats["duplicates"] == 0
    again = run_plan(plan, tmp, env, "--time-scale", TIME_SCALE)
    assert again.returncode == 0, again.stdout + again.stderr
    assert entity_stats(sb.base_url, platform, "target", "user") == stats


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
