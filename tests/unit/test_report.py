"""Reports: CSV cells for a spreadsheet, field-level detail, throughput buckets, budgets, the HTML page, files
written 0600, a planted secret-like reason escaped in HTML and quoted in CSV, the journal schema upgrade."""

from __future__ import annotations

import csv
import io
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from migrator.coverage import COVERAGE_HEADER, CoverageRow, rows_to_json
from migrator.identity import Identity, Linked, identify, identity_cells
from migrator.journal import SCHEMA_VERSION, DeadLetter, Journal, Rejection, SentRecord, WriteResult
from migrator.logging import Redactor
from migrator.report import (
    CROSSWALK_HEADER,
    SUCCESS_HEADER,
    ReportData,
    collect,
    count_records,
    flatten_detail,
    guard_cell,
    plain_csv,
    private_csv,
    reason_pattern,
    render_html,
    to_csv,
    top_reasons,
    write_reports,
)
from migrator.report_html import budget_rows, step_rows, throughput_buckets


def _parse(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM expected"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+33 6 12", "'+33 6 12"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=cmd", "'\t=cmd"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (42, "42"),
    ],
)
def test_guard_cell(value: Any, cell: str) -> None:
    assert guard_cell(value) == cell


def test_csv_is_rfc4180_with_bom_and_crlf() -> None:
    rows = [("a,b", 'say "hi"', "two\nlines", "é")]
    data = to_csv(("x", "y", "z", "w"), rows)
    assert data.count(b"\r\n") == 2  # one after the header, one after the row (the inner \n is quoted)
    assert b'"a,b","say ""hi""","two\nlines",\xc3\xa9\r\n' in data
    assert _parse(data) == [["x", "y", "z", "w"], ["a,b", 'say "hi"', "two\nlines", "é"]]


@pytest.mark.parametrize(
    ("detail", "text"),
    [
        (None, ""),
        (
            {"Email": ["is invalid", "is taken"], "FirstName": ["required"]},
            "Email: is invalid; Email: is taken; FirstName: required",
        ),
        ({"roles": "bad"}, "roles: bad"),
        ({"": ["whole row"]}, "whole row"),
        (["a", "b"], "a; b"),
        ("text", "text"),
    ],
)
def test_flatten_detail(detail: Any, text: str) -> None:
    assert flatten_detail(detail) == text


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([], (0.0, 1.0, [])),
        ([("s", 100.0, 5)], (100.0, 1.0, [5])),
        ([("s", 100.0, 5), ("s", 100.4, 3), ("s", 102.0, 1)], (100.0, 1.0, [8, 0, 1])),
        # 200 s span with at most 48 buckets → 5 s buckets
        ([("a", 0.0, 1), ("b", 200.0, 2), ("a", 4.9, 1)], (0.0, 5.0, [2] + [0] * 39 + [2])),
    ],
)
def test_throughput_buckets(
    points: list[tuple[str, float, int]], expected: tuple[float, float, list[int]]
) -> None:
    assert throughput_buckets(points) == expected


def test_budget_rows_compare_average_rate_with_budget() -> None:
    stats = {
        "transports": {
            "target": {"requests": {"/bulkUserImport": 10, "/group": 40}},
            "source": {"requests": {"/user": 7}},
        },
        "budgets": {"target": {"/bulkUserImport": "1/second", "default": "20/second"}},
    }
    rows = budget_rows(stats, 20.0)
    assert rows == [
        ("source", "/user", 7, "", 0.35, None),
        ("target", "/bulkUserImport", 10, "1/second", 0.5, 0.5),
        ("target", "/group", 40, "20/second", 2.0, 0.1),
    ]
    assert budget_rows({}, 10.0) == []


