"""Shared machinery of the chaos suites: the real ``migrator run`` in a subprocess against a ``SandboxThread``,
kill triggers observed from outside (target counts, the journal's -wal file, tokens the sandbox issued, lost
responses), and a comparison of a target tenant with the one a clean run gives, ids mapped through natural keys.

``MIGRATOR_CHAOS_FULL=1`` (``make chaos``) selects the full counts; ``make test`` runs the small ones.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.journal import Journal
from migrator.plan.load import load_plan
from migrator.sandbox.app import SandboxThread
from tests.e2e.helpers import get_json, records

FULL = os.environ.get("MIGRATOR_CHAOS_FULL", "") not in ("", "0")
TIME_SCALE = 100.0

# -- running the CLI ------------------------------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    """The test process's environment without any platform credential (they come from the env file)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VELPIC_", "ACCESSPLANIT_", "ONEFILE_", "ANEWSPRING_"))
    }


def run_args(plan: Path, tmp: Path, env_file: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "migrator",
        "run",
        str(plan),
        "--env-file",
        str(env_file),
        "--journal",
        str(tmp / "journal.sqlite"),
        "--log-file",
        str(tmp / "run.log.jsonl"),
        "--report-dir",
        str(tmp / "report"),
        "--plain",
        "--time-scale",
        str(TIME_SCALE),
        *extra,
    ]


def run(
    plan: Path, tmp: Path, env_file: Path, *extra: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        run_args(plan, tmp, env_file, *extra),
        cwd=tmp,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_env(sandbox: SandboxThread, path: Path) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in sandbox.sandbox.env().items()))
    return path


# -- what the sandbox shows -----------------------------------------------------------------------------------


def stats(sb: SandboxThread) -> dict[str, Any]:
    result: dict[str, Any] = get_json(f"{sb.base_url}/_sandbox/stats")
    return result


def target_count(sb: SandboxThread) -> int:
    """Records written to (created in or updated on) every target tenant so far."""
    total = 0
    for tenants in stats(sb)["records"].values():
        for entity in tenants.get("target", {}).values():
            total += entity["creates"] + entity["updates"]
    return total


def faults_seen(sb: SandboxThread, kind: str) -> int:
    return int(stats(sb).get("faults", {}).get(kind, 0))


def tokens_issued(sb: SandboxThread) -> int:
    """Bearer tokens (accessplanit) and sessions (OneFile) the sandbox has handed out, read from its state."""
    n = 0
    for platform in sb.sandbox.platforms.values():
        store = getattr(platform, "tokens", None)
        if store is not None:
            n += len(getattr(store, "_tokens", {}))
        n += len(getattr(platform, "_sessions", {}))
    return n


def issued_secrets(sb: SandboxThread) -> set[str]:
    """Every token and session value the sandbox issued (to scan outputs for them)."""
    out: set[str] = set()
    for platform in sb.sandbox.platforms.values():
        store = getattr(platform, "tokens", None)
        if store is not None:
            out.update(getattr(store, "_tokens", {}))
        out.update(getattr(platform, "_sessions", {}))
    return {s for s in out if len(s) >= 8}


# -- kills ----------------------------------------------------------------------------------------------------

KILL_KINDS = ("progress", "journal_commit", "token_refresh", "lost_response")


@dataclass
class KillLog:
    """What the kill loop did, for the assertions and docs/reliability.md."""

    attempted: int = 0
    landed: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    exits: list[int] = field(default_factory=list)


def _wal_size(tmp: Path) -> int:
    try:
        return (tmp / "journal.sqlite-wal").stat().st_size
    except FileNotFoundError:
        return 0


