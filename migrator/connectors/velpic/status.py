"""Velpic user status: ``POST /user/{userId}/activate`` and ``POST /user/{userId}/inactivate``, one user per
call, at the target id the record carries (``id``, through the crosswalk of the step that wrote the users).

The record says the wanted ``clientStatusId``: 56 Active or 57 Not Current. The calls answer no documented
body, and the document does not say what a second activate of an active user answers, so a resend is not
assumed safe: the writer is not idempotent, and the engine settles it like a create, by the target's own state.
Its match fields are the id *and* the status, so the target index the engine reads once per step (every user,
``activeValue=all``, ``user_status``'s read) holds ``id + status`` for each user: a user whose status on the
target already equals the wanted one is found there and costs no call, on the first run (whatever status
the import gave the users it created), on a re-run and after a lost answer. When the index cannot be read, a
record is looked up with ``GET /user/{userId}`` before it is sent again. Which status the import gives a user
it creates is not documented (the sandbox plays both: ``velpic.created_status``): a preview
(``migrator.runtime.dryrun``) counts the status writes of the users the import would create apart, by the
status each wants (``created_state``), and guesses neither. A record's match value is its user id and
the status it sends: a status is sent only to a user in the other one, so ``migrator undo`` knows the status to
put back (``state_before``).

Whether ``bulkUserImport`` makes an inactive user it merges into active again is not documented (the sandbox
plays both: ``velpic.bulk_merge_status``). Either way the index is read after the import, so a leaver the
import reactivated is inactivated again and one it left inactive costs no call. A ``--delta`` run skips a
record whose mapped fields did not change: the plans map ``imported`` (never sent: the source's last change,
or the fields the users step imports), so a user the users step imports again is set again too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from migrator.connectors.base import Request, Response, RowResult, WriteItem
from migrator.connectors.velpic.calls import error_text, id_list, rejected, request
from migrator.connectors.velpic.spec import USER_BY_ID, USER_INACTIVATE, VELPIC

__all__ = ["ACTIVE", "NOT_CURRENT", "VelpicUserStatus", "status_of"]

#: ``clientStatusId``: "a trainee who is currently in the organisation"
ACTIVE = 56
#: ``clientStatusId``: "not currently active in the organisation" (learning records kept)
NOT_CURRENT = 57

_WRITE = VELPIC.entities["user_status"].writes["update"]
_CALLS = {ACTIVE: _WRITE.endpoint, NOT_CURRENT: USER_INACTIVATE}
_OTHER = {ACTIVE: NOT_CURRENT, NOT_CURRENT: ACTIVE}
#: between the user id and the status in a record's match value
_JOIN = "\x1f"


def status_of(user: Mapping[str, Any]) -> int | None:
    """A Velpic user's status: its ``clientStatusId``, else its boolean ``active`` (the getting-started example
    carries both); None when it shows neither."""
    status = user.get("clientStatusId")
    if status in _CALLS and not isinstance(status, bool):
        return int(status)
    active = user.get("active")
    if isinstance(active, bool):
        return ACTIVE if active else NOT_CURRENT
    return None


class VelpicUserStatus:
    """Activates or inactivates the user at the record's ``id`` so that its ``clientStatusId`` is the
    record's."""

    mode = "update"
    max_batch = _WRITE.max_batch
    idempotent = False
    id_field = "id"
    match_fields: tuple[str, ...] = ("id", "clientStatusId")
    #: the status ``bulkUserImport`` gives a user it creates is not documented (``dryrun.CreatedState``)
    created_state: tuple[str, ...] = ("clientStatusId",)

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        payload = item.payload
        problems: dict[str, list[str]] = {}
        ids = id_list(payload.get("id")) if payload.get("id") not in (None, "") else None
        if ids is None or len(ids) != 1:
            problems["id"] = [
                f"the target user id is required (map id through the users step's crosswalk), got "
                f"{payload.get('id')!r}"
            ]
        wanted = id_list(payload.get("clientStatusId")) if payload.get("clientStatusId") is not None else None
        if wanted is None or len(wanted) != 1 or wanted[0] not in _CALLS:
            problems["clientStatusId"] = [
                f"clientStatusId must be 56 (Active) or 57 (Not Current), got {payload.get('clientStatusId')!r}"
            ]
        if problems or ids is None or wanted is None:
            return rejected(item, problems)
        user = {"id": ids[0], "clientStatusId": wanted[0]}
        return WriteItem(item.idem_key, item.source_key, user, f"{ids[0]}{_JOIN}{wanted[0]}")

    def state_before(self, match_value: str) -> dict[str, Any] | None:
        """The status a user held before a write of ``match_value`` (``<id>`` and the status sent, joined):
        the other one, since a status is sent only to a user not in it (``StateWriter``)."""
        user, join, status = match_value.partition(_JOIN)
        if not (user and join and status.isdigit()) or int(status) not in _OTHER:
            return None
        return {"clientStatusId": _OTHER[int(status)]}

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [(request(_CALLS[it.payload["clientStatusId"]], it.payload["id"]), [it]) for it in items]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            return [RowResult(item.idem_key, ok=True, target_id=str(item.payload["id"]), action="updated")]
        return [rejected(item, {"clientStatusId": [error_text(response)]}, response.status)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        user_id = item.payload.get("id")
        return None if user_id in (None, "") else request(USER_BY_ID, user_id)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        """The user's id when the target already shows the wanted status; None otherwise (it is sent)."""
        if response.status != 200:
            return None
        user = response.json()
        if not isinstance(user, dict) or status_of(user) != item.payload.get("clientStatusId"):
            return None
        return str(item.payload["id"])
