"""What each platform can read and write — declarative data only, derived from ``shared/api-reference.md``.

Per platform: the credentials a connection needs, the documented default rate budget and its scope (one
budget per endpoint path, or one for the whole API), and the entities with their read endpoint (source key
field, paging style, default and maximum page size), write modes (endpoint, requests per batch, maximum batch
size), known target fields (``None`` = not known, any field accepted) and match keys.

Endpoint paths are relative to the connection's ``base_url``. ``budget_key`` names the budget an endpoint
draws from: accessplanit counts requests "per endpoint" — taken as per module path, shared by GET/POST/PUT of
that module (``/user``); OneFile counts the whole API (``*``).

Values marked ``# ASSUMED`` are not in any public document (see the reference's [ASSUMED] tags); the engine must
treat them as defaults that a plan can override.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from migrator.plan.rates import Rate

__all__ = [
    "ALTERNATIVE_CREDENTIALS",
    "ANY_FIELD",
    "CATALOG",
    "Endpoint",
    "EntitySpec",
    "Paging",
    "PlatformSpec",
    "ReadSpec",
    "WriteSpec",
    "entity_spec",
    "platform_spec",
]

#: ``match_keys`` value meaning "any known (filterable) field of the entity" (accessplanit ``$upsert``).
ANY_FIELD = "*"

PagingStyle = Literal["offset", "page", "none", "file"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    budget_key: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class Paging:
    """``offset``: record offset + size (Velpic startIndex/maxResults); ``page``: page number + size
    (``first`` = number of the first page); ``none``: one request returns everything; ``file``: local file,
    no requests. ``knows_total``: the response says how many records exist, so no extra empty-page request."""

    style: PagingStyle
    default_size: int | None = None
    max_size: int | None = None
    first: int = 0
    knows_total: bool = True


@dataclass(frozen=True, slots=True)
class ReadSpec:
    endpoint: Endpoint
    paging: Paging
    key: str
    required_filters: tuple[str, ...] = ()
    parent: str | None = None  # read once per record of this entity (nested resource)


@dataclass(frozen=True, slots=True)
class WriteSpec:
    """One write mode. ``per_record``: one request per record (``batch`` ignored, max 1); else one request
    per batch of up to ``max_batch`` records. ``match_keys``: allowed ``match`` values (``ANY_FIELD`` = any
    known field); ``match_required``: the mode cannot work without one."""

    endpoint: Endpoint
    per_record: bool = True
    max_batch: int = 1
    default_batch: int = 1
    match_keys: tuple[str, ...] = ()
    match_required: bool = False


@dataclass(frozen=True, slots=True)
class EntitySpec:
    name: str
    read: ReadSpec | None = None
    writes: Mapping[str, WriteSpec] = field(default_factory=dict)
    fields: frozenset[str] | None = None  # None: not known, any field accepted


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    name: str
    title: str
    credentials: tuple[str, ...]  # required connection fields besides base_url
    entities: Mapping[str, EntitySpec]
    budget: Rate | None = None
    budget_scope: Literal["endpoint", "api"] = "endpoint"
    needs_base_url: bool = True
    open_entities: bool = False  # files: any entity name (a file name)
    budget_source: str = ""


def _entities(*specs: EntitySpec) -> Mapping[str, EntitySpec]:
    return MappingProxyType({s.name: s for s in specs})


def _writes(**modes: WriteSpec) -> Mapping[str, WriteSpec]:
    return MappingProxyType(modes)


def _ep(method: str, path: str, budget_key: str | None = None) -> Endpoint:
    return Endpoint(method, path, budget_key if budget_key is not None else path)


# ---------------------------------------------------------------- Velpic / Damstra Learning v2 (§1)

_VELPIC_PAGING = Paging("offset", default_size=100, max_size=1000)  # sizes ASSUMED: no documented maximum
_VELPIC_USER_FIELDS = frozenset(
    {
        "id",
        "userName",
        "firstName",
        "lastName",
        "emailAddress",
        "phoneNumber",
        "mobileNumber",
        "employeeNumber",
        "groups",
        "groupsSupervised",
        "roles",
        "timeZone",
        "sendWelcomeEmail",
        "password",
    }
)

VELPIC = PlatformSpec(
    name="velpic",
    title="Velpic / Damstra Learning v2",
    credentials=("access_key",),
    budget=None,  # nothing public (§1.1)
    budget_source="none documented",
    entities=_entities(
        EntitySpec(
            "user",
            read=ReadSpec(_ep("GET", "/user"), _VELPIC_PAGING, key="id"),
            writes=_writes(
                bulk=WriteSpec(
                    _ep("POST", "/bulkUserImport"),
                    per_record=False,
                    max_batch=500,  # ASSUMED: no documented limit
                    default_batch=100,
                    # mergeType (§1.6). "none" is left out on purpose: it always creates, so a resumed
                    # batch would create duplicates.
                    match_keys=("email", "empNo", "userName"),
                    match_required=True,
                ),
                create=WriteSpec(
                    _ep("POST", "/user"), match_keys=("emailAddress", "employeeNumber", "userName")
                ),
                update=WriteSpec(_ep("PUT", "/user/{userId}"), match_keys=("id",), match_required=True),
            ),
            fields=_VELPIC_USER_FIELDS,
        ),
        EntitySpec(
            "group",
            read=ReadSpec(_ep("GET", "/group"), _VELPIC_PAGING, key="id"),
            writes=_writes(
                create=WriteSpec(_ep("POST", "/group"), match_keys=("name",)),
                update=WriteSpec(_ep("POST", "/group/{groupId}"), match_keys=("id",), match_required=True),
            ),
            fields=frozenset({"name", "description", "parentId"}),
        ),
        EntitySpec(
            "group_member",
            writes=_writes(
                create=WriteSpec(_ep("POST", "/group/{groupId}/add_members"), match_keys=("groupId",)),
            ),
            fields=frozenset({"groupId", "userIds"}),
        ),
        EntitySpec(
            "group_supervisor",
            writes=_writes(
                create=WriteSpec(_ep("POST", "/group/{groupId}/add_supervisors"), match_keys=("groupId",)),
            ),
            fields=frozenset({"groupId", "userIds"}),
        ),
        EntitySpec("lesson", read=ReadSpec(_ep("GET", "/lesson"), _VELPIC_PAGING, key="lessonId")),
        EntitySpec(
            "lesson_schedule",
            read=ReadSpec(
                _ep("GET", "/user/{userId}/lesson_schedule"),
                Paging("offset", default_size=100, max_size=1000, knows_total=False),  # no meta (§1.5)
                key="id",
                parent="user",
            ),
            writes=_writes(
                create=WriteSpec(_ep("POST", "/user/{userId}/lesson_schedule"), match_keys=("userId",)),
            ),
            fields=frozenset({"userId", "lessonVersionIds", "scheduleDate", "gracePeriod", "gracePeriodUnit"}),
        ),
        EntitySpec(
            # a manual completion (completion history): POST /lesson_schedule/{userId}/complete_lesson
            "lesson_completion",
            writes=_writes(
                create=WriteSpec(
                    _ep("POST", "/lesson_schedule/{userId}/complete_lesson"),
                    match_keys=("lessonId", "lessonVersionId"),
                ),
            ),
            fields=frozenset(
                {"userId", "lessonId", "lessonVersionId", "completedDate", "manuallyCompletedByUserId"}
            ),
        ),
        EntitySpec(
            # instructor-led training sessions (§1.5 "ILT sessions"); dates 2018-05-19T01:00:06.000+0800
            "ilt_session",
            read=ReadSpec(_ep("GET", "/ilt_session"), _VELPIC_PAGING, key="id"),
            writes=_writes(
                # in doubt: looked up among the instructor's sessions by lessonId + startDatetime
                create=WriteSpec(_ep("POST", "/ilt_session"), match_keys=("startDatetime",)),
                update=WriteSpec(
                    _ep("PATCH", "/ilt_session/{iltSessionId}"), match_keys=("id",), match_required=True
                ),
            ),
            fields=frozenset(
                {
                    "id",
                    "lessonId",
                    "startDatetime",
                    "endDatetime",
                    "location",
                    "instructorId",
                    "notes",
                    "statusId",
                    "numberOfPlaces",
                }
            ),
        ),
        EntitySpec(
            # users registered to a session (they must hold a schedule of its lesson); twice = no-op
            "ilt_registration",
            writes=_writes(
                create=WriteSpec(
                    _ep("POST", "/ilt_session/{iltSessionId}/bulk_register"), match_keys=("sessionId",)
                ),
            ),
            fields=frozenset({"sessionId", "userIds"}),
        ),
        EntitySpec(
            # attendance and results: attendees = [{id (the ATTENDEE id), passed, attended}]
            "ilt_attendance",
            writes=_writes(
                create=WriteSpec(
                    _ep("POST", "/ilt_session/{iltSessionId}/save_progress"), match_keys=("sessionId",)
                ),
            ),
            fields=frozenset({"sessionId", "attendees", "userId", "passed", "attended"}),
        ),
    ),
)

# ---------------------------------------------------------------- accessplanit v2 (§2.2) and v1 (§2.1)

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
# $top defaults to 50 and the document recommends no more; the hard maximum is not documented (ASSUMED 500).
_APIT_V2_PAGING = Paging("page", default_size=50, max_size=500, first=0, knows_total=True)


def _apit_v2_module(name: str, fields: frozenset[str] | None) -> EntitySpec:
    path = f"/{name}"
    return EntitySpec(
        name,
        read=ReadSpec(_ep("GET", path), _APIT_V2_PAGING, key="ID"),
        writes=_writes(
            upsert=WriteSpec(
                _ep("POST", path + "?$upsert", path), match_keys=(ANY_FIELD,), match_required=True
            ),
            create=WriteSpec(_ep("POST", path), match_keys=(ANY_FIELD,)),
            update=WriteSpec(_ep("PUT", path + "/{id}", path), match_keys=(ANY_FIELD,), match_required=True),
        ),
        fields=fields,
    )


ACCESSPLANIT = PlatformSpec(
    name="accessplanit",
    title="accessplanit API v2",
    credentials=("username", "password"),  # or api_key instead: see ALTERNATIVE_CREDENTIALS
    budget=_APIT_HOURLY,
    budget_source="5000/hour per endpoint (v1 document; assumed for v2)",
    entities=_entities(
        _apit_v2_module("user", _APIT_USER_FIELDS),
        _apit_v2_module("company", _APIT_COMPANY_FIELDS),
        _apit_v2_module("course", None),
        _apit_v2_module("coursedate", None),
        _apit_v2_module("coursetemplate", None),
        _apit_v2_module("usercoursedate", None),
    ),
)

# v1: PageSize/PageIndex from 1, 500 records when no parameters; bare array, so no totals (ASSUMED).
_APIT_V1_PAGING = Paging("page", default_size=500, max_size=500, first=1, knows_total=False)


def _apit_v1_feed(name: str, path: str, key: str, fields: frozenset[str]) -> EntitySpec:
    return EntitySpec(
        name,
        read=ReadSpec(_ep("GET", path), _APIT_V1_PAGING, key=key),
        writes=_writes(  # v1: GET, POST, PUT only; no $upsert, no DELETE
            create=WriteSpec(_ep("POST", path), match_keys=(ANY_FIELD,)),
            update=WriteSpec(_ep("PUT", path + "/{id}", path), match_keys=(key,), match_required=True),
        ),
        fields=fields,
    )


ACCESSPLANIT_V1 = PlatformSpec(
    name="accessplanit_v1",
    title="accessplanit API v1 (feeds)",
    credentials=("username", "password"),
    budget=_APIT_HOURLY,
    budget_source="5000/hour per endpoint (v1 document)",
    entities=_entities(
        # v1 names the user key UserID (ASSUMED), the e-mail EmailAddress and the birth date DateOfBirth (the
        # v1 document's ModelState example "user.DateOfBirth"); the v2 names are accepted too.
        _apit_v1_feed(
            "user", "/users", "UserID", _APIT_USER_FIELDS | {"UserID", "EmailAddress", "DateOfBirth"}
        ),
        _apit_v1_feed("company", "/companies", "CompanyID", _APIT_COMPANY_FIELDS | {"CompanyID"}),
        EntitySpec(  # read by following each company's CompanyGroups link (HATEOAS)
            "companygroup",
            read=ReadSpec(
                _ep("GET", "/companies/{id}/companygroups"), _APIT_V1_PAGING, key="Key", parent="company"
            ),
        ),
    ),
)

# ---------------------------------------------------------------- OneFile v2.1 (§3)

_ONEFILE_USER_FIELDS = frozenset(
    {
        "ID",
        "OrganisationID",
        "FirstName",
        "LastName",
        "Email",
        "Role",
        "DefaultAssessorID",
        "ClassroomID",
        "PlacementID",
        "MISID",
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
    }
)
_ONEFILE_ALL = "*"  # the 300/minute limit covers the whole API: every OneFile request draws from budget "*"
_ONEFILE_UNPAGED = Paging("none")
_ONEFILE_REF_FIELDS = frozenset({"ID", "OrganisationID", "Name", "MISID"})

ONEFILE = PlatformSpec(
    name="onefile",
    title="OneFile API v2.1",
    credentials=("customer_token",),
    budget=Rate(300, 60),  # documented: 300 calls per minute
    budget_scope="api",
    budget_source="300/minute for the whole API (documented)",
    entities=_entities(
        EntitySpec(
            "user",
            # Paged search: pages from 1, size capped at 100 (ASSUMED); no totals: read until a short page/204.
            # The filter is the search body: {OrganisationID, Role?, FirstName?, LastName?, MISID?}.
            read=ReadSpec(
                _ep("POST", "/User/Search/{pageNumber}/{pageSize}", _ONEFILE_ALL),
                Paging("page", default_size=100, max_size=100, first=1, knows_total=False),
                key="ID",
                required_filters=("OrganisationID",),
            ),
            writes=_writes(
                # create: mandatory fields per Role checked before sending; in-doubt lookup by MISID or Email
                create=WriteSpec(_ep("POST", "/User", _ONEFILE_ALL), match_keys=("MISID", "Email")),
                update=WriteSpec(
                    _ep("POST", "/User/{id}", _ONEFILE_ALL), match_keys=("ID",), match_required=True
                ),
            ),
            fields=_ONEFILE_USER_FIELDS,
        ),
        EntitySpec(
            "customer", read=ReadSpec(_ep("GET", "/Customer", _ONEFILE_ALL), _ONEFILE_UNPAGED, key="ID")
        ),
        EntitySpec(
            "classroom",
            read=ReadSpec(
                _ep("POST", "/Classroom/Search", _ONEFILE_ALL),
                _ONEFILE_UNPAGED,
                key="ID",
                required_filters=("OrganisationID",),
            ),
            # The API cannot create or change a classroom. ``update`` only FINDS the existing classroom of
            # OrganisationID whose Name (or MISID) equals the mapped one, so the step's crosswalk maps each
            # source record to that classroom's ID (a missing one is a dead letter: create it in OneFile).
            writes=_writes(
                update=WriteSpec(
                    _ep("POST", "/Classroom/Search", _ONEFILE_ALL),
                    match_keys=("Name", "MISID"),
                    match_required=True,
                )
            ),
            fields=_ONEFILE_REF_FIELDS,
        ),
        EntitySpec(
            "placement",
            read=ReadSpec(
                _ep("POST", "/Placement/Search", _ONEFILE_ALL),
                _ONEFILE_UNPAGED,
                key="ID",
                required_filters=("OrganisationID",),
            ),
            writes=_writes(
                create=WriteSpec(_ep("POST", "/Placement", _ONEFILE_ALL), match_keys=("MISID", "Name")),
                # as for classrooms: find the existing placement by Name (or MISID); nothing is changed
                update=WriteSpec(
                    _ep("POST", "/Placement/Search", _ONEFILE_ALL),
                    match_keys=("Name", "MISID"),
                    match_required=True,
                ),
            ),
            fields=frozenset({"ID", "OrganisationID", "Name", "MISID", "Active", "Address"}),
        ),
        EntitySpec(
            "organisation",
            read=ReadSpec(
                _ep("POST", "/Organisation/Search", _ONEFILE_ALL),
                _ONEFILE_UNPAGED,
                key="ID",
                required_filters=("CustomerID",),  # the document's body: {"CustomerID": 2070}
            ),
        ),
    ),
)

# ---------------------------------------------------------------- aNewSpring (§4)

_ANS_USER_FIELDS = frozenset(
    {
        "userID",
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
        "password",
        "generatePassword",
        "forcePasswordChange",
        "notify",
        "active",
        "renewable",
        "role",
    }
)

ANEWSPRING = PlatformSpec(
    name="anewspring",
    title="aNewSpring",
    credentials=("api_key",),
    budget=None,  # nothing public (§4)
    budget_source="none documented",
    entities=_entities(
        EntitySpec(
            "user",
            # getUsers answers every user at once (no paging) with {id, uid, name, login, email, active}; when
            # the map reads any other field the connector also calls getUser/{id} per user. Key: the generated
            # ``uid`` (users created in the UI have no external ``id``).
            read=ReadSpec(_ep("GET", "/getUsers"), Paging("none"), key="uid"),
            writes=_writes(
                # Addressed by external ID: the match key is always the userID path parameter.
                upsert=WriteSpec(
                    _ep("POST", "/addOrUpdateUser/{userID}"), match_keys=("userID",), match_required=True
                ),
                # 409 = the ID (or login) exists; in-doubt batches are resolved with userExists/{userID}
                create=WriteSpec(_ep("POST", "/addUser/{userID}"), match_keys=("userID",)),
                update=WriteSpec(
                    _ep("POST", "/updateUser/{userID}"), match_keys=("userID",), match_required=True
                ),
            ),
            fields=_ANS_USER_FIELDS,
        ),
        EntitySpec(
            # aNewSpring has no call that lists groups: the distinct ``company`` values of the users (read with
            # getUser per user), one record {name} each, e.g. to become target groups.
            "company",
            read=ReadSpec(_ep("GET", "/getUser/{userID}"), Paging("none"), key="name", parent="user"),
        ),
        EntitySpec(
            "group",  # no getGroups call: write only
            writes=_writes(
                # 409 = the group exists: done, with that ID
                create=WriteSpec(_ep("POST", "/addGroup/{groupID}"), match_keys=("groupID",)),
                update=WriteSpec(
                    _ep("POST", "/updateGroup/{groupID}"), match_keys=("groupID",), match_required=True
                ),
            ),
            fields=frozenset({"groupID", "type", "name", "parent"}),
        ),
        EntitySpec(
            # one record per (group, user); a batch is sent as one addGroupUsers per group with repeated
            # ``user`` and ignoreDuplicates=true, so sending it again is safe
            "group_member",
            writes=_writes(
                create=WriteSpec(
                    _ep("POST", "/addGroupUsers/{groupID}"),
                    per_record=False,
                    max_batch=200,  # ASSUMED: no documented limit
                    default_batch=100,
                    match_keys=("groupID",),
                )
            ),
            fields=frozenset({"groupID", "user"}),
        ),
        EntitySpec(
            "subscription",
            # read once per user: getSubscriptions/{userID}; key "<user uid>|<course id>"
            read=ReadSpec(_ep("GET", "/getSubscriptions/{userID}"), Paging("none"), key="key", parent="user"),
            # 409 = already subscribed: done; in-doubt batches are resolved with isSubscribed
            writes=_writes(
                create=WriteSpec(_ep("POST", "/subscribe/{userID}/{courseID}"), match_keys=("courseID",))
            ),
            fields=frozenset({"userID", "courseID", "startDate"}),
        ),
        EntitySpec("template", read=ReadSpec(_ep("GET", "/getTemplates"), Paging("none"), key="id")),
    ),
)

# ---------------------------------------------------------------- files (CSV export / import)

FILES = PlatformSpec(
    name="files",
    title="CSV or JSONL files in a directory",
    credentials=(),
    needs_base_url=False,
    open_entities=True,
    budget_source="local files: no requests",
    entities=_entities(
        EntitySpec(
            "*",  # template: entity = file name without .csv / .jsonl
            read=ReadSpec(_ep("READ", "{entity}.csv", ""), Paging("file"), key="id"),
            writes=_writes(
                # match: the field that makes a row unique in the file (a re-run appends nothing twice)
                create=WriteSpec(
                    _ep("WRITE", "{entity}.csv", ""),
                    per_record=False,
                    max_batch=100_000,
                    default_batch=1000,
                    match_keys=(ANY_FIELD,),
                )
            ),
        ),
    ),
)

CATALOG: Mapping[str, PlatformSpec] = MappingProxyType(
    {p.name: p for p in (VELPIC, ACCESSPLANIT, ACCESSPLANIT_V1, ONEFILE, ANEWSPRING, FILES)}
)

#: Credential sets a platform also accepts instead of ``PlatformSpec.credentials``.
ALTERNATIVE_CREDENTIALS: Mapping[str, tuple[tuple[str, ...], ...]] = MappingProxyType(
    {"accessplanit": (("api_key",),), "accessplanit_v1": (("api_key",),)}
)


def platform_spec(platform: str) -> PlatformSpec:
    return CATALOG[platform]


def entity_spec(platform: str, entity: str) -> EntitySpec | None:
    """The entity of a platform, or None; for ``files`` any entity name maps to the template."""
    spec = CATALOG[platform]
    if spec.open_entities:
        return spec.entities["*"]
    return spec.entities.get(entity)
