"""aNewSpring reversal calls for ``migrator undo``, each a form POST at the record's external IDs:
``deleteUser/{userID}`` (the user goes with its memberships and subscriptions), ``deleteGroup/{groupID}``
(without ``force``: a group that still has users or subgroups the run did not add is refused, 409, and left
alone), ``deleteGroupUsers/{groupID}`` with the ``user`` and ``ignoreMissing=true`` (a membership), and
``unsubscribe/{userID}/{courseID}`` (a subscription). A record the platform does not have (404) counts as
removed, so every call is safe to send again. A membership's target id is ``<groupID>/<userID>`` and a
subscription's ``<userID>/<courseID>``, as their writers record them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from migrator.connectors.anewspring.calls import fill
from migrator.connectors.base import Removal, Removed, Request, Response
from migrator.connectors.spec import endpoint

__all__ = ["ANewSpringUndo", "make_undo_writer"]

USER_DELETE = endpoint("POST", "/deleteUser/{userID}")
GROUP_DELETE = endpoint("POST", "/deleteGroup/{groupID}")
MEMBERS_DELETE = endpoint("POST", "/deleteGroupUsers/{groupID}")
UNSUBSCRIBE = endpoint("POST", "/unsubscribe/{userID}/{courseID}")

_REMOVALS = {
    "user": Removal("deleted, with its memberships and subscriptions"),
    "group": Removal("deleted (refused while users or subgroups the run did not add are in it)"),
    "group_member": Removal("removed from the group"),
    "subscription": Removal("unsubscribed"),
}


class ANewSpringUndo:
    """Deletes users and groups, removes memberships and subscriptions that a run created."""

    empty: Any = ""

    def removal(self, entity: str) -> Removal | str:
        return _REMOVALS.get(entity) or (
            f"migrator has no reversal call for aNewSpring {entity} records: remove them on the platform "
            "by hand"
        )

    def next_removal(self, entity: str, target_id: str, answers: Sequence[Response]) -> Request | Removed | str:
        call = self._call(entity, target_id)
        if isinstance(call, str):
            return call
        if not answers:
            return call
        last = answers[-1]
        if last.status == 404:
            return Removed(already=True)
        if 200 <= last.status < 300:
            return Removed()
        return f"{call.path} answered {last.status}: {last.text(200)}"

    def _call(self, entity: str, target_id: str) -> Request | str:
        if entity == "user":
            return _post(USER_DELETE.path, USER_DELETE.budget_key, {"userID": target_id})
        if entity == "group":
            return _post(GROUP_DELETE.path, GROUP_DELETE.budget_key, {"groupID": target_id})
        first, slash, second = target_id.partition("/")
        if not (first and slash and second):
            return f"{target_id!r} is not an aNewSpring {entity} id (two IDs joined by '/')"
        if entity == "group_member":
            request = _post(MEMBERS_DELETE.path, MEMBERS_DELETE.budget_key, {"groupID": first})
            return Request(
                "POST", request.path, request.endpoint, form=(("user", second), ("ignoreMissing", "true"))
            )
        if entity == "subscription":
            return _post(UNSUBSCRIBE.path, UNSUBSCRIBE.budget_key, {"userID": first, "courseID": second})
        how = self.removal(entity)
        return how if isinstance(how, str) else f"no reversal call for aNewSpring {entity}"


def _post(path: str, budget_key: str, ids: dict[str, str]) -> Request:
    return Request("POST", fill(path, ids), budget_key, form=())


def make_undo_writer() -> ANewSpringUndo:
    return ANewSpringUndo()
