"""accessplanit records from a ``Population``, and the string IDs the platform hands out. Pure (no I/O).

IDs are strings in the vendor's style: users ``exmp1`` (two letters of the forename and of the surname and a
counter), companies ``Example1`` (the first word of the name and a counter), courses ``FirAid`` (three letters
of the first two significant words of the name, as the document's ``CourseID eq 'FirAid'``), course dates and
bookings numbers (``2024``).
"""

from __future__ import annotations

import math
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from migrator.sandbox.accessplanit_schema import COMPANYGROUP, USERCOURSEDATE, Module
from migrator.sandbox.generator import Course, Population

Record = dict[str, Any]

ROLE_IDS = {"learner": "Delegate", "assessor": "Trainer", "admin": "Administrator", "employer": "Manager"}
BOOKING_STATUS = {
    "completed": "Completed",
    "scheduled": "Booked",
    "overdue": "NotAttended",
    "cancelled": "Cancelled",
}
LOCATIONS = ("Lancaster Training Centre", "Manchester Suite 2", "Leeds Room 4", "Online (Teams)", "On site")
SMALL_WORDS = frozenset({"at", "of", "the", "and", "to", "in", "on", "for", "a", "an", "level"})
SEAT_TARGET = 20  # bookings per seeded course date, roughly
SEED_EPOCH = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)


def fold(text: str) -> str:
    """``"Ó Súilleabháin"`` → ``"OSuilleabhain"``: accents folded, non-alphanumerics dropped."""
    folded = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("ø", "o").replace("ß", "ss"))
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum())


def user_stem(forenames: str, surname: str) -> str:
    stem = (fold(forenames)[:2] + fold(surname)[:2]).lower()
    return stem or "user"


def company_stem(name: str) -> str:
    words = [fold(w) for w in name.split()]
    return next((w for w in words if w), "Company")


def course_stem(name: str) -> str:
    words = [fold(w) for w in name.split()]
    significant = [w for w in words if w and w.casefold() not in SMALL_WORDS] or [w for w in words if w]
    return "".join(w[:3].capitalize() if w.islower() else w[:3] for w in significant[:2]) or "Course"


@dataclass
class IdAllocator:
    """Next free ``<stem><n>`` per stem (``exmp1``, ``exmp2``), skipping IDs already taken."""

    counters: dict[str, int] = field(default_factory=dict)

    def next(self, stem: str, taken: Callable[[str], bool], *, start: int = 1, bare: bool = False) -> str:
        """``bare`` tries the stem alone first (course ``FirAid``, then ``FirAid2``)."""
        if bare and stem not in self.counters and not taken(stem):
            self.counters[stem] = 2
            return stem
        n = self.counters.get(stem, start)
        while taken(candidate := f"{stem}{n}"):
            n += 1
        self.counters[stem] = n + 1
        return candidate


def iso(text: str | None) -> str | None:
    """Population timestamps (``…Z``) → accessplanit's ``YYYY-MM-DDTHH:MM:SS``."""
    return None if text is None else text.rstrip("Z")


def stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S")


def _uuid(bits: int) -> str:
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


@dataclass
class Catalogue:
    courses: list[Record]
    coursedates: list[Record]
    dates_of_course: dict[int, list[Record]]  # course idx → its course dates


