"""aNewSpring groups (write only: there is no getGroups call), addressed by the external ``groupID`` in the
path: ``addGroup/{groupID}`` (create: ``type``, ``name``, ``parent?``; 409 = the group exists = done; in doubt,
``groupExists`` is asked first) and ``updateGroup/{groupID}`` (``name?``, ``parent?``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from migrator.connectors.anewspring.answers import exists, refused, rejected
from migrator.connectors.anewspring.calls import command, external_ids, path_params, query
from migrator.connectors.anewspring.spec import GROUP_CREATE, GROUP_EXISTS, GROUP_UPDATE
from migrator.connectors.base import Action, Request, Response, RowResult, WriteItem
from migrator.connectors.spec import WriteSpec

__all__ = ["GROUP_TYPES", "ANewSpringGroupCreate", "ANewSpringGroupUpdate"]

GROUP_TYPES = ("student", "teacher", "mentor")


class _GroupWriter:
    """One group per call to ``write``'s endpoint, addressed by the external ID in its path (``group_field``:
    ``groupID``, the one match field)."""

    idempotent = True
    action: Action = "updated"
    #: a 409 means the group is there already: done, with that ID
    done_on_conflict = False

    def __init__(self, write: WriteSpec) -> None:
        self.write = write
        self.max_batch = write.max_batch
        (self.group_field,) = path_params(write.endpoint.path)
        self.match_fields: tuple[str, ...] = (self.group_field,)
        self.call = write.endpoint.path.split("/")[1]

    def _rejection(self, item: WriteItem, group: dict[str, Any]) -> RowResult | None:
        """What the target would refuse in ``group``: a group cannot be its own parent."""
        group_id = group[self.group_field]
        if "parent" in group and str(group["parent"]) == group_id:
            return rejected(item, "parent", f"group {group_id!r} cannot be its own parent")
        return None

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        ids = external_ids(item, self.match_fields)
        if isinstance(ids, RowResult):
            return ids
        group = {k: v for k, v in item.payload.items() if v is not None and v != ""}
        group.update(ids)
        refusal = self._rejection(item, group)
        if refusal is not None:
            return refusal
        return WriteItem(item.idem_key, item.source_key, group, ids[self.group_field])

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [(command(self.write.endpoint, it.payload), [it]) for it in items]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        group_id = str(item.payload[self.group_field])
        if response.status == 200:
            return [RowResult(item.idem_key, ok=True, target_id=group_id, action=self.action)]
        if response.status == 409 and self.done_on_conflict:
            return [RowResult(item.idem_key, ok=True, target_id=group_id, action="unchanged")]
        hint = "the group or its parent does not exist" if response.status == 404 else ""
        return [refused(item, response, self.call, hint)]


class ANewSpringGroupCreate(_GroupWriter):
    """``addGroup/{groupID}`` with ``type`` (student/teacher/mentor), ``name`` and ``parent?``."""

    mode = "create"
    idempotent = False
    action: Action = "created"
    done_on_conflict = True

    def __init__(self) -> None:
        super().__init__(GROUP_CREATE)

    def _rejection(self, item: WriteItem, group: dict[str, Any]) -> RowResult | None:
        if group.get("type") not in GROUP_TYPES:
            return rejected(
                item, "type", f"type must be one of {', '.join(GROUP_TYPES)}; got {group.get('type')!r}"
            )
        name = group.get("name")
        if not isinstance(name, str) or not name.strip():
            return rejected(item, "name", "a group needs a name")
        return super()._rejection(item, group)

    def lookup_request(self, item: WriteItem) -> Request | None:
        if item.payload.get(self.group_field) in (None, ""):
            return None
        return query(GROUP_EXISTS, item.payload)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        """The group's external ID when ``groupExists`` says it is there (the call is exact)."""
        return str(item.payload[self.group_field]) if exists(response) else None


class ANewSpringGroupUpdate(_GroupWriter):
    """``updateGroup/{groupID}`` with ``name?`` and ``parent?``; ``id_field`` is the path's ``groupID``."""

    mode = "update"

    def __init__(self) -> None:
        super().__init__(GROUP_UPDATE)
        self.id_field = self.group_field
