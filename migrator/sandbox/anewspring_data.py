"""aNewSpring emulator state: one tenant's tables and indexes, the seed, and record shapes.

Pure (no HTTP): ``anewspring.py`` serves it. Users are keyed by their generated UID and reached by
external ID (``id``) or login through indexes; groups are keyed by their external ID; courses and templates
by UID; subscriptions by the synthetic ``userCourseKey`` (``<user uid>|<course uid>``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from migrator.sandbox.generator import Population
from migrator.sandbox.store import Record, Table

ROLES: frozenset[str] = frozenset(
    {"student", "teacher", "mentor", "author", "designer", "administrator", "reseller", "tenant"}
)
GROUP_TYPES: frozenset[str] = frozenset({"student", "teacher", "mentor"})
ROLE_OF_PERSON = {"learner": "student", "assessor": "teacher", "admin": "administrator", "employer": "mentor"}

# Stored and returned as sent (text); ``dateOfBirth`` is checked, ``active``/``renewable`` are booleans.
TEXT_FIELDS: tuple[str, ...] = (
    "login",
    "firstName",
    "middleName",
    "lastName",
    "gender",
    "title",
    "initials",
    "email",
    "function",
    "company",
    "dateOfBirth",
    "telephoneNumber",
    "faxNumber",
    "cellPhoneNumber",
    "address",
    "zip",
    "residence",
    "country",
    "invoiceAddress",
    "invoiceZip",
    "invoiceResidence",
    "invoiceCountry",
    "custom1",
    "custom2",
    "custom3",
    "custom4",
    "custom5",
    "locale",
    "timeZoneGroup",
    "timeZone",
)
BOOL_FIELDS: tuple[str, ...] = ("active", "renewable")
# Accepted but never stored or returned (write-only or side effects the sandbox does not model).
WRITE_ONLY: tuple[str, ...] = (
    "password",
    "generatePassword",
    "forcePasswordChange",
    "notify",
    "avatar",
    "deleteAvatar",
)

TENANT_BASE = {"source": 1_000_000, "target": 5_000_000}
NO_ID_EVERY = 40  # every 40th seeded person has no external ID (created in the UI): initializeId matters


def uid_for(tenant: str, kind: str, n: int) -> str:
    """A deterministic generated UID (32 hex digits)."""
    return hashlib.md5(f"anewspring:{tenant}:{kind}:{n}".encode(), usedforsecurity=False).hexdigest()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def full_name(user: Record) -> str:
    parts = (user.get("firstName"), user.get("middleName"), user.get("lastName"))
    return " ".join(str(p).strip() for p in parts if p and str(p).strip())


def user_summary(user: Record) -> Record:
    """The shape of ``getUsers`` / ``getGroupUsers`` rows."""
    return {
        "id": user.get("id"),
        "uid": user["uid"],
        "name": full_name(user),
        "login": user.get("login"),
        "email": user.get("email"),
        "active": user.get("active", True),
    }


def user_full(user: Record) -> Record:
    """The shape of ``getUser``: every field held, plus id, uid, active, renewable, roles."""
    out: Record = {"id": user.get("id"), "uid": user["uid"]}
    for name in TEXT_FIELDS:
        if user.get(name) is not None:
            out[name] = user[name]
    out["active"] = user.get("active", True)
    out["renewable"] = user.get("renewable", False)
    out["roles"] = list(user.get("roles", ()))
    return out


def course_summary(course: Record) -> Record:
    return {
        "id": course.get("id"),
        "uid": course["uid"],
        "name": course["name"],
        "templateID": course.get("templateID"),
        "active": course.get("active", True),
        "startDate": course.get("startDate"),
    }


def subscription_row(course: Record, sub: Record, *, stats: bool) -> Record:
    """One entry of ``getSubscriptions``' ``courses``."""
    row: Record = {
        "id": course.get("id"),
        "uid": course["uid"],
        "name": course["name"],
        "reseller": None,
        "active": sub["active"],
        "subscribeDate": sub["subscribeDateTime"][:10],
        "subscribeDateTime": sub["subscribeDateTime"],
        "startDate": sub["startDateTime"][:10],
        "startDateTime": sub["startDateTime"],
        "finished": sub["finished"],
        "expired": sub["expired"],
    }
    if stats:
        row.update(
            progress=sub["progress"],
            knowledgeIntake=sub["knowledgeIntake"],
            efficiency=sub["efficiency"],
            objectiveProgress=sub["objectiveProgress"],
        )
    return row


