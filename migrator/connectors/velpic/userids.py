"""Writers whose record is one parent (a group, an ILT session) and the users to add to it, posted as
``{"userIds": […]}``. Adding a user twice changes nothing, so a resend is safe. The call answers no id and
nothing of who was in the parent already, so each parent's list of users (a group's members or supervisors, a
session's attendees) is read once per step before its first add, page after page of the largest size a list
serves, each next page from the rows answered so far (a server may answer fewer than asked) until the list's
``meta.totalResultCount`` is read: only the users not in it are sent, a record whose every user is in is
``unchanged`` without a call (``settled``), and its "target id" ``"<parent id>:<userId,…>"`` names the users it
added — what an undo takes out again, never anyone who was in before. A parent whose list cannot be read to its
end (a page refused, an empty page before the total, a page of no user not already read — a server that
ignores ``startIndex`` —, or a full page and no total) is not known: its records are sent whole and counted
created. Users a call adds join the parent as the step knows it."""

from __future__ import annotations

from collections.abc import Sequence

from migrator.connectors.base import Request, Response, RowResult, WriteItem
from migrator.connectors.spec import Endpoint
from migrator.connectors.velpic.calls import error_text, id_list, list_total, rejected, request, results
from migrator.connectors.velpic.spec import MAX_PAGE, VELPIC

__all__ = ["UserIdsWriter"]

#: the payload key of a record whose every user the parent already holds (``apply_pre_lookups``)
_HELD = "_held"


class UserIdsWriter:
    """Posts each record's ``userIds`` to ``entity``'s create endpoint at the parent id ``parent_key``, after
    reading who is in the parent (``listing``, a row's user id in ``user_field``); a subclass checks the record
    (``prepare``)."""

    mode = "create"
    idempotent = True
    match_fields: tuple[str, ...] = ()
    parent_key: str
    user_field: str

    def __init__(self, entity: str, listing: Endpoint) -> None:
        write = VELPIC.entities[entity].writes["create"]
        self.endpoint = write.endpoint
        self.max_batch = write.max_batch
        self.listing = listing
        #: parent id → the users in it as read (and added since), None: not known
        self._in: dict[int, set[int] | None] = {}
        #: (parent id, the first record a read serves) → the users of the list's pages read so far and how many
        #: rows they held, while it is read: batches written at once may each read the same parent
        self._reading: dict[tuple[int, str], tuple[set[int], int]] = {}

    def pre_lookups(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        """One list per parent of ``items`` not read yet in this step (a parent id 0, which no Velpic record
        has — a dry run's stand-in for one it would create —, holds nobody: not read)."""
        by_parent: dict[int, list[WriteItem]] = {}
        for it in items:
            parent = int(it.payload[self.parent_key])
            if parent != 0 and parent not in self._in:
                by_parent.setdefault(parent, []).append(it)
        return [(self._page(parent, 0), its) for parent, its in by_parent.items()]

    def next_lookups(
        self, answers: Sequence[tuple[Response, list[WriteItem]]]
    ) -> list[tuple[Request, list[WriteItem]]]:
        """Learns each parent's page; the next page of each parent whose list holds more than its pages read so
        far. A parent read to its end is known from then on; one that cannot be is not known."""
        more: list[tuple[Request, list[WriteItem]]] = []
        for response, its in answers:
            parent = int(its[0].payload[self.parent_key])
            read = (parent, its[0].idem_key)
            users, count = self._reading.pop(read, (set(), 0))
            rows = results(response)
            page = {i for r in rows for i in id_list(r.get(self.user_field)) or ()}
            total = list_total(response)
            if response.status != 200 or (count and not page - users):
                self._learn(parent, None)
                continue
            users |= page
            count += len(rows)
            if total is None:
                self._learn(parent, users if count == len(rows) < MAX_PAGE else None)
            elif count >= total:
                self._learn(parent, users)
            elif not rows:
                self._learn(parent, None)
            else:
                self._reading[read] = (users, count)
                more.append((self._page(parent, count), its))
        return more

    def _learn(self, parent: int, users: set[int] | None) -> None:
        """A read of ``parent``'s list ended, read to its end (``users``) or not (None). A parent read whole by
        any read is known from then on, with what every whole read of it found and what the step added since."""
        known = self._in.get(parent)
        if users is None:
            self._in.setdefault(parent, None)
        elif known is None:
            self._in[parent] = users
        else:
            known |= users

    def apply_pre_lookups(
        self, items: Sequence[WriteItem], answers: Sequence[tuple[Response, list[WriteItem]]]
    ) -> list[WriteItem | RowResult]:
        """Each record with only the users its parent does not hold (or, all held, marked so), its parent as
        ``next_lookups`` learned it from every page of ``answers``."""
        out: list[WriteItem | RowResult] = []
        for it in items:
            parent = int(it.payload[self.parent_key])
            held = self._in.get(parent) if parent != 0 else set()
            if held is None:
                out.append(it)
                continue
            missing = [u for u in it.payload["userIds"] if u not in held]
            payload = {**it.payload, "userIds": missing} if missing else {**it.payload, _HELD: True}
            out.append(WriteItem(it.idem_key, it.source_key, payload, it.match_value))
        return out

    def settled(self, item: WriteItem) -> RowResult | None:
        """A record whose every user its parent holds: unchanged, at the parent and those users."""
        if not item.payload.get(_HELD):
            return None
        return RowResult(item.idem_key, ok=True, target_id=self._target(item), action="unchanged")

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [
            (request(self.endpoint, it.payload[self.parent_key], json={"userIds": it.payload["userIds"]}), [it])
            for it in items
        ]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            held = self._in.get(int(item.payload[self.parent_key]))
            if held is not None:
                held.update(item.payload["userIds"])
            return [RowResult(item.idem_key, ok=True, target_id=self._target(item))]
        return [rejected(item, {"row": [error_text(response)]}, response.status)]

    def _page(self, parent: int, start: int) -> Request:
        """The page of ``parent``'s list from row ``start``, of the largest size a list serves."""
        return request(self.listing, parent, params=(("startIndex", str(start)), ("maxResults", str(MAX_PAGE))))

    def _target(self, item: WriteItem) -> str:
        users = ",".join(str(u) for u in item.payload["userIds"])
        return f"{item.payload[self.parent_key]}:{users}"
