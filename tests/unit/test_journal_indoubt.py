"""Records in doubt: counted by record, not by batch (a batch left sent by a killed run stops counting once
other batches — another batch size builds other ones — settle its records), kept with the payload they were
sent with (what a lookup of a create in doubt must use), and dropped with their payloads once nothing is in
doubt."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import pytest

from migrator.commands import status
from migrator.journal import SCHEMA_VERSION, Journal, LedgerCounts, SentRecord, WriteResult

PLAN = "acme"


def sent(*keys: str, name: str = "G") -> list[SentRecord]:
    return [SentRecord(f"k{k}", k, f"h{k}", {"name": f"{name}{k}"}) for k in keys]


def done(records: list[SentRecord]) -> list[WriteResult]:
    return [WriteResult(r.idem_key, r.source_key, f"T{r.source_key}") for r in records]


@pytest.fixture
def jpath(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"


@pytest.fixture
def journal(jpath: Path) -> Journal:
    j = Journal.open(jpath, PLAN, clock=lambda: 1000.0)  # one time for everything: order is not by clock
    j.begin_run("h")
    return j


def _batches(journal: Journal) -> list[tuple[str, str]]:
    return journal._conn.execute("SELECT batch_id, state FROM batches ORDER BY seq").fetchall()


def test_a_batch_left_sent_stops_counting_when_smaller_batches_settle_its_records(journal: Journal) -> None:
    journal.mark_batch_sent("groups", "b-of-4", sent("1", "2", "3", "4"))  # killed before the answer
    assert journal.step_counts()["groups"].records_sent == 4
    # the resumed run has a batch size of 2: other batches, other ids
    journal.mark_batch_sent("groups", "b-12", sent("1", "2"))
    journal.mark_batch_done("groups", "b-12", done(sent("1", "2")))
    assert journal.keys_in_state("groups", "sent") == {"k3", "k4"}
    counts = journal.step_counts()["groups"]
    assert (counts.records_sent, counts.batches_sent, counts.records_done) == (2, 1, 2)
    journal.mark_batch_sent("groups", "b-34", sent("3", "4"))
    journal.mark_batch_done("groups", "b-34", done(sent("3", "4")))
    assert journal.keys_in_state("groups", "sent") == set()
    assert journal.step_counts() == {"groups": LedgerCounts(batches_done=2, records_done=4, created=4)}
    assert journal.sent_payloads("groups") == {}
    assert journal.integrity_check() == []


def test_status_shows_no_record_in_doubt_once_settled_by_other_batches(
    journal: Journal, jpath: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal.mark_batch_sent("groups", "b-of-4", sent("1", "2", "3", "4"))
    for part in (("1", "2"), ("3", "4")):
        journal.mark_batch_sent("groups", "b-" + "".join(part), sent(*part))
        journal.mark_batch_done("groups", "b-" + "".join(part), done(sent(*part)))
    journal.close()
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[plan]\nname = "acme"\n[connections.src]\nplatform = "files"\npath = "in"\n'
        '[connections.dst]\nplatform = "files"\npath = "out"\n'
        '[steps.groups]\nread = { from = "src", entity = "groups.csv" }\n'
        'write = { to = "dst", entity = "groups.csv", mode = "create" }\nmap = { name = "name" }\n'
    )
    args = argparse.Namespace(
        plan=str(plan), env_file=[], journal=str(jpath), dead_letters=10, watch=False, interval=2.0
    )
    assert status.run(args) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("groups"))
    assert "done         4" in line and line.rstrip().endswith("in doubt     0"), line


def test_sent_payloads_are_what_the_last_batch_sent(journal: Journal) -> None:
    journal.mark_batch_sent("groups", "b1", sent("1", "2", name="Old "))
    journal.mark_batch_sent("groups", "b2", sent("2", name="New "))  # killed again; the source renamed it
    assert journal.sent_payloads("groups") == {"k1": {"name": "Old 1"}, "k2": {"name": "New 2"}}
    journal.mark_batch_sent("groups", "b3", [SentRecord("k3", "3")])  # sent without a payload: none kept
    assert journal.keys_in_state("groups", "sent") == {"k1", "k2", "k3"}
    assert set(journal.sent_payloads("groups")) == {"k1", "k2"}
    journal.mark_batch_done("groups", "b2", done(sent("2")))
    assert journal.sent_payloads("groups") == {"k1": {"name": "Old 1"}}


def test_a_done_record_sent_again_is_in_doubt_until_its_new_batch_is_done(journal: Journal) -> None:
    journal.mark_batch_sent("s", "b1", sent("1"))
    journal.mark_batch_done("s", "b1", done(sent("1")))
    journal.mark_batch_sent("s", "b2", sent("1", name="Changed "))  # a delta run: the content changed
    assert journal.keys_in_state("s", "sent") == {"k1"}
    assert journal.sent_payloads("s") == {"k1": {"name": "Changed 1"}}
    assert journal.step_counts()["s"].records_sent == 1
    journal.mark_batch_done("s", "b2", [WriteResult("k1", "1", None, "updated")])
    assert journal.keys_in_state("s", "sent") == set()


def test_finish_run_drops_the_batches_nothing_is_in_doubt_in(journal: Journal) -> None:
    journal.mark_batch_sent("s", "old", sent("1", "2", "3"))
    journal.mark_batch_sent("s", "again", sent("3"))  # 3 is in doubt, carried by this later batch
    journal.mark_batch_sent("s", "b12", sent("1", "2"))
    journal.mark_batch_done("s", "b12", done(sent("1", "2")))
    journal.finish_run("done")
    assert _batches(journal) == [("again", "sent"), ("b12", "done")]
    assert journal.sent_payloads("s") == {"k3": {"name": "G3"}}
    assert journal.step_counts()["s"].records_sent == 1


def test_records_left_sent_by_a_done_batch_are_in_doubt(journal: Journal) -> None:
    records = sent("1", "2")
    journal.mark_batch_sent("s", "b1", records)
    assert journal.mark_batch_done("s", "b1", done(records[:1])) == 1  # the answer said nothing of 2
    assert journal.keys_in_state("s", "sent") == {"k2"}
    assert journal.step_counts()["s"].records_sent == 1


def test_a_schema_4_journal_is_numbered_in_sent_order(jpath: Path) -> None:
    """Schema 4 had no batch numbers: the upgrade numbers batches by the time they were sent, so a batch left
    sent by a killed run is settled by the later ones of the resumed run (and opened by a reader too)."""
    clock = iter(float(t) for t in range(1000, 2000))
    j = Journal.open(jpath, PLAN, clock=lambda: next(clock))
    j.begin_run("h")
    j.mark_batch_sent("s", "zz-killed", sent("1", "2"))  # an id after the others': the order is the time's
    j.mark_batch_sent("s", "b1", sent("1"))
    j.mark_batch_done("s", "b1", done(sent("1")))
    j.close()
    conn = sqlite3.connect(jpath, isolation_level=None)
    conn.executescript(
        """
        DROP INDEX batches_seq;
        ALTER TABLE batches DROP COLUMN seq;
        ALTER TABLE batches DROP COLUMN payloads;
        ALTER TABLE records DROP COLUMN seq;
        PRAGMA user_version = 4;
        """
    )
    conn.close()
    with Journal.open(jpath, PLAN, read_only=True) as reader:
        assert reader._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert reader.keys_in_state("s", "sent") == {"k2"}
        assert reader.sent_payloads("s") == {}  # schema 4 kept no payloads
        assert reader.integrity_check() == []
