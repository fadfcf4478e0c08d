"""What every scenario shares: the sandbox in its own process, the control API, the payload every contender
sends, running a contender as a subprocess (wall time, CPU time and peak RSS), and the machine description."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
PLANS = Path(__file__).resolve().parent / "plans"
PYTHON = sys.executable

#: every contender reads ``GET /user?activeValue=all`` so that the record count is exactly the sandbox scale
USER_FILTER = {"activeValue": "all"}


def velpic_payload(user: Mapping[str, Any]) -> dict[str, Any]:
    """The row the migrator plan (``plans/velpic-users.toml``) sends for one source user; roles always sent."""
    emp = user.get("employeeNumber")
    return {
        "firstName": user.get("firstName"),
        "lastName": user.get("lastName"),
        "emailAddress": str(user.get("emailAddress") or "").lower(),
        "employeeNumber": None if emp is None else str(emp),
        "roles": [6],
        "sendWelcomeEmail": False,
    }


def read_env(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def clean_environ() -> dict[str, str]:
    """The environment of a child: no platform credential (they come from files), no dlt telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VELPIC_", "ACCESSPLANIT_", "ONEFILE_"))}
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    # children run in their work directory: make ``benchmarks`` and ``migrator`` importable from the checkout
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return env


# -- the sandbox -------------------------------------------------------------------------------------------
class Sandbox:
    """``python -m migrator sandbox --port 0 …`` in its own process; the URL is read from its ready line."""

    READY = "sandbox ready:"

    def __init__(
        self,
        workdir: Path,
        *,
        scale: int,
        platforms: Sequence[str] = ("velpic",),
        faults: str = "",
        default_limits: bool = False,
        seed: int = 1,
        ready_timeout: float = 900.0,
    ) -> None:
        self.workdir = workdir
        self.env_file = workdir / "sandbox.env"
        self.args = [
            PYTHON,
            "-m",
            "migrator",
            "sandbox",
            "--port",
            "0",
            "--seed",
            str(seed),
            "--scale",
            str(scale),
            "--platforms",
            ",".join(platforms),
            "--env-file",
            str(self.env_file),
        ]
        if not default_limits:
            self.args.append("--no-default-limits")
        if faults:
            self.args += ["--faults", faults]
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.ready_line = ""
        self._lines: list[str] = []

    def __enter__(self) -> Sandbox:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self.args,
            cwd=self.workdir,
            env=clean_environ(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()

        def drain() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self._lines.append(line.rstrip())
                if line.startswith(self.READY):
                    self.ready_line = line.strip()
                    ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(self.ready_timeout) or not self.ready_line:
            self.__exit__(None, None, None)
            tail = "\n".join(self._lines[-20:])
            raise RuntimeError(f"the sandbox did not start ({' '.join(self.args[2:])}):\n{tail}")
        self.url = self.ready_line.split()[2]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # control API
    def get(self, path: str, timeout: float = 120) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
            return json.loads(resp.read())

    def post(self, path: str, body: Any, timeout: float = 900) -> Any:
        req = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else None

    def reset(self) -> None:
        """Re-seed every tenant (the target is empty again) and clear the stats."""
        self.post("/_sandbox/reset", {})

    def stats(self) -> dict[str, Any]:
        return self.get("/_sandbox/stats")  # type: ignore[no-any-return]

    def entity(self, platform: str, tenant: str, entity: str) -> dict[str, int]:
        return self.stats()["records"][platform][tenant][entity]  # type: ignore[no-any-return]


class FastTargetProcess(Sandbox):
    """``python -m benchmarks.fast_target …`` in its own process: the same control calls as the sandbox's
    (``reset``, ``entity``), answered from the fast target's ``/_stats`` and ``/_reset``."""

    READY = "fast-target ready:"

    def __init__(
        self,
        workdir: Path,
        *,
        users: int,
        read_latency: float = 0.0,
        write_latency: float = 0.0,
        rate: int = 0,
        limit_style: str = "retry-after",
    ) -> None:
        super().__init__(workdir, scale=users)
        self.args = [
            PYTHON,
            "-m",
            "benchmarks.fast_target",
            "--users",
            str(users),
            "--env-file",
            str(self.env_file),
            "--read-latency",
            str(read_latency),
            "--write-latency",
            str(write_latency),
            "--rate",
            str(rate),
            "--limit-style",
            limit_style,
        ]

    def reset(self) -> None:
        self.post("/_reset", {})

    def stats(self) -> dict[str, Any]:
        return self.get("/_stats")  # type: ignore[no-any-return]

    def entity(self, platform: str, tenant: str, entity: str) -> dict[str, int]:
        """The target's users (the fast target has no other entity)."""
        stats = self.stats()
        return {k: stats[k] for k in ("count", "duplicates", "updates")}


# -- contenders as subprocesses ------------------------------------------------------------------------------
@dataclass
class Outcome:
    name: str
    seconds: float
    returncode: int
    expected: int
    target: dict[str, int] = field(default_factory=dict)
    peak_rss_mb: float | None = None
    output: str = ""
    note: str = ""
    cpu_s: float | None = None

    @property
    def valid(self) -> bool:
        """Every record arrived exactly once (a run that did not write everything has no figure)."""
        t = self.target
        return (
            self.returncode in (0, 3)
            and t.get("count") == self.expected
            and t.get("duplicates", 1) == 0
            and not self.note
        )

    @property
    def rec_s(self) -> float | None:
        return round(self.expected / self.seconds, 1) if self.valid and self.seconds > 0 else None

    def describe(self) -> str:
        t = self.target
        state = "ok" if self.valid else "INVALID"
        return (
            f"{self.name:<10} {state:<7} {self.seconds:8.2f} s  "
            + (f"CPU {self.cpu_s:6.2f} s  " if self.cpu_s is not None else "")
            + f"{(self.rec_s or 0):>10,.0f} rec/s  target count {t.get('count')} / {self.expected}, "
            f"dups {t.get('duplicates')}, updates {t.get('updates')}"
            + (f", peak RSS {self.peak_rss_mb:.0f} MB" if self.peak_rss_mb else "")
            + (f"  [{self.note}]" if self.note else "")
        )


def _vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set size so far (``VmHWM``) of a live process, in MB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Child(NamedTuple):
    """One finished child process: wall seconds, exit status, its output's tail, peak RSS (MB, when watched)
    and CPU seconds (user + system, from ``wait4``: the machine's other load does not count)."""

    seconds: float
    returncode: int
    output: str
    peak_rss_mb: float | None
    cpu_s: float


def run_child(
    args: Sequence[str],
    *,
    cwd: Path,
    timeout: float,
    watch_rss: bool = False,
    kill_when: Any = None,
) -> Child:
    """Run ``args`` to its end (or ``timeout``: :class:`TimeoutError`).

    ``kill_when`` is an optional callable polled every 50 ms; when it returns true the child gets SIGKILL.
    """
    log = cwd / f"child-{time.monotonic_ns()}.log"
    with log.open("w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(list(args), cwd=cwd, env=clean_environ(), stdout=out, stderr=subprocess.STDOUT)
        peak: float | None = None
        deadline = start + timeout
        ended: tuple[int, int, Any] = (0, 0, None)
        try:
            while not ended[0]:
                if watch_rss:
                    hwm = _vm_hwm_mb(proc.pid)
                    if hwm is not None:
                        peak = hwm
                if kill_when is not None and kill_when():
                    proc.kill()
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"{' '.join(args[:4])} took more than {timeout:.0f} s")
                time.sleep(0.05 if (watch_rss or kill_when is not None) else 0.01)
                ended = os.wait4(proc.pid, os.WNOHANG)
        finally:
            if not ended[0]:  # timed out, or the benchmark itself was interrupted
                proc.kill()
                proc.wait()
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(ended[1])
    usage = ended[2]
    text = log.read_text(errors="replace")
    return Child(seconds, proc.returncode, text[-3000:], peak, usage.ru_utime + usage.ru_stime)


def contender_cmd(module: str, env_file: Path, *extra: str) -> list[str]:
    return [PYTHON, "-m", f"benchmarks.{module}", "--env-file", str(env_file), *extra]


def migrator_cmd(plan: Path, env_file: Path, journal: Path, workdir: Path, *extra: str) -> list[str]:
    return [
        PYTHON,
        "-m",
        "migrator",
        "run",
        str(plan),
        "--env-file",
        str(env_file),
        "--journal",
        str(journal),
        "--log-file",
        str(workdir / "migrator.log.jsonl"),
        "--plain",
        *extra,
    ]


def engine_version() -> str:
    """The commit measured, and whether ``migrator/`` had uncommitted changes (read-only git calls)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "migrator"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (f" + uncommitted changes in {len(dirty.splitlines())} file(s) of migrator/" if dirty else "")


# -- the machine -------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load_at_start": None if load is None else round(load, 2),
    }
