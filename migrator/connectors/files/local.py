"""The ``files`` platform: CSV and JSONL files in a directory, as a source and as a target. No HTTP.

A files connection has ``path`` (a directory) and no base URL, so it does not go through the ``Transport``.
These two classes are synchronous and do blocking file I/O; ``connectors.files.stream`` runs them in a worker
thread (``anyio.to_thread.run_sync``) for the pipeline; one instance is used by one thread at a time.

Source (``read = { from = "export", entity = "learners", key = "LearnerID" }``)::

    source = make_source(directory, "learners", key="LearnerID", chunk=1000)
    for page_key, records in source.pages(done_page_keys):   # a page = a chunk of ``chunk`` rows
        ...

reads ``learners.csv`` or ``learners.jsonl`` (exactly one of them must exist). Page keys
(``"rows=0-999"``) are stable across runs for the same chunk size, so a resumed read skips the chunks the
journal marked done (they are still parsed, not yielded). CSV cells that are empty become ``None`` (a missing
value: the map leaves the field out); JSONL lines are JSON objects (blank lines skipped). A record without
its key, or a key seen twice, is a ``FileDataError`` naming the file and the line.

Target (``write = { to = "staging", entity = "learners", mode = "create", match = "Email" }``)::

    target = make_target(directory, "learners", key="Email", format="csv")
    results = target.write(items)      # list[RowResult], one per WriteItem, in order

appends the records to ``learners.csv`` (or ``.jsonl``), idempotent by key: the keys already in the file are
indexed when the target is opened (and kept up to date as it writes), so a record whose key is there is
``unchanged`` and is not appended twice — a re-run or a batch in doubt writes nothing new. The key is the
``match`` field of the payload, or (no match) the record's idempotency key, kept in a ``_key`` column. Each
``write`` is flushed and fsynced before it returns, so the journal's "done" always follows durable data. The
CSV header is the first batch's fields; a later record with a new field rewrites the file with the wider
header (atomically, through a temporary file). Lists and objects are written to CSV as JSON text.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson

from migrator.connectors.base import RowResult, WriteItem
from migrator.errors import PermanentError

__all__ = [
    "FORMATS",
    "FileDataError",
    "FileSource",
    "FileTarget",
    "make_source",
    "make_target",
]

Format = Literal["csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl")
KEY_COLUMN = "_key"
DEFAULT_CHUNK = 1000


class FileDataError(PermanentError):
    """A source or target file cannot be used as it is: which file, which line, and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message, platform="files")


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


class FileSource:
    """Reads ``<entity>.csv`` or ``<entity>.jsonl`` in chunks of ``chunk`` rows. See the module docstring."""

    def __init__(self, directory: Path | str, entity: str, *, key: str, chunk: int = DEFAULT_CHUNK) -> None:
        if chunk < 1:
            raise ValueError(f"files: chunk (page_size) must be at least 1; got {chunk}")
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
                    f"{path.name} line {line}: no value in the key field {self.key_field!r}; every row needs "
                    "one (or set read.key to a column that is always filled)"
                )
            text = str(key)
            if text in seen:
                raise FileDataError(
                    f"{path.name} line {line}: key {self.key_field} = {text!r} appears twice; keys must be "
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
        if fmt == "csv":
            with path.open(encoding="utf-8-sig", newline="") as fh:
                reader = csv.DictReader(fh)
                if not reader.fieldnames or self.key_field not in reader.fieldnames:
                    columns = ", ".join(reader.fieldnames or []) or "none"
                    raise FileDataError(
                        f"{path.name}: no column {self.key_field!r} for the key; columns are {columns}. "
                        "Set read.key to the column that identifies a row."
                    )
                for row in reader:
                    if None in row:
                        raise FileDataError(
                            f"{path.name} line {reader.line_num}: more cells than header columns; "
                            "quote values that contain commas"
                        )
                    yield reader.line_num, {k: (None if v == "" else v) for k, v in row.items()}
            return
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    value = orjson.loads(raw)
                except orjson.JSONDecodeError as error:
                    raise FileDataError(f"{path.name} line {number}: not JSON ({error})") from None
                if not isinstance(value, dict):
                    raise FileDataError(
                        f"{path.name} line {number}: a {type(value).__name__}; expected one JSON object a line"
                    )
                yield number, value


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
        self.directory = Path(directory)
        self.entity = entity
        self.key = key
        self.format: Format = format
        self.path = self.directory / f"{entity}.{format}"
        self._columns: list[str] = []
        self._index: set[str] = set()
        self._load()

    @property
    def key_column(self) -> str:
        return self.key or KEY_COLUMN

    def _load(self) -> None:
        """Index the keys already in the file (the file is the truth: a re-run finds what it wrote)."""
        if not self.path.exists():
            return
        if self.format == "csv":
            with self.path.open(encoding="utf-8-sig", newline="") as fh:
                reader = csv.DictReader(fh)
                self._columns = list(reader.fieldnames or [])
                if self._columns and self.key_column not in self._columns:
                    raise FileDataError(
                        f"{self.path.name} exists without a {self.key_column!r} column, so rows written "
                        "before cannot be recognised; move the file away or write with its key column as match"
                    )
                self._index = {row[self.key_column] for row in reader if row.get(self.key_column)}
            return
        with self.path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    value = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raise FileDataError(
                        f"{self.path.name} line {number}: not JSON (a run stopped mid-line?); fix or remove "
                        "that line, then run again"
                    ) from None
                if isinstance(value, dict) and value.get(self.key_column) not in (None, ""):
                    self._index.add(str(value[self.key_column]))

    def _key_of(self, item: WriteItem) -> str | None:
        if self.key is None:
            return item.idem_key
        value = item.payload.get(self.key)
        return None if value is None or value == "" else str(value)

    def write(self, items: Sequence[WriteItem]) -> list[RowResult]:
        """Append the records whose key is not in the file yet; one ``RowResult`` per item, in order."""
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
            if key in self._index:
                results.append(RowResult(item.idem_key, ok=True, target_id=key, action="unchanged"))
                continue
            row = dict(item.payload)
            if self.key is None:
                row[KEY_COLUMN] = key
            new.append(row)
            self._index.add(key)
            results.append(RowResult(item.idem_key, ok=True, target_id=key, action="created"))
        if new:
            self.directory.mkdir(parents=True, exist_ok=True)
            if self.format == "csv":
                self._append_csv(new)
            else:
                self._append(b"".join(orjson.dumps(r) + b"\n" for r in new))
        return results

    def _append(self, data: bytes) -> None:
        with self.path.open("ab") as fh:
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
        temp = self.path.with_name(self.path.name + ".tmp")
        with self.path.open(encoding="utf-8-sig", newline="") as src, temp.open("w", encoding="utf-8") as dst:
            writer = csv.DictWriter(dst, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            for row in csv.DictReader(src):
                writer.writerow({k: row.get(k) or "" for k in columns})
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(temp, self.path)


def make_source(directory: Path | str, entity: str, *, key: str, chunk: int = DEFAULT_CHUNK) -> FileSource:
    return FileSource(directory, entity, key=key, chunk=chunk)


def make_target(
    directory: Path | str, entity: str, *, key: str | None = None, format: Format = "csv"
) -> FileTarget:
    return FileTarget(directory, entity, key=key, format=format)
