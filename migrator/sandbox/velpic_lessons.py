"""Velpic emulator: lessons, lesson schedules (schedule, list, get, manual completion, certificate) and the
embed player."""

from __future__ import annotations

import calendar
import hashlib
import time
from typing import Any

from aiohttp import web

from migrator.sandbox.store import Record
from migrator.sandbox.velpic_format import (
    ACTIVE,
    SCHEDULE_EXISTS,
    ApiError,
    bad_request,
    int_list,
    json_response,
    page,
    parse_date,
    path_id,
    read_object,
    schedule_not_found,
    user_date,
)
from migrator.sandbox.velpic_state import OPEN_STATUSES, SCHEDULE_STATUSES, VelpicTenant

LESSON_STATES = ("active", "inactive", "never", "rendering", "error")
PUBLISHED_STATES = frozenset({"active", "inactive"})  # "published or previously published"
LESSON_HIDDEN = frozenset({"published", "chapterCount", "questionCount"})
DETAIL_FIELDS = (
    "lessonVersionId",
    "lessonId",
    "name",
    "published",
    "duration",
    "status",
    "inLibrary",
    "version",
)
DAY = 86400.0
DUPLICATE_STATUSES = (409, 400, 200)


# -- lessons --------------------------------------------------------------------------------------------------
def _csv(request: web.Request, name: str) -> list[str]:
    return [part.strip() for raw in request.query.getall(name, []) for part in raw.split(",") if part.strip()]


def _lessons(t: VelpicTenant, request: web.Request) -> list[Record]:
    needle = (request.query.get("q") or "").casefold()
    try:
        ids = {int(v) for v in _csv(request, "lessonIds")}
    except ValueError:
        raise bad_request(
            f"lessonIds must be a comma-separated list of lesson ids, got {request.query_string!r}."
        ) from None
    states = _csv(request, "publishedStates")
    for state in states:
        if state not in LESSON_STATES:
            raise bad_request(f"publishedStates must be among {', '.join(LESSON_STATES)}; got {state!r}.")
    return [
        lesson
        for lesson in t.lessons
        if (not needle or needle in lesson["name"].casefold())
        and (not ids or lesson["lessonId"] in ids)
        and (not states or lesson["status"] in states)
    ]


def _page_meta(
    t: VelpicTenant, request: web.Request, items: list[Record]
) -> tuple[list[Record], dict[str, Any]]:
    start, max_results = t.paging(request.query)
    results = list(page(items, start, max_results))
    return results, t.meta(len(items), start, len(results))


