"""accessplanit reversal calls for ``migrator undo``: v2 deletes a record with ``DELETE /{module}/{id}``,
permanently; a user takes two (the first sets its ``Status`` to ``Deleted``, the second removes the row). The
document gives both answers no body, so a user is sent DELETEs until the platform answers that it has no such
record (404): a third call confirms it, and a resumed undo that cannot know how many DELETEs reached the
platform sends the next one safely. The v1 API has no DELETE: nothing it created can be removed by a call.
Every call counts against its module path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from migrator.connectors.base import Removal, Removed, Request, Response

__all__ = ["AccessPlanItUndo", "AccessPlanItV1Undo", "make_undo_writer", "make_v1_undo_writer"]

#: DELETEs a user may take: two to remove it, a third answered 404 to confirm it is gone
_USER_DELETES = 3


class AccessPlanItUndo:
    """Deletes what a run created on the v2 API."""

    empty: Any = None

    def removal(self, entity: str) -> Removal | str:
        if entity == "user":
            return Removal("deleted (twice: the first DELETE marks a user Deleted, the second removes it)")
        return Removal("deleted")

    def next_removal(self, entity: str, target_id: str, answers: Sequence[Response]) -> Request | Removed | str:
        call = Request("DELETE", f"/{entity}/{quote(target_id, safe='')}", f"/{entity}")
        if not answers:
            return call
        last = answers[-1]
        if last.status == 404:
            return Removed(already=len(answers) == 1)
        if not 200 <= last.status < 300:
            return f"DELETE {call.path} answered {last.status}: {last.text(200)}"
        if entity != "user":
            return Removed()
        if len(answers) < _USER_DELETES:
            return call
        return f"DELETE {call.path} answered {last.status} {_USER_DELETES} times: the user is still there"


class AccessPlanItV1Undo:
    """The v1 API: no call removes a record."""

    empty: Any = None

    def removal(self, entity: str) -> Removal | str:
        return _no_delete(entity)

    def next_removal(self, entity: str, target_id: str, answers: Sequence[Response]) -> Request | Removed | str:
        return _no_delete(entity)


def _no_delete(entity: str) -> str:
    return f"the accessplanit v1 API has no DELETE: remove the {entity} records it created by hand"


def make_undo_writer() -> AccessPlanItUndo:
    return AccessPlanItUndo()


def make_v1_undo_writer() -> AccessPlanItV1Undo:
    return AccessPlanItV1Undo()
