"""accessplanit modules (v2) and feeds (v1): their fields, and validation of written bodies. Pure.

One stored record per entity serves both API versions: records hold the v2 field names; a v1 feed renames a
few of them (``ID`` → ``CompanyID`` / ``UserID``, ``Email`` → ``EmailAddress``, ``DOB`` → ``DateOfBirth``).
``ModelState`` keys are ``<module>.<model name>`` as in the v1 document's example (``user.DateOfBirth``): the
model name is the v1 name where it differs (the v2 ``DOB`` field answers as ``user.DateOfBirth``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from migrator.sandbox.accessplanit_odata import FieldInfo, normalize_datetime, schema_of

# The v1 document's example message for a bad date (the only ModelState message it shows).
BAD_DATE = "An error has occurred."


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str  # v2 name, PascalCase
    data_type: str = "String"
    sortable: bool = True
    filterable: bool = True
    readonly: bool = False  # ignored when written (ID, computed and audit fields)
    required: bool = False  # on create; and cannot be emptied by an update
    listed: bool = False  # in the default field set of a list without $select
    choices: tuple[str, ...] = ()  # allowed values (case-insensitive, stored canonical)
    ref: str | None = None  # module whose ID this field holds
    v1: str | None = None  # v1 name where it differs from ``name``
    in_v1: bool = True  # the field is part of the v1 feed (only for modules with a v1 feed)

    @property
    def model_name(self) -> str:
        return self.v1 or self.name

    @property
    def info(self) -> FieldInfo:
        return FieldInfo(self.name, self.data_type, self.sortable, self.filterable)


@dataclass(frozen=True)
class Module:
    name: str  # lowercase, as in the URL and ModelState keys
    title: str  # PascalCase, as in the module list
    fields: tuple[FieldDef, ...]
    natural_keys: tuple[str, ...] = ()
    v1_feed: str | None = None  # "users", "companies"
    v1_entity: str = ""  # XML element name of a v1 record

    @cached_property
    def schema(self) -> dict[str, FieldInfo]:
        return schema_of(f.info for f in self.fields)

    @cached_property
    def by_name(self) -> dict[str, FieldDef]:
        return {f.name.casefold(): f for f in self.fields}

    @cached_property
    def by_v1_name(self) -> dict[str, FieldDef]:
        return {(f.v1 or f.name).casefold(): f for f in self.fields if f.in_v1}

    @cached_property
    def default_select(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.listed)

    @cached_property
    def all_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @cached_property
    def v1_pairs(self) -> tuple[tuple[str, str], ...]:
        """``(v1 name, v2 name)`` of the v1 feed's fields, in document order."""
        return tuple((f.v1 or f.name, f.name) for f in self.fields if f.in_v1)

    def help(self) -> dict[str, Any]:
        return {
            "Module": self.name,
            "Fields": [
                {"Name": f.name, "DataType": f.data_type, "Sortable": f.sortable, "Filterable": f.filterable}
                for f in self.fields
            ],
        }


_AUDIT = (
    FieldDef("DateCreated", "DateTime", readonly=True, in_v1=False),
    FieldDef("DateUpdated", "DateTime", readonly=True, in_v1=False),
)

USER_STATUSES = ("Active", "Inactive")

USER = Module(
    "user",
    "User",
    (
        FieldDef("ID", readonly=True, listed=True, v1="UserID"),
        FieldDef("Forenames", required=True, listed=True),
        FieldDef("MiddleNames", sortable=False, filterable=False),
        FieldDef("Surname", required=True, listed=True),
        FieldDef("Fullname", readonly=True, filterable=False, in_v1=False),
        FieldDef("Email", listed=True, v1="EmailAddress"),
        FieldDef("Mobile", filterable=False),
        FieldDef("Phone", filterable=False),
        FieldDef("DOB", "DateTime", v1="DateOfBirth"),
        FieldDef("JobTitle"),
        FieldDef("ExternalID", listed=True),
        FieldDef("MainCompanyID", listed=True, ref="company"),
        FieldDef("MainRoleID"),
        FieldDef("Status", listed=True, choices=USER_STATUSES),  # "Deleted" is set by DELETE only
        *_AUDIT,
        FieldDef("UniqueID", readonly=True, in_v1=False),
    ),
    natural_keys=("Email", "ExternalID"),
    v1_feed="users",
    v1_entity="User",
)

