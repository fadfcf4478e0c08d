"""Velpic emulator: one tenant (client account) — its tables, the indexes the hot paths need, and the
record operations that keep users, group memberships and lesson schedules consistent.

User records are stored in their wire shape (UserBasic), so a GET answers with the stored dict as is.
Indexes (email, userName — case-folded; employee number — exact) hold ids in ascending order, so that the
lowest id wins when several users match (bulkUserImport). List queries are cached until the next user write,
so that paging a static source tenant costs O(page), not O(users).
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from migrator.sandbox.platform import Context
from migrator.sandbox.store import Record, Table
from migrator.sandbox.velpic_format import (
    ACTIVE,
    bad_request,
    group_date,
    meta,
    not_found,
    page_params,
    schedule_date,
    user_date,
)

PLATFORM = "velpic"
TIME_ZONE = "Australia/Perth"
USER_KEYS = ("emailAddress", "employeeNumber", "userName")
# Lesson-schedule statusId: 94 = completed is [DOC] (example); the others are [ASSUMED].
SCHEDULE_STATUS_IDS = {"scheduled": 91, "due": 92, "overdue": 93, "completed": 94, "cancelled": 95}
SCHEDULE_STATUSES = frozenset(SCHEDULE_STATUS_IDS)
OPEN_STATUSES = frozenset({"scheduled", "due", "overdue"})
MANUAL_COMPLETION = 77  # completionTypeId of the document's example
AUTOMATIC_TYPE = 81  # typeId of the document's example ("automatic")
CREATE_LAG = 0.005  # seconds from createdDate to modifiedDate in the document's create answer


def fold(value: Any) -> str | None:
    """Case-insensitive index key (email, userName); None for empty values."""
    if not isinstance(value, str):
        return None
    text = value.strip().casefold()
    return text or None


def exact(value: Any) -> str | None:
    """Exact index key (employee number); None for empty values."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _index_add(index: dict[str, list[int]], key: str | None, uid: int) -> None:
    if key is None:
        return
    ids = index.get(key)
    if ids is None:
        index[key] = [uid]
    elif uid > ids[-1]:
        ids.append(uid)
    elif uid not in ids:
        bisect.insort(ids, uid)


def _index_remove(index: dict[str, list[int]], key: str | None, uid: int) -> None:
    if key is None:
        return
    ids = index.get(key)
    if ids is None:
        return
    if uid in ids:
        ids.remove(uid)
    if not ids:
        del index[key]


