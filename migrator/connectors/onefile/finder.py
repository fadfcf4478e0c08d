"""Finding OneFile classrooms and placements: the API cannot create or change classrooms, so ``update`` on a
classroom (or placement) FINDS the existing record of ``OrganisationID`` whose ``Name`` (or ``MISID``) equals
the mapped one (trimmed, case-insensitive) and answers its ID as the target id. The step's crosswalk then maps
source records (e.g. Velpic groups) to OneFile IDs. Nothing is written; a record that is not there is a dead
letter."""

from __future__ import annotations

from collections.abc import Sequence

from migrator.connectors.base import Request, Response, RowResult, WriteItem
from migrator.connectors.onefile.answers import refused, rejected, rows
from migrator.connectors.onefile.values import normalise, same
from migrator.connectors.spec import ReadSpec, WriteSpec

__all__ = ["OneFileReferenceFinder"]


class OneFileReferenceFinder:
    """``update`` of a classroom or placement: one search of the organisation's records per record, answered
    ``unchanged`` with the ID of the one whose ``match`` (default ``Name``) is the mapped value. ``id_field``
    is where an update's target id goes (``ID``); the finder needs none, it finds it."""

    mode = "update"
    idempotent = True
    #: its calls are searches (``dryrun.ReadingWriter``: a preview sends them too)
    reads_only = True

    def __init__(self, entity: str, read: ReadSpec, find: WriteSpec, match: str | None) -> None:
        self.entity = entity
        self.endpoint = find.endpoint
        self.max_batch = find.max_batch
        self.id_field = read.key
        self.match = match or "Name"
        self.match_fields: tuple[str, ...] = (self.match,)

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        found, problems = normalise(item.payload)
        if "OrganisationID" not in found and "OrganisationID" not in problems:
            problems["OrganisationID"] = [f"finding a OneFile {self.entity} needs its OrganisationID"]
        if self.match not in found:
            problems[self.match] = [f"{self.match} is the match key of this step and must not be empty"]
        if problems:
            return rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, found, str(found[self.match]))

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        path, budget_key = self.endpoint.path, self.endpoint.budget_key
        return [
            (Request("POST", path, budget_key, json={"OrganisationID": it.payload["OrganisationID"]}), [it])
            for it in items
        ]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status not in (200, 204):
            return [refused(item, response, f"{self.entity} search")]
        found = [r for r in rows(response) if same(r.get(self.match), item.match_value)]
        if len(found) == 1 and found[0].get(self.id_field) is not None:
            return [
                RowResult(item.idem_key, ok=True, target_id=str(found[0][self.id_field]), action="unchanged")
            ]
        where = f"organisation {item.payload['OrganisationID']}"
        if not found:
            reason = (
                f"OneFile has no {self.entity} with {self.match} {item.match_value!r} in {where}; the API "
                f"cannot create {self.entity}s: create it in OneFile (or correct the {self.match}), then "
                "run again"
            )
        else:
            ids = ", ".join(str(r.get(self.id_field)) for r in found)
            reason = (
                f"{len(found)} OneFile {self.entity}s have {self.match} {item.match_value!r} in {where} "
                f"(IDs {ids}); make it unique, or match on another field"
            )
        return [rejected(item, {self.match: [reason]}, response.status, reason)]
