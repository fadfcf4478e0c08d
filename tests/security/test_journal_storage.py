"""A journal that cannot be written — its folder read-only (immutable), its parent a regular file, or the disk
full (simulated by a file-size limit, RLIMIT_FSIZE) — stops the run with a clear error BEFORE any write to
the target: exit 1, a message naming the path and what to do, no traceback, no write the sandbox sees. A
symbolic link at the journal's path or beside it (its -wal, -shm, lock or probe) is never followed: `run` and
`status` refuse it, and the file it points at is left untouched."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.chaos.harness import clean_env, stats, write_env
from tests.e2e.helpers import PLANS

PLAN = PLANS / "velpic-to-velpic.toml"


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig(seed=5, scale=20, platforms=("velpic",), default_limits=False)) as sb:
        yield sb


def _run(
    tmp: Path, env: Path, journal: Path, preexec: Callable[[], None] | None = None, command: str = "run"
) -> subprocess.CompletedProcess[str]:
    extra = [
        "--env-file",
        str(env),
        "--log-file",
        str(tmp / "run.log.jsonl"),
        "--report-dir",
        str(tmp / "report"),
    ]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "migrator",
            command,
            str(PLAN),
            "--journal",
            str(journal),
            *(extra if command == "run" else []),
        ],
        cwd=tmp,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=preexec,
    )


def _writes(sb: SandboxThread) -> int:
    return sum(r["count"] for r in stats(sb)["requests"] if r["method"] != "GET")


def _assert_refused_before_writes(
    sb: SandboxThread, done: subprocess.CompletedProcess[str], where: Path
) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert str(where) in done.stderr, done.stderr
    assert "--journal" in done.stderr and "Nothing was sent" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert _writes(sb) == 0
    assert stats(sb)["records"]["velpic"]["target"]["user"]["count"] == 0


def test_parent_is_a_regular_file(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    (tmp_path / "not-a-folder").write_text("x")
    journal = tmp_path / "not-a-folder" / "journal.sqlite"
    _assert_refused_before_writes(sandbox, _run(tmp_path, env, journal), journal)


def test_read_only_journal_folder(sandbox: SandboxThread, tmp_path: Path) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not available to make a folder immutable (root ignores permission bits)")
    env = write_env(sandbox, tmp_path / "sandbox.env")
    folder = tmp_path / "frozen"
    folder.mkdir()
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"chattr +i refused here: {made.stderr.decode().strip()}")
    try:
        journal = folder / "journal.sqlite"
        _assert_refused_before_writes(sandbox, _run(tmp_path, env, journal), journal)
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_disk_full_at_start(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    journal = tmp_path / "j" / "journal.sqlite"
    done = _run(tmp_path, env, journal, _file_size_limit(256 * 1024))
    _assert_refused_before_writes(sandbox, done, journal)
    # the same run with room finishes: the refusal was about storage, and left nothing behind that blocks it
    again = _run(tmp_path, env, journal)
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.parametrize("suffix", ["-probe", "-wal", "-shm", "-lock", ""])
def test_a_link_at_the_journal_or_beside_it_is_never_followed(
    sandbox: SandboxThread, tmp_path: Path, suffix: str
) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    journal = tmp_path / "j" / "journal.sqlite"
    first = _run(tmp_path, env, journal)
    assert first.returncode == 0, first.stdout + first.stderr
    victim = tmp_path / "precious.bin"
    content = os.urandom(1 << 20)
    victim.write_bytes(content)
    link = Path(f"{journal}{suffix}")
    if suffix == "":
        journal.rename(tmp_path / "moved.sqlite")
    else:
        link.unlink(missing_ok=True)
    link.symlink_to(victim)
    writes = _writes(sandbox)
    for command in ("status", "run"):
        done = _run(tmp_path, env, journal, command=command)
        assert victim.read_bytes() == content, f"{command} wrote through {link.name}"
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"{link} is a symbolic link: migrator never reads or writes" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert _writes(sandbox) == writes
