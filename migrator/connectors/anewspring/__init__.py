"""aNewSpring: pure request builders and response decoders, by what they hold.

RPC-style calls under the base URL (``…/api/<function>/<pathParams>``), authenticated with ``X-API-Key``
(``auth``). Objects are addressed by EXTERNAL ID in the path, and commands are form-encoded POSTs that answer
200 with an empty body (``calls``); errors are plain text, the rejection reason (``answers``).

``spec``: what aNewSpring can read and write; ``lists``: the lists read whole (``getTemplates``);
``users``: ``getUsers`` (+ ``getUser/{id}`` per user when the map reads other fields: a read per user needs
every user's external ID) and the user writes (``addOrUpdateUser``, ``addUser``, ``updateUser``);
``companies``: the distinct company names of the users (aNewSpring cannot list groups); ``groups``:
``addGroup``, ``updateGroup``; ``members``: ``addGroupUsers``; ``user_courses``: the course lists read per
user, which ``subscriptions`` (``getSubscriptions`` and ``subscribe``) and ``results`` (``getResults``, read
only) use.

This module holds the registry's entry points: ``make_auth``, ``make_reader`` and ``make_writer``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from migrator.connectors.anewspring.auth import make_auth
from migrator.connectors.anewspring.companies import ANewSpringCompanies
from migrator.connectors.anewspring.groups import ANewSpringGroupCreate, ANewSpringGroupUpdate
from migrator.connectors.anewspring.lists import ANewSpringList
from migrator.connectors.anewspring.members import ANewSpringGroupMembers
from migrator.connectors.anewspring.results import ANewSpringResults
from migrator.connectors.anewspring.spec import TEMPLATE_READ
from migrator.connectors.anewspring.subscriptions import ANewSpringSubscriptions, ANewSpringSubscriptionWriter
from migrator.connectors.anewspring.users import (
    ANewSpringUserCreate,
    ANewSpringUserUpdate,
    ANewSpringUserUpsert,
    user_reader,
)
from migrator.connectors.base import EngineSupportError, PagedReader, RequestWriter

__all__ = ["make_auth", "make_reader", "make_writer"]

#: the reader of each entity: ``(page_size, step, fields the map reads) -> reader`` (no filters: aNewSpring's
#: lists take none)
_READERS: Mapping[str, Callable[[int, str, Collection[str]], PagedReader]] = {
    "user": user_reader,
    "company": lambda page_size, step, _: ANewSpringCompanies(page_size, step),
    "subscription": lambda page_size, step, _: ANewSpringSubscriptions(page_size, step),
    "result": lambda page_size, step, _: ANewSpringResults(page_size, step),
    "template": lambda page_size, step, _: ANewSpringList(TEMPLATE_READ, "templates", page_size, step),
}
#: the writer of each (entity, mode); aNewSpring addresses every object by its external ID, so the step's
#: match key (always that ID) chooses nothing
_WRITERS: Mapping[tuple[str, str], Callable[[], RequestWriter]] = {
    ("user", "upsert"): ANewSpringUserUpsert,
    ("user", "create"): ANewSpringUserCreate,
    ("user", "update"): ANewSpringUserUpdate,
    ("group", "create"): ANewSpringGroupCreate,
    ("group", "update"): ANewSpringGroupUpdate,
    ("group_member", "create"): ANewSpringGroupMembers,
    ("subscription", "create"): ANewSpringSubscriptionWriter,
}


def make_reader(
    entity: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
) -> PagedReader:
    factory = _READERS.get(entity)
    if factory is None:
        raise EngineSupportError(f"the aNewSpring connector cannot read {entity!r}")
    return factory(page_size, step, fields)


def make_writer(entity: str, mode: str, match: str | None) -> RequestWriter:
    factory = _WRITERS.get((entity, mode))
    if factory is None:
        raise EngineSupportError(f"the aNewSpring connector cannot write {entity!r} in mode {mode!r}")
    return factory()
