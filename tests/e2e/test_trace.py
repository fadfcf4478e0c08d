"""`migrator trace PLAN KEY` through the real CLI on the sandbox: a group whose create answer was lost shows
the write sent, the answer lost, the lookup that found it and its outcome, with its run; the same record is
found by its source key, its idempotency key and its target id; a rejected group shows its dead letter with
the target's (redacted) answer, then its create in the next run; a bulk import the transport retries itself
(its answer lost, then a 5xx, then a 429) shows every try, then the answer."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import VELPIC_TO_VELPIC, migrator, post_json, records, run_plan, write_env

PLAN = (
    """
[plan]
name = "trace"
"""
    + VELPIC_TO_VELPIC
    + """
[steps.groups]
read  = { from = "source", entity = "group", page_size = 50 }
write = { to = "target", entity = "group", mode = "create", match = "name" }
map = { name = "name", description = "'Migrated from Velpic group ' + id" }
"""
)
#: 30 groups (one per 50 users); of their creates, some answers are lost after the group is made, and some
#: are refused with a 400 that echoes the request's headers (the access key)
FAULTS = "velpic/group:methods=POST,lose_rate=0.3,echo_rate=0.15"


def _trace(tmp: Path, key: str, *extra: str) -> dict[str, Any]:
    done = migrator(
        "trace",
        str(tmp / "plan.toml"),
        key,
        "--journal",
        str(tmp / "journal.sqlite"),
        *extra,
        "--format",
        "json",
        cwd=tmp,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def _lost_and_rejected(journal: Path) -> tuple[set[str], set[str]]:
    """Idempotency keys of the groups whose create answer was lost, and of those rejected (read from the
    journal's tables: what the sandbox did to each request is not otherwise tied to a record)."""
    conn = sqlite3.connect(journal)
    try:
        lost = {
            key
            for (keys,) in conn.execute(
                "SELECT coalesce(a.keys, b.keys) FROM attempts a JOIN batches b ON b.step = a.step "
                "AND b.batch_id = a.batch_id WHERE a.kind = 'write' AND a.outcome = 'lost'"
            )
            for key in (k if isinstance(k, str) else k[0] for k in orjson.loads(keys))
        }
        rejected = {k for (k,) in conn.execute("SELECT idem_key FROM records WHERE state = 'rejected'")}
    finally:
        conn.close()
    return lost, rejected


def test_trace_shows_every_attempt_of_a_lost_create_and_a_rejection(tmp_path: Path) -> None:
    config = SandboxConfig(seed=5, scale=1500, platforms=("velpic",), default_limits=False, faults=FAULTS)
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN)
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sb.env")
        first = run_plan(plan, tmp_path, env)
        assert first.returncode == 3, first.stdout + first.stderr  # the echoed 400s are dead letters
        faults = sb.sandbox.state.stats.faults
        assert faults.get("lost", 0) > 0 and faults.get("echoed", 0) > 0, faults
        lost, rejected = _lost_and_rejected(tmp_path / "journal.sqlite")
        resolved = sorted(lost - rejected)
        assert resolved and rejected

        # a create whose answer was lost: sent, lost, looked up (found), created — all in run 1
        by_idem = _trace(tmp_path, resolved[0])
        (rec,) = by_idem["records"]
        assert rec["state"] == "done" and rec["target_id"] and rec["runs"] == [1]
        kinds = [(e["kind"], e["what"]) for e in rec["events"]]
        assert kinds[0] == ("sent", "sent")
        assert ("write", "lost") in kinds and ("lookup", "found") in kinds
        assert (
            kinds.index(("write", "lost")) < kinds.index(("lookup", "found")) < kinds.index(("done", "created"))
        )
        lookup = next(e for e in rec["events"] if e["what"] == "found")
        assert lookup["target_id"] == rec["target_id"] and lookup["response"]  # an in-doubt answer is kept
        assert all(e["run_id"] == 1 for e in rec["events"])
        assert rec["payload"]["name"]
        target_groups = {str(g["id"]): g for g in records(sb.base_url, "velpic", "target", "group")}
        assert target_groups[rec["target_id"]]["name"] == rec["payload"]["name"]
        # the same record by its source key and by its target id
        assert _trace(tmp_path, rec["source_key"], "--step", "groups") == by_idem
        assert _trace(tmp_path, rec["target_id"]) == by_idem

        # a rejected record: the dead letter, and the refusing answer's excerpt with the access key masked
        secret = sb.sandbox.env()["VELPIC_TARGET_ACCESS_KEY"]
        (bad,) = _trace(tmp_path, sorted(rejected)[0])["records"]
        assert bad["state"] == "rejected"
        letter = next(e for e in bad["events"] if e["kind"] == "dead letter")
        assert letter["status"] == 400 and letter["reason"]
        refused = next(e for e in bad["events"] if e["kind"] == "write" and e["status"] == 400)
        assert "request_headers" in refused["response"] and "***" in refused["response"]
        assert secret not in json.dumps(bad)

        # the next run writes it: its trace holds both runs
        post_json(f"{sb.base_url}/_sandbox/faults", {"spec": "", "default_limits": False})
        second = run_plan(plan, tmp_path, env, "--retry-rejected")
        assert second.returncode == 0, second.stdout + second.stderr
        (again,) = _trace(tmp_path, bad["idempotency_key"])["records"]
        assert again["state"] == "done" and again["runs"] == [1, 2]
        assert [e["what"] for e in again["events"] if e["kind"] == "done"][-1] == "created"
        names = [g["name"] for g in target_groups.values()]
        source_groups = records(sb.base_url, "velpic", "source", "group")
        final = [g["name"] for g in records(sb.base_url, "velpic", "target", "group")]
        assert len(final) == len(set(final)) >= len(names)  # nothing created twice
        assert {g["name"] for g in source_groups} <= set(final)

    # text output: one heading per record, one line per event
    text = migrator(
        "trace", str(plan), bad["idempotency_key"], "--journal", str(tmp_path / "journal.sqlite"), cwd=tmp_path
    )
    assert text.returncode == 0, text.stderr
    assert "dead letter → 400" in text.stdout and "run 2" in text.stdout and secret not in text.stdout


