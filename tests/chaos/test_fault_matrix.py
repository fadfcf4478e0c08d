"""Fault matrix: each kind of platform misbehaviour, injected by the sandbox into a real run of an example plan.
Every run ends in the exact target state of a clean run, or in a clear, resumable failure (exit 1 with a message
and no traceback, then a resume without the fault finishes in the exact state) — never in a silent loss.

Plans: ``velpic-to-velpic`` (create-only groups, bulk users) and ``velpic-to-accessplanit`` (upserts with
bearer tokens). A copy of each plan gives the target connection a short ``timeout`` so that stalls outlast it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.chaos.harness import (
    TIME_SCALE,
    diff,
    duplicates,
    journal_problems,
    record_figures,
    run,
    sandbox_today,
    target_state,
    tokens_issued,
    write_env,
)
from tests.e2e.helpers import PLANS, post_json

SCALE = 60
TIMEOUT = 1.0  # seconds: the target connection's timeout in the test copy of each plan


@dataclass(frozen=True)
class Route:
    plan: str
    platforms: tuple[str, ...]
    target: str  # the target connection's name in the plan
    writes: str  # fault scope of the target's writes
    bulk: str  # fault scope of a bulk write (several rows per answer)


ROUTES = {
    "velpic-to-velpic": Route("velpic-to-velpic", ("velpic",), "target", "velpic", "velpic/bulkUserImport"),
    "velpic-to-accessplanit": Route(
        "velpic-to-accessplanit", ("velpic", "accessplanit"), "accessplanit", "accessplanit", "accessplanit"
    ),
}

#: name → (route, fault spec with {w} = the target's writes scope and {b} = its bulk scope, sandbox options)
FAULTS: dict[str, tuple[str, str, dict[str, int]]] = {
    # the rates the issue names, on the upsert route (a few hundred requests)
    "5xx-5pct": ("velpic-to-accessplanit", "accessplanit:error_rate=0.05;velpic:error_rate=0.05", {}),
    "resets-2pct": ("velpic-to-accessplanit", "accessplanit:reset_rate=0.02;velpic:reset_rate=0.02", {}),
    "429-burst-retry-after": ("velpic-to-accessplanit", "{w}:burst=3,burst_rate=0.03,retry_after=1s", {}),
    "429-burst-no-retry-after": (
        "velpic-to-accessplanit",
        "{w}:burst=2,burst_rate=0.03,no_retry_after=true",
        {},
    ),
    "stall-past-timeout": ("velpic-to-accessplanit", "{w}:methods=POST,stall_rate=0.05,stall=2s", {}),
    "token-expiry-30s": ("velpic-to-accessplanit", "", {"accessplanit.token_ttl": 30}),
    "malformed-json": ("velpic-to-accessplanit", "accessplanit:garble_rate=0.05", {}),
    "html-200": ("velpic-to-accessplanit", "accessplanit:html_rate=0.05", {}),
    # the create-only and bulk route makes few calls: higher rates, on its writes
    "create-5xx": ("velpic-to-velpic", "velpic:methods=POST,error_rate=0.3", {}),
    "create-resets": ("velpic-to-velpic", "velpic:methods=POST,reset_rate=0.5", {}),
    "create-429-burst": ("velpic-to-velpic", "{w}:methods=POST,burst=2,retry_after=1s", {}),
    "create-stall-past-timeout": ("velpic-to-velpic", "{w}:methods=POST,stall_rate=0.3,stall=2s", {}),
    "create-malformed-json": ("velpic-to-velpic", "velpic:methods=POST,garble_rate=0.3", {}),
    "create-html-200": ("velpic-to-velpic", "velpic:methods=POST,html_rate=0.3", {}),
    "bulk-missing-rows": ("velpic-to-velpic", "{b}:truncate_rate=1", {}),
}


def _plan_copy(route: Route, tmp: Path) -> Path:
    """The example plan with ``timeout`` set on its target connection."""
    text = (PLANS / f"{route.plan}.toml").read_text(encoding="utf-8")
    header = f"[connections.{route.target}]\n"
    assert header in text
    path = tmp / f"{route.plan}.toml"
    if not (tmp / "data").exists():
        (tmp / "data").symlink_to(PLANS / "data")  # table files are relative to the plan file
    path.write_text(text.replace(header, f"{header}timeout = {TIMEOUT}\n"), encoding="utf-8")
    return path


def _config(route: Route, faults: str = "", options: dict[str, int] | None = None) -> SandboxConfig:
    return SandboxConfig(
        seed=41,
        scale=SCALE,
        platforms=route.platforms,
        default_limits=False,
        time_scale=TIME_SCALE,
        faults=faults,
        options=dict(options or {}),
    )


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[dict[str, list[str]], str]]]:
    """The target state of a clean run of each route (and the sandbox day, for dropping run timestamps)."""
    out: dict[str, tuple[dict[str, list[str]], str]] = {}
    for name, route in ROUTES.items():
        tmp = tmp_path_factory.mktemp(f"clean-{name}")
        with SandboxThread(_config(route)) as sb:
            today = sandbox_today(sb)
            done = run(_plan_copy(route, tmp), tmp, write_env(sb, tmp / "sandbox.env"))
            assert done.returncode in (0, 3), done.stdout + done.stderr
            out[name] = (target_state(sb, route.platforms, today), today)
    yield out


_MESSAGE = re.compile(r"\S")


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_ends_exact_or_resumable(
    fault: str, expected: dict[str, tuple[dict[str, list[str]], str]], tmp_path: Path
) -> None:
    route_name, spec, options = FAULTS[fault]
    route = ROUTES[route_name]
    spec = spec.format(w=route.writes, b=route.bulk)
    want, today = expected[route_name]
    plan = _plan_copy(route, tmp_path)
    with SandboxThread(_config(route, spec, options)) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        first = run(plan, tmp_path, env)
        injected = dict(sb.sandbox.state.stats.faults)
        if options:
            injected["tokens_issued"] = tokens_issued(sb) // 2
        assert "Traceback" not in first.stderr + first.stdout
        assert "internal error" not in first.stderr, first.stderr
        resumed = False
        if first.returncode == 1:
            # a clear, resumable failure: says what failed; a run without the fault then finishes
            assert _MESSAGE.search(first.stderr + first.stdout)
            assert "NOT done" in first.stdout or "migrator" in first.stderr, first.stdout + first.stderr
            post_json(f"{sb.base_url}/_sandbox/faults", {"spec": "", "default_limits": False})
            second = run(plan, tmp_path, env)
            assert second.returncode in (0, 3), second.stdout + second.stderr
            resumed = True
        else:
            assert first.returncode in (0, 3), first.stdout + first.stderr
        assert duplicates(sb, route.platforms) == {}
        got = target_state(sb, route.platforms, today)
    if options:
        assert injected["tokens_issued"] >= 3, "no token expired mid-run: the case proves nothing"
    else:
        assert injected, f"the sandbox injected no fault for {spec!r}: the case proves nothing"
    assert got == want, diff(got, want)
    assert journal_problems(plan, tmp_path) == []
    record_figures("fault", fault=fault, spec=spec, injected=injected, resumed=resumed)
