"""What each route carries, as data: the starter plan ``migrator init SOURCE TARGET`` writes, one
:class:`~migrator.starter.model.Route` per (source, target) pairing of platforms.

The correspondences are those of the shipped route plans (``plans/*.toml``), with connections named
``source`` and ``target``. A step that needs data only the customer has (which lesson replaces which course)
is carried commented out, saying what it needs. ``FIELD_NOTES`` says, per target entity, why a field the
catalog knows is left out of every route; a field neither a step nor this table explains is "no source field
known: map it yourself".
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from migrator.starter.model import (
    CANNOT_HOLD,
    NO_MAPPING,
    ConnectionBlock,
    FieldMap,
    Route,
    StepSpec,
    TableSpec,
    m,
)

__all__ = ["FIELD_NOTES", "ROUTES", "UNMAPPED"]

#: the note of a target field nothing maps or explains
UNMAPPED = "no source field known: map it yourself"

_NO_PASSWORD = "never carried: no source gives a password; users set their own"

FIELD_NOTES: Mapping[tuple[str, str], Mapping[str, str]] = MappingProxyType(
    {
        ("velpic", "user"): {
            "id": "set by Velpic",
            "password": _NO_PASSWORD,
            "timeZone": "no source field known: a user the import merges into keeps its own, a new one the "
            "account's",
        },
        ("velpic", "group"): {
            "parentId": "the hierarchy is not carried: a parent group's target id exists only after its create",
        },
        ("velpic", "lesson_schedule"): {
            "gracePeriod": "Velpic's default applies",
            "gracePeriodUnit": "as gracePeriod",
        },
        ("velpic", "lesson_completion"): {"lessonId": "lessonVersionId is mapped instead"},
        ("accessplanit", "user"): {"ID": "set by accessplanit"},
        ("accessplanit", "usercoursedate"): {"ID": "set by accessplanit"},
        ("accessplanit", "company"): {
            "ID": "set by accessplanit",
            "MainContactUserID": "a user of the target: set it in a step after users (see accessplanit_v1 "
            "-> accessplanit)",
        },
        ("accessplanit_v1", "user"): {
            "ID": "set by accessplanit",
            "UserID": "set by accessplanit",
            "DOB": "v1 names it DateOfBirth",
            "Email": "v1 names it EmailAddress",
        },
        ("accessplanit_v1", "company"): {
            "ID": "set by accessplanit",
            "CompanyID": "set by accessplanit",
            "MainContactUserID": "a user of the target: set it in a step after users",
        },
        ("onefile", "user"): {
            "ID": "set by OneFile",
            "CreatedOn": "set by OneFile",
            "Archived": "written by the status steps (entity user_status)",
        },
        ("anewspring", "user"): {
            "password": _NO_PASSWORD,
            "generatePassword": "aNewSpring's default applies",
            "forcePasswordChange": "aNewSpring's default applies",
        },
        ("anewspring", "group"): {"parent": "the hierarchy is not carried"},
    }
)

# -- shared tables --------------------------------------------------------------------------------------------
_VELPIC_STATUS_NOTE = "56 Active, 57 Not Current"

_EXPORT = (
    "The export: a folder (connection `source`, `path`) of CSV files, companies.csv (CompanyRef, CompanyName,",
    "Email, Town, Postcode) and learners.csv (LearnerID, FirstName, LastName, Email, Mobile, JobTitle, DOB as",
    "dd/mm/yyyy, CompanyRef, Course, Role, Status); a learner without a Role or Status is a learner, active.",
)
_CSV_LEFT = {"any other file of the export": NO_MAPPING}
_CSV_STATUS_VALUES = ("Active", "Inactive")


def _csv_status(active: object, inactive: object, note: str) -> TableSpec:
    return TableSpec(
        "status",
        f"export Status -> {note}",
        values=dict(zip(_CSV_STATUS_VALUES, (active, inactive), strict=True)),
        default=active,
    )


def _export_read(
    name: str, note: str, read: str, write: str, mode: str, match: str, *fields: FieldMap, **kw: Any
) -> StepSpec:
    """A step reading one file of the export (``companies`` keyed by CompanyRef, ``learners`` by LearnerID)."""
    key = "CompanyRef" if read == "companies" else "LearnerID"
    return StepSpec(name, note, read, write, mode, match, fields, key=key, **kw)


# -- Velpic -> Velpic -----------------------------------------------------------------------------------------
_VELPIC_ALL = {"activeValue": "all"}

# -- out of Velpic: the certificates, into the run's own folder -----------------------------------------------
CERTIFICATE_ARCHIVE = ConnectionBlock(
    "certificates",
    "The certificates' archive: the run's own folder beside its journal, like its reports "
    "(.migrator/<plan name>-certificates/; with --journal J, J.certificates/).",
    MappingProxyType({"platform": "files", "path": "certificates", "relative_to": "journal"}),
)


def _certificates(*target_id: FieldMap) -> StepSpec:
    """The PDF of every passed, completed lesson schedule into the archive, one file each, with its index row
    (``target_id``: the learner's target id, where the route has one target user per person)."""
    return StepSpec(
        "certificates",
        "the PDF of every passed, completed lesson schedule, one file each, and index.csv (whose, which "
        "lesson, when, SHA-256); a schedule Velpic gives no certificate for is a dead letter with its answer",
        "certificate",
        "documents",
        "create",
        "scheduleId",
        (
            m("document", "certificate"),
            m("missing", "certificateMissing"),
            m("name", "userLastName + ' ' + userFirstName + ' - ' + lessonName"),
            m("scheduleId", "id"),
            m("sourceUserId", "userId"),
            m("employeeNumber", "userEmployeeNumber"),
            *target_id,
            m("lessonId", "lessonId"),
            m("lessonName", "lessonName"),
            m("completedDate", "lessonCompletedDate"),
        ),
        filter=_VELPIC_ALL,
        page_size=200,
        to=CERTIFICATE_ARCHIVE.label,
    )


_TARGET_USER = m("targetUserId", "userId -> users")

VELPIC_TO_VELPIC = Route(
    "velpic",
    "velpic",
    (
        "Velpic -> Velpic: groups by name, then every user (leavers too) merged on employee number with its",
        "roles and groups, then each user's status (Active / Not Current) at its target id.",
    ),
    (
        TableSpec(
            "velpic_roles",
            "Velpic role ids: 3 ADMIN, 4 EDITOR, 5 SUPERVISOR, 6 TRAINEE, 7 OWNER (one per client), 8 "
            "INSTRUCTOR. "
            "The target has its OWNER already: a source owner becomes an ADMIN. A role missing here "
            "rejects the "
            "user (a dead letter naming the value).",
            values={"3": 3, "4": 4, "5": 5, "6": 6, "7": 3, "8": 8},
        ),
    ),
    (
        StepSpec(
            "groups",
            "groups first: users reference them",
            "group",
            "group",
            "create",
            "name",
            (m("name", "name"), m("description", "'Migrated from Velpic group ' + id")),
            page_size=200,
        ),
        StepSpec(
            "users",
            "every user, leavers (Not Current) too: the list alone serves only active users",
            "user",
            "user",
            "bulk",
            "empNo",
            (
                m("firstName", "firstName"),
                m("lastName", "lastName"),
                m("emailAddress", "emailAddress | lower"),
                m("employeeNumber", "employeeNumber"),
                m("userName", "userName"),
                m("mobileNumber", "mobileNumber"),
                m("phoneNumber", "phoneNumber"),
                m(
                    "roles",
                    "roles | lookup(velpic_roles) | default(6) | as_list",
                    "always sent: omitted roles reset",
                ),
                m("groups", "groups.id -> groups | as_object('id')"),
                m("groupsSupervised", "groupsSupervised.id -> groups | as_object('id')"),
                m("sendWelcomeEmail", False),
            ),
            filter=_VELPIC_ALL,
            page_size=200,
            batch=500,
        ),
        StepSpec(
            "user_status",
            "the import makes every user it creates active: each then gets its source status at its target id",
            "user",
            "user_status",
            "update",
            "id",
            (m("id", "id -> users"), m("clientStatusId", "clientStatusId")),
            filter=_VELPIC_ALL,
            page_size=200,
        ),
        _certificates(_TARGET_USER),
    ),
    {
        "lesson": "lessons are authored content: " + CANNOT_HOLD + " through the API (create them in Velpic)",
        "lesson_schedule": NO_MAPPING + " (each source lesson version -> the target's: a table of yours)",
        "ilt_session": NO_MAPPING + " (sessions belong to lessons: map the lessons first)",
    },
    connections=(CERTIFICATE_ARCHIVE,),
)

# -- accessplanit -> Velpic -----------------------------------------------------------------------------------
_APIT_LIVE = {"Status": ["Active", "Inactive"]}
_COURSE_LESSON = "your course_lesson.csv (accessplanit course ID -> the Velpic lesson version replacing it)"

ACCESSPLANIT_TO_VELPIC = Route(
    "accessplanit",
    "velpic",
    (
        "accessplanit v2 -> Velpic: companies become groups, users (active and inactive) are merged on "
        "email into",
        "their company's group with their main role, then get their status; bookings become lesson schedules",
        "once you have the course -> lesson table.",
    ),
    (
        TableSpec(
            "roles",
            "accessplanit main role -> Velpic role: Delegate 6 TRAINEE, Trainer 8 INSTRUCTOR, Manager 5 "
            "SUPERVISOR, Administrator 3 ADMIN. Roles are the customer's own: a role missing here rejects the "
            "user (a dead letter naming the value); add it and run again with --retry-rejected.",
            values={"Delegate": 6, "Trainer": 8, "Manager": 5, "Administrator": 3},
        ),
        TableSpec(
            "status",
            f"accessplanit Status -> Velpic clientStatusId ({_VELPIC_STATUS_NOTE}). Deleted users are not "
            f"read.",
            values={"Active": 56, "Inactive": 57},
        ),
        TableSpec(
            "course_lesson",
            "accessplanit course ID -> the Velpic lesson version that replaces it on the target",
            file="course_lesson.csv",
            key_column="course_id",
            value_column="lesson_version_id",
            needs=_COURSE_LESSON,
        ),
    ),
    (
        StepSpec(
            "companies",
            "companies become groups (by name)",
            "company",
            "group",
            "create",
            "name",
            (m("name", "Name | trim"), m("description", "'Migrated from accessplanit company ' + ID")),
            page_size=50,
        ),
        StepSpec(
            "users",
            "every user but the deleted ones",
            "user",
            "user",
            "bulk",
            "email",
            (
                m("firstName", "Forenames | trim"),
                m("lastName", "Surname | trim"),
                m("emailAddress", "Email | trim | lower"),
                m("employeeNumber", "ExternalID"),
                m("mobileNumber", "Mobile"),
                m("phoneNumber", "Phone"),
                m("roles", "MainRoleID | lookup(roles) | as_list", "always sent: omitted roles reset"),
                m("groups", "MainCompanyID -> companies | as_list | as_object('id')"),
                m("sendWelcomeEmail", False),
            ),
            filter=_APIT_LIVE,
            page_size=50,
            batch=250,
            unmapped={
                "userName": "accessplanit users sign in by email",
                "groupsSupervised": "accessplanit has no supervised companies",
            },
        ),
        StepSpec(
            "user_status",
            "the import makes every user it creates active: each then gets its accessplanit status",
            "user",
            "user_status",
            "update",
            "id",
            (m("id", "ID -> users"), m("clientStatusId", "Status | lookup(status)")),
            filter=_APIT_LIVE,
            page_size=50,
            after=("completions",),
        ),
        StepSpec(
            "schedules",
            "every live booking (booked or completed) schedules the user to the course's lesson",
            "usercoursedate",
            "lesson_schedule",
            "create",
            "userId",
            (
                m("userId", "UserID -> users"),
                m("lessonVersionIds", "CourseID | lookup(course_lesson) | int | as_list"),
                m("scheduleDate", "BookedDate | date('%Y-%m-%dT%H:%M:%S.000Z')"),
            ),
            filter={"Status": ["Booked", "Completed"]},
            page_size=50,
            needs=_COURSE_LESSON,
        ),
        StepSpec(
            "completions",
            "each completed booking completes its schedule with its own date (before user_status: a leaver "
            "becomes Not Current after its history is on the target)",
            "usercoursedate",
            "lesson_completion",
            "create",
            "lessonVersionId",
            (
                m("userId", "UserID -> users"),
                m("lessonVersionId", "CourseID | lookup(course_lesson) | int"),
                m("completedDate", "CompletedDate | date('%Y-%m-%dT%H:%M:%S.000Z')"),
                m("manuallyCompletedByUserId", "UserID -> users", "an active user of the account: the learner"),
            ),
            filter={"Status": "Completed"},
            page_size=50,
            after=("schedules",),
            needs=_COURSE_LESSON,
        ),
    ),
    {
        "course": CANNOT_HOLD + ": Velpic's API creates no lessons (create them, then fill course_lesson.csv)",
        "coursetemplate": CANNOT_HOLD + ": Velpic's API creates no lessons",
        "coursedate": NO_MAPPING + " (as ILT sessions: see plans/accessplanit-coursedates-to-velpic-ilt.toml)",
    },
)

# -- Velpic -> accessplanit -----------------------------------------------------------------------------------
_LESSON_COURSEDATE = "your lesson_coursedate.csv (Velpic lesson name -> the accessplanit course date to book)"

VELPIC_TO_ACCESSPLANIT = Route(
    "velpic",
    "accessplanit",
    (
        "Velpic -> accessplanit v2: each group becomes a company, each user (leavers too) an accessplanit "
        "user of",
        "its first group's company with its status and main role; completed lesson schedules become completed",
        "bookings once you have the lesson -> course date table.",
    ),
    (
        TableSpec(
            "user_status",
            f"Velpic clientStatusId ({_VELPIC_STATUS_NOTE}) -> accessplanit Status (Inactive keeps learning)",
            values={"56": "Active", "57": "Inactive"},
        ),
        TableSpec(
            "main_role",
            "Velpic role -> accessplanit MainRoleID (one main role: the user's first Velpic role): 3 ADMIN and "
            "7 OWNER Administrator, 5 SUPERVISOR Manager, 8 INSTRUCTOR Trainer, 6 TRAINEE Delegate; "
            "accessplanit "
            "cannot hold 4 EDITOR (no authoring role): an editor arrives as a Delegate.",
            values={
                "3": "Administrator",
                "7": "Administrator",
                "5": "Manager",
                "8": "Trainer",
                "6": "Delegate",
                "4": "Delegate",
            },
        ),
        TableSpec(
            "lesson_coursedate",
            "Velpic lesson name -> the accessplanit course date its completions are booked on",
            file="lesson_coursedate.csv",
            key_column="lesson_name",
            value_column="coursedate_id",
            needs=_LESSON_COURSEDATE,
        ),
    ),
    (
        StepSpec(
            "companies",
            "groups become companies, upserted on an external ID",
            "group",
            "company",
            "upsert",
            "ExternalID",
            (m("Name", "name | trim"), m("ExternalID", "'velpic-group-' + id")),
            unmapped={
                "EmailAddress": "a Velpic group has no address",
                "AddressLineOne": "a Velpic group has no address",
                "Town": "a Velpic group has no address",
                "County": "a Velpic group has no address",
                "Postcode": "a Velpic group has no address",
                "Country": "a Velpic group has no address",
            },
        ),
        StepSpec(
            "users",
            "every user, active or not (Not Current users keep their learning records)",
            "user",
            "user",
            "upsert",
            "Email",
            (
                m("Forenames", "firstName | trim"),
                m("Surname", "lastName | trim"),
                m("Email", "emailAddress | trim | lower"),
                m("Mobile", "mobileNumber"),
                m("Phone", "phoneNumber"),
                m("ExternalID", "'velpic-user-' + id"),
                m("MainCompanyID", "groups.0.id -> companies", "the user's first group's company"),
                m("Status", "clientStatusId | lookup(user_status)"),
                m("MainRoleID", "roles.0 | lookup(main_role)"),
            ),
            filter=_VELPIC_ALL,
            page_size=500,
            max_rejected=200,
            unmapped={
                "DOB": "Velpic holds no date of birth",
                "JobTitle": "Velpic holds no job title",
                "MiddleNames": "Velpic holds no middle names",
            },
        ),
        StepSpec(
            "bookings",
            "completed lesson schedules become completed bookings, one per user and course date",
            "lesson_schedule",
            "usercoursedate",
            "upsert",
            "UserID,CourseDateID",
            (
                m("UserID", "userId -> users"),
                m("CourseDateID", "lessonName | lookup(lesson_coursedate)"),
                m("Status", "'Completed'"),
                m("BookedDate", "startDate | date('%Y-%m-%dT%H:%M:%S')"),
                m("CompletedDate", "lessonCompletedDate | date('%Y-%m-%dT%H:%M:%S')"),
            ),
            filter={"status": "completed", "activeValue": "all"},
            page_size=500,
            needs=_LESSON_COURSEDATE,
        ),
        _certificates(_TARGET_USER),
    ),
    {
        "lesson": NO_MAPPING + " (as courses: accessplanit courses are the customer's own catalogue)",
        "ilt_session": NO_MAPPING + " (as course dates of the lesson's course)",
    },
    connections=(CERTIFICATE_ARCHIVE,),
)

# -- Velpic -> OneFile ----------------------------------------------------------------------------------------
_OF_ORG = 10005740
_OF_ORG_NOTE = "CHANGE: the sandbox target organisation; yours: GET /Customer, then POST /Organisation/Search"
_OF_ASSESSOR = 10122762


def _of_user(
    name: str, role_id: int, note: str, *extra: object, after: tuple[str, ...] = (), read: str = "user"
) -> StepSpec:
    return StepSpec(
        name,
        note,
        read,
        "user",
        "create",
        "MISID",
        (
            m("OrganisationID", _OF_ORG, _OF_ORG_NOTE),
            m("Role", f"'{role_id}' | lookup(onefile_role)"),
            m("FirstName", "firstName | trim"),
            m("LastName", "lastName | trim"),
            m("Email", "emailAddress | trim | lower"),
            m("MISID", "employeeNumber"),
            m("MobileNumber", "mobileNumber"),
            m("Telephone", "phoneNumber"),
            *extra,  # type: ignore[arg-type]
        ),
        filter={"roleId": role_id, "activeValue": "all"},
        page_size=200,
        after=after,
    )


def _of_status(name: str, role_id: int, users: str, after: tuple[str, ...]) -> StepSpec:
    return StepSpec(
        name,
        f"archive the Not Current ones among the {users}, unarchive the active ones (only when it differs)",
        "user",
        "user_status",
        "update",
        "ID",
        (
            m("ID", f"id -> {users}"),
            m("Archived", "clientStatusId | lookup(archived)"),
            m("Role", f"'{role_id}' | lookup(onefile_role)"),
            m("OrganisationID", _OF_ORG, _OF_ORG_NOTE),
        ),
        filter={"roleId": role_id, "activeValue": "all"},
        page_size=200,
        after=after,
    )


VELPIC_TO_ONEFILE = Route(
    "velpic",
    "onefile",
    (
        "Velpic -> OneFile: supervisors and instructors become assessors (Role 5), trainees learners (Role "
        "1) in",
        "the classroom and placement named like their first Velpic group, assessed by a supervisor of it",
        "(else a default assessor); Not",
        "Current users are archived. OneFile's API cannot create classrooms: create any missing one first. A",
        "OneFile user has one Role: a Velpic user with two is a OneFile user per role. OneFile holds no 3 "
        "ADMIN,",
        "7 OWNER or 4 EDITOR: such a user arrives only with its other roles.",
    ),
    (
        TableSpec("onefile_role", "Velpic role id -> OneFile Role", values={"5": 5, "8": 5, "6": 1}),
        TableSpec(
            "archived",
            f"Velpic clientStatusId ({_VELPIC_STATUS_NOTE}) -> OneFile Archived",
            values={"56": False, "57": True},
        ),
    ),
    (
        StepSpec(
            "classes",
            "finds the classroom named like each group (mode update on a classroom changes nothing)",
            "group",
            "classroom",
            "update",
            "Name",
            (m("OrganisationID", _OF_ORG, _OF_ORG_NOTE), m("Name", "name | trim")),
            page_size=200,
            unmapped={"ID": "set by OneFile", "MISID": "found by Name"},
        ),
        StepSpec(
            "placements",
            "finds the placement named like each group",
            "group",
            "placement",
            "update",
            "Name",
            (m("OrganisationID", _OF_ORG, _OF_ORG_NOTE), m("Name", "name | trim")),
            page_size=200,
            unmapped={
                "ID": "set by OneFile",
                "MISID": "found by Name",
                "Active": "found, not changed",
                "Address": "found, not changed",
            },
        ),
        _of_user("assessors", 5, "Velpic SUPERVISOR (5)"),
        _of_user(
            "instructors",
            8,
            "Velpic INSTRUCTOR (8); one who is also a supervisor is found, not created twice",
            after=("assessors",),
        ),
        _of_user(
            "learners",
            6,
            "Velpic TRAINEE (6), each with its group's supervisors; a learner needs a classroom, a placement "
            "and an assessor: a supervisor of its first group (the lowest id), as the OneFile assessor of it",
            m("ClassroomID", "groups.0.id -> classes"),
            m("PlacementID", "groups.0.id -> placements"),
            m(
                "DefaultAssessorID",
                "coalesce(groupSupervisorIds.0 -> assessors, groupSupervisorIds.0 -> instructors, "
                f"{_OF_ASSESSOR})",
                "CHANGE: without a supervisor OneFile holds, the sandbox's first assessor",
            ),
            read="user_supervisors",
        ),
        _of_status("assessors_status", 5, "assessors", ("instructors", "learners")),
        _of_status("instructors_status", 8, "instructors", ("assessors_status", "learners")),
        _of_status("learners_status", 6, "learners", ("assessors", "instructors")),
        _certificates(),
    ),
    {
        "lesson": CANNOT_HOLD + " (OneFile's API writes no learning content)",
        "lesson_schedule": CANNOT_HOLD,
        "ilt_session": CANNOT_HOLD,
    },
    connections=(CERTIFICATE_ARCHIVE,),
)

# -- Velpic -> aNewSpring -------------------------------------------------------------------------------------
_LESSON_COURSE = "your lesson_course.csv (Velpic lesson name -> aNewSpring course ID)"


def _ans_subscriptions(status: str) -> StepSpec:
    return StepSpec(
        f"subscriptions_{status}",
        f"a {status} lesson schedule becomes a course subscription",
        "lesson_schedule",
        "subscription",
        "create",
        "courseID",
        (
            m("userID", "userId -> users"),
            m("courseID", "lessonName | lookup(courses)"),
            m("startDate", "startDate | date('%Y-%m-%d')"),
        ),
        filter={"status": status, "activeValue": "all"},
        page_size=200,
        needs=_LESSON_COURSE,
    )


VELPIC_TO_ANEWSPRING = Route(
    "velpic",
    "anewspring",
    (
        "Velpic -> aNewSpring: groups become student groups, users (leavers too, inactive) are upserted on "
        "their",
        "external ID (the Velpic employee number) with every role, trainees join their first group; lesson",
        "schedules become course subscriptions once you have the lesson -> course table (completion cannot be",
        "written through aNewSpring's API; cancelled schedules are not carried).",
    ),
    (
        TableSpec(
            "roles",
            "Velpic role -> aNewSpring role (every role of the user): 3 ADMIN and 7 OWNER administrator, 4 "
            "EDITOR "
            "designer, 5 SUPERVISOR and 8 INSTRUCTOR teacher, 6 TRAINEE student. aNewSpring has no call that "
            "removes a role.",
            values={
                "3": "administrator",
                "4": "designer",
                "5": "teacher",
                "6": "student",
                "7": "administrator",
                "8": "teacher",
            },
        ),
        TableSpec(
            "active",
            f"Velpic clientStatusId ({_VELPIC_STATUS_NOTE}) -> aNewSpring active",
            values={"56": True, "57": False},
        ),
        TableSpec(
            "courses",
            "Velpic lesson name -> aNewSpring course ID",
            file="lesson_course.csv",
            key_column="lesson_name",
            value_column="course_id",
            needs=_LESSON_COURSE,
        ),
    ),
    (
        StepSpec(
            "groups",
            "groups get the external ID VG<Velpic group id>",
            "group",
            "group",
            "create",
            "groupID",
            (m("groupID", "'VG' + id"), m("type", "'student'"), m("name", "name | trim")),
            page_size=200,
        ),
        StepSpec(
            "users",
            "every user, active or not",
            "user",
            "user",
            "upsert",
            "userID",
            (
                m("userID", "employeeNumber"),
                m("login", "userName"),
                m("firstName", "firstName | trim"),
                m("lastName", "lastName | trim"),
                m("email", "emailAddress | trim | lower"),
                m("telephoneNumber", "phoneNumber"),
                m("cellPhoneNumber", "mobileNumber"),
                m("role", "roles | lookup(roles)", "repeated: role=student&role=…"),
                m("active", "clientStatusId | lookup(active)"),
                m("notify", False),
            ),
            filter=_VELPIC_ALL,
            page_size=200,
        ),
        StepSpec(
            "memberships",
            "a trainee's first group (student groups take users with the student role)",
            "user",
            "group_member",
            "create",
            "groupID",
            (m("groupID", "groups.0.id -> groups"), m("user", "id -> users")),
            filter={"roleId": 6, "activeValue": "all"},
            page_size=200,
            batch=200,
        ),
        *(_ans_subscriptions(s) for s in ("completed", "scheduled", "due", "overdue")),
        _certificates(_TARGET_USER),
    ),
    {
        "lesson": NO_MAPPING + " (as aNewSpring courses: fill lesson_course.csv)",
        "ilt_session": CANNOT_HOLD + " (aNewSpring's API writes no sessions)",
    },
    connections=(CERTIFICATE_ARCHIVE,),
)

# -- OneFile -> Velpic ----------------------------------------------------------------------------------------
_OF_SOURCE_ORG = 5740
_OF_SOURCE_ORG_NOTE = (
    "CHANGE: the sandbox source organisation; yours: GET /Customer, then POST /Organisation/Search"
)


_OF_LINKS = "added by the *_members and *_supervisors steps (never reset by an import sent again)"


def _of_people(name: str, role: int, note: str) -> StepSpec:
    return StepSpec(
        name,
        note,
        "user",
        "user",
        "bulk",
        "empNo",
        (
            m("firstName", "FirstName | trim"),
            m("lastName", "LastName | trim"),
            m("emailAddress", "Email | trim | lower"),
            m("employeeNumber", "MISID"),
            m("mobileNumber", "MobileNumber"),
            m("phoneNumber", "Telephone"),
            m("roles", "Role | lookup(roles) | as_list", "always sent: omitted roles reset"),
            m("sendWelcomeEmail", False),
        ),
        filter={"OrganisationID": _OF_SOURCE_ORG, "Role": role},
        page_size=100,
        batch=500,
        unmapped={
            "userName": "OneFile users sign in by email",
            "groups": _OF_LINKS,
            "groupsSupervised": _OF_LINKS,
        },
    )


def _of_link(name: str, note: str, role: int, entity: str, group: str, users: str, where: str = "") -> StepSpec:
    """One add_members / add_supervisors call per OneFile user of ``role``: ``group`` and ``users`` are
    crosswalk expressions."""
    return StepSpec(
        name,
        note,
        "user",
        entity,
        "create",
        None,
        (m("groupId", group), m("userIds", f"{users} | as_list")),
        filter={"OrganisationID": _OF_SOURCE_ORG, "Role": role},
        page_size=100,
        where=where or None,
    )


def _of_people_status(name: str, role: int, users: str) -> StepSpec:
    return StepSpec(
        name,
        f"each of the {users} gets its OneFile status at its target id",
        "user",
        "user_status",
        "update",
        "id",
        (m("id", f"ID -> {users}"), m("clientStatusId", "Archived | lookup(status)")),
        filter={"OrganisationID": _OF_SOURCE_ORG, "Role": role},
        page_size=100,
    )


ONEFILE_TO_VELPIC = Route(
    "onefile",
    "velpic",
    (
        "OneFile -> Velpic: classrooms become groups; learners and assessors become users merged on employee",
        "number (MISID); learners join their classroom's group, assessors supervise it; each assessor's",
        "learners (DefaultAssessorID) join a caseload group the assessor supervises; archived users become",
        "Not Current. Other OneFile roles (4 Trainee Assessor, 10 IV/IQA, 40 Employer, 45 Observer) are not",
        f"read: copy a step per role. OrganisationID {_OF_SOURCE_ORG} is the sandbox's: change it.",
    ),
    (
        TableSpec(
            "roles",
            "OneFile Role -> Velpic roles: 1 Learner 6 TRAINEE, 5 Assessor 5 SUPERVISOR; a role missing "
            "here rejects the user",
            values={"1": 6, "5": 5},
        ),
        TableSpec(
            "status",
            f"OneFile Archived -> Velpic clientStatusId ({_VELPIC_STATUS_NOTE}); a row without Archived is "
            f"rejected",
            values={"False": 56, "True": 57},
        ),
    ),
    (
        StepSpec(
            "classes",
            "classrooms become groups (by name)",
            "classroom",
            "group",
            "create",
            "name",
            (m("name", "Name | trim"), m("description", "'Migrated from OneFile classroom ' + MISID")),
            filter={"OrganisationID": _OF_SOURCE_ORG},
        ),
        StepSpec(
            "caseloads",
            "each assessor's learners (OneFile DefaultAssessorID): one group per assessor, supervised by it",
            "user",
            "group",
            "create",
            "name",
            (
                m("name", "'Learners of ' + FirstName + ' ' + LastName + ' (OneFile assessor ' + ID + ')'"),
                m(
                    "description",
                    "'The learners whose OneFile assessor (DefaultAssessorID) is ' + FirstName + ' ' "
                    "+ LastName",
                ),
            ),
            filter={"OrganisationID": _OF_SOURCE_ORG, "Role": 5},
            page_size=100,
        ),
        _of_people("learners", 1, "OneFile learners (Role 1)"),
        _of_people("assessors", 5, "OneFile assessors (Role 5)"),
        _of_link(
            "classroom_members",
            "a learner joins its classroom's group",
            1,
            "group_member",
            "ClassroomID -> classes",
            "ID -> learners",
        ),
        _of_link(
            "caseload_members",
            "a learner joins its assessor's caseload",
            1,
            "group_member",
            "DefaultAssessorID -> caseloads",
            "ID -> learners",
            "DefaultAssessorID != null",
        ),
        _of_link(
            "classroom_supervisors",
            "an assessor with a classroom supervises its group",
            5,
            "group_supervisor",
            "ClassroomID -> classes",
            "ID -> assessors",
            "ClassroomID != null",
        ),
        _of_link(
            "caseload_supervisors",
            "an assessor supervises its caseload",
            5,
            "group_supervisor",
            "ID -> caseloads",
            "ID -> assessors",
        ),
        _of_people_status("learner_status", 1, "learners"),
        _of_people_status("assessor_status", 5, "assessors"),
    ),
    {
        "customer": "the source account itself: not migrated",
        "organisation": "the source account's organisation: not migrated (it is the filter)",
        "placement": NO_MAPPING + " (as Velpic groups, like classrooms)",
    },
)

# -- aNewSpring -> Velpic -------------------------------------------------------------------------------------
ANEWSPRING_TO_VELPIC = Route(
    "anewspring",
    "velpic",
    (
        "aNewSpring -> Velpic: the users' companies become groups (aNewSpring lists no groups), users are "
        "merged",
        "on email with their roles and their company's group, then get their status (inactive: Not Current).",
        "Users are read by their external ID: give the ones created in the UI one first (initializeId).",
    ),
    (
        TableSpec(
            "roles",
            "aNewSpring role -> Velpic role: student 6 TRAINEE, teacher 8 INSTRUCTOR, mentor 5 SUPERVISOR, "
            "administrator 3 ADMIN; any other role (author, designer, …) a trainee",
            values={"student": 6, "teacher": 8, "mentor": 5, "administrator": 3},
            default=6,
        ),
        TableSpec(
            "status",
            f"aNewSpring active -> Velpic clientStatusId ({_VELPIC_STATUS_NOTE})",
            values={"True": 56, "False": 57},
        ),
    ),
    (
        StepSpec(
            "companies",
            "companies become groups (by name)",
            "company",
            "group",
            "create",
            "name",
            (m("name", "name | trim"), m("description", "'Migrated from aNewSpring company ' + name")),
        ),
        StepSpec(
            "users",
            "every user (one getUser call each: getUsers lacks names, company and roles)",
            "user",
            "user",
            "bulk",
            "email",
            (
                m("firstName", "firstName | trim"),
                m("lastName", "lastName | trim"),
                m("emailAddress", "email | trim | lower"),
                m("employeeNumber", "id", "the aNewSpring external ID"),
                m("userName", "login"),
                m("phoneNumber", "telephoneNumber"),
                m("mobileNumber", "cellPhoneNumber"),
                m("roles", "roles | lookup(roles) | as_list", "always sent: omitted roles reset"),
                m("groups", "company -> companies | as_list | as_object('id')"),
                m("sendWelcomeEmail", False),
            ),
            batch=500,
            unmapped={"groupsSupervised": "aNewSpring has no supervised companies"},
        ),
        StepSpec(
            "user_status",
            "the import makes every user it creates active: each then gets its aNewSpring status",
            "user",
            "user_status",
            "update",
            "id",
            (m("id", "uid -> users"), m("clientStatusId", "active | lookup(status)")),
        ),
    ),
    {
        "subscription": NO_MAPPING + " (each aNewSpring course -> a Velpic lesson version: a table of yours)",
        "template": CANNOT_HOLD + ": Velpic's API creates no lessons",
    },
)

# -- accessplanit v1 -> v2 ------------------------------------------------------------------------------------
ACCESSPLANIT_V1_TO_V2 = Route(
    "accessplanit_v1",
    "accessplanit",
    (
        "accessplanit API v1 (feeds) -> API v2: a platform upgrade. Companies and users are upserted on",
        "ExternalID with their main role and status as they are; a last step links each company to its main",
        "contact once the users exist.",
    ),
    (),
    (
        StepSpec(
            "companies",
            "",
            "company",
            "company",
            "upsert",
            "ExternalID",
            (
                m("Name", "Name | trim"),
                m("ExternalID", "ExternalID"),
                m("EmailAddress", "EmailAddress"),
                m("AddressLineOne", "AddressLineOne"),
                m("Town", "Town"),
                m("County", "County"),
                m("Postcode", "Postcode"),
                m("Country", "Country"),
            ),
            page_size=500,
            unmapped={"MainContactUserID": "set by company_contacts, once the users exist"},
        ),
        StepSpec(
            "users",
            "every user, with its Status and MainRoleID as they are (the same platform on both sides)",
            "user",
            "user",
            "upsert",
            "ExternalID",
            (
                m("Forenames", "Forenames"),
                m("MiddleNames", "MiddleNames"),
                m("Surname", "Surname"),
                m("Email", "EmailAddress", "v1 EmailAddress is v2 Email"),
                m("Mobile", "Mobile"),
                m("Phone", "Phone"),
                m("DOB", "DateOfBirth", "v1 DateOfBirth is v2 DOB"),
                m("JobTitle", "JobTitle"),
                m("ExternalID", "ExternalID"),
                m("MainCompanyID", "MainCompanyID -> companies"),
                m("MainRoleID", "MainRoleID"),
                m("Status", "Status"),
            ),
            page_size=500,
            max_rejected=100,
        ),
        StepSpec(
            "company_contacts",
            "each company's main contact, through both crosswalks",
            "company",
            "company",
            "update",
            "ID",
            (m("ID", "CompanyID -> companies"), m("MainContactUserID", "MainContactUserID -> users")),
            page_size=500,
            unmapped={
                f: "set by the companies step"
                for f in (
                    "Name",
                    "ExternalID",
                    "EmailAddress",
                    "AddressLineOne",
                    "Town",
                    "County",
                    "Postcode",
                    "Country",
                )
            },
        ),
    ),
    {"companygroup": NO_MAPPING + " (v2 has no company groups module this tool writes)"},
)

# -- a CSV export -> any platform -----------------------------------------------------------------------------
_COURSE_NEEDS = "your course table (the export's Course -> the target's {what}): write {file} beside this plan"

FILES_TO_VELPIC = Route(
    "files",
    "velpic",
    (
        "A CSV export -> Velpic: companies become groups, learners users merged on email into their company's",
        "group with their role, then their status.",
        *_EXPORT,
    ),
    (
        TableSpec(
            "roles",
            "export Role -> Velpic role",
            values={"Learner": 6, "Trainer": 8, "Manager": 5, "Administrator": 3},
            default=6,
        ),
        _csv_status(56, 57, f"Velpic clientStatusId ({_VELPIC_STATUS_NOTE})"),
        TableSpec(
            "course_lesson",
            "export Course -> Velpic lesson version",
            file="course_lesson.csv",
            key_column="course",
            value_column="lesson_version_id",
            needs=_COURSE_NEEDS.format(what="lesson version", file="course_lesson.csv"),
        ),
    ),
    (
        _export_read(
            "companies",
            "companies become groups (by name)",
            "companies",
            "group",
            "create",
            "name",
            m("name", "CompanyName | trim"),
            m("description", "'Migrated company ' + CompanyRef"),
        ),
        _export_read(
            "users",
            "each learner, merged on email",
            "learners",
            "user",
            "bulk",
            "email",
            m("firstName", "FirstName | trim"),
            m("lastName", "LastName | trim"),
            m("emailAddress", "Email | trim | lower"),
            m("employeeNumber", "LearnerID"),
            m("mobileNumber", "Mobile"),
            m("roles", "Role | lookup(roles) | default(6) | as_list", "always sent: omitted roles reset"),
            m("groups", "CompanyRef -> companies | as_list | as_object('id')"),
            m("sendWelcomeEmail", False),
            batch=500,
            unmapped={
                "phoneNumber": "the export has Mobile only",
                "userName": "learners sign in by email",
                "groupsSupervised": "the export names no supervisors",
            },
        ),
        _export_read(
            "user_status",
            "the import makes every user it creates active: each then gets the export's status",
            "learners",
            "user_status",
            "update",
            "id",
            m("id", "LearnerID -> users"),
            m("clientStatusId", "Status | lookup(status) | default(56)"),
        ),
        _export_read(
            "schedules",
            "each learner's Course schedules the lesson that replaces it",
            "learners",
            "lesson_schedule",
            "create",
            "userId",
            m("userId", "LearnerID -> users"),
            m("lessonVersionIds", "Course | lookup(course_lesson) | int | as_list"),
            needs=_COURSE_NEEDS.format(what="lesson version", file="course_lesson.csv"),
        ),
    ),
    _CSV_LEFT,
)

FILES_TO_ACCESSPLANIT = Route(
    "files",
    "accessplanit",
    (
        "A CSV export -> accessplanit v2: companies and learners upserted on their export IDs with their main",
        "role and status; each learner's Course becomes a booking once you have the course date table.",
        *_EXPORT,
    ),
    (
        TableSpec(
            "main_role",
            "export Role -> accessplanit MainRoleID",
            values={
                "Learner": "Delegate",
                "Trainer": "Trainer",
                "Manager": "Manager",
                "Administrator": "Administrator",
            },
            default="Delegate",
        ),
        _csv_status("Active", "Inactive", "accessplanit Status"),
        TableSpec(
            "course_dates",
            "export Course -> the accessplanit course date to book",
            file="course_dates.csv",
            key_column="course",
            value_column="coursedate_id",
            needs=_COURSE_NEEDS.format(what="course date", file="course_dates.csv"),
        ),
    ),
    (
        _export_read(
            "companies",
            "",
            "companies",
            "company",
            "upsert",
            "ExternalID",
            m("Name", "CompanyName | trim"),
            m("ExternalID", "CompanyRef"),
            m("EmailAddress", "Email | trim | lower"),
            m("Town", "Town"),
            m("Postcode", "Postcode"),
            unmapped={f: "the export has no such column" for f in ("AddressLineOne", "County", "Country")}
            | {"MainContactUserID": "the export names no main contact"},
        ),
        _export_read(
            "learners",
            "",
            "learners",
            "user",
            "upsert",
            "ExternalID",
            m("Forenames", "FirstName | trim"),
            m("Surname", "LastName | trim"),
            m("Email", "Email | trim | lower"),
            m("Mobile", "Mobile"),
            m("JobTitle", "JobTitle"),
            m("DOB", "DOB | date('%d/%m/%Y', '%Y-%m-%dT00:00:00')"),
            m("ExternalID", "LearnerID"),
            m("MainCompanyID", "CompanyRef -> companies"),
            m("MainRoleID", "Role | lookup(main_role) | default('Delegate')"),
            m("Status", "Status | lookup(status) | default('Active')"),
            unmapped={"MiddleNames": "the export has no such column", "Phone": "the export has Mobile only"},
        ),
        _export_read(
            "bookings",
            "",
            "learners",
            "usercoursedate",
            "upsert",
            "UserID,CourseDateID",
            m("UserID", "LearnerID -> learners"),
            m("CourseDateID", "Course | lookup(course_dates)"),
            m("Status", "'Booked'"),
            needs=_COURSE_NEEDS.format(what="course date", file="course_dates.csv"),
        ),
    ),
    _CSV_LEFT,
)

FILES_TO_ACCESSPLANIT_V1 = Route(
    "files",
    "accessplanit_v1",
    (
        "A CSV export -> accessplanit API v1: companies and learners created (v1 has no upsert: a record in",
        "doubt is looked up by ExternalID first) with their main role and status.",
        *_EXPORT,
    ),
    FILES_TO_ACCESSPLANIT.tables[:2],
    (
        _export_read(
            "companies",
            "",
            "companies",
            "company",
            "create",
            "ExternalID",
            m("Name", "CompanyName | trim"),
            m("ExternalID", "CompanyRef"),
            m("EmailAddress", "Email | trim | lower"),
            m("Town", "Town"),
            m("Postcode", "Postcode"),
            unmapped={f: "the export has no such column" for f in ("AddressLineOne", "County", "Country")}
            | {"MainContactUserID": "the export names no main contact"},
        ),
        _export_read(
            "learners",
            "",
            "learners",
            "user",
            "create",
            "ExternalID",
            m("Forenames", "FirstName | trim"),
            m("Surname", "LastName | trim"),
            m("EmailAddress", "Email | trim | lower"),
            m("Mobile", "Mobile"),
            m("JobTitle", "JobTitle"),
            m("DateOfBirth", "DOB | date('%d/%m/%Y', '%Y-%m-%dT00:00:00')"),
            m("ExternalID", "LearnerID"),
            m("MainCompanyID", "CompanyRef -> companies"),
            m("MainRoleID", "Role | lookup(main_role) | default('Delegate')"),
            m("Status", "Status | lookup(status) | default('Active')"),
            unmapped={"MiddleNames": "the export has no such column", "Phone": "the export has Mobile only"},
        ),
    ),
    _CSV_LEFT | {"learners.Course": CANNOT_HOLD + " (this tool writes no v1 bookings)"},
)

FILES_TO_ONEFILE = Route(
    "files",
    "onefile",
    (
        "A CSV export -> OneFile: each learner becomes a OneFile user of its Role in the classroom and "
        "placement",
        "named like its company, assigned to a default assessor; inactive ones are archived. OneFile's API",
        "cannot create classrooms: create any missing one first.",
        *_EXPORT,
    ),
    (
        TableSpec(
            "onefile_role",
            "export Role -> OneFile Role (1 Learner, 5 Assessor)",
            values={"Learner": 1, "Trainer": 5, "Manager": 5},
            default=1,
        ),
        _csv_status(False, True, "OneFile Archived"),
    ),
    (
        _export_read(
            "classes",
            "finds the classroom named like each company",
            "companies",
            "classroom",
            "update",
            "Name",
            m("OrganisationID", _OF_ORG, _OF_ORG_NOTE),
            m("Name", "CompanyName | trim"),
            unmapped={"ID": "set by OneFile", "MISID": "found by Name"},
        ),
        _export_read(
            "placements",
            "finds the placement named like each company",
            "companies",
            "placement",
            "update",
            "Name",
            m("OrganisationID", _OF_ORG, _OF_ORG_NOTE),
            m("Name", "CompanyName | trim"),
            unmapped={
                "ID": "set by OneFile",
                "MISID": "found by Name",
                "Active": "found, not changed",
                "Address": "found, not changed",
            },
        ),
        _export_read(
            "learners",
            "a learner needs a classroom, a placement and a default assessor",
            "learners",
            "user",
            "create",
            "MISID",
            m("OrganisationID", _OF_ORG, _OF_ORG_NOTE),
            m("Role", "Role | lookup(onefile_role) | default(1)"),
            m("FirstName", "FirstName | trim"),
            m("LastName", "LastName | trim"),
            m("Email", "Email | trim | lower"),
            m("MISID", "LearnerID"),
            m("MobileNumber", "Mobile"),
            m("DOB", "DOB | date('%d/%m/%Y', '%Y-%m-%d')"),
            m("ClassroomID", "CompanyRef -> classes"),
            m("PlacementID", "CompanyRef -> placements"),
            m(
                "DefaultAssessorID",
                _OF_ASSESSOR,
                "CHANGE: the sandbox's first assessor; POST /User/Search {OrganisationID, Role: 5}",
            ),
        ),
        _export_read(
            "learners_status",
            "archive the inactive learners, unarchive the active ones (only when it differs)",
            "learners",
            "user_status",
            "update",
            "ID",
            m("ID", "LearnerID -> learners"),
            m("Archived", "Status | lookup(status) | default(false)"),
            m("Role", "Role | lookup(onefile_role) | default(1)"),
            m("OrganisationID", _OF_ORG, _OF_ORG_NOTE),
        ),
    ),
    _CSV_LEFT | {"learners.Course": CANNOT_HOLD + " (OneFile's API writes no learning content)"},
)

FILES_TO_ANEWSPRING = Route(
    "files",
    "anewspring",
    (
        "A CSV export -> aNewSpring: companies become student groups, learners users upserted on their export",
        "ID with their role and active state, each in its company's group; each learner's Course becomes a",
        "subscription once you have the course table.",
        *_EXPORT,
    ),
    (
        TableSpec(
            "roles",
            "export Role -> aNewSpring role",
            values={
                "Learner": "student",
                "Trainer": "teacher",
                "Manager": "mentor",
                "Administrator": "administrator",
            },
            default="student",
        ),
        _csv_status(True, False, "aNewSpring active"),
        TableSpec(
            "courses",
            "export Course -> aNewSpring course ID",
            file="course_course.csv",
            key_column="course",
            value_column="course_id",
            needs=_COURSE_NEEDS.format(what="aNewSpring course ID", file="course_course.csv"),
        ),
    ),
    (
        _export_read(
            "groups",
            "companies become student groups",
            "companies",
            "group",
            "create",
            "groupID",
            m("groupID", "'CO' + CompanyRef"),
            m("type", "'student'"),
            m("name", "CompanyName | trim"),
        ),
        _export_read(
            "users",
            "",
            "learners",
            "user",
            "upsert",
            "userID",
            m("userID", "LearnerID"),
            m("firstName", "FirstName | trim"),
            m("lastName", "LastName | trim"),
            m("email", "Email | trim | lower"),
            m("cellPhoneNumber", "Mobile"),
            m("function", "JobTitle"),
            m("dateOfBirth", "DOB | date('%d/%m/%Y', '%Y-%m-%d')"),
            m("role", "Role | lookup(roles) | default('student')"),
            m("active", "Status | lookup(status) | default(true)"),
            m("notify", False),
        ),
        _export_read(
            "memberships",
            "each learner in its company's group",
            "learners",
            "group_member",
            "create",
            "groupID",
            m("groupID", "CompanyRef -> groups"),
            m("user", "LearnerID -> users"),
        ),
        _export_read(
            "subscriptions",
            "each learner's Course becomes a subscription",
            "learners",
            "subscription",
            "create",
            "courseID",
            m("userID", "LearnerID -> users"),
            m("courseID", "Course | lookup(courses)"),
            needs=_COURSE_NEEDS.format(what="aNewSpring course ID", file="course_course.csv"),
        ),
    ),
    _CSV_LEFT,
)

ROUTES: Mapping[tuple[str, str], Route] = MappingProxyType(
    {
        (r.source, r.target): r
        for r in (
            VELPIC_TO_VELPIC,
            ACCESSPLANIT_TO_VELPIC,
            VELPIC_TO_ACCESSPLANIT,
            VELPIC_TO_ONEFILE,
            VELPIC_TO_ANEWSPRING,
            ONEFILE_TO_VELPIC,
            ANEWSPRING_TO_VELPIC,
            ACCESSPLANIT_V1_TO_V2,
            FILES_TO_VELPIC,
            FILES_TO_ACCESSPLANIT,
            FILES_TO_ACCESSPLANIT_V1,
            FILES_TO_ONEFILE,
            FILES_TO_ANEWSPRING,
        )
    }
)
