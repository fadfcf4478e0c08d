"""Velpic certificates into a documents archive, through the real CLI on the sandbox: a users step, then a
certificates step (``certificate`` read per completed schedule of each user, written to a files connection's
``documents``). Every passed completed schedule of the source gives one PDF whose bytes are the sandbox's, the
index's SHA-256 is the file's, names are unique; a completed schedule that was not passed is a dead letter
with the platform's reason (whatever status refuses it), and so on a Velpic that answers fewer rows than
asked, each user's completed schedules read page after page; a kill -9 during the step and a resume give the
same archive, with no duplicate and no partial file; a re-run downloads nothing. In process: the reader's
requests, and what it makes of a PDF, a refusal and a body that is not a PDF."""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import re
import signal
import sqlite3
import stat
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.connectors.base import DetailReader, Response, SettingError
from migrator.connectors.velpic import make_reader
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from migrator.sandbox.velpic_lessons import certificate_pdf
from tests.e2e.helpers import VELPIC_TO_VELPIC, get_json, post_json, records, run_plan, start_run, write_env

#: every Nth completed schedule (by id) was failed: no certificate
FAILED_EVERY = 4
CERTIFICATE_PATH = "/lesson_schedule/{}/certificate"
PLAN = (
    """
[plan]
name = "velpic-certificates"
"""
    + VELPIC_TO_VELPIC
    + """[connections.archive]
platform = "files"
path = "certificates"

[steps.users]
read  = { from = "source", entity = "user", page_size = 20, filter = { activeValue = "all" } }
write = { to = "target", entity = "user", mode = "bulk", match = "empNo", batch = 100 }
map.firstName        = "firstName"
map.lastName         = "lastName"
map.emailAddress     = "emailAddress | lower"
map.employeeNumber   = "employeeNumber"
map.roles            = [6]
map.sendWelcomeEmail = false

[steps.certificates]
read  = { from = "source", entity = "certificate", page_size = 5, filter = { activeValue = "all" } }
write = { to = "archive", entity = "documents", mode = "create", batch = 4 }
map.document       = "certificate"
map.missing        = "certificateMissing"
map.name           = "userLastName + ' ' + userFirstName + ' - ' + lessonName"
map.sourceUserId   = "userId"
map.targetUserId   = "userId -> users"
map.scheduleId     = "id"
map.lessonId       = "lessonId"
map.lessonName     = "lessonName"
map.completedDate  = "lessonCompletedDate"
"""
)


def _sandbox(refused_status: int, faults: str = "", page: int = 0) -> SandboxThread:
    options = {
        "velpic.certificate_failed_every": FAILED_EVERY,
        "velpic.certificate_refused_status": refused_status,
        "velpic.max_page_size": page,
    }
    return SandboxThread(
        SandboxConfig(
            seed=31, scale=60, platforms=("velpic",), default_limits=False, options=options, faults=faults
        )
    )


#: the most rows a Velpic list answers in the third variant, whatever maxResults asks (no largest page is
#: documented): each user's completed schedules, a list without meta, are read page after page
PAGE = 2


@pytest.fixture(
    params=[(400, 0), (404, 0), (404, PAGE)], ids=["refused-400", "refused-404", f"refused-404-pages-of-{PAGE}"]
)
def sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxThread]:
    status, page = request.param
    with _sandbox(status, page=page) as sb:
        yield sb


def _passed_completed(sb: SandboxThread) -> dict[str, dict[str, Any]]:
    """The source's passed, completed schedules by id, as the sandbox's control API gives its records and
    options."""
    every = int(get_json(f"{sb.base_url}/_sandbox/options")["options"]["velpic.certificate_failed_every"])
    schedules = records(sb.base_url, "velpic", "source", "lesson_schedule")
    return {str(s["id"]): s for s in schedules if s["status"] == "completed" and s["id"] % every != 0}


def _failed_completed(sb: SandboxThread) -> set[str]:
    schedules = records(sb.base_url, "velpic", "source", "lesson_schedule")
    return {str(s["id"]) for s in schedules if s["status"] == "completed"} - set(_passed_completed(sb))


