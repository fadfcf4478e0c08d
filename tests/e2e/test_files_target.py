"""A staging file as the target: Velpic users → `staging/users.csv` through the real CLI; every mapped field is
in the file, the file is the owner's only (0600, its folder 0700), and a second run (or a resumed one) appends
nothing."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import records, run_plan, write_env

PLAN = """
[plan]
name = "velpic-to-staging"
[connections.velpic]
platform = "velpic"
base_url = "${VELPIC_BASE_URL}"
access_key = "${VELPIC_SOURCE_ACCESS_KEY}"
[connections.staging]
platform = "files"
path = "staging"
[steps.users]
read  = { from = "velpic", entity = "user", page_size = 40, filter = { activeValue = "all" } }
write = { to = "staging", entity = "users", mode = "create", match = "EmployeeNumber" }
map.EmployeeNumber = "employeeNumber"
map.FirstName = "firstName | trim"
map.LastName = "lastName | trim"
map.Email = "emailAddress | lower"
"""


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_users_are_staged_once_with_every_mapped_field(tmp_path: Path) -> None:
    config = SandboxConfig(seed=17, scale=150, platforms=("velpic",), default_limits=False)
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sb.env")
        plan = tmp_path / "plan.toml"
        plan.write_text(PLAN)
        first = run_plan(plan, tmp_path, env)
        assert first.returncode == 0, first.stdout + first.stderr
        staged = tmp_path / "staging" / "users.csv"
        assert stat.S_IMODE(staged.stat().st_mode) == 0o600
        assert stat.S_IMODE(staged.parent.stat().st_mode) == 0o700
        rows = _rows(staged)
        source = records(sb.base_url, "velpic", "source", "user")
        assert len(rows) == len(source)
        by_emp = {r["EmployeeNumber"]: r for r in rows}
        for u in source:
            r = by_emp[u["employeeNumber"]]
            assert (r["FirstName"], r["LastName"]) == (u["firstName"].strip(), u["lastName"].strip())
            assert r["Email"] == (u["emailAddress"] or "").lower()

        size = staged.stat().st_size
        again = run_plan(plan, tmp_path, env, "--fresh")  # a new journal: the file's own key index stops it
        assert again.returncode == 0, again.stdout + again.stderr
        assert staged.stat().st_size == size
        assert len(_rows(staged)) == len(source)
