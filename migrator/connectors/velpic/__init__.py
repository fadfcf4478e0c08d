"""Velpic / Damstra Learning API v2: the connector's three factories, each a table lookup.

The package, by what each module holds: ``spec`` (what Velpic can read and write: endpoints, keys, paging,
batch limits, match keys), ``auth`` (the ``AccessKey`` header and the answer that refuses it), ``calls`` (what
every reader and writer shares: calls to declared endpoints, list results and one-call reads of a list, error
text, ids), ``lists`` (the paged list reader), ``users`` (the user rules, the bulk import and how its answer is
matched back, the one-by-one create and update), ``groups``
(groups, their members and supervisors), ``status`` (a user's status: activate, inactivate), ``userids``
(writers that add users to a parent), ``lessons`` (lesson schedules and completions), ``certificates`` (the
PDF of each passed, completed schedule) and ``ilt`` (ILT sessions, registrations, attendance).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from functools import partial
from typing import Any

from migrator.connectors.base import EngineSupportError, PagedReader, RequestWriter
from migrator.connectors.velpic.auth import VelpicAuth
from migrator.connectors.velpic.certificates import VelpicCertificateReader
from migrator.connectors.velpic.groups import (
    VelpicGroupCreate,
    VelpicGroupSupervisorsReader,
    VelpicGroupUpdate,
    VelpicMemberWriter,
)
from migrator.connectors.velpic.ilt import (
    VelpicIltAttendanceWriter,
    VelpicIltRegistrationWriter,
    VelpicIltSessionCreate,
    VelpicIltSessionReader,
    VelpicIltSessionUpdate,
    parse_ilt_date,
)
from migrator.connectors.velpic.lessons import (
    VelpicCompletionWriter,
    VelpicScheduleReader,
    VelpicScheduleWriter,
)
from migrator.connectors.velpic.lists import VelpicReader
from migrator.connectors.velpic.status import VelpicUserStatus
from migrator.connectors.velpic.users import VelpicUserCreate, VelpicUserUpdate, bulk_writer

__all__ = ["make_auth", "make_reader", "make_writer", "parse_ilt_date"]


def _every_status(filters: Mapping[str, Any], page_size: int, step: str) -> VelpicReader:
    """``user_status``'s read: the user list with every status (``activeValue=all``), whatever the filter
    says about it: the status writer compares each user's status on the target with the wanted one."""
    return VelpicReader("user_status", {**filters, "activeValue": "all"}, page_size, step)


#: entity → its reader, given the step's filters, page size and name
_READERS: Mapping[str, Callable[[Mapping[str, Any], int, str], PagedReader]] = {
    "user": partial(VelpicReader, "user"),
    "user_status": _every_status,
    "user_supervisors": VelpicGroupSupervisorsReader,
    "group": partial(VelpicReader, "group"),
    "lesson": partial(VelpicReader, "lesson"),
    "lesson_schedule": VelpicScheduleReader,
    "certificate": VelpicCertificateReader,
    "ilt_session": VelpicIltSessionReader,
}

#: (entity, mode) → its writer, given the step's match key
_WRITERS: Mapping[tuple[str, str], Callable[[str | None], RequestWriter]] = {
    ("user", "bulk"): bulk_writer,
    ("user", "create"): VelpicUserCreate,
    ("user", "update"): VelpicUserUpdate,
    ("user_status", "update"): lambda _: VelpicUserStatus(),
    ("group", "create"): lambda _: VelpicGroupCreate(),
    ("group", "update"): lambda _: VelpicGroupUpdate(),
    ("group_member", "create"): lambda _: VelpicMemberWriter("group_member"),
    ("group_supervisor", "create"): lambda _: VelpicMemberWriter("group_supervisor"),
    ("lesson_schedule", "create"): lambda _: VelpicScheduleWriter(),
    ("lesson_completion", "create"): lambda _: VelpicCompletionWriter(),
    ("ilt_session", "create"): lambda _: VelpicIltSessionCreate(),
    ("ilt_session", "update"): lambda _: VelpicIltSessionUpdate(),
    ("ilt_registration", "create"): lambda _: VelpicIltRegistrationWriter(),
    ("ilt_attendance", "create"): lambda _: VelpicIltAttendanceWriter(),
}


def make_auth(credentials: Mapping[str, str]) -> VelpicAuth:
    return VelpicAuth(credentials["access_key"])


def make_reader(
    entity: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
) -> PagedReader:
    """The reader of ``entity`` (Velpic lists take no field selection: ``fields`` is not used)."""
    reader = _READERS.get(entity)
    if reader is None:
        raise EngineSupportError(f"the Velpic connector cannot read {entity!r} yet")
    return reader(filters, page_size, step)


def make_writer(entity: str, mode: str, match: str | None) -> RequestWriter:
    writer = _WRITERS.get((entity, mode))
    if writer is None:
        raise EngineSupportError(f"the Velpic connector cannot write {entity!r} in mode {mode!r} yet")
    return writer(match)