#: ``result_fields`` → the names ``getResults`` gives the start and the completion of a course
RESULT_DATE_NAMES: dict[str, tuple[str, str]] = {
    "client": ("startDate", "lastTrainingCompletedDate"),
    "datetime": ("startDateTime", "lastTrainingCompletedDateTime"),
}


def result_row(course: Record, sub: Record, *, dates: str, names: str = "client") -> Record:
    """One entry of ``getResults``' ``courses``: the subscription's start, progress, whether it is finished,
    when the last training was completed and the score (0-100, None before any). ``dates``: ``datetime``
    (``2024-03-01T09:30:00Z``) or ``date`` (``2024-03-01``), the ``result_dates`` switch; ``names``: the names
    of the two dates, ``client`` (``startDate``, ``lastTrainingCompletedDate``, as the public client code
    reads them) or ``datetime`` (``startDateTime``, ``lastTrainingCompletedDateTime``, the pattern of
    ``getSubscriptions``), the ``result_fields`` switch: neither the names nor the form is documented."""

    def when(value: str | None) -> str | None:
        return value[:10] if value is not None and dates == "date" else value

    start, completed = RESULT_DATE_NAMES[names]
    return {
        "id": course.get("id"),
        "uid": course["uid"],
        "name": course["name"],
        start: when(sub["startDateTime"]),
        "progress": sub["progress"],
        "finished": sub["finished"],
        completed: when(sub["finishedDateTime"]),
        "score": sub["score"],
        "knowledgeIntake": sub["knowledgeIntake"],
        "efficiency": sub["efficiency"],
        "objectiveProgress": sub["objectiveProgress"],
    }


@dataclass
class ANewSpringTenant:
    """One aNewSpring environment: tables (``user``, ``group``, ``subscription``, ``course``, ``template``)."""

    name: str
    tables: dict[str, Table]
    by_ext: dict[str, str] = field(default_factory=dict)  # user external id → uid
    by_login: dict[str, str] = field(default_factory=dict)  # case-folded login → uid
    course_by_id: dict[str, str] = field(default_factory=dict)  # course external id → uid
    template_by_id: dict[str, str] = field(default_factory=dict)  # template external id → uid
    members: dict[str, dict[str, None]] = field(default_factory=dict)  # group id → user uids (ordered)
    subs_of_user: dict[str, dict[str, None]] = field(default_factory=dict)  # user uid → course uids
    subs_of_course: dict[str, dict[str, None]] = field(default_factory=dict)  # course uid → user uids
    uid_counter: int = 0

    @property
    def users(self) -> Table:
        return self.tables["user"]

    @property
    def groups(self) -> Table:
        return self.tables["group"]

    def new_uid(self, kind: str) -> str:
        self.uid_counter += 1
        return uid_for(self.name, f"api-{kind}", self.uid_counter)

    def add_subscription(self, user_uid: str, course_uid: str, record: Record, *, api: bool) -> None:
        key = f"{user_uid}|{course_uid}"
        record["userCourseKey"] = key
        table = self.tables["subscription"]
        if api:
            table.create(key, record)
        else:
            table.load(key, record)
        self.subs_of_user.setdefault(user_uid, {})[course_uid] = None
        self.subs_of_course.setdefault(course_uid, {})[user_uid] = None

    def remove_subscription(self, user_uid: str, course_uid: str) -> None:
        self.tables["subscription"].delete(f"{user_uid}|{course_uid}")
        self.subs_of_user.get(user_uid, {}).pop(course_uid, None)
        self.subs_of_course.get(course_uid, {}).pop(user_uid, None)


def new_tenant(name: str) -> ANewSpringTenant:
    tables = {
        "user": Table("user", ("id", "email")),
        "group": Table("group", ("id", "name")),
        "subscription": Table("subscription", ("userCourseKey",)),
        "course": Table("course", ("id",)),
        "template": Table("template", ("id", "name")),
    }
    return ANewSpringTenant(name=name, tables=tables)


def seed_catalogue(tenant: ANewSpringTenant, population: Population) -> list[str]:
    """One template and one course per population course (same names and external IDs in every tenant),
    plus a draft template without an external ID. Returns course UIDs by population course index."""
    templates, courses = tenant.tables["template"], tenant.tables["course"]
    course_uids: list[str] = []
    for c in population.courses:
        t_uid = uid_for(tenant.name, "template", c.idx)
        t_id = f"T-{c.code}"
        templates.load(t_uid, {"uid": t_uid, "id": t_id, "name": c.name})
        tenant.template_by_id[t_id] = t_uid
        c_uid = uid_for(tenant.name, "course", c.idx)
        courses.load(
            c_uid,
            {
                "uid": c_uid,
                "id": c.code,
                "name": c.name,
                "templateID": t_id,
                "templateUID": t_uid,
                "active": True,
                "startDate": "2024-01-01",
                "durationMinutes": c.duration_ms // 60_000,
            },
        )
        tenant.course_by_id[c.code] = c_uid
        course_uids.append(c_uid)
    draft = uid_for(tenant.name, "template", -1)
    templates.load(draft, {"uid": draft, "id": None, "name": "Draft: Induction (no external ID)"})
    return course_uids


