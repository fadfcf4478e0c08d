"""OneFile v2.1 emulator state: one tenant's tables and search indexes, the seed, and field coercion.

Pure (no HTTP): ``onefile.py`` serves it. A tenant is one OneFile customer with its organisations,
classrooms, placements and users. Users are indexed by ``(OrganisationID, Role, Archived)`` (sorted ID lists,
so a paged search slices instead of scanning) and by case-folded MISID.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from migrator.sandbox.generator import Population
from migrator.sandbox.store import Record, Table

ROLES: frozenset[int] = frozenset({1, 4, 5, 10, 40, 45})
LEARNER, TRAINEE_ASSESSOR, ASSESSOR, IQA, EMPLOYER, OBSERVER = 1, 4, 5, 10, 40, 45
ROLE_OF_PERSON = {"learner": LEARNER, "assessor": ASSESSOR, "admin": IQA, "employer": EMPLOYER}

BASE_FIELDS: tuple[str, ...] = ("OrganisationID", "FirstName", "LastName", "Email", "Role")
LEARNER_FIELDS: tuple[str, ...] = (*BASE_FIELDS, "DefaultAssessorID", "ClassroomID", "PlacementID")
PLACEMENT_FIELDS: tuple[str, ...] = (*BASE_FIELDS, "PlacementID")

INT_FIELDS = frozenset(
    {
        "OrganisationID",
        "Role",
        "DefaultAssessorID",
        "ClassroomID",
        "PlacementID",
        "ProviderID",
        "DefaultEmployerID",
        "LearnerStatusID",
    }
)
DATE_FIELDS = frozenset({"DOB", "StartOn", "PlannedEndDate", "CreatedOn"})
# Fields a client may send on create/update (case-insensitive on the wire).
USER_WRITABLE: tuple[str, ...] = (
    *LEARNER_FIELDS,
    "MISID",
    "Username",
    "CreatedOn",
    "CompanyName",
    "MobileNumber",
    "Telephone",
    "Website",
    "WorkAddress",
    "ProviderID",
    "DefaultEmployerID",
    "ULN",
    "NINO",
    "EpisodeName",
    "HomeAddress",
    "CentreRegister",
    "DOB",
    "StartOn",
    "PlannedEndDate",
    "L12",
    "L13",
    "L14",
    "L15",
    "L16",
    "SupportFunding",
    "LearnerStatusID",
)
USER_KEYS = {name.casefold(): name for name in USER_WRITABLE}
# GET /User/{id}: every field, null when empty.
USER_FULL: tuple[str, ...] = ("ID", *dict.fromkeys((*USER_WRITABLE, "Archived", "ModifiedOn")))
# POST /User/Search/{page}/{size}: the four fields of the example, then the richer ones.
USER_PAGED: tuple[str, ...] = (
    "ID",
    "FirstName",
    "LastName",
    "MISID",
    "Email",
    "Username",
    "ULN",
    "NINO",
    "DOB",
    "Role",
    "OrganisationID",
    "ClassroomID",
    "PlacementID",
    "DefaultAssessorID",
    "MobileNumber",
    "Telephone",
    "StartOn",
    "PlannedEndDate",
    "Archived",
)

# ID ranges: real OneFile IDs are global, so the two tenants never share one.
TENANT_BASE = {"source": 0, "target": 10_000_000}
CUSTOMER_ID, ORGANISATION_ID, CLASSROOM_ID, PLACEMENT_ID, USER_ID = 2070, 5740, 15379, 18928, 122762


class FieldError(ValueError):
    """A request field is missing or malformed; the message is the 400 body's ``message``."""


def iso_ms(ts: float) -> str:
    """``2022-02-23T12:49:33.150Z`` from a POSIX timestamp."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _seed_date(value: str) -> str:
    """A generator date (``YYYY-MM-DD`` or ``…T…Z``) in OneFile's form; an invalid one is kept as exported."""
    if "T" in value:
        return value[:-1] + ".000Z" if value.endswith("Z") else value
    return value + "T00:00:00.000Z"


