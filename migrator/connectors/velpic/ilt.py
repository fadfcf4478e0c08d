"""Velpic instructor-led training (ILT): sessions, registrations, attendance.

- ``GET /ilt_session`` (``VelpicIltSessionReader``), paged like the other lists.
- ``POST /ilt_session`` (``VelpicIltSessionCreate``) and ``PATCH /ilt_session/{iltSessionId}``
  (``VelpicIltSessionUpdate``), one session per call; dates in the ILT format
  ``2018-05-19T01:00:06.000+0800`` (``parse_ilt_date``, checked by ``validate_ilt_session``).
- ``POST /ilt_session/{iltSessionId}/bulk_register`` (``VelpicIltRegistrationWriter``): users to a session.
- ``POST /ilt_session/{iltSessionId}/save_progress`` (``VelpicIltAttendanceWriter``): passed / attended per
  attendee, whose attendee id may first be read from ``GET /ilt_session/{iltSessionId}/attendees``
  (``attendees_request``, ``attendee_ids``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from migrator.connectors.base import Action, Request, Response, RowResult, WriteItem
from migrator.connectors.velpic.calls import (
    ONE_PAGE,
    error_text,
    id_list,
    listed,
    more_than_a_page,
    rejected,
    request,
)
from migrator.connectors.velpic.lists import VelpicReader, list_spec
from migrator.connectors.velpic.spec import ILT_ATTENDEES, VELPIC
from migrator.connectors.velpic.userids import UserIdsWriter

__all__ = [
    "ILT_DATE_FORMAT",
    "VelpicIltAttendanceWriter",
    "VelpicIltRegistrationWriter",
    "VelpicIltSessionCreate",
    "VelpicIltSessionReader",
    "VelpicIltSessionUpdate",
    "VelpicIltSessionWriter",
    "attendee_ids",
    "attendees_request",
    "parse_ilt_date",
    "validate_ilt_session",
]

_SESSION = VELPIC.entities["ilt_session"]
_CREATE, _UPDATE = _SESSION.writes["create"], _SESSION.writes["update"]
_LIST = list_spec("ilt_session").endpoint
_PROGRESS = VELPIC.entities["ilt_attendance"].writes["create"]
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
    ids = id_list(value)
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


# -- sessions -------------------------------------------------------------------------------------------------
class VelpicIltSessionReader(VelpicReader):
    """``GET /ilt_session``; filters ``lessonScheduleId``, ``state``, ``status``, ``instructorId`` as query
    parameters."""

    def __init__(self, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        super().__init__("ilt_session", filters, page_size, step)


class VelpicIltSessionWriter:
    """What the session create and update share: ``prepare`` checks the body with ``validate_ilt_session``
    (a wrong date is a rejection with the reason, not a 400)."""

    mode: str

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        body = dict(item.payload)
        problems = validate_ilt_session(body, self.mode)
        if problems:
            return rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, body, item.match_value)


class VelpicIltSessionCreate(VelpicIltSessionWriter):
    """``POST /ilt_session`` with ``lessonId, startDatetime*, endDatetime*, location*, instructorId*, notes``;
    the answer is the list-item shape with the new ``id``.

    Create-only: a session in doubt is looked up among the instructor's sessions (``GET
    /ilt_session?instructorId=``) by ``lessonId`` and the same start instant (Velpic answers dates in the
    account's zone, so the text may differ).
    """

    mode = "create"
    max_batch = _CREATE.max_batch
    idempotent = False
    match_fields: tuple[str, ...] = ("instructorId", "lessonId", "startDatetime")

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [(request(_CREATE.endpoint, json=it.payload), [it]) for it in items]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            body = response.json() or {}
            target = body.get("id") if isinstance(body, dict) else None
            return [
                RowResult(
                    item.idem_key, ok=True, target_id=None if target is None else str(target), action="created"
                )
            ]
        return [rejected(item, {"row": [error_text(response)]}, response.status)]

    def comparable(self, field: str, value: Any) -> Any:
        """A start time as its instant in UTC (the same session, whatever zone its text is in); the other
        match fields as they are."""
        if field != "startDatetime":
            return value
        start = parse_ilt_date(value)
        return None if start is None else start.astimezone(UTC).isoformat()

    def lookup_request(self, item: WriteItem) -> Request | None:
        instructor = item.payload.get("instructorId")
        if instructor in (None, ""):
            return None
        return request(_LIST, params=(("instructorId", str(instructor)), *ONE_PAGE))

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        start = parse_ilt_date(item.payload.get("startDatetime"))
        lesson = item.payload.get("lessonId")
        sessions, complete = listed(response)
        for session in sessions:
            if session.get("lessonId") != lesson:
                continue
            if start is not None and parse_ilt_date(session.get("startDatetime")) == start:
                return str(session.get("id"))
        if not complete:
            raise more_than_a_page(
                f"the ILT sessions of instructor {item.payload.get('instructorId')}",
                "the session in doubt is not on that page, so the step cannot tell whether it was created",
                response,
            )
        return None


class VelpicIltSessionUpdate(VelpicIltSessionWriter):
    """``PATCH /ilt_session/{iltSessionId}`` at the payload's ``id`` with ``instructorId*, location*,
    statusId, notes, numberOfPlaces``; the answer is the full session."""

    mode = "update"
    max_batch = _UPDATE.max_batch
    idempotent = True
    id_field = "id"
    match_fields: tuple[str, ...] = ()

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [
            (
                request(
                    _UPDATE.endpoint,
                    it.payload[self.id_field],
                    json={k: v for k, v in it.payload.items() if k != self.id_field},
                ),
                [it],
            )
            for it in items
        ]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            body = response.json() or {}
            target = body.get("id") if isinstance(body, dict) else None
            if target is None:
                target = item.payload.get(self.id_field)
            return [
                RowResult(
                    item.idem_key, ok=True, target_id=None if target is None else str(target), action="updated"
                )
            ]
        return [rejected(item, {"row": [error_text(response)]}, response.status)]


# -- registrations and attendance -----------------------------------------------------------------------------
def _session_id(body: dict[str, Any], problems: dict[str, list[str]]) -> None:
    _one_id(body, "sessionId", problems, required=False)
    if body.get("sessionId") is None and "sessionId" not in problems:
        problems["sessionId"] = ["sessionId is required (map it through the ILT sessions' crosswalk)"]


class VelpicIltRegistrationWriter(UserIdsWriter):
    """Registers users to a session: a record maps ``sessionId`` and ``userIds`` (one id or a list). The users
    must already hold a schedule of the session's lesson: a refusal (4xx) is a rejection with Velpic's reason.
    Registering a registered user again changes nothing (no second attendee); each session's attendees are
    read before its first registration (``GET /ilt_session/{iltSessionId}/attendees``: see
    ``UserIdsWriter``)."""

    parent_key = "sessionId"
    user_field = "userId"

    def __init__(self) -> None:
        super().__init__("ilt_registration", ILT_ATTENDEES)

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        body = dict(item.payload)
        problems: dict[str, list[str]] = {}
        _session_id(body, problems)
        raw = body.get("userIds")
        users = [u for u in (raw if isinstance(raw, list) else [raw]) if u not in (None, "")]
        ids = id_list(users) if users else []
        if ids is None:
            problems["userIds"] = [f"userIds must be Velpic user ids; got {raw!r}"]
        elif not ids:
            problems["userIds"] = ["userIds is required (map it through the users' crosswalk)"]
        if problems or ids is None:
            return rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, {"sessionId": body["sessionId"], "userIds": ids})


def attendees_request(session_id: int | str) -> Request:
    """``GET /ilt_session/{iltSessionId}/attendees`` in one page (``ONE_PAGE``)."""
    return request(ILT_ATTENDEES, session_id, params=ONE_PAGE)


def attendee_ids(response: Response, session_id: int | str) -> dict[int, int]:
    """User id → attendee id, from a ``GET /ilt_session/{iltSessionId}/attendees`` answer (empty on an
    error); a session with more attendees than one page is an error, not users left out."""
    rows, complete = listed(response)
    if not complete:
        raise more_than_a_page(
            f"the attendees of ILT session {session_id}",
            "save their progress with attendees given by attendee id (attendees = [{id, passed, attended}])",
            response,
        )
    out: dict[int, int] = {}
    for row in rows:
        if isinstance(row.get("userId"), int) and isinstance(row.get("id"), int):
            out[row["userId"]] = row["id"]
    return out


class VelpicIltAttendanceWriter:
    """Saves progress: a record maps ``sessionId`` and ``attendees``, a list of ``{id, passed, attended}``
    where ``id`` is the ATTENDEE id (see ``attendee_ids``), not the user id. Saving the same progress again
    changes nothing, so a resend is safe.

    A record may instead map ``sessionId``, ``userId`` and ``passed``/``attended`` (what a source such as
    accessplanit bookings holds): the writer then reads the session's attendees before writing
    (``pre_lookups`` / ``apply_pre_lookups``) and turns the user id into the attendee id; a user not
    registered to the session is a rejection with that reason.
    """

    mode = "create"
    max_batch = _PROGRESS.max_batch
    idempotent = True
    match_fields: tuple[str, ...] = ()
    #: every progress saved is answered ``updated`` (``dryrun.SentAction``)
    sent_action: Action = "updated"

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
                return rejected(item, problems)
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
            return rejected(item, problems)
        return WriteItem(
            item.idem_key, item.source_key, {"sessionId": body["sessionId"], "attendees": attendees}
        )

    def pre_lookups(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        """One attendee list per session of the records given by user id."""
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
            ids = attendee_ids(response, its[0].payload["sessionId"])
            for it in its:
                attendee = ids.get(int(it.payload["userId"]))
                if attendee is None:
                    reason = (
                        f"user {it.payload['userId']} is not registered to ILT session "
                        f"{it.payload['sessionId']}: register them first (an ilt_registration step)"
                    )
                    resolved[it.idem_key] = rejected(it, {"userId": [reason]}, response.status)
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
                request(
                    _PROGRESS.endpoint, it.payload["sessionId"], json={"attendees": it.payload["attendees"]}
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
        return [rejected(item, {"row": [error_text(response)]}, response.status)]
