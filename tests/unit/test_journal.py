"""The journal on a temporary SQLite file: round trips, resume reads, crash consistency, refusals, integrity."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest

from migrator.errors import JournalError
from migrator.journal import (
    SCHEMA_VERSION,
    Journal,
    LedgerCounts,
    Rejection,
    SentRecord,
    WriteResult,
    default_journal_path,
)
from migrator.protocol.keys import batch_id, content_hash, idempotency_key

PLAN = "acme"


def recs(step: str, *keys: str) -> list[SentRecord]:
    return [SentRecord(idempotency_key(PLAN, step, k), k, f"h{k}") for k in keys]


# -- what the engine does not read, read straight from the journal's tables -----------------------------------


class InDoubt(NamedTuple):
    batch_id: str
    records: tuple[SentRecord, ...]


def in_doubt(journal: Journal, step: str | None = None) -> list[InDoubt]:
    """Batches *sent* but not *done* (of ``step``, or all), each with its records."""
    sql = "SELECT batch_id, keys FROM batches WHERE state = 'sent'"
    args: tuple[str, ...] = ()
    if step is not None:
        sql += " AND step = ?"
        args = (step,)
    rows = journal._conn.execute(sql + " ORDER BY sent_at, batch_id", args).fetchall()
    return [InDoubt(b, tuple(sorted(SentRecord(*r) for r in orjson.loads(blob or "[]")))) for b, blob in rows]


def ledger_row(journal: Journal, step: str, source_key: str) -> dict[str, Any] | None:
    """One ledger row."""
    keys = ("idem_key", "step", "source_key", "state", "batch_id", "target_id", "action", "content_hash")
    row = journal._conn.execute(
        f"SELECT {', '.join(keys)} FROM records WHERE step = ? AND source_key = ?", (step, source_key)
    ).fetchone()
    return None if row is None else dict(zip(keys, row, strict=True))


@pytest.fixture
def jpath(tmp_path: Path) -> Path:
    return default_journal_path(PLAN, tmp_path)


@pytest.fixture
def journal(jpath: Path) -> Journal:
    j = Journal.open(jpath, PLAN, clock=lambda: 1000.0)
    j.begin_run("hash-1")
    return j


def test_default_path(tmp_path: Path) -> None:
    assert default_journal_path("p", tmp_path) == tmp_path / ".migrator" / "p.sqlite"


def test_files_are_private(journal: Journal, jpath: Path) -> None:
    journal.mark_batch_sent("s", "b1", recs("s", "1"))  # something in the WAL
    for suffix in ("", "-wal", "-shm", "-lock"):
        mode = stat.S_IMODE(os.stat(f"{jpath}{suffix}").st_mode)
        assert mode == 0o600, f"{suffix or 'db'}: {oct(mode)}"
    assert stat.S_IMODE(os.stat(jpath.parent).st_mode) == 0o700
    assert journal._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_batch_round_trip_ledger_crosswalk_dead_letters(journal: Journal) -> None:
    r = recs("learners", "1", "2", "3")
    journal.mark_batch_sent("learners", "b1", r)
    assert journal.keys_in_state("learners", "sent") == {x.idem_key for x in r}
    assert [b.batch_id for b in in_doubt(journal, "learners")] == ["b1"]
    left = journal.mark_batch_done(
        "learners",
        "b1",
        [WriteResult(r[0].idem_key, "1", "T1", "created"), WriteResult(r[1].idem_key, "2", 22, "updated")],  # type: ignore[arg-type]
        [Rejection(r[2].idem_key, "3", "email invalid", 400, {"user.Email": ["bad"]})],
    )
    assert left == 0
    assert in_doubt(journal) == []
    assert journal.settled_keys("learners") == {x.idem_key for x in r}
    assert journal.keys_in_state("learners", "done") == {r[0].idem_key, r[1].idem_key}
    assert journal.crosswalk("learners") == {"1": "T1", "2": "22"}
    assert journal.crosswalk("learners").get("2") == "22"
    assert journal.crosswalk("learners").get("3") is None
    assert journal.done_hashes("learners") == {r[0].idem_key: "h1", r[1].idem_key: "h2"}
    rec = ledger_row(journal, "learners", "1")
    assert rec is not None
    assert (rec["state"], rec["target_id"], rec["action"], rec["batch_id"]) == ("done", "T1", "created", "b1")
    (dead,) = journal.dead_letters("learners")
    assert (dead.source_key, dead.idem_key, dead.status, dead.reason) == (
        "3",
        r[2].idem_key,
        400,
        "email invalid",
    )
    assert dead.detail == {"user.Email": ["bad"]}
    assert dead.run_id == journal.run_id
    assert journal.step_counts() == {
        "learners": LedgerCounts(
            batches_done=1, records_done=2, records_rejected=1, created=1, updated=1, dead_letters=1
        )
    }
    assert journal.integrity_check() == []


def test_a_batch_of_mapped_records_goes_straight_into_the_ledger(journal: Journal) -> None:
    items = [
        SentRecord(idempotency_key(PLAN, "s", i), str(i), content_hash(repr({"i": i}).encode()))
        for i in range(5)
    ]
    bid = batch_id("s", (i.idem_key for i in items))
    journal.mark_batch_sent("s", bid, items)
    (doubt,) = in_doubt(journal, "s")
    assert doubt.batch_id == bid
    assert sorted(x.source_key for x in doubt.records) == ["0", "1", "2", "3", "4"]
    assert {x.content_hash for x in doubt.records} == {i.content_hash for i in items}


def test_a_batch_larger_than_one_statement_is_written_whole_and_in_order(journal: Journal) -> None:
    """The done rows of a batch go in statements of several rows: a batch of 1,200 in statements of 500 (and
    of 7, here) leaves every record done with its own target id, hash and who it is; a record answered twice
    in one call ends as its last answer says, as one upsert after the other would."""
    for per, step in ((500, "big"), (7, "small")):
        journal._rows_per_statement = per
        keys = [str(i) for i in range(1200)]
        sent = [SentRecord(idempotency_key(PLAN, step, k), k, f"h{k}", {"firstName": f"F{k}"}) for k in keys]
        journal.mark_batch_sent(step, "b", sent)
        results = [WriteResult(r.idem_key, r.source_key, f"T{r.source_key}", "created") for r in sent]
        results.append(WriteResult(sent[3].idem_key, "3", "T3-again", "updated"))
        assert journal.mark_batch_done(step, "b", results) == 0
        crosswalk = journal.crosswalk(step)
        assert {k: crosswalk.get(k) for k in keys} == {k: "T3-again" if k == "3" else f"T{k}" for k in keys}
        assert journal.done_hashes(step) == {r.idem_key: f"h{r.source_key}" for r in sent}
        assert ledger_row(journal, step, "3") == {
            "idem_key": sent[3].idem_key,
            "step": step,
            "source_key": "3",
            "state": "done",
            "batch_id": "b",
            "target_id": "T3-again",
            "action": "updated",
            "content_hash": "h3",
        }
        names = journal._conn.execute("SELECT count(DISTINCT name) FROM records WHERE step = ?", (step,))
        assert names.fetchone() == (1200,)
    assert journal.integrity_check() == []


def test_pages_done_round_trip(journal: Journal) -> None:
    journal.mark_pages_done("s", ["startIndex=0&maxResults=100"])
    journal.mark_pages_done("s", ["startIndex=100&maxResults=100"])
    journal.mark_pages_done("s", ["startIndex=100&maxResults=100"])  # idempotent
    journal.mark_pages_done("t", ["all"])
    assert journal.pages_done("s") == {"startIndex=0&maxResults=100", "startIndex=100&maxResults=100"}
    assert journal.step_counts()["s"].pages_done == 2


def test_resume_reads_after_reopening(journal: Journal, jpath: Path) -> None:
    r = recs("s", "1", "2", "3", "4")
    journal.mark_batch_sent("s", "b1", r[:2])
    journal.mark_batch_done(
        "s", "b1", [WriteResult(x.idem_key, x.source_key, f"T{x.source_key}") for x in r[:2]]
    )
    journal.mark_batch_sent("s", "b2", r[2:])  # crash before the response
    journal.mark_pages_done("s", ["p1"])
    journal.close()
    j = Journal.open(jpath, PLAN)
    assert j.pages_done("s") == {"p1"}
    assert j.settled_keys("s") == {r[0].idem_key, r[1].idem_key}
    (doubt,) = in_doubt(j, "s")
    assert doubt.batch_id == "b2"
    assert set(doubt.records) == set(r[2:])
    assert j.crosswalk("s") == {"1": "T1", "2": "T2"}
    counts = j.step_counts()["s"]
    assert (counts.batches_sent, counts.records_sent, counts.records_done) == (1, 2, 2)
    # the in-doubt batch is resent and completes
    j.mark_batch_sent("s", "b2", r[2:])
    j.mark_batch_done("s", "b2", [WriteResult(x.idem_key, x.source_key, f"T{x.source_key}") for x in r[2:]])
    assert in_doubt(j) == []
    assert j.integrity_check() == []


def test_records_left_without_a_result_are_counted_and_reported(journal: Journal) -> None:
    r = recs("s", "1", "2")
    journal.mark_batch_sent("s", "b1", r)
    assert journal.mark_batch_done("s", "b1", [WriteResult(r[0].idem_key, "1", "T1")]) == 1
    assert any("still sent in a batch marked done" in p for p in journal.integrity_check())


def test_done_without_sent_is_refused_and_rolled_back(journal: Journal) -> None:
    r = recs("s", "1")
    with pytest.raises(ValueError, match="never marked sent"):
        journal.mark_batch_done("s", "nope", [WriteResult(r[0].idem_key, "1", "T1")])
    assert journal.crosswalk("s") == {}


def test_a_failed_transaction_leaves_nothing_of_the_batch(journal: Journal) -> None:
    r = recs("s", "1", "2")
    journal.mark_batch_sent("s", "b1", r)
    bad = [WriteResult(r[0].idem_key, "1", "T1"), WriteResult(r[1].idem_key, "2", "T2", "exploded")]  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        journal.mark_batch_done("s", "b1", bad)
    assert journal.crosswalk("s") == {}
    assert journal.keys_in_state("s", "sent") == {r[0].idem_key, r[1].idem_key}
    assert [b.batch_id for b in in_doubt(journal, "s")] == ["b1"]


def test_a_killed_process_mid_transaction_commits_nothing(jpath: Path) -> None:
    """A real crash: the child dies (os._exit) between the ledger update and the commit."""
    setup = Journal.open(jpath, PLAN)
    setup.begin_run("h")
    r = recs("s", "1", "2")
    setup.mark_batch_sent("s", "b1", r)
    setup.close()
    child = textwrap.dedent(
        f"""
        import os
        from migrator.journal import Journal, WriteResult
        write_results = Journal._write_results
        def die(self, cur, rows):
            write_results(self, cur, rows)
            os._exit(9)
        Journal._write_results = die
        j = Journal.open({str(jpath)!r}, {PLAN!r})
        done = [WriteResult({r[0].idem_key!r}, "1", "T1"), WriteResult({r[1].idem_key!r}, "2", "T2")]
        j.mark_batch_done("s", "b1", done)
        """
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=False)
    assert proc.returncode == 9, proc.stderr
    j = Journal.open(jpath, PLAN)
    assert j.keys_in_state("s", "done") == set()
    assert j.keys_in_state("s", "sent") == {r[0].idem_key, r[1].idem_key}
    assert [b.batch_id for b in in_doubt(j, "s")] == ["b1"]
    assert j.integrity_check() == []


def test_an_open_transaction_is_invisible_to_another_reader(journal: Journal, jpath: Path) -> None:
    r = recs("s", "1")
    journal.mark_batch_sent("s", "b1", r)
    reader = Journal.open(jpath, PLAN, read_only=True)
    with journal._tx() as cur:
        unnamed = (None, None, None, None)
        journal._write_results(cur, [("s", "1", r[0].idem_key, "b1", "T1", "created", None, 1.0, 1, *unnamed)])
        assert reader.crosswalk("s") == {}
        assert reader.keys_in_state("s", "done") == set()
    assert reader.crosswalk("s") == {"1": "T1"}


def test_plan_hash_change_detection(journal: Journal) -> None:
    assert journal.check_plan("hash-1").changed is False
    check = journal.check_plan("hash-2")
    assert check.changed is True
    assert check.previous == "hash-1"
    journal.finish_run("done")
    journal.begin_run("hash-2")
    assert journal.check_plan("hash-2").changed is False
    assert [(r["status"], r["plan_hash"]) for r in journal.runs()] == [
        ("done", "hash-1"),
        ("running", "hash-2"),
    ]


def test_first_run_has_no_plan_change(jpath: Path) -> None:
    j = Journal.open(jpath, PLAN)
    assert j.check_plan("x").changed is False
    assert j.check_plan("x").previous is None


def test_journal_of_another_plan_is_refused(journal: Journal, jpath: Path) -> None:
    journal.close()
    with pytest.raises(JournalError) as info:
        Journal.open(jpath, "other-plan")
    msg = str(info.value)
    assert "'acme'" in msg and "'other-plan'" in msg and "--journal" in msg and "--fresh" in msg


def test_newer_schema_is_refused(journal: Journal, jpath: Path) -> None:
    journal._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    journal.close()
    with pytest.raises(JournalError, match=r"newer migrator .*upgrade migrator"):
        Journal.open(jpath, PLAN)


def test_corrupt_file_is_refused_with_advice(jpath: Path) -> None:
    jpath.parent.mkdir(parents=True)
    jpath.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(JournalError, match=r"not a readable migrator journal.*--fresh"):
        Journal.open(jpath, PLAN)


def test_foreign_sqlite_file_is_refused(jpath: Path) -> None:
    jpath.parent.mkdir(parents=True)
    conn = sqlite3.connect(jpath)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="not a migrator journal"):
        Journal.open(jpath, PLAN)


def test_fresh_starts_over(journal: Journal, jpath: Path) -> None:
    journal.mark_pages_done("s", ["p1"])
    journal.close()
    j = Journal.open(jpath, PLAN, fresh=True)
    assert j.pages_done("s") == set()
    assert j.runs() == []
    assert stat.S_IMODE(os.stat(jpath).st_mode) == 0o600


def test_corrupt_pages_are_found_by_integrity_check(journal: Journal, jpath: Path) -> None:
    for n in range(20):
        r = recs("s", *(f"{n}-{i}" for i in range(50)))
        journal.mark_batch_sent("s", f"b{n}", r)
        journal.mark_batch_done(
            "s", f"b{n}", [WriteResult(x.idem_key, x.source_key, "T" + x.source_key) for x in r]
        )
    journal._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    journal.close()
    data = bytearray(jpath.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    for n in range(3, len(data) // page):  # scribble over the b-tree page headers after the schema pages
        for i in range(n * page, n * page + 12):
            data[i] = 0x5A
    jpath.write_bytes(bytes(data))
    try:
        j = Journal.open(jpath, PLAN)
    except JournalError:
        return  # refused at open: also a correct answer
    assert j.integrity_check() != []


def test_ledger_invariants_are_checked(journal: Journal) -> None:
    r = recs("s", "1")
    journal.mark_batch_sent("s", "b1", r)
    journal.mark_batch_done("s", "b1", [WriteResult(r[0].idem_key, "1", "T1")])
    assert journal.integrity_check() == []
    journal._conn.execute("UPDATE records SET state = 'rejected'")
    problems = journal.integrity_check()
    assert any("rejected records without a dead letter" in p for p in problems)
    journal._conn.execute("UPDATE records SET state = 'done', action = NULL")
    assert any("done records without an action" in p for p in journal.integrity_check())


def test_reasons_and_details_go_through_redact(jpath: Path) -> None:
    secret = "s3cr3t-token"
    j = Journal.open(jpath, PLAN, redact=lambda s: s.replace(secret, "***"))
    j.begin_run("h")
    r = recs("s", "1")
    j.mark_batch_sent("s", "b1", r)
    j.mark_batch_done("s", "b1", [], [Rejection(r[0].idem_key, "1", f"bad token {secret}", 401, {"h": secret})])
    (dead,) = j.dead_letters()
    assert secret not in dead.reason and "***" in dead.reason
    assert dead.detail == {"h": "***"}
    j.close()
    assert secret.encode() not in b"".join(
        Path(f"{jpath}{s}").read_bytes() for s in ("", "-wal") if Path(f"{jpath}{s}").exists()
    )


def test_delta_resend_of_a_done_record_keeps_its_target_id(journal: Journal) -> None:
    r = recs("s", "1")
    journal.mark_batch_sent("s", "b1", r)
    journal.mark_batch_done("s", "b1", [WriteResult(r[0].idem_key, "1", "T1")])
    changed = [SentRecord(r[0].idem_key, "1", "h-new")]
    journal.mark_batch_sent("s", "b2", changed)
    # still done with its old content (a crash now: the next delta sees the hash differ and sends it again),
    # and in doubt while its new batch is
    assert journal.done_hashes("s") == {r[0].idem_key: r[0].content_hash}
    assert journal.keys_in_state("s", "sent") == {r[0].idem_key}
    journal.mark_batch_done("s", "b2", [WriteResult(r[0].idem_key, "1", None, "updated")])
    rec = ledger_row(journal, "s", "1")
    assert rec is not None
    assert (rec["target_id"], rec["action"], rec["content_hash"]) == ("T1", "updated", "h-new")
    assert journal.integrity_check() == []


def test_a_schema_3_journal_is_upgraded_with_its_crosswalk_and_batch_counts(jpath: Path) -> None:
    """Schema 3 kept the crosswalk in its own table and had no done_count on old batches: opening it upgrades
    it in place, every target id and count kept."""
    j = Journal.open(jpath, PLAN)
    j.begin_run("h")
    r = recs("s", "1", "2")
    j.mark_batch_sent("s", "b1", r)
    j.mark_batch_done("s", "b1", [WriteResult(r[0].idem_key, "1", "T1"), WriteResult(r[1].idem_key, "2", None)])
    j.close()
    conn = sqlite3.connect(jpath, isolation_level=None)
    conn.executescript(
        """
        DROP VIEW crosswalk;
        CREATE TABLE crosswalk (step TEXT NOT NULL, source_key TEXT NOT NULL, target_id TEXT NOT NULL,
            PRIMARY KEY (step, source_key)) WITHOUT ROWID;
        INSERT INTO crosswalk VALUES ('s', '1', 'T1'), ('s', '2', 'T2-from-crosswalk');
        CREATE INDEX records_batch ON records (step, batch_id);
        UPDATE batches SET done_count = NULL;
        PRAGMA user_version = 3;
        """
    )
    conn.close()
    upgraded = Journal.open(jpath, PLAN)
    assert upgraded.crosswalk("s") == {"1": "T1", "2": "T2-from-crosswalk"}
    assert [n for _, _, n in upgraded.batch_completions()] == [2]
    assert upgraded.integrity_check() == []
    kinds = dict(sqlite3.connect(jpath).execute("SELECT name, type FROM sqlite_master").fetchall())
    assert kinds["crosswalk"] == "view" and "records_batch" not in kinds


def test_a_schema_8_journal_is_upgraded_to_a_ledger_with_the_same_rules_checked_without_in_lists(
    jpath: Path,
) -> None:
    """Schema 8's ledger checked its state and action with ``IN (…)`` lists, which cost SQLite a temporary
    table per row written: the upgrade copies the ledger into a table with the same rules in ``=``/``OR``
    form, every row, its target id, identity and the crosswalk view kept, and a state outside the rules is
    still refused."""
    j = Journal.open(jpath, PLAN)
    j.begin_run("h")
    r = recs("s", "1", "2", "3")
    j.mark_batch_sent("s", "b1", [r[0]._replace(payload={"firstName": "Ann", "lastName": "Lee"}), *r[1:]])
    j.mark_batch_done(
        "s",
        "b1",
        [WriteResult(r[0].idem_key, "1", "T1"), WriteResult(r[1].idem_key, "2", "T2", "updated")],
        [Rejection(r[2].idem_key, "3", "no", 422)],
    )
    j.close()
    before = sqlite3.connect(jpath).execute("SELECT * FROM records ORDER BY source_key").fetchall()
    conn = sqlite3.connect(jpath, isolation_level=None)
    conn.executescript(
        """
        DROP VIEW crosswalk;
        ALTER TABLE records RENAME TO records_old;
        CREATE TABLE records (
            step TEXT NOT NULL, source_key TEXT NOT NULL, idem_key TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('sent', 'done', 'rejected')), batch_id TEXT, target_id TEXT,
            action TEXT CHECK (action IS NULL OR action IN ('created', 'updated', 'unchanged')),
            content_hash TEXT, updated_at REAL NOT NULL, seq INTEGER, name TEXT, email TEXT, number TEXT,
            links TEXT, PRIMARY KEY (step, source_key)
        ) WITHOUT ROWID;
        INSERT INTO records SELECT * FROM records_old;
        DROP TABLE records_old;
        CREATE VIEW crosswalk AS SELECT step, source_key, target_id FROM records WHERE target_id IS NOT NULL;
        PRAGMA user_version = 8;
        """
    )
    conn.close()
    upgraded = Journal.open(jpath, PLAN)
    assert upgraded._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 9
    assert upgraded._conn.execute("SELECT * FROM records ORDER BY source_key").fetchall() == before
    assert upgraded.crosswalk("s") == {"1": "T1", "2": "T2"}
    assert upgraded.kept_identities([("s", "1")]) == {("s", "1"): ("Ann Lee", "", "", None)}
    assert upgraded.integrity_check() == []
    table = upgraded._conn.execute("SELECT sql FROM sqlite_master WHERE name = 'records'").fetchone()[0]
    assert " IN (" not in table
    for column, bad in (("state", "lost"), ("action", "deleted")):
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            upgraded._conn.execute(f"UPDATE records SET {column} = ? WHERE source_key = '1'", (bad,))
    upgraded.close()


def test_deferred_checkpoints_leave_the_wal_to_a_checkpoint_from_another_thread(jpath: Path) -> None:
    """While deferred, commits never copy the WAL into the file (SQLite would do it, with a disk sync, inside
    the commit that crosses 1,000 pages); ``checkpoint`` does it on its own connection, from any thread."""
    j = Journal.open(jpath, PLAN)
    j.begin_run("h")
    j.defer_checkpoints()
    for b in range(120):
        r = recs("s", *[str(b * 100 + i) for i in range(100)])
        j.mark_batch_sent("s", f"b{b}", r)
        j.mark_batch_done("s", f"b{b}", [WriteResult(x.idem_key, x.source_key, "T" + x.source_key) for x in r])
    with ThreadPoolExecutor(1) as pool:
        busy, frames, copied = pool.submit(j.checkpoint).result()
    assert busy == 0 and frames > 1000 and copied == frames  # nothing was checkpointed before
    j.defer_checkpoints(False)
    assert len(j.crosswalk("s")) == 12000
    j.close()
    assert len(Journal.open(jpath, PLAN).crosswalk("s")) == 12000
