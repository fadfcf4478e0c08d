"""The ``files`` platform: CSV and JSONL files in a directory, as a source and as a target. No HTTP.

``local`` holds the file formats (``FileSource``, ``FileTarget``: synchronous, blocking I/O); ``stream`` the
pipeline's reader and writer over them; ``archive`` the documents archive (the entity ``documents``: one file
per record and its index, written by ``ArchiveWriter``); ``spec`` the platform's declaration. A files
connection names a directory (its ``path``, relative to the plan file), which the registry passes as
``folder``; an entity is a plain file name in it, or the factories raise a ``SettingError`` at ``read.entity``
/ ``write.entity``. The factories open nothing: a reader reads its file when the step reads it, a writer when
it writes the first batch, so building them is cheap and pure (as the plan's validation does).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from migrator.connectors.base import EngineSupportError, Request, Response, SettingError, Token
from migrator.connectors.files.archive import ArchiveWriter, DocumentArchive
from migrator.connectors.files.local import file_name_problem, make_source, make_target
from migrator.connectors.files.spec import DOCUMENTS, FILES
from migrator.connectors.files.stream import FileReader, FileWriter

__all__ = ["FilesAuth", "make_auth", "make_reader", "make_writer"]


class FilesAuth:
    """Local files need no credentials (so the registry's ``make_auth`` works for every platform)."""

    def token_request(self) -> Request | None:
        return None

    def decode_token(self, response: Response, now: float) -> Token:  # pragma: no cover - never asked
        return Token("", None)

    def headers(self, token: Token | None) -> Mapping[str, str]:
        return {}

    def secrets(self) -> Sequence[str]:
        return []

    def refused(self, response: Response) -> bool:
        return False


def make_auth(credentials: Mapping[str, str]) -> FilesAuth:
    return FilesAuth()


def _check_entity(entity: str, key: str) -> None:
    problem = file_name_problem(entity)
    if problem is not None:
        raise SettingError(key, problem)


def _folder(folder: Path | None) -> Path:
    if folder is None:
        raise EngineSupportError("a files connection needs its directory (its path)")
    return folder


def make_reader(
    entity: str,
    filters: Mapping[str, Any],
    page_size: int,
    step: str,
    fields: Collection[str] = (),
    *,
    folder: Path | None = None,
) -> FileReader:
    """The reader of ``<folder>/<entity>.csv`` (or ``.jsonl``), keyed by ``id`` unless the step says."""
    _check_entity(entity, "read.entity")
    return FileReader(make_source(_folder(folder), entity, key="id", chunk=page_size))


def make_writer(
    entity: str, mode: str, match: str | None, *, folder: Path | None = None
) -> FileWriter | ArchiveWriter:
    """The writer that appends to ``<folder>/<entity>.csv`` (or ``.jsonl``), idempotent by ``match``; for
    ``documents``, the documents archive in ``<folder>`` (one file per record and ``index.csv``)."""
    if entity == DOCUMENTS:
        if mode != "create":
            raise EngineSupportError(f"a documents archive is written in mode create, not {mode!r}")
        return ArchiveWriter(DocumentArchive(_folder(folder), key=match), match)
    _check_entity(entity, "write.entity")
    if mode not in FILES.entities["*"].writes:
        raise EngineSupportError(f"files targets are written in mode create, not {mode!r}")
    return FileWriter(make_target(_folder(folder), entity, key=match), match)
