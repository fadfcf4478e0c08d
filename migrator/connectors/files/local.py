"""The ``files`` platform: CSV and JSONL files in a directory, as a source and as a target. No HTTP.

A files connection has ``path`` (a directory) and no base URL, so it does not go through the ``Transport``.
These two classes are synchronous and do blocking file I/O; ``connectors.files.stream`` runs them in a worker
thread (``anyio.to_thread.run_sync``) for the pipeline; one instance is used by one thread at a time. An entity
is a plain file name in the directory (no ``/``, ``\\`` or ``..``: see :func:`file_name_problem`).

Source (``read = { from = "export", entity = "learners", key = "LearnerID" }``)::

    source = make_source(directory, "learners", key="LearnerID", chunk=1000)
    for page_key, records in source.pages(done_page_keys):   # a page = a chunk of ``chunk`` rows
        ...

reads ``learners.csv`` or ``learners.jsonl`` (exactly one of them must exist), decoded as its byte-order mark
says (UTF-8 without one; ``connectors.files.text``). Page keys (``"rows=0-999"``) are stable across runs for
the same chunk size, so a resumed read skips the chunks the journal marked done (they are still parsed, not
yielded). CSV is read strictly (RFC 4180): a quoted cell that is never closed, text after a closing quote, a
cell longer than the ``csv`` module's field limit (131,072 characters), a header naming a column twice, or a
row with more or fewer cells than the header is a ``FileDataError`` naming the file and the line — never a
silent guess, since a shifted or swallowed row would put values in the wrong fields of every record after it;
blank lines are skipped. CSV cells that are empty become ``None`` (a missing value: the map leaves the field
out); JSONL lines are JSON objects (blank lines skipped). A record without its key, or a key seen twice, is a
``FileDataError`` naming the file and the line.

Target (``write = { to = "staging", entity = "learners", mode = "create", match = "Email" }``)::

    target = make_target(directory, "learners", key="Email", format="csv")
    results = target.write(items)      # list[RowResult], one per WriteItem, in order

appends the records to ``learners.csv`` (or ``.jsonl``), idempotent by key: the keys already in the file are
indexed on the first ``write`` (and kept up to date as it writes), so a record whose key is there is
``unchanged`` and is not appended twice — a re-run or a batch in doubt writes nothing new. The key is the
``match`` field of the payload, or (no match) the record's idempotency key, kept in a ``_key`` column. Each
``write`` is flushed and fsynced before it returns, so the journal's "done" always follows durable data. The
CSV header is the first batch's fields; a later record with a new field rewrites the file with the wider
header (atomically, through a temporary file). Lists and objects are written to CSV as JSON text. The file
and the folders it creates are the owner's only (0600, 0700), and it never writes through a symbolic link
(``migrator.private_files``): a link, or anything but a regular file, at the file's name is refused.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

import orjson

from migrator.connectors.base import RowResult, WriteItem
from migrator.connectors.files.text import FileDataError, open_text
from migrator.private_files import UnsafePathError, make_private_dir, open_private, replace_private

__all__ = [
    "FORMATS",
    "FileDataError",
    "FileSource",
    "FileTarget",
    "file_name_problem",
    "make_source",
    "make_target",
]

Format = Literal["csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl")
KEY_COLUMN = "_key"
DEFAULT_CHUNK = 1000
_NOT_IN_NAMES = ("/", "\\", "\x00")


def file_name_problem(entity: str) -> str | None:
    """Why ``entity`` cannot name a file of a files connection, or None: it must be a plain file name (no
    folder, no ``..``, not absolute), so that a step reads and writes only in its connection's folder."""
    if entity in ("", ".", "..") or any(c in entity for c in _NOT_IN_NAMES):
        return (
            f"{entity!r} is not a plain file name: a files entity names a file in the connection's folder "
            "(without .csv or .jsonl), with no '/', '\\' or '..'; put the folder in the connection's path"
        )
    return None


def _check_name(entity: str) -> None:
    problem = file_name_problem(entity)
    if problem is not None:
        raise FileDataError(problem)


