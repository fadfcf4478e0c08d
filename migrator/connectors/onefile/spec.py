"""What OneFile v2.1 can read and write: the declaration the OneFile readers and writers take their
endpoints, keys, batch limits and match keys from.

Each read and write is a named value (``USER_READ``, ``PLACEMENT_CREATE``, …) that ``ONEFILE`` assembles and
the connector uses directly; so are the calls that are neither (``AUTHENTICATION``, and ``USER_SEARCH``, the
in-doubt lookup of a user by MISID). Every call draws from the one budget key ``ALL``.
"""

from __future__ import annotations

from migrator.connectors.spec import (
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
    "ALL",
    "AUTHENTICATION",
    "CLASSROOM_FIND",
    "CLASSROOM_READ",
    "CUSTOMER_READ",
    "ONEFILE",
    "ORGANISATION_READ",
    "PLACEMENT_CREATE",
    "PLACEMENT_FIND",
    "PLACEMENT_READ",
    "USER_ARCHIVE",
    "USER_CREATE",
    "USER_GET",
    "USER_PAGE_SIZE",
    "USER_READ",
    "USER_SEARCH",
    "USER_UNARCHIVE",
    "USER_UPDATE",
]

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
#: the budget key of every OneFile request: the 300/minute limit covers the whole API
ALL = "*"
_ONEFILE_UNPAGED = Paging("unpaged")
_ONEFILE_REF_FIELDS = frozenset({"ID", "OrganisationID", "Name", "MISID"})

#: the session call (header X-CustomerToken; the answer's body is the session token)
AUTHENTICATION = endpoint("POST", "/Authentication", ALL)

#: the largest page the paged search is asked for (ASSUMED served; a server that serves fewer is followed)
USER_PAGE_SIZE = 100
# Paged search: pages from 1, asked with at most USER_PAGE_SIZE rows; no totals: read up to an empty page/204.
# The filter is the search body: {OrganisationID, Role?, FirstName?, LastName?, MISID?}.
USER_READ = ReadSpec(
    endpoint("POST", "/User/Search/{pageNumber}/{pageSize}", ALL),
    Paging("onefile_path_page", default_size=USER_PAGE_SIZE, max_size=USER_PAGE_SIZE, knows_total=False),
    key="ID",
    required_filters=("OrganisationID",),
)
#: the unpaged user search: it filters on MISID (answers ID, FirstName, LastName, MISID; no Email)
USER_SEARCH = endpoint("POST", "/User/Search", ALL)
# create: mandatory fields per Role checked before sending; in-doubt lookup by MISID or Email
USER_CREATE = WriteSpec(endpoint("POST", "/User", ALL), match_keys=("MISID", "Email"))
USER_UPDATE = WriteSpec(endpoint("POST", "/User/{id}", ALL), match_keys=("ID",), match_required=True)
#: one user by ID (the full user, with ``Archived``): how an archive in doubt is checked
USER_GET = endpoint("GET", "/User/{id}", ALL)
# A user's status: ``Archived`` true archives the user at its OneFile ID, false unarchives it; the body is
# {role, organisationID}. What either answers for a user already in that state is not documented, so each user
# is read first (USER_GET) and one already archived (or not) as asked is left as it is.
USER_ARCHIVE = WriteSpec(endpoint("POST", "/User/{id}/Archive", ALL), match_keys=("ID",), match_required=True)
USER_UNARCHIVE = endpoint("POST", "/User/{id}/Unarchive", ALL)

CUSTOMER_READ = ReadSpec(endpoint("GET", "/Customer", ALL), _ONEFILE_UNPAGED, key="ID")

CLASSROOM_READ = ReadSpec(
    endpoint("POST", "/Classroom/Search", ALL), _ONEFILE_UNPAGED, key="ID", required_filters=("OrganisationID",)
)
# The API cannot create or change a classroom. ``update`` only FINDS the existing classroom of OrganisationID
# whose Name (or MISID) equals the mapped one, so the step's crosswalk maps each source record to that
# classroom's ID (a missing one is a dead letter: create it in OneFile).
CLASSROOM_FIND = WriteSpec(
    endpoint("POST", "/Classroom/Search", ALL), match_keys=("Name", "MISID"), match_required=True
)

PLACEMENT_READ = ReadSpec(
    endpoint("POST", "/Placement/Search", ALL), _ONEFILE_UNPAGED, key="ID", required_filters=("OrganisationID",)
)
PLACEMENT_CREATE = WriteSpec(endpoint("POST", "/Placement", ALL), match_keys=("MISID", "Name"))
# as for classrooms: find the existing placement by Name (or MISID); nothing is changed
PLACEMENT_FIND = WriteSpec(
    endpoint("POST", "/Placement/Search", ALL), match_keys=("Name", "MISID"), match_required=True
)

ORGANISATION_READ = ReadSpec(
    endpoint("POST", "/Organisation/Search", ALL),
    _ONEFILE_UNPAGED,
    key="ID",
    required_filters=("CustomerID",),  # the document's body: {"CustomerID": 2070}
)

ONEFILE = PlatformSpec(
    name="onefile",
    title="OneFile API v2.1",
    credentials=("customer_token",),
    budget=Rate(300, 60),  # documented: 300 calls per minute
    budget_scope="api",
    budget_source="300/minute for the whole API (documented)",
    entities=entities(
        EntitySpec(
            "user",
            read=USER_READ,
            writes=writes(create=USER_CREATE, update=USER_UPDATE),
            fields=_ONEFILE_USER_FIELDS,
        ),
        EntitySpec(
            "user_status",  # write only: the users themselves are read as ``user``
            writes=writes(update=USER_ARCHIVE),
            fields=frozenset({"ID", "Archived", "Role", "OrganisationID"}),
        ),
        EntitySpec("customer", read=CUSTOMER_READ),
        EntitySpec(
            "classroom", read=CLASSROOM_READ, writes=writes(update=CLASSROOM_FIND), fields=_ONEFILE_REF_FIELDS
        ),
        EntitySpec(
            "placement",
            read=PLACEMENT_READ,
            writes=writes(create=PLACEMENT_CREATE, update=PLACEMENT_FIND),
            fields=frozenset({"ID", "OrganisationID", "Name", "MISID", "Active", "Address"}),
        ),
        EntitySpec("organisation", read=ORGANISATION_READ),
    ),
)