COMPANY = Module(
    "company",
    "Company",
    (
        FieldDef("ID", readonly=True, listed=True, v1="CompanyID"),
        FieldDef("Name", required=True, listed=True),
        FieldDef("MainContactUserID", ref="user"),
        FieldDef("EmailAddress", listed=True),
        FieldDef("ExternalID", listed=True),
        FieldDef("AddressLineOne", filterable=False),
        FieldDef("Town", listed=True),
        FieldDef("County"),
        FieldDef("Postcode"),
        FieldDef("Country"),
        *_AUDIT,
    ),
    natural_keys=("Name", "ExternalID"),
    v1_feed="companies",
    v1_entity="Company",
)

COURSE = Module(
    "course",
    "Course",
    (
        FieldDef("ID", readonly=True, listed=True),
        FieldDef("Name", required=True, listed=True),
        FieldDef("Code", listed=True),
        FieldDef("Description", sortable=False, filterable=False),
        FieldDef("Category", listed=True),
        FieldDef("DurationHours", "Decimal"),
        FieldDef("Status", listed=True, choices=("Active", "Archived")),
        *_AUDIT,
    ),
    natural_keys=("Code",),
)

COURSEDATE = Module(
    "coursedate",
    "CourseDate",
    (
        FieldDef("ID", readonly=True, listed=True),
        FieldDef("CourseID", required=True, listed=True, ref="course"),
        FieldDef("Label", listed=True),
        FieldDef("StartDate", "DateTime", required=True, listed=True),
        FieldDef("EndDate", "DateTime", listed=True),
        FieldDef("Location", listed=True),
        FieldDef("Places", "Int32"),
        FieldDef("SpacesLeft", "Int32", readonly=True, listed=True),
        FieldDef("Status", listed=True, choices=("Available", "Full", "Cancelled", "Completed")),
        *_AUDIT,
    ),
)

BOOKING_STATUSES = ("Booked", "Completed", "Cancelled", "NotAttended")

USERCOURSEDATE = Module(
    "usercoursedate",
    "UserCourseDate",
    (
        FieldDef("ID", readonly=True, listed=True),
        FieldDef("UserID", required=True, listed=True, ref="user"),
        FieldDef("CourseDateID", required=True, listed=True, ref="coursedate"),
        FieldDef("CourseID", readonly=True, listed=True),
        FieldDef("Status", listed=True, choices=BOOKING_STATUSES),
        FieldDef("BookedDate", "DateTime", listed=True),
        FieldDef("CompletedDate", "DateTime", listed=True),
        FieldDef("Passed", "Boolean", listed=True),
        FieldDef("Score", "Decimal"),
        *_AUDIT,
    ),
    natural_keys=("UserCourseDateKey",),
)

# v1 only: the groups a company belongs to (``/api/v1/companies/{id}/companygroups``).
COMPANYGROUP = Module(
    "companygroup",
    "CompanyGroup",
    (FieldDef("ID", readonly=True, v1="CompanyGroupID"), FieldDef("Name", required=True)),
    natural_keys=("Name",),
    v1_entity="CompanyGroup",
)

MODULES: dict[str, Module] = {m.name: m for m in (USER, COMPANY, COURSE, COURSEDATE, USERCOURSEDATE)}


#: the values of the ``module_fields`` switch → the fields each module lacks. ``full`` (the default): every
#: field modelled here; ``lean``: a platform whose course, course date and booking lack fields the connectors
#: assume (none of them documented) that no shipped plan maps: a course's ``Category`` and ``DurationHours``, a
#: course date's ``Places``, a booking's ``Passed`` and ``Score``
MODULE_FIELDS: Mapping[str, Mapping[str, frozenset[str]]] = {
    "full": {},
    "lean": {
        "course": frozenset({"Category", "DurationHours"}),
        "coursedate": frozenset({"Places"}),
        "usercoursedate": frozenset({"Passed", "Score"}),
    },
}
_SERVED: dict[str, dict[str, Module]] = {
    mode: {
        name: replace(module, fields=tuple(f for f in module.fields if f.name not in lacks[name]))
        if name in lacks
        else module
        for name, module in MODULES.items()
    }
    for mode, lacks in MODULE_FIELDS.items()
}


