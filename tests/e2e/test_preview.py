"""``migrator preview`` through the real CLI against the sandbox: on every plan, under both sandbox profiles
(and with Velpic creating users Not Current), its change set's counts are the next run's outcome, on a first
run and on a second pass after the source changed, and it writes nothing; ``run --approved`` refuses a changed
plan and a change set the source no longer holds, and runs with one that holds; invalid records are listed
with their reasons."""

from __future__ import annotations

import csv
import html
import json
import shutil
import tomllib
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import (
    PLANS,
    VELPIC_TO_APIT,
    get_json,
    give_ui_users_ids,
    migrator,
    records,
    source_apit_token,
    write_env,
)


def _step_lines(stdout: str, steps: list[str]) -> dict[str, dict[str, int]]:
    """A run's summary line of each step: its figures by word."""
    out = {}
    for step in steps:
        words = next(x for x in stdout.splitlines() if x.strip().startswith(step + " ")).split()
        out[step] = {
            w: int(words[i + 1].replace(",", "")) for i, w in enumerate(words[:-1]) if words[i + 1][0].isdigit()
        }
    return out


#: the plans' budgets (accessplanit: 5000/hour) on a clock 200 times faster: the sandbox here enforces none
TIME_SCALE = "200"


def _preview(plan: Path, tmp: Path, env: Path, journal: Path, *extra: str) -> dict[str, Any]:
    out = tmp / "preview"
    done = migrator(
        "preview", str(plan), "--env-file", str(env), "--journal", str(journal), "--out", str(out),
        "--time-scale", TIME_SCALE, *extra, cwd=tmp,
    )  # fmt: skip
    assert done.returncode in (0, 3), done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert (out / "changeset.json").stat().st_mode & 0o777 == 0o600
    assert (out / "changeset.html").stat().st_mode & 0o777 == 0o600
    found: dict[str, Any] = json.loads((out / "changeset.json").read_text())
    return found


def _run(plan: Path, tmp: Path, env: Path, journal: Path, *extra: str) -> Any:
    return migrator(
        "run", str(plan), "--env-file", str(env), "--journal", str(journal), "--plain",
        "--time-scale", TIME_SCALE, *extra, cwd=tmp,
    )  # fmt: skip


def _assert_counts_are_the_run(preview: dict[str, Any], stdout: str) -> None:
    """The preview's figures per step are the run's, each apart: read, created, updated, unchanged, skipped
    and rejected."""
    steps = list(preview["steps"])
    lines = _step_lines(stdout, steps)
    for step in steps:
        p, r = preview["steps"][step], lines[step]
        figures = ("read", "created", "updated", "unchanged", "skipped", "rejected")
        assert {k: p.get(k, 0) for k in figures} == {k: r[k] for k in figures}, (step, p, r)


def _steps(plan: Path) -> list[str]:
    return list(tomllib.loads(plan.read_text())["steps"])


def _writes_status(plan: Path, step: str) -> bool:
    """Whether ``step`` of ``plan`` writes Velpic user statuses."""
    return bool(tomllib.loads(plan.read_text())["steps"][step]["write"]["entity"] == "user_status")


def _status_calls(base: str) -> int:
    """The Velpic user activate and inactivate calls the sandbox has answered."""
    stats = get_json(f"{base}/_sandbox/stats")["requests"]
    status = ("/activate", "/inactivate")
    return sum(s["count"] for s in stats if "/user/" in s["route"] and s["route"].endswith(status))


