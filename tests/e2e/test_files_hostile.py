"""Hostile local files through the real ``migrator run``: a malformed or mis-encoded export stops its step with
the file, the line and what to do (exit 1, nothing written, no traceback), a UTF-16 export is read, and a
files entity that names a path is refused without writing outside the connection's folder."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

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
read = {{ from = "export", entity = "people" }}
write = {{ to = "staging", entity = "{entity}", mode = "create", match = "id" }}
map.id = "id"
map.name = "name"
"""


def _run(folder: Path, export: bytes, entity: str = "people") -> tuple[int, str]:
    (folder / "data").mkdir()
    (folder / "data" / "people.csv").write_bytes(export)
    (folder / "plan.toml").write_text(PLAN.format(entity=entity))
    done = migrator("run", "plan.toml", "--journal", "journal.sqlite", "--plain", cwd=folder)
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "internal error" not in output, output
    return done.returncode, output


@pytest.mark.parametrize(
    ("export", "says"),
    [
        (b'id,name\n1,"Ada\n2,Bob\n3,Cy\n', "data/people.csv line 2: a quoted cell is never closed"),
        (b"id,name\n1,Ada\n2\n3,Cy\n", "data/people.csv line 3: the header has 2 columns but this row has 1"),
        (b"id,name\n1," + b"x" * 50_000_000 + b"\n", "data/people.csv line 2: a cell longer than 131,072"),
        (b"id,name\n1,Ada\n2,Ren\xe9\n", "data/people.csv line 3 (byte 19): not valid UTF-8 text"),
        ("id,name\n1,Ada\n".encode("utf-16-le"), "data/people.csv: NUL bytes in a file without a byte-order"),
    ],
)
def test_a_bad_export_fails_its_step_naming_the_file_and_line(tmp_path: Path, export: bytes, says: str) -> None:
    code, output = _run(tmp_path, export)
    assert code == 1, output
    assert "people               failed" in output and says in output, output
    assert not (tmp_path / "staging").exists()


def test_a_utf16_export_is_read(tmp_path: Path) -> None:
    code, output = _run(tmp_path, "id,name\r\n1,Zoë\r\n2,Łukasz\r\n".encode("utf-16"))
    assert code == 0, output
    with (tmp_path / "staging" / "people.csv").open(encoding="utf-8", newline="") as fh:
        assert list(csv.DictReader(fh)) == [{"id": "1", "name": "Zoë"}, {"id": "2", "name": "Łukasz"}]


@pytest.mark.parametrize("entity", ["../../escaped", "sub/people"])
def test_a_target_entity_that_names_a_path_writes_nothing_anywhere(tmp_path: Path, entity: str) -> None:
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    code, output = _run(work, b"id,name\n1,Ada\n", entity)
    # 1: the step fails when it is built; 2 once the plan validator builds files writers too
    assert code in (1, 2), output
    assert f"write.entity: {entity!r} is not a plain file name" in output, output
    written = [p for p in tmp_path.rglob("*.csv") if ".migrator" not in p.parts]  # not the reports
    assert written == [work / "data" / "people.csv"]  # the export alone
