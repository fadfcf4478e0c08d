"""`migrator report` and `migrator verify` through the real CLI against the sandbox, after a run of
plans/velpic-to-velpic.toml: the report's files agree with what the target holds, and verify passes on a clean
migration and then catches, one after the other, an extra user created on the target, a user changed on the
target through the API, and a user added to the source after the migration (missing on the target)."""

from __future__ import annotations

import csv
import io
import json
import re
import stat
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, entity_stats, migrator, records, run_plan, write_env

PLAN = PLANS / "velpic-to-velpic.toml"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig(seed=11, scale=300, platforms=("velpic",))) as sb:
        yield sb


@pytest.fixture(scope="module")
def migrated(sandbox: SandboxThread, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clean run of the plan; its directory holds the env file and the journal."""
    tmp = tmp_path_factory.mktemp("migrated")
    env = write_env(sandbox, tmp / "sandbox.env")
    result = run_plan(PLAN, tmp, env)
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def _velpic(sandbox: SandboxThread, method: str, path: str, tenant: str, body: Any) -> Any:
    env = sandbox.sandbox.env()
    req = urllib.request.Request(
        env["VELPIC_BASE_URL"] + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "AccessKey": env[f"VELPIC_{tenant.upper()}_ACCESS_KEY"]},
        method=method,
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def _verify(tmp: Path, out: str, *extra: str) -> tuple[int, str, list[dict[str, str]]]:
    result = migrator(
        "verify",
        str(PLAN),
        "--env-file",
        str(tmp / "sandbox.env"),
        "--journal",
        str(tmp / "journal.sqlite"),
        "--out",
        str(tmp / out),
        *extra,
        cwd=tmp,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout + result.stderr, _csv(tmp / out / "verify.csv")


def test_report_files_match_the_target(sandbox: SandboxThread, migrated: Path) -> None:
    result = migrator(
        "report", str(PLAN), "--journal", str(migrated / "journal.sqlite"), "--out", "rep", cwd=migrated
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = migrated / "rep"
    for name in ("success.csv", "errors.csv", "crosswalk.csv", "report.html"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name

    base = sandbox.base_url
    users = entity_stats(base, "velpic", "target", "user")
    groups = entity_stats(base, "velpic", "target", "group")
    success = _csv(out / "success.csv")
    assert sum(1 for r in success if r["step"] == "users" and r["action"] == "created") == users["creates"]
    assert sum(1 for r in success if r["step"] == "groups") == groups["count"]
    assert _csv(out / "errors.csv") == []

    walk = _csv(out / "crosswalk.csv")
    target_users = {str(u["id"]) for u in records(base, "velpic", "target", "user")}
    target_groups = {str(g["id"]) for g in records(base, "velpic", "target", "group")}
    assert {r["target_id"] for r in walk if r["entity"] == "user"} == target_users
    assert {r["target_id"] for r in walk if r["entity"] == "group"} == target_groups
    archived = [r for r in walk if r["entity"] == "documents"]  # the certificates: one file each
    assert {r["step"] for r in archived} == {"certificates"} and all(
        r["target_id"].endswith(".pdf") for r in archived
    )
    assert len({r["target_id"] for r in archived}) == len(archived)
    assert len(walk) - len(archived) == 2 * len(target_users) + len(target_groups)
    assert {r["step"] for r in walk if r["entity"] == "user"} == {"users"}
    # user_status sets the status of the users the users step wrote: the same records
    assert {r["target_id"] for r in walk if r["step"] == "user_status"} == target_users

    page = (out / "report.html").read_text()
    assert "velpic-to-velpic" in page and "<svg" in page and 'class="bar"' in page
    # the steps table: step, status, read, created …
    assert re.search(rf"<td>users</td><td>[a-z]*</td><td>\d+</td><td>{users['creates']}</td>", page), page
    # records on the target, each once: a user and its status are one record
    assert f"<td>target.user</td><td>users, user_status</td><td>{len(target_users)}</td>" in page
    assert f"<td>target.group</td><td>groups</td><td>{len(target_groups)}</td>" in page
    # and the certificates' archive, a target of the run too: one file each
    assert f"<td>certificates.documents</td><td>certificates</td><td>{len(archived)}</td>" in page
    total = len(target_users) + len(target_groups) + len(archived)
    assert f"<b>{total:,}</b>records in the target" in page


def test_verify_catches_extra_changed_and_missing_records(sandbox: SandboxThread, migrated: Path) -> None:
    code, text, rows = _verify(migrated, "v0")
    assert code == 0, text
    assert rows == []
    assert "the target matches" in text

    # an extra user created on the target: listed, informational unless --strict
    extra = _velpic(
        sandbox,
        "POST",
        "/user",
        "target",
        {"firstName": "Extra", "lastName": "Person", "emailAddress": "extra.person@example.test", "roles": [6]},
    )
    code, text, rows = _verify(migrated, "v1")
    assert code == 0, text
    assert [(r["status"], r["target_id"]) for r in rows] == [("extra", str(extra["id"]))]
    code, _, _ = _verify(migrated, "v1s", "--strict")
    assert code == 1

    # a migrated user changed on the target through the API
    target = sorted(records(sandbox.base_url, "velpic", "target", "user"), key=lambda u: u["id"])[0]
    body = {
        k: target.get(k)
        for k in (
            "id",
            "firstName",
            "lastName",
            "emailAddress",
            "phoneNumber",
            "mobileNumber",
            "employeeNumber",
            "roles",
            "timeZone",
        )
    }
    body["firstName"] = target["firstName"] + "-changed"
    _velpic(sandbox, "PUT", f"/user/{target['id']}", "target", body)
    code, text, rows = _verify(migrated, "v2")
    assert code == 1, text
    different = [r for r in rows if r["status"] == "different"]
    assert [(r["target_id"], r["field"], r["expected"], r["actual"]) for r in different] == [
        (str(target["id"]), "firstName", target["firstName"], body["firstName"])
    ]

    # a user added to the source after the migration: missing on the target
    added = _velpic(
        sandbox,
        "POST",
        "/user",
        "source",
        {
            "firstName": "Late",
            "lastName": "Joiner",
            "emailAddress": "late.joiner@example.test",
            "employeeNumber": "L-1",
        },
    )
    code, text, rows = _verify(migrated, "v3")
    assert code == 1, text
    # missing for both steps that carry a user: its record and its status
    assert sorted((r["status"], r["step"], r["source_key"], r["target_id"]) for r in rows) == sorted(
        [
            ("extra", "users", "", str(extra["id"])),
            ("different", "users", different[0]["source_key"], str(target["id"])),
            ("missing", "users", str(added["id"]), ""),
            ("missing", "user_status", str(added["id"]), ""),
        ]
    )
    assert "missing 2, different 1, extra 1" in text
