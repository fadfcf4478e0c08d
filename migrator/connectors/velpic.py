"""Velpic / Damstra Learning API v2: pure request builders and response decoders.

Reads page with ``startIndex``/``maxResults`` + ``meta.totalResultCount`` (concurrent once the total is known).
Writes: users through ``POST /bulkUserImport`` (``mergeType``; rows are pre-validated so one bad row does not
sink a batch of 500, and ``roles`` is always sent because the import resets omitted roles to TRAINEE), users
one by one (``POST /user``, ``PUT /user/{id}``), groups (``POST /group``, update ``POST /group/{id}``).

Lesson schedules are read per user (a nested read: the paginator pages ``GET /user``, each user's schedules
come from ``GET /user/{userId}/lesson_schedule?status=…``, which has no meta); a user is scheduled with
``POST /user/{userId}/lesson_schedule`` (409 "already exists" = unchanged, so a resend is safe) and a
completion is recorded with its date by ``POST /lesson_schedule/{userId}/complete_lesson`` (the entity
``lesson_completion``; create-only: a completion in doubt is looked up among the user's completed schedules).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from migrator.connectors.base import (
    Action,
    EngineSupportError,
    Page,
    Request,
    Response,
    RowResult,
    StaticKeyAuth,
    WriteItem,
)
from migrator.errors import PlanError, PlanProblem
from migrator.protocol.pagination import PageRequest, Paginator, make_paginator

__all__ = [
    "READ_PATHS",
    "VALID_ROLES",
    "VelpicAuth",
    "VelpicBulkUsers",
    "VelpicCompletionWriter",
    "VelpicGroupWriter",
    "VelpicIltAttendanceWriter",
    "VelpicIltRegistrationWriter",
    "VelpicIltSessionReader",
    "VelpicIltSessionWriter",
    "VelpicReader",
    "VelpicScheduleReader",
    "VelpicScheduleWriter",
    "VelpicUserWriter",
    "attendee_ids",
    "attendees_request",
    "make_auth",
    "make_reader",
    "make_writer",
    "parse_ilt_date",
    "plainly_valid",
    "validate_ilt_session",
    "validate_user",
]

VALID_ROLES = frozenset({3, 4, 5, 6, 7, 8})
MERGE_TYPES = ("none", "email", "empNo", "userName")
READ_PATHS: Mapping[str, str] = {"user": "/user", "group": "/group", "lesson": "/lesson"}
KEY_FIELDS: Mapping[str, str] = {"user": "id", "group": "id", "lesson": "lessonId"}
SCHEDULE_STATUSES = ("all", "scheduled", "due", "overdue", "completed", "cancelled")
#: filters of a lesson-schedule read that go to each user's schedule list; the others filter the users
SCHEDULE_FILTERS = frozenset({"status"})
SCHEDULES_ENDPOINT = "/user/{userId}/lesson_schedule"
COMPLETE_ENDPOINT = "/lesson_schedule/{userId}/complete_lesson"
_MERGE_FIELD = {"email": "emailAddress", "empNo": "employeeNumber", "userName": "userName"}
_ROW = re.compile(r"users\[(\d+)\]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class VelpicAuth(StaticKeyAuth):
    """A static ``AccessKey`` header."""

    header = "AccessKey"


class VelpicReader:
    """``GET /user``, ``/group``, ``/lesson`` with filters as query parameters."""

    def __init__(self, entity: str, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        self.path = READ_PATHS[entity]
        self.key_field = KEY_FIELDS[entity]
        self.filters = tuple((k, _param(v)) for k, v in filters.items())
        self.page_size = page_size
        self.step = step

    def paginator(self) -> Paginator:
        return make_paginator("velpic_offset", page_size=self.page_size, step=self.step)

    def page_request(self, page: PageRequest) -> Request:
        return Request("GET", self.path, endpoint=self.path, params=self.filters + page.params)

    def decode_page(self, response: Response) -> Page:
        body = response.json() or {}
        meta = body.get("meta") or {}
        total = meta.get("totalResultCount")
        return Page(list(body.get("results") or []), total if isinstance(total, int) else None)


class VelpicScheduleReader(VelpicReader):
    """Lesson schedules, per user: pages ``GET /user`` (with the user filters) and asks each user's
    ``GET /user/{userId}/lesson_schedule?status=…`` (``status`` from the filter, default ``all``).

    The schedule list has no ``meta`` and a user holds few schedules, so each user's list is one request
    without ``maxResults`` (absent = no limit, [AMBIG]/[ASSUMED] in the reference §1.3). Each schedule is
    given ``userId`` from its parent when the list leaves it out.
    """

    def __init__(self, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        user_filters = {k: v for k, v in filters.items() if k not in SCHEDULE_FILTERS}
        super().__init__("user", user_filters, page_size, step)
        self.key_field = "id"
        status = str(filters.get("status", "all"))
        if status not in SCHEDULE_STATUSES:
            raise PlanError(
                [
                    PlanProblem(
                        "",
                        "read.filter.status",
                        f"lesson schedule status must be one of {', '.join(SCHEDULE_STATUSES)}",
                    )
                ]
            )
        self.status = status

    def children(self, parent: Mapping[str, Any]) -> Request | None:
        user_id = parent.get("id")
        if user_id is None or user_id == "":
            return None
        return Request(
            "GET", f"/user/{user_id}/lesson_schedule", SCHEDULES_ENDPOINT, params=(("status", self.status),)
        )

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
        body = response.json() or {}
        results = body.get("results") if isinstance(body, dict) else body
        out: list[dict[str, Any]] = []
        for item in results or []:
            record = dict(item)
            record.setdefault("userId", parent.get("id"))
            out.append(record)
        return out


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _ids(value: Any) -> list[dict[str, int]]:
    """``5``, ``"5"``, ``[5, 6]`` or ``[{"id": 5}]`` → ``[{"id": 5}, …]`` (None and "" dropped)."""
    items = value if isinstance(value, list) else [value]
    out: list[dict[str, int]] = []
    for item in items:
        raw = item.get("id") if isinstance(item, dict) else item
        if raw is None or raw == "":
            continue
        try:
            out.append({"id": int(raw)})
        except (TypeError, ValueError, OverflowError):
            out.append({"id": raw})  # not a whole number: ``validate_user`` rejects the record
    return out


def normalise_user(payload: Mapping[str, Any]) -> dict[str, Any]:
    user = dict(payload)
    for name in ("groups", "groupsSupervised"):
        if name in user:
            user[name] = _ids(user[name])
    if "employeeNumber" in user and user["employeeNumber"] is not None:
        user["employeeNumber"] = str(user["employeeNumber"])
    if "roles" in user and not isinstance(user["roles"], list):
        user["roles"] = [user["roles"]]
    return user


def plainly_valid(user: Mapping[str, Any], *, require_roles: bool) -> bool:
    """The common case in one pass, without building anything: the names and the email are there and well
    formed, roles (when present) a non-empty list of valid role ids, and nothing for ``normalise_user`` to do
    (no group references, ``employeeNumber`` already text or absent). True implies ``normalise_user(user) ==
    user`` and ``validate_user(user) == {}``; False means: normalise and validate in full."""
    first, last, email = user.get("firstName"), user.get("lastName"), user.get("emailAddress")
    if type(first) is not str or type(last) is not str or type(email) is not str:
        return False
    if not first.strip() or not last.strip() or not _EMAIL.match(email.strip()):
        return False
    if "groups" in user or "groupsSupervised" in user:
        return False
    number = user.get("employeeNumber")
    if number is not None and type(number) is not str:
        return False
    roles = user.get("roles")
    if roles is None:
        return not require_roles and "roles" not in user
    if type(roles) is not list or not roles:
        return False
    return all(type(r) is int and r in VALID_ROLES for r in roles)


def validate_user(user: Mapping[str, Any], *, require_roles: bool) -> dict[str, list[str]]:
    """Problems Velpic would refuse (or silently mishandle), by field. Empty when the row is fine."""
    problems: dict[str, list[str]] = {}
    for name in ("firstName", "lastName", "emailAddress"):
        value = user.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.setdefault(name, []).append(f"{name} is required")
    email = user.get("emailAddress")
    if isinstance(email, str) and email.strip() and not _EMAIL.match(email.strip()):
        problems.setdefault("emailAddress", []).append(f"not an email address: {email!r}")
    for name in ("groups", "groupsSupervised"):
        refs = user.get(name)
        bad = [g.get("id") for g in refs if isinstance(g, dict)] if isinstance(refs, list) else [refs]
        bad = [ref for ref in bad if isinstance(ref, bool) or not isinstance(ref, int)]
        if refs is not None and bad:
            problems.setdefault(name, []).append(f"not a Velpic group id: {bad[0]!r}")
    roles = user.get("roles")
    if roles is None:
        if require_roles:
            problems.setdefault("roles", []).append(
                "roles must be sent: bulkUserImport resets a merged user's roles to TRAINEE when omitted"
            )
    else:
        bad = [r for r in roles if not isinstance(r, int) or isinstance(r, bool) or r not in VALID_ROLES]
        if bad or not roles:
            problems.setdefault("roles", []).append(
                f"roles must be a non-empty list of 3 ADMIN, 4 EDITOR, 5 SUPERVISOR, 6 TRAINEE, 7 OWNER, "
                f"8 INSTRUCTOR; got {roles!r}"
            )
    return problems


def _rejected(item: WriteItem, problems: Mapping[str, list[str]], status: int | None = None) -> RowResult:
    reason = "; ".join(msg for msgs in problems.values() for msg in msgs)
    return RowResult(item.idem_key, ok=False, action="rejected", status=status, reason=reason, fields=problems)


def _error_text(response: Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text()
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body.get("reason") or body)
    return response.text()


class _Imported(msgspec.Struct):
    id: int | str
    createdDate: str | None = None
    modifiedDate: str | None = None


_IMPORTED = msgspec.json.Decoder(list[_Imported])


def _created_or_updated(created: str | None, modified: str | None) -> Action:
    """A user whose creation and last modification dates are equal was created by this call."""
    return "created" if created is not None and created == modified else "updated"


def _user_result(item: WriteItem, user: Mapping[str, Any]) -> RowResult:
    action = _created_or_updated(user.get("createdDate"), user.get("modifiedDate"))
    return RowResult(item.idem_key, ok=True, target_id=str(user.get("id")), action=action)


class VelpicBulkUsers:
    """``POST /bulkUserImport`` with a ``mergeType``; rows pre-validated, results mapped back by position."""

    mode = "bulk"
    max_batch = 500

    def __init__(self, merge: str | None) -> None:
        merge = merge or "none"
        if merge not in MERGE_TYPES:
            raise PlanError(
                [PlanProblem("", "write.match", f"Velpic mergeType must be one of {', '.join(MERGE_TYPES)}")]
            )
        self.merge = merge
        self.idempotent = merge != "none"
        self.match_field = _MERGE_FIELD.get(merge)

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        if plainly_valid(item.payload, require_roles=True):
            return item
        user = normalise_user(item.payload)
        problems = validate_user(user, require_roles=True)
        if problems:
            return _rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, user, item.match_value)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        body = {"users": [it.payload for it in items], "mergeType": self.merge}
        req = Request("POST", "/bulkUserImport", "/bulkUserImport", json=body, is_write=True)
        return [(req, list(items))]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        if response.status == 200:
            try:  # only id and the two dates are read: msgspec skips the rest of each user without building it
                users = _IMPORTED.decode(response.body)
            except msgspec.ValidationError as error:
                raise ValueError(
                    f"bulkUserImport answered something else than a list of users: {error}"
                ) from None
            if len(users) != len(items):
                raise ValueError(f"bulkUserImport answered {len(users)} rows for {len(items)} sent")
            return [
                RowResult(it.idem_key, True, str(u.id), _created_or_updated(u.createdDate, u.modifiedDate))
                for it, u in zip(items, users, strict=True)
            ]
        text = _error_text(response)
        match = _ROW.search(text)
        if response.status == 400 and match and int(match.group(1)) < len(items):
            bad = int(match.group(1))
            # the import is all-or-nothing: reject the named row, the rest are written again
            return [
                _rejected(it, {"row": [text]}, 400)
                if i == bad
                else RowResult(it.idem_key, ok=False, action="pending", reason="resend")
                for i, it in enumerate(items)
            ]
        if response.status == 400 and len(items) == 1:
            return [_rejected(items[0], {"row": [text]}, 400)]
        return [RowResult(it.idem_key, ok=False, action="pending", reason="split") for it in items]

    def lookup_request(self, item: WriteItem) -> Request | None:
        return _user_lookup(item, self.merge)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        return _first_id(response)


def _one_written(item: WriteItem, response: Response, action: Action) -> RowResult:
    """The result of a one-record write whose 200 answer carries the record's ``id``."""
    if response.status == 200:
        body = response.json() or {}
        return RowResult(item.idem_key, ok=True, target_id=str(body.get("id")), action=action)
    return _rejected(item, {"row": [_error_text(response)]}, response.status)


