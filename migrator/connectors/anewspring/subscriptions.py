"""aNewSpring subscriptions: read with ``getSubscriptions/{userID}`` per user (a nested read), created with
``subscribe/{userID}/{courseID}`` (``startDate`` and ``expiryDate`` optional, yyyy-MM-dd; 409 = already
subscribed = done).
Create-only, since a subscription uses a licence: in doubt, ``isSubscribed`` is asked first."""

from __future__ import annotations

from collections.abc import Sequence

from migrator.connectors.anewspring.answers import exists, refused
from migrator.connectors.anewspring.calls import command, external_ids, path_params, query
from migrator.connectors.anewspring.spec import IS_SUBSCRIBED, SUBSCRIPTION_CREATE, SUBSCRIPTION_READ
from migrator.connectors.anewspring.user_courses import ANewSpringUserCourses
from migrator.connectors.base import Request, Response, RowResult, WriteItem

__all__ = ["ANewSpringSubscriptionWriter", "ANewSpringSubscriptions"]


class ANewSpringSubscriptions(ANewSpringUserCourses):
    """``getSubscriptions/{userID}`` per user: one record per course the user is subscribed to (``startDate``,
    ``startDateTime``, ``active``, ``finished``, …), keyed ``<user uid>|<course id or uid>``."""

    def __init__(self, page_size: int, step: str) -> None:
        super().__init__(SUBSCRIPTION_READ, page_size, step)


class ANewSpringSubscriptionWriter:
    """``subscribe/{userID}/{courseID}``, one subscription per call; ``match_fields``: the user and the course,
    which find a subscription."""

    mode = "create"
    idempotent = False
    max_batch = SUBSCRIPTION_CREATE.max_batch
    match_fields = path_params(SUBSCRIPTION_CREATE.endpoint.path)

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        ids = external_ids(item, self.match_fields)
        if isinstance(ids, RowResult):
            return ids
        payload = {k: v for k, v in item.payload.items() if v is not None and v != ""}
        payload.update(ids)
        return WriteItem(item.idem_key, item.source_key, payload, ids["courseID"])

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [(command(SUBSCRIPTION_CREATE.endpoint, it.payload), [it]) for it in items]

    @staticmethod
    def _target(item: WriteItem) -> str:
        return f"{item.payload['userID']}/{item.payload['courseID']}"

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            return [RowResult(item.idem_key, ok=True, target_id=self._target(item), action="created")]
        if response.status == 409:
            return [RowResult(item.idem_key, ok=True, target_id=self._target(item), action="unchanged")]
        hint = "the user or the course does not exist" if response.status == 404 else ""
        return [refused(item, response, "subscribe", hint)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        if any(item.payload.get(f) in (None, "") for f in self.match_fields):
            return None
        return query(IS_SUBSCRIBED, item.payload)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        """The subscription's target id when ``isSubscribed`` says it is there (the call is exact)."""
        return self._target(item) if exists(response) else None
