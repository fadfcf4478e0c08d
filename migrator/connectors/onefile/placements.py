"""OneFile placements, created with ``POST /Placement`` (→ the new ID as a bare integer). A create in doubt is
looked up among the organisation's placements (``POST /Placement/Search`` answers them all) by its match key,
compared trimmed and case-insensitively."""

from __future__ import annotations

from collections.abc import Sequence

from migrator.connectors.base import Request, Response, RowResult, WriteItem
from migrator.connectors.onefile.answers import bare_id, refused, rejected, rows
from migrator.connectors.onefile.spec import PLACEMENT_CREATE, PLACEMENT_READ
from migrator.connectors.onefile.values import normalise, same

__all__ = ["OneFilePlacementCreate"]


class OneFilePlacementCreate:
    """``POST /Placement`` (create) → the new ID; ``match`` (default ``Name``) finds it when in doubt."""

    mode = "create"
    idempotent = False
    max_batch = PLACEMENT_CREATE.max_batch

    def __init__(self, match: str | None) -> None:
        self.match = match or "Name"
        self.match_fields: tuple[str, ...] = (self.match,)

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        placement, problems = normalise(item.payload)
        for name in ("OrganisationID", "Name"):
            if name not in placement and name not in problems:
                problems[name] = [f"a OneFile placement needs {name}"]
        if problems:
            return rejected(item, problems)
        value = placement.get(self.match)
        return WriteItem(item.idem_key, item.source_key, placement, None if value is None else str(value))

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        endpoint = PLACEMENT_CREATE.endpoint
        return [(Request("POST", endpoint.path, endpoint.budget_key, json=it.payload), [it]) for it in items]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status in (200, 201):
            return [RowResult(item.idem_key, ok=True, target_id=bare_id(response), action="created")]
        return [refused(item, response, "placement")]

    def lookup_request(self, item: WriteItem) -> Request | None:
        if item.payload.get(self.match) is None:
            return None
        body = {k: item.payload[k] for k in ("OrganisationID",) if k in item.payload}
        endpoint = PLACEMENT_READ.endpoint
        return Request("POST", endpoint.path, endpoint.budget_key, json=body)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        """The one placement of the organisation whose match value is the one sent."""
        if response.status != 200:
            return None
        sent = item.payload.get(self.match)
        found = [r for r in rows(response) if same(r.get(self.match), sent)]
        return str(found[0][PLACEMENT_READ.key]) if len(found) == 1 else None
