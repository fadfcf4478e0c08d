"""What migrator writes on this machine is its owner's only and never written through a link: files-target
files (0600) and the folders it creates (0700), the reports and their folders, the sandbox's env file (it
holds credentials) and the demo's folders. A link planted at any of their names leaves the file it points to
untouched."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.connectors.base import WriteItem
from migrator.connectors.files.local import FileDataError, FileTarget
from migrator.journal import Journal
from migrator.private_files import UnsafePathError, make_private_dir, open_private, write_private
from migrator.report import write_reports
from migrator.sandbox.cli import write_env_file
from tests.e2e.helpers import PLANS, migrator


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _item(n: int, **payload: object) -> WriteItem:
    return WriteItem(f"idem{n}", str(n), dict(payload))


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the common default, under which files came out 0644 and folders 0755
    yield
    os.umask(old)


def test_make_private_dir_creates_every_missing_folder_0700(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir(mode=0o755)
    make_private_dir(tmp_path / "kept" / "a" / "b")
    assert [_mode(tmp_path / p) for p in ("kept", "kept/a", "kept/a/b")] == [0o755, 0o700, 0o700]
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        make_private_dir(tmp_path / "file" / "sub")
    with pytest.raises(NotADirectoryError):
        make_private_dir(tmp_path / "file")


def test_open_private_refuses_links_and_fifos(tmp_path: Path) -> None:
    (tmp_path / "victim").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "victim")
    os.mkfifo(tmp_path / "fifo")
    for name, what in (("link", "is a symbolic link"), ("fifo", "is not a regular file")):
        for flags in (os.O_RDONLY, os.O_WRONLY | os.O_APPEND | os.O_CREAT):
            with pytest.raises(UnsafePathError, match=what):
                open_private(tmp_path / name, flags)
    os.close(open_private(tmp_path / "new", os.O_WRONLY | os.O_CREAT))
    assert _mode(tmp_path / "new") == 0o600


def test_files_target_creates_its_file_0600_and_its_folders_0700(tmp_path: Path) -> None:
    target = FileTarget(tmp_path / "staging" / "2024", "staff", key="Email")
    target.write([_item(1, Email="a@x")])
    assert _mode(tmp_path / "staging" / "2024" / "staff.csv") == 0o600
    assert (_mode(tmp_path / "staging"), _mode(tmp_path / "staging" / "2024")) == (0o700, 0o700)
    jsonl = FileTarget(tmp_path / "staging" / "2024", "staff", key="Email", format="jsonl")
    jsonl.write([_item(1, Email="a@x")])
    assert _mode(tmp_path / "staging" / "2024" / "staff.jsonl") == 0o600


def test_files_target_never_writes_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.csv"
    victim.write_text("")  # an empty file: the old target appended its header and rows into it
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "staff.csv").symlink_to(victim)
    with pytest.raises(FileDataError, match=r"staff.csv: is a symbolic link; a files target writes only"):
        FileTarget(tmp_path / "out", "staff", key="Email").write([_item(1, Email="a@x")])
    assert victim.read_text() == ""


def test_files_target_header_rewrite_never_writes_through_a_link(tmp_path: Path) -> None:
    target = FileTarget(tmp_path, "staff", key="Email")
    target.write([_item(1, Email="a@x")])
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for name in (".staff.csv.tmp", "staff.csv.tmp"):  # the temporary file's name, now and before
        (tmp_path / name).symlink_to(victim)
    target.write([_item(2, Email="b@x", Name="B")])  # a new field: the file is rewritten with a wider header
    assert victim.read_text() == "precious\n"
    assert (tmp_path / "staff.csv").read_text() == "Email,Name\na@x,\nb@x,B\n"
    assert _mode(tmp_path / "staff.csv") == 0o600 and not (tmp_path / ".staff.csv.tmp").exists()


def _journal(tmp_path: Path) -> Journal:
    journal = Journal.open(tmp_path / "j.sqlite", "p")
    journal.begin_run("h")
    journal.finish_run("done")
    return journal


def test_reports_and_their_folders_are_private_and_never_written_through_a_link(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "p"
    out.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for name in ("success.csv", ".errors.csv.tmp", ".report.html.tmp"):
        (out / name).symlink_to(victim)
    with _journal(tmp_path) as journal:
        written = write_reports(journal, out, "p")
    assert victim.read_text() == "precious\n"
    for path in written:
        assert not path.is_symlink() and _mode(path) == 0o600
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)
    with _journal(tmp_path) as journal:
        write_reports(journal, tmp_path / "new" / "nested" / "p", "p")
    assert [_mode(tmp_path / p) for p in ("new", "new/nested", "new/nested/p")] == [0o700] * 3


def test_sandbox_env_file_is_0600_and_never_written_through_a_link(tmp_path: Path) -> None:
    env = {"VELPIC_SOURCE_ACCESS_KEY": "sk_test_secret"}
    fresh = tmp_path / "fresh.env"
    write_env_file(fresh, env)
    assert _mode(fresh) == 0o600 and "VELPIC_SOURCE_ACCESS_KEY=sk_test_secret" in fresh.read_text()
    old = tmp_path / "old.env"
    old.write_text("STALE=1\n")
    old.chmod(0o644)  # left by an earlier tool: rewritten 0600
    write_env_file(old, env)
    assert _mode(old) == 0o600 and "STALE" not in old.read_text()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "link.env").symlink_to(victim)
    write_env_file(tmp_path / "link.env", env)
    assert victim.read_text() == "precious\n" and not (tmp_path / "link.env").is_symlink()


def test_write_private_replaces_whatever_the_umask(tmp_path: Path) -> None:
    os.umask(0)
    write_private(tmp_path / "f", b"x")
    assert _mode(tmp_path / "f") == 0o600 and (tmp_path / "f").read_bytes() == b"x"


def test_demo_folders_and_env_file_are_private(tmp_path: Path) -> None:
    out = tmp_path / ".migrator" / "demo"
    done = migrator(
        "demo", "--plan", str(PLANS / "demo.toml"), "--scale", "50", "--out", str(out), cwd=tmp_path
    )
    assert done.returncode in (0, 3), done.stdout + done.stderr
    assert (_mode(tmp_path / ".migrator"), _mode(out), _mode(out / "sandbox.env")) == (0o700, 0o700, 0o600)
