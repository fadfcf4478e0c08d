"""OneFile API v2.1: pure request builders and response decoders.

Auth: ``POST /Authentication`` with ``X-CustomerToken`` answers the session token as the raw body; every other
call sends it as ``X-TokenID``. A session lasts 24 hours: the token is given that expiry, so the transport
refreshes it before it runs out (and once on a 401).

Reads: users through the paged search ``POST /User/Search/{page}/{size}`` (the step's ``filter`` is the body,
e.g. ``{OrganisationID, Role}``; pages from 1, at most 100 rows, no totals, 204 = nothing more); classrooms,
placements and organisations through their unpaged searches; the customer with ``GET /Customer``.

Writes: users (``POST /User`` → the new ID as a bare integer; ``POST /User/{id}`` updates), with the mandatory
fields per role checked before sending, so a learner without ``DefaultAssessorID``/``ClassroomID``/
``PlacementID`` is a dead letter that says so rather than a 400; placements (``POST /Placement``). The API
cannot create classrooms: ``update`` on a classroom (or placement) finds the existing one by Name or MISID so a
step's crosswalk maps source records to OneFile IDs.

Budget: 300 calls a minute for the whole API, so every request carries the endpoint (budget key) ``"*"``,
the catalog's key for OneFile's api-wide budget.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import orjson

from migrator.connectors.base import (
    EngineSupportError,
    Page,
    Request,
    Response,
    RowResult,
    Token,
    WriteItem,
)
from migrator.errors import AuthError
from migrator.protocol.pagination import PageRequest, Paginator, make_paginator

__all__ = [
    "ALL",
    "MANDATORY",
    "ROLES",
    "SESSION_SECONDS",
    "OneFileAuth",
    "OneFilePlacementWriter",
    "OneFileReader",
    "OneFileReferenceFinder",
    "OneFileUserReader",
    "OneFileUserWriter",
    "make_auth",
    "make_reader",
    "make_writer",
    "missing_mandatory",
]

#: The budget key of every OneFile request: 300/minute covers the whole API (catalog ``budget_scope="api"``).
ALL = "*"
#: A session token lives 24 hours (documented).
SESSION_SECONDS = 24 * 3600.0
ROLES: Mapping[int, str] = {
    1: "Learner",
    4: "Trainee Assessor",
    5: "Assessor",
    10: "IV / IQA",
    40: "Employer",
    45: "Observer",
}
_BASE = ("OrganisationID", "FirstName", "LastName", "Email", "Role")
#: Mandatory fields of ``POST /User`` per role (documented); roles not listed take the base five.
MANDATORY: Mapping[int, tuple[str, ...]] = {
    1: (*_BASE, "DefaultAssessorID", "ClassroomID", "PlacementID"),
    40: (*_BASE, "PlacementID"),
    45: (*_BASE, "PlacementID"),
}
#: Fields OneFile holds as whole numbers (crosswalk values arrive as text and are converted).
_INT_FIELDS = frozenset(
    {
        "ID",
        "OrganisationID",
        "Role",
        "DefaultAssessorID",
        "ClassroomID",
        "PlacementID",
        "ProviderID",
        "DefaultEmployerID",
        "LearnerStatusID",
        "CustomerID",
    }
)
_SEARCH_PATHS: Mapping[str, str] = {
    "classroom": "/Classroom/Search",
    "placement": "/Placement/Search",
    "organisation": "/Organisation/Search",
}
_PAGE_CAP = 100


class OneFileAuth:
    """A 24-hour session from ``POST /Authentication`` (header ``X-CustomerToken``), sent as ``X-TokenID``."""

    def __init__(self, customer_token: str) -> None:
        if not customer_token:
            raise ValueError("OneFile needs customer_token (the API token OneFile support issues)")
        self._customer_token = customer_token

    def token_request(self) -> Request | None:
        return Request("POST", "/Authentication", ALL, headers=(("X-CustomerToken", self._customer_token),))

    def decode_token(self, response: Response, now: float) -> Token:
        value = _session_token(response.body) if response.status == 200 else ""
        if not value:
            why = "an empty session token" if response.status == 200 else f"HTTP {response.status}"
            raise AuthError(
                f"OneFile refused the customer token ({why}); check customer_token in your env file, or ask "
                "OneFile support for a new API token",
                platform="onefile",
                method="POST",
                url="/Authentication",
                status=response.status,
            )
        return Token(value, now + SESSION_SECONDS)

    def headers(self, token: Token | None) -> Mapping[str, str]:
        return {"X-TokenID": token.value} if token is not None else {}

    def secrets(self) -> Sequence[str]:
        return [self._customer_token]


def _session_token(body: bytes) -> str:
    """The raw body is the token; a JSON string (quoted) is accepted too."""
    text = body.decode("utf-8", "replace").strip()
    if text.startswith('"'):
        try:
            decoded = orjson.loads(text)
        except orjson.JSONDecodeError:
            return ""
        return decoded.strip() if isinstance(decoded, str) else ""
    return text


def _rows(response: Response) -> list[dict[str, Any]]:
    """A search answer: a JSON array, or 204 / an empty body when nothing matches."""
    if response.status == 204 or not response.body.strip():
        return []
    body = response.json()
    if isinstance(body, list):
        return [r for r in body if isinstance(r, dict)]
    if isinstance(body, dict):
        return [body]
    raise ValueError(f"OneFile answered {type(body).__name__} where a list of records was expected")


class OneFileUserReader:
    """``POST /User/Search/{page}/{size}`` with the step's filter as the body, pages from 1 until 204/short."""

    key_field = "ID"

    def __init__(self, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        self.body = dict(filters)
        self.page_size = min(page_size, _PAGE_CAP)
        self.step = step

    def paginator(self) -> Paginator:
        return make_paginator(
            "onefile_path_page", page_size=self.page_size, step=self.step, record_key=lambda r: str(r.get("ID"))
        )

    def page_request(self, page: PageRequest) -> Request:
        return Request("POST", "/User/Search" + page.path_suffix, ALL, json=self.body)

    def decode_page(self, response: Response) -> Page:
        return Page(_rows(response))


class OneFileReader:
    """One request answers the whole list: the unpaged searches (body = the filter) and ``GET /Customer``."""

    key_field = "ID"

    def __init__(self, entity: str, filters: Mapping[str, Any], step: str) -> None:
        self.entity = entity
        self.body = dict(filters)
        self.step = step

    def paginator(self) -> Paginator:
        return make_paginator("unpaged", page_size=1, step=self.step)

    def page_request(self, page: PageRequest) -> Request:
        if self.entity == "customer":
            return Request("GET", "/Customer", ALL)
        return Request("POST", _SEARCH_PATHS[self.entity], ALL, json=self.body)

    def decode_page(self, response: Response) -> Page:
        return Page(_rows(response))


# ---------------------------------------------------------------- writes


def _message(response: Response) -> str:
    """The reason in an error answer: ``{"message"}`` / ``{"Message"}`` (any casing), else the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text()
    if isinstance(body, dict):
        lowered = {str(k).casefold(): v for k, v in body.items()}
        for key in ("message", "error", "reason"):
            if lowered.get(key):
                return str(lowered[key])
    if isinstance(body, str) and body:
        return body
    return response.text() or f"HTTP {response.status}"


def _rejected(
    item: WriteItem, problems: Mapping[str, list[str]], status: int | None = None, reason: str = ""
) -> RowResult:
    reason = reason or "; ".join(dict.fromkeys(m for msgs in problems.values() for m in msgs))
    return RowResult(
        item.idem_key, ok=False, action="rejected", status=status, reason=reason, fields=dict(problems)
    )


def _refused(item: WriteItem, response: Response, what: str) -> RowResult:
    text = _message(response)
    return _rejected(
        item, {"row": [text]}, response.status, f"OneFile refused the {what} (HTTP {response.status}): {text}"
    )


def _normalise(payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Drop empty values (OneFile ignores them), whole-number fields as ints; problems by field."""
    out: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for name, value in payload.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name in _INT_FIELDS:
            number = _whole(value)
            if number is None:
                problems.setdefault(name, []).append(f"{name} must be a whole number; got {value!r}")
                continue
            out[name] = number
            continue
        out[name] = value
    return out, problems


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def missing_mandatory(user: Mapping[str, Any]) -> dict[str, list[str]]:
    """What ``POST /User`` would refuse for the user's role, by field (empty when the user can be created)."""
    role = user.get("Role")
    if role is None:
        return {"Role": ["Role is required: " + ", ".join(f"{k} {v}" for k, v in ROLES.items())]}
    if role not in ROLES:
        return {
            "Role": [
                f"unknown OneFile role {role!r}; expected " + ", ".join(f"{k} {v}" for k, v in ROLES.items())
            ]
        }
    need = MANDATORY.get(role, _BASE)
    missing = [f for f in need if f not in user]
    if not missing:
        return {}
    title = f"a OneFile {ROLES[role]} (Role {role})"
    extra = [f for f in need if f not in _BASE]
    needs = f"{title} needs {', '.join(extra)}" if extra else f"{title} needs {', '.join(need)}"
    message = f"{needs}; missing: {', '.join(missing)}"
    return {f: [message] for f in missing}


def _bare_id(response: Response) -> str:
    """``POST /User`` and ``POST /Placement`` answer the new ID as a bare integer."""
    try:
        body = response.json()
    except ValueError:
        body = response.text().strip().strip('"')
    if isinstance(body, dict):
        lowered = {str(k).casefold(): v for k, v in body.items()}
        body = lowered.get("id")
    number = _whole(body)
    if number is None:
        raise ValueError(f"OneFile answered {response.text(80)!r} where the new record's ID was expected")
    return str(number)


def _same(a: Any, b: Any) -> bool:
    return a is not None and b is not None and str(a).strip().casefold() == str(b).strip().casefold()


class OneFileUserWriter:
    """``POST /User`` (create) or ``POST /User/{ID}`` (update), one user per call."""

    max_batch = 50

    def __init__(self, mode: str, match: str | None) -> None:
        self.mode = mode
        self.match = match
        self.idempotent = mode == "update"

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        user, problems = _normalise(item.payload)
        if self.mode == "update":
            if "ID" not in user and "ID" not in problems:
                problems["ID"] = ["an update needs the OneFile user ID (map ID, e.g. through a crosswalk)"]
            elif len(user) < 2 and not problems:
                problems["row"] = ["nothing to update: every mapped field is empty"]
        else:
            for name, msgs in missing_mandatory(user).items():
                problems.setdefault(name, []).extend(msgs)
            email = user.get("Email")
            if isinstance(email, str) and "@" not in email:
                problems.setdefault("Email", []).append(f"not an email address: {email!r}")
        if problems:
            return _rejected(item, problems)
        key = self.match or ("MISID" if "MISID" in user else "Email")
        match_value = str(user[key]) if user.get(key) is not None else None
        return WriteItem(item.idem_key, item.source_key, user, match_value)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        out: list[tuple[Request, list[WriteItem]]] = []
        for it in items:
            if self.mode == "update":
                body = {k: v for k, v in it.payload.items() if k != "ID"}
                req = Request("POST", f"/User/{it.payload['ID']}", ALL, json=body, is_write=True)
            else:
                req = Request("POST", "/User", ALL, json=it.payload, is_write=True)
            out.append((req, [it]))
        return out

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status == 200 and self.mode == "update":
            return [RowResult(item.idem_key, ok=True, target_id=str(item.payload["ID"]), action="updated")]
        if response.status in (200, 201):
            return [RowResult(item.idem_key, ok=True, target_id=_bare_id(response), action="created")]
        if response.status == 404 and self.mode == "update":
            return [
                _rejected(
                    item,
                    {"ID": [f"no OneFile user {item.payload['ID']}"]},
                    404,
                    f"OneFile has no user {item.payload['ID']} (HTTP 404); check the crosswalk of ID",
                )
            ]
        return [_refused(item, response, "user")]

    def lookup_request(self, item: WriteItem) -> Request | None:
        """In doubt: search the organisation for the user by MISID (unpaged search) or by Email (the paged
        search, which carries Email, narrowed by role and name)."""
        user = item.payload
        org = user.get("OrganisationID")
        if self.mode == "update" or org is None or item.match_value is None:
            return None
        key = self.match or ("MISID" if "MISID" in user else "Email")
        if key == "MISID":
            body: dict[str, Any] = {"OrganisationID": org, "MISID": item.match_value}
            if "Role" in user:
                body["Role"] = user["Role"]
            return Request("POST", "/User/Search", ALL, json=body)
        body = {k: user[k] for k in ("OrganisationID", "Role", "FirstName", "LastName") if k in user}
        return Request("POST", f"/User/Search/1/{_PAGE_CAP}", ALL, json=body)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        if response.status != 200:
            return None
        key = self.match or ("MISID" if "MISID" in item.payload else "Email")
        found = [r for r in _rows(response) if _same(r.get(key), item.match_value)]
        return str(found[0]["ID"]) if len(found) == 1 and found[0].get("ID") is not None else None


class OneFilePlacementWriter:
    """``POST /Placement`` (create) → the new ID; in-doubt lookup through the organisation's placements."""

    mode = "create"
    max_batch = 50
    idempotent = False

    def __init__(self, match: str | None) -> None:
        self.match = match or "Name"

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        placement, problems = _normalise(item.payload)
        for name in ("OrganisationID", "Name"):
            if name not in placement and name not in problems:
                problems[name] = [f"a OneFile placement needs {name}"]
        if problems:
            return _rejected(item, problems)
        value = placement.get(self.match)
        return WriteItem(item.idem_key, item.source_key, placement, None if value is None else str(value))

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [(Request("POST", "/Placement", ALL, json=it.payload, is_write=True), [it]) for it in items]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status in (200, 201):
            return [RowResult(item.idem_key, ok=True, target_id=_bare_id(response), action="created")]
        return [_refused(item, response, "placement")]

    def lookup_request(self, item: WriteItem) -> Request | None:
        if item.match_value is None:
            return None
        return Request(
            "POST", "/Placement/Search", ALL, json={"OrganisationID": item.payload["OrganisationID"]}
        )

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        if response.status != 200:
            return None
        found = [r for r in _rows(response) if _same(r.get(self.match), item.match_value)]
        return str(found[0]["ID"]) if len(found) == 1 else None


class OneFileReferenceFinder:
    """``update`` of a classroom or placement: the API cannot create or change classrooms, so this FINDS the
    existing record of ``OrganisationID`` whose ``Name`` (or ``MISID``) equals the mapped one (trimmed,
    case-insensitive) and answers its ID as the target id: the step's crosswalk then maps source records
    (e.g. Velpic groups) to OneFile IDs. Nothing is written; a record that is not there is a dead letter."""

    mode = "update"
    max_batch = 50
    idempotent = True

    def __init__(self, entity: str, match: str | None) -> None:
        self.entity = entity
        self.match = match or "Name"
        self.path = _SEARCH_PATHS[entity]

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        found, problems = _normalise(item.payload)
        if "OrganisationID" not in found and "OrganisationID" not in problems:
            problems["OrganisationID"] = [f"finding a OneFile {self.entity} needs its OrganisationID"]
        if self.match not in found:
            problems[self.match] = [f"{self.match} is the match key of this step and must not be empty"]
        if problems:
            return _rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, found, str(found[self.match]))

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [
            (Request("POST", self.path, ALL, json={"OrganisationID": it.payload["OrganisationID"]}), [it])
            for it in items
        ]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status not in (200, 204):
            return [_refused(item, response, f"{self.entity} search")]
        found = [r for r in _rows(response) if _same(r.get(self.match), item.match_value)]
        if len(found) == 1 and found[0].get("ID") is not None:
            return [RowResult(item.idem_key, ok=True, target_id=str(found[0]["ID"]), action="unchanged")]
        where = f"organisation {item.payload['OrganisationID']}"
        if not found:
            reason = (
                f"OneFile has no {self.entity} with {self.match} {item.match_value!r} in {where}; the API "
                f"cannot create {self.entity}s: create it in OneFile (or correct the {self.match}), then "
                "run again"
            )
        else:
            ids = ", ".join(str(r.get("ID")) for r in found)
            reason = (
                f"{len(found)} OneFile {self.entity}s have {self.match} {item.match_value!r} in {where} "
                f"(IDs {ids}); make it unique, or match on another field"
            )
        return [_rejected(item, {self.match: [reason]}, response.status, reason)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        return None

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:  # pragma: no cover - idempotent
        return None


def make_auth(credentials: Mapping[str, str]) -> OneFileAuth:
    return OneFileAuth(credentials.get("customer_token", ""))


def make_reader(
    entity: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
) -> OneFileUserReader | OneFileReader:
    if entity == "user":
        return OneFileUserReader(filters, page_size, step)
    if entity in _SEARCH_PATHS or entity == "customer":
        return OneFileReader(entity, filters, step)
    raise EngineSupportError(f"the OneFile connector cannot read {entity!r}")


def make_writer(
    entity: str, mode: str, match: str | None
) -> OneFileUserWriter | OneFilePlacementWriter | OneFileReferenceFinder:
    if entity == "user" and mode in ("create", "update"):
        return OneFileUserWriter(mode, match)
    if entity == "placement" and mode == "create":
        return OneFilePlacementWriter(match)
    if entity in ("classroom", "placement") and mode == "update":
        return OneFileReferenceFinder(entity, match)
    raise EngineSupportError(f"the OneFile connector cannot write {entity!r} in mode {mode!r}")