def test_step_rows_mix_last_run_and_ledger(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    stats = {
        "steps": {"users": {"status": "done", "read": 9, "skipped": 2, "started_at": 5.0, "finished_at": 7.5}}
    }
    rows = step_rows(j.step_counts(), stats)
    assert rows == [("users", "done", 9, 3, 0, 1, 1, 2, 2.5, 4)]
    j.close()


def _journal(tmp_path: Path, reason: str = "firstName is required") -> Journal:
    """A journal with one run: users u1 u2 created, u3 unchanged, u4 u5 rejected, u5 written by a later run."""
    clock = iter(float(t) for t in range(1000, 2000))
    j = Journal.open(tmp_path / "j.sqlite", "p", clock=lambda: next(clock))
    run = j.begin_run("h")
    j.mark_batch_sent("users", "b1", [SentRecord(f"k{i}", f"u{i}") for i in range(1, 6)])
    j.mark_batch_done(
        "users",
        "b1",
        [
            WriteResult("k1", "u1", "501"),
            WriteResult("k2", "u2", "502"),
            WriteResult("k3", "u3", "503", "unchanged"),
        ],
        [
            Rejection("k4", "u4", reason, 400, {"FirstName": [reason]}),
            Rejection("k5", "u5", "bad email", 400, None),
        ],
    )
    j.mark_batch_sent("users", "b2", [SentRecord("k5", "u5")])
    j.mark_batch_done("users", "b2", [WriteResult("k5", "u5", "505")])
    j.finish_run("done")
    j.save_run_stats(
        run,
        {
            "steps": {
                "users": {
                    "status": "done",
                    "read": 5,
                    "created": 3,
                    "rejected": 1,
                    "started_at": 1.0,
                    "finished_at": 3.0,
                }
            },
            "transports": {
                "target": {
                    "requests": {"/bulkUserImport": 2},
                    "statuses": {"200": 2},
                    "retries": 1,
                    "rate_limited": 1,
                }
            },
            "budgets": {"target": {"/bulkUserImport": "10/second"}},
        },
    )
    return j


def test_journal_reads_for_reports(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    assert [(d.source_key, d.reason) for d in j.open_rejections()] == [("u4", "firstName is required")]
    assert [(s, n) for s, _, n in j.batch_completions()] == [("users", 3), ("users", 1)]
    assert j.run_stats()[1]["budgets"] == {"target": {"/bulkUserImport": "10/second"}}
    assert top_reasons(j.open_rejections()) == [("users", "firstName is required", 1)]
    j.close()


def test_write_reports_files_and_contents(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    written = write_reports(j, tmp_path / "out", "p", entities={"users": "user"})
    j.close()
    assert [p.name for p in written] == [
        "success.csv",
        "errors.csv",
        "crosswalk.csv",
        "report.html",
        "coverage.csv",
    ]
    for p in written:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    success = _parse((tmp_path / "out" / "success.csv").read_bytes())
    who = ["name", "email", "number", "linked_to"]
    assert success[0] == ["step", "source_key", "target_id", "action", *who]
    nobody = ["", "", "", ""]  # sent without a payload
    assert success[1:] == [
        ["users", "u1", "501", "created", *nobody],
        ["users", "u2", "502", "created", *nobody],
        ["users", "u3", "503", "unchanged", *nobody],
        ["users", "u5", "505", "created", *nobody],
    ]
    errors = _parse((tmp_path / "out" / "errors.csv").read_bytes())
    assert errors[0] == ["step", "source_key", "status", "reason", "detail", *who]
    assert errors[1:] == [
        ["users", "u4", "400", "firstName is required", "FirstName: firstName is required", *nobody]
    ]
    walk = _parse((tmp_path / "out" / "crosswalk.csv").read_bytes())
    assert walk[0] == ["entity", "step", "source_id", "target_id", *who]
    assert walk[1] == ["user", "users", "u1", "501", *nobody]
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<svg" in page and page.count('class="bar"') == 2
    assert "/bulkUserImport" in page and "10/second" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # no external asset
    assert "<script" not in page and "<link" not in page


def test_planted_secret_like_reason_is_escaped_in_html_and_quoted_in_csv(tmp_path: Path) -> None:
    planted = '=HYPERLINK("http://x/?k=sk_live_PLANTED") <script>alert("sk_live_PLANTED")</script>, "q"'
    j = _journal(tmp_path, reason=planted)
    written = write_reports(j, tmp_path / "out", "p")
    data = collect(j, "p")
    j.close()
    page = written[3].read_text()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;sk_live_PLANTED&quot;)&lt;/script&gt;" in page
    assert "&lt;script&gt;" in render_html(data)
    errors = _parse(written[1].read_bytes())
    assert errors[1][3] == "'" + planted  # formula guard, and the quotes and comma survive RFC 4180 quoting
    assert errors[1][4] == f"FirstName: {planted}"


@pytest.mark.parametrize(
    "rows",
    [
        [("users", "1", "T1", "created", "Ann Lee", "ann@x.org", "E1", "")],
        [("users", "1", "", "", "", "", "", ""), ("users", "2", "T2", "updated", "Zoë", "z@x.org", "", "")],
        [("users", "1", "Lee, Ann", "x")],  # a comma
        [("users", '"quoted"', "x", "y")],  # a quote
        [("users", "two\r\nlines", "x", "y"), ("users", "a\nb", "x", "y")],  # line breaks
        [("users", "a\x1fb", "x"), ("users", "a\x1eb", "x")],  # the joins' own separators
        [("",), ("a",)],  # a row of one empty cell is quoted by the csv module
        [],
    ],
)
def test_plain_csv_writes_what_the_csv_module_writes(tmp_path: Path, rows: list[tuple[str, ...]]) -> None:
    """The report's CSV lines are the csv module's (excel dialect, CRLF, minimal quoting), whether the fast
    path (no cell needs quoting) or the module writes them."""
    expected = to_csv(("a",), rows)
    with private_csv(tmp_path / "x.csv", ("a",)) as put:
        put(rows)
    assert (tmp_path / "x.csv").read_bytes() == expected
    needs_module = any(len(r) < 2 or any(c in cell for cell in r for c in ',"\r\n\x1e\x1f') for r in rows)
    assert (plain_csv(rows) is None) == needs_module


def test_v1_journal_is_upgraded_with_run_stats(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    j = Journal.open(path, "p")
    j.begin_run("h")
    j.close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE run_stats")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    j = Journal.open(path, "p")
    assert j._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    j.save_run_stats(1, {"steps": {}})
    assert j.run_stats() == {1: {"steps": {}}}
    assert [r["id"] for r in j.runs()] == [1]
    j.close()


def test_a_batch_sent_by_an_earlier_process_is_named_from_its_kept_payloads_when_done(tmp_path: Path) -> None:
    """Who a record is is picked when its batch is marked sent; a batch marked done by another process (a
    resumed run settling it) is named from the payloads the journal kept with it, through that journal's
    redactor."""
    path = tmp_path / "j.sqlite"
    with Journal.open(path, "p") as j:
        j.begin_run("h")
        ann = {"firstName": "Ann", "email": "a@x.org"}
        j.mark_batch_sent("users", "b1", [SentRecord("k1", "1", None, ann)])
    with Journal.open(path, "p", redact=Redactor(["a@x.org"]).text) as j:
        j.mark_batch_done("users", "b1", [WriteResult("k1", "1", "T1")])
        assert j.kept_identities([("users", "1")]) == {("users", "1"): ("Ann", "***", "", None)}


def test_a_schema_7_journal_names_its_records_from_the_payloads_its_batches_kept(tmp_path: Path) -> None:
    """A journal from before records kept who they are: the upgrade picks each record's identity from the
    latest payload its batches kept (links by the newest run statistics' references, texts redacted), so its
    report names every person as before."""
    path = tmp_path / "old.sqlite"
    j = Journal.open(path, "p")
    run = j.begin_run("h")
    ann = {"firstName": "Ann", "lastName": "Old", "email": "ann@x.org", "password": "pw"}
    j.mark_batch_sent("users", "b1", [SentRecord("k1", "1", None, ann)])
    j.mark_batch_done("users", "b1", [WriteResult("k1", "1", "T1")])
    j.mark_batch_sent("users", "b2", [SentRecord("k1", "1", None, {**ann, "lastName": "Lee"})])
    j.mark_batch_done("users", "b2", [WriteResult("k1", "1", "T1", "updated")])
    j.mark_batch_sent("members", "b3", [SentRecord("m1", "1", None, {"groupID": "G", "user": "T1"})])
    j.mark_batch_done("members", "b3", [WriteResult("m1", "1", "G/T1")])
    j.finish_run("done")
    j.save_run_stats(run, {"steps": {}, "references": {"members": {"user": "users"}}})
    j.close()
    conn = sqlite3.connect(path)
    for column in ("name", "email", "number", "links"):
        conn.execute(f"ALTER TABLE records DROP COLUMN {column}")
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()
    with Journal.open(path, "p", read_only=True) as reader:  # a writer upgrades it first
        assert reader._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        write_reports(reader, tmp_path / "out", "p", entities={"users": "user", "members": "member"})
    success = _parse((tmp_path / "out" / "success.csv").read_bytes())
    assert success[1:] == [
        ["members", "1", "G/T1", "created", "Ann Lee", "ann@x.org", "", "groupID G"],
        ["users", "1", "T1", "updated", "Ann Lee", "ann@x.org", "", ""],
    ]


def test_success_and_crosswalk_rows_come_from_one_pass_with_every_cell_guarded(tmp_path: Path) -> None:
    """A done record without a target id is a success but not in the crosswalk; a record rejected after it was
    written keeps its crosswalk row but is no success; step, entity and free-text cells are formula-guarded."""
    j = Journal.open(tmp_path / "j.sqlite", "p")
    j.begin_run("h")
    keys = {sk: f"k-{sk}" for sk in ("=1", "2", "3")}
    j.mark_batch_sent("-step", "b1", [SentRecord(k, sk) for sk, k in keys.items()])
    j.mark_batch_done(
        "-step",
        "b1",
        [
            WriteResult(keys["=1"], "=1", "+T1"),
            WriteResult(keys["2"], "2", None),
            WriteResult(keys["3"], "3", "T3"),
        ],
    )
    j.mark_batch_sent("-step", "b2", [SentRecord(keys["3"], "3")])
    j.mark_batch_done("-step", "b2", [], [Rejection(keys["3"], "3", "refused", 400)])
    write_reports(j, tmp_path / "out", "p", entities={"-step": "@entity"})
    j.close()
    success = _parse((tmp_path / "out" / "success.csv").read_bytes())
    nobody = ["", "", "", ""]
    # key order
    assert success[1:] == [
        ["'-step", "2", "", "created", *nobody],
        ["'-step", "'=1", "'+T1", "created", *nobody],
    ]
    walk = _parse((tmp_path / "out" / "crosswalk.csv").read_bytes())
    assert walk[1:] == [
        ["'@entity", "'-step", "3", "T3", *nobody],
        ["'@entity", "'-step", "'=1", "'+T1", *nobody],
    ]


def test_coverage_csv_and_html_carry_the_newest_kept_coverage_with_the_ledgers_counts(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    rows = [
        CoverageRow("source", "user", ("active",), 5, "users"),
        CoverageRow("source", "user", ("inactive",), 2, None, "user status inactive: excluded by <filter>"),
        CoverageRow("source", "lesson_schedule", ("",), None, None, "no step reads it", "read once per user"),
    ]
    stats = j.run_stats()[1]
    j.save_run_stats(1, {**stats, "coverage": rows_to_json(rows)})
    written = write_reports(j, tmp_path / "out", "p")
    j.close()
    table = _parse(written[4].read_bytes())
    assert table[0] == list(COVERAGE_HEADER)
    # read from the run's statistics; written (done) and rejected from the ledger: u5 was written by a retry
    assert table[1] == ["source", "user", "active", "5", "users", "5", "4", "1", "no", ""]
    assert table[2] == ["source", "user", "inactive", "2", "", "", "", "", "yes", rows[1].reason]
    assert table[3][8:] == ["yes", "no step reads it; not counted: read once per user"]
    page = written[3].read_text()
    assert "<h2>Coverage</h2>" in page and "excluded by &lt;filter&gt;" in page
    assert "<b>2</b>entities/statuses left behind (2 records)" in page


def test_a_journal_without_kept_coverage_reports_an_empty_coverage(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    written = write_reports(j, tmp_path / "out", "p")
    j.close()
    assert _parse(written[4].read_bytes()) == [list(COVERAGE_HEADER)]


def _dead(step: str, key: str, reason: str) -> DeadLetter:
    return DeadLetter(step, key, f"k{key}", 400, reason, None, 1, 0.0)


def test_reasons_that_differ_only_in_the_refused_value_are_one_pattern() -> None:
    rejections = [_dead("users", str(i), f"roles: value 'R{i}' is not in table 'roles'") for i in range(38)]
    rejections += [_dead("users", "e1", "emailAddress: not an email address")] * 2
    rejections += [_dead("groups", "g1", "roles: value 'R1' is not in table 'roles'")]  # another step
    rejections += [_dead("users", f"n{i}", f"row {i} refused (code 806)") for i in (3, 17)]
    assert top_reasons(rejections) == [
        ("users", "roles: value '…' is not in table 'roles'", 38),
        ("users", "emailAddress: not an email address", 2),
        ("users", "row … refused (code 806)", 2),
        ("groups", "roles: value 'R1' is not in table 'roles'", 1),  # one record: its value shown
    ]
    # a value every record of the pattern shares is kept; numbers inside words are text
    assert reason_pattern(["E2E: 'x' in 'roles'", "E2E: 'y' in 'roles'"]) == "E2E: '…' in 'roles'"
    assert top_reasons(rejections, limit=1) == [("users", "roles: value '…' is not in table 'roles'", 38)]


def test_records_two_steps_write_are_counted_once(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "j.sqlite", "p")
    j.begin_run("h")
    for step, done in (
        ("users", [WriteResult("k1", "1", "501"), WriteResult("k2", "2", "502")]),
        ("user_status", [WriteResult("s1", "1", "501", "updated")]),  # the status of user 501: the same record
        ("groups", [WriteResult("g", "g", "7")]),
    ):
        j.mark_batch_sent(step, f"b-{step}", [SentRecord(r.idem_key, r.source_key) for r in done])
        j.mark_batch_done(step, f"b-{step}", done)
    j.mark_batch_sent("user_status", "b-open", [SentRecord("s2", "2")])  # not done
    j.mark_batch_sent("courses", "b-none", [SentRecord("c", "c")])  # nothing done: left out
    records_of = {"users": "target.user", "user_status": "target.user", "groups": "target.group"}
    counted = count_records(j, ["users", "user_status", "groups", "courses"], records_of)
    j.close()
    assert counted == {"target.user": (("users", "user_status"), 2), "target.group": (("groups",), 1)}


def test_signoff_block_names_the_plan_runs_who_and_the_verification(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    data = collect(
        j,
        "p",
        now=1_700_000_500.0,
        verify={"at": 1_700_000_400.0, "ok": True, "strict": False, "counts": {"missing": 0}, "steps": {}},
    )
    j.close()
    data.prepared_by = "consultant-b"
    page = render_html(data)
    signoff = page[page.index('<section class="signoff"') :]
    assert "<dt>Plan hash</dt><dd>h</dd>" in signoff
    assert "<dt>Report prepared by</dt><dd>consultant-b</dd>" in signoff
    assert "<dt>migrator version</dt><dd>" in signoff and "<dd>unknown</dd>" not in signoff
    assert "<dt>Verification</dt><dd>the target matches (verified " in signoff
    assert "Signed for the customer" in signoff
    assert '<p class="verdict good" id="verify-verdict">' in page
    assert "@media print" in page and ".signoff{break-before:page}" in page
    # no verification yet: said so, in the block and in its own section
    unverified = render_html(ReportData(plan="p", generated_at=0.0))
    assert "<dt>Verification</dt><dd>not verified</dd>" in unverified and "Not verified: run" in unverified


@pytest.mark.parametrize(
    ("payload", "identity"),
    [
        (  # Velpic
            {"firstName": "Ann", "lastName": "Lee", "emailAddress": "ann@x.org", "employeeNumber": "E1"},
            Identity("Ann Lee", "ann@x.org", "E1"),
        ),
        (  # accessplanit
            {"Forenames": " Ann ", "Surname": "Lee", "Email": "ann@x.org", "ExternalID": "velpic-user-1"},
            Identity("Ann Lee", "ann@x.org", "velpic-user-1"),
        ),
        ({"FirstName": "Ann", "LastName": "Lee", "MISID": 77}, Identity("Ann Lee", "", "77")),  # OneFile
        ({"login": "alee", "email": "ann@x.org"}, Identity("", "ann@x.org", "alee")),  # a login, no number
        ({"groupID": "VG1", "type": "student", "name": "North"}, Identity("North", "", "")),
        ({"paid": 5, "valid": "yes", "course_id": 7}, Identity()),  # ids only link, never identify
        (  # never a sensitive field, never a flag
            {"password": "pw-1", "apiKey": "k-1", "sendWelcomeEmail": True, "userName": "u1"},
            Identity("", "", "u1"),
        ),
    ],
)
def test_identity_of_a_payload_whatever_the_platform_calls_its_fields(
    payload: dict[str, Any], identity: Identity
) -> None:
    assert identify(payload, {}).identity == identity


def test_identity_cells_take_a_linked_person_and_name_the_other_links() -> None:
    users = {"T-1": Identity("Ann Lee", "ann@x.org", "E1")}
    groups = {"G-9": Identity("North", "", "")}
    linked = {"users": users, "groups": groups}
    refs = {"user": "users", "groupID": "groups"}
    member = identify({"groupID": "G-9", "user": "T-1"}, refs)
    assert identity_cells(member, refs, linked) == ("Ann Lee", "ann@x.org", "E1", "North")
    sub = identify({"userID": "T-1", "courseID": "C012", "startDate": "2024-01-01"}, {"userID": "users"})
    assert identity_cells(sub, {"userID": "users"}, linked) == (
        "Ann Lee",
        "ann@x.org",
        "E1",
        "courseID C012",
    )
    assert identify({"paid": 5, "valid": "yes", "course_id": 7}, {}).links == (Linked("course_id", "7"),)
    unknown = identify({"user": "T-404"}, {"user": "users"})  # a link the crosswalk does not hold: its id
    assert identity_cells(unknown, {"user": "users"}, linked) == ("", "", "", "T-404")
    assert identity_cells(None, {}, linked) == ("", "", "", "")
    user = identify({"firstName": "Bob", "email": "b@x.org", "companyID": "G-9"}, {"companyID": "groups"})
    assert identity_cells(user, {"companyID": "groups"}, linked) == ("Bob", "b@x.org", "", "North")


def test_report_csvs_carry_who_each_record_is_from_its_latest_payload(tmp_path: Path) -> None:
    """success, crosswalk and errors rows end with the person's name, e-mail and number from the payload the
    record was last sent with; a membership names its user through the crosswalk; a cell a spreadsheet would
    take for a formula is guarded; a record refused before sending (no payload) has empty cells. Who a record
    is was picked when its batch was journaled, with the plan's references, through the run's redactor."""
    # the run's redactor masks what it knows, in every picked text
    mask = Redactor(["bob@x.org"]).text
    j = Journal.open(tmp_path / "j.sqlite", "p", redact=mask, references={"members": {"user": "users"}})
    run = j.begin_run("h")
    ann = {
        "firstName": "Ann",
        "lastName": "Old",
        "email": "ann@x.org",
        "employeeNumber": "E1",
        "password": "pw",
    }
    j.mark_batch_sent("users", "b1", [SentRecord("k1", "1", None, ann)])
    j.mark_batch_done("users", "b1", [WriteResult("k1", "1", "T1")])
    j.mark_batch_sent("users", "b2", [SentRecord("k1", "1", None, {**ann, "lastName": "Lee"})])  # a delta run
    j.mark_batch_done("users", "b2", [WriteResult("k1", "1", "T1", "updated")])
    bob = {"firstName": "=Bob", "lastName": "Ray", "email": "bob@x.org", "employeeNumber": "E2"}
    j.mark_batch_sent("users", "b3", [SentRecord("k2", "2", None, bob), SentRecord("k3", "3")])
    j.mark_batch_done(
        "users", "b3", [], [Rejection("k2", "2", "taken", 409), Rejection("k3", "3", "no email", None)]
    )
    j.mark_batch_sent("members", "b4", [SentRecord("m1", "1", None, {"groupID": "G", "user": "T1"})])
    j.mark_batch_done("members", "b4", [WriteResult("m1", "1", "G/T1")])
    j.finish_run("done")
    j.save_run_stats(run, {"steps": {}, "references": {"members": {"user": "users"}}})
    write_reports(j, tmp_path / "out", "p", entities={"users": "user", "members": "member"})
    j.close()
    success = _parse((tmp_path / "out" / "success.csv").read_bytes())
    assert success[1:] == [
        ["members", "1", "G/T1", "created", "Ann Lee", "ann@x.org", "E1", "groupID G"],
        ["users", "1", "T1", "updated", "Ann Lee", "ann@x.org", "E1", ""],
    ]
    walk = _parse((tmp_path / "out" / "crosswalk.csv").read_bytes())
    assert walk[2] == ["user", "users", "1", "T1", "Ann Lee", "ann@x.org", "E1", ""]
    errors = _parse((tmp_path / "out" / "errors.csv").read_bytes())
    assert errors[1:] == [
        ["users", "2", "409", "taken", "", "'=Bob Ray", "***", "E2", ""],
        ["users", "3", "", "no email", "", "", "", "", ""],
    ]
    for name in ("success.csv", "errors.csv", "crosswalk.csv"):
        assert b"pw" not in (tmp_path / "out" / name).read_bytes()


def test_who_a_record_is_lives_in_its_ledger_row_and_a_later_batch_without_payload_keeps_it(
    tmp_path: Path,
) -> None:
    """Who each record is is kept in its ledger row when its batch is done (not in a dict of every record, nor
    picked again from the payloads by the report); a record sent again without a payload is still named by
    the payload it was sent with before; the linked records' index of a report is dropped after it."""
    j = Journal.open(tmp_path / "j.sqlite", "p")
    j.begin_run("h")
    j.mark_batch_sent("users", "b1", [SentRecord("k1", "1", None, {"firstName": "Ann", "lastName": "Lee"})])
    j.mark_batch_done("users", "b1", [WriteResult("k1", "1", "T1")])
    j.mark_batch_sent("users", "b2", [SentRecord("k1", "1")])
    j.mark_batch_done("users", "b2", [WriteResult("k1", "1", "T1", "unchanged")])
    j.finish_run("done")
    assert j.kept_identities([("users", "1")]) == {("users", "1"): ("Ann Lee", "", "", None)}
    write_reports(j, tmp_path / "out", "p")
    temp = j._conn.execute("SELECT count(*) FROM temp.sqlite_master WHERE name = 'report_linked'").fetchone()
    assert temp == (0,)
    j.close()
    success = _parse((tmp_path / "out" / "success.csv").read_bytes())
    assert success[1:] == [["users", "1", "T1", "unchanged", "Ann Lee", "", "", ""]]


_TRICKY = ("=1+1", "+33", "-5", "@SUM(A1)", "\tx", "\rx", 'say "hi"', "Lee, Ann", "two\r\nlines", "a\nb", "Zoë")


@pytest.mark.parametrize(
    "odd", ["", "a\x1fb", "a\x1eb", "a\x00b"]
)  # a cell holding a separator of the joins, or none
def test_success_and_crosswalk_bytes_are_the_csv_modules_of_the_guarded_cells(tmp_path: Path, odd: str) -> None:
    """Whatever the cells hold (a formula start, a tab or CR first, quotes, commas, line breaks, accents, no
    identity kept), success.csv and crosswalk.csv are byte for byte ``to_csv`` of the ledger's cells: every cell
    guarded, RFC 4180 quoting, CRLF, BOM."""
    j = Journal.open(tmp_path / "j.sqlite", "p")
    j.begin_run("h")
    rows: list[tuple[str, str, str, str | None, str | None, str | None, str | None, str | None]] = [
        ("users", f"k{i}{odd}", "done", f"{v}{odd}" if i % 3 else None, "created" if i % 3 else None,
         v, f"{v}@x.org", "12")
        for i, v in enumerate(_TRICKY)
    ]  # fmt: skip
    rows += [
        ("=step", "1", "done", "1", "updated", None, None, None),  # never sent with a payload
        ("=step", "2", "rejected", "2", None, "Ann", "", ""),  # in the crosswalk, no success
        ("=step", "3", "rejected", None, None, "Bob", "b@x.org", "E3"),  # in neither
        ("plain", "1", "done", "501", "unchanged", "Ann Lee", "ann@x.org", "E1"),
    ]
    j._conn.executemany(
        "INSERT INTO records (step, source_key, idem_key, state, target_id, action, updated_at, name, email, "
        "number) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
        [(s, k, f"i-{s}-{k}", state, t, a, n, e, num) for s, k, state, t, a, n, e, num in rows],
    )
    j._conn.commit()
    write_reports(j, tmp_path / "out", "p", entities={"=step": "+entity"})
    j.close()
    ordered = sorted(rows, key=lambda r: (r[0], r[1]))
    who = [("", "", "", "") if None in r[5:] else (*r[5:], "") for r in ordered]
    success = [
        (s, k, t, a, *w) for (s, k, state, t, a, *_), w in zip(ordered, who, strict=True) if state == "done"
    ]
    walk = [
        ({"=step": "+entity"}.get(s, s), s, k, t, *w)
        for (s, k, _, t, *_), w in zip(ordered, who, strict=True)
        if t is not None
    ]
    assert (tmp_path / "out" / "success.csv").read_bytes() == to_csv(SUCCESS_HEADER, success)
    assert (tmp_path / "out" / "crosswalk.csv").read_bytes() == to_csv(CROSSWALK_HEADER, walk)
    if not odd:  # and a few lines as bytes
        data = (tmp_path / "out" / "success.csv").read_bytes()
        assert data.startswith(b"\xef\xbb\xbfstep,source_key,target_id,action,name,email,number,linked_to\r\n")
        assert b"\r\n'=step,1,1,updated,,,,\r\n" in data
        assert b"\r\nusers,k1,'+33,created,'+33,'+33@x.org,12,\r\n" in data
        assert b"\r\nusers,k0,,,'=1+1,'=1+1@x.org,12,\r\n" in data
        assert b"\r\nusers,k10,Zo\xc3\xab,created,Zo\xc3\xab,Zo\xc3\xab@x.org,12,\r\n" in data
        assert b"\r\nusers,k4,'\tx,created,'\tx,'\tx@x.org,12,\r\n" in data
        assert b'\r\nusers,k5,"\'\rx",created,"\'\rx","\'\rx@x.org",12,\r\n' in data
        assert b'\r\nusers,k7,"Lee, Ann",created,"Lee, Ann","Lee, Ann@x.org",12,\r\n' in data
        assert b'\r\nusers,k8,"two\r\nlines",created,"two\r\nlines","two\r\nlines@x.org",12,\r\n' in data
