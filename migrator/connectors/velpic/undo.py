"""Velpic reversal calls for ``migrator undo``: the API deletes neither users nor groups, so a created user
leaves the groups it joined and supervises (``POST /group/{groupId}/remove_members``, ``remove_supervisors``)
and is inactivated (``POST /user/{userId}/inactivate``), and a created group is inactivated
(``POST /group/{groupId}/inactivate``). Both stay on the platform, inactive: the undo's plan says so first. A
membership or supervision a run added takes the users it added (those not in the group before the run: its
target id names them) out of the group again, with the same calls. An ILT session the run created is read,
then cancelled (``POST /ilt_session/{id}/cancel_session``, notifying neither trainees nor instructor) unless
it is cancelled already; it stays on the platform, cancelled, with its registrations.

A user's groups are read from ``GET /user/{userId}`` (``groups``, ``groupsSupervised``: ``[{"id"}]``, bare ids
accepted) before it leaves them; a user already Not Current (``clientStatusId`` 57, or ``active`` false: the run
gave it its source's status, or an undo resumed after its inactivate reached the platform) is not inactivated
again, since the document does not say what that answers, and one also in no group counts as removed without
a call. A user or group the platform does not have (404) counts as removed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from migrator.connectors.base import Removal, Removed, Request, Response
from migrator.connectors.spec import Endpoint, endpoint
from migrator.connectors.velpic.calls import error_text, id_list, request
from migrator.connectors.velpic.spec import USER_BY_ID, USER_INACTIVATE
from migrator.connectors.velpic.status import NOT_CURRENT, status_of

__all__ = ["VelpicUndo", "make_undo_writer"]

GROUP_INACTIVATE = endpoint("POST", "/group/{groupId}/inactivate")
GROUP_REMOVE_MEMBERS = endpoint("POST", "/group/{groupId}/remove_members")
GROUP_REMOVE_SUPERVISORS = endpoint("POST", "/group/{groupId}/remove_supervisors")

_LEFT = "Velpic's API deletes no {what}: it stays on the platform, inactive"
SESSION_BY_ID = endpoint("GET", "/ilt_session/{iltSessionId}")
SESSION_CANCEL = endpoint("POST", "/ilt_session/{iltSessionId}/cancel_session")
#: the session's documented ``statusId`` of a cancelled session
_CANCELLED = 3
#: an undo's cancellation notifies nobody (the body's two documented, required switches)
_QUIETLY = {
    "iltSessionCancellationTraineeNotificationEnabled": False,
    "iltSessionCancellationInstructorNotificationEnabled": False,
}
#: a membership entity → the call that takes users out of the group again
_TAKE_OUT = {"group_member": GROUP_REMOVE_MEMBERS, "group_supervisor": GROUP_REMOVE_SUPERVISORS}


class VelpicUndo:
    """Inactivates what a run created (users after they leave their groups; groups)."""

    empty: Any = None

    def removal(self, entity: str) -> Removal | str:
        if entity == "user":
            return Removal("removed from its groups and inactivated", _LEFT.format(what="user"))
        if entity == "group":
            return Removal("inactivated", _LEFT.format(what="group"))
        if entity in _TAKE_OUT:
            return Removal("taken out of the group")
        if entity == "ilt_session":
            return Removal(
                "cancelled, notifying nobody",
                "Velpic's API deletes no ILT session: it stays on the platform, cancelled",
            )
        return f"migrator has no reversal call for Velpic {entity} records: remove them on the platform by hand"

    def next_removal(self, entity: str, target_id: str, answers: Sequence[Response]) -> Request | Removed | str:
        how = self.removal(entity)
        if isinstance(how, str):
            return how
        if entity == "group":
            return _one_call(request(GROUP_INACTIVATE, target_id), answers)
        if entity in _TAKE_OUT:
            return _taken_out(_TAKE_OUT[entity], target_id, answers)
        if entity == "ilt_session":
            return _cancelled(target_id, answers)
        if not target_id.isdigit():
            return f"{target_id!r} is not a Velpic user id (a whole number)"
        user = _read_first(request(USER_BY_ID, target_id), answers)
        if not isinstance(user, dict):
            return user
        groups, supervised = id_list_of(user.get("groups")), id_list_of(user.get("groupsSupervised"))
        calls = [request(GROUP_REMOVE_MEMBERS, gid, json={"userIds": [int(target_id)]}) for gid in groups]
        calls += [
            request(GROUP_REMOVE_SUPERVISORS, gid, json={"userIds": [int(target_id)]}) for gid in supervised
        ]
        if status_of(user) != NOT_CURRENT:  # what a second inactivate answers is not documented: none is sent
            calls.append(request(USER_INACTIVATE, target_id))
        if not calls:
            return Removed(already=True)
        done = len(answers) - 1  # calls answered after the read
        if done:
            last = answers[-1]
            if last.status == 404 and done == len(calls):
                return Removed(already=True)
            if not 200 <= last.status < 300 and last.status != 404:  # 404 on a group: it is gone already
                return f"{calls[done - 1].path} answered {last.status}: {error_text(last)}"
        return calls[done] if done < len(calls) else Removed()


def id_list_of(value: object) -> list[int]:
    """The group ids of a user's ``groups`` or ``groupsSupervised`` (``[{"id": 1}]`` or bare ids)."""
    if not isinstance(value, list):
        return []
    raw = [v.get("id") if isinstance(v, dict) else v for v in value]
    return id_list([v for v in raw if v is not None]) or []


