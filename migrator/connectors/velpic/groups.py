"""Velpic groups and who is in them.

- ``POST /group`` (``VelpicGroupCreate``): create-only; a group in doubt is looked up with ``GET /group?q=``
  in one page of the largest size a list serves, and the listed name compared exactly with the one sent.
- ``POST /group/{groupId}`` (``VelpicGroupUpdate``; POST, not PUT) at the payload's ``id``.
- ``POST /group/{groupId}/add_members`` and ``/add_supervisors`` (``VelpicMemberWriter``): a record maps
  ``groupId`` and ``userIds``.
- ``GET /group/{groupId}/supervisor`` (``VelpicGroupSupervisorsReader``, the entity ``user_supervisors``):
  each user of the user list, with the supervisors of its first group (none for a user in no group). Velpic
  supervises groups, not users: a learner's supervisors are its group's (another platform's "assessor of a
  learner", OneFile's ``DefaultAssessorID``, is one of them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from migrator.connectors.base import Request, Response, RowResult, WriteItem
from migrator.connectors.spec import endpoint
from migrator.connectors.velpic.calls import (
    ONE_PAGE,
    id_list,
    listed,
    more_than_a_page,
    one_written,
    rejected,
    request,
)
from migrator.connectors.velpic.lists import VelpicReader, list_spec
from migrator.connectors.velpic.spec import USER_BY_ID, VELPIC
from migrator.connectors.velpic.userids import UserIdsWriter

__all__ = [
    "VelpicGroupCreate",
    "VelpicGroupSupervisorsReader",
    "VelpicGroupUpdate",
    "VelpicGroupWriter",
    "VelpicMemberWriter",
]

_GROUP = VELPIC.entities["group"]
_CREATE, _UPDATE = _GROUP.writes["create"], _GROUP.writes["update"]
_LIST = list_spec("group").endpoint
#: each user's first group's supervisors ("Get Supervisors", paged with meta like the other lists)
_SUPERVISED = list_spec("user_supervisors")


class VelpicGroupWriter:
    """What the group create and update share: the rules (a name; ``description`` defaults to empty, an empty
    ``parentId`` is left out) and the match field ``name``."""

    match_fields: tuple[str, ...] = ("name",)

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        group = dict(item.payload)
        problems: dict[str, list[str]] = {}
        if not isinstance(group.get("name"), str) or not group["name"].strip():
            problems["name"] = ["name is required"]
        group.setdefault("description", "")
        if group.get("parentId") in ("", None):
            group.pop("parentId", None)
        return rejected(item, problems) if problems else WriteItem(item.idem_key, item.source_key, group)


class VelpicGroupCreate(VelpicGroupWriter):
    """``POST /group``, one group per call; create-only, looked up by name when in doubt."""

    mode = "create"
    max_batch = _CREATE.max_batch
    idempotent = False

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [(request(_CREATE.endpoint, json=it.payload), [it]) for it in items]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        return [one_written(items[0], response, "created")]

    def lookup_request(self, item: WriteItem) -> Request | None:
        name = item.payload.get("name")
        if not name:
            return None
        return request(_LIST, params=(("q", str(name)), *ONE_PAGE))

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        want = item.payload.get("name")
        groups, complete = listed(response)
        for group in groups:
            if group.get("name") == want and group.get("id") is not None:
                return str(group["id"])
        if not complete:
            raise more_than_a_page(
                f"GET /group?q={want!r}",
                "the group in doubt is not on that page, so the step cannot tell whether it was created",
                response,
            )
        return None


class VelpicGroupUpdate(VelpicGroupWriter):
    """``POST /group/{groupId}`` at the payload's ``id``, one group per call."""

    mode = "update"
    max_batch = _UPDATE.max_batch
    idempotent = True
    id_field = "id"

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [(request(_UPDATE.endpoint, it.payload[self.id_field], json=it.payload), [it]) for it in items]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        return [one_written(items[0], response, "updated")]