def _source_file(directory: Path, entity: str) -> tuple[Path, Format]:
    found = [
        (directory / f"{entity}.{fmt}", fmt) for fmt in FORMATS if (directory / f"{entity}.{fmt}").is_file()
    ]
    if not found:
        raise FileDataError(
            f"no {entity}.csv or {entity}.jsonl in {str(directory)!r}; check the connection's path and the "
            "step's read.entity (the file name without its extension)"
        )
    if len(found) > 1:
        raise FileDataError(
            f"both {entity}.csv and {entity}.jsonl are in {str(directory)!r}; keep only the one to read"
        )
    return found[0]


# -- CSV, strictly -------------------------------------------------------------------------------------------


def _csv_error(path: Path, error: csv.Error, start: int, line: int) -> FileDataError:
    """What a ``csv`` module error means for a person, for the record that began at line ``start``."""
    text = str(error)
    if text.startswith("field larger than field limit"):
        return FileDataError(
            f"{path} line {start}: a cell longer than {csv.field_size_limit():,} characters; a quote that is "
            "never closed makes the rest of the file one cell: close it (or shorten the cell)"
        )
    if text == "unexpected end of data":
        return FileDataError(
            f"{path} line {start}: a quoted cell is never closed (the file ends inside it, at line {line}); "
            'add the closing quote, and write a quote inside a quoted cell as two ("")'
        )
    if "expected after" in text:
        return FileDataError(
            f"{path} line {line}: text after the closing quote of a cell, in the row that begins at line "
            f'{start}; write a quote inside a quoted cell as two (""), or quote the whole cell'
        )
    return FileDataError(f"{path} line {start}: not valid CSV ({text}); check the quotes and commas there")


def _next_row(reader: Any, path: Path) -> tuple[int, list[str]] | None:
    """The next row of ``reader`` with the line it begins on, or None at the end."""
    start = reader.line_num + 1
    try:
        cells: list[str] | None = next(reader, None)
    except csv.Error as error:
        raise _csv_error(path, error, start, reader.line_num) from None
    return None if cells is None else (start, cells)


