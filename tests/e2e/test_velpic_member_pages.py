"""A Velpic whose lists answer fewer rows than asked (``velpic.max_page_size``: no largest page is documented),
through the real CLI: plans/onefile-to-velpic.toml loaded once, then loaded again with a journal of its own —
a target that already holds every membership, as a customer's does when a load is redone — and that second
load undone. Each group's members and supervisors are read to their last page, so the second load adds no one
and names no one as added, and its undo takes no member or supervisor out of a group: every user is in the
groups the first load left it in."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, migrator, records, run_plan, write_env

PLAN = PLANS / "onefile-to-velpic.toml"
PAGE = 3  # rows a Velpic list answers, whatever maxResults asks
MEMBERSHIPS = ("classroom_members", "caseload_members", "classroom_supervisors", "caseload_supervisors")


def _groups_of_users(base: str) -> dict[str, tuple[list[int], list[int]]]:
    """Each target user's groups and supervised groups, by employee number."""
    return {
        u["employeeNumber"]: (
            sorted(g["id"] for g in u["groups"]),
            sorted(g["id"] for g in u["groupsSupervised"]),
        )
        for u in records(base, "velpic", "target", "user")
    }


def _actions(journal: Path) -> dict[str, dict[str, int]]:
    """step → action → records, as the journal's ledger holds them."""
    conn = sqlite3.connect(journal)
    try:
        rows = conn.execute("SELECT step, action, count(*) FROM records GROUP BY step, action").fetchall()
    finally:
        conn.close()
    out: dict[str, dict[str, int]] = {}
    for step, action, count in rows:
        out.setdefault(step, {})[action] = count
    return out


def test_a_load_redone_adds_no_member_and_its_undo_takes_none_out(tmp_path: Path) -> None:
    config = SandboxConfig(
        seed=5,
        scale=120,
        platforms=("onefile", "velpic"),
        default_limits=False,
        options={"velpic.max_page_size": PAGE},
    )
    first_dir, again_dir = tmp_path / "first", tmp_path / "again"
    first_dir.mkdir()
    again_dir.mkdir()
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        first = run_plan(PLAN, first_dir, env)
        assert first.returncode == 0, first.stdout + first.stderr
        loaded = _groups_of_users(sb.base_url)
        group_sizes: dict[int, int] = {}
        for groups, _ in loaded.values():
            for g in groups:
                group_sizes[g] = group_sizes.get(g, 0) + 1
        assert max(group_sizes.values()) > 2 * PAGE  # groups of several pages

        again = run_plan(PLAN, again_dir, env)
        assert again.returncode == 0, again.stdout + again.stderr
        actions = _actions(again_dir / "journal.sqlite")
        for step in MEMBERSHIPS:
            assert set(actions.get(step, {})) <= {"unchanged"}, (step, actions.get(step))
        assert sum(actions.get("classroom_members", {}).values()) > 0
        assert _groups_of_users(sb.base_url) == loaded

        undo = ["undo", str(PLAN), "--env-file", str(env), "--journal", str(again_dir / "journal.sqlite")]
        undone = migrator(*undo, "--yes", cwd=again_dir)
        assert undone.returncode == 0, undone.stdout + undone.stderr
        assert _groups_of_users(sb.base_url) == loaded
