"""aNewSpring: pure request builders and response decoders.

RPC-style calls under the base URL (``…/api/<function>/<pathParams>``), authenticated with ``X-API-Key``.
Objects are addressed by EXTERNAL ID in the path (quoted); commands are form-encoded POSTs whose array
parameters repeat their key (``role=student&role=teacher``, ``user=A&user=B``), and answer 200 with an empty
body. Errors are plain text (often starting with the status code): they become the rejection reason.

Reads: ``getUsers`` (every user at once: ``id, uid, name, login, email, active``); when the map reads any other
field, ``getUser/{id}`` is called per user as well (a nested read). The key is the generated ``uid``: users
created in the UI have no external ID. ``company`` (aNewSpring cannot list groups) yields the distinct company
names of the users; ``subscription`` reads ``getSubscriptions/{userID}`` per user.

Writes: users (``addOrUpdateUser/{userID}``: the idempotent upsert; ``addUser/{userID}``: create-only, in-doubt
resolved with ``userExists``; ``updateUser/{userID}``), groups (``addGroup/{groupID}``, 409 = exists = done;
``updateGroup/{groupID}``), group members (one ``addGroupUsers/{groupID}`` per group of a batch with repeated
``user`` and ``ignoreDuplicates=true``), subscriptions (``subscribe/{userID}/{courseID}``, 409 = already
subscribed = done; in-doubt resolved with ``isSubscribed``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from migrator.connectors.base import (
    Action,
    EngineSupportError,
    Page,
    Request,
    Response,
    RowResult,
    StaticKeyAuth,
    WriteItem,
)
from migrator.protocol.pagination import PageRequest, Paginator, make_paginator

__all__ = [
    "GROUP_TYPES",
    "LIST_FIELDS",
    "ANewSpringAuth",
    "ANewSpringCompanies",
    "ANewSpringGroupMembers",
    "ANewSpringGroupWriter",
    "ANewSpringList",
    "ANewSpringSubscriptionWriter",
    "ANewSpringSubscriptions",
    "ANewSpringUserDetails",
    "ANewSpringUserWriter",
    "form_pairs",
    "make_auth",
    "make_reader",
    "make_writer",
]

#: The fields ``getUsers`` answers; any other mapped field needs ``getUser/{id}`` per user.
LIST_FIELDS = frozenset({"id", "uid", "name", "login", "email", "active"})
GROUP_TYPES = ("student", "teacher", "mentor")
_USER_PATHS: Mapping[str, str] = {
    "upsert": "/addOrUpdateUser/{userID}",
    "create": "/addUser/{userID}",
    "update": "/updateUser/{userID}",
}


def _seg(value: Any) -> str:
    """An external ID as one path segment."""
    return quote(str(value), safe="")


class ANewSpringAuth(StaticKeyAuth):
    """A static ``X-API-Key`` header."""

    header = "X-API-Key"

    def __init__(self, api_key: str) -> None:
        if not api_key:
            raise ValueError("aNewSpring needs api_key")
        super().__init__(api_key)


def _json_list(response: Response, key: str) -> list[dict[str, Any]]:
    if response.status == 204 or not response.body.strip():
        return []
    body = response.json()
    rows = body.get(key) if isinstance(body, dict) else body
    if not isinstance(rows, list):
        raise ValueError(f"aNewSpring answered no {key!r} list: {response.text(80)!r}")
    return [r for r in rows if isinstance(r, dict)]


def _user_ref(user: Mapping[str, Any]) -> str | None:
    """How to address a listed user: its external ID, else its generated UID."""
    for key in ("id", "uid"):
        value = user.get(key)
        if value not in (None, ""):
            return str(value)
    return None


class ANewSpringList:
    """One GET answers the whole list: ``getUsers`` (``{"users": […]}``), ``getTemplates``."""

    def __init__(self, path: str, list_key: str, key_field: str, step: str) -> None:
        self.path = path
        self.list_key = list_key
        self.key_field = key_field
        self.step = step

    def paginator(self) -> Paginator:
        return make_paginator("unpaged", page_size=1, step=self.step)

    def page_request(self, page: PageRequest) -> Request:
        return Request("GET", self.path, self.path)

    def decode_page(self, response: Response) -> Page:
        return Page(_json_list(response, self.list_key))


class ANewSpringUserDetails(ANewSpringList):
    """``getUsers``, then ``getUser/{id}`` per user: the listed row merged with the user's details."""

    def __init__(self, step: str) -> None:
        super().__init__("/getUsers", "users", "uid", step)

    def children(self, parent: Mapping[str, Any]) -> Request | None:
        ref = _user_ref(parent)
        return None if ref is None else Request("GET", f"/getUser/{_seg(ref)}", "/getUser/{userID}")

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError(f"getUser answered {response.text(80)!r} where a user object was expected")
        return [{**parent, **body}]