def kill_loop(
    sb: SandboxThread,
    plan: Path,
    tmp: Path,
    env_file: Path,
    *,
    kills: int,
    total: int,
    seed: str,
    kinds: Iterable[str] = KILL_KINDS,
    log: KillLog | None = None,
) -> KillLog:
    """Start the run and SIGKILL it at a seeded point, ``kills`` times; each next start is the resume.

    ``progress``: once the target holds a random share of ``total`` writes; ``journal_commit``: at the n-th
    growth of the journal's -wal file; ``token_refresh``: when the sandbox hands out a token beyond the first;
    ``lost_response``: right after the sandbox drops a write's response."""
    rng = random.Random(seed)
    kinds = tuple(kinds)
    log = log if log is not None else KillLog()
    # progress kills at rising shares of the work, so that each lands before the end
    shares = iter(sorted(rng.uniform(0.05, 0.9) for _ in range(kills)))
    for _ in range(kills):
        kind = kinds[log.attempted % len(kinds)]
        share = next(shares)
        nth = rng.randint(1, 6)
        base_tokens, base_lost = tokens_issued(sb), faults_seen(sb, "lost")
        wal, growths = _wal_size(tmp), 0
        proc = subprocess.Popen(
            run_args(plan, tmp, env_file),
            cwd=tmp,
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        fired = False
        while proc.poll() is None and time.monotonic() < deadline:
            if kind == "progress":
                fired = target_count(sb) >= share * total
            elif kind == "journal_commit":
                size = _wal_size(tmp)
                if size != wal:
                    wal, growths = size, growths + 1
                fired = growths >= nth
            elif kind == "token_refresh":
                # the first token (2 values: access + refresh) is the run's own start; later ones are refreshes
                fired = tokens_issued(sb) - base_tokens > 2
            else:
                fired = faults_seen(sb, "lost") > base_lost
            if fired:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        code = proc.wait(timeout=120)
        log.attempted += 1
        log.exits.append(code)
        if fired and code == -signal.SIGKILL:
            log.landed += 1
            log.by_kind[kind] = log.by_kind.get(kind, 0) + 1
    return log


# -- the target, canonical ------------------------------------------------------------------------------------

#: (platform, entity) → (id field the sandbox assigns, natural key field)
IDS: dict[tuple[str, str], tuple[str, str]] = {
    ("velpic", "group"): ("id", "name"),
    ("velpic", "user"): ("id", "emailAddress"),
    ("velpic", "lesson_schedule"): ("id", ""),
    ("accessplanit", "company"): ("ID", "ExternalID"),
    ("accessplanit", "user"): ("ID", "Email"),
    ("accessplanit", "usercoursedate"): ("ID", ""),
    ("anewspring", "user"): ("uid", "login"),
    ("anewspring", "group"): ("uid", "id"),
    ("onefile", "user"): ("ID", "MISID"),
}
#: platform → field → the entity whose ids it holds
REFS: dict[str, dict[str, str]] = {
    "velpic": {
        "groups": "group",
        "groupsSupervised": "group",
        "userId": "user",
        "lessonCompletedBy": "user",
        "manuallyCompletedByUserId": "user",
    },
    "accessplanit": {"MainCompanyID": "company", "MainContactUserID": "user", "UserID": "user"},
    "anewspring": {"user": "user", "parent": "group", "members": "user"},
    "onefile": {"DefaultAssessorID": "user", "AssessorID": "user", "LearnerID": "user"},
}
#: derived from ids or the wall clock: not compared
VOLATILE = frozenset(
    {
        "createdDate",
        "modifiedDate",
        "DateCreated",
        "DateUpdated",
        "UniqueID",
        "created",
        "subscribeDateTime",
        "CreatedOn",
        "ModifiedOn",
        "userLessonKey",
        "UserCourseDateKey",
        "userCourseKey",
        "progress",
    }
)


def _is_recent(value: Any, today: str) -> bool:
    """A timestamp of the run itself (the sandbox clock's day or later): not part of what was migrated."""
    return isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[:10] >= today


def target_state(sb: SandboxThread, platforms: Iterable[str], today: str) -> dict[str, list[str]]:
    """Every target-tenant entity of ``platforms`` as a sorted list of canonical records."""
    raw: dict[tuple[str, str], list[dict[str, Any]]] = {}
    all_stats = stats(sb)["records"]
    for platform in platforms:
        for entity in all_stats.get(platform, {}).get("target", {}):
            raw[(platform, entity)] = records(sb.base_url, platform, "target", entity)
    names: dict[tuple[str, str], dict[str, str]] = {}
    for (platform, entity), recs in raw.items():
        id_field, key_field = IDS.get((platform, entity), ("", ""))
        if id_field and key_field:
            names[(platform, entity)] = {
                str(r.get(id_field)): f"<{entity}:{r.get(key_field)}>" for r in recs if id_field in r
            }

    def canon(platform: str, value: Any, ref: str | None) -> Any:
        if isinstance(value, dict):
            return {
                k: canon(platform, v, REFS.get(platform, {}).get(k, ref))
                for k, v in sorted(value.items())
                if k not in VOLATILE and not _is_recent(v, today)
            }
        if isinstance(value, list):
            items = [canon(platform, v, ref) for v in value]
            return sorted(items, key=lambda x: json.dumps(x, sort_keys=True, default=str))
        if ref is not None and value is not None:
            return names.get((platform, ref), {}).get(str(value), value)
        return value

    out: dict[str, list[str]] = {}
    for (platform, entity), recs in raw.items():
        id_field, _ = IDS.get((platform, entity), ("", ""))
        rows = []
        for r in recs:
            body = {k: v for k, v in r.items() if k != id_field}
            rows.append(json.dumps(canon(platform, body, None), sort_keys=True, default=str))
        out[f"{platform}/{entity}"] = sorted(rows)
    return out


def sandbox_today(sb: SandboxThread) -> str:
    now = get_json(f"{sb.base_url}/_sandbox/clock")["now"]
    return time.strftime("%Y-%m-%d", time.gmtime(float(now) - 86400))


def duplicates(sb: SandboxThread, platforms: Iterable[str]) -> dict[str, int]:
    all_stats = stats(sb)["records"]
    return {
        f"{p}/{e}": s["duplicates"]
        for p in platforms
        for e, s in all_stats.get(p, {}).get("target", {}).items()
        if s["duplicates"]
    }


def journal_problems(plan: Path, tmp: Path) -> list[str]:
    name = load_plan(str(plan)).plan.plan.name
    with Journal.open(tmp / "journal.sqlite", name) as journal:
        return journal.integrity_check()


def diff(a: dict[str, list[str]], b: dict[str, list[str]]) -> str:
    """A short account of how two target states differ (for assertion messages)."""
    lines = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key, []), b.get(key, [])
        if left != right:
            only_a = sorted(set(left) - set(right))[:2]
            only_b = sorted(set(right) - set(left))[:2]
            lines.append(
                f"{key}: {len(left)} vs {len(right)} records; only in first {only_a}; only in second {only_b}"
            )
    return "\n".join(lines)


def record_figures(suite: str, **figures: Any) -> None:
    """Append one JSON line of figures to ``$MIGRATOR_CHAOS_FIGURES`` (used to write docs/reliability.md)."""
    path = os.environ.get("MIGRATOR_CHAOS_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"suite": suite, "full": FULL, **figures}, sort_keys=True) + "\n")