class VelpicTenant:
    """The state of one client account (``source`` or ``target``)."""

    def __init__(self, name: str, ctx: Context, *, client_id: int, id_base: int) -> None:
        self.name = name
        self.ctx = ctx
        self.client_id = client_id
        self.client_name = f"Sandbox {name.title()} Pty Ltd"
        self.users = Table("user", USER_KEYS, first_id=id_base + 1)
        self.groups = Table("group", ("name",), first_id=id_base // 1000 + 1)
        self.lessons = Table("lesson", ("name",), first_id=id_base // 10000 + 101)
        self.schedules = Table("lesson_schedule", ("userLessonKey",), first_id=id_base + 1)
        self.sessions = Table("ilt_session", first_id=id_base // 1000 + 1)
        self.attendees = Table("ilt_attendee", ("sessionUserKey",), first_id=id_base + 1)
        self.tables: dict[str, Table] = {
            t.entity: t
            for t in (self.users, self.groups, self.lessons, self.schedules, self.sessions, self.attendees)
        }
        self.by_email: dict[str, list[int]] = {}
        self.by_username: dict[str, list[int]] = {}
        self.by_emp: dict[str, list[int]] = {}
        self.members: dict[int, dict[int, None]] = {}  # group id → member user ids (ordered set)
        self.supervisors: dict[int, dict[int, None]] = {}  # group id → supervisor user ids
        self.group_refs: dict[int, dict[str, int]] = {}  # shared {"id": g} objects of users' group lists
        self.lesson_by_version: dict[int, int] = {}  # lessonVersionId → lessonId
        self.schedules_of: dict[int, list[int]] = {}  # user id → schedule ids
        self.attendees_of: dict[int, dict[int, int]] = {}  # session id → user id → attendee id
        self.user_lists: dict[tuple[Any, ...], list[Record]] = {}
        self.name_counters: dict[str, int] = {}
        self.login_tokens = 0

    # -- options and time -------------------------------------------------------------------------------------
    def opt(self, name: str, default: Any) -> Any:
        return self.ctx.option(PLATFORM, name, default)

    def flag(self, name: str, default: bool) -> bool:
        """A boolean option; strings from the command line (``true``, ``1``, ``yes``, ``on``) count too."""
        value = self.opt(name, default)
        if isinstance(value, str):
            return value.strip().casefold() in ("1", "true", "yes", "on")
        return bool(value)

    def paging(self, query: Mapping[str, str]) -> tuple[int, int]:
        """``(startIndex, maxResults)`` of a list request (0 = no limit); with option ``max_page_size`` N a
        list answers at most N rows, whatever ``maxResults`` asks (no largest page is documented)."""
        start, asked = page_params(query, int(self.opt("default_max_results", 0)))
        cap = int(self.opt("max_page_size", 0))
        return start, min(asked or cap, cap) if cap else asked

    def meta(self, total: int, start: int, count: int) -> dict[str, Any]:
        return meta(total, start, count, inclusive=self.opt("end_index", "exclusive") == "inclusive")

    def now(self) -> float:
        return self.ctx.clock.now()

    def user_now(self) -> str:
        return user_date(self.now(), millis=self.opt("user_date_format", "offset") == "millis")

    def created_stamps(self, when: float, fmt: Callable[[float], str]) -> tuple[str, str]:
        """``(createdDate, modifiedDate)`` of a record created at ``when``, in the format ``fmt``: equal, or
        with ``created_modified = later`` the modification 5 ms after the creation, as in the document's create
        answer (``.632Z`` / ``.637Z``) — in a format without milliseconds, the next second [ASSUMED]."""
        created = fmt(when)
        if self.opt("created_modified", "equal") != "later":
            return created, created
        modified = fmt(when + CREATE_LAG)
        return created, modified if modified != created else fmt(when + 1)

    # -- users ------------------------------------------------------------------------------------------------
    def user(self, uid: int | None) -> Record:
        rec = self.users.records.get(uid) if uid is not None else None
        if rec is None:
            raise not_found(f"User with id {uid} not found in this account.")
        return rec

    def index_user(self, rec: Record) -> None:
        uid = rec["id"]
        _index_add(self.by_email, fold(rec.get("emailAddress")), uid)
        _index_add(self.by_username, fold(rec.get("userName")), uid)
        _index_add(self.by_emp, exact(rec.get("employeeNumber")), uid)

    def lowest_match(self, merge_type: str, row: Record) -> int | None:
        """The lowest-id user matching ``row`` on the mergeType field, else None."""
        if merge_type == "email":
            ids = self.by_email.get(fold(row.get("emailAddress")) or "")
        elif merge_type == "userName":
            ids = self.by_username.get(fold(row.get("userName")) or "")
        elif merge_type == "empNo":
            ids = self.by_emp.get(exact(row.get("employeeNumber")) or "")
        else:
            return None
        return ids[0] if ids else None

    def check_groups(self, gids: list[int], field: str) -> None:
        for gid in gids:
            if gid not in self.groups.records:
                raise bad_request(f"{field}: group with id {gid} not found in this account.")

    def new_user_name(self, first: str, last: str) -> str:
        """A generated userName (``firstlast``, with a number when taken) [ASSUMED]."""
        folded = unicodedata.normalize("NFKD", f"{first}{last}".casefold())
        base = "".join(ch for ch in folded if ch.isascii() and ch.isalnum()) or "user"
        n = self.name_counters.get(base, 1)
        candidate = base if n == 1 else f"{base}{n}"
        while candidate in self.by_username:
            n += 1
            candidate = f"{base}{n}"
        self.name_counters[base] = n
        return candidate

    def create_user(self, fields: Record) -> Record:
        """Create a user from validated ``fields`` (groups / groupsSupervised as lists of ids)."""
        uid = self.users.next_id()
        millis = self.opt("user_date_format", "offset") == "millis"
        created, modified = self.created_stamps(self.now(), partial(user_date, millis=millis))
        user_name = fields.get("userName") or self.new_user_name(fields["firstName"], fields["lastName"])
        rec: Record = {
            "id": uid,
            "userName": user_name,
            "firstName": fields["firstName"],
            "lastName": fields["lastName"],
            "emailAddress": fields["emailAddress"],
            "phoneNumber": fields.get("phoneNumber"),
            "mobileNumber": fields.get("mobileNumber"),
            "employeeNumber": fields.get("employeeNumber"),
            "clientStatusId": ACTIVE,
            "active": True,
            "groups": [],
            "groupsSupervised": [],
            "roles": fields.get("roles") or [6],
            "timeZone": fields.get("timeZone") or TIME_ZONE,
            "clientId": self.client_id,
            "createdDate": created,
            "modifiedDate": modified,
        }
        self.users.create(uid, rec)
        self.index_user(rec)
        if fields.get("groups"):
            self.set_memberships(rec, fields["groups"], supervised=False)
        if fields.get("groupsSupervised"):
            self.set_memberships(rec, fields["groupsSupervised"], supervised=True)
        self.user_lists.clear()
        return rec

    def update_user(self, rec: Record, changes: Record) -> Record:
        """Apply ``changes`` (groups / groupsSupervised as lists of ids), keeping indexes consistent."""
        uid = rec["id"]
        groups = changes.pop("groups", None)
        supervised = changes.pop("groupsSupervised", None)
        for field, index, key in (
            ("emailAddress", self.by_email, fold),
            ("userName", self.by_username, fold),
            ("employeeNumber", self.by_emp, exact),
        ):
            if field in changes and key(changes[field]) != key(rec.get(field)):
                _index_remove(index, key(rec.get(field)), uid)
                _index_add(index, key(changes[field]), uid)
        changes["modifiedDate"] = self.user_now()
        self.users.update(uid, changes)
        if groups is not None:
            self.set_memberships(rec, groups, supervised=False)
        if supervised is not None:
            self.set_memberships(rec, supervised, supervised=True)
        self.user_lists.clear()
        return rec

    def set_status(self, rec: Record, status_id: int) -> None:
        self.users.update(
            rec["id"],
            {"clientStatusId": status_id, "active": status_id == ACTIVE, "modifiedDate": self.user_now()},
        )
        self.user_lists.clear()

    # -- memberships ------------------------------------------------------------------------------------------
    def group_ref(self, gid: int) -> dict[str, int]:
        ref = self.group_refs.get(gid)
        if ref is None:
            ref = self.group_refs[gid] = {"id": gid}
        return ref

    def set_memberships(self, rec: Record, gids: list[int], *, supervised: bool) -> None:
        """Make ``rec`` a member (or supervisor) of exactly ``gids``."""
        field = "groupsSupervised" if supervised else "groups"
        wanted = dict.fromkeys(gids)
        for ref in list(rec[field]):
            if ref["id"] not in wanted:
                self.remove_membership(ref["id"], rec, supervised=supervised)
        for gid in wanted:
            self.add_membership(gid, rec, supervised=supervised)

    def add_membership(self, gid: int, rec: Record, *, supervised: bool) -> None:
        table = self.supervisors if supervised else self.members
        ids = table.setdefault(gid, {})
        uid = rec["id"]
        if uid in ids:
            return
        ids[uid] = None
        field = "groupsSupervised" if supervised else "groups"
        rec[field] = [*rec[field], self.group_ref(gid)]  # lists may be shared by seeding: never mutate
        if not supervised:
            self.groups.records[gid]["memberCount"] = len(ids)

    def remove_membership(self, gid: int, rec: Record, *, supervised: bool) -> None:
        table = self.supervisors if supervised else self.members
        ids = table.get(gid)
        uid = rec["id"]
        if ids is None or uid not in ids:
            return
        del ids[uid]
        field = "groupsSupervised" if supervised else "groups"
        rec[field] = [ref for ref in rec[field] if ref["id"] != gid]
        if not supervised:
            self.groups.records[gid]["memberCount"] = len(ids)

    # -- groups -----------------------------------------------------------------------------------------------
    def create_group(self, name: str, description: str, parent_id: int | None) -> Record:
        gid = self.groups.next_id()
        rec: Record = {
            "id": gid,
            "name": name,
            "parentId": parent_id,
            "description": description,
            "memberCount": 0,
            "createdDate": group_date(self.now()),
            "clientId": self.client_id,
            "active": True,
        }
        return self.groups.create(gid, rec)

    # -- lessons and schedules ----------------------------------------------------------------------------
    def lesson_by_version_id(self, version_id: Any) -> Record | None:
        lesson_id = self.lesson_by_version.get(version_id) if isinstance(version_id, int) else None
        return self.lessons.records.get(lesson_id) if lesson_id is not None else None

    def user_schedules(self, uid: int) -> list[Record]:
        records = self.schedules.records
        return [records[sid] for sid in self.schedules_of.get(uid, ())]

    def create_schedule(
        self,
        uid: int,
        lesson: Record,
        *,
        start: float,
        end: float | None,
        status: str,
        completed: float | None = None,
        completed_by: int | None = None,
    ) -> Record:
        sid = self.schedules.next_id()
        stamp = schedule_date(self.now())
        done = schedule_date(completed) if completed is not None else None
        rec: Record = {
            "id": sid,
            "userId": uid,
            "lessonId": lesson["lessonId"],
            "lessonVersionId": lesson["lessonVersionId"],
            "userLessonKey": f"{uid}:{lesson['lessonId']}",
            "status": status,
            "startDate": schedule_date(start),
            "endDate": schedule_date(end) if end is not None else None,
            "lessonStartedDate": done,
            "lessonCompletedDate": done,
            "lessonCompletedBy": completed_by,
            "completionTypeId": MANUAL_COMPLETION if completed_by is not None else None,
            "progress": lesson["duration"] if done else 0,
            "createdDate": stamp,
            "modifiedDate": stamp,
        }
        self.schedules.create(sid, rec)
        self.schedules_of.setdefault(uid, []).append(sid)
        return rec

    def complete_schedule(self, rec: Record, when: float, by: int | None) -> None:
        lesson = self.lessons.records.get(rec["lessonId"])
        done = schedule_date(when)
        self.schedules.update(
            rec["id"],
            {
                "status": "completed",
                "lessonStartedDate": rec.get("lessonStartedDate") or done,
                "lessonCompletedDate": done,
                "lessonCompletedBy": by,
                "completionTypeId": MANUAL_COMPLETION if by is not None else rec.get("completionTypeId"),
                "progress": lesson["duration"] if lesson else rec.get("progress"),
                "modifiedDate": schedule_date(self.now()),
            },
        )

    def _full_name(self, uid: Any) -> str | None:
        rec = self.users.records.get(uid)
        return f"{rec['firstName']} {rec['lastName']}" if rec else None

    def schedule_item(self, rec: Record) -> Record:
        """The item shape of ``GET /user/{userId}/lesson_schedule`` [DOC]."""
        lesson = self.lessons.records.get(rec["lessonId"]) or {}
        user = self.users.records.get(rec["userId"]) or {}
        version_id = rec["lessonVersionId"]
        return {
            "lessonName": lesson.get("name"),
            "lessonId": rec["lessonId"],
            "lessonVersionId": version_id,
            "version": lesson.get("version"),
            "userId": rec["userId"],
            "startDate": rec["startDate"],
            "endDate": rec["endDate"],
            "lessonStartedDate": rec["lessonStartedDate"],
            "lessonCompletedDate": rec["lessonCompletedDate"],
            "userFirstName": user.get("firstName"),
            "userLastName": user.get("lastName"),
            "lessonDuration": lesson.get("duration"),
            "progress": rec["progress"],
            "chapterCount": lesson.get("chapterCount", 1),
            "questionnaireType": lesson.get("questionnaireType"),
            "questionCount": lesson.get("questionCount", 0),
            "scheduleType": "automatic",
            "typeId": AUTOMATIC_TYPE,
            "thumbnailId": version_id,
            "lessonThumbnail": f"https://app.velpic.com/downloads/lessons/{version_id}/thumbnail.png",
            "status": rec["status"],
            "statusId": SCHEDULE_STATUS_IDS[rec["status"]],
            "completionTypeId": rec["completionTypeId"],
            "lessonCompletedBy": rec["lessonCompletedBy"],
            "lessonCompletedByName": self._full_name(rec["lessonCompletedBy"]),
            "lessonEvolution": 129,
            "id": rec["id"],
            "createdDate": rec["createdDate"],
            "modifiedDate": rec["modifiedDate"],
        }

    def schedule_detail(self, rec: Record) -> Record:
        """The shape of ``GET /lesson_schedule/{id}`` [DOC]."""
        lesson = self.lessons.records.get(rec["lessonId"]) or {}
        user = self.users.records.get(rec["userId"]) or {}
        item = self.schedule_item(rec)
        uid = rec["userId"]
        supervisor_ids: dict[int, None] = {}
        for ref in user.get("groups", ()):
            supervisor_ids.update(self.supervisors.get(ref["id"], {}))
        return {
            "startDate": rec["startDate"],
            "endDate": rec["endDate"],
            "active": rec["status"] in OPEN_STATUSES,
            "userId": uid,
            "clientId": self.client_id,
            "clientName": self.client_name,
            "lessonVersionId": rec["lessonVersionId"],
            "lessonId": rec["lessonId"],
            "version": lesson.get("version"),
            "lessonName": lesson.get("name"),
            "lessonDuration": lesson.get("duration"),
            "lessonEvolution": 129,
            "thumbnailId": item["thumbnailId"],
            "lessonThumbnail": item["lessonThumbnail"],
            "lessonStartedDate": rec["lessonStartedDate"],
            "lessonCompletedDate": rec["lessonCompletedDate"],
            "lessonCompletedBy": rec["lessonCompletedBy"],
            "lessonCompletedByName": item["lessonCompletedByName"],
            "reminders": [],
            "questionResults": [],
            "questionCount": item["questionCount"],
            "questionnaireType": lesson.get("questionnaireType"),
            "userFirstName": user.get("firstName"),
            "userLastName": user.get("lastName"),
            "userUserName": user.get("userName"),
            "userEmployeeNumber": user.get("employeeNumber"),
            "userGroups": list(user.get("groups", ())),
            "supervisors": [{"id": sid} for sid in supervisor_ids if sid != uid],
            "published": lesson.get("published", 65),
            "completionTypeId": rec["completionTypeId"],
            "typeId": AUTOMATIC_TYPE,
            "questionnairePassRate": 80,
            "progress": rec["progress"],
            "scheduleOverEmailAttempted": True,
            "overdueEmailAttempted": rec["status"] == "overdue",
            "movieId": rec["lessonVersionId"],
            "moviePhysicalURI": f"download/lessons/{rec['lessonId']}/movieFile.mp4",
            "movieSizeInBytes": (lesson.get("duration") or 0) * 50,
            "chapterCount": item["chapterCount"],
            "id": rec["id"],
            "createdDate": rec["createdDate"],
            "modifiedDate": rec["modifiedDate"],
        }
