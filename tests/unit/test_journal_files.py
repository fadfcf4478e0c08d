"""The journal's files: one writer at a time (a lock that names its holder and dies with it), readers beside
it, a main file that always says what it is, and a lost -wal refused instead of mistaken for a new journal."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from migrator.errors import JournalError
from migrator.journal import Journal, SentRecord, WriteResult

PLAN = "acme"


@pytest.fixture
def jpath(tmp_path: Path) -> Path:
    return tmp_path / "j" / "journal.sqlite"


def _main_file_only(jpath: Path, to: Path) -> Path:
    """A copy of the journal's main file alone, as a copy that forgets the -wal makes it."""
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(jpath, to)
    return to


def _meta(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())
    finally:
        conn.close()


# -- one writer -------------------------------------------------------------------------------------------


def test_a_second_writer_is_refused_and_names_the_holder(jpath: Path) -> None:
    first = Journal.open(jpath, PLAN)
    with pytest.raises(JournalError) as info:
        Journal.open(jpath, PLAN)
    assert f"is in use by another migrator run (pid {os.getpid()}, started " in str(info.value)
    with pytest.raises(JournalError, match="in use"):
        Journal.open(jpath, PLAN, fresh=True)  # --fresh is no way around it: nothing is deleted
    first.begin_run("h")
    with Journal.open(jpath, PLAN, read_only=True) as reader:  # readers are welcome meanwhile
        assert [r["status"] for r in reader.runs()] == ["running"]
    first.close()
    first.close()  # twice is harmless
    with Journal.open(jpath, PLAN) as again:  # released at close
        assert [r["status"] for r in again.runs()] == ["running"]


def test_the_lock_dies_with_its_process(jpath: Path) -> None:
    child = textwrap.dedent(
        f"""
        import os, sys
        from migrator.journal import Journal
        j = Journal.open({str(jpath)!r}, {PLAN!r})
        j.begin_run("h")
        print("held", flush=True)
        sys.stdin.readline()
        os._exit(9)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline() == "held\n"
    with pytest.raises(JournalError, match=f"pid {proc.pid}, started "):
        Journal.open(jpath, PLAN)
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait(timeout=30) == 9  # died without closing anything
    with Journal.open(jpath, PLAN) as j:
        assert [r["status"] for r in j.runs()] == ["running"]


def test_a_reader_writes_nothing(jpath: Path) -> None:
    Journal.open(jpath, PLAN).close()
    before = jpath.read_bytes()
    with Journal.open(jpath, PLAN, read_only=True) as reader:
        assert reader.runs() == []
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.begin_run("h")
    assert jpath.read_bytes() == before
    wal = Path(f"{jpath}-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # only SQLite's (empty) companions, if any


# -- the main file says what it is ------------------------------------------------------------------------


def test_the_main_file_alone_holds_schema_and_meta_before_any_write(jpath: Path, tmp_path: Path) -> None:
    j = Journal.open(jpath, PLAN)
    j.begin_run("h")
    j.mark_batch_sent("s", "b1", [SentRecord("k1", "1")])
    copy = _main_file_only(jpath, tmp_path / "copy" / "journal.sqlite")
    meta = _meta(copy)
    assert meta["plan_name"] == PLAN and meta["writer"] == "open" and len(meta["salt"]) == 32
    j.close()
    assert _meta(jpath)["writer"] == "closed"
    assert not Path(f"{jpath}-wal").exists() or Path(f"{jpath}-wal").stat().st_size == 0


def test_a_copy_without_its_wal_made_while_a_run_writes_is_refused(jpath: Path, tmp_path: Path) -> None:
    j = Journal.open(jpath, PLAN)
    j.begin_run("h")
    j.mark_batch_sent("s", "b1", [SentRecord("k1", "1")])
    copy = _main_file_only(jpath, tmp_path / "copy" / "journal.sqlite")
    for read_only in (False, True):
        with pytest.raises(JournalError) as info:
            Journal.open(copy, PLAN, read_only=read_only)
        message = str(info.value)
        assert f"the journal {copy} has lost its write-ahead log: journal.sqlite-wal is missing" in message
        assert "--fresh" in message and "--journal PATH" in message
    j.mark_batch_done("s", "b1", [WriteResult("k1", "1", "T1")])
    j.close()
    # closed: the main file holds everything, and a copy of it alone is the whole journal
    closed = _main_file_only(jpath, tmp_path / "closed" / "journal.sqlite")
    with Journal.open(closed, PLAN) as k:
        assert k.crosswalk("s") == {"1": "T1"}


def test_a_killed_run_resumes_with_its_wal(jpath: Path) -> None:
    child = textwrap.dedent(
        f"""
        import os
        from migrator.journal import Journal, SentRecord
        j = Journal.open({str(jpath)!r}, {PLAN!r})
        j.begin_run("h")
        j.mark_batch_sent("s", "b1", [SentRecord("k1", "1")])
        os._exit(9)
        """
    )
    assert subprocess.run([sys.executable, "-c", child], check=False).returncode == 9
    with Journal.open(jpath, PLAN, read_only=True) as reader:  # a reader leaves the -wal as it is
        assert reader.keys_in_state("s", "sent") == {"k1"}
    with Journal.open(jpath, PLAN) as j:
        assert j.keys_in_state("s", "sent") == {"k1"}


@pytest.mark.parametrize("case", ["empty", "schema-in-a-lost-wal"])
def test_a_file_without_schema_is_refused_not_made_a_new_journal(jpath: Path, case: str) -> None:
    jpath.parent.mkdir(parents=True)
    if case == "empty":
        jpath.write_bytes(b"")
    else:  # what an older migrator left: the schema went to the -wal only, which is gone
        conn = sqlite3.connect(jpath)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.close()
    for read_only in (False, True):
        with pytest.raises(JournalError, match=r"holds no journal \(no schema, no plan\).*--fresh"):
            Journal.open(jpath, PLAN, read_only=read_only)
    assert jpath.stat().st_size <= 4096  # left as it was found


def test_a_journal_with_runs_but_no_meta_is_refused(jpath: Path) -> None:
    with Journal.open(jpath, PLAN) as j:
        j.begin_run("h")
    conn = sqlite3.connect(jpath)
    conn.execute("DELETE FROM meta")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match=r"has lost its meta .*--fresh"):
        Journal.open(jpath, PLAN)
