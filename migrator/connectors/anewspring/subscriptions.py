"""aNewSpring subscriptions: read with ``getSubscriptions/{userID}`` per user (a nested read), created with
``subscribe/{userID}/{courseID}`` (409 = already subscribed = done).
Create-only, since a subscription uses a licence: in doubt, ``isSubscribed`` is asked first.

The start and expiry dates: the document names "the start and expiry date" of a subscription, neither the
parameters nor their form. They are sent as ``startDate`` and ``expiryDate``, as mapped (yyyy-MM-dd). A 400
that names one of them (nothing is subscribed) sends that record again with its dates as a date and time
(``yyyy-MM-ddT00:00:00``, the form of the ``startDateTime`` that ``getSubscriptions`` lists); the first form
the platform takes (a 200) is the one every later record is sent in, and once a bare date was taken such a 400
rejects the record (an expiry before the start, say). The sandbox plays both forms
(``anewspring.subscribe_dates``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from migrator.connectors.anewspring.answers import exists, reason, refused
from migrator.connectors.anewspring.calls import command, external_ids, path_params, query
from migrator.connectors.anewspring.spec import IS_SUBSCRIBED, SUBSCRIPTION_CREATE, SUBSCRIPTION_READ
from migrator.connectors.anewspring.user_courses import ANewSpringUserCourses
from migrator.connectors.base import Request, Response, RowResult, WriteItem

__all__ = ["DATE_PARAMETERS", "ANewSpringSubscriptionWriter", "ANewSpringSubscriptions", "with_time"]

#: the subscription's date parameters
DATE_PARAMETERS = ("startDate", "expiryDate")
_BARE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _bare(value: Any) -> bool:
    """Whether ``value`` is a bare date (``2024-03-01``)."""
    return isinstance(value, str) and _BARE_DATE.match(value) is not None


def _dated(payload: Mapping[str, Any]) -> bool:
    """Whether ``payload`` carries a bare date in one of ``DATE_PARAMETERS``."""
    return any(_bare(payload.get(n)) for n in DATE_PARAMETERS)


def with_time(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` with each bare date of ``DATE_PARAMETERS`` as the start of that day (``T00:00:00``)."""
    out = dict(payload)
    for name in DATE_PARAMETERS:
        value = out.get(name)
        if _bare(value):
            out[name] = f"{value}T00:00:00"
    return out


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

    def __init__(self) -> None:
        #: the form the platform takes the dates in, once an answer has shown it: True a date and time, False a
        #: bare date, None not known yet
        self.timed: bool | None = None
        self._retry: set[str] = set()  # records whose bare dates were refused: sent again with a time
        self._sent_timed: set[str] = set()  # records whose last call carried timed dates

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        ids = external_ids(item, self.match_fields)
        if isinstance(ids, RowResult):
            return ids
        payload = {k: v for k, v in item.payload.items() if v is not None and v != ""}
        payload.update(ids)
        return WriteItem(item.idem_key, item.source_key, payload, ids["courseID"])

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        calls: list[tuple[Request, list[WriteItem]]] = []
        for it in items:
            timed = (self.timed is True or it.idem_key in self._retry) and _dated(it.payload)
            if timed:
                self._sent_timed.add(it.idem_key)
            else:
                self._sent_timed.discard(it.idem_key)
            payload = with_time(it.payload) if timed else it.payload
            calls.append((command(SUBSCRIPTION_CREATE.endpoint, payload), [it]))
        return calls

    def _learn(self, item: WriteItem, timed: bool) -> None:
        """A call that carried ``item``'s dates was taken: their form is the platform's."""
        if self.timed is None and _dated(item.payload):
            self.timed = timed
        self._retry.discard(item.idem_key)

    @staticmethod
    def _target(item: WriteItem) -> str:
        return f"{item.payload['userID']}/{item.payload['courseID']}"

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        timed = item.idem_key in self._sent_timed
        self._sent_timed.discard(item.idem_key)
        if response.status == 200:
            self._learn(item, timed)
            return [RowResult(item.idem_key, ok=True, target_id=self._target(item), action="created")]
        if response.status == 409:  # already subscribed (which says nothing of the dates' form)
            self._retry.discard(item.idem_key)
            return [RowResult(item.idem_key, ok=True, target_id=self._target(item), action="unchanged")]
        text = reason(response)
        named = any(n in text and _bare(item.payload.get(n)) for n in DATE_PARAMETERS)
        if response.status == 400 and named and not timed and self.timed is not False:
            # nothing was subscribed: the record goes again, its dates with a time
            self._retry.add(item.idem_key)
            return [RowResult(item.idem_key, ok=False, action="pending", reason=reason(response))]
        self._retry.discard(item.idem_key)
        hint = "the user or the course does not exist" if response.status == 404 else ""
        return [refused(item, response, "subscribe", hint)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        if any(item.payload.get(f) in (None, "") for f in self.match_fields):
            return None
        return query(IS_SUBSCRIBED, item.payload)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        """The subscription's target id when ``isSubscribed`` says it is there (the call is exact)."""
        return self._target(item) if exists(response) else None
