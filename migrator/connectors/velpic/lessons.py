"""Velpic lesson schedules and completions (lessons themselves are a plain list: ``lists.VelpicReader``).

- Schedules are read per user (``VelpicScheduleReader``, a nested read): the users are paged with
  ``GET /user``, and each user's schedules come from ``GET /user/{userId}/lesson_schedule?status=…``, which
  has no meta.
- ``POST /user/{userId}/lesson_schedule`` (``VelpicScheduleWriter``) schedules a user; ``409 Lesson Schedule
  already exists`` is unchanged, so a resend is safe.
- ``POST /lesson_schedule/{userId}/complete_lesson`` (``VelpicCompletionWriter``, the entity
  ``lesson_completion``) records a completion with its date; create-only: a completion in doubt is looked up
  among the user's completed schedules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from migrator.connectors.base import Request, Response, RowResult, SettingError, WriteItem
from migrator.connectors.spec import Endpoint
from migrator.connectors.velpic.calls import error_text, id_list, rejected, request, results
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


class VelpicScheduleReader(VelpicReader):
    """Lesson schedules, per user: pages the users (with the user filters) and asks each user's schedule list
    with ``status`` from the filter (default ``all``).

    The schedule list has no ``meta`` and a user holds few schedules, so each user's list is one request
    without ``maxResults`` (absent = no limit: ASSUMED, docs/sandbox-velpic.md). Each schedule is
    given ``userId`` from its parent when the list leaves it out.
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

    def children(self, parent: Mapping[str, Any]) -> Request | None:
        user_id = parent.get("id")
        if user_id is None or user_id == "":
            return None
        return request(_SCHEDULES.endpoint, user_id, params=(("status", self.status),))

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
        body = response.json() or {}
        rows = body.get("results") if isinstance(body, dict) else body
        out: list[dict[str, Any]] = []
        for row in rows or []:
            record = dict(row)
            record.setdefault("userId", parent.get("id"))
            out.append(record)
        return out


def _ids_result(item: WriteItem, response: Response) -> RowResult:
    """A record created by a call whose 200 answer is ``{"ids": [id, …]}``: the first id is its target id."""
    body = response.json() or {}
    ids = body.get("ids") if isinstance(body, dict) else None
    target = str(ids[0]) if isinstance(ids, list) and ids else None
    return RowResult(item.idem_key, ok=True, target_id=target, action="created")


def _per_user_posts(items: Sequence[WriteItem], endpoint: Endpoint) -> list[tuple[Request, list[WriteItem]]]:
    """One POST to ``endpoint`` at the record's ``userId`` per record, with the record's other fields as the
    body."""
    return [
        (
            request(
                endpoint, it.payload["userId"], json={k: v for k, v in it.payload.items() if k != "userId"}
            ),
            [it],
        )
        for it in items
    ]


class VelpicScheduleWriter:
    """Schedules ``lessonVersionIds`` for the record's ``userId`` (one user per call).

    A lesson the user already holds a schedule of answers 409 ``Lesson Schedule already exists``: that is
    ``unchanged`` (so a resend is safe: the writer is idempotent), and the existing schedule's id is not known
    from the answer.
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

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return _per_user_posts(items, _SCHEDULE.endpoint)

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            return [_ids_result(item, response)]
        if response.status == 409 and "already exists" in error_text(response):
            return [RowResult(item.idem_key, ok=True, target_id=None, action="unchanged")]
        return [rejected(item, {"row": [error_text(response)]}, response.status)]


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
        return request(_SCHEDULES.endpoint, item.payload.get("userId"), params=(("status", "completed"),))

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        for schedule in results(response):
            for key in ("lessonVersionId", "lessonId"):
                want = item.payload.get(key)
                if want is not None and schedule.get(key) == want:
                    return str(schedule.get("id"))
        return None
