"""A ``--delta`` reads changes since the last run by the source's own clock: a client clock an hour fast at
the first run (its local start an hour ahead) does not make the delta skip what changed."""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from pathlib import Path

from migrator.runtime.delta import delta_origins, server_clock
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, entity_stats, records, run_plan, source_apit_token, write_env

HOUR = 3600.0


def test_server_clock_reads_the_date_header() -> None:
    assert server_clock({"date": "Tue, 01 Dec 2026 20:53:33 GMT"}) == 1796158413.0
    assert server_clock({"Date": "not a date"}) is None and server_clock({}) is None


def test_delta_origins_prefer_each_steps_source_clock() -> None:
    runs = [
        {"id": 1, "started": 100.0, "status": "done"},
        {"id": 2, "started": 200.0, "status": "failed"},
        {"id": 3, "started": 300.0, "status": "done"},
    ]
    stats = {3: {"steps": {"users": {"source_clock": 250.0}, "groups": {"source_clock": None}}}}
    assert delta_origins(runs, stats) == {"users": 250.0, "groups": 300.0, "*": 300.0}
    assert delta_origins([{"id": 1, "started": 1.0, "status": "failed"}], {}) == {}


def test_a_fast_local_clock_does_not_hide_changes_from_a_delta(tmp_path: Path) -> None:
    config = SandboxConfig(seed=53, scale=80, platforms=("accessplanit", "velpic"))
    plan = PLANS / "accessplanit-to-velpic.toml"
    with SandboxThread(config) as sb:
        base = sb.base_url
        env_map = sb.sandbox.env()
        env = write_env(sb, tmp_path / "sb.env")
        first = run_plan(plan, tmp_path, env)
        assert first.returncode in (0, 3), first.stdout + first.stderr
        with sqlite3.connect(tmp_path / "journal.sqlite") as db:  # the first run's clock was an hour fast
            db.execute("UPDATE runs SET started = started + ?", (HOUR,))
        before = entity_stats(base, "velpic", "target", "user")

        token = source_apit_token(env_map)
        active = [u for u in records(base, "accessplanit", "source", "user") if u.get("Status") == "Active"]
        changed = [u for u in active if u.get("Email")][:3]
        for u in changed:
            req = urllib.request.Request(
                f"{env_map['ACCESSPLANIT_V2_BASE_URL']}/user/{u['ID']}",
                data=json.dumps({"Surname": u["Surname"] + "-Changed"}).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                method="PUT",
            )
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.status == 200

        delta = run_plan(plan, tmp_path, env, "--delta")
        assert delta.returncode in (0, 3), delta.stdout + delta.stderr
        after = entity_stats(base, "velpic", "target", "user")
        assert after["updates"] - before["updates"] == len(changed)
        surnames = {u["lastName"] for u in records(base, "velpic", "target", "user")}
        assert {u["Surname"].strip() + "-Changed" for u in changed} <= surnames