_PROGRESS = {"completed": 100, "scheduled": 0, "cancelled": 0}


def seed_people(tenant: ANewSpringTenant, population: Population, course_uids: list[str]) -> None:
    """People → users (external ID = employee number, a few without), orgs → student groups with their
    learners, enrolments → subscriptions with progress and finished; a completed one finished at its
    completion date with a score of 60 to 100."""
    users = tenant.users
    base = TENANT_BASE.get(tenant.name, 9_000_000)
    uids: list[str] = []
    by_ext, by_login = tenant.by_ext, tenant.by_login
    for p in population.people:
        uid = uid_for(tenant.name, "user", base + p.idx)
        uids.append(uid)
        ext = None if p.idx % NO_ID_EVERY == NO_ID_EVERY - 1 else p.employee_number
        user: Record = {
            "uid": uid,
            "id": ext,
            "login": p.username,
            "firstName": p.first_name,
            "lastName": p.last_name,
            "function": p.job_title,
            "company": population.orgs[p.org].name,
            "telephoneNumber": p.phone,
            "cellPhoneNumber": p.mobile,
            "active": p.active,
            "roles": [ROLE_OF_PERSON[p.role]],
        }
        if p.email is not None:
            user["email"] = p.email
        if p.dob is not None:
            user["dateOfBirth"] = p.dob
        users.load(uid, user)
        if ext is not None:
            by_ext[ext] = uid
        by_login[p.username.casefold()] = uid
    groups = tenant.groups
    for org in population.orgs:
        parent = population.orgs[org.parent].code if org.parent is not None else None
        groups.load(
            org.code,
            {
                "id": org.code,
                "uid": uid_for(tenant.name, "group", org.idx),
                "name": org.name,
                "type": "student",
                "parent": parent,
            },
        )
        tenant.members[org.code] = {}
    for p in population.people:
        if p.role == "learner":
            tenant.members[population.orgs[p.org].code][uids[p.idx]] = None
    for e in population.enrollments:
        progress = _PROGRESS.get(e.status, (e.idx * 13) % 90 + 5)
        tenant.add_subscription(
            uids[e.person],
            course_uids[e.course],
            {
                "user": uids[e.person],
                "course": course_uids[e.course],
                "active": e.status != "cancelled",
                "subscribeDateTime": e.start_date,
                "startDateTime": e.start_date,
                "finished": e.status == "completed",
                "finishedDateTime": e.completed_date,
                "expired": e.status == "overdue",
                "expiryDateTime": None,
                "progress": progress,
                "score": (e.idx * 7) % 41 + 60 if e.status == "completed" else None,
                "knowledgeIntake": progress,
                "efficiency": 100 if e.status == "completed" else 0,
                "objectiveProgress": progress,
            },
            api=False,
        )


def credential(seed: int, tenant: str, generation: int) -> str:
    """The API key of ``tenant``; ``generation`` moves on when the key is regenerated (revocation)."""
    digest = hashlib.sha256(f"anewspring:key:{tenant}:{seed}:{generation}".encode()).hexdigest()
    return f"ans-{tenant}-{seed:04d}-{digest[:32]}"


#: ``subscribe_dates`` → the form ``subscribe`` takes its ``startDate`` and ``expiryDate`` in
SUBSCRIBE_DATE_FORMS: dict[str, tuple[str, str]] = {
    "date": ("%Y-%m-%d", "yyyy-MM-dd"),
    "datetime": ("%Y-%m-%dT%H:%M:%S", "yyyy-MM-ddTHH:mm:ss"),
}


def valid_date(text: str, form: str = "%Y-%m-%d") -> bool:
    """``text`` in ``form`` (by default ``yyyy-MM-dd``), naming a real day (and time)."""
    try:
        datetime.strptime(text, form)
    except ValueError:
        return False
    return True


def parse_bool(value: str | None, default: bool) -> bool | None:
    """``true``/``false`` (any case, also 1/0); None for anything else; ``default`` when absent."""
    if value is None or value == "":
        return default
    text = value.strip().casefold()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    return None
