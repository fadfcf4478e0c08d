"""The documents archive (``connectors.files.archive``), in process: safe and unique file names, the index,
exactly-once writes (unchanged, updated, a crash half-way), links never followed, owner-only files, and
records refused with their reason."""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import anyio
import pytest

from migrator.connectors.base import WriteItem
from migrator.connectors.files import make_writer
from migrator.connectors.files.archive import ArchiveWriter, DocumentArchive, safe_name
from migrator.connectors.files.text import FileDataError

PDF = b"%PDF-1.4\n1 0 obj\n<< >>\nendobj\n%%EOF\n"


def _item(key: str, name: str, content: bytes = PDF, **fields: Any) -> WriteItem:
    payload = {"document": base64.b64encode(content).decode(), "name": name, **fields}
    return WriteItem(f"idem-{key}", key, payload)


def _index(folder: Path) -> list[dict[str, str]]:
    with (folder / "index.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Smith John - Fire Safety", "Smith John - Fire Safety"),
        ("../../etc/passwd", "etc_passwd"),
        ('a/b\\c:d*e?f"g<h>i|j', "a_b_c_d_e_f_g_h_i_j"),
        ("..", "document"),
        ("   .hidden  ", "hidden"),
        ("tab\tand\nnewline", "tab and newline"),
        ("NUL", "_NUL"),
        ("con.txt", "_con.txt"),
        ("Zoë Ångström", "Zoë Ångström"),
        ("", "document"),
        (None, "document"),
    ],
)
def test_safe_name(text: object, expected: str) -> None:
    assert safe_name(text) == expected


def test_safe_name_is_short_and_whole_characters() -> None:
    name = safe_name("é" * 200)
    assert len(name.encode("utf-8")) <= 120
    assert name == "é" * len(name)


def test_files_index_and_permissions(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "certificates"
    archive = DocumentArchive(folder)
    results = archive.write(
        [_item("1", "Smith John - Fire", lessonId=7, tags=["a"]), _item("2", "Smith John - Fire")]
    )
    assert [r.action for r in results] == ["created", "created"]
    files = [r.target_id for r in results]
    assert files == ["Smith John - Fire [1].pdf", "Smith John - Fire [2].pdf"]  # same learner name: unique
    rows = _index(folder)
    assert [r["file"] for r in rows] == files
    assert rows[0]["sha256"] == hashlib.sha256(PDF).hexdigest() and rows[0]["bytes"] == str(len(PDF))
    assert rows[0]["lessonId"] == "7" and rows[0]["tags"] == '["a"]' and rows[1]["lessonId"] == ""
    assert (folder / files[0]).read_bytes() == PDF
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder.parent).stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_resend_is_unchanged_and_new_bytes_replace_the_file(tmp_path: Path) -> None:
    DocumentArchive(tmp_path).write([_item("1", "A"), _item("2", "B")])
    again = DocumentArchive(tmp_path)  # a new run: the index is read back
    assert [r.action for r in again.write([_item("1", "A"), _item("2", "B")])] == ["unchanged", "unchanged"]
    other = PDF + b"% v2\n"
    assert [r.action for r in again.write([_item("2", "B", other)])] == ["updated"]
    rows = _index(tmp_path)
    assert len(rows) == 2
    assert rows[1]["sha256"] == hashlib.sha256(other).hexdigest()
    assert (tmp_path / "B [2].pdf").read_bytes() == other


def test_a_file_changed_on_disk_is_written_again(tmp_path: Path) -> None:
    DocumentArchive(tmp_path).write([_item("1", "A")])
    (tmp_path / "A [1].pdf").write_bytes(b"%PDF-1.4\ntruncat")
    assert DocumentArchive(tmp_path).write([_item("1", "A")])[0].action == "updated"
    assert (tmp_path / "A [1].pdf").read_bytes() == PDF


def test_a_crash_while_writing_leaves_no_file_and_no_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = DocumentArchive(tmp_path)
    archive.write([_item("1", "A")])

    calls = 0

    def crash_second(src: Any, dst: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    real_replace = os.replace
    monkeypatch.setattr(os, "replace", crash_second)
    with pytest.raises(FileDataError, match="No space left on device"):
        archive.write([_item("2", "B"), _item("3", "C")])  # B renamed, C not, the index not appended
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A [1].pdf", "B [2].pdf", "index.csv"]
    assert [r["file"] for r in _index(tmp_path)] == ["A [1].pdf"]  # B is not counted as done
    resent = archive.write([_item("2", "B"), _item("3", "C")])  # the batch in doubt, sent again
    assert [r.action for r in resent] == ["created", "created"]
    assert [r["file"] for r in _index(tmp_path)] == ["A [1].pdf", "B [2].pdf", "C [3].pdf"]


def test_a_leftover_temporary_file_is_removed(tmp_path: Path) -> None:
    (tmp_path / ".B [2].pdf.tmp").write_bytes(b"%PDF-1.4\nhalf")  # what a kill -9 mid-write leaves
    DocumentArchive(tmp_path).write([_item("1", "A")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A [1].pdf", "index.csv"]


def test_a_link_at_a_file_name_is_replaced_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.pdf"
    outside.write_bytes(b"precious")
    folder = tmp_path / "archive"
    DocumentArchive(folder).write([_item("1", "A")])
    (folder / "A [1].pdf").unlink()
    (folder / "A [1].pdf").symlink_to(outside)
    assert DocumentArchive(folder).write([_item("1", "A")])[0].action == "updated"
    assert outside.read_bytes() == b"precious"
    assert not (folder / "A [1].pdf").is_symlink() and (folder / "A [1].pdf").read_bytes() == PDF


def test_a_linked_folder_or_index_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(FileDataError, match="never through a link"):
        DocumentArchive(tmp_path / "link").write([_item("1", "A")])
    assert list(real.iterdir()) == []
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "index.csv").symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(FileDataError, match="never through a link"):
        DocumentArchive(folder).write([_item("1", "A")])
    assert not (tmp_path / "elsewhere.csv").exists()


def test_an_index_that_is_not_an_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "index.csv").write_text("id,name\n1,x\n")
    with pytest.raises(FileDataError, match="not an archive index"):
        DocumentArchive(tmp_path).write([_item("1", "A")])


def test_records_without_a_document_are_rejected_with_their_reason(tmp_path: Path) -> None:
    writer = make_writer("documents", "create", None, folder=tmp_path)
    assert isinstance(writer, ArchiveWriter)
    missing = WriteItem("k1", "1", {"name": "A", "document": None, "missing": "HTTP 400: not passed"})
    refused = writer.prepare(missing)
    assert not isinstance(refused, WriteItem) and refused.reason == "HTTP 400: not passed"
    unnamed = writer.prepare(_item("2", ""))
    assert not isinstance(unnamed, WriteItem) and "name is required" in unnamed.reason
    bad = WriteItem("k3", "3", {"name": "C", "document": "not base64!"})
    results = anyio.run(writer.write_direct, [bad, _item("4", "D")])
    assert [r.action for r in results] == ["rejected", "created"]
    assert "not base64" in results[0].reason


def test_the_match_field_keys_the_index(tmp_path: Path) -> None:
    archive = DocumentArchive(tmp_path, key="scheduleId")
    first = archive.write([_item("1", "A", scheduleId=91)])
    assert first[0].action == "created" and _index(tmp_path)[0]["key"] == "91"
    assert archive.write([_item("1", "A", scheduleId=None)])[0].action == "rejected"
