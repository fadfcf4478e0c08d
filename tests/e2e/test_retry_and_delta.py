"""`migrator run --retry-rejected` after a plan fix writes exactly the previously rejected records;
`migrator run --delta` after 10 source records changed writes exactly those 10."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path

from migrator.journal import Journal
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import (
    PLANS,
    VELPIC_TO_APIT,
    entity_stats,
    get_json,
    records,
    run_plan,
    source_apit_token,
    write_env,
)

PLAN = (
    """
[plan]
name = "retry-rejected"
"""
    + VELPIC_TO_APIT
    + """budget = "1000000/hour"
[steps.users]
read  = { from = "velpic", entity = "user", page_size = 40, filter = { activeValue = "all" } }
write = { to = "apit", entity = "user", mode = "upsert", match = "%(match)s" }
map.Forenames = "firstName | trim"
map.Surname = "lastName | trim"
map.Email = "emailAddress | lower"
map.ExternalID = "'vu-' + id"
"""
)


def _user_posts(base: str) -> int:
    stats = get_json(base + "/_sandbox/stats")
    return sum(
        r["count"]
        for r in stats["requests"]
        if r["platform"] == "accessplanit" and r["method"] == "POST" and r["route"].endswith("/user")
    )


def test_retry_rejected_writes_exactly_the_dead_letters(tmp_path: Path) -> None:
    config = SandboxConfig(
        seed=41, scale=200, dirty=0.2, platforms=("velpic", "accessplanit"), default_limits=False
    )
    with SandboxThread(config) as sb:
        base = sb.base_url
        env = write_env(sb, tmp_path / "sb.env")
        plan = tmp_path / "plan.toml"
        plan.write_text(PLAN % {"match": "Email"})  # users without an email cannot be matched: rejected
        first = run_plan(plan, tmp_path, env)
        assert first.returncode == 3, first.stdout + first.stderr
        with Journal.open(tmp_path / "journal.sqlite", "retry-rejected") as j:
            rejected = j.keys_in_state("users", "rejected")
        no_email = [u for u in records(base, "velpic", "source", "user") if not u["emailAddress"]]
        assert len(rejected) == len(no_email) > 0
        before_users = entity_stats(base, "accessplanit", "target", "user")
        before_posts = _user_posts(base)

        plan.write_text(PLAN % {"match": "ExternalID"})  # the fix: match on the external id instead
        retry = run_plan(plan, tmp_path, env, "--retry-rejected")
        assert retry.returncode == 0, retry.stdout + retry.stderr
        assert _user_posts(base) - before_posts == len(rejected)
        after = entity_stats(base, "accessplanit", "target", "user")
        assert after["count"] == before_users["count"] + len(rejected)
        assert after["updates"] == before_users["updates"]
        with Journal.open(tmp_path / "journal.sqlite", "retry-rejected") as j:
            assert j.keys_in_state("users", "rejected") == set()
        created = {u["ExternalID"] for u in records(base, "accessplanit", "target", "user")}
        assert {f"vu-{u['id']}" for u in no_email} <= created


def _change_source_users(base: str, key: str, users: list[dict]) -> None:
    for u in users:
        body = {
            k: u[k]
            for k in (
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
        body["lastName"] = u["lastName"] + "-Changed"
        req = urllib.request.Request(
            f"{base}/velpic/api/v2/user/{u['id']}",
            data=json.dumps(body).encode(),
            headers={"AccessKey": key, "Content-Type": "application/json"},
            method="PUT",
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200


def test_delta_writes_exactly_the_changed_records(tmp_path: Path) -> None:
    config = SandboxConfig(seed=43, scale=300, platforms=("velpic",), default_limits=False)
    plan = PLANS / "velpic-to-velpic.toml"
    with SandboxThread(config) as sb:
        base = sb.base_url
        env = write_env(sb, tmp_path / "sb.env")
        first = run_plan(plan, tmp_path, env)
        assert first.returncode == 0, first.stdout + first.stderr
        before = entity_stats(base, "velpic", "target", "user")

        active = [u for u in records(base, "velpic", "source", "user") if u["clientStatusId"] == 56]
        changed = active[5:15]
        _change_source_users(base, sb.sandbox.env()["VELPIC_SOURCE_ACCESS_KEY"], changed)

        delta = run_plan(plan, tmp_path, env, "--delta")
        assert delta.returncode == 0, delta.stdout + delta.stderr
        after = entity_stats(base, "velpic", "target", "user")
        assert after["count"] == before["count"]
        assert after["updates"] - before["updates"] == 10
        assert after["creates"] == before["creates"]
        target = {u["employeeNumber"]: u for u in records(base, "velpic", "target", "user")}
        for u in changed:
            assert target[u["employeeNumber"]]["lastName"] == u["lastName"] + "-Changed"
        # a second delta pass finds nothing to write
        again = run_plan(plan, tmp_path, env, "--delta")
        assert again.returncode == 0
        assert entity_stats(base, "velpic", "target", "user") == after


def test_delta_reads_only_what_changed_where_the_source_has_a_modified_date(tmp_path: Path) -> None:
    scale = "200"
    config = SandboxConfig(seed=47, scale=120, platforms=("accessplanit", "velpic"), time_scale=float(scale))
    plan = PLANS / "accessplanit-to-velpic.toml"
    with SandboxThread(config) as sb:
        base = sb.base_url
        env_map = sb.sandbox.env()
        env = write_env(sb, tmp_path / "sb.env")
        first = run_plan(plan, tmp_path, env, "--time-scale", scale)
        assert first.returncode in (0, 3), first.stdout + first.stderr
        before = entity_stats(base, "velpic", "target", "user")
        user_reads = _user_reads(base)

        token = source_apit_token(env_map)
        active = [u for u in records(base, "accessplanit", "source", "user") if u.get("Status") == "Active"]
        changed = [u for u in active if u.get("Email")][:10]
        for u in changed:
            req = urllib.request.Request(
                f"{env_map['ACCESSPLANIT_V2_BASE_URL']}/user/{u['ID']}",
                data=json.dumps({"Surname": u["Surname"] + "-Changed"}).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                method="PUT",
            )
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.status == 200

        delta = run_plan(plan, tmp_path, env, "--delta", "--time-scale", scale)
        assert delta.returncode in (0, 3), delta.stdout + delta.stderr
        after = entity_stats(base, "velpic", "target", "user")
        assert after["updates"] - before["updates"] == 10
        assert after["creates"] == before["creates"]
        users_line = next(x for x in delta.stdout.splitlines() if x.strip().startswith("users"))
        assert users_line.split()[users_line.split().index("read") + 1] == "10"  # only the changed ones read
        # three steps read users (users, active_for_history, user_status), each for two statuses (one $filter
        # per value): one page each, every read narrowed by DateUpdated
        assert _user_reads(base) - user_reads == 6
        log = (tmp_path / "run.log.jsonl").read_text()
        assert '"narrowed_by_modified_date":true' in log.replace(" ", "")


def _user_reads(base: str) -> int:
    stats = get_json(base + "/_sandbox/stats")
    return sum(
        r["count"]
        for r in stats["requests"]
        if r["platform"] == "accessplanit" and r["method"] == "GET" and r["route"].endswith("/user")
    )
