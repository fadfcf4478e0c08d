"""A user Velpic ``bulkUserImport`` merges into stays in the groups the customer made, over real HTTP.

The import's documented row has no ``groups`` nor ``groupsSupervised``, and what a merge does to those a row
leaves out is not said: the sandbox keeps them (``velpic.bulk_omitted_groups=keep``) or clears them
(``reset``). Users held on the target are members and supervisors of groups of the customer's own; after a
run that merges into them they still are, as ``GET /group/{id}/member`` and ``/supervisor`` list:

- a plan of its own merges names only (no groups): under ``keep`` no add call is made; under ``reset`` the
  groups the import cleared are added back;
- plans/velpic-to-velpic.toml maps the source's groups too: the customer's groups stay beside them;
- a run killed (-9) after the import, before the groups are added back, adds them back when it resumes, from
  what it journaled (the target no longer holds them).
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import (
    PEOPLE_TO_VELPIC,
    PLANS,
    get_json,
    post_json,
    records,
    run_plan,
    start_run,
    write_env,
)

HELD = 4


def _sandbox(omitted: str) -> SandboxThread:
    options = {"velpic.bulk_omitted_groups": omitted}
    config = SandboxConfig(seed=23, scale=20, platforms=("velpic",), options=options)
    return SandboxThread(config)


def _velpic(sb: SandboxThread, method: str, path: str, body: Any = None) -> Any:
    env = sb.sandbox.env()
    request = urllib.request.Request(
        f"{env['VELPIC_BASE_URL']}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"AccessKey": env["VELPIC_TARGET_ACCESS_KEY"], "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        answer = resp.read()
    return json.loads(answer) if answer.strip() else None


def _adds(base: str) -> int:
    """The add_members and add_supervisors calls the sandbox served."""
    stats = get_json(base + "/_sandbox/stats")
    return sum(
        r["count"]
        for r in stats["requests"]
        if r["platform"] == "velpic" and r["route"].endswith(("/add_members", "/add_supervisors"))
    )


def _listed(sb: SandboxThread, gid: int, kind: str) -> set[int]:
    return {u["id"] for u in _velpic(sb, "GET", f"/group/{gid}/{kind}?maxResults=500")["results"]}


def _own_groups(sb: SandboxThread, users: list[dict[str, Any]]) -> tuple[int, int]:
    """Two groups of the customer's own: ``users`` are members of the first and supervisors of the second."""
    member = _velpic(sb, "POST", "/group", {"name": "Customer site crew", "description": "own"})["id"]
    supervised = _velpic(sb, "POST", "/group", {"name": "Customer supervisors", "description": "own"})["id"]
    ids = [u["id"] for u in users]
    _velpic(sb, "POST", f"/group/{member}/add_members", {"userIds": ids})
    _velpic(sb, "POST", f"/group/{supervised}/add_supervisors", {"userIds": ids})
    return member, supervised


def _held(sb: SandboxThread, tmp: Path) -> tuple[Path, list[dict[str, Any]], tuple[int, int]]:
    """HELD users on the target, in groups of the customer's own, and a plan renaming them (by email)."""
    users = []
    for n in range(HELD):
        body = {
            "firstName": "Old",
            "lastName": f"Name{n}",
            "emailAddress": f"kept{n}@example.com",
            "roles": [6],
        }
        users.append({**body, "id": _velpic(sb, "POST", "/user", body)["id"]})
    groups = _own_groups(sb, users)
    export = tmp / "export"
    export.mkdir()
    rows = "".join(f"{u['emailAddress']},New,Name{n}\n" for n, u in enumerate(users))
    (export / "people.csv").write_text("Email,First,Last\n" + rows)
    plan = tmp / "names.toml"
    plan.write_text(PEOPLE_TO_VELPIC)
    return plan, users, groups


@pytest.fixture(params=["keep", "reset"])
def omitted(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def test_a_merge_leaves_the_customers_groups_as_they_were(omitted: str, tmp_path: Path) -> None:
    with _sandbox(omitted) as sb:
        plan, users, (member, supervised) = _held(sb, tmp_path)
        adds = _adds(sb.base_url)
        done = run_plan(plan, tmp_path, write_env(sb, tmp_path / "sandbox.env"))
        assert done.returncode == 0, done.stdout + done.stderr
        ids = {u["id"] for u in users}
        assert _listed(sb, member, "member") == ids
        assert _listed(sb, supervised, "supervisor") == ids
        target = {u["id"]: u for u in records(sb.base_url, "velpic", "target", "user")}
        assert all(target[i]["firstName"] == "New" for i in ids)
        # nothing was dropped under keep: no call to put anything back
        assert (_adds(sb.base_url) - adds == 0) is (omitted == "keep")


def test_velpic_to_velpic_keeps_the_customers_groups_beside_the_sources(tmp_path: Path) -> None:
    tmp = tmp_path
    with _sandbox("reset") as sb:
        base = sb.base_url
        source = [u for u in records(base, "velpic", "source", "user") if u["employeeNumber"]][:HELD]
        held = []
        for n, user in enumerate(source):  # held on the target under the same employee number
            body = {
                "firstName": "Old",
                "lastName": "Name",
                "emailAddress": f"held-{n}@example.com",
                "employeeNumber": user["employeeNumber"],
                "roles": [6],
            }
            held.append({"id": _velpic(sb, "POST", "/user", body)["id"]})
        member, supervised = _own_groups(sb, held)
        done = run_plan(PLANS / "velpic-to-velpic.toml", tmp, write_env(sb, tmp / "sandbox.env"))
        assert done.returncode == 0, done.stdout + done.stderr
        ids = {u["id"] for u in held}
        assert _listed(sb, member, "member") == ids
        assert _listed(sb, supervised, "supervisor") == ids
        target = {u["id"]: u for u in records(base, "velpic", "target", "user")}
        for user, mine in zip(source, held, strict=True):  # the source's groups were given as well
            assert len(target[mine["id"]]["groups"]) == len(user["groups"]) + 1


def test_a_run_killed_before_the_groups_are_put_back_puts_them_back_on_resume(tmp_path: Path) -> None:
    """The first add call is held 60 s by the sandbox: the run is killed while the import has cleared the
    groups and none is back; the resumed run adds them back (the target alone no longer says what they
    were)."""
    with _sandbox("reset") as sb:
        plan, users, (member, supervised) = _held(sb, tmp_path)
        post_json(f"{sb.base_url}/_sandbox/faults", {"spec": "velpic/group/*/add_*:latency=60s,first=1"})
        env = write_env(sb, tmp_path / "sandbox.env")
        proc = start_run(plan, tmp_path, env, quiet=True)
        try:
            deadline = time.monotonic() + 60
            cleared = False
            while time.monotonic() < deadline and not cleared:  # the import has gone through
                cleared = not _listed(sb, member, "member")
                time.sleep(0.05)
            assert cleared and proc.poll() is None
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        assert not _listed(sb, member, "member") and not _listed(sb, supervised, "supervisor")
        done = run_plan(plan, tmp_path, env)
        assert done.returncode == 0, done.stdout + done.stderr
        ids = {u["id"] for u in users}
        assert _listed(sb, member, "member") == ids
        assert _listed(sb, supervised, "supervisor") == ids
