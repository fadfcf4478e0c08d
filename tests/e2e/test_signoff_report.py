"""What a customer signs, through the real CLI against the sandbox:

- `migrator verify` on plans/velpic-to-anewspring.toml after a good run: 0 missing, 0 extra (aNewSpring users
  are written by external ID and read back keyed by uid), the steps whose target cannot be listed named as not
  verified, a user changed on the target found different; the result carried into report.html;
- honest counts: an upsert onto an empty aNewSpring says created; Velpic `bulkUserImport` onto an empty target
  says created N, and the same plan run again (another journal) after N source users changed says updated M
  and unchanged for the rest — as the target held them before the step wrote, never a guess."""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, entity_stats, give_ui_users_ids, migrator, records, run_plan, write_env

TIME_SCALE = "20"


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def _step_line(output: str, step: str) -> dict[str, int]:
    """The run summary's counts of one step (``users  done  read 300  created 300 …``)."""
    line = next(x for x in output.splitlines() if re.match(rf"\s*{step}\s+\w+\s+read\b", x))
    return {name: int(n.replace(",", "")) for name, n in re.findall(r"([a-z]+)\s+([\d,]+)", line)}


@pytest.fixture(scope="module")
def anewspring() -> Iterator[SandboxThread]:
    config = SandboxConfig(seed=13, scale=300, time_scale=float(TIME_SCALE), platforms=("anewspring", "velpic"))
    with SandboxThread(config) as sb:
        give_ui_users_ids(sb)
        yield sb


def _verify(plan: Path, tmp: Path, out: str) -> tuple[int, str, list[dict[str, str]]]:
    result = migrator(
        "verify",
        str(plan),
        "--env-file",
        str(tmp / "sandbox.env"),
        "--journal",
        str(tmp / "journal.sqlite"),
        "--out",
        str(tmp / out),
        "--time-scale",
        TIME_SCALE,
        cwd=tmp,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout + result.stderr, _csv(tmp / out / "verify.csv")


def test_verify_on_velpic_to_anewspring_reconciles_by_external_id(
    anewspring: SandboxThread, tmp_path: Path
) -> None:
    plan = PLANS / "velpic-to-anewspring.toml"
    env = write_env(anewspring, tmp_path / "sandbox.env")
    run = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
    assert run.returncode == 0, run.stdout + run.stderr
    users = records(anewspring.base_url, "velpic", "source", "user")
    # an upsert onto an empty target created every user (addOrUpdateUser does not say; the target's read did)
    assert _step_line(run.stdout, "users") | {"read": 0} == {
        "read": 0,
        "created": len(users),
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 0,
    }
    assert entity_stats(anewspring.base_url, "anewspring", "target", "user")["count"] == len(users)

    code, text, rows = _verify(plan, tmp_path, "v0")
    assert code == 0, text
    assert rows == [], rows
    assert "missing 0, different 0, extra 0" in text
    summary = re.search(r"step users\s+source\s+(\d+)\s+migrated\s+(\d+)\s+matched\s+(\d+)", text)
    assert summary is not None and summary.groups() == (str(len(users)),) * 3, text
    for step in ("groups", "memberships"):  # aNewSpring cannot list groups: named, not failed, not silent
        assert re.search(rf"step {step}\s+NOT VERIFIED: anewspring cannot list its", text), text
    page = (tmp_path / "v0" / "report.html").read_text()
    assert 'id="verify-verdict">Verified' in page and "the target matches" in page
    assert "<td>groups</td><td>anewspring cannot list its group records" in page
    saved = json.loads((tmp_path / "v0" / "verify.json").read_text())
    assert saved["ok"] is True and saved["counts"]["missing"] == saved["counts"]["extra"] == 0

    # a migrated user changed on the target: found, at its external ID
    env_vars = anewspring.sandbox.env()
    victim = next(u for u in users if u.get("employeeNumber"))
    form = urllib.parse.urlencode({"firstName": "Changed"}).encode()
    request = urllib.request.Request(
        f"{env_vars['ANEWSPRING_BASE_URL']}/updateUser/{urllib.parse.quote(str(victim['employeeNumber']))}",
        data=form,
        method="POST",
        headers={"X-API-Key": env_vars["ANEWSPRING_TARGET_API_KEY"]},
    )
    urllib.request.urlopen(request, timeout=30).close()
    code, text, rows = _verify(plan, tmp_path, "v1")
    assert code == 1, text
    assert [(r["status"], r["target_id"], r["field"], r["actual"]) for r in rows] == [
        ("different", str(victim["employeeNumber"]), "firstName", "Changed")
    ]
    assert 'class="verdict bad"' in (tmp_path / "v1" / "report.html").read_text()


@pytest.fixture(scope="module")
def velpic() -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig(seed=17, scale=200, platforms=("velpic",))) as sb:
        yield sb


