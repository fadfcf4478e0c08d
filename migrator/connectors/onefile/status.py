"""OneFile user status: a user is archived with ``POST /User/{ID}/Archive`` and restored with
``POST /User/{ID}/Unarchive`` (body ``{role, organisationID}``), one user per call.

A record maps ``ID`` (the OneFile user, through the crosswalk of the step that created it), ``Archived``
(true or false), ``Role`` and ``OrganisationID``. What either call answers for a user already in the state
asked for is not documented (a second archive may be accepted or refused), so the writer is not taken as
idempotent: each user is read first with ``GET /User/{ID}`` and one whose ``Archived`` is already the one asked
for is left as it is, never sent again; a call whose answer is lost is checked the same way before it is
resent. A user whose answer carries no ``Archived`` is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from migrator.connectors.base import Request, Response, RowResult, WriteItem
from migrator.connectors.onefile.answers import refused, rejected
from migrator.connectors.onefile.spec import USER_ARCHIVE, USER_GET, USER_UNARCHIVE
from migrator.connectors.onefile.values import normalise, whole

__all__ = ["OneFileUserStatus", "archived_state"]

#: the fields the calls need: the user, the state asked for, and the call's body
_REQUIRED = ("ID", "Archived", "Role", "OrganisationID")


def archived_state(response: Response, user_id: int) -> bool | None:
    """Whether ``GET /User/{ID}`` says the user is archived (``Archived``, any casing); None when the answer
    is not this user's, or does not say."""
    if response.status != 200:
        return None
    body = response.json()
    if not isinstance(body, Mapping):
        return None
    fields = {str(k).casefold(): v for k, v in body.items()}
    if "id" in fields and whole(fields["id"]) != user_id:
        return None
    state = fields.get("archived")
    return state if isinstance(state, bool) else None


class OneFileUserStatus:
    """``Archive`` / ``Unarchive`` of the user at its OneFile ``ID``; a user already in that state is found by
    the read before the write (``lookup_request``) and left unchanged."""

    mode = "update"
    idempotent = False
    max_batch = USER_ARCHIVE.max_batch
    id_field = "ID"
    #: whether OneFile creates a user archived is not documented (``dryrun.CreatedState``)
    created_state: tuple[str, ...] = ("Archived",)

    def __init__(self, match: str | None) -> None:
        self.match_fields: tuple[str, ...] = (match or "ID",)

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        user, problems = normalise({k: v for k, v in item.payload.items() if k != "Archived"})
        archived = item.payload.get("Archived")
        if archived is not None and not isinstance(archived, bool):
            problems["Archived"] = [
                f"Archived must be true or false (map it through a table); got {archived!r}"
            ]
        for name in _REQUIRED:
            if name not in problems and (archived if name == "Archived" else user.get(name)) is None:
                problems[name] = [f"a OneFile status change needs {name}"]
        if problems:
            return rejected(item, problems)
        user["Archived"] = archived
        return WriteItem(item.idem_key, item.source_key, user, str(user["ID"]))

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        out: list[tuple[Request, list[WriteItem]]] = []
        for it in items:
            call = USER_ARCHIVE.endpoint if it.payload["Archived"] else USER_UNARCHIVE
            body = {"role": it.payload["Role"], "organisationID": it.payload["OrganisationID"]}
            path = call.path.replace("{id}", str(it.payload["ID"]))
            out.append((Request("POST", path, call.budget_key, json=body), [it]))
        return out

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        user_id = item.payload["ID"]
        if 200 <= response.status < 300:  # the answer's body is not documented: any success is one
            return [RowResult(item.idem_key, ok=True, target_id=str(user_id), action="updated")]
        if response.status == 404:
            reason = f"OneFile has no user {user_id} (HTTP 404); check the crosswalk of ID"
            return [rejected(item, {"ID": [f"no OneFile user {user_id}"]}, 404, reason)]
        return [refused(item, response, "archive" if item.payload["Archived"] else "unarchive")]

    def lookup_request(self, item: WriteItem) -> Request | None:
        user_id = item.payload.get("ID")
        if user_id is None or str(user_id).strip() == "":
            return None
        return Request("GET", USER_GET.path.replace("{id}", str(user_id).strip()), USER_GET.budget_key)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        """The user's ID when it is already archived (or not) as the record asks: nothing to write."""
        user_id = whole(item.payload.get("ID"))
        wanted: Any = item.payload.get("Archived")
        if user_id is None or not isinstance(wanted, bool):
            return None
        return str(user_id) if archived_state(response, user_id) is wanted else None
