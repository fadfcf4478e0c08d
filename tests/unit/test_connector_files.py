"""The files connector: CSV/JSONL sources in stable chunks, and append-only targets idempotent by key."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from migrator.connectors.base import RowResult, SettingError, WriteItem
from migrator.connectors.files import make_reader, make_writer
from migrator.connectors.files.local import FileDataError, FileSource, FileTarget, make_source, make_target
from migrator.connectors.files.stream import FileReader, FileWriter


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
    target = FileTarget(tmp_path, "staff", key="Email")  # opens nothing yet
    with pytest.raises(FileDataError, match="without a 'Email' column"):
        target.write([_item(1, Email="a@x")])
    assert (tmp_path / "staff.csv").read_text() == "Name\nA\n"


# -- hostile local files -------------------------------------------------------------------------------------


def _pages(folder: Path, entity: str = "learners", key: str = "id") -> list[dict[str, object]]:
    return [r for _, page in FileSource(folder, entity, key=key, chunk=2).pages() for r in page]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # a quote left open swallowed every later row into one cell, silently
        (
            'id,name\n1,"Alice\n2,Bob\n3,Carol\n',
            "line 2: a quoted cell is never closed (the file ends inside it, at line 4)",
        ),
        (
            'id,name\n1,Al\n2,"Bob\n3,Carol,"x"\n',
            "line 4: text after the closing quote of a cell, in the row that begins at line 3",
        ),
        ('id,name\n1,"Al"ice\n', "line 2: text after the closing quote of a cell"),
        # a short row was read with its missing cells as None, silently
        ("id,name,email\n1,Alice,a@x\n2,Bob\n", "line 3: the header has 3 columns but this row has 2"),
        ("id,name\n1,Alice,extra\n", "line 2: the header has 2 columns but this row has 3"),
        ("id,name\n\n1,Alice\n\n2\n", "line 5: the header has 2 columns but this row has 1"),
        ("id,name,id\n1,A,2\n", "column 'id' appears twice in the header"),
        # a cell over the csv module's limit was "a platform answer could not be read"
        ("id,name\n1,Alice\n2," + "x" * 200_000 + "\n", "line 3: a cell longer than 131,072 characters"),
    ],
)
def test_malformed_csv_is_an_error_naming_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    _csv(tmp_path / "learners.csv", text)
    with pytest.raises(FileDataError) as info:
        _pages(tmp_path)
    assert message in str(info.value) and str(tmp_path / "learners.csv") in str(info.value)


def test_multiline_quoted_cells_and_blank_lines_still_read(tmp_path: Path) -> None:
    _csv(tmp_path / "learners.csv", 'id,name\r\n1,"Al\r\nice, ""the"" first"\r\n\r\n2,Bob\r\n')
    assert _pages(tmp_path) == [{"id": "1", "name": 'Al\r\nice, "the" first'}, {"id": "2", "name": "Bob"}]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_unicode_files_are_read_by_their_byte_order_mark(tmp_path: Path, encoding: str) -> None:
    text = "id,name\n1,Zoë\n2,Łukasz 𝔘\n"
    data = text.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):  # the explicit-endian codecs write no mark
        data = ("\ufeff" + text).encode(encoding)
    (tmp_path / "learners.csv").write_bytes(data)
    assert _pages(tmp_path) == [{"id": "1", "name": "Zoë"}, {"id": "2", "name": "Łukasz 𝔘"}]


def test_jsonl_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    (tmp_path / "learners.jsonl").write_bytes(b'\xef\xbb\xbf{"id": 1}\n{"id": 2}\n')
    assert _pages(tmp_path) == [{"id": 1}, {"id": 2}]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"id,name\n1,Alice\n2,Ren\xe9\n", "line 3 (byte 21): not valid UTF-8 text"),  # Windows-1252 é
        (b'{"id": 1}\n{"id": "Ren\xe9"}\n', "line 2 (byte 21): not valid UTF-8 text"),
        ("\ufeffid,name\n1,A\n".encode("utf-16-le") + b"\x41", "line 3 (byte 26): not valid UTF-16 text"),
        (
            "\ufeffid\n1\n".encode("utf-16-be") + "\ud800".encode("utf-16-be", "surrogatepass") + b"\x00\x0a",
            "line 3 (byte 12): not valid UTF-16 text",
        ),
        ("id,name\n1,A\n".encode("utf-16-le"), "NUL bytes in a file without a byte-order mark"),
    ],
)
def test_undecodable_files_say_where_and_what_to_do(tmp_path: Path, data: bytes, message: str) -> None:
    name = "learners.jsonl" if data.startswith(b"{") else "learners.csv"
    (tmp_path / name).write_bytes(data)
    with pytest.raises(FileDataError) as info:
        _pages(tmp_path)
    assert message in str(info.value) and str(tmp_path / name) in str(info.value)
    assert "save it as UTF-8" in str(info.value)


def test_undecodable_byte_far_into_a_file_is_located_exactly(tmp_path: Path) -> None:
    """Past the first decoding block (64 KiB), after a two-byte character cut by the block boundary."""
    head = "id,name\n" + "".join(f"{i},{'x' * 60}\n" for i in range(1, 900))
    line = f"900,{'y' * (65535 - len(head.encode()) - 4)}é\n"
    text = (head + line).encode()
    assert text[65535:65537] == "é".encode()  # its first byte ends the first block
    (tmp_path / "learners.csv").write_bytes(text + b"901,\xff\n")
    with pytest.raises(FileDataError, match=rf"line 902 \(byte {len(text) + 4}\)"):
        _pages(tmp_path)


@pytest.mark.parametrize("entity", ["../../../escaped", "sub/learners", "/tmp/learners", "..", ".", "", "a\\b"])
def test_a_files_entity_is_a_plain_file_name(tmp_path: Path, entity: str) -> None:
    with pytest.raises(FileDataError, match="is not a plain file name"):
        FileSource(tmp_path / "data", entity, key="id")
    with pytest.raises(FileDataError, match="is not a plain file name"):
        FileTarget(tmp_path / "data", entity, key="id")
    with pytest.raises(SettingError) as read:
        make_reader(entity, {}, 100, "s", folder=tmp_path / "data")
    with pytest.raises(SettingError) as write:
        make_writer(entity, "create", "id", folder=tmp_path / "data")
    assert (read.value.key, write.value.key) == ("read.entity", "write.entity")
    assert list(tmp_path.rglob("*")) == []


def test_factories_open_nothing_until_the_step_reads_or_writes(tmp_path: Path) -> None:
    """So they can be built to check a plan: the target's key index is read on its first write."""
    _csv(tmp_path / "staff.csv", "Name\nA\n")
    reader = make_reader("absent", {}, 10, "s", folder=tmp_path / "nowhere")
    writer = make_writer("staff", "create", "Email", folder=tmp_path)
    assert isinstance(reader, FileReader) and isinstance(writer, FileWriter)
    with pytest.raises(FileDataError, match="without a 'Email' column"):
        writer.target.write([_item(1, Email="a@x")])


async def test_a_writer_writes_its_batches_one_at_a_time(tmp_path: Path) -> None:
    """The step's write workers share one writer: two batches in the target at once would race its key index
    and its header rewrite (rows lost, or written twice). Two concurrent writes would meet at the barrier."""
    met = threading.Barrier(2, timeout=1.0)
    overlaps: list[bool] = []

    class Probe(FileTarget):
        def write(self, items: Sequence[WriteItem]) -> list[RowResult]:
            try:
                met.wait()
                overlaps.append(True)
            except threading.BrokenBarrierError:
                overlaps.append(False)
            return super().write(items)

    writer = FileWriter(Probe(tmp_path, "staff", key="Email"), "Email")
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.write_direct, [_item(1, Email="a@x", A="1")])
        tg.start_soon(writer.write_direct, [_item(2, Email="b@x", B="2")])
    assert overlaps == [False, False]
    rows = next(iter(FileSource(tmp_path, "staff", key="Email").pages()))[1]
    assert sorted(r["Email"] for r in rows) == ["a@x", "b@x"]
