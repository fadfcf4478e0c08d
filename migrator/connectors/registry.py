"""Which connector class serves which (platform, entity, mode): the engine's single entry point."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migrator.connectors.accessplanit import AccessPlanItAuth, AccessPlanItReader, AccessPlanItWriter
from migrator.connectors.base import Auth, SourceReader, TargetWriter
from migrator.connectors.velpic import (
    READ_PATHS,
    VelpicAuth,
    VelpicBulkUsers,
    VelpicGroupWriter,
    VelpicReader,
    VelpicUserWriter,
)

__all__ = ["EngineSupportError", "make_auth", "make_reader", "make_writer"]


class EngineSupportError(Exception):
    """The plan asks for something the catalog knows but this engine cannot run yet."""


def make_auth(platform: str, credentials: Mapping[str, str]) -> Auth:
    if platform == "velpic":
        return VelpicAuth(credentials["access_key"])
    if platform == "accessplanit":
        return AccessPlanItAuth(
            username=credentials.get("username"),
            password=credentials.get("password"),
            api_key=credentials.get("api_key"),
        )
    raise EngineSupportError(f"the engine cannot connect to platform {platform!r} yet")


def make_reader(
    platform: str, entity: str, filters: Mapping[str, Any], page_size: int, step: str
) -> SourceReader:
    if platform == "velpic" and entity in READ_PATHS:
        return VelpicReader(entity, filters, page_size, step)
    if platform == "accessplanit":
        return AccessPlanItReader(entity, filters, page_size, step)
    raise EngineSupportError(f"the engine cannot read {platform} {entity!r} yet")


def make_writer(platform: str, entity: str, mode: str, match: str | None) -> TargetWriter:
    if platform == "velpic":
        if entity == "user" and mode == "bulk":
            return VelpicBulkUsers(match)
        if entity == "user" and mode in ("create", "update"):
            return VelpicUserWriter(mode, match)
        if entity == "group" and mode in ("create", "update"):
            return VelpicGroupWriter(mode)
    if platform == "accessplanit" and mode in ("upsert", "create", "update"):
        return AccessPlanItWriter(entity, mode, match)
    raise EngineSupportError(f"the engine cannot write {platform} {entity!r} in mode {mode!r} yet")