async def list_lessons(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    results, info = _page_meta(t, request, _lessons(t, request))
    out = [{k: v for k, v in lesson.items() if k not in LESSON_HIDDEN} for lesson in results]
    return json_response({"results": out, "meta": info})


async def list_lesson_details(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    results, info = _page_meta(t, request, _lessons(t, request))
    out = [{**{k: lesson[k] for k in DETAIL_FIELDS}, "clientId": lesson["clientId"]} for lesson in results]
    stamp = user_date(t.now())
    info = {**info, "id": "null", "createdDate": stamp, "modifiedDate": stamp}
    return json_response(
        {"results": out, "meta": info, "createdDate": stamp, "modifiedDate": stamp, "id": "null"}
    )


# -- scheduling -----------------------------------------------------------------------------------------------
def add_months(ts: float, months: int) -> float:
    tm = time.gmtime(ts)
    month0 = tm.tm_mon - 1 + months
    year, month = tm.tm_year + month0 // 12, month0 % 12 + 1
    day = min(tm.tm_mday, calendar.monthrange(year, month)[1])
    return float(calendar.timegm((year, month, day, tm.tm_hour, tm.tm_min, tm.tm_sec))) + ts % 1


def _grace_end(t: VelpicTenant, body: Record, start: float) -> float:
    period, unit = body.get("gracePeriod"), body.get("gracePeriodUnit")
    if t.flag("grace_period_required", False) and (period is None or unit is None):
        raise bad_request("gracePeriod and gracePeriodUnit are required.")
    if period is None:
        return start + float(t.opt("default_grace_days", 14)) * DAY
    try:
        amount = int(period)
    except (TypeError, ValueError):
        raise bad_request(f'gracePeriod must be a whole number such as "14", got {period!r}.') from None
    if amount < 0:
        raise bad_request(f"gracePeriod must not be negative, got {period!r}.")
    if unit is None:
        raise bad_request("gracePeriodUnit is required when gracePeriod is given (days or months).")
    if unit == "days":
        return start + amount * DAY
    if unit == "months":
        return add_months(start, amount)
    raise bad_request(f"gracePeriodUnit must be days or months, got {unit!r}.")


def _duplicate_status(t: VelpicTenant) -> int:
    """The status of the documented ``{"error":"Lesson Schedule already exists"}``: the document gives the
    body, not a status; ``duplicate_schedule_status`` 409 (default), 400 or 200 [ASSUMED]."""
    status = t.opt("duplicate_schedule_status", 409)
    if status not in DUPLICATE_STATUSES:
        raise bad_request(
            f"velpic.duplicate_schedule_status must be one of {', '.join(map(str, DUPLICATE_STATUSES))}; "
            f"got {status!r}."
        )
    return int(status)


async def schedule_user(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    user = t.user(path_id(request, "userId"))
    body = await read_object(request)
    version_ids = int_list(body.get("lessonVersionIds"), "lessonVersionIds")
    if not version_ids:
        raise bad_request("lessonVersionIds must name at least one lesson version.")
    lessons: list[Record] = []
    for vid in version_ids:
        lesson = t.lesson_by_version_id(vid)
        if lesson is None:
            raise bad_request(f"lessonVersionIds: no lesson version {vid} in this account.")
        if lesson["status"] != "active":
            raise bad_request(
                f"Lesson version {vid} ({lesson['name']}) is {lesson['status']}; "
                "only active lessons can be scheduled."
            )
        lessons.append(lesson)
    now = t.now()
    start = now if body.get("scheduleDate") is None else parse_date(body["scheduleDate"], "scheduleDate")
    end = _grace_end(t, body, start)
    taken = {s["lessonId"] for s in t.user_schedules(user["id"]) if s["status"] != "cancelled"}
    for lesson in lessons:
        if lesson["lessonId"] in taken:
            raise ApiError(_duplicate_status(t), SCHEDULE_EXISTS)
        taken.add(lesson["lessonId"])
    status = "scheduled" if start > now else "due"
    ids = [
        t.create_schedule(user["id"], lesson, start=start, end=end, status=status)["id"] for lesson in lessons
    ]
    return json_response({"ids": ids})


async def list_user_schedules(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    user = t.user(path_id(request, "userId"))
    status = request.query.get("status") or "all"
    if status != "all" and status not in SCHEDULE_STATUSES:
        raise bad_request(f"status must be one of all, {', '.join(sorted(SCHEDULE_STATUSES))}; got {status!r}.")
    start, max_results = t.paging(request.query)
    items = [s for s in t.user_schedules(user["id"]) if status in ("all", s["status"])]
    return json_response({"results": [t.schedule_item(s) for s in page(items, start, max_results)]})


def _schedule(t: VelpicTenant, sid: int | None) -> Record:
    rec = t.schedules.records.get(sid) if sid is not None else None
    if rec is None:
        raise schedule_not_found()
    return rec


async def get_schedule(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    return json_response(t.schedule_detail(_schedule(t, path_id(request, "lessonScheduleId"))))


def _completion_lesson(t: VelpicTenant, body: Record) -> Record:
    lesson_id, version_id = body.get("lessonId"), body.get("lessonVersionId")
    if lesson_id is not None:
        lesson = t.lessons.records.get(lesson_id) if isinstance(lesson_id, int) else None
        what = f"lessonId {lesson_id!r}"
    elif version_id is not None:
        lesson = t.lesson_by_version_id(version_id)
        what = f"lessonVersionId {version_id!r}"
    else:
        raise bad_request("lessonId or lessonVersionId is required.")
    if lesson is None:
        raise bad_request(f"{what} is not a lesson of this account.")
    if lesson["status"] not in PUBLISHED_STATES:
        raise bad_request(f"{what} ({lesson['name']}) has never been published ({lesson['status']}).")
    return lesson


async def complete_lesson(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    user = t.user(path_id(request, "userId"))
    body = await read_object(request)
    lesson = _completion_lesson(t, body)
    completed = parse_date(body.get("completedDate"), "completedDate")
    by = body.get("manuallyCompletedByUserId")
    by_user = t.users.records.get(by) if isinstance(by, int) else None
    if by_user is None or by_user["clientStatusId"] != ACTIVE:
        raise bad_request(f"manuallyCompletedByUserId {by!r} must be the id of an active user of this account.")
    mine = [s for s in t.user_schedules(user["id"]) if s["lessonId"] == lesson["lessonId"]]
    open_ = [s for s in mine if s["status"] in OPEN_STATUSES]
    if open_:
        t.complete_schedule(open_[0], completed, by)
        return json_response({"ids": [open_[0]["id"]]})
    done = [s for s in mine if s["status"] == "completed"]
    if done and t.opt("complete_again", "create") == "existing":
        return json_response({"ids": [done[0]["id"]]})
    end = completed + float(t.opt("default_grace_days", 14)) * DAY
    rec = t.create_schedule(
        user["id"], lesson, start=completed, end=end, status="completed", completed=completed, completed_by=by
    )
    return json_response({"ids": [rec["id"]]})


#: the statuses that may refuse the certificate of a completed schedule that was not passed: the document gives
#: no status, only "for a passed completed lesson schedule" [ASSUMED] (``certificate_refused_status``)
REFUSED_STATUSES = (400, 403, 404)


def passed(t: VelpicTenant, rec: Record) -> bool:
    """Whether a completed schedule was passed. The seed holds no questionnaire results, so every completed
    schedule is passed unless ``certificate_failed_every`` is N > 0: then every schedule whose id is a multiple
    of N was failed [ASSUMED], so that a run meets completed schedules without a certificate."""
    every = int(t.opt("certificate_failed_every", 0))
    return every <= 0 or int(rec["id"]) % every != 0


def _pdf_text(value: object) -> str:
    """``value`` as the text of a PDF string literal: printable ASCII, with ``\\``, ``(`` and ``)`` escaped."""
    text = "".join(c if " " <= c <= "~" else "?" for c in str(value))
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def certificate_pdf(lines: list[str], title: str) -> bytes:
    """A minimal valid PDF 1.4 of one A4 page with ``lines`` of text: catalog, page tree, page, content stream,
    font and info dictionary, an ``xref`` table whose offsets are the objects' byte offsets, the trailer,
    ``startxref`` and ``%%EOF``."""
    text = ["BT", "/F1 14 Tf", "72 770 Td", "18 TL"]
    text += [f"({_pdf_text(line)}) '" for line in lines]
    text.append("ET")
    stream = "\n".join(text).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({_pdf_text(title)}) /Producer (migrator sandbox) >>".encode("ascii"),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _refused_status(t: VelpicTenant) -> int:
    status = t.opt("certificate_refused_status", 400)
    if status not in REFUSED_STATUSES:
        raise bad_request(
            f"velpic.certificate_refused_status must be one of {', '.join(map(str, REFUSED_STATUSES))}; "
            f"got {status!r}."
        )
    return int(status)


async def certificate(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    """The PDF certificate of a passed, completed schedule; a schedule not completed is refused with 400, one
    completed but not passed with ``certificate_refused_status``."""
    rec = _schedule(t, path_id(request, "lessonScheduleId"))
    if rec["status"] != "completed":
        raise bad_request(
            f"Lesson schedule {rec['id']} is {rec['status']}; only a completed schedule has a certificate."
        )
    if not passed(t, rec):
        raise ApiError(
            _refused_status(t),
            {
                "internalCode": 400,
                "error": f"Lesson schedule {rec['id']} was not passed: it has no certificate.",
            },
        )
    item = t.schedule_item(rec)
    learner = f"{item['userFirstName']} {item['userLastName']}"
    lines = [
        "Certificate of completion",
        f"Learner: {learner} (user {rec['userId']})",
        f"Lesson: {item['lessonName']} (lesson {rec['lessonId']}, version {rec['lessonVersionId']})",
        f"Lesson schedule: {rec['id']}",
        f"Completed: {rec['lessonCompletedDate']}",
    ]
    pdf = certificate_pdf(lines, f"Certificate {rec['id']}")
    return web.Response(body=pdf, content_type="application/pdf")


# -- embed player ---------------------------------------------------------------------------------------------
def _embed(t: VelpicTenant, request: web.Request, raw: str | None) -> web.StreamResponse:
    try:
        sid: int | None = int(raw) if raw else None
    except ValueError:
        sid = None
    rec = _schedule(t, sid)
    if rec["status"] == "completed":
        raise ApiError(400, {"internalCode": 837, "error": "This lesson schedule is completed"})
    if rec["status"] == "cancelled":
        raise ApiError(400, {"internalCode": 836, "error": "This lesson schedule is cancelled"})
    token = hashlib.sha256(f"{t.name}:{rec['id']}".encode()).hexdigest()[:32]
    return json_response(
        {"embedUrl": f"{request.scheme}://{request.host}/velpic/#player/{rec['id']}?embed=true&token={token}"}
    )


async def embed_player(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    return _embed(t, request, request.query.get("lessonScheduleId"))


async def embed_player_version(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    return _embed(t, request, request.match_info["lessonScheduleId"])
