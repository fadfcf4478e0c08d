"""Run one contender against a running sandbox: reset the target first, run it as a subprocess, time it, and
verify the target holds exactly the expected records with 0 duplicates (``/_sandbox/stats``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import PLANS, Outcome, Sandbox, contender_cmd, migrator_cmd, run_child

USERS_PLAN = PLANS / "velpic-users.toml"
CONTENDERS = ("raw", "migrator", "dlt", "naive")


def command(name: str, sandbox: Sandbox, workdir: Path, journal: Path | None = None) -> list[str]:
    if name == "raw":
        return contender_cmd("raw", sandbox.env_file)
    if name == "naive":
        return contender_cmd("naive", sandbox.env_file)
    if name == "dlt":
        return contender_cmd("dlt_contender", sandbox.env_file, "--workdir", str(workdir))
    if name == "migrator":
        return migrator_cmd(USERS_PLAN, sandbox.env_file, journal or workdir / "journal.sqlite", workdir)
    raise ValueError(f"unknown contender {name!r}; expected one of {', '.join(CONTENDERS)}")


def run_contender(
    name: str,
    sandbox: Sandbox,
    workdir: Path,
    *,
    expected: int,
    timeout: float,
    journal: Path | None = None,
    watch_rss: bool = False,
    cmd: Sequence[str] | None = None,
    kill_when: Callable[[], bool] | None = None,
    reset: bool = True,
) -> Outcome:
    """Reset the sandbox (unless told not to), run the contender, read the target's user stats."""
    workdir.mkdir(parents=True, exist_ok=True)
    if reset:
        sandbox.reset()
    args = list(cmd) if cmd is not None else command(name, sandbox, workdir, journal)
    try:
        child = run_child(args, cwd=workdir, timeout=timeout, watch_rss=watch_rss, kill_when=kill_when)
    except TimeoutError as error:
        return Outcome(name, timeout, -1, expected, sandbox.entity("velpic", "target", "user"), note=str(error))
    target = sandbox.entity("velpic", "target", "user")
    code, output = child.returncode, child.output
    out = Outcome(name, child.seconds, code, expected, target, child.peak_rss_mb, output, cpu_s=child.cpu_s)
    if code not in (0, 3) and kill_when is None:
        out.note = (
            f"exit {code}: " + output.strip().splitlines()[-1][:200] if output.strip() else f"exit {code}"
        )
    return out


def step_seconds(log_file: Path, step: str = "users") -> float | None:
    """The last run's step time from the migrator's JSONL log (``step_done`` carries started_at/finished_at)."""
    if not log_file.exists():
        return None
    found: float | None = None
    for line in log_file.read_text().splitlines():
        try:
            event: dict[str, Any] = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "step_done" and event.get("step") == step:
            found = float(event["finished_at"]) - float(event["started_at"])
    return found
