"""What the journal keeps for `migrator trace`, in process: bounded growth (a step of N records written without
trouble keeps one answer per batch), a lost answer's try, lookup and outcome, redaction of every answer kept
(in every encoding, before the excerpt is cut), exact lookups by key, the upgrade of a schema-5 journal, and
the trace's assembly."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from migrator.connectors.base import Request, Response, WriteItem
from migrator.connectors.registry import make_auth, make_reader, make_writer
from migrator.errors import TransientError
from migrator.journal import (
    RESPONSE_EXCERPT,
    SCHEMA_VERSION,
    Attempt,
    Journal,
    SentRecord,
    TracedBatch,
    TracedRecord,
    WriteResult,
)
from migrator.logging import Redactor
from migrator.plan.mapping import compile_map
from migrator.runtime.build import crosswalk_resolver
from migrator.runtime.counters import StepCounters
from migrator.runtime.fetch import page_feed
from migrator.runtime.ledger import JournalLedger, outcome_of
from migrator.runtime.step import run_step
from migrator.runtime.step_spec import StepSpec
from migrator.runtime.write_path import WritePath
from migrator.trace import assemble, render_text, to_json
from migrator.wire import WireRequest
from tests.memory_transport import json_response, memory_transport
from tests.security.encodings import encodings

PLAN = "trace-unit"
SECRET = 'k3y/with+odd&chars="x"'


class FakeVelpic:
    """Velpic users: ``GET /user`` pages (and lookups: the list ignores filters), ``POST /user`` creates one.
    ``lose`` loses the answers of that many creates after they are done."""

    def __init__(self, users: int = 0, lose: int = 0) -> None:
        self.users: list[dict[str, Any]] = [
            {"id": i + 1, "userName": f"u{i}", "emailAddress": f"u{i}@example.com"} for i in range(users)
        ]
        self.lose = lose

    def __call__(self, request: WireRequest) -> Response:
        if request.method == "GET" and request.path == "/user":
            params = dict(request.params)
            start, size = int(params.get("startIndex", 0)), int(params.get("maxResults", 0) or 10**9)
            page = self.users[start : start + size]
            return json_response(200, {"results": page, "meta": {"totalResultCount": len(self.users)}})
        if request.method == "POST" and request.path == "/user":
            user = {**dict(request.json), "id": len(self.users) + 1}
            self.users.append(user)
            if self.lose:
                self.lose -= 1
                raise ConnectionResetError("lost answer")
            return json_response(200, user)
        return json_response(404, {"error": True, "message": "not here"})


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal.open(tmp_path / "journal.db", PLAN, redact=Redactor([SECRET]).text)
    j.begin_run("h")
    return j


async def _copy_users(journal: Journal, source: FakeVelpic, target: FakeVelpic, batch: int) -> StepCounters:
    """A create-only users step from ``source`` to ``target`` (each record looked up first, then created)."""
    compiled, problems = compile_map(
        {
            "userName": "userName",
            "emailAddress": "emailAddress",
            "firstName": "userName",
            "lastName": "userName",
            "roles": [6],
        },
        {},
    )
    assert compiled is not None, problems
    auth = make_auth("velpic", {"access_key": "k"})
    async with memory_transport("velpic", auth, source) as src, memory_transport("velpic", auth, target) as dst:
        reader = make_reader("velpic", "user", {}, 100, "users")
        counters = StepCounters()
        spec = StepSpec(
            plan_name=PLAN,
            name="users",
            reader=reader,
            feed=page_feed("users", reader, src, counters, 2),
            path=WritePath.of(make_writer("velpic", "user", "create", "emailAddress")),
            target=dst,
            mapping=compiled,
            resolve=crosswalk_resolver({}),
            batch=batch,
            journal=journal,
            ledger=JournalLedger(journal, "users"),
            read_concurrency=2,
            write_concurrency=2,
            counters=counters,
        )
        return await run_step(spec)


def _attempts(journal: Journal) -> list[dict[str, Any]]:
    cols = ("kind", "batch_id", "keys", "try", "outcome", "status", "response", "run_id")
    rows = journal._conn.execute(f"SELECT {', '.join(cols)} FROM attempts ORDER BY id").fetchall()
    return [dict(zip(cols, r, strict=True)) for r in rows]


async def test_n_records_written_without_trouble_keep_one_answer_per_batch(journal: Journal) -> None:
    counters = await _copy_users(journal, FakeVelpic(users=120), FakeVelpic(), batch=10)
    assert counters.created == 120
    rows = _attempts(journal)
    writes = [r for r in rows if r["kind"] == "write"]
    lookups = [r for r in rows if r["kind"] == "lookup"]
    assert len(writes) == 120 and all(r["outcome"] == "answered" and r["status"] == 200 for r in writes)
    assert len(lookups) == 120 and all(r["outcome"] == "not found" for r in lookups)  # looked up before create
    batches = {r["batch_id"] for r in writes}
    assert len(batches) == 12
    kept = [r for r in rows if r["response"] is not None]
    assert len(kept) == len(batches)  # the first answer of each batch; no lookup that found nothing
    assert {r["batch_id"] for r in kept} == batches
    assert all(r["run_id"] == journal.run_id for r in rows)


async def test_a_lost_answer_keeps_its_try_the_lookup_that_found_it_and_the_outcome(journal: Journal) -> None:
    target = FakeVelpic(lose=1)
    await _copy_users(journal, FakeVelpic(users=3), target, batch=3)
    assert len(target.users) == 3  # created once
    (record,) = journal.find_records("1", "users")
    batches = journal.record_batches("users", record.idem_key)
    attempts = journal.record_attempts("users", record.idem_key, [b.batch_id for b in batches])
    seen = [(a.kind, a.attempt, a.outcome) for a in attempts]
    # tries count per moment: the lookup before the batch was sent, then the batch's call and its lookup
    assert seen == [("lookup", 1, "not found"), ("write", 1, "lost"), ("lookup", 1, "found")]
    assert attempts[0].batch_id is None and attempts[1].batch_id == attempts[2].batch_id == batches[-1].batch_id
    lost, found = attempts[1], attempts[2]
    assert lost.response is not None and lost.status is None  # the error is kept, with no status
    assert found.target_id == record.target_id and found.response is not None  # an in-doubt lookup's answer
    trace = assemble(record, batches, attempts, journal.record_dead_letters("users", record.idem_key))
    assert [e.what for e in trace.events] == ["not found", "sent", "lost", "found", "created"]
    assert trace.payload["emailAddress"] == "u0@example.com"


def test_every_answer_kept_is_redacted_in_every_encoding_before_it_is_cut(journal: Journal) -> None:
    ledger = JournalLedger(journal, "s")
    ledger.batch_sent("b1", [SentRecord("k1", "1")])
    body = " ".join(f"{name}={form}" for name, form in encodings(SECRET).items())
    # a secret straddling the excerpt's cut is masked whole, not half visible
    pad = "x" * (RESPONSE_EXCERPT - 10)
    request = Request("POST", "/user", "/user")
    item = WriteItem("k1", "1", {})
    ledger.attempted([item], request, Response(400, body.encode()))
    ledger.attempted([item], request, Response(400, (pad + SECRET).encode()))
    ledger.attempted([item], request, Response(400, orjson.dumps({"session": {"token": "t0ken-not-known"}})))
    texts = [r["response"] for r in _attempts(journal)]
    assert all(t is not None and len(t) <= RESPONSE_EXCERPT for t in texts)
    for form in encodings(SECRET).values():
        assert not any(form in t for t in texts), form
    assert "t0ken-not-known" not in texts[2]  # a value under a sensitive key, though no known secret
    assert not any(SECRET[:10] in t for t in texts)
    ledger.batch_done("b1", [], [])


def test_lookups_by_key_are_exact(journal: Journal) -> None:
    journal.mark_batch_sent("s", "b1", [SentRecord("ik1", "1"), SentRecord("ik10", "10")])
    journal.mark_batch_done("s", "b1", [WriteResult("ik1", "1", "T10"), WriteResult("ik10", "10", "T1")])
    assert [r.source_key for r in journal.find_records("1")] == ["1"]  # not "10", nor target id "T1"
    assert [r.source_key for r in journal.find_records("T1")] == ["10"]
    assert [r.source_key for r in journal.find_records("ik1")] == ["1"]
    assert journal.find_records("ik") == [] and journal.find_records("1", "other") == []
    assert [b.batch_id for b in journal.record_batches("s", "ik1")] == ["b1"]
    assert journal.record_batches("s", "ik") == []  # a key inside another is not the record


def test_a_schema_5_journal_opens_and_upgrades(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    j = Journal.open(path, PLAN)
    j.begin_run("h")
    j.mark_batch_sent("s", "b1", [SentRecord("ik1", "1")])
    j.mark_batch_done("s", "b1", [WriteResult("ik1", "1", "T1")])
    j.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("DROP INDEX attempts_batch; DROP TABLE attempts; PRAGMA user_version = 5;")
    conn.close()
    with Journal.open(path, PLAN, read_only=True) as reader:  # a reader has a writer upgrade it first
        assert reader._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 9
        assert reader.crosswalk("s") == {"1": "T1"}
        assert reader.record_attempts("s", "ik1", ["b1"]) == []
        assert reader.integrity_check() == []
    with Journal.open(path, PLAN) as writer:
        writer.begin_run("h")
        writer.record_attempt("s", Attempt("write", "b1", None, 1, "POST /x", 200, "answered"))
        (kept,) = writer.record_attempts("s", "ik1", ["b1"])
        assert kept.outcome == "answered" and kept.run_id == writer.run_id


def test_outcomes_name_what_became_of_a_call() -> None:
    lost = TransientError("connection failed", platform="velpic", method="POST", url="/user")
    server = TransientError("server error", platform="velpic", method="POST", url="/user", status=503)
    assert outcome_of(lost, read=False) == (None, "lost")
    assert outcome_of(server, read=False) == (503, "server error")
    assert outcome_of(Response(200, b"{}"), read=True) == (200, "answered")
    assert outcome_of(Response(200, b"<html>"), read=False) == (200, "unreadable")


def test_a_trace_orders_events_and_marks_batches_settled_later() -> None:
    record = TracedRecord("s", "1", "ik1", "done", "b2", "T1", "created", "h", 30.0)
    batches = [
        TracedBatch("b1", "done", 1, 1, 10.0, 11.0, {"n": 1}),
        TracedBatch("b2", "done", 2, 2, 20.0, 21.0, None),
    ]
    trace = assemble(record, batches, [], [])
    assert [(e.kind, e.run_id, e.what) for e in trace.events] == [
        ("sent", 1, "sent"),
        ("done", 1, "settled later"),
        ("sent", 2, "sent"),
        ("done", 2, "created"),
    ]
    assert trace.payload == {"n": 1} and trace.runs == (1, 2)
    assert to_json([trace])["records"][0]["events"][-1]["target_id"] == "T1"
    assert "batch b2 created T1" in render_text([trace])


def test_a_record_only_in_a_batch_sent_by_a_killed_run_is_found_in_doubt(journal: Journal) -> None:
    journal.mark_batch_sent("s", "b1", [SentRecord("ik1", "1", "h1", {"name": "G1"}), SentRecord("ik2", "2")])
    (record,) = journal.find_records("1")  # no ledger row: the run was killed before the answer
    assert (record.state, record.idem_key, record.batch_id) == ("sent", "ik1", "b1")
    assert journal.find_records("ik2", "s")[0].source_key == "2" and journal.find_records("ik") == []
    trace = assemble(record, journal.record_batches("s", "ik1"), [], [])
    assert [e.what for e in trace.events] == ["sent"] and trace.payload == {"name": "G1"}
    assert "now: in doubt" in render_text([trace])


def test_the_ledger_forgets_each_batch_once_it_is_done(journal: Journal) -> None:
    """Memory stays flat over millions of records: what the ledger counts per record goes with its batch."""
    ledger = JournalLedger(journal, "s")
    request = Request("GET", "/user", "/user")
    for b in range(50):
        items = [WriteItem(f"k{b}-{i}", f"{b}-{i}", {}) for i in range(10)]
        for it in items:
            ledger.looked_up(it, request, Response(200, b"{}"), None, in_doubt=False)
        ledger.batch_sent(f"b{b}", [SentRecord(it.idem_key, it.source_key) for it in items])
        ledger.attempted(items, Request("POST", "/user", "/user"), Response(200, b"{}"), [])
        ledger.batch_done(f"b{b}", [WriteResult(it.idem_key, it.source_key, "T") for it in items], [])
    assert (ledger._sending, ledger._batch_of, dict(ledger._loose_tries)) == ({}, {}, {})