class ANewSpringCompanies(ANewSpringUserDetails):
    """The distinct ``company`` values of the users, one ``{"name": …}`` record each, exactly as the users
    hold them (so ``company -> <step>`` finds them in the crosswalk). The reader lives for one read, so its
    memory of the names seen is per read."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.key_field = "name"
        self._seen: set[str] = set()

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
        (user,) = super().decode_children(response, parent)
        company = user.get("company")
        if not isinstance(company, str) or not company.strip() or company in self._seen:
            return []
        self._seen.add(company)
        return [{"name": company}]


class ANewSpringSubscriptions(ANewSpringList):
    """``getSubscriptions/{userID}`` per user: one record per course, with ``userID``/``userUID`` of the user,
    ``courseID`` (the course's external ID) and ``key`` = ``<user uid>|<course id or uid>``."""

    def __init__(self, step: str) -> None:
        super().__init__("/getUsers", "users", "key", step)

    def children(self, parent: Mapping[str, Any]) -> Request | None:
        ref = _user_ref(parent)
        if ref is None:
            return None
        return Request("GET", f"/getSubscriptions/{_seg(ref)}", "/getSubscriptions/{userID}")

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        user_key = parent.get("uid") or parent.get("id")
        for course in _json_list(response, "courses"):
            course_key = course.get("id") or course.get("uid")
            out.append(
                {
                    **course,
                    "key": f"{user_key}|{course_key}",
                    "userID": parent.get("id"),
                    "userUID": parent.get("uid"),
                    "courseID": course.get("id"),
                }
            )
        return out


# ---------------------------------------------------------------- writes


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def form_pairs(payload: Mapping[str, Any], skip: Collection[str] = ()) -> tuple[tuple[str, str], ...]:
    """A payload as form parameters: lists repeat their key, booleans are true/false, None is dropped."""
    pairs: list[tuple[str, str]] = []
    for name, value in payload.items():
        if name in skip or value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            if v is not None:
                pairs.append((name, _text(v)))
    return tuple(pairs)


def _posts_by_id(
    items: Sequence[WriteItem], endpoint: str, id_field: str
) -> list[tuple[Request, list[WriteItem]]]:
    """One form POST per record to ``endpoint`` with ``{id_field}`` filled from the record (and left out of
    the form)."""
    return [
        (
            Request(
                "POST",
                endpoint.replace("{" + id_field + "}", _seg(it.payload[id_field])),
                endpoint,
                form=form_pairs(it.payload, skip=(id_field,)),
                is_write=True,
            ),
            [it],
        )
        for it in items
    ]


def _reason(response: Response) -> str:
    """The plain-text error (or ``{"message"}`` under ``_formatErrors``), without the leading status code."""
    text = response.body[:400].decode("utf-8", "replace").strip()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        text = str(body["message"])
    code = str(response.status)
    if text.startswith(code):
        text = text[len(code) :].strip(" :-")
    return text or f"HTTP {response.status}"


def _rejected(item: WriteItem, field: str, reason: str, status: int | None = None) -> RowResult:
    return RowResult(
        item.idem_key, ok=False, action="rejected", status=status, reason=reason, fields={field: [reason]}
    )


def _refused(item: WriteItem, response: Response, call: str, hint: str = "") -> RowResult:
    reason = f"aNewSpring {call} answered {response.status}: {_reason(response)}" + (
        f" ({hint})" if hint else ""
    )
    return _rejected(item, "row", reason, response.status)


def _exists(response: Response) -> bool:
    if response.status != 200:
        return False
    body = response.json()
    return isinstance(body, dict) and body.get("result") is True


def _ext_id(item: WriteItem, name: str) -> RowResult | str:
    value = item.payload.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return _rejected(item, name, f"{name} (the external ID in the call's path) is required")
    if isinstance(value, list | dict):
        return _rejected(item, name, f"{name} must be one value; got {value!r}")
    return str(value).strip()


class ANewSpringUserWriter:
    """One user per call: ``addOrUpdateUser`` (upsert), ``addUser`` (create) or ``updateUser`` (update), all
    addressed by ``userID``; the other mapped fields are the form (``role`` repeated for several roles)."""

    max_batch = 50

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.endpoint = _USER_PATHS[mode]
        self.idempotent = mode != "create"

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        user_id = _ext_id(item, "userID")
        if isinstance(user_id, RowResult):
            return user_id
        payload = {k: v for k, v in item.payload.items() if v is not None}
        payload["userID"] = user_id
        return WriteItem(item.idem_key, item.source_key, payload, user_id)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return _posts_by_id(items, self.endpoint, "userID")

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        user_id = str(item.payload["userID"])
        if response.status == 200:
            # addOrUpdateUser does not say whether it created or updated: counted as updated
            action: Action = "created" if self.mode == "create" else "updated"
            return [RowResult(item.idem_key, ok=True, target_id=user_id, action=action)]
        hint = ""
        if response.status == 409 and self.mode == "create":
            hint = 'the user ID or login exists already; write with mode = "upsert" to update existing users'
        elif response.status == 404:
            hint = f"no aNewSpring user with ID {user_id!r}"
        return [_refused(item, response, self.endpoint.split("/")[1], hint)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        return Request("GET", f"/userExists/{_seg(item.payload['userID'])}", "/userExists/{userID}")

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        return str(item.payload["userID"]) if _exists(response) else None


class ANewSpringGroupWriter:
    """``addGroup/{groupID}`` (create: ``type``, ``name``, ``parent?``; 409 = the group exists = done) or
    ``updateGroup/{groupID}`` (``name?``, ``parent?``)."""

    max_batch = 50

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.endpoint = "/addGroup/{groupID}" if mode == "create" else "/updateGroup/{groupID}"
        self.idempotent = mode == "update"

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        group_id = _ext_id(item, "groupID")
        if isinstance(group_id, RowResult):
            return group_id
        group = {k: v for k, v in item.payload.items() if v is not None and v != ""}
        group["groupID"] = group_id
        if self.mode == "create":
            if group.get("type") not in GROUP_TYPES:
                return _rejected(
                    item, "type", f"type must be one of {', '.join(GROUP_TYPES)}; got {group.get('type')!r}"
                )
            if not isinstance(group.get("name"), str) or not group["name"].strip():
                return _rejected(item, "name", "a group needs a name")
        if "parent" in group and str(group["parent"]) == group_id:
            return _rejected(item, "parent", f"group {group_id!r} cannot be its own parent")
        return WriteItem(item.idem_key, item.source_key, group, group_id)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return _posts_by_id(items, self.endpoint, "groupID")

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        group_id = str(item.payload["groupID"])
        if response.status == 200:
            action: Action = "created" if self.mode == "create" else "updated"
            return [RowResult(item.idem_key, ok=True, target_id=group_id, action=action)]
        if response.status == 409 and self.mode == "create":
            return [RowResult(item.idem_key, ok=True, target_id=group_id, action="unchanged")]
        hint = "the group or its parent does not exist" if response.status == 404 else ""
        return [_refused(item, response, self.endpoint.split("/")[1], hint)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        return Request("GET", f"/groupExists/{_seg(item.payload['groupID'])}", "/groupExists/{groupID}")

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        return str(item.payload["groupID"]) if _exists(response) else None


class ANewSpringGroupMembers:
    """Records ``{groupID, user}``: a batch becomes one ``addGroupUsers/{groupID}`` per group, with repeated
    ``user`` and ``ignoreDuplicates=true`` (sending it again is safe). The call is all-or-nothing: when it fails
    for several users they are sent again one by one, so only the user at fault is rejected."""

    mode = "create"
    max_batch = 200
    idempotent = True
    endpoint = "/addGroupUsers/{groupID}"

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        group_id = _ext_id(item, "groupID")
        if isinstance(group_id, RowResult):
            return group_id
        user = _ext_id(item, "user")
        if isinstance(user, RowResult):
            return user
        return WriteItem(item.idem_key, item.source_key, {"groupID": group_id, "user": user}, group_id)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        by_group: dict[str, list[WriteItem]] = {}
        for it in items:
            by_group.setdefault(str(it.payload["groupID"]), []).append(it)
        out: list[tuple[Request, list[WriteItem]]] = []
        for group_id, members in by_group.items():
            form = (*(("user", str(it.payload["user"])) for it in members), ("ignoreDuplicates", "true"))
            path = f"/addGroupUsers/{_seg(group_id)}"
            out.append((Request("POST", path, self.endpoint, form=form, is_write=True), members))
        return out

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        if response.status == 200:
            return [
                RowResult(it.idem_key, ok=True, target_id=f"{it.payload['groupID']}/{it.payload['user']}")
                for it in items
            ]
        if len(items) > 1:  # all-or-nothing: find the one at fault by sending them one by one
            return [RowResult(it.idem_key, ok=False, action="pending", reason="isolate") for it in items]
        item = items[0]
        hint = ""
        if response.status == 404:
            hint = "the group or the user does not exist"
        elif response.status == 409:
            hint = "the user lacks the role of the group's type"
        return [_refused(item, response, "addGroupUsers", hint)]

    def lookup_request(self, item: WriteItem) -> Request | None:  # pragma: no cover - idempotent
        return None

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:  # pragma: no cover
        return None


class ANewSpringSubscriptionWriter:
    """``subscribe/{userID}/{courseID}`` (``startDate`` optional, yyyy-MM-dd); 409 = already subscribed = done.
    Create-only (a subscription uses a licence): in doubt, ``isSubscribed`` is asked first."""

    mode = "create"
    max_batch = 50
    idempotent = False
    endpoint = "/subscribe/{userID}/{courseID}"

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        user_id = _ext_id(item, "userID")
        if isinstance(user_id, RowResult):
            return user_id
        course_id = _ext_id(item, "courseID")
        if isinstance(course_id, RowResult):
            return course_id
        payload = {k: v for k, v in item.payload.items() if v is not None and v != ""}
        payload.update(userID=user_id, courseID=course_id)
        return WriteItem(item.idem_key, item.source_key, payload, course_id)

    @staticmethod
    def _path(call: str, item: WriteItem) -> str:
        return f"/{call}/{_seg(item.payload['userID'])}/{_seg(item.payload['courseID'])}"

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [
            (
                Request(
                    "POST",
                    self._path("subscribe", it),
                    self.endpoint,
                    form=form_pairs(it.payload, skip=("userID", "courseID")),
                    is_write=True,
                ),
                [it],
            )
            for it in items
        ]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        target = f"{item.payload['userID']}/{item.payload['courseID']}"
        if response.status == 200:
            return [RowResult(item.idem_key, ok=True, target_id=target, action="created")]
        if response.status == 409:
            return [RowResult(item.idem_key, ok=True, target_id=target, action="unchanged")]
        hint = "the user or the course does not exist" if response.status == 404 else ""
        return [_refused(item, response, "subscribe", hint)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        return Request("GET", self._path("isSubscribed", item), "/isSubscribed/{userID}/{courseID}")

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        return f"{item.payload['userID']}/{item.payload['courseID']}" if _exists(response) else None


def make_auth(credentials: Mapping[str, str]) -> ANewSpringAuth:
    return ANewSpringAuth(credentials.get("api_key", ""))


def make_reader(
    entity: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
) -> ANewSpringList:
    if entity == "user":
        top = {f.split(".")[0] for f in fields}
        return (
            ANewSpringUserDetails(step)
            if top - LIST_FIELDS
            else ANewSpringList("/getUsers", "users", "uid", step)
        )
    if entity == "company":
        return ANewSpringCompanies(step)
    if entity == "subscription":
        return ANewSpringSubscriptions(step)
    if entity == "template":
        return ANewSpringList("/getTemplates", "templates", "id", step)
    raise EngineSupportError(f"the aNewSpring connector cannot read {entity!r}")


def make_writer(
    entity: str, mode: str, match: str | None
) -> ANewSpringUserWriter | ANewSpringGroupWriter | ANewSpringGroupMembers | ANewSpringSubscriptionWriter:
    if entity == "user" and mode in _USER_PATHS:
        return ANewSpringUserWriter(mode)
    if entity == "group" and mode in ("create", "update"):
        return ANewSpringGroupWriter(mode)
    if entity == "group_member" and mode == "create":
        return ANewSpringGroupMembers()
    if entity == "subscription" and mode == "create":
        return ANewSpringSubscriptionWriter()
    raise EngineSupportError(f"the aNewSpring connector cannot write {entity!r} in mode {mode!r}")