def _user_lookup(item: WriteItem, merge: str) -> Request | None:
    user = item.payload
    if merge in ("email", "none") and user.get("emailAddress"):
        params = (("emailAddress", str(user["emailAddress"])), ("activeValue", "all"))
    elif merge == "empNo" and user.get("employeeNumber"):
        params = (("empId", str(user["employeeNumber"])), ("activeValue", "all"))
    elif merge == "userName" and user.get("userName"):
        params = (("q", str(user["userName"])), ("activeValue", "all"))
    else:
        return None
    return Request("GET", "/user", "/user", params=params)


def _first_id(response: Response) -> str | None:
    if response.status != 200:
        return None
    results = (response.json() or {}).get("results") or []
    return str(results[0]["id"]) if results else None


class VelpicUserWriter:
    """One user per call: ``POST /user`` (create) or ``PUT /user/{id}`` (update, a full replacement)."""

    max_batch = 50

    def __init__(self, mode: str, match: str | None) -> None:
        self.mode = mode
        self.match = match or "email"
        self.idempotent = mode == "update"
        self.match_field = _MERGE_FIELD.get(self.match, self.match)

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        user = normalise_user(item.payload)
        problems = validate_user(user, require_roles=False)
        if self.mode == "update" and not user.get("id"):
            problems.setdefault("id", []).append("update needs the target user id (map id through a crosswalk)")
        return _rejected(item, problems) if problems else WriteItem(item.idem_key, item.source_key, user)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        out: list[tuple[Request, list[WriteItem]]] = []
        for it in items:
            if self.mode == "update":
                path = f"/user/{it.payload['id']}"
                out.append((Request("PUT", path, "/user/{userId}", json=it.payload, is_write=True), [it]))
            else:
                out.append((Request("POST", "/user", "/user", json=it.payload, is_write=True), [it]))
        return out

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        return [_one_written(items[0], response, "updated" if self.mode == "update" else "created")]

    def lookup_request(self, item: WriteItem) -> Request | None:
        return _user_lookup(item, "email" if self.match == "emailAddress" else self.match)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        return _first_id(response)