#: each membership entity's list of who is in a group, read before adding to it
_IN_GROUP = {
    "group_member": endpoint("GET", "/group/{groupId}/member"),
    "group_supervisor": _SUPERVISED.endpoint,
}


class VelpicMemberWriter(UserIdsWriter):
    """``group_member`` (``add_members``) or ``group_supervisor`` (``add_supervisors``): a record maps
    ``groupId`` and ``userIds`` (one id or a list). Each group's members (or supervisors) are read before its
    first add (``GET /group/{groupId}/member``, ``/supervisor``): see ``UserIdsWriter``."""

    parent_key = "groupId"
    user_field = "id"

    def __init__(self, entity: str) -> None:
        super().__init__(entity, _IN_GROUP[entity])

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        group = item.payload.get("groupId")
        raw = item.payload.get("userIds")
        users = raw if isinstance(raw, list) else [raw]
        problems: dict[str, list[str]] = {}
        group_id = None
        if group in (None, ""):
            problems["groupId"] = ["groupId is required (map it through the groups' crosswalk)"]
        elif isinstance(group, bool) or not isinstance(group, int | str) or not str(group).strip().isdigit():
            problems["groupId"] = [f"groupId must be a Velpic group id, got {group!r}"]
        else:
            group_id = int(str(group))
        try:
            ids = [int(u) for u in users if u not in (None, "")]
        except (TypeError, ValueError):
            ids = []
            problems["userIds"] = [f"userIds must be Velpic user ids, got {raw!r}"]
        if not ids and "userIds" not in problems:
            problems["userIds"] = ["userIds is required (map it through the users' crosswalk)"]
        if problems or group_id is None:
            return rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, {"groupId": group_id, "userIds": ids})


class VelpicGroupSupervisorsReader(VelpicReader):
    """``user_supervisors``: pages the users (the user filters: ``roleId``, ``activeValue`` …) and asks the
    supervisors of each user's first group (the first of its ``groups``), in one page of the largest size a
    list serves (a group with more supervisors stops the read, saying so). Each record is the user with
    ``supervisedGroupId`` (that group) and ``groupSupervisorIds``: the ids of its supervisors other than the
    user, ascending, whatever order Velpic answers in (so ``groupSupervisorIds.0`` is always the same one). A
    user in no group has no supervisors: it is asked for itself (``GET /user/{userId}``, the one call that
    yields it as a child) and read with ``groupSupervisorIds`` empty."""

    def __init__(self, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        assert _SUPERVISED.parent is not None
        super().__init__(_SUPERVISED.parent, filters, page_size, step)
        self.key_field = _SUPERVISED.key

    def children(self, parent: Mapping[str, Any]) -> Request | None:
        group = _first_group(parent)
        if group is not None:
            return request(_SUPERVISED.endpoint, group, params=ONE_PAGE)
        user = parent.get("id")
        return None if user in (None, "") else request(USER_BY_ID, user)

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
        group = _first_group(parent)
        if group is None:
            return [{**parent, "supervisedGroupId": None, "groupSupervisorIds": []}]
        rows, complete = listed(response)
        if not complete:
            raise more_than_a_page(
                f"the supervisors of group {group}",
                "the engine reads a group's supervisors in one call",
                response,
            )
        own = id_list(parent.get("id"))
        ids = {i for r in rows for i in id_list(r.get("id")) or ()} - set(own or ())
        return [{**parent, "supervisedGroupId": group, "groupSupervisorIds": sorted(ids)}]


def _first_group(user: Mapping[str, Any]) -> int | None:
    """The id of the first of a user's ``groups`` (``[{"id": 5}, …]`` or bare ids), or None."""
    groups = user.get("groups")
    if not isinstance(groups, list) or not groups:
        return None
    first = groups[0]
    ids = id_list(first.get("id") if isinstance(first, dict) else first)
    return ids[0] if ids else None
