"""A journal belongs to the accounts it was started with: the same plan run with another customer's env file
on that journal is refused before any request (it would skip the other customer's records as done and send
the first customer's crosswalk ids), with the way to give the new customer its own journal; a regenerated key
of the same customer resumes with --same-customers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, entity_stats, get_json, post_json, records, run_plan, write_env

PLAN = PLANS / "velpic-to-velpic.toml"


def _customer(seed: int) -> SandboxThread:
    """A customer of its own: a Velpic source and target tenant, keys of their own (from the seed)."""
    return SandboxThread(SandboxConfig(seed=seed, scale=40, platforms=("velpic",), default_limits=False))


@pytest.fixture
def customers() -> Iterator[tuple[SandboxThread, SandboxThread]]:
    with _customer(5) as first, _customer(6) as second:
        yield first, second


def _requests(sb: SandboxThread) -> int:
    return sum(r["count"] for r in get_json(f"{sb.base_url}/_sandbox/stats")["requests"])


def _source_users(sb: SandboxThread) -> int:
    """Every source user: the plan carries leavers too."""
    return len(records(sb.base_url, "velpic", "source", "user"))


def test_another_customers_env_file_is_refused_on_a_journal(
    customers: tuple[SandboxThread, SandboxThread], tmp_path: Path
) -> None:
    first, second = customers
    env_a = write_env(first, tmp_path / "a.env")
    env_b = write_env(second, tmp_path / "b.env")
    partial = run_plan(
        PLAN, tmp_path, env_a, "--step", "groups"
    )  # the first customer's groups, in the crosswalk
    assert partial.returncode == 0, partial.stdout + partial.stderr

    refused = run_plan(PLAN, tmp_path, env_b)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    message = refused.stderr
    assert "was started with other accounts (connection source: " in message, message
    assert "connection target: " in message
    assert "--journal PATH" in message and "--fresh" in message and "--same-customers" in message
    assert "Traceback" not in message
    assert _requests(second) == 0  # refused before any request reached the second customer
    journal_bytes = b"".join(
        Path(f"{tmp_path / 'journal.sqlite'}{s}").read_bytes()
        for s in ("", "-wal")
        if Path(f"{tmp_path / 'journal.sqlite'}{s}").exists()
    )
    for key in ("VELPIC_SOURCE_ACCESS_KEY", "VELPIC_TARGET_ACCESS_KEY"):
        for sb in customers:
            assert sb.sandbox.env()[key].encode() not in journal_bytes  # only keyed hashes are kept

    own = run_plan(PLAN, tmp_path, env_b, "--journal", str(tmp_path / "second.sqlite"))
    assert own.returncode == 0, own.stdout + own.stderr  # the second customer in a journal of its own
    users = entity_stats(second.base_url, "velpic", "target", "user")
    assert users["count"] == _source_users(second) and users["duplicates"] == 0
    groups = entity_stats(second.base_url, "velpic", "target", "group")
    assert groups["count"] == len(records(second.base_url, "velpic", "source", "group"))


def test_a_regenerated_key_resumes_with_same_customers(
    customers: tuple[SandboxThread, SandboxThread], tmp_path: Path
) -> None:
    first, _ = customers
    env = write_env(first, tmp_path / "a.env")
    partial = run_plan(PLAN, tmp_path, env, "--step", "groups")
    assert partial.returncode == 0, partial.stdout + partial.stderr
    post_json(f"{first.base_url}/_sandbox/revoke", {"platform": "velpic", "tenant": "target"})
    env = write_env(first, tmp_path / "a.env")  # the customer's new key

    refused = run_plan(PLAN, tmp_path, env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "(connection target: other credentials (another account))" in refused.stderr, refused.stderr

    resumed = run_plan(PLAN, tmp_path, env, "--same-customers")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    groups = entity_stats(first.base_url, "velpic", "target", "group")
    assert groups["duplicates"] == 0 and groups["creates"] == groups["count"]  # none created twice
    users = entity_stats(first.base_url, "velpic", "target", "user")
    assert users["count"] == _source_users(first) and users["duplicates"] == 0
    again = run_plan(PLAN, tmp_path, env)  # bound to the new key from now on
    assert again.returncode == 0, again.stdout + again.stderr