def _velpic_put(sandbox: SandboxThread, user: dict[str, Any], **changes: Any) -> None:
    env = sandbox.sandbox.env()
    keep = ("id", "firstName", "lastName", "emailAddress", "phoneNumber", "mobileNumber", "employeeNumber")
    body = {k: user.get(k) for k in (*keep, "roles", "timeZone")} | changes
    request = urllib.request.Request(
        f"{env['VELPIC_BASE_URL']}/user/{user['id']}",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json", "AccessKey": env["VELPIC_SOURCE_ACCESS_KEY"]},
    )
    urllib.request.urlopen(request, timeout=30).close()


def test_velpic_bulk_import_counts_created_then_updated(velpic: SandboxThread, tmp_path: Path) -> None:
    plan = PLANS / "velpic-to-velpic.toml"
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    env = write_env(velpic, tmp_path / "sandbox.env")
    first = run_plan(plan, first_dir, env)
    assert first.returncode == 0, first.stdout + first.stderr
    users = records(velpic.base_url, "velpic", "source", "user")
    counts = _step_line(first.stdout, "users")
    assert (counts["created"], counts["updated"]) == (len(users), 0), first.stdout
    success = _csv(first_dir / "journal.sqlite.reports" / "success.csv")
    assert {r["action"] for r in success if r["step"] == "users"} == {"created"}

    changed = sorted((u for u in users if u.get("employeeNumber")), key=lambda u: u["id"])[:7]
    for u in changed:
        _velpic_put(velpic, u, lastName=f"{u['lastName']}-married")
    second = run_plan(plan, second_dir, env)  # another journal: every user is sent, onto a full target
    assert second.returncode == 0, second.stdout + second.stderr
    counts = _step_line(second.stdout, "users")
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (0, len(changed), len(users) - 7)
    success = _csv(second_dir / "journal.sqlite.reports" / "success.csv")
    updated = {r["source_key"] for r in success if r["step"] == "users" and r["action"] == "updated"}
    assert updated == {str(u["id"]) for u in changed}
    assert entity_stats(velpic.base_url, "velpic", "target", "user")["count"] == len(users)


ROUTES = {
    # route → the steps whose target the platform cannot list (named, never failed)
    # (a files documents archive is not listed back: its index and SHA-256s are checked by the route tests)
    "velpic-to-onefile": ("assessors_status", "instructors_status", "learners_status", "certificates"),
    # Velpic cannot list group_member or group_supervisor records: the link steps are named, not verified
    "onefile-to-velpic": (
        "classroom_members",
        "caseload_members",
        "classroom_supervisors",
        "caseload_supervisors",
    ),
    "velpic-to-accessplanit": ("certificates",),
    # active_for_history: every learner made Active for its completions, its status then written again by
    # user_status (compared there)
    "accessplanit-to-velpic": ("completions", "active_for_history"),
    "accessplanit-coursedates-to-velpic-ilt": ("registrations", "attendance"),
    # Velpic lists no completion records (as accessplanit-to-velpic)
    "anewspring-to-velpic": ("completions", "active_for_history"),
    "csv-to-accessplanit": (),
    "accessplanit-v1-to-v2": (),
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_verify_passes_after_a_good_run_on_every_route(route: str, tmp_path: Path) -> None:
    """Each example plan run onto a fresh sandbox, then verified: nothing missing or different, whatever the
    way its target lists records (per organisation, per user, by external ID, in its own time zone)."""
    config = SandboxConfig(seed=5, scale=80, time_scale=50.0)
    with SandboxThread(config) as sb:
        give_ui_users_ids(sb)
        env = write_env(sb, tmp_path / "sandbox.env")
        plan = PLANS / f"{route}.toml"
        run = run_plan(plan, tmp_path, env, "--time-scale", "50")
        assert run.returncode in (0, 3), run.stdout + run.stderr
        result = migrator(
            "verify",
            str(plan),
            "--env-file",
            str(env),
            "--journal",
            str(tmp_path / "journal.sqlite"),
            "--out",
            str(tmp_path / "v"),
            "--time-scale",
            "50",
            cwd=tmp_path,
        )
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "missing 0, different 0" in text, text
    rows = _csv(tmp_path / "v" / "verify.csv")
    assert {r["status"] for r in rows} <= {"extra", "rejected"}, rows
    unverified = re.findall(r"step (\S+)\s+NOT VERIFIED", text)
    assert sorted(unverified) == sorted(ROUTES[route]), text
