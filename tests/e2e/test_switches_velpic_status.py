"""Whether ``bulkUserImport`` reactivates an inactive user it merges into is not documented: the sandbox plays
both ways (``velpic.bulk_merge_status``: ``keep``, ``reactivate``), and every user's status must come out right
either way, over real HTTP, exactly once.

The target already holds some of the source's users before the run (merged on employee number by
plans/velpic-to-velpic.toml), active and inactive, leavers and not. After the run each target user has its
source status; the status step calls activate / inactivate once for each user whose status after the import
differs from the wanted one, and for no other; a re-run calls nothing. A ``--delta`` run after some leavers
changed in the source (so the import merges them again, and under ``reactivate`` makes them active)
inactivates exactly those again.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, get_json, records, run_plan, write_env

ACTIVE, NOT_CURRENT = 56, 57
PLAN = PLANS / "velpic-to-velpic.toml"
#: how many source users of each kind the target holds before the run, and with which status
HELD = 5
STATUS_ROUTES = {
    "/velpic/api/v2/user/{userId}/activate": ACTIVE,
    "/velpic/api/v2/user/{userId}/inactivate": NOT_CURRENT,
}


@pytest.fixture(params=["keep", "reactivate"])
def merge_status(request: pytest.FixtureRequest) -> str:
    """The value of ``velpic.bulk_merge_status`` the sandbox plays."""
    value: str = request.param
    return value


@pytest.fixture
def sandbox(merge_status: str) -> Iterator[SandboxThread]:
    options = {"velpic.bulk_merge_status": merge_status}
    config = SandboxConfig(seed=23, scale=200, platforms=("velpic",), default_limits=False, options=options)
    with SandboxThread(config) as sb:
        yield sb


def _call(sb: SandboxThread, tenant: str, path: str, body: Any = None) -> Any:
    env = sb.sandbox.env()
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(
        f"{env['VELPIC_BASE_URL']}{path}",
        data=data,
        method="POST",
        headers={"AccessKey": env[f"VELPIC_{tenant.upper()}_ACCESS_KEY"], "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def _hold_on_target(sb: SandboxThread, users: list[Mapping[str, Any]], status: int) -> None:
    """Create ``users`` on the target (same employee number and names) with ``status``, through the API."""
    for user in users:
        body = {
            "firstName": user["firstName"],
            "lastName": user["lastName"],
            "emailAddress": user["emailAddress"] or f"held-{user['id']}@example.com",
            "employeeNumber": user["employeeNumber"],
            "roles": [6],
        }
        created = _call(sb, "target", "/user", body)
        if status == NOT_CURRENT:
            _call(sb, "target", f"/user/{created['id']}/inactivate")


def _status_calls(sb: SandboxThread) -> dict[int, int]:
    counts = {ACTIVE: 0, NOT_CURRENT: 0}
    for row in get_json(f"{sb.base_url}/_sandbox/stats")["requests"]:
        if row["route"] in STATUS_ROUTES:
            counts[STATUS_ROUTES[row["route"]]] += row["count"]
    return counts


def _by_emp(sb: SandboxThread, tenant: str) -> dict[str, dict[str, Any]]:
    return {str(u["employeeNumber"]): u for u in records(sb.base_url, "velpic", tenant, "user")}


def _assert_statuses(sb: SandboxThread) -> None:
    source, target = _by_emp(sb, "source"), _by_emp(sb, "target")
    assert set(source) <= set(target)
    wrong = {
        emp: (u["clientStatusId"], target[emp]["clientStatusId"])
        for emp, u in source.items()
        if target[emp]["clientStatusId"] != u["clientStatusId"]
    }
    assert not wrong, f"{len(wrong)} users with another status than the source's (source, target): {wrong}"


def test_every_status_right_whether_the_import_reactivates_or_not(
    sandbox: SandboxThread, merge_status: str, tmp_path: Path
) -> None:
    sb = sandbox
    reactivates = merge_status == "reactivate"
    source = [u for u in records(sb.base_url, "velpic", "source", "user") if u["employeeNumber"]]
    active = [u for u in source if u["clientStatusId"] == ACTIVE]
    leavers = [u for u in source if u["clientStatusId"] == NOT_CURRENT]
    assert len(active) > 4 * HELD and len(leavers) > 2 * HELD  # the seed has both
    # on the target already: active users held inactive and active, leavers held inactive and active
    held = {
        NOT_CURRENT: active[:HELD] + leavers[:HELD],
        ACTIVE: active[HELD : 2 * HELD] + leavers[HELD : 2 * HELD],
    }
    for status, users in held.items():
        _hold_on_target(sb, users, status)
    before = {str(u["employeeNumber"]): status for status, users in held.items() for u in users}
    calls_before = _status_calls(sb)

    env = write_env(sb, tmp_path / "sandbox.env")
    done = run_plan(PLAN, tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_statuses(sb)

    # the status each user had after the import: created users are active; a merged one kept its status,
    # or became active where the import reactivates
    after_import = {
        str(u["employeeNumber"]): ACTIVE if reactivates else before.get(str(u["employeeNumber"]), ACTIVE)
        for u in source
    }
    wanted = {str(u["employeeNumber"]): u["clientStatusId"] for u in source}
    expected = {
        status: sum(1 for emp, want in wanted.items() if want == status and after_import[emp] != status)
        for status in (ACTIVE, NOT_CURRENT)
    }
    calls = _status_calls(sb)
    assert {s: calls[s] - calls_before[s] for s in calls} == expected  # each needed call once, no other

    again = run_plan(PLAN, tmp_path, env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _status_calls(sb) == calls  # nothing left to do: no status call
    _assert_statuses(sb)


def test_leavers_merged_again_stay_not_current(
    sandbox: SandboxThread, merge_status: str, tmp_path: Path
) -> None:
    """Leavers whose source record changed after a first run are merged again by the import (which may
    reactivate them): the status step puts exactly those back to Not Current."""
    sb = sandbox
    reactivates = merge_status == "reactivate"
    env = write_env(sb, tmp_path / "sandbox.env")
    done = run_plan(PLAN, tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_statuses(sb)

    leavers = [
        u
        for u in records(sb.base_url, "velpic", "source", "user")
        if u["clientStatusId"] == NOT_CURRENT and u["employeeNumber"]
    ][:HELD]
    assert len(leavers) == HELD
    for user in leavers:  # a full replacement of the source user, with a new last name
        body = {
            name: user[name]
            for name in (
                "id",
                "firstName",
                "emailAddress",
                "phoneNumber",
                "mobileNumber",
                "employeeNumber",
                "roles",
                "timeZone",
            )
        }
        _call(sb, "source", f"/user/{user['id']}", {**body, "lastName": user["lastName"] + "-Changed"})
    calls = _status_calls(sb)

    again = run_plan(PLAN, tmp_path, env, "--delta")
    assert again.returncode == 0, again.stdout + again.stderr
    target = _by_emp(sb, "target")
    for user in leavers:
        assert target[str(user["employeeNumber"])]["lastName"] == user["lastName"] + "-Changed"
    _assert_statuses(sb)
    after = _status_calls(sb)
    assert after[ACTIVE] == calls[ACTIVE]
    assert after[NOT_CURRENT] - calls[NOT_CURRENT] == (HELD if reactivates else 0)