class VelpicGroupWriter:
    """``POST /group`` (create; in-doubt lookup by exact name) or ``POST /group/{id}`` (update)."""

    max_batch = 50

    match_field = "name"

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.idempotent = mode == "update"

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        group = dict(item.payload)
        problems: dict[str, list[str]] = {}
        if not isinstance(group.get("name"), str) or not group["name"].strip():
            problems["name"] = ["name is required"]
        group.setdefault("description", "")
        if group.get("parentId") in ("", None):
            group.pop("parentId", None)
        return _rejected(item, problems) if problems else WriteItem(item.idem_key, item.source_key, group)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        out: list[tuple[Request, list[WriteItem]]] = []
        for it in items:
            if self.mode == "update":
                req = Request(
                    "POST", f"/group/{it.payload['id']}", "/group/{groupId}", json=it.payload, is_write=True
                )
            else:
                req = Request("POST", "/group", "/group", json=it.payload, is_write=True)
            out.append((req, [it]))
        return out

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        return [_one_written(items[0], response, "updated" if self.mode == "update" else "created")]

    def lookup_request(self, item: WriteItem) -> Request | None:
        name = item.payload.get("name")
        if not name:
            return None
        return Request("GET", "/group", "/group", params=(("q", str(name)),))

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        if response.status != 200:
            return None
        want = str(item.payload.get("name", "")).strip().casefold()
        for group in (response.json() or {}).get("results") or []:
            if str(group.get("name", "")).strip().casefold() == want:
                return str(group["id"])
        return None


