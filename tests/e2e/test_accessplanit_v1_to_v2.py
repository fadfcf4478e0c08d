"""plans/accessplanit-v1-to-v2.toml end to end: companies and users read from the v1 feeds (PageSize/PageIndex
from 1, bare arrays, a bearer token from /token under the v1 base) and upserted into v2 by ExternalID; company
main contacts linked through the users' crosswalk; a second run writes nothing.

The plan keeps its documented 5000/hour budgets: the sandbox runs at ``TIME_SCALE`` (and without its own
limits) and ``migrator run --time-scale`` scales the client's budgets to match, so nothing waits an hour."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, entity_stats, get_json, records, run_plan, write_env

PLAN = PLANS / "accessplanit-v1-to-v2.toml"
COMPANY_FIELDS = ("ExternalID", "EmailAddress", "AddressLineOne", "Town", "County", "Postcode", "Country")
TIME_SCALE = "200"
USER_FIELDS = (
    "Forenames",
    "MiddleNames",
    "Surname",
    "Email",
    "Mobile",
    "Phone",
    "DOB",
    "JobTitle",
    "MainRoleID",
)


@pytest.fixture(scope="module")
def sandbox(sandbox_profile: str) -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=5,
        scale=300,
        platforms=("accessplanit",),
        default_limits=False,
        time_scale=float(TIME_SCALE),
        profile=sandbox_profile,
    )
    with SandboxThread(config) as sb:
        yield sb


def test_companies_and_users_arrive_in_v2_with_links(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    first = run_plan(PLAN, tmp_path, env, "--time-scale", TIME_SCALE)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Traceback" not in first.stderr

    base = sandbox.base_url
    src_companies = records(base, "accessplanit", "source", "company")
    src_users = records(base, "accessplanit", "source", "user")
    dst_companies = {c["ExternalID"]: c for c in records(base, "accessplanit", "target", "company")}
    dst_users = {u["ExternalID"]: u for u in records(base, "accessplanit", "target", "user")}
    assert len(dst_companies) == len(src_companies) > 1
    assert len(dst_users) == len(src_users) > 250

    company_id = {c["ID"]: dst_companies[c["ExternalID"]]["ID"] for c in src_companies}
    user_id = {u["ID"]: dst_users[u["ExternalID"]]["ID"] for u in src_users}
    for u in src_users:
        t = dst_users[u["ExternalID"]]
        for f in USER_FIELDS:
            assert t[f] == u[f], (u["ID"], f)
        assert t["Status"] == u["Status"]
        assert t["MainCompanyID"] == company_id[u["MainCompanyID"]]
    for c in src_companies:
        t = dst_companies[c["ExternalID"]]
        assert t["Name"] == c["Name"].strip()
        for f in COMPANY_FIELDS:
            assert t[f] == c[f], (c["ID"], f)
        if c["MainContactUserID"]:
            assert t["MainContactUserID"] == user_id[c["MainContactUserID"]]

    companies = entity_stats(base, "accessplanit", "target", "company")
    users = entity_stats(base, "accessplanit", "target", "user")
    assert companies["duplicates"] == 0 and users["duplicates"] == 0
    requests = [r for r in _requests(base) if "/api/v1/" in r]
    assert requests, "the plan must read the v1 feeds"

    second = run_plan(PLAN, tmp_path, env, "--time-scale", TIME_SCALE)
    assert second.returncode == 0, second.stdout + second.stderr
    assert entity_stats(base, "accessplanit", "target", "company") == companies
    assert entity_stats(base, "accessplanit", "target", "user") == users


def _requests(base: str) -> list[str]:
    stats = get_json(f"{base}/_sandbox/stats")
    return [str(k) for k in stats.get("requests", {})]
