"""What Velpic / Damstra Learning v2 can read and write, after its API document: the declaration the Velpic
readers and writers take their endpoints, keys, batch limits and match keys from.

``VELPIC`` is what the catalog, the plan validator and the docs see; ``MAX_PAGE`` is the largest page of its
lists. Beside it, what only the writers need: the attendee list the ILT attendance writer reads before it
writes (``ILT_ATTENDEES``), the status writer's inactivate call and the one-user read that settles a status
in doubt (``USER_INACTIVATE``, ``USER_BY_ID``), the user field each ``mergeType`` merges on (``MERGE_FIELDS``)
and the ``GET /user`` filter that finds a user by each match key of a user create (``USER_FILTERS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from migrator.connectors.spec import (
    EntitySpec,
    Paging,
    PlatformSpec,
    ReadSpec,
    Statuses,
    WriteSpec,
    endpoint,
    entities,
    writes,
)

__all__ = [
    "ILT_ATTENDEES",
    "MAX_PAGE",
    "MERGE_FIELDS",
    "USER_BY_ID",
    "USER_FILTERS",
    "USER_INACTIVATE",
    "VELPIC",
]

#: the largest page a Velpic list serves (ASSUMED: no documented maximum)
MAX_PAGE = 1000
_VELPIC_PAGING = Paging("velpic_offset", default_size=100, max_size=MAX_PAGE)  # default size ASSUMED too
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
    budget=None,  # nothing public
    budget_source="none documented",
    entities=entities(
        EntitySpec(
            "user",
            read=ReadSpec(
                endpoint("GET", "/user"),
                _VELPIC_PAGING,
                key="id",
                # activeValue: one of active, inactive or all; "Default is active" (clientStatusId 56 / 57)
                statuses=Statuses(
                    "activeValue",
                    {"active": ("active",), "inactive": ("inactive",), "all": ("active", "inactive")},
                    default="active",
                ),
            ),
            writes=writes(
                bulk=WriteSpec(
                    endpoint("POST", "/bulkUserImport"),
                    per_record=False,
                    max_batch=500,  # ASSUMED: no documented limit; a batch refused whole is halved
                    default_batch=500,
                    # mergeType. "none" is left out on purpose: it always creates, so a resumed
                    # batch would create duplicates.
                    match_keys=("email", "empNo", "userName"),
                    match_required=True,
                ),
                create=WriteSpec(
                    endpoint("POST", "/user"), match_keys=("emailAddress", "employeeNumber", "userName")
                ),
                update=WriteSpec(endpoint("PUT", "/user/{userId}"), match_keys=("id",), match_required=True),
            ),
            fields=_VELPIC_USER_FIELDS,
        ),
        EntitySpec(
            # a user's status (clientStatusId 56 Active, 57 Not Current), written after the user exists at its
            # target id: activate here, inactivate at USER_INACTIVATE. Read: every user, whatever its status.
            "user_status",
            read=ReadSpec(endpoint("GET", "/user"), _VELPIC_PAGING, key="id"),
            writes=writes(
                update=WriteSpec(
                    endpoint("POST", "/user/{userId}/activate"), match_keys=("id",), match_required=True
                ),
            ),
            # ``imported``: not sent; what the users step imports of the user (see ``status.py``)
            fields=frozenset({"id", "clientStatusId", "imported"}),
        ),
        EntitySpec(
            # each user with the supervisors of its first group, one call a user: the users' records (a step
            # reading it reads the users, for coverage and the inventory), completed
            "user_supervisors",
            read=ReadSpec(
                endpoint("GET", "/group/{groupId}/supervisor"),
                Paging("velpic_offset", default_size=100, max_size=MAX_PAGE),
                key="id",
                parent="user",
                records_of="user",
            ),
        ),
        EntitySpec(
            "group",
            read=ReadSpec(endpoint("GET", "/group"), _VELPIC_PAGING, key="id"),
            writes=writes(
                create=WriteSpec(endpoint("POST", "/group"), match_keys=("name",)),
                update=WriteSpec(endpoint("POST", "/group/{groupId}"), match_keys=("id",), match_required=True),
            ),
            fields=frozenset({"id", "name", "description", "parentId"}),  # id: where an update writes
        ),
        EntitySpec(
            "group_member",
            writes=writes(
                create=WriteSpec(endpoint("POST", "/group/{groupId}/add_members"), match_keys=("groupId",)),
            ),
            fields=frozenset({"groupId", "userIds"}),
        ),
        EntitySpec(
            "group_supervisor",
            writes=writes(
                create=WriteSpec(endpoint("POST", "/group/{groupId}/add_supervisors"), match_keys=("groupId",)),
            ),
            fields=frozenset({"groupId", "userIds"}),
        ),
        EntitySpec("lesson", read=ReadSpec(endpoint("GET", "/lesson"), _VELPIC_PAGING, key="lessonId")),
        EntitySpec(
            "lesson_schedule",
            read=ReadSpec(
                endpoint("GET", "/user/{userId}/lesson_schedule"),
                Paging("velpic_offset", default_size=100, max_size=MAX_PAGE, knows_total=False),  # no meta
                key="id",
                parent="user",
            ),
            writes=writes(
                create=WriteSpec(endpoint("POST", "/user/{userId}/lesson_schedule"), match_keys=("userId",)),
            ),
            fields=frozenset({"userId", "lessonVersionIds", "scheduleDate", "gracePeriod", "gracePeriodUnit"}),
        ),
        EntitySpec(
            # the PDF of a passed, completed schedule: read per completed schedule of each user
            "certificate",
            read=ReadSpec(
                endpoint("GET", "/lesson_schedule/{lessonScheduleId}/certificate"),
                Paging("velpic_offset", default_size=100, max_size=MAX_PAGE, knows_total=False),  # as schedules
                key="id",  # the schedule's
                parent="lesson_schedule",
            ),
        ),
        EntitySpec(
            # a manual completion (completion history): POST /lesson_schedule/{userId}/complete_lesson
            "lesson_completion",
            writes=writes(
                create=WriteSpec(
                    endpoint("POST", "/lesson_schedule/{userId}/complete_lesson"),
                    match_keys=("lessonId", "lessonVersionId"),
                ),
            ),
            fields=frozenset(
                {"userId", "lessonId", "lessonVersionId", "completedDate", "manuallyCompletedByUserId"}
            ),
        ),
        EntitySpec(
            # instructor-led training sessions; dates 2018-05-19T01:00:06.000+0800
            "ilt_session",
            read=ReadSpec(endpoint("GET", "/ilt_session"), _VELPIC_PAGING, key="id"),
            writes=writes(
                # in doubt: looked up among the instructor's sessions by lessonId + startDatetime
                create=WriteSpec(endpoint("POST", "/ilt_session"), match_keys=("startDatetime",)),
                update=WriteSpec(
                    endpoint("PATCH", "/ilt_session/{iltSessionId}"), match_keys=("id",), match_required=True
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
            writes=writes(
                create=WriteSpec(
                    endpoint("POST", "/ilt_session/{iltSessionId}/bulk_register"), match_keys=("sessionId",)
                ),
            ),
            fields=frozenset({"sessionId", "userIds"}),
        ),
        EntitySpec(
            # attendance and results: attendees = [{id (the ATTENDEE id), passed, attended}]
            "ilt_attendance",
            writes=writes(
                create=WriteSpec(
                    endpoint("POST", "/ilt_session/{iltSessionId}/save_progress"), match_keys=("sessionId",)
                ),
            ),
            fields=frozenset({"sessionId", "attendees", "userId", "passed", "attended"}),
        ),
    ),
)

#: a session's attendees, each with its attendee id (``id``) and ``userId``; no paging parameters documented,
#: so they are sent as to every list, and the answer's meta says whether it holds them all
ILT_ATTENDEES = endpoint("GET", "/ilt_session/{iltSessionId}/attendees")

#: the status writer's other call (``user_status`` is declared with activate) and the read that settles a status
#: in doubt
USER_INACTIVATE = endpoint("POST", "/user/{userId}/inactivate")
USER_BY_ID = endpoint("GET", "/user/{userId}")

#: ``mergeType`` → the user field ``bulkUserImport`` merges on; ``none`` merges on nothing
MERGE_FIELDS: Mapping[str, str] = MappingProxyType(
    {"email": "emailAddress", "empNo": "employeeNumber", "userName": "userName"}
)

#: user field → the ``GET /user`` query parameter that finds a user by it: ``emailAddress`` and ``empId`` are
#: exact matches; ``q`` matches a part of the userName, firstName or lastName, so the answer is compared again
USER_FILTERS: Mapping[str, str] = MappingProxyType(
    {"emailAddress": "emailAddress", "employeeNumber": "empId", "userName": "q"}
)