def _taken_out(call: Endpoint, target_id: str, answers: Sequence[Response]) -> Request | Removed | str:
    """The users a membership record added (its target id ``<groupId>:<userId,…>``: only those who were not
    in the group before the run) taken out of the group again; a record that added nobody, or a group gone
    (404), counts as removed."""
    group, _, users = target_id.partition(":")
    ids = id_list(users.split(",")) if users else []
    if not group.isdigit() or ids is None:
        return f"{target_id!r} is not a Velpic group and its user ids (<groupId>:<userId,…>)"
    if not ids:
        return Removed(already=True)
    return _one_call(request(call, group, json={"userIds": ids}), answers)


def _read_first(read: Request, answers: Sequence[Response]) -> dict[str, Any] | Request | Removed | str:
    """The record as the platform holds it, read before any reversal call (the first of ``answers``): the
    read itself while it is not answered, ``Removed`` when the record is gone (404), or why it failed."""
    if not answers:
        return read
    answer = answers[0]
    if answer.status == 404:
        return Removed(already=True)
    if answer.status != 200 or not isinstance(body := answer.json(), dict):
        return f"{read.method} {read.path} answered {answer.status}: {error_text(answer)}"
    return body


def _cancelled(target_id: str, answers: Sequence[Response]) -> Request | Removed | str:
    """A session the run created, read first (``GET /ilt_session/{id}``: one already cancelled, ``statusId``
    3, or gone, counts as removed — what a second cancel answers is not documented), then cancelled without
    notifications."""
    if not target_id.isdigit():
        return f"{target_id!r} is not a Velpic ILT session id (a whole number)"
    session = _read_first(request(SESSION_BY_ID, target_id), answers)
    if not isinstance(session, dict):
        return session
    if id_list(session.get("statusId")) == [_CANCELLED]:
        return Removed(already=True)
    return _one_call(request(SESSION_CANCEL, target_id, json=_QUIETLY), answers[1:])


def _one_call(call: Request, answers: Sequence[Response]) -> Request | Removed | str:
    if not answers:
        return call
    last = answers[-1]
    if last.status == 404:
        return Removed(already=True)
    if 200 <= last.status < 300:
        return Removed()
    return f"{call.method} {call.path} answered {last.status}: {error_text(last)}"


def make_undo_writer() -> VelpicUndo:
    return VelpicUndo()
