"""`migrator sandbox` as a user runs it: a subprocess, the ready line, --env-file, Ctrl-C; and refused flags."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from migrator.sandbox.cli import main
from migrator.sandbox.config import PLATFORM_NAMES

LAUNCH = "import sys; from migrator.sandbox.cli import main; sys.exit(main())"
READY = re.compile(r"^sandbox ready: (http://127\.0\.0\.1:\d+) ")
AVAILABLE = [n for n in PLATFORM_NAMES if importlib.util.find_spec(f"migrator.sandbox.{n}") is not None]
ENV_NAMES = {
    "velpic": ["VELPIC_BASE_URL", "VELPIC_SOURCE_ACCESS_KEY", "VELPIC_TARGET_ACCESS_KEY"],
    "accessplanit": ["ACCESSPLANIT_V1_BASE_URL", "ACCESSPLANIT_V2_BASE_URL"],
    "onefile": ["ONEFILE_BASE_URL"],
    "anewspring": ["ANEWSPRING_BASE_URL"],
}


def read_ready_line(proc: subprocess.Popen[str], deadline_s: float = 60.0) -> tuple[str, list[str]]:
    """Wait for the ready line (not a sleep): lines are read as the process prints them."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + deadline_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=deadline - time.monotonic()):
                break
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = READY.match(line)
            if match:
                return match.group(1), seen
    proc.kill()
    raise AssertionError(f"no ready line; stdout={seen!r} stderr={proc.stderr.read() if proc.stderr else ''!r}")


@pytest.mark.skipif(not AVAILABLE, reason="no emulator module written yet")
def test_cli_serves_writes_env_file_and_stops_on_sigint(tmp_path: Path) -> None:
    env_file = tmp_path / "sandbox.env"
    args = ["--port", "0", "--scale", "50", "--seed", "3", "--env-file", str(env_file)]
    args += [
        "--platforms",
        ",".join(AVAILABLE),
        "--option",
        "velpic.some_switch=1",
        "--faults",
        f"{AVAILABLE[0]}:latency=1ms",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        base_url, _ = read_ready_line(proc)
        env = dict(
            line.split("=", 1)
            for line in env_file.read_text().splitlines()
            if line and not line.startswith("#")
        )
        assert env["SANDBOX_URL"] == base_url
        for name in AVAILABLE:
            for var in ENV_NAMES[name]:
                if var.endswith("BASE_URL"):
                    assert env[var].startswith(base_url + "/" + name), var
                else:
                    assert env[var], var
        with urllib.request.urlopen(base_url + "/_sandbox/info", timeout=10) as resp:
            info = json.loads(resp.read())
        assert sorted(info["platforms"]) == sorted(AVAILABLE)
        assert (info["sandbox"]["seed"], info["sandbox"]["scale"]) == (3, 50)
        assert info["sandbox"]["options"] == {"velpic.some_switch": 1}
        assert info["sandbox"]["default_limits"] is True
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "sandbox stopped" in out
    assert "Traceback" not in err
    secrets = {var: value for var, value in env.items() if var.endswith(("KEY", "TOKEN", "PASSWORD"))}
    assert secrets  # credentials go to the env file only, never to the console
    for var, value in secrets.items():
        assert value not in out + err, var


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--host", "0.0.0.0"], "refusing --host 0.0.0.0: it is not a loopback address"),
        (["--host", "192.168.1.10"], "add --allow-remote"),
        (
            ["--faults", "velpic:eror_rate=0.1"],
            "--faults: rule 'velpic:eror_rate=0.1': unknown setting 'eror_rate'",
        ),
        (["--option", "velpic.invalid_role"], "must be written '<platform>.<name>=<value>'"),
        (["--option", "nowhere.x=1"], "option 'nowhere.x' must be '<platform>.<name>'"),
        (["--platforms", "velpic,moodle"], "unknown platform 'moodle'"),
        (["--scale", "-3"], "scale must be a whole number"),
        (["--dirty", "1.5"], "dirty must be a fraction"),
        (["--time-scale", "0"], "time_scale must be > 0"),
    ],
)
def test_cli_refuses_bad_flags(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.skipif(not AVAILABLE, reason="no emulator module written yet")
def test_cli_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["--port", str(port), "--scale", "5", "--platforms", AVAILABLE[0]])
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
