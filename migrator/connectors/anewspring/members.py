"""aNewSpring group members: records ``{groupID, user}``, written a batch at a time as one
``addGroupUsers/{groupID}`` per group, with ``user`` repeated and ``ignoreDuplicates=true`` (sending it again
is safe). The call is all-or-nothing: when it fails for several users the write stage halves it and sends each
half again, so only the user at fault is rejected."""

from __future__ import annotations

from collections.abc import Sequence

from migrator.connectors.anewspring.answers import refused
from migrator.connectors.anewspring.calls import external_ids, fill
from migrator.connectors.anewspring.spec import MEMBERS_CREATE
from migrator.connectors.base import Request, Response, RowResult, WriteItem

__all__ = ["ANewSpringGroupMembers"]


class ANewSpringGroupMembers:
    """A batch of ``{groupID, user}`` records → one ``addGroupUsers/{groupID}`` per group of the batch."""

    mode = "create"
    idempotent = True
    max_batch = MEMBERS_CREATE.max_batch
    #: a membership is found by its group and its user
    match_fields: tuple[str, ...] = ("groupID", "user")

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        ids = external_ids(item, self.match_fields)
        if isinstance(ids, RowResult):
            return ids
        return WriteItem(item.idem_key, item.source_key, ids, ids["groupID"])

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        by_group: dict[str, list[WriteItem]] = {}
        for it in items:
            by_group.setdefault(str(it.payload["groupID"]), []).append(it)
        endpoint = MEMBERS_CREATE.endpoint
        out: list[tuple[Request, list[WriteItem]]] = []
        for group_id, members in by_group.items():
            form = (*(("user", str(it.payload["user"])) for it in members), ("ignoreDuplicates", "true"))
            path = fill(endpoint.path, {"groupID": group_id})
            out.append((Request("POST", path, endpoint.budget_key, form=form), members))
        return out

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        if response.status == 200:
            return [
                RowResult(it.idem_key, ok=True, target_id=f"{it.payload['groupID']}/{it.payload['user']}")
                for it in items
            ]
        if len(items) > 1:  # all-or-nothing: the write halves the call until the one at fault is alone
            return [RowResult(it.idem_key, ok=False, action="pending", reason="isolate") for it in items]
        item = items[0]
        hint = ""
        if response.status == 404:
            hint = "the group or the user does not exist"
        elif response.status == 409:
            hint = "the user lacks the role of the group's type"
        return [refused(item, response, "addGroupUsers", hint)]
