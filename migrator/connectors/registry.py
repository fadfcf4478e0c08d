"""Which connector serves which platform: the engine's single entry point to the connector packages.

Each platform package (``velpic``, ``accessplanit.v2``, ``accessplanit.v1``, ``onefile``, ``anewspring``,
``files``) exports three factories::

    make_auth(credentials: Mapping[str, str]) -> Auth
    make_reader(entity, filters, page_size, step, fields) -> Reader   # fields: source fields the map uses
    make_writer(entity, mode, match) -> Writer

and raises ``EngineSupportError`` for an entity or mode it does not serve. A connection that names a
directory (``path``: the files platform) is given it as ``folder``. Packages are imported on first use.

The reversal calls of ``migrator undo`` are in their own modules (:data:`UNDO_WRITERS`: module and factory per
platform); a platform without one has none (``make_undo_writer`` returns None).
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from migrator.connectors.base import Auth, EngineSupportError, Reader, UndoWriter, Writer

__all__ = [
    "PLATFORM_MODULES",
    "UNDO_WRITERS",
    "EngineSupportError",
    "make_auth",
    "make_reader",
    "make_undo_writer",
    "make_writer",
]

PLATFORM_MODULES: Mapping[str, str] = {
    "velpic": "migrator.connectors.velpic",
    "accessplanit": "migrator.connectors.accessplanit.v2",
    "accessplanit_v1": "migrator.connectors.accessplanit.v1",
    "onefile": "migrator.connectors.onefile",
    "anewspring": "migrator.connectors.anewspring",
    "files": "migrator.connectors.files",
}

#: platform → (module, factory) of its reversal calls
UNDO_WRITERS: Mapping[str, tuple[str, str]] = {
    "velpic": ("migrator.connectors.velpic.undo", "make_undo_writer"),
    "accessplanit": ("migrator.connectors.accessplanit.undo", "make_undo_writer"),
    "accessplanit_v1": ("migrator.connectors.accessplanit.undo", "make_v1_undo_writer"),
    "anewspring": ("migrator.connectors.anewspring.undo", "make_undo_writer"),
    "onefile": ("migrator.connectors.onefile.undo", "make_undo_writer"),
}


def _module(platform: str) -> ModuleType:
    name = PLATFORM_MODULES.get(platform)
    if name is None:
        raise EngineSupportError(f"no connector for platform {platform!r}")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name == name:
            raise EngineSupportError(f"the engine has no connector for platform {platform!r} yet") from None
        raise


def _place(folder: Path | None) -> dict[str, Any]:
    return {} if folder is None else {"folder": folder}


def make_auth(platform: str, credentials: Mapping[str, str]) -> Auth:
    return cast(Auth, _module(platform).make_auth(credentials))


def make_reader(
    platform: str,
    entity: str,
    filters: Mapping[str, Any],
    page_size: int,
    step: str,
    fields: Collection[str] = (),
    *,
    key: str | None = None,
    folder: Path | None = None,
) -> Reader:
    """The reader of ``entity``; ``key`` replaces the entity's source key field (a plan's ``read.key``)."""
    reader = cast(
        Reader, _module(platform).make_reader(entity, filters, page_size, step, fields, **_place(folder))
    )
    if key:
        reader.key_field = key
    return reader


def make_writer(
    platform: str, entity: str, mode: str, match: str | None, *, folder: Path | None = None
) -> Writer:
    return cast(Writer, _module(platform).make_writer(entity, mode, match, **_place(folder)))


def make_undo_writer(platform: str) -> UndoWriter | None:
    """The reversal calls of ``platform`` (None: migrator has none for it)."""
    entry = UNDO_WRITERS.get(platform)
    if entry is None:
        return None
    module, factory = entry
    return cast(UndoWriter, getattr(importlib.import_module(module), factory)())