def _id_list(value: Any) -> list[int] | None:
    """``5``, ``"5"``, ``[5, "6"]`` → ``[5, 6]``; None when a value is not a whole number."""
    items = value if isinstance(value, list) else [value]
    out: list[int] = []
    for item in items:
        if isinstance(item, bool):
            return None
        try:
            out.append(int(str(item).strip()))
        except ValueError:
            return None
    return out


def _schedules(response: Response) -> list[dict[str, Any]]:
    if response.status != 200:
        return []
    body = response.json() or {}
    return [dict(r) for r in (body.get("results") or []) if isinstance(r, dict)]


def _ids_result(item: WriteItem, response: Response, action: Action) -> RowResult:
    body = response.json() or {}
    ids = body.get("ids") if isinstance(body, dict) else None
    target = str(ids[0]) if isinstance(ids, list) and ids else None
    return RowResult(item.idem_key, ok=True, target_id=target, action=action)


def _per_user_posts(
    items: Sequence[WriteItem], path: str, endpoint: str
) -> list[tuple[Request, list[WriteItem]]]:
    """One ``POST path.format(userId)`` per record, with the record's fields but ``userId`` as the body."""
    return [
        (
            Request(
                "POST",
                path.format(it.payload["userId"]),
                endpoint,
                json={k: v for k, v in it.payload.items() if k != "userId"},
                is_write=True,
            ),
            [it],
        )
        for it in items
    ]


