"""Circuit breakers through the real CLI: a step with one rejected record more than its ``max_rejected`` stops
there, cleanly (exit 1, the limit and the figure named, nothing left in doubt), stops again when resumed with
the same limit, and completes with no duplicate once the limit is raised (no ``--allow-plan-change``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from migrator.journal import Journal
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import VELPIC_TO_APIT, entity_stats, records, run_plan, write_env

PLAN = (
    """
[plan]
name = "breakers"
"""
    + VELPIC_TO_APIT
    + """budget = "1000000/hour"
[steps.users]
read  = { from = "velpic", entity = "user", page_size = 40, filter = { activeValue = "all" } }
write = { to = "apit", entity = "user", mode = "upsert", match = "Email" }
map.Forenames = "firstName | trim"
map.Surname = "lastName | trim"
map.Email = "emailAddress | lower"
map.ExternalID = "'vu-' + id"
limits = { max_rejected = %(limit)d }
"""
)


def test_a_breaker_stops_the_step_at_its_threshold_and_a_raised_limit_resumes_it(tmp_path: Path) -> None:
    config = SandboxConfig(
        seed=41, scale=200, dirty=0.2, platforms=("velpic", "accessplanit"), default_limits=False
    )
    with SandboxThread(config) as sb:
        base = sb.base_url
        env = write_env(sb, tmp_path / "sb.env")
        source = records(base, "velpic", "source", "user")
        dirty = [u for u in source if not u["emailAddress"]]  # no email: cannot be matched, rejected
        n = len(dirty) - 1
        assert n > 0
        before = entity_stats(base, "accessplanit", "target", "user")["count"]
        had = {str(u.get("Email") or "").lower() for u in records(base, "accessplanit", "target", "user")}
        plan = tmp_path / "plan.toml"
        plan.write_text(PLAN % {"limit": n})

        first = run_plan(plan, tmp_path, env)
        assert first.returncode == 1, first.stdout + first.stderr
        expected = f"step users: {n + 1} records rejected, more than limits.max_rejected = {n}."
        assert expected in first.stdout
        with Journal.open(tmp_path / "journal.sqlite", "breakers") as j:
            assert j.integrity_check() == []
            assert j.keys_in_state("users", "sent") == set()  # every batch sent was journaled done
            assert len(j.keys_in_state("users", "rejected")) == n + 1
            stopped_at = len(j.keys_in_state("users", "done"))
        assert stopped_at < len(source) - len(dirty)  # it stopped before the end

        again = run_plan(plan, tmp_path, env)  # same limit: the step is still past it
        assert again.returncode == 1, again.stdout + again.stderr
        assert expected in again.stdout
        with Journal.open(tmp_path / "journal.sqlite", "breakers") as j:
            assert len(j.keys_in_state("users", "done")) == stopped_at

        plan.write_text(PLAN % {"limit": n + 1})  # the limit raised: no --allow-plan-change needed
        resumed = run_plan(plan, tmp_path, env)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr  # no new rejection in this run
        with Journal.open(tmp_path / "journal.sqlite", "breakers") as j:
            assert len(j.keys_in_state("users", "done")) == len(source) - len(dirty)
            assert j.keys_in_state("users", "sent") == set()
        emails = {u["emailAddress"].lower() for u in source if u["emailAddress"]}
        target = Counter(
            str(u.get("Email") or "").lower() for u in records(base, "accessplanit", "target", "user")
        )
        assert all(target[e] == 1 for e in emails)  # every user there once: no duplicates
        new = len(emails - set(had))
        assert entity_stats(base, "accessplanit", "target", "user")["count"] == before + new
