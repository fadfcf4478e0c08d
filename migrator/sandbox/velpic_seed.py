"""Velpic emulator: seeding a tenant from a ``Population`` (fast path: dicts built directly, no validation).

``source`` gets the lesson catalogue, one group per organisation (members, supervisors), every person as a
user, and one lesson schedule per enrolment. ``target`` gets only the catalogue a real account already has:
the same lessons (same names) under its own ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from migrator.sandbox.generator import Population
from migrator.sandbox.store import Record
from migrator.sandbox.velpic_format import ACTIVE, NOT_CURRENT, iso_z_to_schedule, iso_z_to_user
from migrator.sandbox.velpic_state import TIME_ZONE, VelpicTenant

CATALOGUE_DATE = "2023-06-01T09:00:00+0000"
GROUP_DATE = "2023-06-01 09:00:00"
DEFAULT_GRACE = timedelta(days=14)
# generator role → Velpic role ids [ASSUMED mapping]; admins alternate ADMIN and EDITOR, and the first admin is
# the account's one OWNER, so the source holds every role (``role_ids``)
ROLE_IDS: dict[str, list[int]] = {"learner": [6], "assessor": [5, 8], "admin": [3, 6], "employer": [5]}
EDITOR_ROLES, OWNER_ROLES = [4, 6], [7]
# generator enrolment status → lesson-schedule status
SCHEDULE_STATUS = {
    "completed": "completed",
    "scheduled": "scheduled",
    "overdue": "overdue",
    "cancelled": "cancelled",
}


def lesson_ids(tenant: str, idx: int) -> tuple[int, int]:
    """``(lessonId, lessonVersionId)`` of course ``idx``: each tenant numbers its catalogue differently."""
    if tenant == "source":
        return 101 + idx, 1201 + idx
    return 501 + idx, 5201 + idx


def seed_lessons(state: VelpicTenant, population: Population) -> None:
    for course in population.courses:
        lesson_id, version_id = lesson_ids(state.name, course.idx)
        state.lessons.load(
            lesson_id,
            {
                "lessonVersionId": version_id,
                "lessonId": lesson_id,
                "name": course.name,
                "duration": course.duration_ms,
                "status": "active",
                "inLibrary": False,
                "version": 1 + course.idx % 3,
                "questionnaireType": 18,
                "clientId": state.client_id,
                "lessonVersionCustomFields": [],
                "published": 65,
                "chapterCount": 1 + course.idx % 5,
                "questionCount": course.idx % 9,
                "createdDate": CATALOGUE_DATE,
                "modifiedDate": CATALOGUE_DATE,
            },
        )
        state.lesson_by_version[version_id] = lesson_id


def role_ids(population: Population) -> list[list[int]]:
    """Each person's Velpic roles, by person index: ``ROLE_IDS`` of their role, every other admin an EDITOR
    instead, and the first admin the OWNER."""
    roles = [ROLE_IDS[person.role] for person in population.people]
    admins = [person.idx for person in population.people if person.role == "admin"]
    for n, idx in enumerate(admins):
        roles[idx] = OWNER_ROLES if n == 0 else EDITOR_ROLES if n % 2 == 0 else roles[idx]
    return roles


def seed_source(state: VelpicTenant, population: Population, *, millis: bool) -> None:
    seed_lessons(state, population)
    group_base = state.groups.next_id()
    for org in population.orgs:
        gid = group_base + org.idx
        state.groups.load(
            gid,
            {
                "id": gid,
                "name": org.name,
                "parentId": None if org.parent is None else group_base + org.parent,
                "description": f"{org.name} ({org.code}), {org.town}",
                "memberCount": 0,
                "createdDate": GROUP_DATE,
                "clientId": state.client_id,
                "active": True,
            },
        )
        state.members[gid] = {}
        state.supervisors[gid] = {}
    # one shared [{"id": g}] list per group: users' lists are replaced, never mutated
    member_lists = {org.idx: [state.group_ref(group_base + org.idx)] for org in population.orgs}
    supervised_of: dict[int, list[int]] = {}
    for org_idx, person_idxs in population.supervisors.items():
        for p in person_idxs:
            supervised_of.setdefault(p, []).append(org_idx)

    user_base = state.users.next_id()
    records = state.users.records
    members, supervisors = state.members, state.supervisors
    by_email, by_username, by_emp = state.by_email, state.by_username, state.by_emp
    client_id = state.client_id
    roles = role_ids(population)
    empty: list[Record] = []
    for person in population.people:
        uid = user_base + person.idx
        created = iso_z_to_user(person.created, millis=millis)
        email = person.email or ""
        gid = group_base + person.org
        supervised = supervised_of.get(person.idx)
        records[uid] = {
            "id": uid,
            "userName": person.username,
            "firstName": person.first_name,
            "lastName": person.last_name,
            "emailAddress": email,
            "phoneNumber": person.phone,
            "mobileNumber": person.mobile,
            "employeeNumber": person.employee_number,
            "clientStatusId": ACTIVE if person.active else NOT_CURRENT,
            "active": person.active,
            "groups": member_lists[person.org],
            "groupsSupervised": [state.group_ref(group_base + o) for o in supervised] if supervised else empty,
            "roles": roles[person.idx],
            "timeZone": TIME_ZONE,
            "clientId": client_id,
            "createdDate": created,
            "modifiedDate": created,
        }
        members[gid][uid] = None
        if supervised:
            for o in supervised:
                supervisors[group_base + o][uid] = None
        key = email.strip().casefold()
        if key:
            ids = by_email.get(key)
            if ids is None:
                by_email[key] = [uid]
            else:
                ids.append(uid)
        by_username[person.username.casefold()] = [uid]
        by_emp[person.employee_number] = [uid]
    if population.people:
        state.users.load(
            user_base + len(population.people) - 1, records[user_base + len(population.people) - 1]
        )
    for gid, member_ids in members.items():
        state.groups.records[gid]["memberCount"] = len(member_ids)
    seed_schedules(state, population, user_base)


def seed_schedules(state: VelpicTenant, population: Population, user_base: int) -> None:
    records = state.schedules.records
    schedules_of = state.schedules_of
    sid = state.schedules.next_id()
    lessons = [state.lessons.records[lesson_ids(state.name, c.idx)[0]] for c in population.courses]
    end_of: dict[str, str] = {}
    for enrolment in population.enrollments:
        uid = user_base + enrolment.person
        lesson = lessons[enrolment.course]
        start = enrolment.start_date
        end = end_of.get(start)
        if end is None:
            end_dt = datetime.fromisoformat(start) + DEFAULT_GRACE
            end = end_of[start] = end_dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        done = iso_z_to_schedule(enrolment.completed_date) if enrolment.completed_date else None
        status = SCHEDULE_STATUS[enrolment.status]
        created = iso_z_to_schedule(start)
        records[sid] = {
            "id": sid,
            "userId": uid,
            "lessonId": lesson["lessonId"],
            "lessonVersionId": lesson["lessonVersionId"],
            "userLessonKey": f"{uid}:{lesson['lessonId']}",
            "status": status,
            "startDate": created,
            "endDate": end,
            "lessonStartedDate": done,
            "lessonCompletedDate": done,
            "lessonCompletedBy": None,
            "completionTypeId": None,
            "progress": lesson["duration"] if done else 0,
            "createdDate": created,
            "modifiedDate": done or created,
        }
        ids = schedules_of.get(uid)
        if ids is None:
            schedules_of[uid] = [sid]
        else:
            ids.append(sid)
        sid += 1
    if population.enrollments:
        state.schedules.load(sid - 1, records[sid - 1])


def seed_target(state: VelpicTenant, population: Population) -> None:
    seed_lessons(state, population)
