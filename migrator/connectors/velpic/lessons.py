"""Velpic lesson schedules and completions (lessons themselves are a plain list: ``lists.VelpicReader``).

- Schedules are read per user (``VelpicScheduleReader``, a nested read): the users are paged with
  ``GET /user``, and each user's schedules come from ``GET /user/{userId}/lesson_schedule?status=…``, which
  has no meta, in pages of the largest size a list serves, read on while one may not be the last.
- ``POST /user/{userId}/lesson_schedule`` (``VelpicScheduleWriter``) schedules a user. The user's schedules
  are read first: a lesson already scheduled is ``unchanged``, whatever the answer's status (the document
  gives the duplicate's body, ``{"error":"Lesson Schedule already exists"}``, not its status), so a resend is
  safe.
- ``POST /lesson_schedule/{userId}/complete_lesson`` (``VelpicCompletionWriter``, the entity
  ``lesson_completion``) records a completion with its date; create-only: a completion in doubt is looked up
  among the user's completed schedules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from migrator.connectors.base import Page, Request, Response, RowResult, SettingError, WriteItem
from migrator.connectors.spec import Endpoint
from migrator.connectors.velpic.calls import (
    ONE_PAGE,
    error_text,
    id_list,
    list_total,
    listed,
    more_than_a_page,
    rejected,
    request,
    results,
)
from migrator.connectors.velpic.lists import VelpicReader, list_spec
from migrator.connectors.velpic.spec import VELPIC

__all__ = [
    "SCHEDULE_FILTERS",
    "SCHEDULE_STATUSES",
    "VelpicCompletionWriter",
    "VelpicScheduleReader",
    "VelpicScheduleWriter",
]

SCHEDULE_STATUSES = ("all", "scheduled", "due", "overdue", "completed", "cancelled")
#: filters of a lesson-schedule read that go to each user's schedule list; the others filter the users
SCHEDULE_FILTERS = frozenset({"status"})
_SCHEDULES = list_spec("lesson_schedule")
_SCHEDULE = VELPIC.entities["lesson_schedule"].writes["create"]
_COMPLETE = VELPIC.entities["lesson_completion"].writes["create"]
#: the body the document gives a second schedule of a lesson, with no status
_ALREADY_SCHEDULED = "Lesson Schedule already exists"
#: the payload key of a record's lesson versions the user already holds, read before writing (never sent)
_HELD = "_held"


class VelpicScheduleReader(VelpicReader):
    """Lesson schedules, per user: pages the users (with the user filters) and asks each user's schedule list
    with ``status`` from the filter (default ``all``).

    Each user's list is asked from its first row in the largest page a list serves (``ONE_PAGE``: a missing
    ``maxResults`` is "Default is 0", which the document leaves unexplained), and read on from the rows
    answered (``next_children``) while it may hold more: its answer has no ``meta`` (the document's example has
    none; a ``meta.totalResultCount``, where one comes, says it), and no largest page is documented, so a page
    is the whole list only when it is shorter than one this read has been answered before — the users' pages
    or another user's schedules — which shows the platform serves pages at least that long ([ASSUMED]: one
    largest page for every list, if any). Each schedule is given ``userId`` from its parent when the list
    leaves it out.
    """

    def __init__(self, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        user_filters = {k: v for k, v in filters.items() if k not in SCHEDULE_FILTERS}
        assert _SCHEDULES.parent is not None
        super().__init__(_SCHEDULES.parent, user_filters, page_size, step)
        self.key_field = _SCHEDULES.key
        status = str(filters.get("status", "all"))
        if status not in SCHEDULE_STATUSES:
            raise SettingError(
                "read.filter.status", f"lesson schedule status must be one of {', '.join(SCHEDULE_STATUSES)}"
            )
        self.status = status
        #: the most rows one answer of this read has held: the platform serves pages at least that long
        self._served = 0

    def decode_page(self, response: Response) -> Page:
        page = super().decode_page(response)
        self._served = max(self._served, len(page.records))
        return page

    def children(self, parent: Mapping[str, Any]) -> Request | None:
        user_id = parent.get("id")
        if user_id is None or user_id == "":
            return None
        return request(_SCHEDULES.endpoint, user_id, params=(("status", self.status), *ONE_PAGE))

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for row in results(response):
            record = dict(row)
            record.setdefault("userId", parent.get("id"))
            out.append(record)
        return out

    def next_children(self, request: Request, response: Response) -> Request | None:
        """The page of the same list from the row after ``response``'s last, or None: the list is read (an
        empty page; the total, where the answer gives one; or a page shorter than one answered before)."""
        rows = len(results(response))
        served, self._served = self._served, max(self._served, rows)
        start = int(dict(request.params).get("startIndex", "0"))
        total = list_total(response)
        if rows == 0 or (start + rows >= total if total is not None else rows < served):
            return None
        following = str(start + rows)
        params = tuple((k, following if k == "startIndex" else v) for k, v in request.params)
        return replace(request, params=params)


def _created_ids(response: Response) -> list[Any]:
    """The ``ids`` of a ``{"ids": […]}`` answer (empty for any other body; an unreadable one raises)."""
    body = response.json()
    ids = body.get("ids") if isinstance(body, dict) else None
    return ids if isinstance(ids, list) else []


def _ids_result(item: WriteItem, response: Response) -> RowResult:
    """A record created by a call whose 200 answer is ``{"ids": [id, …]}``: the first id is its target id."""
    ids = _created_ids(response)
    return RowResult(item.idem_key, ok=True, target_id=str(ids[0]) if ids else None, action="created")


def _per_user_posts(items: Sequence[WriteItem], endpoint: Endpoint) -> list[tuple[Request, list[WriteItem]]]:
    """One POST to ``endpoint`` at the record's ``userId`` per record, with the record's other fields as the
    body."""
    return [
        (
            request(
                endpoint,
                it.payload["userId"],
                json={k: v for k, v in it.payload.items() if k not in ("userId", _HELD)},
            ),
            [it],
        )
        for it in items
    ]


def _user_schedules(user_id: Any, status: str) -> Request:
    """``GET /user/{userId}/lesson_schedule?status=`` in one page (``ONE_PAGE``)."""
    return request(_SCHEDULES.endpoint, user_id, params=(("status", status), *ONE_PAGE))


class VelpicScheduleWriter:
    """Schedules ``lessonVersionIds`` for the record's ``userId`` (one user per call), after reading the user's
    schedules (``pre_lookups``, one list per user of the batch).

    The document gives a second schedule of a lesson the body ``{"error":"Lesson Schedule already exists"}``
    but no status, so a duplicate is told by what was read, not by the status: a record whose every version
    the user already holds in a schedule that is not cancelled is ``unchanged`` (its target id that
    schedule's) and not sent (``settled``); so is any answer with the documented body (a lesson scheduled in
    another version, or meanwhile). A resend is therefore safe: the writer is idempotent. The versions not held
    are the ones sent.
    """

    mode = "create"
    max_batch = _SCHEDULE.max_batch
    idempotent = True
    match_fields: tuple[str, ...] = ()

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        body = dict(item.payload)
        problems: dict[str, list[str]] = {}
        if body.get("userId") in (None, ""):
            problems["userId"] = ["userId is required (map the user through a crosswalk)"]
        versions = (
            id_list(body.get("lessonVersionIds")) if body.get("lessonVersionIds") not in (None, []) else []
        )
        if not versions:
            problems["lessonVersionIds"] = ["lessonVersionIds must be a non-empty list of lesson version ids"]
        else:
            body["lessonVersionIds"] = versions
        if "gracePeriod" in body:
            body["gracePeriod"] = str(body["gracePeriod"])
            if body.get("gracePeriodUnit") not in ("days", "months"):
                problems["gracePeriodUnit"] = ["gracePeriodUnit (days or months) is required with gracePeriod"]
        if problems:
            return rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, body, str(body["userId"]))

    def pre_lookups(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        """One schedule list per user of ``items``."""
        by_user: dict[str, list[WriteItem]] = {}
        for it in items:
            by_user.setdefault(str(it.payload["userId"]), []).append(it)
        return [(_user_schedules(user, "all"), its) for user, its in by_user.items()]

    def apply_pre_lookups(
        self, items: Sequence[WriteItem], answers: Sequence[tuple[Response, list[WriteItem]]]
    ) -> list[WriteItem | RowResult]:
        """Each record with the versions its user already holds (lesson version id → schedule id) and only
        the others to send; a list that could not be read holds nothing known."""
        out: dict[str, WriteItem] = {}
        for response, its in answers:
            rows, _ = listed(response)  # a fuller list than one page only hides versions: they are sent
            held = {
                row["lessonVersionId"]: row.get("id")
                for row in rows
                if row.get("status") != "cancelled" and isinstance(row.get("lessonVersionId"), int)
            }
            for it in its:
                versions = it.payload["lessonVersionIds"]
                mine = {v: held[v] for v in versions if v in held}
                missing = [v for v in versions if v not in held]
                payload = {**it.payload, _HELD: mine, "lessonVersionIds": missing or versions}
                out[it.idem_key] = WriteItem(it.idem_key, it.source_key, payload, it.match_value)
        return [out.get(it.idem_key, it) for it in items]

    def settled(self, item: WriteItem) -> RowResult | None:
        """When the user already holds every version of ``item`` (as ``apply_pre_lookups`` completed it):
        ``unchanged``, at the first one's schedule, and nothing is sent (``PreReadJudge``)."""
        held: Mapping[int, Any] = item.payload.get(_HELD) or {}
        if not held or any(v not in held for v in item.payload["lessonVersionIds"]):
            return None
        first = held[item.payload["lessonVersionIds"][0]]
        return RowResult(
            item.idem_key, ok=True, target_id=None if first is None else str(first), action="unchanged"
        )

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return _per_user_posts(items, _SCHEDULE.endpoint)

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200 and _created_ids(response):
            return [_ids_result(item, response)]
        if _error_of(response) == _ALREADY_SCHEDULED:
            return [RowResult(item.idem_key, ok=True, target_id=None, action="unchanged")]
        return [rejected(item, {"row": [error_text(response)]}, response.status)]


