"""Velpic / Damstra Learning API v2: pure request builders and response decoders.

Reads page with ``startIndex``/``maxResults`` + ``meta.totalResultCount`` (concurrent once the total is known).
Writes: users through ``POST /bulkUserImport`` (``mergeType``; rows are pre-validated so one bad row does not
sink a batch of 500, and ``roles`` is always sent because the import resets omitted roles to TRAINEE), users
one by one (``POST /user``, ``PUT /user/{id}``), groups (``POST /group``, update ``POST /group/{id}``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from migrator.connectors.base import (
    Action,
    EngineSupportError,
    Page,
    Request,
    Response,
    RowResult,
    Token,
    WriteItem,
)
from migrator.errors import PlanError, PlanProblem
from migrator.protocol.pagination import PageRequest, Paginator, make_paginator

__all__ = [
    "READ_PATHS",
    "VALID_ROLES",
    "VelpicAuth",
    "VelpicBulkUsers",
    "VelpicGroupWriter",
    "VelpicReader",
    "VelpicUserWriter",
    "make_auth",
    "make_reader",
    "make_writer",
    "validate_user",
]

VALID_ROLES = frozenset({3, 4, 5, 6, 7, 8})
MERGE_TYPES = ("none", "email", "empNo", "userName")
READ_PATHS: Mapping[str, str] = {"user": "/user", "group": "/group", "lesson": "/lesson"}
_ROW = re.compile(r"users\[(\d+)\]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class VelpicAuth:
    """A static ``AccessKey`` header."""

    def __init__(self, access_key: str) -> None:
        self._key = access_key

    def token_request(self) -> Request | None:
        return None

    def decode_token(self, response: Response, now: float) -> Token:  # pragma: no cover - static key
        return Token(self._key, None)

    def headers(self, token: Token | None) -> Mapping[str, str]:
        return {"AccessKey": self._key}

    def secrets(self) -> Sequence[str]:
        return [self._key]


class VelpicReader:
    """``GET /user``, ``/group``, ``/lesson`` with filters as query parameters."""

    key_field = "id"

    def __init__(self, entity: str, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        self.path = READ_PATHS[entity]
        self.filters = tuple((k, _param(v)) for k, v in filters.items())
        self.page_size = page_size
        self.step = step

    def paginator(self) -> Paginator:
        return make_paginator("velpic_offset", page_size=self.page_size, step=self.step)

    def page_request(self, page: PageRequest) -> Request:
        return Request("GET", self.path, endpoint=self.path, params=self.filters + page.params)

    def decode_page(self, response: Response) -> Page:
        body = response.json() or {}
        meta = body.get("meta") or {}
        total = meta.get("totalResultCount")
        return Page(list(body.get("results") or []), total if isinstance(total, int) else None)


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _ids(value: Any) -> list[dict[str, int]]:
    """``5``, ``"5"``, ``[5, 6]`` or ``[{"id": 5}]`` → ``[{"id": 5}, …]`` (None and "" dropped)."""
    items = value if isinstance(value, list) else [value]
    out: list[dict[str, int]] = []
    for item in items:
        raw = item.get("id") if isinstance(item, dict) else item
        if raw is None or raw == "":
            continue
        out.append({"id": int(raw)})
    return out


def normalise_user(payload: Mapping[str, Any]) -> dict[str, Any]:
    user = dict(payload)
    for name in ("groups", "groupsSupervised"):
        if name in user:
            user[name] = _ids(user[name])
    if "employeeNumber" in user and user["employeeNumber"] is not None:
        user["employeeNumber"] = str(user["employeeNumber"])
    if "roles" in user and not isinstance(user["roles"], list):
        user["roles"] = [user["roles"]]
    return user


def validate_user(user: Mapping[str, Any], *, require_roles: bool) -> dict[str, list[str]]:
    """Problems Velpic would refuse (or silently mishandle), by field. Empty when the row is fine."""
    problems: dict[str, list[str]] = {}
    for name in ("firstName", "lastName", "emailAddress"):
        value = user.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.setdefault(name, []).append(f"{name} is required")
    email = user.get("emailAddress")
    if isinstance(email, str) and email.strip() and not _EMAIL.match(email.strip()):
        problems.setdefault("emailAddress", []).append(f"not an email address: {email!r}")
    roles = user.get("roles")
    if roles is None:
        if require_roles:
            problems.setdefault("roles", []).append(
                "roles must be sent: bulkUserImport resets a merged user's roles to TRAINEE when omitted"
            )
    else:
        bad = [r for r in roles if not isinstance(r, int) or isinstance(r, bool) or r not in VALID_ROLES]
        if bad or not roles:
            problems.setdefault("roles", []).append(
                f"roles must be a non-empty list of 3 ADMIN, 4 EDITOR, 5 SUPERVISOR, 6 TRAINEE, 7 OWNER, "
                f"8 INSTRUCTOR; got {roles!r}"
            )
    return problems


def _rejected(item: WriteItem, problems: Mapping[str, list[str]], status: int | None = None) -> RowResult:
    reason = "; ".join(msg for msgs in problems.values() for msg in msgs)
    return RowResult(item.idem_key, ok=False, action="rejected", status=status, reason=reason, fields=problems)


def _error_text(response: Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text()
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body.get("reason") or body)
    return response.text()


def _user_result(item: WriteItem, user: Mapping[str, Any]) -> RowResult:
    created = user.get("createdDate")
    action: Action = "created" if created is not None and created == user.get("modifiedDate") else "updated"
    return RowResult(item.idem_key, ok=True, target_id=str(user.get("id")), action=action)


class VelpicBulkUsers:
    """``POST /bulkUserImport`` with a ``mergeType``; rows pre-validated, results mapped back by position."""

    mode = "bulk"
    max_batch = 500

    def __init__(self, merge: str | None) -> None:
        merge = merge or "none"
        if merge not in MERGE_TYPES:
            raise PlanError(
                [PlanProblem("", "write.match", f"Velpic mergeType must be one of {', '.join(MERGE_TYPES)}")]
            )
        self.merge = merge
        self.idempotent = merge != "none"

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        user = normalise_user(item.payload)
        problems = validate_user(user, require_roles=True)
        if problems:
            return _rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, user, item.match_value)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        body = {"users": [it.payload for it in items], "mergeType": self.merge}
        req = Request("POST", "/bulkUserImport", "/bulkUserImport", json=body, is_write=True)
        return [(req, list(items))]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        if response.status == 200:
            users = response.json()
            if not isinstance(users, list) or len(users) != len(items):
                got = len(users) if isinstance(users, list) else type(users).__name__
                raise ValueError(f"bulkUserImport answered {got} rows for {len(items)} sent")
            return [_user_result(it, u) for it, u in zip(items, users, strict=True)]
        text = _error_text(response)
        match = _ROW.search(text)
        if response.status == 400 and match and int(match.group(1)) < len(items):
            bad = int(match.group(1))
            # the import is all-or-nothing: reject the named row, the rest are written again
            return [
                _rejected(it, {"row": [text]}, 400)
                if i == bad
                else RowResult(it.idem_key, ok=False, action="pending", reason="resend")
                for i, it in enumerate(items)
            ]
        if response.status == 400 and len(items) == 1:
            return [_rejected(items[0], {"row": [text]}, 400)]
        return [RowResult(it.idem_key, ok=False, action="pending", reason="split") for it in items]

    def lookup_request(self, item: WriteItem) -> Request | None:
        return _user_lookup(item, self.merge)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        return _first_id(response)


def _user_lookup(item: WriteItem, merge: str) -> Request | None:
    user = item.payload
    if merge in ("email", "none") and user.get("emailAddress"):
        params = (("emailAddress", str(user["emailAddress"])), ("activeValue", "all"))
    elif merge == "empNo" and user.get("employeeNumber"):
        params = (("empId", str(user["employeeNumber"])), ("activeValue", "all"))
    elif merge == "userName" and user.get("userName"):
        params = (("q", str(user["userName"])), ("activeValue", "all"))
    else:
        return None
    return Request("GET", "/user", "/user", params=params)


def _first_id(response: Response) -> str | None:
    if response.status != 200:
        return None
    results = (response.json() or {}).get("results") or []
    return str(results[0]["id"]) if results else None


class VelpicUserWriter:
    """One user per call: ``POST /user`` (create) or ``PUT /user/{id}`` (update, a full replacement)."""

    max_batch = 50

    def __init__(self, mode: str, match: str | None) -> None:
        self.mode = mode
        self.match = match or "email"
        self.idempotent = mode == "update"

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        user = normalise_user(item.payload)
        problems = validate_user(user, require_roles=False)
        if self.mode == "update" and not user.get("id"):
            problems.setdefault("id", []).append("update needs the target user id (map id through a crosswalk)")
        return _rejected(item, problems) if problems else WriteItem(item.idem_key, item.source_key, user)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        out: list[tuple[Request, list[WriteItem]]] = []
        for it in items:
            if self.mode == "update":
                path = f"/user/{it.payload['id']}"
                out.append((Request("PUT", path, "/user/{userId}", json=it.payload, is_write=True), [it]))
            else:
                out.append((Request("POST", "/user", "/user", json=it.payload, is_write=True), [it]))
        return out

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            body = response.json() or {}
            action: Action = "updated" if self.mode == "update" else "created"
            return [RowResult(item.idem_key, ok=True, target_id=str(body.get("id")), action=action)]
        return [_rejected(item, {"row": [_error_text(response)]}, response.status)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        return _user_lookup(item, "email" if self.match == "emailAddress" else self.match)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        return _first_id(response)


class VelpicGroupWriter:
    """``POST /group`` (create; in-doubt lookup by exact name) or ``POST /group/{id}`` (update)."""

    max_batch = 50

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.idempotent = mode == "update"

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        group = dict(item.payload)
        problems: dict[str, list[str]] = {}
        if not isinstance(group.get("name"), str) or not group["name"].strip():
            problems["name"] = ["name is required"]
        group.setdefault("description", "")
        if group.get("parentId") in ("", None):
            group.pop("parentId", None)
        return _rejected(item, problems) if problems else WriteItem(item.idem_key, item.source_key, group)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        out: list[tuple[Request, list[WriteItem]]] = []
        for it in items:
            if self.mode == "update":
                req = Request(
                    "POST", f"/group/{it.payload['id']}", "/group/{groupId}", json=it.payload, is_write=True
                )
            else:
                req = Request("POST", "/group", "/group", json=it.payload, is_write=True)
            out.append((req, [it]))
        return out

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200:
            body = response.json() or {}
            action: Action = "updated" if self.mode == "update" else "created"
            return [RowResult(item.idem_key, ok=True, target_id=str(body.get("id")), action=action)]
        return [_rejected(item, {"row": [_error_text(response)]}, response.status)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        name = item.payload.get("name")
        if not name:
            return None
        return Request("GET", "/group", "/group", params=(("q", str(name)),))

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        if response.status != 200:
            return None
        want = str(item.payload.get("name", "")).strip().casefold()
        for group in (response.json() or {}).get("results") or []:
            if str(group.get("name", "")).strip().casefold() == want:
                return str(group["id"])
        return None


def make_auth(credentials: Mapping[str, str]) -> VelpicAuth:
    return VelpicAuth(credentials["access_key"])


def make_reader(
    entity: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
) -> VelpicReader:
    if entity not in READ_PATHS:
        raise EngineSupportError(f"the Velpic connector cannot read {entity!r} yet")
    return VelpicReader(entity, filters, page_size, step)


def make_writer(
    entity: str, mode: str, match: str | None
) -> VelpicBulkUsers | VelpicUserWriter | VelpicGroupWriter:
    if entity == "user" and mode == "bulk":
        return VelpicBulkUsers(match)
    if entity == "user" and mode in ("create", "update"):
        return VelpicUserWriter(mode, match)
    if entity == "group" and mode in ("create", "update"):
        return VelpicGroupWriter(mode)
    raise EngineSupportError(f"the Velpic connector cannot write {entity!r} in mode {mode!r} yet")
