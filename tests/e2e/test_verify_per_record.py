"""``migrator verify`` on plans/velpic-to-aNewSpring.toml says what its reads cost and why: aNewSpring has no
list call that answers the fields a verification compares (``getUsers`` lists id, uid, name, login, email and
active; a subscription is listed per user), so the target is read record by record. The counts it prints are
the requests the sandbox counted during the verify, one per user plus the list, for users and subscriptions
alike; the report's verification section names them too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, get_json, migrator, run_plan, write_env

PLAN = PLANS / "velpic-to-anewspring.toml"
USERS = 40


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    config = SandboxConfig(seed=3, scale=USERS, time_scale=60, platforms=("velpic", "anewspring"))
    with SandboxThread(config) as sb:
        yield sb


def _gets(sandbox: SandboxThread) -> dict[str, int]:
    stats = get_json(sandbox.base_url + "/_sandbox/stats")
    return {
        r["route"].rsplit("/api/", 1)[1]: r["count"]
        for r in stats["requests"]
        if r["platform"] == "anewspring" and r["method"] == "GET"
    }


def test_verify_names_its_per_record_reads_with_the_requests_it_sent(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    assert run_plan(PLAN, tmp_path, env, "--time-scale", "60").returncode == 0
    before = _gets(sandbox)
    verify = migrator(
        "verify", str(PLAN), "--env-file", str(env), "--journal", str(tmp_path / "journal.sqlite"),
        "--time-scale", "60", cwd=tmp_path,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    after = _gets(sandbox)
    sent = {route: n - before.get(route, 0) for route, n in after.items()}
    notes = dict(
        re.findall(r"target anewspring\.(\w+) read record by record: ([\d,]+) requests", verify.stdout)
    )
    # one getUsers list per read, then one request per user: getUser/{userID}, getSubscriptions/{userID}
    assert sent["getUser/{userID}"] == USERS and sent["getSubscriptions/{userID}"] == USERS
    assert sent["getUsers"] == 2
    assert {k: int(v) for k, v in notes.items()} == {"user": USERS + 1, "subscription": USERS + 1}
    assert "getUsers lists id, uid, name, login, email and active only" in verify.stdout
    page = (tmp_path / "journal.sqlite.reports" / "report.html").read_text()
    assert 'class="verify-per-record"' in page and f"{USERS + 1} requests for {USERS} records" in page
