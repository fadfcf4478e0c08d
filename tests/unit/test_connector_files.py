"""The files connector: CSV/JSONL sources in stable chunks, and append-only targets idempotent by key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrator.connectors.base import WriteItem
from migrator.connectors.files.local import FileDataError, FileSource, FileTarget, make_source, make_target


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_source_chunks_with_stable_keys_and_resume(tmp_path: Path) -> None:
    rows = "\n".join(f"L{i},Name {i}," for i in range(5))
    _csv(tmp_path / "learners.csv", "LearnerID,Name,Email\n" + rows + "\n")
    source = make_source(tmp_path, "learners", key="LearnerID", chunk=2)
    pages = list(source.pages())
    assert [k for k, _ in pages] == ["rows=0-1", "rows=2-3", "rows=4-5"]
    assert [r["LearnerID"] for _, recs in pages for r in recs] == [f"L{i}" for i in range(5)]
    assert pages[0][1][0] == {"LearnerID": "L0", "Name": "Name 0", "Email": None}  # empty cell = missing
    resumed = list(source.pages({"rows=0-1", "rows=4-5"}))
    assert [(k, [r["LearnerID"] for r in recs]) for k, recs in resumed] == [("rows=2-3", ["L2", "L3"])]


def test_jsonl_source_reads_objects(tmp_path: Path) -> None:
    lines = [json.dumps({"id": 1, "tags": ["a"]}), "", json.dumps({"id": 2})]
    (tmp_path / "users.jsonl").write_text("\n".join(lines) + "\n")
    pages = list(FileSource(tmp_path, "users", key="id", chunk=10).pages())
    assert pages == [("rows=0-9", [{"id": 1, "tags": ["a"]}, {"id": 2}])]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no learners.csv or learners.jsonl"),
        ({"learners.csv": "A,B\n1,2\n", "learners.jsonl": "{}\n"}, "both learners.csv and learners.jsonl"),
        ({"learners.csv": "A,B\n1,2\n"}, "no column 'LearnerID'"),
        ({"learners.csv": "LearnerID\nx\nx\n"}, "line 3: key LearnerID = 'x' appears twice"),
        ({"learners.csv": "LearnerID,B\n,2\n"}, "line 2: no value in the key field"),
        ({"learners.jsonl": '{"LearnerID": 1}\n[1]\n'}, "line 2: a list"),
        ({"learners.jsonl": "{oops\n"}, "line 1: not JSON"),
    ],
)
def test_source_errors_name_the_file_and_line(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(FileDataError) as info:
        list(FileSource(tmp_path, "learners", key="LearnerID").pages())
    assert message in str(info.value)


def _item(n: int, **payload: object) -> WriteItem:
    return WriteItem(f"idem{n}", str(n), dict(payload))


def test_csv_target_appends_once_by_key_across_reopen(tmp_path: Path) -> None:
    target = make_target(tmp_path, "staff", key="Email")
    first = target.write([_item(1, Email="a@x", Name="A"), _item(2, Email="b@x", Name="B, Jr")])
    assert [(r.action, r.target_id) for r in first] == [("created", "a@x"), ("created", "b@x")]
    again = FileTarget(tmp_path, "staff", key="Email")  # a re-run: the index is rebuilt from the file
    second = again.write([_item(1, Email="a@x", Name="A"), _item(3, Email="c@x", Groups=[1, 2], Active=True)])
    assert [r.action for r in second] == ["unchanged", "created"]
    lines = (tmp_path / "staff.csv").read_text().splitlines()
    # a new field widened the header; the old rows keep their values
    assert lines == ["Email,Name,Groups,Active", "a@x,A,,", 'b@x,"B, Jr",,', 'c@x,,"[1,2]",true']
    rows = next(iter(FileSource(tmp_path, "staff", key="Email").pages()))[1]
    assert [r["Email"] for r in rows] == ["a@x", "b@x", "c@x"]


def test_target_rejects_a_record_without_its_key(tmp_path: Path) -> None:
    results = FileTarget(tmp_path, "staff", key="Email").write([_item(1, Name="A")])
    assert not results[0].ok and results[0].action == "rejected" and "Email" in results[0].fields
    assert not (tmp_path / "staff.csv").exists()


def test_jsonl_target_without_match_keys_by_idempotency_key(tmp_path: Path) -> None:
    target = FileTarget(tmp_path, "staff", format="jsonl")
    target.write([_item(1, Name="A")])
    results = FileTarget(tmp_path, "staff", format="jsonl").write([_item(1, Name="A"), _item(2, Name="B")])
    assert [r.action for r in results] == ["unchanged", "created"]
    rows = [json.loads(line) for line in (tmp_path / "staff.jsonl").read_text().splitlines()]
    assert rows == [{"Name": "A", "_key": "idem1"}, {"Name": "B", "_key": "idem2"}]


def test_existing_csv_without_the_key_column_is_refused(tmp_path: Path) -> None:
    _csv(tmp_path / "staff.csv", "Name\nA\n")
    with pytest.raises(FileDataError, match="without a 'Email' column"):
        FileTarget(tmp_path, "staff", key="Email")
