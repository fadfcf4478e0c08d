"""Which connector serves which platform: the engine's single entry point to the connector modules.

Each platform module (``velpic.py``, ``accessplanit.py``, ``accessplanit_v1.py``, ``onefile.py``,
``anewspring.py``, ``files.py``) exports three factories::

    make_auth(credentials: Mapping[str, str]) -> Auth
    make_reader(entity, filters, page_size, step, fields) -> SourceReader   # fields: source fields the map uses
    make_writer(entity, mode, match) -> TargetWriter

and raises ``EngineSupportError`` for an entity or mode it does not serve. Modules are imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping
from types import ModuleType
from typing import Any, cast

from migrator.connectors.base import Auth, EngineSupportError, SourceReader, TargetWriter

__all__ = ["PLATFORM_MODULES", "EngineSupportError", "make_auth", "make_reader", "make_writer"]

PLATFORM_MODULES: Mapping[str, str] = {
    "velpic": "migrator.connectors.velpic",
    "accessplanit": "migrator.connectors.accessplanit",
    "accessplanit_v1": "migrator.connectors.accessplanit_v1",
    "onefile": "migrator.connectors.onefile",
    "anewspring": "migrator.connectors.anewspring",
    "files": "migrator.connectors.files",
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


def make_auth(platform: str, credentials: Mapping[str, str]) -> Auth:
    return cast(Auth, _module(platform).make_auth(credentials))


def make_reader(
    platform: str,
    entity: str,
    filters: Mapping[str, Any],
    page_size: int,
    step: str,
    fields: Collection[str] = (),
) -> SourceReader:
    return cast(SourceReader, _module(platform).make_reader(entity, filters, page_size, step, fields))


def make_writer(platform: str, entity: str, mode: str, match: str | None) -> TargetWriter:
    return cast(TargetWriter, _module(platform).make_writer(entity, mode, match))
