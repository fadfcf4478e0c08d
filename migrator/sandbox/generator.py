"""Deterministic, realistic (and optionally dirty) people, organisations, courses and enrolments.

One ``Population`` feeds every platform's ``source`` tenant, so any route can be rehearsed with the same
people. Everything derives from the seed: the same seed and scale give the same population.

Dirty data (``dirty`` > 0, a fraction of people) mimics real exports: duplicate emails, missing emails,
invalid dates of birth, stray whitespace in names.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

FIRST_NAMES = (
    "Amélie",
    "Zoë",
    "Seán",
    "Niamh",
    "José",
    "François",
    "Chloé",
    "Björn",
    "Søren",
    "Łukasz",
    "Olivia",
    "Jack",
    "Isla",
    "Noah",
    "Mia",
    "Liam",
    "Ava",
    "Lucas",
    "Grace",
    "Oscar",
    "Ruby",
    "Mohammed",
    "Aisha",
    "Wei",
    "Priya",
    "Tomás",
    "Renée",
    "Dmitri",
    "Hana",
    "Kai",
    "Léa",
    "Matthew",
    "Emily",
    "Daniel",
    "Sophie",
    "Thomas",
    "Charlotte",
    "James",
    "Ella",
    "William",
)
LAST_NAMES = (
    "O'Brien",
    "D'Arcy",
    "Müller",
    "García",
    "Nguyễn",
    "Smith",
    "Jones",
    "Williams",
    "Brown",
    "Taylor",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Roberts",
    "Johnson",
    "Lewis",
    "Walker",
    "Robinson",
    "Wood",
    "Thompson",
    "White",
    "Watson",
    "Jackson",
    "Wright",
    "Green",
    "Harris",
    "Cooper",
    "King",
    "Lee",
    "Martin",
    "Clarke",
    "Kowalski",
    "Novák",
    "Dubois",
    "Rossi",
    "Jensen",
    "Öztürk",
    "MacDonald",
    "Ó Súilleabháin",
)
JOB_TITLES = (
    "Apprentice",
    "Site Supervisor",
    "Electrician",
    "Plumber",
    "Care Assistant",
    "Team Leader",
    "Warehouse Operative",
    "Administrator",
    "Engineer",
    "Nurse",
    "Chef",
    "Technician",
)
ORG_WORDS = (
    "North",
    "South",
    "East",
    "West",
    "Central",
    "Harbour",
    "Valley",
    "Riverside",
    "Highland",
    "Coastal",
)
ORG_KINDS = ("Construction", "Care", "Logistics", "Engineering", "Hospitality", "Retail", "Energy")
COURSE_NAMES = (
    "Working at Heights",
    "Manual Handling",
    "Fire Safety Awareness",
    "First Aid at Work",
    "Infection Control",
    "Food Hygiene Level 2",
    "COSHH Essentials",
    "Asbestos Awareness",
    "Safeguarding Adults",
    "Data Protection (GDPR)",
    "Confined Spaces",
    "Electrical Safety",
    "Equality & Diversity",
    "Lone Working",
    "Forklift Refresher",
    "Slips, Trips & Falls",
)
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.co.uk")

ROLES = ("learner", "assessor", "admin", "employer")
ROLE_WEIGHTS = (85, 10, 3, 2)
STATUSES = ("completed", "scheduled", "overdue", "cancelled")
STATUS_WEIGHTS = (55, 30, 10, 5)

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class Person:
    idx: int
    first_name: str
    last_name: str
    email: str | None
    employee_number: str  # also the OneFile MISID and aNewSpring external id stem
    username: str
    phone: str
    mobile: str
    dob: str | None  # "YYYY-MM-DD"; dirty records may hold an invalid date such as "1990-02-31"
    job_title: str
    org: int  # index into Population.orgs
    role: str  # learner | assessor | admin | employer
    active: bool
    created: str  # ISO-8601 UTC, "2024-03-05T10:20:30Z"


@dataclass(slots=True)
class Org:
    idx: int
    name: str
    code: str
    email: str
    town: str
    postcode: str
    parent: int | None  # index of a parent org, or None


@dataclass(slots=True)
class Course:
    idx: int
    name: str
    code: str
    duration_ms: int


@dataclass(slots=True)
class Enrollment:
    idx: int
    person: int
    course: int
    status: str  # completed | scheduled | overdue | cancelled
    start_date: str  # ISO-8601 UTC
    completed_date: str | None


@dataclass
class Population:
    seed: int
    scale: int
    dirty: float
    people: list[Person] = field(default_factory=list)
    orgs: list[Org] = field(default_factory=list)
    courses: list[Course] = field(default_factory=list)
    enrollments: list[Enrollment] = field(default_factory=list)
    supervisors: dict[int, list[int]] = field(default_factory=dict)  # org idx → person idxs


class _Days:
    """``"YYYY-MM-DD"`` of a day offset from ``EPOCH``, memoised: strftime per record dominated generation."""

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def __call__(self, offset: int) -> str:
        text = self._cache.get(offset)
        if text is None:
            text = self._cache[offset] = (EPOCH + timedelta(days=offset)).strftime("%Y-%m-%d")
        return text

    def instant(self, seconds: int) -> str:
        """ISO-8601 UTC of ``EPOCH + seconds``."""
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        return f"{self(days)}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}Z"


def _ascii(text: str) -> str:
    """``"Amélie O'Brien"`` → ``"amelieobrien"``: accents folded, punctuation dropped."""
    folded = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("ø", "o").replace("ß", "ss"))
    return "".join(ch for ch in folded.lower() if ch.isascii() and ch.isalnum())


_ASCII = {name: _ascii(name) for name in (*FIRST_NAMES, *LAST_NAMES)}


def generate(seed: int = 1, scale: int = 1000, dirty: float = 0.0) -> Population:
    """Build a population of ``scale`` people. ``dirty`` is the fraction of people with a data defect."""
    rng = random.Random(seed)
    pop = Population(seed=seed, scale=scale, dirty=dirty)
    days = _Days()

    n_orgs = max(3, scale // 50)
    for i in range(n_orgs):
        name = f"{ORG_WORDS[i % len(ORG_WORDS)]} {ORG_KINDS[(i // len(ORG_WORDS)) % len(ORG_KINDS)]}"
        if i >= len(ORG_WORDS) * len(ORG_KINDS):
            name += f" {i // (len(ORG_WORDS) * len(ORG_KINDS)) + 1}"
        pop.orgs.append(
            Org(
                idx=i,
                name=name,
                code=f"ORG{i + 1:05d}",
                email=f"office{i + 1}@{DOMAINS[i % len(DOMAINS)]}",
                town=ORG_WORDS[i % len(ORG_WORDS)] + "ton",
                postcode=f"AB{i % 90 + 10} {i % 9 + 1}CD",
                parent=None if i < 3 else rng.randrange(3) if rng.random() < 0.2 else None,
            )
        )

    for i, cname in enumerate(COURSE_NAMES):
        pop.courses.append(
            Course(idx=i, name=cname, code=f"C{i + 1:03d}", duration_ms=(5 + (i * 7) % 55) * 60_000)
        )

    first_n, last_n = len(FIRST_NAMES), len(LAST_NAMES)
    rand, choices = rng.random, rng.choices
    roles = choices(ROLES, weights=ROLE_WEIGHTS, k=scale)
    emails_seen: list[str] = []
    for i in range(scale):
        r = rng.getrandbits(48)
        first = FIRST_NAMES[r % first_n]
        last = LAST_NAMES[(r >> 8) % last_n]
        domain = DOMAINS[(r >> 16) % len(DOMAINS)]
        emp = f"E{i + 1:07d}"
        email: str | None = f"{_ASCII[first]}.{_ASCII[last]}.{i + 1}@{domain}"
        birth = days(-(365 * 18 + (r >> 20) % (365 * 45)))
        dob: str | None = birth
        created = days.instant(-((r >> 24) % (86400 * 700)))
        if dirty and rand() < dirty:
            defect = (r >> 40) % 4
            if defect == 0 and emails_seen:
                email = emails_seen[(r >> 30) % len(emails_seen)]  # duplicate email
            elif defect == 1:
                email = None  # missing email
            elif defect == 2:
                dob = f"{birth[:4]}-02-31"  # invalid date
            else:
                first, last = f"  {first} ", f"{last}  "  # stray whitespace
        if email is not None and i % 97 == 0:
            emails_seen.append(email)
        pop.people.append(
            Person(
                idx=i,
                first_name=first,
                last_name=last,
                email=email,
                employee_number=emp,
                username=f"{_ASCII[first.strip()]}{_ASCII[last.strip()]}{i + 1}",
                phone=f"01{(r >> 4) % 1000:03d} {(r >> 14) % 1000000:06d}",
                mobile=f"07{(r >> 10) % 1000000000:09d}",
                dob=dob,
                job_title=JOB_TITLES[(r >> 36) % len(JOB_TITLES)],
                org=(r >> 28) % n_orgs,
                role=roles[i],
                active=(r >> 44) % 20 != 0,
                created=created,
            )
        )

    for person in pop.people:
        if person.role == "assessor":
            pop.supervisors.setdefault(person.org, []).append(person.idx)

    n_courses = len(pop.courses)
    statuses = choices(STATUSES, weights=STATUS_WEIGHTS, k=scale)
    for i, person in enumerate(pop.people):
        if person.role != "learner":
            continue
        start_day = (person.idx * 7) % 600
        status = statuses[i]
        completed = f"{days(start_day + 1 + person.idx % 30)}T00:00:00Z" if status == "completed" else None
        pop.enrollments.append(
            Enrollment(
                idx=len(pop.enrollments),
                person=person.idx,
                course=(person.idx * 31 + seed) % n_courses,
                status=status,
                start_date=f"{days(start_day)}T00:00:00Z",
                completed_date=completed,
            )
        )
    return pop
