"""Rate budgets and token expiry against the sandbox: a budget stated in the plan gets 0 × 429; an unstated
one is discovered by AIMD and the run completes; accessplanit tokens expiring mid-run are refreshed without
a failed request reaching the ledger."""

from __future__ import annotations

import time
from pathlib import Path

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import (
    VELPIC_TO_APIT,
    VELPIC_TO_VELPIC,
    entity_stats,
    get_json,
    post_json,
    records,
    run_plan,
    start_run,
    write_env,
)

VELPIC_PLAN = (
    """
[plan]
name = "budget-velpic"
"""
    + VELPIC_TO_VELPIC
    + """concurrency = 8
%(budget)s
[steps.users]
read  = { from = "source", entity = "user", page_size = 50, filter = { activeValue = "all" } }
write = { to = "target", entity = "user", mode = "bulk", match = "empNo", batch = 25 }
map.firstName = "firstName"
map.lastName = "lastName"
map.emailAddress = "emailAddress"
map.employeeNumber = "employeeNumber"
map.roles = [6]
"""
)


def _velpic_run(tmp_path: Path, budget: str) -> tuple[int, dict, int]:
    faults = "velpic/bulkUserImport:rate=6/s,window=fixed"
    config = SandboxConfig(seed=3, scale=300, platforms=("velpic",), default_limits=False, faults=faults)
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sb.env")
        plan = tmp_path / "plan.toml"
        plan.write_text(VELPIC_PLAN % {"budget": budget})
        result = run_plan(plan, tmp_path, env)
        assert result.returncode == 0, result.stdout + result.stderr
        stats = get_json(sb.base_url + "/_sandbox/stats")
        users = entity_stats(sb.base_url, "velpic", "target", "user")
        assert users["duplicates"] == 0
        return users["count"], stats, len(records(sb.base_url, "velpic", "source", "user"))


def test_stated_budget_gets_no_429(tmp_path: Path) -> None:
    count, stats, expected = _velpic_run(
        tmp_path, 'budget = { endpoints = { "/bulkUserImport" = "6/second" } }'
    )
    assert count == expected
    assert stats["rate_limited"] == 0
    assert stats["statuses"]["velpic"].get("429", 0) == 0


def test_unstated_budget_is_discovered_and_the_run_completes(tmp_path: Path) -> None:
    count, stats, expected = _velpic_run(tmp_path, "")
    assert count == expected
    # the sandbox did push back, and the run still wrote everything exactly once
    assert stats["rate_limited"] > 0


APIT_PLAN = (
    """
[plan]
name = "token-expiry"
"""
    + VELPIC_TO_APIT
    + """budget = "1000000/hour"
concurrency = 4
[steps.users]
read  = { from = "velpic", entity = "user", page_size = 50, filter = { activeValue = "all" } }
write = { to = "apit", entity = "user", mode = "upsert", match = "Email" }
map.Forenames = "firstName | trim"
map.Surname = "lastName | trim"
map.Email = "emailAddress | lower"
"""
)


def _apit_sandbox(options: dict[str, object]) -> SandboxThread:
    config = SandboxConfig(
        seed=5,
        scale=200,
        platforms=("velpic", "accessplanit"),
        default_limits=False,
        faults="accessplanit:methods=POST,latency=20ms",
        options=options,
    )
    return SandboxThread(config)


def _check_complete(sb: SandboxThread, tmp_path: Path, stdout: str) -> None:
    users = entity_stats(sb.base_url, "accessplanit", "target", "user")
    assert users["count"] == len(records(sb.base_url, "velpic", "source", "user"))
    assert users["duplicates"] == 0
    assert "step_failed" not in (tmp_path / "run.log.jsonl").read_text()
    assert " rejected       0" in stdout


def test_short_lived_tokens_are_refreshed_before_they_expire(tmp_path: Path) -> None:
    with _apit_sandbox({"accessplanit.token_ttl": 1}) as sb:  # tokens live one second
        env = write_env(sb, tmp_path / "sb.env")
        plan = tmp_path / "plan.toml"
        plan.write_text(APIT_PLAN)
        result = run_plan(plan, tmp_path, env)
        assert result.returncode == 0, result.stdout + result.stderr
        stats = get_json(sb.base_url + "/_sandbox/stats")
        tokens = sum(r["count"] for r in stats["requests"] if r["route"].endswith("/token"))
        assert 1 < tokens < 100  # renewed during the run, not before every request
        _check_complete(sb, tmp_path, result.stdout)


def test_token_expiring_early_is_renewed_once_on_401(tmp_path: Path) -> None:
    with _apit_sandbox({}) as sb:
        env = write_env(sb, tmp_path / "sb.env")
        plan = tmp_path / "plan.toml"
        plan.write_text(APIT_PLAN)
        proc = start_run(plan, tmp_path, env)
        advanced = 0
        deadline = time.monotonic() + 60
        while proc.poll() is None and advanced < 2 and time.monotonic() < deadline:
            created = entity_stats(sb.base_url, "accessplanit", "target", "user")["creates"]
            if created >= 40 * (advanced + 1):
                # the server's clock jumps past the token's hour: the client still thinks it is fresh
                post_json(sb.base_url + "/_sandbox/clock", {"advance": 3700})
                advanced += 1
            time.sleep(0.01)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stdout + stderr
        assert advanced == 2
        stats = get_json(sb.base_url + "/_sandbox/stats")
        assert stats["statuses"]["accessplanit"].get("401", 0) > 0  # requests met an expired token
        _check_complete(sb, tmp_path, stdout)


def test_a_connection_never_has_more_requests_in_flight_than_its_concurrency(tmp_path: Path) -> None:
    """As the server counts them (from arrival to answer, the 20 ms of latency included), the target's
    requests — upserts, lookups, its token — are never more than the connection's ``concurrency = 4`` at once,
    and do reach more than one: the write stage keeps the connection busy."""
    with _apit_sandbox({}) as sb:
        env = write_env(sb, tmp_path / "sb.env")
        plan = tmp_path / "plan.toml"
        plan.write_text(APIT_PLAN)
        result = run_plan(plan, tmp_path, env)
        assert result.returncode == 0, result.stdout + result.stderr
        peak = get_json(sb.base_url + "/_sandbox/stats")["peak_in_flight"]
        _check_complete(sb, tmp_path, result.stdout)
    assert 2 <= peak["accessplanit"] <= 4
