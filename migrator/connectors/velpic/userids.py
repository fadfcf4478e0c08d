"""Writers whose record is one parent (a group, an ILT session) and the users to add to it, posted as
``{"userIds": […]}``. Adding a user twice changes nothing, so a resend is safe. The call answers no id: the
"target id" kept in the crosswalk is ``"<parent id>:<userId,…>"``."""

from __future__ import annotations

from collections.abc import Sequence

from migrator.connectors.base import Request, Response, RowResult, WriteItem
from migrator.connectors.velpic.calls import error_text, rejected, request
from migrator.connectors.velpic.spec import VELPIC

__all__ = ["UserIdsWriter"]


class UserIdsWriter:
    """Posts each record's ``userIds`` to ``entity``'s create endpoint at the parent id ``parent_key``; a
    subclass checks the record (``prepare``)."""

    mode = "create"
    idempotent = True
    match_fields: tuple[str, ...] = ()
    parent_key: str

    def __init__(self, entity: str) -> None:
        write = VELPIC.entities[entity].writes["create"]
        self.endpoint = write.endpoint
        self.max_batch = write.max_batch

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [
            (request(self.endpoint, it.payload[self.parent_key], json={"userIds": it.payload["userIds"]}), [it])
            for it in items
        ]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            users = ",".join(str(u) for u in item.payload["userIds"])
            return [RowResult(item.idem_key, ok=True, target_id=f"{item.payload[self.parent_key]}:{users}")]
        return [rejected(item, {"row": [error_text(response)]}, response.status)]
