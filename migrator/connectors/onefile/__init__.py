"""OneFile API v2.1: pure request builders and response decoders, by what they hold.

``spec``: what OneFile can read and write (every call draws from the one api-wide budget key ``ALL``);
``auth``: the 24-hour session; ``users``: the paged user search (read up to an empty page: ``paging``),
``POST /User`` and ``POST /User/{id}``, with the mandatory fields per role in ``roles``; ``placements``:
``POST /Placement``; ``lists``: the lists read whole (classrooms, placements, organisations, the customer);
``finder``: ``update`` of a classroom or placement, which finds the existing one by Name or MISID (the API
cannot create classrooms); ``status``: a user archived or unarchived (``user_status``), each user read
first; ``values`` and ``answers``: how OneFile holds values and what it answers.

This module holds the registry's entry points: ``make_auth``, ``make_reader`` and ``make_writer``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from functools import partial
from typing import Any

from migrator.connectors.base import EngineSupportError, PagedReader, RequestWriter
from migrator.connectors.onefile.auth import make_auth
from migrator.connectors.onefile.finder import OneFileReferenceFinder
from migrator.connectors.onefile.lists import OneFileReader
from migrator.connectors.onefile.placements import OneFilePlacementCreate
from migrator.connectors.onefile.spec import (
    CLASSROOM_FIND,
    CLASSROOM_READ,
    CUSTOMER_READ,
    ORGANISATION_READ,
    PLACEMENT_FIND,
    PLACEMENT_READ,
)
from migrator.connectors.onefile.status import OneFileUserStatus
from migrator.connectors.onefile.users import OneFileUserCreate, OneFileUserReader, OneFileUserUpdate

__all__ = ["make_auth", "make_reader", "make_writer"]

#: the reader of each entity: ``(filters, page_size, step) -> reader``
_READERS: Mapping[str, Callable[[Mapping[str, Any], int, str], PagedReader]] = {
    "user": OneFileUserReader,
    "customer": partial(OneFileReader, CUSTOMER_READ),
    "classroom": partial(OneFileReader, CLASSROOM_READ),
    "placement": partial(OneFileReader, PLACEMENT_READ),
    "organisation": partial(OneFileReader, ORGANISATION_READ),
}
#: the writer of each (entity, mode): ``(match) -> writer``
_WRITERS: Mapping[tuple[str, str], Callable[[str | None], RequestWriter]] = {
    ("user", "create"): OneFileUserCreate,
    ("user", "update"): OneFileUserUpdate,
    ("user_status", "update"): OneFileUserStatus,
    ("placement", "create"): OneFilePlacementCreate,
    ("classroom", "update"): partial(OneFileReferenceFinder, "classroom", CLASSROOM_READ, CLASSROOM_FIND),
    ("placement", "update"): partial(OneFileReferenceFinder, "placement", PLACEMENT_READ, PLACEMENT_FIND),
}


def make_reader(
    entity: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
) -> PagedReader:
    factory = _READERS.get(entity)
    if factory is None:
        raise EngineSupportError(f"the OneFile connector cannot read {entity!r}")
    return factory(filters, page_size, step)


def make_writer(entity: str, mode: str, match: str | None) -> RequestWriter:
    factory = _WRITERS.get((entity, mode))
    if factory is None:
        raise EngineSupportError(f"the OneFile connector cannot write {entity!r} in mode {mode!r}")
    return factory(match)
