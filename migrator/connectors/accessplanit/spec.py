"""What accessplanit API v2 and API v1 can read and write: the declarations the accessplanit readers and
writers take their endpoints, keys, batch limits and match keys from.

Every v2 module is read and written the same way (``v2_read``, ``v2_writes``), so the connector serves any
module name the same as the five declared here. The v1 feeds are declared by their reads (``V1_USERS``,
``V1_COMPANIES``, ``V1_COMPANY_GROUPS``), each feed written at its read path. ``TOKEN`` is the token call
both APIs share.
"""

from __future__ import annotations

from collections.abc import Mapping

from migrator.connectors.spec import (
    ANY_FIELD,
    EntitySpec,
    Paging,
    PlatformSpec,
    ReadSpec,
    WriteSpec,
    endpoint,
    entities,
    writes,
)
from migrator.plan.rates import Rate

__all__ = [
    "ACCESSPLANIT",
    "ACCESSPLANIT_V1",
    "TOKEN",
    "V1_COMPANIES",
    "V1_COMPANY_GROUPS",
    "V1_USERS",
    "v2_read",
    "v2_writes",
]

#: the password grant, under either API's base URL (the v1 document names no token URL: v2's is assumed); the
#: document's verb is GET, the vendor's demo POSTs a form (``auth`` tries both)
TOKEN = endpoint("GET", "/token")

_APIT_HOURLY = Rate(5000, 3600)  # v1 document: 5000 requests per hour per endpoint; v2 reuses it (ASSUMED)
_APIT_USER_FIELDS = frozenset(
    {
        "ID",
        "Forenames",
        "MiddleNames",
        "Surname",
        "Email",
        "Mobile",
        "Phone",
        "DOB",
        "JobTitle",
        "ExternalID",
        "MainCompanyID",
        "MainRoleID",
        "Status",
    }
)
_APIT_COMPANY_FIELDS = frozenset(
    {
        "ID",
        "Name",
        "MainContactUserID",
        "EmailAddress",
        "ExternalID",
        "AddressLineOne",
        "Town",
        "County",
        "Postcode",
        "Country",
    }
)
# The document's only course date fields are in its examples ("$select=label,startdate,status,spacesleft",
# "$filter=CourseID eq 'FirAid'", "StartDate lt …"; SpacesLeft is counted, not written); it names no course or
# booking field. The rest are ASSUMED, writable fields only (a platform lists its own at
# GET /apihelp/v2/modules/{module}). They are what an $upsert sends whole ("the full record data"), those of
# them the module's own list names (``apihelp``).
_APIT_COURSE_FIELDS = frozenset({"ID", "Name", "Code", "Description", "Category", "DurationHours", "Status"})
_APIT_COURSEDATE_FIELDS = frozenset(
    {"ID", "CourseID", "Label", "StartDate", "EndDate", "Location", "Places", "Status"}
)
#: a booking: its course is its course date's (``CourseID``, read only, is not written)
_APIT_USERCOURSEDATE_FIELDS = frozenset(
    {"ID", "UserID", "CourseDateID", "Status", "BookedDate", "CompletedDate", "Passed", "Score"}
)
# $top defaults to 50 and the document recommends no more; the hard maximum is not documented (ASSUMED 500).
_APIT_V2_PAGING = Paging("accessplanit_v2_page", default_size=50, max_size=500)


def v2_read(name: str) -> ReadSpec:
    """``GET /{module}``, paged with ``$top``/``$skip``; records keyed by ``ID``."""
    return ReadSpec(endpoint("GET", f"/{name}"), _APIT_V2_PAGING, key="ID")


def v2_writes(name: str) -> Mapping[str, WriteSpec]:
    """``$upsert`` (the query parameter named after ``?``), create and partial update, one record per request;
    every call counts against the module path."""
    path = f"/{name}"
    return writes(
        upsert=WriteSpec(
            endpoint("POST", path + "?$upsert", path), match_keys=(ANY_FIELD,), match_required=True
        ),
        # create-only: its match key is how a create whose answer was lost is found again (required)
        create=WriteSpec(endpoint("POST", path), match_keys=(ANY_FIELD,), match_required=True),
        update=WriteSpec(endpoint("PUT", path + "/{id}", path), match_keys=(ANY_FIELD,), match_required=True),
    )


def _v2_module(name: str, fields: frozenset[str] | None) -> EntitySpec:
    return EntitySpec(name, read=v2_read(name), writes=v2_writes(name), fields=fields)


ACCESSPLANIT = PlatformSpec(
    name="accessplanit",
    title="accessplanit API v2",
    credentials=("username", "password"),  # or api_key instead: alternative_credentials
    budget=_APIT_HOURLY,
    budget_source="5000/hour per endpoint (v1 document; assumed for v2)",
    alternative_credentials=(("api_key",),),
    entities=entities(
        _v2_module("user", _APIT_USER_FIELDS),
        _v2_module("company", _APIT_COMPANY_FIELDS),
        _v2_module("course", _APIT_COURSE_FIELDS),
        _v2_module("coursedate", _APIT_COURSEDATE_FIELDS),
        _v2_module("usercoursedate", _APIT_USERCOURSEDATE_FIELDS),
    ),
)

# v1: PageSize/PageIndex from 1, 500 records when no parameters; bare array, so no totals (ASSUMED).
_APIT_V1_PAGING = Paging("accessplanit_v1_page", default_size=500, max_size=500, knows_total=False)


def _v1_writes(read: ReadSpec) -> Mapping[str, WriteSpec]:
    path = read.endpoint.path
    return writes(  # v1: GET, POST, PUT only; no $upsert, no DELETE
        create=WriteSpec(endpoint("POST", path), match_keys=(ANY_FIELD,), match_required=True),  # as in v2
        update=WriteSpec(endpoint("PUT", path + "/{id}", path), match_keys=(read.key,), match_required=True),
    )


# v1 names the user key UserID (ASSUMED), the e-mail EmailAddress and the birth date DateOfBirth (the v1
# document's ModelState example "user.DateOfBirth"); nothing says the v2 names (ID, Email, DOB) are accepted.
V1_USERS = ReadSpec(endpoint("GET", "/users"), _APIT_V1_PAGING, key="UserID")
V1_COMPANIES = ReadSpec(endpoint("GET", "/companies"), _APIT_V1_PAGING, key="CompanyID")
#: read by following each company's CompanyGroups link (HATEOAS); the link's calls count apart from /companies
V1_COMPANY_GROUPS = ReadSpec(
    endpoint("GET", "/companies/{id}/companygroups"), _APIT_V1_PAGING, key="Key", parent="company"
)

ACCESSPLANIT_V1 = PlatformSpec(
    name="accessplanit_v1",
    title="accessplanit API v1 (feeds)",
    credentials=("username", "password"),
    budget=_APIT_HOURLY,
    budget_source="5000/hour per endpoint (v1 document)",
    alternative_credentials=(("api_key",),),
    entities=entities(
        EntitySpec(
            "user",
            read=V1_USERS,
            writes=_v1_writes(V1_USERS),
            fields=(_APIT_USER_FIELDS - {"ID", "Email", "DOB"}) | {"UserID", "EmailAddress", "DateOfBirth"},
        ),
        EntitySpec(
            "company",
            read=V1_COMPANIES,
            writes=_v1_writes(V1_COMPANIES),
            fields=_APIT_COMPANY_FIELDS | {"CompanyID"},
        ),
        EntitySpec("companygroup", read=V1_COMPANY_GROUPS),
    ),
)