USERS_PLAN = (
    """
[plan]
name = "trace-users"
"""
    + VELPIC_TO_VELPIC
    + """
[steps.users]
read  = { from = "source", entity = "user", page_size = 100, filter = { activeValue = "all" } }
write = { to = "target", entity = "user", mode = "bulk", match = "empNo", batch = 500 }
map.firstName      = "firstName"
map.lastName       = "lastName"
map.emailAddress   = "emailAddress"
map.employeeNumber = "employeeNumber"
map.roles          = [6]
"""
)
#: the first bulk import's answer is lost after the users are imported, the second try is answered 503, the
#: third 429; the fourth is answered (each rule counts the imports it sees: the first fault to fire decides)
RETRIED = (
    "velpic/bulkUserImport:lose_rate=1,first=1;"
    "velpic/bulkUserImport:error_rate=1,first=2;"
    "velpic/bulkUserImport:burst=1,first=3"
)


def test_trace_shows_every_try_of_a_write_the_transport_retried(tmp_path: Path) -> None:
    config = SandboxConfig(seed=5, scale=100, platforms=("velpic",), default_limits=False, faults=RETRIED)
    plan = tmp_path / "plan.toml"
    plan.write_text(USERS_PLAN)
    with SandboxThread(config) as sb:
        done = run_plan(plan, tmp_path, write_env(sb, tmp_path / "sb.env"))
        assert done.returncode == 0, done.stdout + done.stderr
        faults = sb.sandbox.state.stats.faults
        assert faults.get("lost") == 1 and faults.get("error") == 1 and faults.get("throttled") == 1, faults
        numbers = [u["employeeNumber"] for u in records(sb.base_url, "velpic", "target", "user")]
    source = records_of_journal(tmp_path / "journal.sqlite")
    assert source and len(numbers) == len(set(numbers)) == len(source)  # the retries imported nobody twice
    (rec,) = _trace(tmp_path, source[0])["records"]
    assert rec["state"] == "done" and rec["target_id"]
    writes = [e for e in rec["events"] if e["kind"] == "write"]
    assert [(e["attempt"], e["what"], e.get("status")) for e in writes] == [
        (1, "lost", None),
        (2, "server error", 503),
        (3, "rate limited", 429),
        (4, "answered", 200),
    ]
    assert all(e["request"] == "POST /bulkUserImport" and e["batch_id"] for e in writes)
    assert len({e["batch_id"] for e in writes}) == 1
    assert all(e["response"] for e in writes)  # the failures' errors, and the batch's first answer
    kinds = [e["kind"] for e in rec["events"]]
    assert kinds == ["sent", "write", "write", "write", "write", "done"]
    assert rec["events"][-1]["what"] == "created"  # the step read the target before the lost try imported them

    text = migrator("trace", str(plan), source[0], "--journal", str(tmp_path / "journal.sqlite"), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    for line in (
        "write try 1: POST /bulkUserImport lost",
        "write try 2: POST /bulkUserImport → 503 server error",
        "write try 3: POST /bulkUserImport → 429 rate limited",
        "write try 4: POST /bulkUserImport → 200 answered",
    ):
        assert line in text.stdout, text.stdout


def records_of_journal(journal: Path) -> list[str]:
    """The source keys of the records the journal holds."""
    conn = sqlite3.connect(journal)
    try:
        return sorted(k for (k,) in conn.execute("SELECT source_key FROM records"))
    finally:
        conn.close()


def test_trace_of_an_unknown_key_says_so(tmp_path: Path) -> None:
    config = SandboxConfig(seed=5, scale=20, platforms=("velpic",), default_limits=False)
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN)
    with SandboxThread(config) as sb:
        done = run_plan(plan, tmp_path, write_env(sb, tmp_path / "sb.env"))
        assert done.returncode == 0, done.stdout + done.stderr
    journal = str(tmp_path / "journal.sqlite")
    missing = migrator("trace", str(plan), "no-such-key", "--journal", journal, cwd=tmp_path)
    assert missing.returncode == 1 and "no record of plan trace" in missing.stderr
    assert "Traceback" not in missing.stderr
    wrong_step = migrator("trace", str(plan), "1", "--step", "users", "--journal", journal, cwd=tmp_path)
    assert wrong_step.returncode == 2 and "no step 'users'" in wrong_step.stderr


