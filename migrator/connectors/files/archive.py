"""A documents archive on this machine: one file per record (a certificate, any binary document) in the
connection's folder, and ``index.csv`` beside them that says which record each file holds.

A step writes it with ``write = { to = "<files connection>", entity = "documents", mode = "create" }``; each
mapped record has

- ``document``: the file's bytes, base64-encoded (required; a record without it is rejected, with its
  ``missing`` field as the reason when the map gives one);
- ``name``: what the file is named after (the learner and the lesson, say; required). It is made a safe file
  name (:func:`safe_name`) and given the record's key, so two records with the same ``name`` never share a
  file: ``<safe name> [<source key>].<extension>``;
- ``extension``: optional; ``pdf`` for bytes that begin ``%PDF-``, else ``bin``;
- any other field: a column of the index.

The index has the columns ``key`` (the step's match field, or the record's idempotency key), ``file``,
``sha256`` (of the file's bytes), ``bytes``, then the other fields in the order first written.

Exactly once, whatever is killed when: a file is written to a temporary name (``.<file>.tmp``, 0600, never
through a link), flushed, synced and renamed onto its name, and the folder synced; only then is its index row
appended (and synced), and only then does the step's journal mark the record done. So a file in the index is
always whole; a temporary file left by a crash is removed when the archive is next written; a record in doubt
is written again under the same name, with the same bytes. A record whose key is in the index with the same
SHA-256, and whose file on disk still has it, is ``unchanged`` (nothing written); with other bytes it is
written again and its row replaced (``updated``). The folder and the files it creates are the owner's only
(0700, 0600, ``migrator.private_files``); the folder must not be a symbolic link, and no file is read or
written through one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import hashlib
import io
import os
import re
import stat
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import orjson

from migrator.connectors.base import Action, RowResult, WriteItem
from migrator.connectors.files.spec import DOCUMENTS, FILES
from migrator.connectors.files.text import FileDataError
from migrator.private_files import UnsafePathError, make_private_dir, open_private, replace_private

__all__ = ["INDEX", "ArchiveWriter", "DocumentArchive", "safe_name"]

#: the archive's index, in its folder
INDEX = "index.csv"
#: the index columns every row has, before the records' own fields
FIXED_COLUMNS = ("key", "file", "sha256", "bytes")
#: the payload fields the archive reads itself (not index columns)
DOCUMENT, NAME, EXTENSION, MISSING = "document", "name", "extension", "missing"
_OWN_FIELDS = frozenset({DOCUMENT, NAME, EXTENSION, MISSING})
_WRITE = FILES.entities[DOCUMENTS].writes["create"]
#: the longest safe name, in UTF-8 bytes (a file name is at most 255 bytes; the key and extension follow it)
_NAME_BYTES = 120
_UNSAFE = re.compile(r"[^\w .,()'&+-]+")
_SPACES = re.compile(r"\s+")
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
)


def safe_name(text: object, fallback: str = "document") -> str:
    """``text`` as a file name that stays in its folder on every system: NFC-normalised letters, digits,
    spaces and ``.,()'&+-_``, every other run of characters one ``_`` (no ``/``, ``\\``, ``:``, control
    characters); no leading dot or space (no hidden file, no ``..``), no trailing dot or space; a Windows
    device name (``CON``, ``NUL`` …) prefixed with ``_``; at most 120 bytes of UTF-8. ``fallback`` when
    nothing is left."""
    name = unicodedata.normalize("NFC", "" if text is None else str(text))
    name = _UNSAFE.sub("_", _SPACES.sub(" ", name)).strip(" ._")
    raw = name.encode("utf-8")[:_NAME_BYTES]
    name = raw.decode("utf-8", "ignore").rstrip(" .")
    if not name:
        return fallback
    if name.split(".")[0].casefold() in _WINDOWS_RESERVED:
        name = "_" + name
    return name


def _extension(payload: Mapping[str, Any], content: bytes) -> str:
    given = payload.get(EXTENSION)
    if given not in (None, ""):
        return safe_name(str(given).lstrip("."), "bin").replace(" ", "_")
    return "pdf" if content.startswith(b"%PDF-") else "bin"


def _cell(value: Any) -> str:
    """A value as an index cell: empty for None, JSON for a list or an object, else its text."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return str(value)


def _rejected(item: WriteItem, field: str, why: str) -> RowResult:
    return RowResult(item.idem_key, ok=False, action="rejected", reason=why, fields={field: [why]})