def _pdf_from_sandbox(sb: SandboxThread, schedule_id: str) -> bytes:
    env = sb.sandbox.env()
    request = urllib.request.Request(
        env["VELPIC_BASE_URL"] + CERTIFICATE_PATH.format(schedule_id),
        headers={"AccessKey": env["VELPIC_SOURCE_ACCESS_KEY"]},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.headers.get_content_type() == "application/pdf"
        body: bytes = resp.read()
        return body


def _check_pdf(content: bytes) -> None:
    """``content`` is a PDF in its structure: the header, ``startxref`` pointing at the ``xref`` table, each
    in-use entry's offset at its ``n 0 obj``, a trailer with ``/Size`` and ``/Root``, and ``%%EOF`` last."""
    assert re.match(rb"%PDF-1\.[0-7]\n", content), content[:16]
    tail = re.search(rb"startxref\n(\d+)\n%%EOF\n?$", content)
    assert tail is not None, content[-40:]
    xref = int(tail.group(1))
    table = re.match(rb"xref\n0 (\d+)\n", content[xref:])
    assert table is not None, content[xref : xref + 20]
    size = int(table.group(1))
    entries = content[xref + table.end() :].split(b"\n")[:size]
    assert entries[0] == b"0000000000 65535 f "
    for number, entry in enumerate(entries[1:], start=1):
        offset, _, kind = entry.decode().split(" ")[:3]
        assert kind == "n"
        assert content[int(offset) :].startswith(b"%d 0 obj" % number), (number, offset)
    trailer = content[content.rindex(b"trailer") : tail.start()]
    assert b"/Size %d" % size in trailer and re.search(rb"/Root \d+ 0 R", trailer)


def _index(folder: Path) -> list[dict[str, str]]:
    with (folder / "index.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _certificate_requests(sb: SandboxThread) -> int:
    """How many certificate downloads the sandbox has answered or been asked for."""
    return sum(
        r["count"]
        for r in get_json(f"{sb.base_url}/_sandbox/stats")["requests"]
        if r["platform"] == "velpic" and r["route"].endswith("/certificate")
    )


def _check_archive(sb: SandboxThread, folder: Path) -> None:
    """The archive holds exactly the source's certificates: one file each, bytes equal to the sandbox's, the
    index's SHA-256 equal to the file's, every learner mapped to its target user, nothing else in the
    folder (no temporary or partial file)."""
    expected = _passed_completed(sb)
    rows = _index(folder)
    assert sorted(r["scheduleId"] for r in rows) == sorted(expected)
    names = [r["file"] for r in rows]
    assert len(set(names)) == len(names) == len(expected)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*names, "index.csv"])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    target = {u["employeeNumber"]: str(u["id"]) for u in records(sb.base_url, "velpic", "target", "user")}
    source = {str(u["id"]): u for u in records(sb.base_url, "velpic", "source", "user")}
    for row in rows:
        path = folder / row["file"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        content = path.read_bytes()
        assert hashlib.sha256(content).hexdigest() == row["sha256"]
        _check_pdf(content)
        assert f"Lesson schedule: {row['scheduleId']}".encode() in content
        assert content == _pdf_from_sandbox(sb, row["scheduleId"])
        assert f"[{row['scheduleId']}].pdf" in row["file"]
        schedule = expected[row["scheduleId"]]
        assert row["sourceUserId"] == str(schedule["userId"])
        assert row["targetUserId"] == target[source[row["sourceUserId"]]["employeeNumber"]]
        assert row["lessonId"] == str(schedule["lessonId"])
        assert row["completedDate"] == schedule["lessonCompletedDate"]


def _complete_lessons(sb: SandboxThread, count: int) -> None:
    """Arrange: ``count`` more completed schedules for one active source user (``complete_lesson``, by
    itself), so that its completed schedules take several pages where pages are short."""
    env = sb.sandbox.env()
    user = min(u["id"] for u in records(sb.base_url, "velpic", "source", "user") if u["clientStatusId"] == 56)
    lessons = sorted(
        lesson["lessonId"]
        for lesson in records(sb.base_url, "velpic", "source", "lesson")
        if lesson["status"] in ("active", "inactive")
    )
    for day, lesson in enumerate(lessons[:count], start=1):
        body = {
            "lessonId": lesson,
            "completedDate": f"2026-01-{day:02d}T09:00:00.000Z",
            "manuallyCompletedByUserId": user,
        }
        url = f"{env['VELPIC_BASE_URL']}/lesson_schedule/{user}/complete_lesson"
        answer = post_json(url, body, {"AccessKey": env["VELPIC_SOURCE_ACCESS_KEY"]})
        assert answer["ids"], answer


def _dead_letters(tmp: Path) -> dict[str, str]:
    """The certificates step's dead letters: source key → reason."""
    with sqlite3.connect(tmp / "journal.sqlite") as db:
        rows = db.execute("SELECT source_key, reason FROM dead_letters WHERE step = 'certificates'").fetchall()
    return {str(key): str(reason) for key, reason in rows}


def test_every_certificate_is_archived_once(sandbox: SandboxThread, tmp_path: Path) -> None:
    env = write_env(sandbox, tmp_path / "sb.env")
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN)
    _complete_lessons(sandbox, 3 * PAGE)
    failed = _failed_completed(sandbox)
    assert failed and _passed_completed(sandbox), "the seed must give passed and failed completed schedules"
    schedules = records(sandbox.base_url, "velpic", "source", "lesson_schedule")
    completed = [s["userId"] for s in schedules if s["status"] == "completed"]
    assert max(completed.count(u) for u in set(completed)) > 2 * PAGE  # some list takes several pages

    first = run_plan(plan, tmp_path, env)
    assert first.returncode == 3, first.stdout + first.stderr  # done; the failed ones are dead letters
    folder = tmp_path / "certificates"
    assert _certificate_requests(sandbox) == len(failed) + len(_passed_completed(sandbox))  # each asked once
    _check_archive(sandbox, folder)  # (which downloads each certificate again, to compare)
    letters = _dead_letters(tmp_path)
    assert set(letters) == failed
    assert all("Velpic gave no certificate" in why and "passed, completed" in why for why in letters.values())

    before = _certificate_requests(sandbox)
    again = run_plan(plan, tmp_path, env)
    assert again.returncode == 0, again.stdout + again.stderr  # nothing left to do
    assert _certificate_requests(sandbox) == before  # a re-run downloads nothing
    _check_archive(sandbox, folder)