def _error_of(response: Response) -> Any:
    """The ``error`` field of a JSON object answer; None for any other body."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


class VelpicCompletionWriter:
    """A completion with its date (completion history), at the record's ``userId``.

    Body: ``lessonId`` or ``lessonVersionId``, ``completedDate`` and ``manuallyCompletedByUserId`` (an active
    user of the account). Create-only: completing again may create a second completed schedule, so a
    completion in doubt is first looked up among the user's completed schedules (the same lesson id or
    lesson version id as sent). It is found by ``userId`` and the step's match key (``lessonId`` or
    ``lessonVersionId``).
    """

    mode = "create"
    max_batch = _COMPLETE.max_batch
    idempotent = False

    def __init__(self, match: str | None = None) -> None:
        self.match_fields: tuple[str, ...] = ("userId", match) if match else ("userId",)

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        body = dict(item.payload)
        problems: dict[str, list[str]] = {}
        for name in ("userId", "completedDate", "manuallyCompletedByUserId"):
            if body.get(name) in (None, ""):
                problems[name] = [f"{name} is required"]
        lesson = [k for k in ("lessonId", "lessonVersionId") if body.get(k) not in (None, "")]
        if not lesson:
            problems["lessonId"] = ["one of lessonId or lessonVersionId is required"]
        for name in (*lesson, "manuallyCompletedByUserId"):
            if body.get(name) in (None, ""):
                continue
            ids = id_list(body[name])
            if ids is None or len(ids) != 1:
                problems.setdefault(name, []).append(f"{name} must be one whole number; got {body[name]!r}")
            else:
                body[name] = ids[0]
        if problems:
            return rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, body, str(body["userId"]))

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return _per_user_posts(items, _COMPLETE.endpoint)

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            return [_ids_result(item, response)]
        return [rejected(item, {"row": [error_text(response)]}, response.status)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        return _user_schedules(item.payload.get("userId"), "completed")

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        schedules, complete = listed(response)
        for schedule in schedules:
            for key in ("lessonVersionId", "lessonId"):
                want = item.payload.get(key)
                if want is not None and schedule.get(key) == want:
                    return str(schedule.get("id"))
        if not complete:
            raise more_than_a_page(
                f"the completed lesson schedules of user {item.payload.get('userId')}",
                "the completion in doubt is not on that page, so the step cannot tell whether it was recorded",
                response,
            )
        return None
