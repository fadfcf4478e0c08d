"""What aNewSpring can read and write: the declaration the aNewSpring readers and writers take their
endpoints, keys, batch limits and match keys from.

Each read and write is a named value (``USER_READ``, ``GROUP_CREATE``, …) that ``ANEWSPRING`` assembles and
the connector uses directly; so are the calls that are neither: ``USER_DETAILS`` (a user's details, read per
user) and the in-doubt lookups of creates (``USER_EXISTS``, ``GROUP_EXISTS``, ``IS_SUBSCRIBED``). Objects are
addressed by the external IDs in the paths (``{userID}``, ``{groupID}``, ``{courseID}``).
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

__all__ = [
    "ANEWSPRING",
    "COMPANY_READ",
    "GROUP_CREATE",
    "GROUP_EXISTS",
    "GROUP_UPDATE",
    "IS_SUBSCRIBED",
    "MEMBERS_CREATE",
    "RESULT_READ",
    "SUBSCRIPTION_CREATE",
    "SUBSCRIPTION_READ",
    "TEMPLATE_READ",
    "USER_CREATE",
    "USER_DETAILS",
    "USER_EXISTS",
    "USER_READ",
    "USER_UPDATE",
    "USER_UPSERT",
]

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

# getUsers answers every user at once (no paging) with {id, uid, name, login, email, active}; when the map
# reads any other field the connector also calls getUser/{id} per user (USER_DETAILS). Key: the generated
# ``uid`` (users created in the UI have no external ``id``).
USER_READ = ReadSpec(endpoint("GET", "/getUsers"), Paging("unpaged"), key="uid")
#: one user's details (a user object: the fields above plus id, uid, active, renewable, roles)
USER_DETAILS = endpoint("GET", "/getUser/{userID}")
# Addressed by external ID: the match key is always the userID path parameter.
USER_UPSERT = WriteSpec(
    endpoint("POST", "/addOrUpdateUser/{userID}"), match_keys=("userID",), match_required=True
)
# 409 = the ID (or login) exists; in-doubt batches are resolved with USER_EXISTS
USER_CREATE = WriteSpec(endpoint("POST", "/addUser/{userID}"), match_keys=("userID",))
USER_UPDATE = WriteSpec(endpoint("POST", "/updateUser/{userID}"), match_keys=("userID",), match_required=True)
#: {"result": bool}: whether a user has this external ID
USER_EXISTS = endpoint("GET", "/userExists/{userID}")

# aNewSpring has no call that lists groups: the distinct ``company`` values of the users (read with getUser per
# user), one record {name} each, e.g. to become target groups.
COMPANY_READ = ReadSpec(USER_DETAILS, Paging("unpaged"), key="name", parent="user")

# 409 = the group exists: done, with that ID
GROUP_CREATE = WriteSpec(endpoint("POST", "/addGroup/{groupID}"), match_keys=("groupID",))
GROUP_UPDATE = WriteSpec(
    endpoint("POST", "/updateGroup/{groupID}"), match_keys=("groupID",), match_required=True
)
#: {"result": bool}: whether a group has this external ID
GROUP_EXISTS = endpoint("GET", "/groupExists/{groupID}")

# one record per (group, user); a batch is sent as one addGroupUsers per group with repeated ``user`` and
# ignoreDuplicates=true, so sending it again is safe
MEMBERS_CREATE = WriteSpec(
    endpoint("POST", "/addGroupUsers/{groupID}"),
    per_record=False,
    max_batch=200,  # ASSUMED: no documented limit; a call refused whole is halved
    default_batch=200,
    match_keys=("groupID",),
)

# read once per user: getSubscriptions/{userID}; key "<user uid>|<course id>"
SUBSCRIPTION_READ = ReadSpec(
    endpoint("GET", "/getSubscriptions/{userID}"), Paging("unpaged"), key="key", parent="user"
)
# read once per user: getResults/{userID}; key "<user uid>|<course id>" (the same as a subscription's)
RESULT_READ = ReadSpec(endpoint("GET", "/getResults/{userID}"), Paging("unpaged"), key="key", parent="user")
# 409 = already subscribed: done; in-doubt batches are resolved with IS_SUBSCRIBED
SUBSCRIPTION_CREATE = WriteSpec(endpoint("POST", "/subscribe/{userID}/{courseID}"), match_keys=("courseID",))
#: {"result": bool}: whether the user is subscribed to the course
IS_SUBSCRIBED = endpoint("GET", "/isSubscribed/{userID}/{courseID}")

TEMPLATE_READ = ReadSpec(endpoint("GET", "/getTemplates"), Paging("unpaged"), key="id")

ANEWSPRING = PlatformSpec(
    name="anewspring",
    title="aNewSpring",
    credentials=("api_key",),
    budget=None,  # no limit is documented
    budget_source="none documented",
    entities=entities(
        EntitySpec(
            "user",
            read=USER_READ,
            writes=writes(upsert=USER_UPSERT, create=USER_CREATE, update=USER_UPDATE),
            fields=_ANS_USER_FIELDS,
        ),
        EntitySpec("company", read=COMPANY_READ),
        EntitySpec(
            "group",  # no getGroups call: write only
            writes=writes(create=GROUP_CREATE, update=GROUP_UPDATE),
            fields=frozenset({"groupID", "type", "name", "parent"}),
        ),
        EntitySpec("group_member", writes=writes(create=MEMBERS_CREATE), fields=frozenset({"groupID", "user"})),
        EntitySpec(
            "subscription",
            read=SUBSCRIPTION_READ,
            writes=writes(create=SUBSCRIPTION_CREATE),
            fields=frozenset({"userID", "courseID", "startDate", "expiryDate"}),
        ),
        EntitySpec("result", read=RESULT_READ),  # no documented call writes a result
        EntitySpec("template", read=TEMPLATE_READ),
    ),
)