class VelpicScheduleWriter:
    """``POST /user/{userId}/lesson_schedule`` with ``lessonVersionIds`` (one user per call).

    A lesson the user already holds a schedule of answers 409 ``Lesson Schedule already exists``: that
    is ``unchanged`` (so a resend is safe: the writer is idempotent), and the existing schedule's id is not
    known from the answer.
    """

    mode = "create"
    max_batch = 50
    idempotent = True

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        body = dict(item.payload)
        problems: dict[str, list[str]] = {}
        if body.get("userId") in (None, ""):
            problems["userId"] = ["userId is required (map the user through a crosswalk)"]
        versions = (
            _id_list(body.get("lessonVersionIds")) if body.get("lessonVersionIds") not in (None, []) else []
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
            return _rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, body, str(body["userId"]))

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return _per_user_posts(items, "/user/{}/lesson_schedule", SCHEDULES_ENDPOINT)

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            return [_ids_result(item, response, "created")]
        if response.status == 409 and "already exists" in _error_text(response):
            return [RowResult(item.idem_key, ok=True, target_id=None, action="unchanged")]
        return [_rejected(item, {"row": [_error_text(response)]}, response.status)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        user = item.payload.get("userId")
        path = f"/user/{user}/lesson_schedule"
        return Request("GET", path, SCHEDULES_ENDPOINT, params=(("status", "all"),))

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        want = set(item.payload.get("lessonVersionIds") or [])
        for schedule in _schedules(response):
            if schedule.get("lessonVersionId") in want and schedule.get("status") != "cancelled":
                return str(schedule.get("id"))
        return None


class VelpicCompletionWriter:
    """``POST /lesson_schedule/{userId}/complete_lesson``: a completion with its date (completion history).

    Body: ``lessonId`` or ``lessonVersionId``, ``completedDate`` and ``manuallyCompletedByUserId`` (an active
    user of the account). Create-only: completing again may create a second completed schedule, so a
    completion in doubt is first looked up among the user's completed schedules.
    """

    mode = "create"
    max_batch = 50
    idempotent = False

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
            ids = _id_list(body[name])
            if ids is None or len(ids) != 1:
                problems.setdefault(name, []).append(f"{name} must be one whole number; got {body[name]!r}")
            else:
                body[name] = ids[0]
        if problems:
            return _rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, body, str(body["userId"]))

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return _per_user_posts(items, "/lesson_schedule/{}/complete_lesson", COMPLETE_ENDPOINT)

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            return [_ids_result(item, response, "created")]
        return [_rejected(item, {"row": [_error_text(response)]}, response.status)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        path = f"/user/{item.payload.get('userId')}/lesson_schedule"
        return Request("GET", path, SCHEDULES_ENDPOINT, params=(("status", "completed"),))

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        for schedule in _schedules(response):
            for key in ("lessonVersionId", "lessonId"):
                want = item.payload.get(key)
                if want is not None and schedule.get(key) == want:
                    return str(schedule.get("id"))
        return None


class _UserIdsWriter:
    """Shared by writers whose record is one parent (a group, an ILT session) and a list of ``userIds``
    posted as ``{"userIds": […]}`` to ``path`` (``{}`` = the parent id). The call has no id of its own: the
    "target id" kept in the crosswalk is ``"<parent id>:<userId,…>"``. A resend changes nothing."""

    mode = "create"
    max_batch = 50
    idempotent = True
    parent_key = ""
    path = ""
    endpoint = ""

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [
            (
                Request(
                    "POST",
                    self.path.format(it.payload[self.parent_key]),
                    self.endpoint,
                    json={"userIds": it.payload["userIds"]},
                    is_write=True,
                ),
                [it],
            )
            for it in items
        ]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            users = ",".join(str(u) for u in item.payload["userIds"])
            return [RowResult(item.idem_key, ok=True, target_id=f"{item.payload[self.parent_key]}:{users}")]
        return [_rejected(item, {"row": [_error_text(response)]}, response.status)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        return None

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        return None


class VelpicMemberWriter(_UserIdsWriter):
    """``POST /group/{groupId}/add_members`` (or ``add_supervisors``): a record maps ``groupId`` and ``userIds``
    (one id or a list). Adding a member twice changes nothing, so a resend is safe. The "target id" kept in the
    crosswalk is ``"<groupId>:<userId,…>"`` (a membership has no id of its own)."""

    parent_key = "groupId"

    def __init__(self, action: str = "add_members") -> None:
        self.action = action
        self.path = f"/group/{{}}/{action}"
        self.endpoint = f"/group/{{groupId}}/{action}"

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        group = item.payload.get("groupId")
        raw = item.payload.get("userIds")
        users = raw if isinstance(raw, list) else [raw]
        problems: dict[str, list[str]] = {}
        if group in (None, ""):
            problems["groupId"] = ["groupId is required (map it through the groups' crosswalk)"]
        try:
            ids = [int(u) for u in users if u not in (None, "")]
        except (TypeError, ValueError):
            ids = []
            problems["userIds"] = [f"userIds must be Velpic user ids, got {raw!r}"]
        if not ids and "userIds" not in problems:
            problems["userIds"] = ["userIds is required (map it through the users' crosswalk)"]
        if problems:
            return _rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, {"groupId": int(str(group)), "userIds": ids})


# ---------------------------------------------------------------- ILT sessions (reference §1.5 "ILT sessions")

ILT_SESSION_ENDPOINT = "/ilt_session"
ILT_PATCH_ENDPOINT = "/ilt_session/{iltSessionId}"
ILT_REGISTER_ENDPOINT = "/ilt_session/{iltSessionId}/bulk_register"
ILT_ATTENDEES_ENDPOINT = "/ilt_session/{iltSessionId}/attendees"
ILT_PROGRESS_ENDPOINT = "/ilt_session/{iltSessionId}/save_progress"
#: the ILT date format of the document, e.g. ``2018-05-19T01:00:06.000+0800``
ILT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"
_ILT_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$")
_ILT_STATUSES = (1, 2, 3)


def parse_ilt_date(value: Any) -> datetime | None:
    """``2018-05-19T01:00:06.000+0800`` → an aware datetime; None when the text is not in that format."""
    if not isinstance(value, str) or not _ILT_DATE.match(value):
        return None
    try:
        return datetime.strptime(value, ILT_DATE_FORMAT)
    except ValueError:
        return None


def _one_id(body: dict[str, Any], name: str, problems: dict[str, list[str]], *, required: bool) -> None:
    """Check ``body[name]`` is one whole number (normalised to int in place); a missing value is a problem
    only when ``required``."""
    value = body.get(name)
    if value in (None, ""):
        body.pop(name, None)
        if required:
            problems.setdefault(name, []).append(f"{name} is required")
        return
    ids = _id_list(value)
    if ids is None or len(ids) != 1:
        problems.setdefault(name, []).append(f"{name} must be one whole number; got {value!r}")
    else:
        body[name] = ids[0]


def validate_ilt_session(body: dict[str, Any], mode: str) -> dict[str, list[str]]:
    """Problems Velpic would refuse in an ILT session create (``mode="create"``) or ``PATCH`` body; ids are
    normalised to ints in place. Empty when the body is fine."""
    problems: dict[str, list[str]] = {}
    _one_id(body, "instructorId", problems, required=True)
    location = body.get("location")
    if not isinstance(location, str) or not location.strip():
        problems["location"] = ["location is required (the place of the session, as text)"]
    if body.get("notes") is not None and not isinstance(body["notes"], str):
        problems["notes"] = [f"notes must be text; got {body['notes']!r}"]
    if mode == "create":
        _one_id(body, "lessonId", problems, required=False)
        dates: dict[str, datetime] = {}
        for name in ("startDatetime", "endDatetime"):
            value = body.get(name)
            if value in (None, ""):
                problems[name] = [f"{name} is required"]
                continue
            parsed = parse_ilt_date(value)
            if parsed is None:
                problems[name] = [
                    f"{name} must be an ILT date like 2018-05-19T01:00:06.000+0800; got {value!r} "
                    "(map it with date('%Y-%m-%dT%H:%M:%S.000+0000') from a UTC source date)"
                ]
            else:
                dates[name] = parsed
        if len(dates) == 2 and dates["endDatetime"] < dates["startDatetime"]:
            problems["endDatetime"] = ["endDatetime must not be before startDatetime"]
    else:
        _one_id(body, "id", problems, required=True)
        if "id" in problems:
            problems["id"] = ["update needs the target ILT session id (map id through a crosswalk)"]
        _one_id(body, "numberOfPlaces", problems, required=False)
        if "statusId" in body and body["statusId"] not in _ILT_STATUSES:
            problems["statusId"] = [
                f"statusId must be 1 (active), 2 (completed) or 3 (cancelled); got {body['statusId']!r}"
            ]
    return problems


class VelpicIltSessionReader(VelpicReader):
    """``GET /ilt_session`` paged with ``startIndex``/``maxResults`` + meta; filters ``lessonScheduleId``,
    ``state``, ``status``, ``instructorId`` as query parameters."""

    def __init__(self, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        self.path = ILT_SESSION_ENDPOINT
        self.key_field = "id"
        self.filters = tuple((k, _param(v)) for k, v in filters.items())
        self.page_size = page_size
        self.step = step


class VelpicIltSessionWriter:
    """``POST /ilt_session`` (create) or ``PATCH /ilt_session/{id}`` (update), one session per call.

    Create body: ``lessonId, startDatetime*, endDatetime*, location*, instructorId*, notes``; dates in the ILT
    format ``2018-05-19T01:00:06.000+0800`` (checked in ``prepare``: a wrong date is a rejection with the
    reason, not a 400). The answer is the list-item shape with the new ``id``. Create-only: a session in
    doubt is looked up among the instructor's sessions (``GET /ilt_session?instructorId=``) by ``lessonId``
    and the same start instant (Velpic answers dates in the account's zone, so the text may differ).
    Update body: ``instructorId*, location*, statusId, notes, numberOfPlaces`` (the record's ``id`` is the
    path).
    """

    max_batch = 50

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.idempotent = mode == "update"

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        body = dict(item.payload)
        problems = validate_ilt_session(body, self.mode)
        if problems:
            return _rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, body, item.match_value)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        out: list[tuple[Request, list[WriteItem]]] = []
        for it in items:
            if self.mode == "update":
                body = {k: v for k, v in it.payload.items() if k != "id"}
                path = f"/ilt_session/{it.payload['id']}"
                out.append((Request("PATCH", path, ILT_PATCH_ENDPOINT, json=body, is_write=True), [it]))
            else:
                req = Request("POST", "/ilt_session", ILT_SESSION_ENDPOINT, json=it.payload, is_write=True)
                out.append((req, [it]))
        return out

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            body = response.json() or {}
            target = body.get("id") if isinstance(body, dict) else None
            if target is None and self.mode == "update":
                target = item.payload.get("id")
            action: Action = "updated" if self.mode == "update" else "created"
            return [
                RowResult(
                    item.idem_key, ok=True, target_id=None if target is None else str(target), action=action
                )
            ]
        return [_rejected(item, {"row": [_error_text(response)]}, response.status)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        instructor = item.payload.get("instructorId")
        if self.mode != "create" or instructor in (None, ""):
            return None
        # no maxResults: absent = no limit (reference §1.3 [ASSUMED]); an instructor holds few sessions
        return Request("GET", "/ilt_session", ILT_SESSION_ENDPOINT, params=(("instructorId", str(instructor)),))

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        if response.status != 200:
            return None
        start = parse_ilt_date(item.payload.get("startDatetime"))
        lesson = item.payload.get("lessonId")
        body = response.json() or {}
        for session in body.get("results") or [] if isinstance(body, dict) else []:
            if not isinstance(session, dict) or session.get("lessonId") != lesson:
                continue
            if start is not None and parse_ilt_date(session.get("startDatetime")) == start:
                return str(session.get("id"))
        return None


def _session_id(body: dict[str, Any], problems: dict[str, list[str]]) -> None:
    _one_id(body, "sessionId", problems, required=False)
    if body.get("sessionId") is None and "sessionId" not in problems:
        problems["sessionId"] = ["sessionId is required (map it through the ILT sessions' crosswalk)"]


class VelpicIltRegistrationWriter(_UserIdsWriter):
    """``POST /ilt_session/{sessionId}/bulk_register`` ``{userIds}``: a record maps ``sessionId`` and
    ``userIds`` (one id or a list), like ``VelpicMemberWriter``. The users must already hold a schedule of
    the session's lesson: a refusal (4xx) is a rejection with Velpic's reason. Registering a registered user
    again changes nothing (no second attendee), so a resend is safe. The "target id" kept in the crosswalk is
    ``"<sessionId>:<userId,…>"`` (a registration has no id of its own in the answer)."""

    parent_key = "sessionId"
    path = "/ilt_session/{}/bulk_register"
    endpoint = ILT_REGISTER_ENDPOINT

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        body = dict(item.payload)
        problems: dict[str, list[str]] = {}
        _session_id(body, problems)
        raw = body.get("userIds")
        users = [u for u in (raw if isinstance(raw, list) else [raw]) if u not in (None, "")]
        ids = _id_list(users) if users else []
        if ids is None:
            problems["userIds"] = [f"userIds must be Velpic user ids; got {raw!r}"]
        elif not ids:
            problems["userIds"] = ["userIds is required (map it through the users' crosswalk)"]
        if problems or ids is None:
            return _rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, {"sessionId": body["sessionId"], "userIds": ids})


def attendees_request(session_id: int | str) -> Request:
    """``GET /ilt_session/{id}/attendees`` (every attendee: no ``maxResults`` = no limit)."""
    return Request("GET", f"/ilt_session/{session_id}/attendees", ILT_ATTENDEES_ENDPOINT)


def attendee_ids(response: Response) -> dict[int, int]:
    """User id → attendee id, from a ``GET /ilt_session/{id}/attendees`` answer (empty on an error)."""
    if response.status != 200:
        return {}
    body = response.json() or {}
    out: dict[int, int] = {}
    for row in body.get("results") or [] if isinstance(body, dict) else []:
        if isinstance(row, dict) and isinstance(row.get("userId"), int) and isinstance(row.get("id"), int):
            out[row["userId"]] = row["id"]
    return out


class VelpicIltAttendanceWriter:
    """``POST /ilt_session/{sessionId}/save_progress`` ``{attendees:[{id, passed, attended}]}``: a record
    maps ``sessionId`` and ``attendees``, a list of ``{id, passed, attended}`` where ``id`` is the ATTENDEE id
    (``GET /ilt_session/{id}/attendees``, see ``attendee_ids``), not the user id. Saving the same progress
    again changes nothing, so a resend is safe.

    A record may instead map ``sessionId``, ``userId`` and ``passed``/``attended`` (what a source such as
    accessplanit bookings holds): the writer then reads the session's attendees before writing
    (``pre_lookups`` / ``apply_pre_lookups``, a hook the write stage calls) and turns the user id into the
    attendee id; a user not registered to the session is a rejection with that reason.
    """

    mode = "create"
    max_batch = 50
    idempotent = True

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        body = dict(item.payload)
        problems: dict[str, list[str]] = {}
        _session_id(body, problems)
        if "attendees" not in body and "userId" in body:  # by user: the attendee id is looked up before writing
            _one_id(body, "userId", problems, required=True)
            for flag in ("passed", "attended"):
                if flag in body and not isinstance(body[flag], bool):
                    problems.setdefault(flag, []).append(f"{flag} must be true or false; got {body[flag]!r}")
            if problems:
                return _rejected(item, problems)
            flags = {k: body[k] for k in ("passed", "attended") if k in body}
            return WriteItem(
                item.idem_key,
                item.source_key,
                {"sessionId": body["sessionId"], "userId": body["userId"], "flags": flags},
            )
        raw = body.get("attendees")
        rows = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
        attendees: list[dict[str, Any]] = []
        for row in rows:
            entry: dict[str, Any] = dict(row) if isinstance(row, dict) else {}
            sub: dict[str, list[str]] = {}
            _one_id(entry, "id", sub, required=True)
            for flag in ("passed", "attended"):
                if flag in entry and not isinstance(entry[flag], bool):
                    sub[flag] = [f"{flag} must be true or false; got {entry[flag]!r}"]
            if sub or not isinstance(row, dict):
                problems.setdefault("attendees", []).append(
                    f"each attendee needs id (the attendee id, not the user id) and boolean passed/attended; "
                    f"got {row!r}"
                )
                continue
            attendees.append({k: entry[k] for k in ("id", "passed", "attended") if k in entry})
        if not attendees and "attendees" not in problems:
            problems["attendees"] = ["attendees is required: a list of {id, passed, attended}"]
        if problems:
            return _rejected(item, problems)
        return WriteItem(
            item.idem_key, item.source_key, {"sessionId": body["sessionId"], "attendees": attendees}
        )

    def pre_lookups(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        """One ``GET /ilt_session/{id}/attendees`` per session of the records given by user id."""
        by_session: dict[int, list[WriteItem]] = {}
        for it in items:
            if "userId" in it.payload:
                by_session.setdefault(int(it.payload["sessionId"]), []).append(it)
        return [(attendees_request(session), its) for session, its in by_session.items()]

    def apply_pre_lookups(
        self, items: Sequence[WriteItem], answers: Sequence[tuple[Response, list[WriteItem]]]
    ) -> list[WriteItem | RowResult]:
        """Records by user id → records by attendee id (or a rejection when the user is not registered)."""
        resolved: dict[str, WriteItem | RowResult] = {}
        for response, its in answers:
            ids = attendee_ids(response)
            for it in its:
                attendee = ids.get(int(it.payload["userId"]))
                if attendee is None:
                    reason = (
                        f"user {it.payload['userId']} is not registered to ILT session "
                        f"{it.payload['sessionId']}: register them first (an ilt_registration step)"
                    )
                    resolved[it.idem_key] = _rejected(it, {"userId": [reason]}, response.status)
                else:
                    payload = {
                        "sessionId": it.payload["sessionId"],
                        "attendees": [{"id": attendee, **it.payload["flags"]}],
                    }
                    resolved[it.idem_key] = WriteItem(it.idem_key, it.source_key, payload)
        return [resolved.get(it.idem_key, it) for it in items]

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [
            (
                Request(
                    "POST",
                    f"/ilt_session/{it.payload['sessionId']}/save_progress",
                    ILT_PROGRESS_ENDPOINT,
                    json={"attendees": it.payload["attendees"]},
                    is_write=True,
                ),
                [it],
            )
            for it in items
        ]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            ids = ",".join(str(a["id"]) for a in item.payload["attendees"])
            return [
                RowResult(
                    item.idem_key, ok=True, target_id=f"{item.payload['sessionId']}:{ids}", action="updated"
                )
            ]
        return [_rejected(item, {"row": [_error_text(response)]}, response.status)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        return None

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        return None


def make_auth(credentials: Mapping[str, str]) -> VelpicAuth:
    return VelpicAuth(credentials["access_key"])


def make_reader(
    entity: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
) -> VelpicReader:
    if entity == "lesson_schedule":
        return VelpicScheduleReader(filters, page_size, step)
    if entity == "ilt_session":
        return VelpicIltSessionReader(filters, page_size, step)
    if entity not in READ_PATHS:
        raise EngineSupportError(f"the Velpic connector cannot read {entity!r} yet")
    return VelpicReader(entity, filters, page_size, step)


def make_writer(
    entity: str, mode: str, match: str | None
) -> (
    VelpicBulkUsers
    | VelpicUserWriter
    | VelpicGroupWriter
    | VelpicScheduleWriter
    | VelpicCompletionWriter
    | VelpicMemberWriter
    | VelpicIltSessionWriter
    | VelpicIltRegistrationWriter
    | VelpicIltAttendanceWriter
):
    if entity == "ilt_session" and mode in ("create", "update"):
        return VelpicIltSessionWriter(mode)
    if entity == "ilt_registration" and mode == "create":
        return VelpicIltRegistrationWriter()
    if entity == "ilt_attendance" and mode == "create":
        return VelpicIltAttendanceWriter()
    if entity == "lesson_schedule" and mode == "create":
        return VelpicScheduleWriter()
    if entity == "lesson_completion" and mode == "create":
        return VelpicCompletionWriter()
    if entity == "user" and mode == "bulk":
        return VelpicBulkUsers(match)
    if entity == "user" and mode in ("create", "update"):
        return VelpicUserWriter(mode, match)
    if entity == "group" and mode in ("create", "update"):
        return VelpicGroupWriter(mode)
    if entity == "group_member" and mode == "create":
        return VelpicMemberWriter("add_members")
    if entity == "group_supervisor" and mode == "create":
        return VelpicMemberWriter("add_supervisors")
    raise EngineSupportError(f"the Velpic connector cannot write {entity!r} in mode {mode!r} yet")
