"""`migrator validate --connect`: each connection reached with one small authenticated read, writing nothing;
per connection OK or what failed: refused credentials (a wrong Velpic key, a wrong accessplanit password at
its token request) and a closed port (named by URL, given up after a few quick tries, no traceback)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, entity_stats, migrator, write_env

PLAN = PLANS / "velpic-to-accessplanit.toml"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    config = SandboxConfig(seed=23, scale=40, platforms=("velpic", "accessplanit"), default_limits=False)
    with SandboxThread(config) as sb:
        yield sb


def _validate(env: Path, cwd: Path) -> tuple[int, list[str], str]:
    done = migrator("validate", str(PLAN), "--env-file", str(env), "--connect", cwd=cwd)
    return done.returncode, done.stdout.splitlines(), done.stderr


def _with(env: Path, name: str, value: str, out: Path) -> Path:
    lines = [
        f"{name}={value}" if line.startswith(f"{name}=") else line for line in env.read_text().splitlines()
    ]
    out.write_text("\n".join(lines) + "\n")
    return out


def test_every_connection_answers(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sb.env")
    before = entity_stats(sandbox.base_url, "accessplanit", "target", "user")
    code, lines, err = _validate(env, tmp_path)
    assert code == 0, "\n".join(lines) + err
    base = sandbox.sandbox.env()
    assert lines == [
        "ok: 4 steps",
        f"connection velpic (velpic {base['VELPIC_BASE_URL']}): OK",
        f"connection accessplanit (accessplanit {base['ACCESSPLANIT_V2_BASE_URL']}): OK",
        # the certificates' archive: the run's own folder, made by its first write
        "connection certificates (files certificates): OK",
    ]
    assert not (tmp_path / ".migrator").exists()  # validating made no folder
    assert entity_stats(sandbox.base_url, "accessplanit", "target", "user") == before  # nothing written


def test_a_wrong_key_is_named_credentials_refused(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sb.env")
    wrong = _with(env, "VELPIC_SOURCE_ACCESS_KEY", "vk-not-a-key-0000000000", tmp_path / "wrong.env")
    code, lines, err = _validate(wrong, tmp_path)
    assert code == 1, "\n".join(lines) + err
    velpic = next(line for line in lines if line.startswith("connection velpic "))
    assert "credentials refused" in velpic, velpic
    assert "vk-not-a-key" not in "\n".join(lines) + err  # the secret is never shown
    assert next(line for line in lines if line.startswith("connection accessplanit ")).endswith(": OK")
    assert "Traceback" not in err


def test_a_wrong_password_is_refused_at_the_token_request(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sb.env")
    wrong = _with(env, "ACCESSPLANIT_TARGET_PASSWORD", "not-the-password", tmp_path / "wrong.env")
    code, lines, err = _validate(wrong, tmp_path)
    assert code == 1, "\n".join(lines) + err
    apit = next(line for line in lines if line.startswith("connection accessplanit "))
    assert "credentials refused" in apit and "/token" in apit, apit
    assert "not-the-password" not in "\n".join(lines) + err


def test_a_closed_port_fails_fast_naming_the_url(sandbox: SandboxThread, tmp_path: Path) -> None:
    with socket.socket() as unused:  # a loopback port nothing listens on once it is closed
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    env = write_env(sandbox, tmp_path / "sb.env")
    closed = _with(env, "VELPIC_BASE_URL", f"http://127.0.0.1:{port}/velpic/api/v2", tmp_path / "closed.env")
    code, lines, err = _validate(closed, tmp_path)
    assert code == 1, "\n".join(lines) + err
    velpic = next(line for line in lines if line.startswith("connection velpic "))
    assert f"cannot connect to http://127.0.0.1:{port}/velpic/api/v2/" in velpic, velpic
    assert "connection refused (tried 3 times in " in velpic, velpic  # a few quick tries, not minutes of them
    assert "Check the host and port of the connection's base URL" in velpic
    assert "Traceback" not in err