def _no_document(item: WriteItem) -> RowResult:
    """The rejection of a record without its document: its ``missing`` field says why, when mapped."""
    missing = item.payload.get(MISSING)
    why = str(missing) if missing not in (None, "") else "no document: map the file's bytes to document"
    return _rejected(item, DOCUMENT, why)


def _sha256_of(path: Path) -> str | None:
    """The SHA-256 of the regular file at ``path``; None when there is none (or a link is there)."""
    try:
        fd = open_private(path, os.O_RDONLY)
    except (FileNotFoundError, UnsafePathError):
        return None
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


class DocumentArchive:
    """The archive in ``directory`` (synchronous, blocking I/O; one thread at a time). ``key`` is the payload
    field that identifies a record (None: its idempotency key). See the module docstring."""

    def __init__(self, directory: Path | str, *, key: str | None = None) -> None:
        self.directory = Path(directory)
        self.key = key
        self._rows: dict[str, dict[str, str]] | None = None  # key → index row, in file order
        self._owners: dict[str, str] = {}  # file name → key
        self._columns: list[str] = list(FIXED_COLUMNS)
        self._has_header = False

    @property
    def index_path(self) -> Path:
        return self.directory / INDEX

    def write(self, items: Sequence[WriteItem]) -> list[RowResult]:
        """Archive ``items``; one ``RowResult`` per item, in order (its target id is the file's name). After an
        error the index is read again by the next write: what this one held in memory may not be in it."""
        with self._errors():
            try:
                return self._write(items)
            except BaseException:
                self._rows = None
                raise

    def held(self) -> dict[str, list[str]]:
        """What the archive holds, read without writing anything (no folder made, nothing removed): each
        index key, stripped and case-folded as the engine compares match values, → its file."""
        with self._errors():
            rows = self._read_index()
        return {key.strip().casefold(): [row["file"]] for key, row in rows.items()}

    # -- the batch ------------------------------------------------------------------------------------------
    def _write(self, items: Sequence[WriteItem]) -> list[RowResult]:
        rows = self._open()
        results: list[RowResult] = []
        new: list[dict[str, str]] = []
        replaced = False
        for item in items:
            outcome = self._one(item, rows)
            if isinstance(outcome, RowResult):
                results.append(outcome)
                continue
            row, action = outcome
            if action == "updated":
                replaced = True
            elif action == "created":
                new.append(row)
            rows[row["key"]] = row
            self._owners[row["file"]] = row["key"]
            results.append(RowResult(item.idem_key, ok=True, target_id=row["file"], action=action))
        if new or replaced:
            _sync_folder(self.directory)  # the renames are durable before the index names the files
            wider = list(self._columns)
            for row in new:
                wider.extend(k for k in row if k not in wider)
            if replaced or wider != self._columns or not self._has_header:
                self._columns = wider
                self._rewrite_index(rows.values())
            else:
                self._append_index(new)
        return results

    def _one(
        self, item: WriteItem, rows: Mapping[str, dict[str, str]]
    ) -> RowResult | tuple[dict[str, str], Action]:
        """Write one record's file (unless it is there already): its index row and action, or its rejection."""
        payload = item.payload
        key = item.idem_key if self.key is None else payload.get(self.key)
        if key is None or key == "":
            return _rejected(
                item, str(self.key), f"{self.key} is the match key of this step and must not be empty"
            )
        key = str(key)
        document = payload.get(DOCUMENT)
        if not isinstance(document, str) or not document:
            return _no_document(item)
        try:
            content = base64.b64decode(document, validate=True)
        except (binascii.Error, ValueError):
            return _rejected(item, DOCUMENT, "document is not base64 text (the file's bytes, base64-encoded)")
        digest = hashlib.sha256(content).hexdigest()
        before = rows.get(key)
        file = before["file"] if before is not None else self._new_file(payload, item, key, content)
        if before is not None and before["sha256"] == digest and _sha256_of(self.directory / file) == digest:
            return before, "unchanged"
        with replace_private(self.directory / file) as fh:
            fh.write(content)
        row = {"key": key, "file": file, "sha256": digest, "bytes": str(len(content))}
        row.update((k, _cell(v)) for k, v in payload.items() if k not in _OWN_FIELDS and k not in row)
        return row, "created" if before is None else "updated"

    def _new_file(self, payload: Mapping[str, Any], item: WriteItem, key: str, content: bytes) -> str:
        """The name of a new record's file: its safe ``name`` and source key; the idempotency key's first
        characters too if another record's file already has that name."""
        stem = f"{safe_name(payload.get(NAME))} [{safe_name(item.source_key, 'record')}]"
        extension = _extension(payload, content)
        file = f"{stem}.{extension}"
        owner = self._owners.get(file)
        if owner is not None and owner != key:
            file = f"{stem} {item.idem_key[:12]}.{extension}"
        return file

    # -- the index ------------------------------------------------------------------------------------------
    def _open(self) -> dict[str, dict[str, str]]:
        """The index's rows, read on the first write, after making the folder and removing what a crash left
        half-written."""
        if self._rows is not None:
            return self._rows
        make_private_dir(self.directory)
        if stat.S_ISLNK(os.lstat(self.directory).st_mode):
            raise UnsafePathError(0, "is a symbolic link", str(self.directory))
        for leftover in self.directory.glob(".*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()  # never a done file: only renamed ones are
        self._rows = self._read_index()
        self._owners = {row["file"]: key for key, row in self._rows.items()}
        return self._rows

    def _read_index(self) -> dict[str, dict[str, str]]:
        try:
            fd = open_private(self.index_path, os.O_RDONLY)
        except FileNotFoundError:
            return {}
        with os.fdopen(fd, "r", encoding="utf-8", newline="") as text:
            reader = csv.DictReader(text, strict=True)
            header = list(reader.fieldnames or [])
            if header and header[: len(FIXED_COLUMNS)] != list(FIXED_COLUMNS):
                raise FileDataError(
                    f"{self.index_path}: not an archive index (its columns begin {', '.join(header[:4])}, not "
                    f"{', '.join(FIXED_COLUMNS)}); point the connection's path at the archive's own folder"
                )
            try:
                rows = {row["key"]: {k: v or "" for k, v in row.items()} for row in reader}
            except csv.Error as error:
                raise FileDataError(
                    f"{self.index_path} line {reader.line_num}: not valid CSV ({error}); restore it from the "
                    "journal's report, or move the archive aside and run again"
                ) from None
        if header:
            self._columns = header
            self._has_header = True
        return rows

    def _csv(self, rows: Iterable[Mapping[str, str]], header: bool) -> bytes:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self._columns, lineterminator="\n")
        if header:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in self._columns})
        return buffer.getvalue().encode("utf-8")

    def _append_index(self, rows: Sequence[Mapping[str, str]]) -> None:
        fd = open_private(self.index_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "ab") as fh:
            fh.write(self._csv(rows, header=False))
            fh.flush()
            os.fsync(fh.fileno())

    def _rewrite_index(self, rows: Iterable[Mapping[str, str]]) -> None:
        """The whole index again (a replaced row, a wider header), through a temporary file."""
        with replace_private(self.index_path) as fh:
            fh.write(self._csv(rows, header=True))
        _sync_folder(self.directory)
        self._has_header = True

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """The archive's OS errors as ``FileDataError``s that say which file and what to do."""
        try:
            yield
        except UnsafePathError as error:
            raise FileDataError(
                f"{error.filename}: {error.strerror}; a documents archive writes only regular files in a real "
                "folder, never through a link; remove it, or point the connection's path at another folder"
            ) from None
        except NotADirectoryError as error:
            raise FileDataError(
                f"{error.filename} is not a folder, so the documents archive cannot be written there; point "
                "the connection's path at a folder (a missing one is created)"
            ) from None
        except OSError as error:
            raise FileDataError(
                f"the documents archive in {str(self.directory)!r} cannot be written ({error.strerror}); fix "
                "that (free space, permissions), then run again: the journal is consistent"
            ) from None


def _sync_folder(directory: Path) -> None:
    """Make the folder's entries (renames, new files) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ArchiveWriter:
    """The pipeline's writer of a documents archive: idempotent (a record written again gets the same file),
    batches written one at a time in a worker thread."""

    mode = "create"
    max_batch = _WRITE.max_batch
    idempotent = True

    def __init__(self, archive: DocumentArchive, match: str | None) -> None:
        self.archive = archive
        self.match_fields: tuple[str, ...] = (match,) if match else ()
        self._turn = anyio.Lock()

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        """A record without its document, or without a name, is rejected before anything is written."""
        payload = item.payload
        if payload.get(DOCUMENT) in (None, ""):
            return _no_document(item)
        if payload.get(NAME) in (None, ""):
            return _rejected(item, NAME, "name is required: what the file is named after (learner, lesson)")
        return item

    async def write_direct(self, items: Sequence[WriteItem]) -> list[RowResult]:
        async with self._turn:
            return await anyio.to_thread.run_sync(self.archive.write, list(items))

    async def holdings(self) -> dict[str, list[str]]:
        """The archive's index by match value (``DocumentArchive.held``), for a dry run to classify against."""
        async with self._turn:
            return await anyio.to_thread.run_sync(self.archive.held)
