"""The JSONL log of a run: never written through a symbolic link (nor into a FIFO), created 0600 in a folder
created 0700; a refusal is a clear error (exit 2) before the run opens its journal or sends anything."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from migrator.logging import LogFileError, Redactor, configure_logging
from tests.chaos.harness import clean_env
from tests.e2e.helpers import PLANS


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The ``migrator`` logger and structlog as they were before the test configured them."""
    logger = logging.getLogger("migrator")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    config = structlog.get_config()
    yield
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = propagate
    structlog.configure(**config)


@pytest.mark.parametrize("target_exists", [True, False], ids=["to-a-file", "dangling"])
def test_a_log_file_that_is_a_symbolic_link_is_refused(tmp_path: Path, target_exists: bool) -> None:
    target = tmp_path / "elsewhere" / "authorized_keys"
    target.parent.mkdir()
    if target_exists:
        target.write_text("ssh-ed25519 AAAA keep me\n")
    link = tmp_path / "run.log.jsonl"
    link.symlink_to(target)

    with pytest.raises(LogFileError) as info:
        configure_logging(redactor=Redactor(), log_file=link, console=None)

    assert str(info.value) == (
        f"the log file {str(link)!r} is a symbolic link, which the engine does not follow (the log would go "
        "wherever it points); remove the link, or pass --log-file with another path"
    )
    assert info.value.exit_code == 2
    if target_exists:
        assert target.read_text() == "ssh-ed25519 AAAA keep me\n"
    else:
        assert not target.exists()  # not created through the link either


def test_a_log_file_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "run.log.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(LogFileError, match="is not a regular file; pass --log-file with the path of a file"):
        configure_logging(redactor=Redactor(), log_file=fifo, console=None)


@pytest.mark.usefixtures("restored_logging")
def test_the_log_folder_is_created_0700_and_the_file_0600(tmp_path: Path) -> None:
    log_file = tmp_path / ".migrator" / "plan.log.jsonl"
    configure_logging(redactor=Redactor(["hunter2-secret"]), log_file=log_file, console=None)
    structlog.get_logger("migrator.test").info("hello", password="hunter2-secret", note="x hunter2-secret")
    logging.getLogger("migrator").handlers[0].flush()

    assert stat.S_IMODE(log_file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    line = log_file.read_text()
    assert '"event":"hello"' in line and "hunter2" not in line


@pytest.mark.usefixtures("restored_logging")
def test_an_existing_log_file_is_appended_to_and_made_private(tmp_path: Path) -> None:
    log_file = tmp_path / "run.log.jsonl"
    log_file.write_text('{"event":"earlier"}\n')
    log_file.chmod(0o644)
    configure_logging(redactor=Redactor(), log_file=log_file, console=None)
    structlog.get_logger("migrator.test").info("later")
    logging.getLogger("migrator").handlers[0].flush()

    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    lines = log_file.read_text().splitlines()
    assert lines[0] == '{"event":"earlier"}' and '"event":"later"' in lines[1]


def test_run_refuses_a_linked_log_file_before_anything_else(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep\n")
    (tmp_path / "run.log.jsonl").symlink_to(target)
    env = tmp_path / "plan.env"
    env.write_text(
        "VELPIC_BASE_URL=http://127.0.0.1:9/velpic/api/v2\n"
        "VELPIC_SOURCE_ACCESS_KEY=k-source-1\nVELPIC_TARGET_ACCESS_KEY=k-target-2\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "migrator",
            "run",
            str(PLANS / "velpic-to-velpic.toml"),
            "--env-file",
            str(env),
            "--journal",
            str(tmp_path / "journal.sqlite"),
            "--log-file",
            str(tmp_path / "run.log.jsonl"),
        ],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "is a symbolic link, which the engine does not follow" in done.stderr
    assert "Traceback" not in done.stderr
    assert target.read_text() == "keep\n"
    assert not (tmp_path / "journal.sqlite").exists()  # refused before the journal was opened