def _csv_table(text: TextIO, path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header of a CSV text (``[]`` for an empty file) and its rows ``(line, cells)``, blank lines skipped;
    every row has exactly one cell per header column, or the rows raise a ``FileDataError``."""
    reader = csv.reader(text, strict=True)
    header: list[str] = []
    while not header:
        row = _next_row(reader, path)
        if row is None:
            break
        header = row[1]
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise FileDataError(
                f"{path}: column {column!r} appears twice in the header; rename one of them (each column is "
                "one field of the record)"
            )
        seen.add(column)
    return header, _csv_rows(reader, path, len(header))


def _csv_rows(reader: Any, path: Path, width: int) -> Iterator[tuple[int, list[str]]]:
    while (row := _next_row(reader, path)) is not None:
        line, cells = row
        if not cells:
            continue
        if len(cells) != width:
            raise FileDataError(
                f"{path} line {line}: the header has {width} columns but this row has {len(cells)}; quote "
                "values that contain commas, and give every row all the columns (an empty cell is fine)"
            )
        yield line, cells


@contextlib.contextmanager
def _reading(path: Path, fd: int | None = None) -> Iterator[TextIO]:
    """The decoded text of ``path`` (or of ``fd``, opened on it); an OS error is a ``FileDataError``."""
    try:
        raw = open(path, "rb") if fd is None else os.fdopen(fd, "rb")  # noqa: SIM115 - closed below
    except OSError as error:
        raise FileDataError(f"{path}: cannot be read ({error.strerror}); check its permissions") from None
    with raw, open_text(raw, path) as text:
        yield text


# -- the source ----------------------------------------------------------------------------------------------


class FileSource:
    """Reads ``<entity>.csv`` or ``<entity>.jsonl`` in chunks of ``chunk`` rows. See the module docstring."""

    def __init__(self, directory: Path | str, entity: str, *, key: str, chunk: int = DEFAULT_CHUNK) -> None:
        if chunk < 1:
            raise ValueError(f"files: chunk (page_size) must be at least 1; got {chunk}")
        _check_name(entity)
        self.directory = Path(directory)
        self.entity = entity
        self.key_field = key
        self.chunk = chunk

    @property
    def path(self) -> Path:
        return _source_file(self.directory, self.entity)[0]

    def pages(self, done: Collection[str] = ()) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """``(page_key, records)`` for every chunk whose key is not in ``done``, in file order."""
        path, fmt = _source_file(self.directory, self.entity)
        seen: set[str] = set()
        chunk: list[dict[str, Any]] = []
        start = 0
        for line, record in self._rows(path, fmt):
            key = record.get(self.key_field)
            if key is None or key == "":
                raise FileDataError(
                    f"{path} line {line}: no value in the key field {self.key_field!r}; every row needs "
                    "one (or set read.key to a column that is always filled)"
                )
            text = str(key)
            if text in seen:
                raise FileDataError(
                    f"{path} line {line}: key {self.key_field} = {text!r} appears twice; keys must be "
                    "unique (remove the duplicate row or choose another read.key)"
                )
            seen.add(text)
            chunk.append(record)
            if len(chunk) == self.chunk:
                page_key = self.page_key(start)
                if page_key not in done:
                    yield page_key, chunk
                start += len(chunk)
                chunk = []
        if chunk:
            page_key = self.page_key(start)
            if page_key not in done:
                yield page_key, chunk

    def page_key(self, start: int) -> str:
        """The stable key of the chunk that begins at row ``start`` (0-based, header not counted)."""
        return f"rows={start}-{start + self.chunk - 1}"

    def _rows(self, path: Path, fmt: Format) -> Iterator[tuple[int, dict[str, Any]]]:
        with _reading(path) as text:
            if fmt == "jsonl":
                yield from _jsonl_objects(text, path)
                return
            header, rows = _csv_table(text, path)
            if self.key_field not in header:
                raise FileDataError(
                    f"{path}: no column {self.key_field!r} for the key; columns are "
                    f"{', '.join(header) or 'none'}. Set read.key to the column that identifies a row."
                )
            for line, cells in rows:
                yield line, {k: (None if v == "" else v) for k, v in zip(header, cells, strict=True)}


def _jsonl_objects(text: TextIO, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            raise FileDataError(f"{path} line {number}: not JSON ({error})") from None
        if not isinstance(value, dict):
            raise FileDataError(
                f"{path} line {number}: a {type(value).__name__}; expected one JSON object a line"
            )
        yield number, value


# -- the target ----------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return str(value)


class FileTarget:
    """Appends records to ``<entity>.csv`` or ``.jsonl``, idempotent by key. See the module docstring."""

    def __init__(
        self, directory: Path | str, entity: str, *, key: str | None = None, format: Format = "csv"
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"files: format must be csv or jsonl; got {format!r}")
        _check_name(entity)
        self.directory = Path(directory)
        self.entity = entity
        self.key = key
        self.format: Format = format
        self.path = self.directory / f"{entity}.{format}"
        self._columns: list[str] = []
        self._index: set[str] | None = None  # the keys in the file, read on the first write

    @property
    def key_column(self) -> str:
        return self.key or KEY_COLUMN

    def _load(self) -> set[str]:
        """Index the keys already in the file (the file is the truth: a re-run finds what it wrote)."""
        try:
            fd = open_private(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return set()
        with _reading(self.path, fd) as text:
            if self.format == "jsonl":
                return self._jsonl_keys(text)
            header, rows = _csv_table(text, self.path)
            self._columns = header
            if not header:
                return set()
            if self.key_column not in header:
                raise FileDataError(
                    f"{self.path} exists without a {self.key_column!r} column, so rows written "
                    "before cannot be recognised; move the file away or write with its key column as match"
                )
            at = header.index(self.key_column)
            return {cells[at] for _, cells in rows if cells[at]}

    def _jsonl_keys(self, text: TextIO) -> set[str]:
        keys: set[str] = set()
        for number, line in enumerate(text, start=1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise FileDataError(
                    f"{self.path} line {number}: not JSON (a run stopped mid-line?); fix or remove "
                    "that line, then run again"
                ) from None
            if isinstance(value, dict) and value.get(self.key_column) not in (None, ""):
                keys.add(str(value[self.key_column]))
        return keys

    def _key_of(self, item: WriteItem) -> str | None:
        if self.key is None:
            return item.idem_key
        value = item.payload.get(self.key)
        return None if value is None or value == "" else str(value)

    def write(self, items: Sequence[WriteItem]) -> list[RowResult]:
        """Append the records whose key is not in the file yet; one ``RowResult`` per item, in order."""
        with self._file_errors():
            return self._write(items)

    def _write(self, items: Sequence[WriteItem]) -> list[RowResult]:
        if self._index is None:
            self._index = self._load()
        index = self._index
        results: list[RowResult] = []
        new: list[dict[str, Any]] = []
        for item in items:
            key = self._key_of(item)
            if key is None:
                why = f"{self.key} is the match key of this step and must not be empty"
                results.append(
                    RowResult(
                        item.idem_key, ok=False, action="rejected", reason=why, fields={str(self.key): [why]}
                    )
                )
                continue
            if key in index:
                results.append(RowResult(item.idem_key, ok=True, target_id=key, action="unchanged"))
                continue
            row = dict(item.payload)
            if self.key is None:
                row[KEY_COLUMN] = key
            new.append(row)
            index.add(key)
            results.append(RowResult(item.idem_key, ok=True, target_id=key, action="created"))
        if new:
            make_private_dir(self.directory)
            if self.format == "csv":
                self._append_csv(new)
            else:
                self._append(b"".join(orjson.dumps(r) + b"\n" for r in new))
        return results

    @contextlib.contextmanager
    def _file_errors(self) -> Iterator[None]:
        """The target's OS errors as ``FileDataError``s that say which file and what to do."""
        try:
            yield
        except UnsafePathError as error:
            raise FileDataError(
                f"{self.path}: {error.strerror}; a files target writes only to a regular file, never through "
                "a link; remove it, or point the connection's path at another folder"
            ) from None
        except NotADirectoryError as error:
            raise FileDataError(
                f"{error.filename} is not a folder, so the files target cannot write {self.path}; point the "
                "connection's path at a folder (a missing one is created)"
            ) from None
        except OSError as error:
            raise FileDataError(
                f"{self.path} cannot be written ({error.strerror}); fix that (free space, permissions), then "
                "run again: the journal is consistent"
            ) from None

    def _append(self, data: bytes) -> None:
        fd = open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def _append_csv(self, rows: list[dict[str, Any]]) -> None:
        wider = list(self._columns)
        for row in rows:
            wider.extend(k for k in row if k not in wider)
        if wider != self._columns and self._columns:
            self._rewrite(wider)
        write_header = not self._columns
        self._columns = wider
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self._columns, lineterminator="\n")
        if write_header:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in self._columns})
        self._append(buffer.getvalue().encode("utf-8"))

    def _rewrite(self, columns: list[str]) -> None:
        """The file again with a wider header (new columns empty in the old rows), replaced atomically."""
        fd = open_private(self.path, os.O_RDONLY)
        with _reading(self.path, fd) as src, replace_private(self.path) as raw:
            dst = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            writer = csv.writer(dst, lineterminator="\n")
            writer.writerow(columns)
            header, rows = _csv_table(src, self.path)
            for _, cells in rows:
                old = dict(zip(header, cells, strict=True))
                writer.writerow([old.get(k, "") for k in columns])
            dst.detach()


def make_source(directory: Path | str, entity: str, *, key: str, chunk: int = DEFAULT_CHUNK) -> FileSource:
    return FileSource(directory, entity, key=key, chunk=chunk)


def make_target(
    directory: Path | str, entity: str, *, key: str | None = None, format: Format = "csv"
) -> FileTarget:
    return FileTarget(directory, entity, key=key, format=format)