def build_catalogue(pop: Population, ids: dict[str, IdAllocator], now: float) -> Catalogue:
    """Courses and a few dates each (about ``SEAT_TARGET`` learners per date at the population's size).

    The same catalogue on both tenants; ``build_people`` then books the source tenant's learners.
    """
    per_course = [0] * len(pop.courses)
    for e in pop.enrollments:
        per_course[e.course] += 1
    taken_course: set[str] = set()
    courses: list[Record] = []
    course_ids: list[str] = []
    for c in pop.courses:
        cid = ids["course"].next(course_stem(c.name), taken_course.__contains__, start=2, bare=True)
        taken_course.add(cid)
        course_ids.append(cid)
        courses.append(_course_record(c, cid))
    coursedates: list[Record] = []
    dates_of_course: dict[int, list[Record]] = {}
    now_text = stamp(datetime.fromtimestamp(now, UTC))
    number = 1000
    for c in pop.courses:
        n_dates = max(3, math.ceil(per_course[c.idx] / SEAT_TARGET))
        hours = max(1, round(c.duration_ms / 3_600_000))
        for j in range(n_dates):
            number += 1
            start = SEED_EPOCH + timedelta(days=(j * 730 // n_dates + c.idx * 5) % 730)
            end = start + timedelta(hours=max(hours, 7))
            record: Record = {
                "ID": str(number),
                "CourseID": course_ids[c.idx],
                "Label": f"{c.name} - {start:%d %b %Y}",
                "StartDate": stamp(start),
                "EndDate": stamp(end),
                "Location": LOCATIONS[(c.idx + j) % len(LOCATIONS)],
                "Places": SEAT_TARGET,
                "SpacesLeft": SEAT_TARGET,
                "Status": "Completed" if stamp(end) < now_text else "Available",
                "DateCreated": stamp(start - timedelta(days=60)),
                "DateUpdated": stamp(start - timedelta(days=60)),
            }
            coursedates.append(record)
            dates_of_course.setdefault(c.idx, []).append(record)
    ids["coursedate"].counters[""] = number + 1
    return Catalogue(courses, coursedates, dates_of_course)


def _course_record(c: Course, cid: str) -> Record:
    return {
        "ID": cid,
        "Name": c.name,
        "Code": c.code,
        "Description": f"{c.name}: classroom course with assessment.",
        "Category": "Health & Safety" if c.idx % 2 == 0 else "Compliance",
        "DurationHours": round(c.duration_ms / 3_600_000, 2),
        "Status": "Active",
        "DateCreated": "2023-06-01T09:00:00",
        "DateUpdated": "2023-06-01T09:00:00",
    }


@dataclass
class PeopleRecords:
    companies: list[Record]
    users: list[Record]
    groups: list[Record]
    bookings: list[Record]


def build_people(pop: Population, ids: dict[str, IdAllocator], catalogue: Catalogue) -> PeopleRecords:
    """Companies (from orgs), users (people), company groups (parent orgs), bookings (enrollments)."""
    taken_company: set[str] = set()
    company_ids: list[str] = []
    companies: list[Record] = []
    for org in pop.orgs:
        cid = ids["company"].next(company_stem(org.name), taken_company.__contains__)
        taken_company.add(cid)
        company_ids.append(cid)
        companies.append(
            {
                "ID": cid,
                "Name": org.name,
                "MainContactUserID": None,
                "EmailAddress": org.email,
                "ExternalID": org.code,
                "AddressLineOne": f"{org.idx % 200 + 1} High Street",
                "Town": org.town,
                "County": "Lancashire",
                "Postcode": org.postcode,
                "Country": "United Kingdom",
                "DateCreated": "2023-01-02T09:00:00",
                "DateUpdated": "2023-01-02T09:00:00",
            }
        )

    rng = random.Random(pop.seed * 7919 + 17)
    stems: dict[tuple[str, str], str] = {}
    counters = ids["user"].counters
    user_ids: list[str] = []
    users: list[Record] = []
    for p in pop.people:
        names = (p.first_name, p.last_name)
        stem = stems.get(names)
        if stem is None:
            stem = stems[names] = user_stem(p.first_name, p.last_name)
        n = counters.get(stem, 1)
        counters[stem] = n + 1
        uid = f"{stem}{n}"
        user_ids.append(uid)
        created = iso(p.created)
        record: Record = {
            "ID": uid,
            "Forenames": p.first_name,
            "MiddleNames": None,
            "Surname": p.last_name,
            "Fullname": f"{p.first_name.strip()} {p.last_name.strip()}",
            "Email": p.email,
            "Mobile": p.mobile,
            "Phone": p.phone,
            "DOB": None if p.dob is None else f"{p.dob}T00:00:00",
            "JobTitle": p.job_title,
            "ExternalID": p.employee_number,
            "MainCompanyID": company_ids[p.org],
            "MainRoleID": ROLE_IDS[p.role],
            "Status": "Active" if p.active else "Inactive",
            "DateCreated": created,
            "DateUpdated": created,
            "UniqueID": _uuid(rng.getrandbits(128)),
        }
        users.append(record)
    for org_idx, people in pop.supervisors.items():
        if people:
            companies[org_idx]["MainContactUserID"] = user_ids[people[0]]

    children: dict[int, list[int]] = {}
    for org in pop.orgs:
        if org.parent is not None:
            children.setdefault(org.parent, []).append(org.idx)
    groups = [
        {
            "ID": f"Grp{n}",
            "Name": f"{pop.orgs[parent].name} Group",
            "CompanyIDs": [company_ids[parent], *(company_ids[k] for k in kids)],
        }
        for n, (parent, kids) in enumerate(sorted(children.items()), start=1)
    ]
    ids[COMPANYGROUP.name].counters["Grp"] = len(groups) + 1

    bookings: list[Record] = []
    for e in pop.enrollments:
        dates = catalogue.dates_of_course[e.course]
        date = dates[e.idx % len(dates)]
        status = BOOKING_STATUS[e.status]
        uid = user_ids[e.person]
        booked = iso(e.start_date)
        bookings.append(
            {
                "ID": str(e.idx + 1),
                "UserID": uid,
                "CourseDateID": date["ID"],
                "CourseID": date["CourseID"],
                "Status": status,
                "BookedDate": booked,
                "CompletedDate": iso(e.completed_date),
                "Passed": True if status == "Completed" else None,
                "Score": float(60 + e.idx % 41) if status == "Completed" else None,
                "DateCreated": booked,
                "DateUpdated": booked,
                "UserCourseDateKey": f"{uid}:{date['ID']}",
            }
        )
        if status != "Cancelled":
            date["SpacesLeft"] -= 1
    for date in catalogue.coursedates:
        if date["SpacesLeft"] < 0:  # more learners than seats: the seeded date grew to fit them
            date["Places"] -= date["SpacesLeft"]
            date["SpacesLeft"] = 0
        if date["SpacesLeft"] == 0 and date["Status"] == "Available":
            date["Status"] = "Full"
    ids[USERCOURSEDATE.name].counters[""] = len(bookings) + 1
    return PeopleRecords(companies, users, groups, bookings)


def new_allocators(modules: tuple[Module, ...]) -> dict[str, IdAllocator]:
    return {m.name: IdAllocator() for m in modules}