def module_named(name: str, fields: str = "full") -> Module | None:
    """Module names are case-insensitive (``User``, ``user``, ``COURSEDATE``); ``fields`` is a value of the
    ``module_fields`` switch: the module as a platform of that kind serves it."""
    served = _SERVED.get(fields)
    if served is None:
        known = ", ".join(MODULE_FIELDS)
        raise ValueError(f"accessplanit.module_fields must be one of {known}; got {fields!r}")
    return served.get(name.casefold())


# validation ----------------------------------------------------------------------------------------
@dataclass
class WriteResult:
    changes: dict[str, Any] = field(default_factory=dict)
    model_state: dict[str, list[str]] = field(default_factory=dict)

    def error(self, module: Module, model_name: str, message: str) -> None:
        self.model_state.setdefault(f"{module.name}.{model_name}", []).append(message)


def _coerce(f: FieldDef, value: Any) -> tuple[Any, str | None]:
    """``(stored value, None)`` or ``(None, message)``."""
    if value is None:
        return None, None
    if f.data_type == "String":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return None, f"The value for {f.model_name} must be text."
        text = str(value)
        if f.choices:
            for choice in f.choices:
                if choice.casefold() == text.strip().casefold():
                    return choice, None
            return None, f"'{text}' is not a valid {f.model_name}; use one of: {', '.join(f.choices)}."
        return text, None
    if f.data_type == "DateTime":
        if not isinstance(value, str):
            return None, BAD_DATE
        normal = normalize_datetime(value)
        return (normal, None) if normal is not None else (None, BAD_DATE)
    if f.data_type == "Int32":
        if isinstance(value, bool):
            return None, f"The value '{value}' is not valid for {f.model_name}."
        try:
            number = int(value)
        except (TypeError, ValueError):
            return None, f"The value '{value}' is not valid for {f.model_name}."
        if isinstance(value, float) and number != value:
            return None, f"The value '{value}' is not valid for {f.model_name}."
        return number, None
    if f.data_type == "Decimal":
        if isinstance(value, bool):
            return None, f"The value '{value}' is not valid for {f.model_name}."
        try:
            return float(value), None
        except (TypeError, ValueError):
            return None, f"The value '{value}' is not valid for {f.model_name}."
    if f.data_type == "Boolean":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.strip().casefold() in ("true", "false"):
            return value.strip().casefold() == "true", None
        return None, f"The value '{value}' is not valid for {f.model_name}."
    return value, None


def validate_write(
    module: Module,
    body: Mapping[str, Any],
    *,
    create: bool,
    v1: bool = False,
    reject_unknown: bool = True,
    also_required: frozenset[str] = frozenset(),
) -> WriteResult:
    """Check and coerce a POST / PUT body (field names case-insensitive; v1 or v2 names).

    Read-only fields (IDs, computed and audit fields, v1 ``Links``) are ignored so that a record read can be
    written back. ``also_required`` adds required fields by v2 name (switches such as a required Email).
    """
    result = WriteResult()
    names = module.by_v1_name if v1 else module.by_name
    for key, value in body.items():
        f = names.get(key.casefold())
        if f is None:
            if v1 and key.casefold() == "links":
                continue
            if reject_unknown:
                result.error(module, key, f"'{key}' is not a field of {module.name}.")
            continue
        if f.readonly:
            continue
        stored, message = _coerce(f, value)
        if message is not None:
            result.error(module, f.model_name, message)
            continue
        result.changes[f.name] = stored
    for f in module.fields:
        if not (f.required or f.name in also_required):
            continue
        present = f.name in result.changes
        empty = present and (result.changes[f.name] is None or str(result.changes[f.name]).strip() == "")
        if (create and not present) or empty:
            key = f"{module.name}.{f.model_name}"
            if key not in result.model_state:
                result.error(module, f.model_name, f"The {f.model_name} field is required.")
    return result


def full_name(record: Mapping[str, Any]) -> str:
    parts = (record.get("Forenames"), record.get("MiddleNames"), record.get("Surname"))
    return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