def test_trace_shows_the_429s_a_create_only_call_waited_out(tmp_path: Path) -> None:
    faults = "velpic/group:methods=POST,burst=2"  # the first two creates answered 429, then served
    config = SandboxConfig(seed=5, scale=20, platforms=("velpic",), default_limits=False, faults=faults)
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN)
    with SandboxThread(config) as sb:
        done = run_plan(plan, tmp_path, write_env(sb, tmp_path / "sb.env"))
        assert done.returncode == 0, done.stdout + done.stderr
        assert sb.sandbox.state.stats.faults.get("throttled") == 2, sb.sandbox.state.stats.faults
    traced = [_trace(tmp_path, key)["records"][0] for key in records_of_journal(tmp_path / "journal.sqlite")]
    tries = {
        rec["source_key"]: [
            (e["attempt"], e["what"], e.get("status")) for e in rec["events"] if e["kind"] == "write"
        ]
        for rec in traced
    }
    limited = [(key, n) for key, t in tries.items() for n, what, status in t if what == "rate limited"]
    assert len(limited) == 2, tries  # both 429s are in the trace, each as a try of the create it delayed
    for t in tries.values():  # every create: its 429s numbered in order, then its one answer
        assert [n for n, _, _ in t] == list(range(1, len(t) + 1)), t
        assert all(what == "rate limited" and status == 429 for _, what, status in t[:-1]), t
        assert t[-1][1] == "answered" and t[-1][2] is not None and t[-1][2] < 300, t
