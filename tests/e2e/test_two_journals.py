"""A create-only step never creates a record the target already has: run by another journal, or put there
by the customer's own hands, it is linked (its id goes to the crosswalk), not created again."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import orjson
import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, entity_stats, migrator, records, run_plan, write_env

PLAN = PLANS / "velpic-to-velpic.toml"


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig(seed=5, scale=120, platforms=("velpic",))) as sb:
        yield sb


def _create_group(sandbox: SandboxThread, body: dict[str, Any]) -> dict[str, Any]:
    """A group made on the target through Velpic's own API, as the customer would."""
    env = sandbox.sandbox.env()
    request = Request(
        env["VELPIC_BASE_URL"] + "/group",
        data=orjson.dumps(body),
        headers={"AccessKey": env["VELPIC_TARGET_ACCESS_KEY"], "Content-Type": "application/json"},
        method="POST",
    )
    with urlopen(request) as answer:
        made: dict[str, Any] = orjson.loads(answer.read())
    return made


def test_a_second_journal_links_what_the_first_created(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = run_plan(PLAN, tmp_path / "a", env)
    assert first.returncode == 0, first.stdout + first.stderr
    groups = entity_stats(sandbox.base_url, "velpic", "target", "group")

    second = run_plan(PLAN, tmp_path / "b", env)  # another journal, the same target
    assert second.returncode == 0, second.stdout + second.stderr
    after = entity_stats(sandbox.base_url, "velpic", "target", "group")
    assert after["count"] == groups["count"] and after["duplicates"] == 0
    assert entity_stats(sandbox.base_url, "velpic", "target", "user")["duplicates"] == 0


def test_a_group_the_customer_made_is_linked(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    base = sandbox.base_url
    name = next(g["name"] for g in records(base, "velpic", "source", "group"))
    made = _create_group(sandbox, {"name": name, "description": "made by the customer"})
    run = run_plan(PLAN, tmp_path, env)
    assert run.returncode == 0, run.stdout + run.stderr
    on_target = [g for g in records(base, "velpic", "target", "group") if g["name"] == name]
    assert [g["id"] for g in on_target] == [made["id"]]
    assert on_target[0]["description"] == "made by the customer"
    assert entity_stats(base, "velpic", "target", "group")["duplicates"] == 0


def test_verify_reports_target_records_that_share_a_match_value(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    run = run_plan(PLAN, tmp_path, env)
    assert run.returncode == 0, run.stdout + run.stderr

    def verify() -> subprocess.CompletedProcess[str]:
        return migrator(
            "verify", str(PLAN), "--env-file", str(env), "--journal", str(tmp_path / "journal.sqlite"),
            "--out", str(tmp_path / "verify"), cwd=tmp_path,
        )  # fmt: skip

    clean = verify()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    name = next(g["name"] for g in records(sandbox.base_url, "velpic", "target", "group"))
    twin = _create_group(sandbox, {"name": name, "description": "a second one, by hand"})
    found = verify()
    assert found.returncode == 1, found.stdout + found.stderr
    assert "duplicates 2;" in found.stdout
    rows = (tmp_path / "verify" / "verify.csv").read_text()
    assert f"{twin['id']},duplicate,name," in rows
