"""OneFile for ``migrator undo``: its API document gives no call that deletes or archives a record (client
code shows ``DELETE /User/{id}`` and ``POST /User/{id}/Archive``, which the document does not), so nothing a
run created on OneFile is removed by a call: the undo lists those records first, for a person to archive or
remove in OneFile. Updates are restored like any platform's (the step's own writer)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from migrator.connectors.base import Removal, Removed, Request, Response

__all__ = ["OneFileUndo", "make_undo_writer"]


class OneFileUndo:
    """No reversal call: every created record is a line of what cannot be undone."""

    empty: Any = None

    def removal(self, entity: str) -> Removal | str:
        return _undocumented(entity)

    def next_removal(self, entity: str, target_id: str, answers: Sequence[Response]) -> Request | Removed | str:
        return _undocumented(entity)


def _undocumented(entity: str) -> str:
    return (
        f"OneFile's API document has no call that deletes or archives a {entity}: archive or remove the "
        "records the run created in OneFile by hand"
    )


def make_undo_writer() -> OneFileUndo:
    return OneFileUndo()
