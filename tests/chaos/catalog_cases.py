"""The exactly-once cases of the whole catalog: every write (platform, entity, mode, match) that
``connectors.catalog.CATALOG`` accepts, each turned into a minimal plan over a generated CSV export (the files
platform as the universal source), with the parent steps it needs through the crosswalk, and a way to count
what the sandbox target holds afterwards.

A *recipe* per (platform, entity) says how records of that entity are made: the generated rows' fields, the
parent steps, the fields that make one record unique on the target (its natural key, or for a link entity —
members, registrations, attendance — the link itself), and what an update changes. ``accepted_cases`` walks the
catalog: a match key that is ``ANY_FIELD`` expands to every known field (or to the recipe's keys where the
platform's fields are not known); a field no generated data can make unique (an enum, a reference) is named
in the recipe's ``not_keys`` with its reason. ``generate`` raises ``NotGenerated`` for an accepted case no
recipe covers, so a new catalog entry cannot slip past the matrix.

No sandbox I/O here: what the target tenant already holds comes in a ``Context``, the counters of
``TargetCount`` take records the test fetched, and ``write_case`` writes a case's plan and CSV files.
"""

from __future__ import annotations

import csv
import datetime
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.connectors.catalog import CATALOG
from migrator.connectors.spec import ANY_FIELD, WriteSpec
from migrator.connectors.velpic import parse_ilt_date

#: generated records per case (people.csv rows) and groups (groups.csv rows)
PEOPLE = 6
GROUPS = 3

#: what the generated plan's CSV rows hold: people.csv row ``i`` (1-based)


def person(i: int) -> dict[str, str]:
    return {
        "id": f"P{i:03d}",
        "first": f"Fn{i}",
        "middle": f"Mn{i}",
        "last": f"Ln{i}",
        "email": f"eo.person{i}@example.com",
        "emp": f"EMP{i:04d}",
        "username": f"eouser{i}",
        "mobile": f"0770090{i:04d}",
        "phone": f"0152490{i:04d}",
        "job": f"Job title {i}",
        "dob": f"1990-01-{i:02d}T00:00:00",
        "group": f"G{(i - 1) % GROUPS + 1}",
        "start": f"2031-01-{i:02d}T09:00:00",
        "end": f"2031-01-{i:02d}T16:00:00",
        "street": f"{i} Exactly Street",
        "town": f"Town {i}",
        "county": f"County {i}",
        "postcode": f"EO{i} 1AA",
        "country": f"Country {i}",
        "code": f"EO-C{i:03d}",
        "n": str(i),
    }


def group(i: int) -> dict[str, str]:
    return {"id": f"G{i}", "name": f"Exactly Once Group {i}", "description": f"Group {i} of the matrix"}


@dataclass(frozen=True)
class Context:
    """Ids the sandbox target tenant holds before the run (records a plan links to but cannot create)."""

    velpic_lessons: Sequence[tuple[int, int]] = ()  # (lessonId, lessonVersionId)
    apit_coursedates: Sequence[str] = ()
    onefile_org: int = 0
    onefile_assessor: int = 0
    onefile_classrooms: Sequence[Mapping[str, Any]] = ()
    onefile_placements: Sequence[Mapping[str, Any]] = ()
    anewspring_courses: Sequence[str] = ()


@dataclass(frozen=True)
class Case:
    platform: str
    entity: str
    mode: str
    match: str | None

    @property
    def id(self) -> str:
        return f"{self.platform}-{self.entity}-{self.mode}-{self.match or 'no-match'}"


class NotGenerated(AssertionError):
    """An accepted write no recipe covers: the matrix must be taught it (a recipe in catalog_cases.py)."""


# -- counting on the target -----------------------------------------------------------------------------------

Records = Callable[[str, str], list[dict[str, Any]]]  # (sandbox platform, entity) → target-tenant records
#: the pseudo-entity of aNewSpring group members: each group's ``getGroupUsers`` answer, one record per
#: (group, user) with the group's ``groupID`` added (the sandbox keeps members in no record of their own)
GROUP_USERS = "group_users"


def _norm(value: Any) -> str:
    return str(value).strip().lower()


@dataclass(frozen=True)
class TargetCount:
    """How many times each expected key is on the target: ``expected`` keys, ``count(records)`` → Counter."""

    expected: frozenset[tuple[str, ...]]
    count: Callable[[Records], Counter[tuple[str, ...]]]


