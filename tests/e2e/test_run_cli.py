"""`migrator run` as a consultant meets it: exit codes, dead letters, a changed plan, --fresh, `status`,
`demo`, and no secret in any file or output it writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import VELPIC_TO_APIT, entity_stats, migrator, records, run_plan, write_env

PLAN = (
    """
[plan]
name = "cli-checks"
"""
    + VELPIC_TO_APIT
    + """budget = "1000000/hour"
[steps.users]
read  = { from = "velpic", entity = "user", page_size = 50, filter = { activeValue = "all" } }
write = { to = "apit", entity = "user", mode = "upsert", match = "Email" }
map.Forenames = "firstName | trim"
map.Surname = "lastName | trim"
map.Email = "emailAddress | lower"
map.DOB = "%(dob)s"
"""
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=31, scale=150, dirty=0.2, platforms=("velpic", "accessplanit"), default_limits=False
    )
    with SandboxThread(config) as sb:
        yield sb


def _secrets(sb: SandboxThread) -> list[str]:
    env = sb.sandbox.env()
    values = [v for k, v in env.items() if k.endswith(("_KEY", "_PASSWORD", "_TOKEN"))]
    tokens = list(sb.state.platforms["accessplanit"].tokens._tokens)  # type: ignore[attr-defined]
    return values + tokens


def test_rejected_records_exit_3_with_dead_letters_and_no_secret_anywhere(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = write_env(sandbox, tmp_path / "sb.env")
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN % {"dob": "'1990-02-31'"})  # an invalid date: accessplanit answers 400 ModelState
    result = run_plan(plan, tmp_path, env)
    assert result.returncode == 3, result.stdout + result.stderr
    source = records(sandbox.base_url, "velpic", "source", "user")
    status = migrator("status", str(plan), "--journal", str(tmp_path / "journal.sqlite"), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    # every record without an email is refused by the match key rule; the rest by the server's ModelState
    assert f"rejected {len(source):>7,}" in status.stdout
    assert "DOB" in status.stdout or "DateOfBirth" in status.stdout or "Email" in status.stdout

    secrets = _secrets(sandbox)
    assert len(secrets) >= 5
    texts = [result.stdout, result.stderr, status.stdout, status.stderr]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != env]  # the env file holds them, by design
    assert any(p.suffix == ".sqlite" for p in written) and any(p.suffix == ".jsonl" for p in written)
    texts += [p.read_bytes().decode("utf-8", "replace") for p in written]
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_changed_plan_is_refused_then_allowed_or_fresh(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sb.env")
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN % {"dob": "'1990-01-01'"})
    first = run_plan(plan, tmp_path, env)
    assert first.returncode in (0, 3), first.stdout + first.stderr
    users = entity_stats(sandbox.base_url, "accessplanit", "target", "user")

    plan.write_text(PLAN % {"dob": "'1991-01-01'"})
    refused = run_plan(plan, tmp_path, env)
    assert refused.returncode == 2
    assert "plan changed" in refused.stderr and "--allow-plan-change" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert entity_stats(sandbox.base_url, "accessplanit", "target", "user") == users

    allowed = run_plan(plan, tmp_path, env, "--allow-plan-change")
    assert allowed.returncode in (0, 3)
    assert entity_stats(sandbox.base_url, "accessplanit", "target", "user") == users  # done records stay done

    fresh = run_plan(plan, tmp_path, env, "--fresh")
    assert fresh.returncode in (0, 3)
    after = entity_stats(sandbox.base_url, "accessplanit", "target", "user")
    assert after["count"] == users["count"] and after["duplicates"] == 0
    assert after["updates"] > users["updates"]  # upserted again, onto the same records


def test_demo_runs_end_to_end_from_any_folder(tmp_path: Path) -> None:
    # no --plan, in a folder that is not the project's: the demo's plan ships with the package
    result = migrator(
        "demo",
        "--scale",
        "500",
        "--out",
        str(tmp_path / "demo"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr  # the seeded dirty records are expected
    assert "plan demo-velpic-to-velpic: done" in result.stdout
    assert (tmp_path / "demo" / "journal.sqlite").exists()


def test_dry_run_tells_creates_updates_and_rejects_and_writes_nothing(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = write_env(sandbox, tmp_path / "sb.env")
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN % {"dob": "'1990-01-01'"})
    before = entity_stats(sandbox.base_url, "accessplanit", "target", "user")
    dry = run_plan(plan, tmp_path, env, "--dry-run")
    assert dry.returncode in (0, 3), dry.stdout + dry.stderr
    assert "dry run (nothing written)" in dry.stdout
    assert entity_stats(sandbox.base_url, "accessplanit", "target", "user") == before
    source = records(sandbox.base_url, "velpic", "source", "user")
    emails = {u["emailAddress"].lower() for u in source if u["emailAddress"]}
    on_target = {
        u["Email"].lower() for u in records(sandbox.base_url, "accessplanit", "target", "user") if u["Email"]
    }
    no_email = sum(1 for u in source if not u["emailAddress"])
    line = next(x for x in dry.stdout.splitlines() if x.strip().startswith("users"))
    words = line.split()
    assert int(words[words.index("create") + 1].replace(",", "")) == len(emails - on_target)
    assert int(words[words.index("update") + 1].replace(",", "")) == len(source) - no_email - len(
        emails - on_target
    )
    assert int(words[words.index("reject") + 1].replace(",", "")) == no_email
