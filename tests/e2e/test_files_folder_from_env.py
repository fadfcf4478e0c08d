"""A files connection whose ``path`` is a ``${VAR}`` reference (``path = "${EXPORT_DIR}"``: the customer's
export folder, set per machine) is read from the folder the variable names, by ``run``, ``validate`` and
``peek`` alike, through the real CLI against the sandbox (csv-to-accessplanit). Before, the variable was
resolved for the check that it is set, but the folder was then looked for under its literal name."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, migrator, records, run_plan, write_env

TIME_SCALE = "200"


def _plan_reading_from_env(tmp: Path) -> Path:
    """plans/csv-to-accessplanit.toml beside its tables, its export folder named by ``${EXPORT_DIR}``."""
    shutil.copytree(PLANS / "data", tmp / "data")
    text = (PLANS / "csv-to-accessplanit.toml").read_text()
    assert 'path = "data"' in text
    plan = tmp / "csv-to-accessplanit.toml"
    plan.write_text(text.replace('path = "data"', 'path = "${EXPORT_DIR}"', 1))
    return plan


def test_a_files_path_from_the_environment_is_the_folder_read(tmp_path: Path) -> None:
    plan = _plan_reading_from_env(tmp_path)
    export = tmp_path / "customer-export"  # elsewhere than the plan's own data/: only the variable finds it
    export.mkdir()
    for name in ("companies.csv", "learners.csv"):
        shutil.move(tmp_path / "data" / name, export / name)
    with (export / "learners.csv").open(encoding="utf-8", newline="") as fh:
        learners = {row["LearnerID"] for row in csv.DictReader(fh)}
    config = SandboxConfig(
        seed=9, scale=20, platforms=("accessplanit",), default_limits=False, time_scale=float(TIME_SCALE)
    )
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        with env.open("a") as fh:
            fh.write(f"EXPORT_DIR={export}\n")

        checked = migrator("validate", str(plan), "--env-file", str(env), "--connect", cwd=tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        peeked = migrator("peek", str(plan), "learners", "--env-file", str(env), cwd=tmp_path)
        assert peeked.returncode == 0, peeked.stdout + peeked.stderr
        assert f"{len(learners)} records" in peeked.stdout, peeked.stdout

        run = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "${EXPORT_DIR}" not in run.stdout, run.stdout
        on_target = {u["ExternalID"] for u in records(sb.base_url, "accessplanit", "target", "user")}
    assert learners and learners <= on_target