def by_fields(platform: str, entity: str, fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> TargetCount:
    """Records of ``entity`` counted by ``fields`` (normalised); expected: one per row of values."""

    def count(read: Records) -> Counter[tuple[str, ...]]:
        return Counter(tuple(_norm(r.get(f)) for f in fields) for r in read(platform, entity))

    return TargetCount(frozenset(tuple(_norm(v) for v in row) for row in rows), count)


# -- recipes --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How one (platform, entity) is exercised. ``fields``: target field → map expression over people.csv
    (or groups.csv when ``source`` is ``groups``); ``keys``: target field → the expression giving it a value
    unique per record (used when the case matches on it); ``parents``: steps (TOML) the write needs;
    ``target_count``: what the target must hold; ``update``: field → new expression for an update case, whose
    seed step creates the records first with ``seed`` (mode, match)."""

    connection: str  # the target connection's TOML body (after ``[connections.target]``)
    sandbox: str  # the sandbox platform that serves it ("" for files)
    fields: Mapping[str, str]
    keys: Mapping[str, str]
    target_count: Callable[[Case, Context], TargetCount]
    parents: Callable[[Context], str] = lambda ctx: ""
    source: str = "people"
    rows: int = PEOPLE
    not_keys: Mapping[str, str] = field(default_factory=dict)  # "field" or "mode:field" → why not
    update: Mapping[str, str] = field(default_factory=dict)
    seed: tuple[str, str] = ("create", "")
    id_field: str = "id"  # the field an update takes the target id from (through the seed step's crosswalk)
    id_filter: str = ""  # applied to that id, e.g. " | int"
    default_key: str = ""  # the match field counted when a case has no match
    batch: int | None = None
    extra_maps: Callable[[Case, Context], Mapping[str, str]] = lambda case, ctx: {}
    after: tuple[str, ...] = ()  # parent steps the case's step must follow without a crosswalk reference
    state: bool = False  # an update of a state (a status) of records its parents create: no seed step
    fault_path: str = ""  # the path its calls take when not the declared one (inactivate, not activate)


_VELPIC = 'platform = "velpic"\nbase_url = "${VELPIC_BASE_URL}"\naccess_key = "${VELPIC_TARGET_ACCESS_KEY}"\n'
_APIT = (
    'platform = "accessplanit"\nbase_url = "${ACCESSPLANIT_V2_BASE_URL}"\n'
    'username = "${ACCESSPLANIT_TARGET_USERNAME}"\npassword = "${ACCESSPLANIT_TARGET_PASSWORD}"\n'
)
_APIT_V1 = (
    'platform = "accessplanit_v1"\nbase_url = "${ACCESSPLANIT_V1_BASE_URL}"\n'
    'username = "${ACCESSPLANIT_TARGET_USERNAME}"\npassword = "${ACCESSPLANIT_TARGET_PASSWORD}"\n'
)
_ONEFILE = (
    'platform = "onefile"\nbase_url = "${ONEFILE_BASE_URL}"\n'
    'customer_token = "${ONEFILE_TARGET_CUSTOMER_TOKEN}"\n'
)
_ANS = (
    'platform = "anewspring"\nbase_url = "${ANEWSPRING_BASE_URL}"\napi_key = "${ANEWSPRING_TARGET_API_KEY}"\n'
)
_FILES = 'platform = "files"\npath = "out"\n'


def _step(
    name: str, source: str, entity: str, mode: str, match: str | None, maps: Mapping[str, str], **extra: str
) -> str:
    write = f'to = "target", entity = "{entity}", mode = "{mode}"'
    if match:
        write += f', match = "{match}"'
    if "batch" in extra:
        write += f", batch = {extra.pop('batch')}"
    lines = [
        f"[steps.{name}]",
        f'read  = {{ from = "export", entity = "{source}", key = "id" }}',
        f"write = {{ {write} }}",
    ]
    lines += [f"map.{k} = {_toml(v)}" for k, v in maps.items()]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n\n"


def _toml(value: str) -> str:
    """A map value: a literal TOML value (list, number, bool) is marked with a leading ``=``."""
    if value.startswith("="):
        return value[1:]
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rows(source: str, n: int) -> list[dict[str, str]]:
    make = group if source == "groups" else person
    return [make(i) for i in range(1, n + 1)]


def _eval_column(expr: str, row: Mapping[str, str]) -> str:
    """The value a key expression gives for a row: ``column``, ``'literal' + column`` or ``column | ...``."""
    m = re.fullmatch(r"(?:'([^']*)' \+ )?(\w+)(?: \|.*)?", expr)
    if m is None:
        raise NotGenerated(f"key expression {expr!r} is not 'column' or \"'prefix' + column\"")
    return (m.group(1) or "") + row[m.group(2)]


def updated_field(recipe: Recipe, match: str | None) -> tuple[str, str]:
    """The field an update case changes, and its new value's expression: not the match field itself."""
    for name, expr in recipe.update.items():
        if name != match:
            return name, expr
    raise NotGenerated(f"the recipe changes only {match!r} in an update, which the case matches on")


def _simple_count(
    platform: str, entity: str, count_as: Mapping[str, str] | None = None
) -> Callable[[Case, Context], TargetCount]:
    """Count ``entity`` records by the case's match field (or the recipe's default key), as generated."""

    def make(case: Case, ctx: Context) -> TargetCount:
        recipe = RECIPES[(case.platform, case.entity)]
        if case.mode == "update" or not (case.match and case.match in recipe.keys):
            key = recipe.default_key
        else:
            key = case.match
        exprs = {f: recipe.keys[f] for f in key.split(",")}
        if case.mode == "update":  # counted by what the update wrote, too: a record not updated is missing
            changed, expr = updated_field(recipe, case.match)
            exprs[changed] = expr
        stored = [(count_as or {}).get(f, f) for f in exprs]
        rows = [[_eval_column(e, r) for e in exprs.values()] for r in _rows(recipe.source, recipe.rows)]
        return by_fields(platform, entity, stored, rows)

    return make


_VELPIC_USER_FIELDS = {
    "firstName": "first",
    "lastName": "last",
    "emailAddress": "email",
    "employeeNumber": "emp",
    "userName": "username",
    "phoneNumber": "phone",
    "mobileNumber": "mobile",
    "timeZone": "'Australia/Perth'",
    "roles": "=[6]",
    "sendWelcomeEmail": "=false",
}
_VELPIC_USERS = _step("users", "people", "user", "bulk", "email", _VELPIC_USER_FIELDS)
_VELPIC_GROUPS = _step(
    "groups", "groups", "group", "create", "name", {"name": "'EO ' + name", "description": "description"}
)
_VELPIC_INSTRUCTOR = _step(
    "instructors",
    "people",
    "user",
    "bulk",
    "email",
    {
        "firstName": "'ILT'",
        "lastName": "'Instructor'",
        "emailAddress": "'eo.instructor@example.com'",
        "roles": "=[8]",
    },
)


def _velpic_links(list_field: str) -> Callable[[Case, Context], TargetCount]:
    """Each (user e-mail, group name) once in the user's ``list_field``."""

    def make(case: Case, ctx: Context) -> TargetCount:
        expected = frozenset(
            (_norm(p["email"]), _norm("EO " + group(int(p["group"][1:]))["name"]))
            for p in _rows("people", PEOPLE)
        )

        def count(read: Records) -> Counter[tuple[str, ...]]:
            names = {str(g["id"]): g["name"] for g in read("velpic", "group")}
            out: Counter[tuple[str, ...]] = Counter()
            for u in read("velpic", "user"):
                for g in u.get(list_field) or []:
                    out[(_norm(u.get("emailAddress")), _norm(names.get(str(g.get("id")), g.get("id"))))] += 1
            return out

        return TargetCount(expected, count)

    return make


def _lessons_table(ctx: Context) -> str:
    rows = "\n".join(
        f'"{p["id"]}" = {lesson}'
        for p, (lesson, _) in zip(_rows("people", PEOPLE), ctx.velpic_lessons, strict=False)
    )
    versions = "\n".join(
        f'"{p["id"]}" = {version}'
        for p, (_, version) in zip(_rows("people", PEOPLE), ctx.velpic_lessons, strict=False)
    )
    lessons = f"[tables.lesson]\nvalues = {{ {_inline(rows)} }}\n\n"
    return lessons + f"[tables.lesson_version]\nvalues = {{ {_inline(versions)} }}\n\n"


def _inline(lines: str) -> str:
    return ", ".join(line for line in lines.splitlines())


def _velpic_schedules(ctx: Context) -> str:
    return _step(
        "schedules",
        "people",
        "lesson_schedule",
        "create",
        "userId",
        {
            "userId": "id -> users",
            "lessonVersionIds": "id | lookup(lesson_version) | int | as_list",
            "scheduleDate": "'2031-01-01T00:00:00.000Z'",
        },
    )


_ILT_SESSION_FIELDS = {
    "lessonId": "id | lookup(lesson) | int",
    "startDatetime": "start | date('%Y-%m-%dT%H:%M:%S.000+0000')",
    "endDatetime": "end | date('%Y-%m-%dT%H:%M:%S.000+0000')",
    "location": "town",
    "instructorId": "id -> instructors",
    "notes": "job",
}


def _velpic_sessions(ctx: Context) -> str:
    return _step("sessions", "people", "ilt_session", "create", "startDatetime", _ILT_SESSION_FIELDS)


def _velpic_schedule_count(case: Case, ctx: Context) -> TargetCount:
    people = _rows("people", PEOPLE)
    expected = frozenset(
        (_norm(p["email"]), _norm(v)) for p, (_, v) in zip(people, ctx.velpic_lessons, strict=False)
    )

    def count(read: Records) -> Counter[tuple[str, ...]]:
        email = {str(u["id"]): u.get("emailAddress") for u in read("velpic", "user")}
        return Counter(
            (_norm(email.get(str(s.get("userId")))), _norm(s.get("lessonVersionId")))
            for s in read("velpic", "lesson_schedule")
        )

    return TargetCount(expected, count)


def _velpic_completion_count(case: Case, ctx: Context) -> TargetCount:
    people = _rows("people", PEOPLE)
    expected = frozenset(
        (_norm(p["email"]), _norm(v)) for p, (_, v) in zip(people, ctx.velpic_lessons, strict=False)
    )

    def count(read: Records) -> Counter[tuple[str, ...]]:
        email = {str(u["id"]): u.get("emailAddress") for u in read("velpic", "user")}
        return Counter(
            (_norm(email.get(str(s.get("userId")))), _norm(s.get("lessonVersionId")))
            for s in read("velpic", "lesson_schedule")
            if s.get("status") == "completed"
        )

    return TargetCount(expected, count)


def _velpic_session_count(case: Case, ctx: Context) -> TargetCount:
    people = _rows("people", PEOPLE)
    expected = frozenset(
        (_norm(lesson), _norm(p["start"][:16]))
        for p, (lesson, _) in zip(people, ctx.velpic_lessons, strict=False)
    )

    def count(read: Records) -> Counter[tuple[str, ...]]:
        return Counter(
            (
                _norm(s.get("lessonId")),
                _norm(
                    parse_ilt_date(str(s["startDatetime"])).astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M")
                ),
            )
            for s in read("velpic", "ilt_session")
        )

    return TargetCount(expected, count)


def _velpic_attendee_count(attended: bool) -> Callable[[Case, Context], TargetCount]:
    """Each (session start, user e-mail) once among the attendees (with a saved result when ``attended``)."""

    def make(case: Case, ctx: Context) -> TargetCount:
        expected = frozenset((_norm(p["start"][:16]), _norm(p["email"])) for p in _rows("people", PEOPLE))

        def count(read: Records) -> Counter[tuple[str, ...]]:
            start = {
                str(s["id"]): parse_ilt_date(str(s["startDatetime"]))
                .astimezone(datetime.UTC)
                .strftime("%Y-%m-%dT%H:%M")
                for s in read("velpic", "ilt_session")
            }
            email = {str(u["id"]): u.get("emailAddress") for u in read("velpic", "user")}
            return Counter(
                (_norm(start.get(str(a.get("sessionId")))), _norm(email.get(str(a.get("userId")))))
                for a in read("velpic", "ilt_attendee")
                if not attended or a.get("attended")
            )

        return TargetCount(expected, count)

    return make


_APIT_USER = {
    "Forenames": "first",
    "MiddleNames": "middle",
    "Surname": "last",
    "Email": "email",
    "Mobile": "mobile",
    "Phone": "phone",
    "JobTitle": "job",
    "ExternalID": "emp",
}
_APIT_USER_KEYS = {**_APIT_USER, "ID": "", "DOB": "dob"}
#: the id accessplanit assigns: an update finds the record by it (through the crosswalk); a create cannot set it
_SERVER_ID = "the platform assigns it: a create cannot choose it, nothing can be looked up by a value sent"
#: ``$upsert`` filters on its match field, and accessplanit filters on some fields only
_NOT_FILTERABLE = "accessplanit does not filter on it: $upsert answers 400 'not filterable' for every record"
_APIT_NOT_KEYS = {
    "upsert:MiddleNames": _NOT_FILTERABLE,
    "upsert:Mobile": _NOT_FILTERABLE,
    "upsert:Phone": _NOT_FILTERABLE,
    "create:ID": _SERVER_ID,
    "upsert:ID": _SERVER_ID,
    "MainCompanyID": "a reference: the users of one company share it",
    "MainRoleID": "a role: one value for many users",
    "Status": "a status: one value for many users",
}
_APIT_COMPANY = {
    "Name": "'EO company ' + n",
    "EmailAddress": "email",
    "ExternalID": "code",
    "AddressLineOne": "street",
    "Town": "town",
    "County": "county",
    "Postcode": "postcode",
    "Country": "country",
}
_APIT_COMPANY_KEYS = {**_APIT_COMPANY, "ID": ""}
_APIT_COMPANY_NOT_KEYS = {
    "upsert:AddressLineOne": _NOT_FILTERABLE,
    "create:ID": _SERVER_ID,
    "upsert:ID": _SERVER_ID,
    "MainContactUserID": "a reference to a user: the users of a company share one contact",
}
#: v2 field names the catalog accepts for v1 users too, which the v1 feed refuses ("'Email' is not a field of
#: user"): the matrix cannot write a record with them; the v1 names are exercised instead
_V1_REFUSED = {
    "Email": "the v1 feed refuses the v2 name ('Email' is not a field of user): EmailAddress is exercised",
    "DOB": "the v1 feed refuses the v2 name ('DOB' is not a field of user): DateOfBirth is exercised",
    "ID": "the v1 feed refuses the v2 name ('ID' is not a field of user): UserID is exercised",
}
_APIT_USERS_PARENT = _step("users", "people", "user", "upsert", "ExternalID", _APIT_USER)


def _apit_booking_count(case: Case, ctx: Context) -> TargetCount:
    people = _rows("people", PEOPLE)
    expected = frozenset(
        (_norm(p["emp"]), _norm(d)) for p, d in zip(people, ctx.apit_coursedates, strict=False)
    )

    def count(read: Records) -> Counter[tuple[str, ...]]:
        ext = {str(u["ID"]): u.get("ExternalID") for u in read("accessplanit", "user")}
        return Counter(
            (_norm(ext.get(str(b.get("UserID")))), _norm(b.get("CourseDateID")))
            for b in read("accessplanit", "usercoursedate")
        )

    return TargetCount(expected, count)


def _coursedates_table(ctx: Context) -> str:
    pairs = ", ".join(
        f'"{p["id"]}" = "{d}"' for p, d in zip(_rows("people", PEOPLE), ctx.apit_coursedates, strict=False)
    )
    return f"[tables.coursedate]\nvalues = {{ {pairs} }}\n\n"


def _onefile_user_maps(case: Case, ctx: Context) -> Mapping[str, str]:
    return {
        "OrganisationID": f"={ctx.onefile_org}",
        "Role": "=1",
        "DefaultAssessorID": f"={ctx.onefile_assessor}",
        "ClassroomID": f"={ctx.onefile_classrooms[0]['ID']}" if ctx.onefile_classrooms else "=0",
        "PlacementID": f"={ctx.onefile_placements[0]['ID']}" if ctx.onefile_placements else "=0",
    }


def _status_of(platform: str, key: str, field: str, wanted: Any) -> Callable[[Case, Context], TargetCount]:
    """A status write creates nothing: each user (by ``key`` on the target, from people.csv ``email`` or
    ``emp``) is there once, holding ``field`` = ``wanted`` — the status the case wrote, whatever the faults."""
    source = "email" if key in ("emailAddress", "Email") else "emp"

    def make(case: Case, ctx: Context) -> TargetCount:
        expected = frozenset((_norm(p[source]), _norm(wanted)) for p in _rows("people", PEOPLE))

        def count(read: Records) -> Counter[tuple[str, ...]]:
            return Counter((_norm(r.get(key)), _norm(r.get(field))) for r in read(platform, "user"))

        return TargetCount(expected, count)

    return make


def _onefile_users(ctx: Context) -> str:
    """The learners a OneFile status case archives: created first, matched by MISID."""
    fields = {"FirstName": "first", "LastName": "last", "Email": "email", "MISID": "emp"}
    maps = {**fields, **_onefile_user_maps(None, ctx)}  # type: ignore[arg-type]
    return _step("users", "people", "user", "create", "MISID", maps)


def _onefile_status_maps(case: Case, ctx: Context) -> Mapping[str, str]:
    return {"OrganisationID": f"={ctx.onefile_org}", "Role": "=1"}


def _onefile_placement_maps(case: Case, ctx: Context) -> Mapping[str, str]:
    return {"OrganisationID": f"={ctx.onefile_org}", "Active": "=true"}


def _onefile_find_count(entity: str) -> Callable[[Case, Context], TargetCount]:
    """A find (update mode) creates nothing: each existing record of ``entity`` is still there once."""

    def make(case: Case, ctx: Context) -> TargetCount:
        existing = ctx.onefile_classrooms if entity == "classroom" else ctx.onefile_placements
        key = case.match or "Name"
        return by_fields("onefile", entity, [key], [[r[key]] for r in existing])

    return make


def _ans_member_count(case: Case, ctx: Context) -> TargetCount:
    expected = frozenset((_norm("EOG" + p["group"]), _norm(p["emp"])) for p in _rows("people", PEOPLE))

    def count(read: Records) -> Counter[tuple[str, ...]]:
        return Counter((_norm(m["groupID"]), _norm(m.get("id"))) for m in read("anewspring", GROUP_USERS))

    return TargetCount(expected, count)


def _ans_subscription_count(case: Case, ctx: Context) -> TargetCount:
    people = _rows("people", PEOPLE)
    expected = frozenset(
        (_norm(p["emp"]), _norm(c)) for p, c in zip(people, ctx.anewspring_courses, strict=False)
    )

    def count(read: Records) -> Counter[tuple[str, ...]]:
        ext = {str(u["uid"]): u.get("id") for u in read("anewspring", "user")}
        course = {str(c["uid"]): c.get("id") for c in read("anewspring", "course")}
        return Counter(
            (_norm(ext.get(str(s.get("user")))), _norm(course.get(str(s.get("course")))))
            for s in read("anewspring", "subscription")
        )

    return TargetCount(expected, count)


def _courses_table(ctx: Context) -> str:
    pairs = ", ".join(
        f'"{p["id"]}" = "{c}"' for p, c in zip(_rows("people", PEOPLE), ctx.anewspring_courses, strict=False)
    )
    return f"[tables.course]\nvalues = {{ {pairs} }}\n\n"


_ANS_USER = {"userID": "emp", "login": "username", "firstName": "first", "lastName": "last", "email": "email"}
_ANS_USERS_PARENT = _step("users", "people", "user", "upsert", "userID", _ANS_USER)

RECIPES: Mapping[tuple[str, str], Recipe] = {
    ("velpic", "user"): Recipe(
        _VELPIC,
        "velpic",
        _VELPIC_USER_FIELDS,
        keys={
            "email": "email",
            "empNo": "emp",
            "userName": "username",
            "emailAddress": "email",
            "employeeNumber": "emp",
            "id": "email",
        },
        target_count=_simple_count(
            "velpic", "user", {"email": "emailAddress", "empNo": "employeeNumber", "id": "emailAddress"}
        ),
        update={"lastName": "'Upd ' + last"},
        seed=("bulk", "email"),
        id_filter=" | int",
        default_key="emailAddress",
        batch=2,
    ),
    ("velpic", "group"): Recipe(
        _VELPIC,
        "velpic",
        {"name": "'EO ' + name", "description": "description"},
        keys={"name": "'EO ' + name", "id": "'EO ' + name"},
        target_count=_simple_count("velpic", "group", {"id": "name"}),
        source="groups",
        rows=GROUPS,
        update={"description": "'Upd ' + description"},
        seed=("create", "name"),
        default_key="name",
    ),
    ("velpic", "user_status"): Recipe(
        _VELPIC,
        "velpic",
        {"id": "id -> users", "clientStatusId": "=57"},
        keys={"id": "id -> users"},
        target_count=_status_of("velpic", "emailAddress", "clientStatusId", 57),
        parents=lambda ctx: _VELPIC_USERS,
        state=True,
        fault_path="/user/{userId}/inactivate",  # every user is made Not Current
    ),
    ("velpic", "group_member"): Recipe(
        _VELPIC,
        "velpic",
        {"groupId": "group -> groups", "userIds": "id -> users | as_list"},
        keys={"groupId": "group"},
        target_count=_velpic_links("groups"),
        parents=lambda ctx: _VELPIC_USERS + _VELPIC_GROUPS,
    ),
    ("velpic", "group_supervisor"): Recipe(
        _VELPIC,
        "velpic",
        {"groupId": "group -> groups", "userIds": "id -> users | as_list"},
        keys={"groupId": "group"},
        target_count=_velpic_links("groupsSupervised"),
        parents=lambda ctx: _VELPIC_USERS + _VELPIC_GROUPS,
    ),
    ("velpic", "lesson_schedule"): Recipe(
        _VELPIC,
        "velpic",
        {
            "userId": "id -> users",
            "lessonVersionIds": "id | lookup(lesson_version) | int | as_list",
            "scheduleDate": "'2031-01-01T00:00:00.000Z'",
        },
        keys={"userId": "id"},
        target_count=_velpic_schedule_count,
        parents=lambda ctx: _lessons_table(ctx) + _VELPIC_USERS,
    ),
    ("velpic", "lesson_completion"): Recipe(
        _VELPIC,
        "velpic",
        {
            "userId": "id -> users",
            "lessonId": "id | lookup(lesson) | int",
            "lessonVersionId": "id | lookup(lesson_version) | int",
            "completedDate": "'2031-02-01T00:00:00.000Z'",
            "manuallyCompletedByUserId": "id -> users",
        },
        keys={"lessonId": "id", "lessonVersionId": "id"},
        target_count=_velpic_completion_count,
        parents=lambda ctx: _lessons_table(ctx) + _VELPIC_USERS + _velpic_schedules(ctx),
    ),
    ("velpic", "ilt_session"): Recipe(
        _VELPIC,
        "velpic",
        _ILT_SESSION_FIELDS,
        keys={"startDatetime": "start", "id": "start"},
        target_count=_velpic_session_count,
        parents=lambda ctx: _lessons_table(ctx) + _VELPIC_INSTRUCTOR,
        update={"notes": "'Upd ' + job"},
        seed=("create", "startDatetime"),
    ),
    ("velpic", "ilt_registration"): Recipe(
        _VELPIC,
        "velpic",
        {"sessionId": "id -> sessions", "userIds": "id -> users | as_list"},
        keys={"sessionId": "id"},
        target_count=_velpic_attendee_count(False),
        after=("schedules",),
        parents=lambda ctx: (
            _lessons_table(ctx)
            + _VELPIC_USERS
            + _VELPIC_INSTRUCTOR
            + _velpic_sessions(ctx)
            + _velpic_schedules(ctx)
        ),
    ),
    ("velpic", "ilt_attendance"): Recipe(
        _VELPIC,
        "velpic",
        {"sessionId": "id -> sessions", "userId": "id -> users", "attended": "=true", "passed": "=true"},
        keys={"sessionId": "id"},
        target_count=_velpic_attendee_count(True),
        parents=lambda ctx: (
            _lessons_table(ctx)
            + _VELPIC_USERS
            + _VELPIC_INSTRUCTOR
            + _velpic_sessions(ctx)
            + _velpic_schedules(ctx)
            + _step(
                "registrations",
                "people",
                "ilt_registration",
                "create",
                "sessionId",
                {"sessionId": "id -> sessions", "userIds": "id -> users | as_list"},
                after='["schedules"]',
            )
        ),
        after=("registrations",),
    ),
    ("accessplanit", "user"): Recipe(
        _APIT,
        "accessplanit",
        _APIT_USER,
        keys=_APIT_USER_KEYS,
        not_keys=_APIT_NOT_KEYS,
        target_count=_simple_count("accessplanit", "user"),
        update={"JobTitle": "'Upd ' + job", "Surname": "'Upd ' + last"},
        seed=("upsert", "ExternalID"),
        id_field="ID",
        default_key="ExternalID",
    ),
    ("accessplanit", "company"): Recipe(
        _APIT,
        "accessplanit",
        _APIT_COMPANY,
        keys=_APIT_COMPANY_KEYS,
        not_keys=_APIT_COMPANY_NOT_KEYS,
        target_count=_simple_count("accessplanit", "company"),
        update={"Town": "'Upd ' + town", "County": "'Upd ' + county"},
        seed=("upsert", "ExternalID"),
        id_field="ID",
        default_key="ExternalID",
    ),
    ("accessplanit", "course"): Recipe(
        _APIT,
        "accessplanit",
        {"Name": "'EO course ' + n", "Code": "code", "Description": "job"},
        keys={"Code": "code", "Name": "'EO course ' + n", "ID": ""},
        not_keys={
            "create:ID": _SERVER_ID,
            "upsert:ID": _SERVER_ID,
            "Description": "free text accessplanit does not filter on: a lookup by it is refused",
            "Category": "a category: one value for many courses",
            "DurationHours": "a duration: courses share them",
            "Status": "a status: one value for many courses",
        },
        target_count=_simple_count("accessplanit", "course"),
        update={"Description": "'Upd ' + job", "Name": "'Upd course ' + n"},
        seed=("upsert", "Code"),
        id_field="ID",
        default_key="Code",
    ),
    ("accessplanit", "coursedate"): Recipe(
        _APIT,
        "accessplanit",
        {
            "CourseID": "'WorHei'",
            "Label": "'EO date ' + n",
            "StartDate": "start",
            "EndDate": "end",
            "Location": "town",
        },
        keys={"Label": "'EO date ' + n", "ID": ""},
        not_keys={
            "create:ID": _SERVER_ID,
            "upsert:ID": _SERVER_ID,
            "CourseID": "a reference: the dates of one course share it",
            "StartDate": "a date: course dates share them",
            "EndDate": "a date: course dates share them",
            "Location": "a place: course dates share it",
            "Places": "a number of places: course dates share it",
            "Status": "a status: one value for many course dates",
        },
        target_count=_simple_count("accessplanit", "coursedate"),
        update={"Location": "'Upd ' + town", "Label": "'Upd date ' + n"},
        seed=("upsert", "Label"),
        id_field="ID",
        default_key="Label",
    ),
    ("accessplanit", "usercoursedate"): Recipe(
        _APIT,
        "accessplanit",
        {"UserID": "id -> users", "CourseDateID": "id | lookup(coursedate)", "Status": "'Booked'"},
        keys={"UserID,CourseDateID": "id", "ID": ""},
        not_keys={
            "create:ID": _SERVER_ID,
            "upsert:ID": _SERVER_ID,
            "UserID": "a reference: a user's bookings share it (the key UserID,CourseDateID is exercised)",
            "CourseDateID": "a reference: a course date's bookings share it (UserID,CourseDateID is exercised)",
            "Status": "a status: one value for many bookings",
            "BookedDate": "a date: bookings share them",
            "CompletedDate": "a date: bookings share them",
            "Passed": "a boolean: one value for many bookings",
            "Score": "a score: bookings share them",
        },
        target_count=_apit_booking_count,
        parents=lambda ctx: _coursedates_table(ctx) + _APIT_USERS_PARENT,
        update={"Status": "'Completed'"},
        seed=("upsert", "UserID,CourseDateID"),
        id_field="ID",
        default_key="UserID,CourseDateID",
    ),
    ("accessplanit_v1", "user"): Recipe(
        _APIT_V1,
        "accessplanit",
        {k: v for k, v in {**_APIT_USER, "EmailAddress": "email"}.items() if k != "Email"},
        keys={
            **{k: v for k, v in _APIT_USER_KEYS.items() if k not in _V1_REFUSED},
            "EmailAddress": "email",
            "UserID": "",
            "DateOfBirth": "dob",
        },
        not_keys={**_APIT_NOT_KEYS, **_V1_REFUSED, "create:UserID": _SERVER_ID},
        target_count=_simple_count(
            "accessplanit", "user", {"EmailAddress": "Email", "UserID": "ID", "DateOfBirth": "DOB"}
        ),
        update={"JobTitle": "'Upd ' + job", "Surname": "'Upd ' + last"},
        seed=("create", "ExternalID"),
        id_field="UserID",
        default_key="ExternalID",
    ),
    ("accessplanit_v1", "company"): Recipe(
        _APIT_V1,
        "accessplanit",
        _APIT_COMPANY,
        keys={**_APIT_COMPANY_KEYS, "CompanyID": ""},
        not_keys={
            **_APIT_COMPANY_NOT_KEYS,
            "ID": _V1_REFUSED["ID"].replace("user", "company"),
            "create:CompanyID": _SERVER_ID,
        },
        target_count=_simple_count("accessplanit", "company", {"CompanyID": "ID"}),
        update={"Town": "'Upd ' + town", "County": "'Upd ' + county"},
        seed=("create", "ExternalID"),
        id_field="CompanyID",
        default_key="ExternalID",
    ),
    ("onefile", "user"): Recipe(
        _ONEFILE,
        "onefile",
        {"FirstName": "first", "LastName": "last", "Email": "email", "MISID": "emp"},
        keys={"MISID": "emp", "Email": "email", "ID": "emp"},
        target_count=_simple_count("onefile", "user", {"ID": "MISID"}),
        update={"LastName": "'Upd ' + last"},
        seed=("create", "MISID"),
        id_field="ID",
        default_key="MISID",
        extra_maps=_onefile_user_maps,
    ),
    ("onefile", "user_status"): Recipe(
        _ONEFILE,
        "onefile",
        {"ID": "id -> users", "Archived": "=true"},
        keys={"ID": "id -> users"},
        target_count=_status_of("onefile", "MISID", "Archived", True),
        parents=_onefile_users,
        extra_maps=_onefile_status_maps,
        state=True,
    ),
    ("onefile", "placement"): Recipe(
        _ONEFILE,
        "onefile",
        {"Name": "'EO placement ' + n", "MISID": "code", "Address": "street"},
        keys={"MISID": "code", "Name": "'EO placement ' + n"},
        target_count=_simple_count("onefile", "placement"),
        default_key="Name",
        extra_maps=_onefile_placement_maps,
    ),
    ("onefile", "classroom"): Recipe(
        _ONEFILE,
        "onefile",
        {},
        keys={"Name": "", "MISID": ""},
        target_count=_onefile_find_count("classroom"),
        default_key="Name",
    ),
    ("anewspring", "user"): Recipe(
        _ANS,
        "anewspring",
        _ANS_USER,
        keys={"userID": "emp"},
        target_count=_simple_count("anewspring", "user", {"userID": "id"}),
        update={"lastName": "'Upd ' + last"},
        seed=("upsert", "userID"),
        id_field="userID",
        default_key="userID",
    ),
    ("anewspring", "group"): Recipe(
        _ANS,
        "anewspring",
        {"groupID": "'EOG' + id", "type": "'student'", "name": "name"},
        keys={"groupID": "'EOG' + id"},
        target_count=_simple_count("anewspring", "group", {"groupID": "id"}),
        source="groups",
        rows=GROUPS,
        update={"name": "'Upd ' + name"},
        seed=("create", "groupID"),
        id_field="groupID",
        default_key="groupID",
    ),
    ("anewspring", "group_member"): Recipe(
        _ANS,
        "anewspring",
        {"groupID": "group -> groups", "user": "id -> users"},
        keys={"groupID": "group"},
        target_count=_ans_member_count,
        parents=lambda ctx: (
            _ANS_USERS_PARENT
            + _step(
                "groups",
                "groups",
                "group",
                "create",
                "groupID",
                {"groupID": "'EOG' + id", "type": "'student'", "name": "name"},
            )
        ),
        batch=2,
    ),
    ("anewspring", "subscription"): Recipe(
        _ANS,
        "anewspring",
        {"userID": "id -> users", "courseID": "id | lookup(course)", "startDate": "'2031-01-01'"},
        keys={"courseID": "id"},
        target_count=_ans_subscription_count,
        parents=lambda ctx: _courses_table(ctx) + _ANS_USERS_PARENT,
    ),
}

#: (platform, entity) the catalog declares and the sandbox cannot play: each case of it fails with the reason
SANDBOX_GAPS: Mapping[tuple[str, str], str] = {}

#: (platform, entity) whose exactly-once proof needs more than a generated plan, and the test that gives it
PROVEN_ELSEWHERE: Mapping[tuple[str, str], str] = {
    ("files", "documents"): "tests/e2e/test_certificates.py",  # a PDF archive: kill -9 mid-download, resume
}

#: the open platform (files: any entity name is a file): the entity the matrix writes, and its match keys
OPEN_ENTITY = "learners"
FILES_KEYS = {"id": "id", "ExternalID": "emp", "email": "email"}
FILES_FIELDS = {"id": "id", "ExternalID": "emp", "email": "email", "name": "first"}


# -- the catalog walk -----------------------------------------------------------------------------------------


def _keys_of(platform: str, entity: str, mode: str, write: WriteSpec) -> Iterator[str | None]:
    spec = CATALOG[platform]
    ent = spec.entities[entity]
    for key in write.match_keys:
        if key != ANY_FIELD:
            yield key
        elif spec.open_entities:
            yield from FILES_KEYS
        elif ent.fields is not None:
            recipe = RECIPES.get((platform, entity))
            skipped = set(recipe.not_keys) if recipe else set()
            yield from (f for f in sorted(ent.fields) if f not in skipped and f"{mode}:{f}" not in skipped)
            # a compound key of known fields (a booking: "UserID,CourseDateID") is the recipe's to name
            yield from (k for k in (recipe.keys if recipe else ()) if "," in k and f"{mode}:{k}" not in skipped)
        else:
            recipe = RECIPES.get((platform, entity))
            if recipe is None:
                raise NotGenerated(f"{platform} {entity}: any field is accepted and no recipe names its keys")
            skipped = set(recipe.not_keys)
            yield from (k for k in recipe.keys if k not in skipped and f"{mode}:{k}" not in skipped)
    if not write.match_required:
        yield None


def accepted_cases() -> list[Case]:
    """Every write the catalog accepts, with each match key it accepts (and none, where none is required)."""
    out = []
    for platform, spec in CATALOG.items():
        for name, entity in spec.entities.items():
            if (platform, name) in PROVEN_ELSEWHERE:
                continue
            for mode, write in entity.writes.items():
                for match in _keys_of(platform, name, str(mode), write):
                    out.append(Case(platform, OPEN_ENTITY if name == "*" else name, str(mode), match))
    return out


def skipped_keys() -> list[tuple[str, str, str, str]]:
    """(platform, entity, field, reason): known fields the catalog accepts as a match key that the matrix does
    not exercise, because no generated data makes them unique per record; each recipe says why."""
    return [(p, e, f, why) for (p, e), r in RECIPES.items() for f, why in r.not_keys.items()]


# -- generating a case ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generated:
    """A case's plan text, the files it reads, the sandbox platform it writes to and what to count there."""

    plan: str
    files: Mapping[str, list[dict[str, str]]]
    sandbox: str
    write: WriteSpec
    count: TargetCount | None  # None: a files target (counted in the written file)
    fault_path: str = ""  # the path the case's calls take when it is not the declared one


def write_spec(case: Case) -> WriteSpec:
    spec = CATALOG[case.platform]
    entity = spec.entities["*"] if spec.open_entities else spec.entities[case.entity]
    return entity.writes[case.mode]  # type: ignore[index]


def generate(case: Case, ctx: Context) -> Generated:
    """The minimal plan that exercises ``case``, with its CSV files; ``NotGenerated`` when no recipe can."""
    files = {"people": _rows("people", PEOPLE), "groups": _rows("groups", GROUPS)}
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", case.id)
    header = f'[plan]\nname = "eo-{name}"\n\n[connections.export]\nplatform = "files"\npath = "data"\n\n'
    if CATALOG[case.platform].open_entities:
        key = case.match
        step = _step("case", "people", OPEN_ENTITY, case.mode, key, FILES_FIELDS, batch="2")
        return Generated(header + f"[connections.target]\n{_FILES}\n" + step, files, "", write_spec(case), None)
    recipe = RECIPES.get((case.platform, case.entity))
    if recipe is None:
        raise NotGenerated(
            f"{case.id}: no recipe for {case.platform} {case.entity} in tests/chaos/catalog_cases.py"
        )
    if case.match is not None and case.match not in recipe.keys:
        raise NotGenerated(
            f"{case.id}: the recipe of {case.platform} {case.entity} gives no unique {case.match!r}"
        )
    maps = dict(recipe.fields)
    if _is_field(case, case.match) and case.match not in maps:
        maps[str(case.match)] = recipe.keys[str(case.match)]
    maps.update(recipe.extra_maps(case, ctx))
    body = recipe.parents(ctx)
    extra = {"batch": str(recipe.batch)} if recipe.batch and not write_spec(case).per_record else {}
    if recipe.after:
        extra["after"] = "[" + ", ".join(f'"{name}"' for name in recipe.after) + "]"
    if case.entity == "classroom" or (case.platform, case.entity, case.mode) == (
        "onefile",
        "placement",
        "update",
    ):
        # a find: the rows are the target's own records, found by name or MISID
        existing = ctx.onefile_classrooms if case.entity == "classroom" else ctx.onefile_placements
        key = case.match or "Name"
        files = {**files, "existing": [{"id": str(r["ID"]), "value": str(r[key])} for r in existing]}
        maps = {key: "value", "OrganisationID": f"={ctx.onefile_org}"}
        body += _step("case", "existing", case.entity, case.mode, case.match, maps)
        plan = header + f"[connections.target]\n{recipe.connection}\n" + body
        found = _onefile_find_count(case.entity)(case, ctx)
        return Generated(plan, files, recipe.sandbox, write_spec(case), found)
    elif case.mode == "update" and not recipe.state:
        seed_mode, seed_match = recipe.seed
        seed_maps = {**recipe.fields, **recipe.extra_maps(case, ctx)}
        if _is_field(case, seed_match) and seed_match not in seed_maps:
            seed_maps[seed_match] = recipe.keys[seed_match]
        body += _step(
            "seed",
            recipe.source,
            case.entity,
            seed_mode,
            seed_match,
            seed_maps,
            **{k: v for k, v in extra.items() if k == "batch"},
        )
        changed, expr = updated_field(recipe, case.match)
        maps[changed] = expr
        maps[recipe.id_field] = "id -> seed" + recipe.id_filter
        body += _step("case", recipe.source, case.entity, case.mode, case.match, maps, **extra)
    else:
        body += _step("case", recipe.source, case.entity, case.mode, case.match, maps, **extra)
    plan = header + f"[connections.target]\n{recipe.connection}\n" + body
    count = recipe.target_count(case, ctx)
    return Generated(plan, files, recipe.sandbox, write_spec(case), count, recipe.fault_path)


def _is_field(case: Case, match: str | None) -> bool:
    """Whether ``match`` names one target field of the entity (not a merge type, nor a compound key)."""
    if not match or "," in match:
        return False
    recipe = RECIPES[(case.platform, case.entity)]
    fields = CATALOG[case.platform].entities[case.entity].fields
    return bool(recipe.keys.get(match)) and (fields is None or match in fields)


def write_case(gen: Generated, folder: Path) -> Path:
    """The plan and its CSV files under ``folder``; returns the plan's path."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    (folder / "out").mkdir(exist_ok=True)
    for name, rows in gen.files.items():
        with (data / f"{name}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["id"])
            writer.writeheader()
            writer.writerows(rows)
    path = folder / "plan.toml"
    path.write_text(gen.plan, encoding="utf-8")
    return path


def fault_scope(gen: Generated) -> str:
    """The sandbox fault scope of the case's own write endpoint, e.g. ``velpic/user/*``."""
    path = (gen.fault_path or gen.write.endpoint.path).split("?")[0].strip("/")
    return f"{gen.sandbox}/{re.sub(r'{[^}]*}', '*', path)}"