def _rename(base: str, key: str, users: list[dict[str, Any]], suffix: str, **change: str) -> None:
    """Change the last name (and any field of ``change``) of ``users`` on the Velpic source, through its API."""
    for u in users:
        keys = ("id", "firstName", "emailAddress", "phoneNumber", "mobileNumber", "employeeNumber", "roles")
        body = {k: u[k] for k in (*keys, "timeZone")}
        body["lastName"] = u["lastName"] + suffix
        body.update(change)
        req = urllib.request.Request(
            f"{base}/velpic/api/v2/user/{u['id']}",
            data=json.dumps(body).encode(),
            headers={"AccessKey": key, "Content-Type": "application/json"},
            method="PUT",
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200


def _velpic_call(base: str, key: str, path: str, body: Any = None) -> Any:
    req = urllib.request.Request(
        f"{base}/velpic/api/v2{path}",
        data=json.dumps(body if body is not None else {}).encode(),
        headers={"AccessKey": key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        raw = resp.read()
        return json.loads(raw) if raw else None


def _already_on_the_target(sb: SandboxThread, plan: str) -> int:
    """Ten of the source's users put on the Velpic target first (same e-mail and employee number), Active:
    the first run merges them, and its status step makes the source's leavers among them Not Current. On a
    route without completions, the Active ones are made Not Current first, so that it activates them (a
    completion by a user Not Current on the target is refused: its run would reject what the target's rule
    refuses, which no preview reads)."""
    if plan.startswith("accessplanit"):
        people = [
            (u["Email"].strip().lower(), u["ExternalID"], u["Status"] == "Active")
            for u in records(sb.base_url, "accessplanit", "source", "user")
            if u["Status"] in ("Active", "Inactive") and u["Email"] and u["ExternalID"]
        ]
    else:
        people = [
            (u["emailAddress"].strip().lower(), u["employeeNumber"], u["clientStatusId"] == 56)
            for u in records(sb.base_url, "velpic", "source", "user")
            if u["emailAddress"] and u["employeeNumber"]
        ]
    emails = [e for e, _, _ in people]
    chosen = [p for p in people if emails.count(p[0]) == 1]
    chosen = [p for p in chosen if p[2]][:6] + [p for p in chosen if not p[2]][:4]
    key = sb.sandbox.env()["VELPIC_TARGET_ACCESS_KEY"]
    for email, number, active in chosen:
        body = {"firstName": "Was", "lastName": "Here", "emailAddress": email, "employeeNumber": number}
        body |= {"sendWelcomeEmail": False}
        made = _velpic_call(sb.base_url, key, "/user", body)
        if active and not plan.startswith("accessplanit"):
            _velpic_call(sb.base_url, key, f"/user/{made['id']}/inactivate")
    return len(chosen)


#: what each route's sandbox serves, and the step its second pass updates after the source changes (None: the
#: route updates nothing, or its source cannot be changed)
ROUTES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "velpic-to-accessplanit.toml": (("velpic", "accessplanit"), "users"),
    "velpic-to-velpic.toml": (("velpic",), "users"),
    "velpic-to-anewspring.toml": (("velpic", "anewspring"), "users"),
    "velpic-to-onefile.toml": (("velpic", "onefile"), None),  # OneFile users are create-only
    "demo.toml": (("velpic",), "users"),
    "accessplanit-to-velpic.toml": (("velpic", "accessplanit"), "users"),
    "accessplanit-coursedates-to-velpic-ilt.toml": (("velpic", "accessplanit"), "users"),
    "accessplanit-v1-to-v2.toml": (("accessplanit",), None),  # v1 is read-only
    "anewspring-to-velpic.toml": (("velpic", "anewspring"), "users"),
    "onefile-to-velpic.toml": (("velpic", "onefile"), "learners"),
    "csv-to-accessplanit.toml": (("accessplanit",), "learners"),
}


def test_every_plan_is_a_route_of_the_preview_test() -> None:
    assert sorted(ROUTES) == sorted(p.name for p in PLANS.glob("*.toml"))


def _resolved(preview: dict[str, Any], created: dict[str, Any], merged: dict[str, Any]) -> dict[str, Any]:
    """The preview's figures with its writes of a state after a create or a merge settled as the sandbox
    plays the platform: ``created`` (field → the value a record it creates holds) and ``merged`` (field →
    the value a merge sets; a field not there: the merge keeps the record's own) — linked where the record is
    left in the state wanted, updated otherwise."""
    steps = {}
    for name, step in preview["steps"].items():
        figures = dict(step)
        for kind, states in (("create", step.get("after_create", {})), ("merge", step.get("after_merge", {}))):
            for state, n in states.items():
                *wanted, held = state.split(", ") if kind == "merge" else [*state.split(", "), ""]
                pairs = [part.split("=", 1) for part in wanted]
                if kind == "create":
                    kept = all(json.loads(value) == created[key] for key, value in pairs)
                else:  # a merge leaves the state it sets, else the record's own
                    kept = all(json.loads(v) == merged[k] if k in merged else held == "held" for k, v in pairs)
                figure = "linked" if kept else "updated"
                figures[figure] = figures.get(figure, 0) + n
        steps[name] = figures
    return {**preview, "steps": steps}


def _onefile_token(env: dict[str, str]) -> str:
    auth = urllib.request.Request(
        f"{env['ONEFILE_BASE_URL']}/Authentication",
        data=b"",
        headers={"X-CustomerToken": env["ONEFILE_SOURCE_CUSTOMER_TOKEN"]},
        method="POST",
    )
    with urllib.request.urlopen(auth, timeout=30) as resp:
        return resp.read().decode().strip()


def _change_the_source(sb: SandboxThread, plan: Path) -> int:
    """Up to seven of the source's people renamed through the source's own API (or its export file), so that
    the second pass has updates to preview; how many."""
    env, base, name = sb.sandbox.env(), sb.base_url, plan.name
    if name.startswith(("velpic-", "demo")):
        active = [u for u in records(base, "velpic", "source", "user") if u["clientStatusId"] == 56]
        _rename(base, env["VELPIC_SOURCE_ACCESS_KEY"], active[3:10], "-Renamed")
        return len(active[3:10])
    elif name.startswith("accessplanit-") and "v1" not in name:
        token = source_apit_token(env)
        users = [u for u in records(base, "accessplanit", "source", "user") if u["Status"] == "Active"]
        for u in users[3:10]:
            req = urllib.request.Request(
                f"{env['ACCESSPLANIT_V2_BASE_URL']}/user/{u['ID']}",
                data=json.dumps({"Surname": u["Surname"] + "-Renamed"}).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                method="PUT",
            )
            urllib.request.urlopen(req, timeout=30).close()
        return len(users[3:10])
    elif name.startswith("onefile-"):
        token = _onefile_token(env)
        learners = [u for u in records(base, "onefile", "source", "user") if u["Role"] == 1]
        for u in learners[3:10]:
            req = urllib.request.Request(
                f"{env['ONEFILE_BASE_URL']}/User/{u['ID']}",
                data=json.dumps({"LastName": u["LastName"] + "-Renamed"}).encode(),
                headers={"X-TokenID": token, "Content-Type": "application/json"},
                method="POST",
            )
            urllib.request.urlopen(req, timeout=30).close()
        return len(learners[3:10])
    elif name.startswith("anewspring-"):
        people = [u for u in records(base, "anewspring", "source", "user") if u.get("id") and u.get("lastName")]
        for u in people[3:10]:
            form = urllib.parse.urlencode({"lastName": u["lastName"] + "-Renamed"}).encode()
            req = urllib.request.Request(
                f"{env['ANEWSPRING_BASE_URL']}/addOrUpdateUser/{urllib.parse.quote(u['id'], safe='')}",
                data=form,
                headers={"X-API-Key": env["ANEWSPRING_SOURCE_API_KEY"]},
                method="POST",
            )
            urllib.request.urlopen(req, timeout=30).close()
        return len(people[3:10])
    elif name.startswith("csv-"):
        learners = plan.parent / "data" / "learners.csv"
        rows = list(csv.DictReader(learners.open(encoding="utf-8", newline="")))
        for row in rows[3:10]:
            row["LastName"] += "-Renamed"
        with learners.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return len(rows[3:10])
    return 0


def _target_records(base: str) -> Any:
    """What every target holds, record counts and writes (``/_sandbox/stats``): a preview changes none."""
    found = get_json(f"{base}/_sandbox/stats")["records"]
    return {platform: tenants.get("target") for platform, tenants in found.items()}


def _preview_and_run(
    sb: SandboxThread, plan: Path, tmp: Path, env: Path, journal: Path, platform: tuple[dict[str, Any], ...]
) -> dict[str, Any]:
    """The preview of the next run, checked to write nothing, then the run; its figures are the preview's.
    The preview's resolved change set."""
    before = _target_records(sb.base_url)
    found = _preview(plan, tmp, env, journal)
    assert _target_records(sb.base_url) == before  # nothing written, no target write spent
    done = _run(plan, tmp, env, journal)
    assert done.returncode in (0, 3), done.stdout + done.stderr
    resolved = _resolved(found, *platform)
    _assert_counts_are_the_run(resolved, done.stdout)
    return resolved


def _sandbox(plan: str, profile: str, **options: Any) -> SandboxConfig:
    platforms, _ = ROUTES[plan]
    return SandboxConfig(
        seed=61, scale=120, platforms=platforms, default_limits=False, time_scale=float(TIME_SCALE),
        profile=profile, options=options,
    )  # fmt: skip


@pytest.mark.parametrize("plan", sorted(ROUTES))
def test_the_preview_counts_are_the_next_runs_outcome(tmp_path: Path, plan: str, sandbox_profile: str) -> None:
    _preview_each_run(tmp_path, plan, _sandbox(plan, sandbox_profile))


@pytest.mark.parametrize("plan", ["velpic-to-velpic.toml", "demo.toml", "onefile-to-velpic.toml"])
def test_the_preview_holds_whatever_status_the_import_gives_the_users_it_creates(
    tmp_path: Path, plan: str
) -> None:
    """``velpic.created_status=not_current``: the import creates users Not Current, so the status step
    activates the active ones instead of inactivating the leavers; the preview, which counts those status
    writes apart by the status wanted, still tells the run's figures (routes without completions: a
    completion by a Not Current learner is refused, and the plans with completions do not expect it)."""
    _preview_each_run(tmp_path, plan, _sandbox(plan, "default", **{"velpic.created_status": "not_current"}))


def _preview_each_run(tmp_path: Path, plan: str, config: SandboxConfig) -> None:
    """Preview then run ``plan`` twice against a sandbox of ``config``: a first run, and a second pass (a
    journal of its own) after the source changed."""
    platforms, changed = ROUTES[plan]
    # the plan (and, for the CSV route, its export) in a folder of the test's own: its source may change
    shutil.copytree(PLANS / "data", tmp_path / "plans" / "data")
    path = tmp_path / "plans" / plan
    path.write_text((PLANS / plan).read_text())
    # as the sandbox creates records (a Velpic user Active, a OneFile user not archived) and merges into them
    merge = config.options.get("velpic.bulk_merge_status", "keep")
    made = 57 if config.options.get("velpic.created_status") == "not_current" else 56
    platform = (
        {"clientStatusId": made, "Archived": False},
        {"clientStatusId": 56} if merge == "reactivate" else {},
    )
    with SandboxThread(config) as sb:
        if "anewspring" in platforms:
            give_ui_users_ids(sb)
        env = write_env(sb, tmp_path / "sb.env")
        # the first run onto a target that holds some of the users already: creates, merges, and the status
        # step after them (the users already there get the source's status)
        pre_placed = "user_status" in _steps(path) and plan.startswith(("velpic", "accessplanit", "demo"))
        there = _already_on_the_target(sb, plan) if pre_placed else 0
        calls = _status_calls(sb.base_url)
        before = _preview_and_run(sb, path, tmp_path, env, tmp_path / "first.sqlite", platform)
        if pre_placed:
            # a status write per user the run changes (leavers), none for a user already so (found, linked)
            status = before["steps"]["user_status"]
            assert status["updated"] > 0 and status["linked"] > 0, status
            assert status["updated"] + status["linked"] + status["rejected"] == status["read"], status
            # every status call is a state step's update (active_for_history, then user_status, on the routes
            # with completions)
            states = [s for s in _steps(path) if _writes_status(path, s)]
            assert _status_calls(sb.base_url) - calls == sum(before["steps"][s]["updated"] for s in states)
            assert before["steps"]["users"]["updated"] == there == 10, before["steps"]["users"]
        renamed = _change_the_source(sb, path)
        # a second pass with a journal of its own, against the migrated target: updates, unchanged, links
        found = _preview_and_run(sb, path, tmp_path, env, tmp_path / "second.sqlite", platform)
        if changed is not None:
            step = found["steps"][changed]
            # the renamed ones, and those a route writes again whatever (an upsert answered "updated")
            assert renamed > 0 and step["updated"] >= renamed and step["created"] == 0, step
            assert any(
                str(after).endswith("-Renamed") for s in step["samples"] for _, after in s["changes"].values()
            ), step["samples"]


PLAN = (
    """
[plan]
name = "approve"
approval_tolerance = 1
"""
    + VELPIC_TO_APIT
    + """budget = "1000000/hour"
[steps.users]
read  = { from = "velpic", entity = "user", page_size = 50, filter = { activeValue = "all" } }
write = { to = "apit", entity = "user", mode = "upsert", match = "Email" }
map.Forenames = "firstName | trim"
map.Surname = "lastName | trim"
map.Email = "emailAddress | lower"
map.Mobile = "mobileNumber"
"""
)


def test_approval_refuses_a_changed_plan_and_counts_that_no_longer_hold(tmp_path: Path) -> None:
    config = SandboxConfig(
        seed=67, scale=80, dirty=0.2, platforms=("velpic", "accessplanit"), default_limits=False
    )
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sb.env")
        plan = tmp_path / "plan.toml"
        plan.write_text(PLAN)
        journal = tmp_path / "j.sqlite"
        found = _preview(plan, tmp_path, env, journal)
        approved = tmp_path / "preview" / "changeset.json"
        users = found["steps"]["users"]
        # invalid records are listed with their reasons: those the run rejects and those it writes
        rejected = [i for i in users["invalid"] if i["kind"] == "rejected"]
        assert len(rejected) == users["rejected"] > 0
        assert all(i["reason"] and i["source_key"] for i in rejected)
        source = records(sb.base_url, "velpic", "source", "user")
        emails = [u["emailAddress"].lower() for u in source if u["emailAddress"]]
        twice = {e for e in emails if emails.count(e) > 1}
        assert twice, "the dirty sandbox seeds duplicate e-mail addresses"
        suspects = [i for i in users["invalid"] if i["kind"] == "suspect"]
        assert {
            e for e in twice if any(repr(e) in i["reason"] and "also record" in i["reason"] for i in suspects)
        } == twice
        page = (tmp_path / "preview" / "changeset.html").read_text()
        assert all(html.escape(i["reason"], quote=True) in page for i in users["invalid"])

        # a changed plan is refused before anything is read
        plan.write_text(PLAN.replace('map.Mobile = "mobileNumber"', 'map.Phone = "phoneNumber"'))
        changed = _run(plan, tmp_path, env, journal, "--approved", str(approved))
        assert changed.returncode == 2, changed.stdout + changed.stderr
        assert "the plan changed since its change set was approved" in changed.stderr
        assert "Traceback" not in changed.stderr
        plan.write_text(PLAN)

        # migrated; then a second pass (a journal of its own) is previewed: it would write nothing
        assert _run(plan, tmp_path, env, journal).returncode == 3
        second = tmp_path / "second.sqlite"
        calm = _preview(plan, tmp_path, env, second)["steps"]["users"]  # approved: the same path again
        twice = calm["updated"]  # a duplicate's second record is written again
        assert calm["created"] == 0 and calm["unchanged"] + twice + calm["rejected"] == calm["read"], calm
        # the source changed after the preview: 3 users renamed, 3 records to write where none was approved
        active = [u for u in source if u["clientStatusId"] == 56 and u["emailAddress"]]
        key = sb.sandbox.env()["VELPIC_SOURCE_ACCESS_KEY"]
        _rename(sb.base_url, key, active[:3], "-Later")
        before = records(sb.base_url, "accessplanit", "target", "user")
        drifted = _run(plan, tmp_path, env, second, "--approved", str(approved))
        assert drifted.returncode == 2, drifted.stdout + drifted.stderr
        assert "does not hold the approved change set" in drifted.stderr
        assert f"records updated, approved {twice:,}" in drifted.stderr, drifted.stderr
        assert "tolerance 1: 1 records" in drifted.stderr
        assert records(sb.base_url, "accessplanit", "target", "user") == before  # nothing written

        # previewed again, the new change set holds: the run goes, with the previewed counts
        again = _preview(plan, tmp_path, env, second)
        ok = _run(plan, tmp_path, env, second, "--approved", str(approved))
        assert ok.returncode in (0, 3), ok.stdout + ok.stderr
        _assert_counts_are_the_run(again, ok.stdout)


def test_a_preview_whose_counts_would_trip_a_limit_says_so_and_counts_the_step_whole(tmp_path: Path) -> None:
    config = SandboxConfig(seed=71, scale=60, platforms=("velpic", "accessplanit"), default_limits=False)
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sb.env")
        plan = tmp_path / "plan.toml"
        plan.write_text(PLAN + "limits = { max_creates = 10 }\n")
        out = tmp_path / "preview"
        done = migrator(
            "preview", str(plan), "--env-file", str(env), "--journal", str(tmp_path / "j.sqlite"),
            "--out", str(out), cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 3, done.stdout + done.stderr
        users = json.loads((out / "changeset.json").read_text())["steps"]["users"]
        assert users["read"] == 60 and users["created"] > 10, users  # counted whole, not stopped at 11
        assert (
            users["breach"]
            == f"step users: {users['created']} records created, more than limits.max_creates = 10"
        )
        assert "limit: step users:" in done.stdout and "the run would stop this step" in done.stdout
