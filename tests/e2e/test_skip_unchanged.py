"""Updates the target already holds are not sent: a re-run (a new journal) against a target that holds the
migration, after 10 source records changed, sends exactly those 10 — on an accessplanit ``$upsert`` route (one
request per record) and on the Velpic ``bulkUserImport`` route (one request for the 10 rows) — and counts
the others *unchanged*."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, VELPIC_TO_APIT, entity_stats, get_json, records, run_plan, write_env

UPSERT = (
    """
[plan]
name = "skip-unchanged"
"""
    + VELPIC_TO_APIT
    + """budget = "1000000/hour"
[steps.users]
read  = { from = "velpic", entity = "user", page_size = 50, filter = { activeValue = "all" } }
write = { to = "apit", entity = "user", mode = "upsert", match = "ExternalID" }
map.Forenames = "firstName | trim"
map.Surname = "lastName | trim"
map.Email = "emailAddress | lower"
map.ExternalID = "'vu-' + id"
"""
)


def _requests(base: str, platform: str, method: str, route_end: str) -> int:
    stats = get_json(base + "/_sandbox/stats")
    return sum(
        r["count"]
        for r in stats["requests"]
        if r["platform"] == platform and r["method"] == method and r["route"].endswith(route_end)
    )


def _rename(base: str, key: str, users: list[dict[str, Any]]) -> None:
    """Change the last name of ``users`` on the Velpic source, through its API."""
    for u in users:
        keys = ("id", "firstName", "emailAddress", "phoneNumber", "mobileNumber", "employeeNumber", "roles")
        body = {k: u[k] for k in (*keys, "timeZone")}
        body["lastName"] = u["lastName"] + "-Changed"
        req = urllib.request.Request(
            f"{base}/velpic/api/v2/user/{u['id']}",
            data=json.dumps(body).encode(),
            headers={"AccessKey": key, "Content-Type": "application/json"},
            method="PUT",
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200


def _step_line(stdout: str, step: str) -> dict[str, int]:
    words = next(x for x in stdout.splitlines() if x.strip().startswith(step)).split()
    return {
        w: int(words[i + 1].replace(",", "")) for i, w in enumerate(words[:-1]) if words[i + 1][0].isdigit()
    }


def test_a_rerun_upserts_only_the_changed_records(tmp_path: Path) -> None:
    config = SandboxConfig(seed=51, scale=150, platforms=("velpic", "accessplanit"), default_limits=False)
    with SandboxThread(config) as sb:
        base = sb.base_url
        env = write_env(sb, tmp_path / "sb.env")
        plan = tmp_path / "plan.toml"
        plan.write_text(UPSERT)
        first = run_plan(plan, tmp_path, env)
        assert first.returncode == 0, first.stdout + first.stderr
        written = _step_line(first.stdout, "users")
        total = written["created"] + written["updated"]

        source = records(base, "velpic", "source", "user")
        changed = source[10:20]
        _rename(base, sb.sandbox.env()["VELPIC_SOURCE_ACCESS_KEY"], changed)
        posts = _requests(base, "accessplanit", "POST", "/user")
        gets = _requests(base, "accessplanit", "GET", "/user")
        stats = entity_stats(base, "accessplanit", "target", "user")

        again = run_plan(plan, tmp_path, env, "--fresh")  # a new journal: every record is read and mapped
        assert again.returncode == 0, again.stdout + again.stderr
        assert _requests(base, "accessplanit", "POST", "/user") - posts == 10
        # the target's users read by pages once, the 10 records sent whole from that read: no read per record
        assert _requests(base, "accessplanit", "GET", "/user") - gets <= 4
        line = _step_line(again.stdout, "users")
        assert line["updated"] == 10, again.stdout
        assert line["created"] == 0
        assert line["unchanged"] == total - 10
        after = entity_stats(base, "accessplanit", "target", "user")
        assert after["updates"] - stats["updates"] == 10
        assert after["count"] == stats["count"]
        target = {u["ExternalID"]: u for u in records(base, "accessplanit", "target", "user")}
        for u in changed:
            assert target[f"vu-{u['id']}"]["Surname"] == (u["lastName"] + "-Changed").strip()


def test_a_rerun_imports_only_the_changed_rows(tmp_path: Path) -> None:
    config = SandboxConfig(seed=53, scale=150, platforms=("velpic",), default_limits=False)
    plan = PLANS / "velpic-to-velpic.toml"
    with SandboxThread(config) as sb:
        base = sb.base_url
        env = write_env(sb, tmp_path / "sb.env")
        first = run_plan(plan, tmp_path, env)
        assert first.returncode == 0, first.stdout + first.stderr
        written = _step_line(first.stdout, "users")

        active = [u for u in records(base, "velpic", "source", "user") if u["clientStatusId"] == 56]
        changed = active[5:15]
        _rename(base, sb.sandbox.env()["VELPIC_SOURCE_ACCESS_KEY"], changed)
        imports = _requests(base, "velpic", "POST", "/bulkUserImport")
        stats = entity_stats(base, "velpic", "target", "user")

        again = run_plan(plan, tmp_path, env, "--fresh")
        assert again.returncode == 0, again.stdout + again.stderr
        line = _step_line(again.stdout, "users")
        assert line["created"] + line["updated"] == 10  # the import's answer does not tell one from the other
        assert line["unchanged"] == written["created"] + written["updated"] - 10
        assert _requests(base, "velpic", "POST", "/bulkUserImport") - imports == 1  # one request, 10 rows
        after = entity_stats(base, "velpic", "target", "user")
        assert after["updates"] - stats["updates"] == 10
        assert after["count"] == stats["count"]
        target = {u["employeeNumber"]: u for u in records(base, "velpic", "target", "user")}
        for u in changed:
            assert target[u["employeeNumber"]]["lastName"] == u["lastName"] + "-Changed"
