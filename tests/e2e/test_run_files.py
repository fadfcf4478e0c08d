"""A run's log and reports live beside its journal: two runs with different ``--journal`` (a failed rehearsal
beside the real run) never write into each other's files, ``migrator report`` finds a journal's reports
where ``run`` wrote them, and the default journal keeps the default places (``.migrator/<plan>-report/``,
``.migrator/<plan>.log.jsonl``)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.helpers import migrator

PLAN = """
[plan]
name = "files-to-files"
[connections.export]
platform = "files"
path = "data"
[connections.staging]
platform = "files"
path = "staging"
[steps.people]
read = { from = "export", entity = "people" }
write = { to = "staging", entity = "people", mode = "create", match = "id" }
map.id = "id"
map.name = "name"
"""


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "people.csv").write_text("id,name\n1,Ada\n2,Bob\n")
    (tmp_path / "plan.toml").write_text(PLAN)
    return tmp_path


def test_two_journals_keep_their_own_reports_and_logs(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    real = migrator("run", "plan.toml", "--journal", "real.sqlite", "--plain", cwd=folder)
    assert real.returncode == 0, real.stdout + real.stderr
    assert "report: real.sqlite.reports/report.html" in real.stdout
    assert "log: real.sqlite.log.jsonl" in real.stdout
    reports = {p.name: p.read_bytes() for p in (folder / "real.sqlite.reports").iterdir()}
    assert {"success.csv", "errors.csv", "crosswalk.csv", "report.html"} <= set(reports)
    log = (folder / "real.sqlite.log.jsonl").read_bytes()

    (folder / "data" / "people.csv").write_text("id,name\n1,Ada\n2,Bob\n3\n")  # a short row: this run fails
    other = migrator("run", "plan.toml", "--journal", "other.sqlite", "--plain", cwd=folder)
    assert other.returncode == 1, other.stdout + other.stderr
    assert "report: other.sqlite.reports/report.html" in other.stdout
    assert (folder / "other.sqlite.reports" / "report.html").exists()
    assert (folder / "other.sqlite.log.jsonl").exists()

    assert {p.name: p.read_bytes() for p in (folder / "real.sqlite.reports").iterdir()} == reports
    assert (folder / "real.sqlite.log.jsonl").read_bytes() == log
    assert not (folder / ".migrator").exists()  # neither run touched the default journal's places

    again = migrator("report", "plan.toml", "--journal", "real.sqlite", cwd=folder)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "real.sqlite.reports/success.csv" in again.stdout
    assert (folder / "real.sqlite.reports" / "success.csv").read_bytes() == reports["success.csv"]


def test_the_default_journal_keeps_the_default_places(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    done = migrator("run", "plan.toml", "--plain", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (folder / ".migrator" / "files-to-files.sqlite").exists()
    assert (folder / ".migrator" / "files-to-files.log.jsonl").exists()
    assert (folder / ".migrator" / "files-to-files-report" / "report.html").exists()
    report = migrator("report", "plan.toml", cwd=folder)
    assert report.returncode == 0, report.stdout + report.stderr
    assert ".migrator/files-to-files-report/success.csv" in report.stdout
    dry = migrator("run", "plan.toml", "--plain", "--dry-run", cwd=folder)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert (folder / ".migrator" / "files-to-files-dry-run" / "errors.csv").exists()