def test_kill_during_the_download_then_resume(tmp_path: Path) -> None:
    """Killed (SIGKILL) three times while certificates download, then resumed: the same archive, and the
    resumed run downloads only what was not archived when it was killed."""
    with _sandbox(400, faults="velpic/**/certificate:latency=30ms") as sb:
        env = write_env(sb, tmp_path / "sb.env")
        plan = tmp_path / "plan.toml"
        plan.write_text(PLAN)
        folder = tmp_path / "certificates"
        expected = _passed_completed(sb)
        completed = len(expected) + len(_failed_completed(sb))
        kills = 0
        for share in (0.2, 0.45, 0.7):
            proc = start_run(plan, tmp_path, env, quiet=True)
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:
                if (folder / "index.csv").exists() and len(_index(folder)) >= share * len(expected):
                    os.kill(proc.pid, signal.SIGKILL)
                    kills += 1
                    break
                time.sleep(0.005)
            proc.wait(timeout=60)
            for row in _index(folder):  # right after a kill, every file the index names is whole
                assert hashlib.sha256((folder / row["file"]).read_bytes()).hexdigest() == row["sha256"]
        assert kills == 3, f"only {kills} kills landed during the step"
        archived = len(_index(folder))
        before = _certificate_requests(sb)
        final = run_plan(plan, tmp_path, env)
        assert final.returncode in (0, 3), final.stdout + final.stderr  # 3: this run met a failed one
        assert _certificate_requests(sb) - before <= completed - archived  # nothing archived asked again
        _check_archive(sb, folder)
        assert set(_dead_letters(tmp_path)) == _failed_completed(sb)


# -- the reader, in process ----------------------------------------------------------------------------------
SCHEDULE = {"id": 98765, "userId": 1234, "lessonId": 123, "status": "completed"}


def test_the_reader_asks_each_schedule_its_certificate() -> None:
    reader = make_reader("certificate", {"activeValue": "all"}, 50, "certificates")
    assert isinstance(reader, DetailReader)
    assert reader.page_request(reader.paginator().first()).path == "/user"  # the users are paged
    children = reader.children({"id": 1234})
    assert children is not None and ("status", "completed") in children.params
    detail = reader.detail(SCHEDULE)
    assert detail is not None and (detail.method, detail.path) == ("GET", "/lesson_schedule/98765/certificate")
    with pytest.raises(SettingError, match="only for completed"):
        make_reader("certificate", {"status": "all"}, 50, "certificates")


def test_a_pdf_is_the_certificate_and_anything_else_is_named() -> None:
    reader = make_reader("certificate", {}, 50, "certificates")
    assert isinstance(reader, DetailReader)
    pdf = certificate_pdf(["Certificate"], "t")
    got = reader.decode_detail(Response(200, pdf, {"content-type": "application/pdf"}), SCHEDULE)
    assert base64.b64decode(got["certificate"]) == pdf
    assert got["certificateSha256"] == hashlib.sha256(pdf).hexdigest() and got["certificateBytes"] == len(pdf)
    assert got["certificateMissing"] is None and got["userId"] == 1234
    refused = reader.decode_detail(Response(404, b'{"internalCode":404,"error":"not passed"}'), SCHEDULE)
    assert "certificate" not in refused
    assert "schedule 98765 (HTTP 404: not passed)" in refused["certificateMissing"]
    html = reader.decode_detail(Response(200, b"<html>login</html>", {"content-type": "text/html"}), SCHEDULE)
    assert "not a PDF (text/html" in html["certificateMissing"]
