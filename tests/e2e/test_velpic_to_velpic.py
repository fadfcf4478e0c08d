"""plans/velpic-to-velpic.toml end to end: groups by name, users of every status by bulkUserImport (mergeType
empNo) with their roles through the plan's table, their status and their group memberships through the
crosswalk, each crosswalk row on the target record with its source's key; a second run writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.crosswalk_check import assert_crosswalk_carries_keys, crosswalk
from tests.e2e.helpers import PLANS, entity_stats, records, run_plan, write_env

PLAN = PLANS / "velpic-to-velpic.toml"


@pytest.fixture(scope="module")
def sandbox(sandbox_profile: str) -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig(seed=11, scale=600, platforms=("velpic",), profile=sandbox_profile)) as sb:
        yield sb


def test_every_user_arrives_with_mapped_fields_and_groups(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    first = run_plan(PLAN, tmp_path, env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Traceback" not in first.stderr

    base = sandbox.base_url
    src_groups = {g["id"]: g for g in records(base, "velpic", "source", "group")}
    dst_groups = {g["name"]: g for g in records(base, "velpic", "target", "group")}
    assert set(dst_groups) == {g["name"] for g in src_groups.values()}
    for gid, g in src_groups.items():
        assert dst_groups[g["name"]]["description"] == f"Migrated from Velpic group {gid}"

    group_map = {gid: dst_groups[g["name"]]["id"] for gid, g in src_groups.items()}
    every = records(base, "velpic", "source", "user")
    target = {u["employeeNumber"]: u for u in records(base, "velpic", "target", "user")}
    assert len(target) == len(every) > 500
    owner_to_admin = {3: 3, 4: 4, 5: 5, 6: 6, 7: 3, 8: 8}
    for u in every:
        t = target[u["employeeNumber"]]
        assert t["firstName"] == u["firstName"]
        assert t["lastName"] == u["lastName"]
        assert t["emailAddress"] == u["emailAddress"].lower()
        assert t["clientStatusId"] == u["clientStatusId"]
        assert sorted(t["roles"]) == sorted({owner_to_admin[r] for r in u["roles"]})
        assert sorted(g["id"] for g in t["groups"]) == sorted(group_map[g["id"]] for g in u["groups"])
        assert sorted(g["id"] for g in t["groupsSupervised"]) == sorted(
            group_map[g["id"]] for g in u["groupsSupervised"]
        )

    source_users, target_users = records(base, "velpic", "source", "user"), list(target.values())
    assert_crosswalk_carries_keys(
        crosswalk(PLAN, tmp_path, "users"),
        source_users,
        target_users,
        source_key=lambda u: u["employeeNumber"],
        target_key=lambda u: u["employeeNumber"],
    )
    assert_crosswalk_carries_keys(
        crosswalk(PLAN, tmp_path, "groups"),
        src_groups.values(),
        dst_groups.values(),
        source_key=lambda g: g["name"],
        target_key=lambda g: g["name"],
    )

    users = entity_stats(base, "velpic", "target", "user")
    groups = entity_stats(base, "velpic", "target", "group")
    assert users["duplicates"] == 0 and groups["duplicates"] == 0

    # a second run of the same plan writes nothing
    second = run_plan(PLAN, tmp_path, env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert entity_stats(base, "velpic", "target", "user") == users
    assert entity_stats(base, "velpic", "target", "group") == groups
