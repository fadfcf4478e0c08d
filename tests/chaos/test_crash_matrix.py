"""Crash matrix: every example plan that runs against the sandbox, SIGKILLed at seeded random points (while the
target fills, during the journal's own commits, during a token refresh, right after a write whose response the
sandbox dropped), each kill followed by a resume. The final target equals what a clean single run gives on a
second sandbox with the same seed (records compared with sandbox ids mapped through natural keys), with 0
duplicates, 0 missing, the same dead letters, and a journal that passes its integrity check.

``make test``: 3 kills per plan; ``make chaos`` (``MIGRATOR_CHAOS_FULL=1``): 20 kills per plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from migrator.journal import Journal
from migrator.plan.load import load_plan
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.chaos.harness import (
    FULL,
    TIME_SCALE,
    KillLog,
    diff,
    duplicates,
    journal_problems,
    kill_loop,
    record_figures,
    run,
    sandbox_today,
    target_count,
    target_state,
    write_env,
)
from tests.e2e.helpers import PLANS, give_ui_users_ids

#: kills per plan = ROUNDS × KILLS_PER_ROUND; each round starts from a new sandbox and a new journal
ROUNDS, KILLS_PER_ROUND = (4, 5) if FULL else (1, 3)
KILLS = ROUNDS * KILLS_PER_ROUND
SCALE = 150 if FULL else 60
#: short token and session lifetimes (sandbox seconds; a real 0.3 s at the time scale): refreshes mid-run
SHORT_TOKENS = {"accessplanit.token_ttl": 30, "onefile.session_ttl": 30}


@dataclass(frozen=True)
class Scenario:
    plan: str
    platforms: tuple[str, ...]
    tokens: bool  # does the run hold expiring tokens (accessplanit, OneFile)?
    options: dict[str, Any] = field(default_factory=dict)
    small: bool = False  # a handful of records: over before a token refresh or a lost response

    @property
    def kinds(self) -> tuple[str, ...]:
        if self.small:
            return ("progress", "journal_commit")
        base = ("progress", "journal_commit", "lost_response")
        return (*base[:2], "token_refresh", base[2]) if self.tokens else base


SCENARIOS = (
    Scenario("velpic-to-velpic", ("velpic",), False),
    Scenario("accessplanit-to-velpic", ("velpic", "accessplanit"), True, SHORT_TOKENS),
    Scenario("velpic-to-accessplanit", ("velpic", "accessplanit"), True, SHORT_TOKENS),
    Scenario("accessplanit-v1-to-v2", ("accessplanit",), True, SHORT_TOKENS),
    Scenario("anewspring-to-velpic", ("anewspring", "velpic"), False),
    Scenario("velpic-to-anewspring", ("anewspring", "velpic"), False),
    Scenario("onefile-to-velpic", ("onefile", "velpic"), True, SHORT_TOKENS),
    Scenario("velpic-to-onefile", ("onefile", "velpic"), True, SHORT_TOKENS),
    Scenario("csv-to-accessplanit", ("accessplanit",), True, SHORT_TOKENS, small=True),
)


def _faults(platforms: tuple[str, ...]) -> str:
    """Some latency everywhere (so kills land mid-run) and 4% of writes whose response is lost."""
    return ";".join(f"{p}:latency=1-6ms;{p}:methods=POST|PUT|PATCH,lose_rate=0.04" for p in platforms)


def _config(s: Scenario, faults: str) -> SandboxConfig:
    options = {k: v for k, v in s.options.items() if k.split(".")[0] in s.platforms}
    return SandboxConfig(
        seed=31,
        scale=SCALE,
        platforms=s.platforms,
        default_limits=False,
        time_scale=TIME_SCALE,
        faults=faults,
        options=options,
    )


def _dead_letters(plan: Path, tmp: Path) -> list[tuple[str, str]]:
    name = load_plan(str(plan)).plan.plan.name
    with Journal.open(tmp / "journal.sqlite", name) as journal:
        return sorted((d.step, d.source_key) for d in journal.open_rejections())


def _prepare(scenario: Scenario, sandbox: SandboxThread) -> None:
    """What a consultant does before the run: aNewSpring users read by external ID must all have one."""
    if "anewspring" in scenario.plan.split("-to-")[0]:
        give_ui_users_ids(sandbox)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.plan for s in SCENARIOS])
def test_plan_survives_kills_and_equals_a_clean_run(scenario: Scenario, tmp_path: Path) -> None:
    plan = PLANS / f"{scenario.plan}.toml"

    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    with SandboxThread(_config(scenario, "")) as clean_sb:
        _prepare(scenario, clean_sb)
        today = sandbox_today(clean_sb)
        env = write_env(clean_sb, clean_dir / "sandbox.env")
        clean = run(plan, clean_dir, env)
        assert clean.returncode in (0, 3), clean.stdout + clean.stderr
        expected = target_state(clean_sb, scenario.platforms, today)
        total = target_count(clean_sb)
    assert total > 0, "the clean run wrote nothing: the scenario proves nothing"
    expected_dead = _dead_letters(plan, clean_dir)

    log = KillLog()
    lost = 0
    for round_no in range(ROUNDS):
        # each round: a fresh sandbox (same seed) and a new journal
        with SandboxThread(_config(scenario, _faults(scenario.platforms))) as sb:
            _prepare(scenario, sb)
            chaos_dir = tmp_path / f"chaos-{round_no}"
            chaos_dir.mkdir()
            env = write_env(sb, chaos_dir / "sandbox.env")
            seed = f"crash:{scenario.plan}:{round_no}"
            kill_loop(
                sb,
                plan,
                chaos_dir,
                env,
                kills=KILLS_PER_ROUND,
                total=total,
                seed=seed,
                kinds=scenario.kinds,
                log=log,
            )
            final = run(plan, chaos_dir, env)
            assert final.returncode in (0, 3), final.stdout + final.stderr
            assert "Traceback" not in final.stderr
            assert duplicates(sb, scenario.platforms) == {}
            actual = target_state(sb, scenario.platforms, today)
            lost += sb.sandbox.state.stats.faults.get("lost", 0)
        assert actual == expected, f"round {round_no}:\n" + diff(actual, expected)
        assert _dead_letters(plan, chaos_dir) == expected_dead
        assert journal_problems(plan, chaos_dir) == []
    # most kills must land mid-run, or the matrix proves little
    assert log.landed >= max(1, KILLS // 2), log
    record_figures(
        "crash",
        plan=scenario.plan,
        kills_attempted=log.attempted,
        kills_landed=log.landed,
        by_kind=log.by_kind,
        responses_lost=lost,
        records_compared=sum(len(v) for v in expected.values()),
    )