def coerce(name: str, value: Any) -> Any:
    """One writable user field from JSON or form text to its stored form; raises FieldError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if name in INT_FIELDS:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise FieldError(
                f"The value '{value}' is not valid for {name}: a whole number is expected."
            ) from None
    if name in DATE_FIELDS:
        text = str(value).strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise FieldError(
                f"The value '{text}' is not valid for {name}: an ISO-8601 date is expected."
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return iso_ms(parsed.timestamp())
    if isinstance(value, bool | int | float):
        return str(value)
    return str(value).strip() if name in ("Email", "MISID") else str(value)


def user_fields(body: dict[str, Any]) -> Record:
    """The known user fields of a (case-folded) body, in canonical casing and stored form."""
    out: Record = {}
    for key, value in body.items():
        name = USER_KEYS.get(key)
        if name is not None:
            out[name] = coerce(name, value)
    return out


def missing_field(fields: Record) -> str | None:
    """The first mandatory field (per role) absent from ``fields``, else None."""
    role = fields.get("Role")
    if role is None:
        return next((f for f in BASE_FIELDS if fields.get(f) is None), None)
    required = (
        LEARNER_FIELDS if role == LEARNER else PLACEMENT_FIELDS if role in (EMPLOYER, OBSERVER) else BASE_FIELDS
    )
    return next((f for f in required if fields.get(f) is None), None)


def _misid_key(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().casefold()
    return text or None


@dataclass
class OneFileTenant:
    """One customer: its tables (``user``, ``classroom``, ``placement``, ``organisation``) and indexes."""

    name: str
    customer: Record
    tables: dict[str, Table]
    by_group: dict[tuple[int, int, bool], list[int]] = field(default_factory=dict)
    by_misid: dict[str, set[int]] = field(default_factory=dict)

    @property
    def users(self) -> Table:
        return self.tables["user"]

    # index maintenance ----------------------------------------------------------------------------
    def index(self, user: Record) -> None:
        key = (user.get("OrganisationID") or 0, user.get("Role") or 0, bool(user.get("Archived")))
        ids = self.by_group.setdefault(key, [])
        if not ids or ids[-1] < user["ID"]:
            ids.append(user["ID"])
        else:
            bisect.insort(ids, user["ID"])
        misid = _misid_key(user.get("MISID"))
        if misid is not None:
            self.by_misid.setdefault(misid, set()).add(user["ID"])

    def unindex(self, user: Record) -> None:
        key = (user.get("OrganisationID") or 0, user.get("Role") or 0, bool(user.get("Archived")))
        ids = self.by_group.get(key, [])
        pos = bisect.bisect_left(ids, user["ID"])
        if pos < len(ids) and ids[pos] == user["ID"]:
            del ids[pos]
        misid = _misid_key(user.get("MISID"))
        if misid is not None:
            self.by_misid.get(misid, set()).discard(user["ID"])

    # queries ---------------------------------------------------------------------------------------
    def user_ids(self, org: int, role: int | None, *, archived: bool, misid: Any = None) -> list[int]:
        """Sorted IDs of the users in ``org`` (of ``role``, or any), archived ones included if asked."""
        roles = [role] if role is not None else sorted(ROLES)
        states = (False, True) if archived else (False,)
        lists = [self.by_group.get((org, r, s), []) for r in roles for s in states]
        lists = [ids for ids in lists if ids]
        if misid is not None:
            wanted = self.by_misid.get(_misid_key(misid) or "", set())
            return sorted(i for ids in lists for i in ids if i in wanted) if wanted else []
        if len(lists) == 1:
            return lists[0]
        return sorted(i for ids in lists for i in ids)

    def org_ids(self) -> set[int]:
        return set(self.tables["organisation"].records)


def credential(seed: int, tenant: str, kind: str) -> str:
    """A deterministic credential for ``tenant`` (stable across restarts with the same seed)."""
    digest = hashlib.sha256(f"onefile:{kind}:{tenant}:{seed}".encode()).hexdigest()
    return f"of-{tenant}-{seed:04d}-{digest[:32]}"


def new_tenant(name: str) -> OneFileTenant:
    base = TENANT_BASE.get(name, 20_000_000)
    tables = {
        "user": Table("user", ("MISID", "Email"), first_id=USER_ID + base),
        "classroom": Table("classroom", ("Name",), first_id=CLASSROOM_ID + base),
        "placement": Table("placement", ("Name",), first_id=PLACEMENT_ID + base),
        "organisation": Table("organisation", ("Name",), first_id=ORGANISATION_ID + base),
    }
    customer = {"ID": CUSTOMER_ID + base, "Name": f"Sandbox {name.title()} Customer"}
    return OneFileTenant(name=name, customer=customer, tables=tables)


def seed_tenant(tenant: OneFileTenant, population: Population, *, with_people: bool, now: float) -> None:
    """Customer, one organisation, a classroom and a placement per population org; people if asked,
    else (a target) a few assessors so that learners can be created."""
    tables = tenant.tables
    org_table = tables["organisation"]
    org_id = org_table.next_id()
    org_table.load(
        org_id,
        {
            "ID": org_id,
            "Name": "Sandbox Training Provider",
            "CustomerID": tenant.customer["ID"],
            "KeychainCreationForNewUserActive": False,
            "KeychainEmailSuppression": False,
        },
    )
    classrooms, placements = tables["classroom"], tables["placement"]
    class_of: list[int] = []
    place_of: list[int] = []
    for org in population.orgs:
        cid, pid = classrooms.next_id(), placements.next_id()
        classrooms.load(cid, {"ID": cid, "Name": org.name, "MISID": org.code, "OrganisationID": org_id})
        placements.load(
            pid,
            {
                "ID": pid,
                "Name": org.name,
                "MISID": f"P{org.code}",
                "OrganisationID": org_id,
                "Active": True,
                "Address": f"{org.town} {org.postcode}",
            },
        )
        class_of.append(cid)
        place_of.append(pid)
    users = tables["user"]
    created = iso_ms(now)
    if not with_people:
        for i, (first, last) in enumerate((("Ava", "Assessor"), ("Liam", "Assessor"), ("Isla", "Assessor"))):
            uid = users.next_id()
            assessor: Record = {
                "ID": uid,
                "OrganisationID": org_id,
                "Role": ASSESSOR,
                "FirstName": first,
                "LastName": last,
                "Email": f"assessor{i + 1}@target.example.com",
                "MISID": f"TA{i + 1:03d}",
                "Archived": False,
                "CreatedOn": created,
                "ModifiedOn": created,
            }
            users.load(uid, assessor)
            tenant.index(assessor)
        return

    base = users.next_id()
    assessors_any: list[int] = []
    assessors_of: dict[int, list[int]] = {}
    for p in population.people:
        if p.role == "assessor":
            assessors_any.append(base + p.idx)
            assessors_of.setdefault(p.org, []).append(base + p.idx)
    user: Record
    for p in population.people:
        uid = base + p.idx
        role = ROLE_OF_PERSON[p.role]
        user = {
            "ID": uid,
            "OrganisationID": org_id,
            "Role": role,
            "FirstName": p.first_name,
            "LastName": p.last_name,
            "MISID": p.employee_number,
            "Username": p.username,
            "Telephone": p.phone,
            "MobileNumber": p.mobile,
            "Archived": not p.active,
            "CreatedOn": _seed_date(p.created),
            "ModifiedOn": _seed_date(p.created),
        }
        if p.email is not None:
            user["Email"] = p.email
        if p.dob is not None:
            user["DOB"] = _seed_date(p.dob)
        if role == LEARNER:
            near = assessors_of.get(p.org) or assessors_any
            if near:
                user["DefaultAssessorID"] = near[p.idx % len(near)]
            user["ClassroomID"] = class_of[p.org]
            user["PlacementID"] = place_of[p.org]
            user["ULN"] = f"{1_000_000_000 + p.idx * 7919 % 8_999_999_999:010d}"
            user["NINO"] = f"{'ABCEGHJKLMNPRSTWXYZ'[p.idx % 19]}{'ABCEGHJKLMNPRSTWXYZ'[p.idx // 19 % 19]}"
            user["NINO"] += f"{p.idx % 1_000_000:06d}{'ABCD'[p.idx % 4]}"
            user["StartOn"] = user["CreatedOn"]
        elif role == EMPLOYER:
            user["PlacementID"] = place_of[p.org]
        users.load(uid, user)
    # Sorted lists built in one pass (IDs ascend with idx), then the MISID index.
    by_group = tenant.by_group
    by_misid = tenant.by_misid
    for user in users.records.values():
        by_group.setdefault((org_id, user["Role"], user["Archived"]), []).append(user["ID"])
        by_misid.setdefault(user["MISID"].casefold(), set()).add(user["ID"])
