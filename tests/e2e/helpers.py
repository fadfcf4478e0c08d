"""Helpers for end-to-end tests: the real CLI in a subprocess against a sandbox over loopback HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from migrator.sandbox.app import SandboxThread

ROOT = Path(__file__).resolve().parents[2]

#: plan text shared by the tests' own plans: Velpic source → accessplanit target (`velpic`, `apit`) ...
VELPIC_TO_APIT = """[connections.velpic]
platform = "velpic"
base_url = "${VELPIC_BASE_URL}"
access_key = "${VELPIC_SOURCE_ACCESS_KEY}"
[connections.apit]
platform = "accessplanit"
base_url = "${ACCESSPLANIT_V2_BASE_URL}"
username = "${ACCESSPLANIT_TARGET_USERNAME}"
password = "${ACCESSPLANIT_TARGET_PASSWORD}"
"""
#: ... and Velpic source tenant → Velpic target tenant (`source`, `target`)
VELPIC_TO_VELPIC = """[connections.source]
platform = "velpic"
base_url = "${VELPIC_BASE_URL}"
access_key = "${VELPIC_SOURCE_ACCESS_KEY}"
[connections.target]
platform = "velpic"
base_url = "${VELPIC_BASE_URL}"
access_key = "${VELPIC_TARGET_ACCESS_KEY}"
"""
PLANS = ROOT / "plans"


#: a plan importing ``export/people.csv`` (Email, First, Last) into Velpic users, merged by e-mail address
PEOPLE_TO_VELPIC = """[plan]
name = "people"
[connections.export]
platform = "files"
path = "export"
[connections.target]
platform = "velpic"
base_url = "${VELPIC_BASE_URL}"
access_key = "${VELPIC_TARGET_ACCESS_KEY}"
[steps.users]
read  = { from = "export", entity = "people", key = "Email" }
write = { to = "target", entity = "user", mode = "bulk", match = "email" }
map.firstName    = "First"
map.lastName     = "Last"
map.emailAddress = "Email"
map.roles        = [6]
"""


def write_env(sandbox: SandboxThread, path: Path) -> Path:
    lines = [f"{k}={v}" for k, v in sandbox.sandbox.env().items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def migrator(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m migrator ARGS`` in ``cwd``; the environment holds no credential (they come from files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VELPIC_", "ACCESSPLANIT_", "ONEFILE_"))}
    return subprocess.run(
        [sys.executable, "-m", "migrator", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def post_json(url: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    """``body`` POSTed as JSON to ``url`` (with ``headers`` too); the answer's JSON, None when empty."""
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def records(base_url: str, platform: str, tenant: str, entity: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(
        f"{base_url}/_sandbox/records/{platform}/{tenant}/{entity}", timeout=60
    ) as resp:
        return [json.loads(line) for line in resp.read().splitlines() if line.strip()]


def entity_stats(base_url: str, platform: str, tenant: str, entity: str) -> dict[str, int]:
    stats: dict[str, int] = get_json(f"{base_url}/_sandbox/stats")["records"][platform][tenant][entity]
    return stats


def run_args(plan: Path | str, tmp: Path, env_file: Path, *extra: str) -> list[str]:
    """``migrator run`` arguments with the test's journal and log in ``tmp``."""
    return [
        "run",
        str(plan),
        "--env-file",
        str(env_file),
        "--journal",
        str(tmp / "journal.sqlite"),
        "--log-file",
        str(tmp / "run.log.jsonl"),
        "--plain",
        *extra,
    ]


def start_run(plan: Path | str, tmp: Path, env_file: Path, *, quiet: bool = False) -> subprocess.Popen[str]:
    """``migrator run`` started in the background (for kills and signals); output piped unless ``quiet``."""
    out = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, "-m", "migrator", *run_args(plan, tmp, env_file)],
        cwd=tmp,
        stdout=out,
        stderr=out,
        text=True,
    )


def run_plan(plan: Path | str, tmp: Path, env_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return migrator(*run_args(plan, tmp, env_file, *extra), cwd=tmp)


def give_ui_users_ids(sandbox: SandboxThread) -> None:
    """Give every aNewSpring source user created in the UI (no external ID) one, ``UI-<n>``, through the API's
    ``initializeId``, as a consultant does before a migration: users are read by their external IDs."""
    env = sandbox.sandbox.env()
    for n, user in enumerate(records(sandbox.base_url, "anewspring", "source", "user")):
        if user.get("id") is None:
            login = urllib.parse.quote(user["login"], safe="")
            request = urllib.request.Request(
                f"{env['ANEWSPRING_BASE_URL']}/initializeId/{login}/UI-{n}",
                method="POST",
                headers={"X-API-Key": env["ANEWSPRING_SOURCE_API_KEY"]},
            )
            urllib.request.urlopen(request, timeout=30).close()


def course_plan(tmp: Path, prefix: str) -> Path:
    """A plan of ``tmp`` upserting three accessplanit courses (``<prefix>-<n>``, by code) and three course dates
    (``<prefix> date <n>``, by label) from an export beside it, mapping their name and location only."""
    export = tmp / "export"
    export.mkdir()
    courses = "".join(f"{prefix}-{n},New course {n}\n" for n in range(3))
    dates = "".join(f"{prefix} date {n},Room {n}\n" for n in range(3))
    (export / "courses.csv").write_text("Code,Name\n" + courses)
    (export / "dates.csv").write_text("Label,Location\n" + dates)
    plan = tmp / "courses.toml"
    plan.write_text(
        """[plan]
name = "courses"
[connections.export]
platform = "files"
path = "export"
[connections.apit]
platform = "accessplanit"
base_url = "${ACCESSPLANIT_V2_BASE_URL}"
username = "${ACCESSPLANIT_TARGET_USERNAME}"
password = "${ACCESSPLANIT_TARGET_PASSWORD}"
[steps.courses]
read  = { from = "export", entity = "courses", key = "Code" }
write = { to = "apit", entity = "course", mode = "upsert", match = "Code" }
map.Code = "Code"
map.Name = "Name"
[steps.dates]
read  = { from = "export", entity = "dates", key = "Label" }
write = { to = "apit", entity = "coursedate", mode = "upsert", match = "Label" }
map.Label    = "Label"
map.Location = "Location"
"""
    )
    return plan


def source_apit_token(env: dict[str, str]) -> str:
    """A bearer token of the sandbox's accessplanit v2 source tenant (password grant), to edit the source."""
    form = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "username": env["ACCESSPLANIT_SOURCE_USERNAME"],
            "password": env["ACCESSPLANIT_SOURCE_PASSWORD"],
        }
    ).encode()
    req = urllib.request.Request(env["ACCESSPLANIT_V2_BASE_URL"] + "/token", data=form, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return str(json.loads(resp.read())["access_token"])
