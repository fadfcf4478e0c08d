"""A dry run explains itself: its would-reject records with their reasons in ``errors.csv`` of a report of
its own (labelled "dry run — nothing was written", beside the journal, apart from the run's reports), its
would-create / would-update counts in ``summary.csv``, and a summary that points at it; the journal and the
target are left as they were."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import VELPIC_TO_APIT, entity_stats, migrator, records, write_env

PLAN = (
    """
[plan]
name = "dry-checks"
"""
    + VELPIC_TO_APIT
    + """budget = "1000000/hour"
[steps.users]
read  = { from = "velpic", entity = "user", page_size = 50, filter = { activeValue = "all" } }
write = { to = "apit", entity = "user", mode = "upsert", match = "Email" }
map.Forenames = "firstName | trim"
map.Surname = "lastName | trim"
map.Email = "emailAddress | lower"
"""
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=37, scale=120, dirty=0.2, platforms=("velpic", "accessplanit"), default_limits=False
    )
    with SandboxThread(config) as sb:
        yield sb


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_a_dry_run_writes_its_rejections_with_reasons_in_its_own_report(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = write_env(sandbox, tmp_path / "sb.env")
    (tmp_path / "plan.toml").write_text(PLAN)
    journal = tmp_path / "journal.sqlite"
    before = entity_stats(sandbox.base_url, "accessplanit", "target", "user")
    dry = migrator(
        "run",
        "plan.toml",
        "--env-file",
        str(env),
        "--journal",
        str(journal),
        "--plain",
        "--dry-run",
        cwd=tmp_path,
    )
    assert dry.returncode == 3, dry.stdout + dry.stderr
    source = records(sandbox.base_url, "velpic", "source", "user")
    no_email = sorted(str(u["id"]) for u in source if not u["emailAddress"])
    assert no_email, "the dirty sandbox seeds users without an email"

    folder = tmp_path / "journal.sqlite.dry-run"
    assert f"dry-run report (DRY RUN — nothing was written): {folder}" in dry.stdout
    assert f"(errors.csv: {len(no_email)} would-reject records with reasons)" in dry.stdout
    errors = _csv(folder / "errors.csv")
    assert sorted(row["source_key"] for row in errors) == no_email
    assert all(row["step"] == "users" and row["reason"] for row in errors)
    assert all("Email" in row["reason"] or "email" in row["reason"].lower() for row in errors), errors[0]
    assert (folder / "README.txt").read_text().startswith("DRY RUN — nothing was written\n")
    (summary,) = _csv(folder / "summary.csv")
    assert int(summary["would_reject"]) == len(no_email)
    assert int(summary["would_create"]) + int(summary["would_update"]) == len(source) - len(no_email)
    assert int(summary["would_create"]) > 0

    # nothing written: the target, the journal's dead letters, the run's own reports folder
    assert entity_stats(sandbox.base_url, "accessplanit", "target", "user") == before
    assert not (tmp_path / "journal.sqlite.reports").exists()
    status = migrator("status", "plan.toml", "--journal", str(journal), cwd=tmp_path)
    assert "dead letters" not in status.stdout, status.stdout
