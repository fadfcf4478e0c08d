"""What a Velpic ``bulkUserImport`` merge may drop of a user's groups, and the calls that put them back. Pure.

The import's documented row ("Bulk Create User", UserBasic) has no ``groups`` nor ``groupsSupervised``; its
answer's example carries both. What a merge does to the memberships and supervised groups a row leaves out is
not said, and the target customer's own, made before the migration, are not the plan's to drop. So the groups
a merged user was in before (the step's read of the target's users) are compared with those the import's
answer gives it, and what it lost is added back with ``POST /group/{groupId}/add_members`` and
``/add_supervisors`` (adding a user twice changes nothing: safe to send again). An answer that does not carry
a user's groups at all says nothing of them: all it was in are added back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from migrator.connectors.base import Request, Response, WriteItem
from migrator.connectors.velpic.calls import request
from migrator.connectors.velpic.spec import VELPIC

__all__ = ["KEPT", "answered_groups", "restore_requests"]

#: a user's memberships: the user field → the entity whose create endpoint adds a user to a group of it
_ADDS = {"groups": "group_member", "groupsSupervised": "group_supervisor"}
#: the fields the step reads of the target's users to know what a merge may drop
KEPT = tuple(_ADDS)
#: user ids sent in one add call (the document gives no maximum; the import's own batch)
_CHUNK = 500


class _Ref(msgspec.Struct):
    id: int | str


class _Answered(msgspec.Struct):
    """An answered user: the fields a merge matches on, and its groups (None: the answer has no such field)."""

    id: int | str
    emailAddress: str | None = None
    employeeNumber: str | int | None = None
    userName: str | None = None
    groups: list[_Ref] | None = None
    groupsSupervised: list[_Ref] | None = None


_ANSWERED = msgspec.json.Decoder(list[_Answered])


def _ids(refs: Any) -> list[int]:
    """``[{"id": 5}]`` or ``[5]`` → ``[5]`` (references that are not whole numbers are left out)."""
    out: list[int] = []
    for ref in refs if isinstance(refs, list) else ():
        raw = ref.get("id") if isinstance(ref, Mapping) else getattr(ref, "id", ref)
        if raw is None or isinstance(raw, bool):
            continue
        try:
            out.append(int(raw))
        except (TypeError, ValueError):
            continue
    return out


def answered_groups(
    response: Response, items: Sequence[WriteItem], merge_field: str
) -> dict[str, dict[str, list[int]] | None]:
    """Each record's groups as the import answered its user, matched by the merge field exactly as sent (one
    answered user with the record's value; a one-record call's one user), by idempotency key; None for a user
    whose answer carries no groups field. A record not matched back is left out."""
    try:
        users = _ANSWERED.decode(response.body)
    except msgspec.DecodeError:
        return {}
    if len(items) == 1 and len(users) == 1:
        pairs = [(items[0], users[0])]
    else:
        by_value: dict[str, list[_Answered]] = {}
        for user in users:
            value = getattr(user, merge_field)
            if value is not None and value != "":
                by_value.setdefault(str(value), []).append(user)
        pairs = []
        for it in items:
            value = it.payload.get(merge_field)
            found = by_value.get(str(value), []) if value is not None else []
            if len(found) == 1:
                pairs.append((it, found[0]))
    out: dict[str, dict[str, list[int]] | None] = {}
    for it, user in pairs:
        if user.groups is None and user.groupsSupervised is None:
            out[it.idem_key] = None
        else:
            answered = {"groups": user.groups, "groupsSupervised": user.groupsSupervised}
            out[it.idem_key] = {f: _ids(refs) for f, refs in answered.items() if refs is not None}
    return out


def restore_requests(users: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any] | None]]) -> list[Request]:
    """The add calls that put back, for each ``(user id, groups before, groups after)`` (each a user's
    ``groups`` and ``groupsSupervised``, references or ids), the groups before that after lacks (after None, or
    a field after lacks: every group before), one call per group and kind."""
    missing: dict[tuple[str, int], list[int]] = {}
    for user_id, before, after in users:
        try:
            uid = int(user_id)
        except ValueError:
            continue
        for field in KEPT:
            kept = set() if after is None or field not in after else set(_ids(after[field]))
            for gid in _ids(before.get(field)):
                if gid not in kept:
                    missing.setdefault((field, gid), []).append(uid)
    calls: list[Request] = []
    for (field, gid), uids in sorted(missing.items()):
        endpoint = VELPIC.entities[_ADDS[field]].writes["create"].endpoint
        ids = sorted(set(uids))
        for start in range(0, len(ids), _CHUNK):
            calls.append(request(endpoint, gid, json={"userIds": ids[start : start + _CHUNK]}))
    return calls
