"""accessplanit API v2: pure request builders and response decoders.

Auth: a 60-minute bearer token from ``/token`` (username/password; refreshed by the transport before it runs
out and once on 401), or an API key sent as ``Authorization: Bearer <key>``. Lists: ``$top`` + ``$skip`` (a
PAGE NUMBER) + ``$count=true`` → ``totalCount``, so pages after the first are fetched concurrently. Writes:
``POST /{module}?$upsert=<Field> eq '<value>'`` (idempotent), ``POST /{module}`` (create; in-doubt lookup with
``$filter``), ``PUT /{module}/{id}`` (partial update). A 400 carries ``ModelState``: a per-record rejection.
"""

from __future__ import annotations

import time
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
from migrator.errors import AuthError
from migrator.protocol.pagination import PageRequest, Paginator, make_paginator

__all__ = [
    "AccessPlanItAuth",
    "AccessPlanItReader",
    "AccessPlanItWriter",
    "make_auth",
    "make_reader",
    "make_writer",
    "match_filter",
    "model_state_rejection",
    "odata_literal",
]


#: modules whose records carry a modification date (the vendor demo's user model: ``DateUpdated``)
_MODIFIED_FIELD = {"user": "DateUpdated"}


def odata_literal(value: Any) -> str:
    """A single-quoted OData literal; a quote inside is doubled (``O'Brien`` → ``'O''Brien'``)."""
    return "'" + str(value).replace("'", "''") + "'"


def match_fields(match: str | None) -> tuple[str, ...]:
    """``"Email"`` → ``("Email",)``; a compound key ``"UserID,CourseDateID"`` (a booking is one user on one
    course date) → ``("UserID", "CourseDateID")``."""
    return tuple(f.strip() for f in (match or "").split(",") if f.strip())


def match_filter(fields: Sequence[str], payload: Mapping[str, Any]) -> str:
    """``UserID eq 'josm1' and CourseDateID eq '1001'``: the ``$upsert``/``$filter`` that finds a record."""
    return " and ".join(f"{f} eq {odata_literal(payload.get(f))}" for f in fields)


def filter_expression(filters: Mapping[str, Any]) -> str:
    """``{"Status": "Active", "$filter": "…"}`` → ``Status eq 'Active' and (…)`` clauses joined with ``and``."""
    clauses = []
    for field, value in filters.items():
        if field == "$filter":
            clauses.append(str(value))
        elif isinstance(value, list):
            clauses.append(" or ".join(f"{field} eq {odata_literal(v)}" for v in value))
        else:
            clauses.append(f"{field} eq {odata_literal(value)}")
    return " and ".join(clauses)


class AccessPlanItAuth:
    def __init__(self, *, username: str | None, password: str | None, api_key: str | None) -> None:
        if not api_key and not (username and password):
            raise ValueError("accessplanit needs api_key, or username and password")
        self._username = username
        self._password = password
        self._api_key = api_key

    def token_request(self) -> Request | None:
        if self._api_key:
            return None
        form = (
            ("grant_type", "password"),
            ("username", self._username or ""),
            ("password", self._password or ""),
        )
        return Request("POST", "/token", "/token", form=form)

    def decode_token(self, response: Response, now: float) -> Token:
        body = response.json() if response.body else None
        if response.status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            why = body.get("error_description") if isinstance(body, dict) else response.text(120)
            raise AuthError(
                f"accessplanit refused the username/password ({why}); check the credentials in your env file",
                platform="accessplanit",
                method="POST",
                url="/token",
                status=response.status,
            )
        expires_in = float(body.get("expires_in") or 3600)
        return Token(str(body["access_token"]), now + expires_in)

    def headers(self, token: Token | None) -> Mapping[str, str]:
        value = self._api_key if self._api_key else (token.value if token else "")
        return {"Authorization": f"Bearer {value}"}

    def secrets(self) -> Sequence[str]:
        return [s for s in (self._password, self._api_key) if s]


class AccessPlanItReader:
    """``GET /{module}`` with ``$filter``, ``$top``, ``$skip`` pages and ``$count``."""

    key_field = "ID"

    def __init__(
        self, module: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
    ) -> None:
        self.module = module
        self.path = f"/{module}"
        expr = filter_expression(filters)
        self.params: tuple[tuple[str, str], ...] = (("$filter", expr),) if expr else ()
        # without $select the API answers a default field set: ask for every field the map reads
        top = list(dict.fromkeys(["ID", *(f.split(".")[0] for f in fields)]))
        if fields:
            self.params += (("$select", ",".join(top)),)
        self.page_size = page_size
        self.step = step

    def changed_since(self, when: float) -> bool:
        """Delta runs: read only records modified after ``when`` (epoch seconds), where the module has a
        modification date and the filter can take one more ``and`` clause (``$filter`` has no parentheses, so a
        filter with ``or`` is left whole). Returns whether the read was narrowed."""
        field = _MODIFIED_FIELD.get(self.module.lower())
        current = dict(self.params).get("$filter", "")
        if field is None or " or " in f" {current.lower()} ":
            return False
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when))
        clause = f"{field} gt {odata_literal(stamp)}"
        expr = f"{current} and {clause}" if current else clause
        self.params = (("$filter", expr), *((k, v) for k, v in self.params if k != "$filter"))
        return True

    def paginator(self) -> Paginator:
        return make_paginator("accessplanit_v2_page", page_size=self.page_size, step=self.step)

    def page_request(self, page: PageRequest) -> Request:
        return Request("GET", self.path, endpoint=self.path, params=self.params + page.params)

    def decode_page(self, response: Response) -> Page:
        body = response.json() or {}
        total = body.get("totalCount")
        return Page(list(body.get("results") or []), total if isinstance(total, int) else None)


def model_state_rejection(item: WriteItem, response: Response) -> RowResult:
    fields: dict[str, list[str]] = {}
    reason = response.text()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key, msgs in (body.get("ModelState") or {}).items():
            fields[str(key)] = [str(m) for m in msgs] if isinstance(msgs, list) else [str(msgs)]
        reason = str(body.get("Message") or reason)
        if fields:
            reason += " " + "; ".join(f"{k}: {', '.join(v)}" for k, v in fields.items())
    return RowResult(
        item.idem_key, ok=False, action="rejected", status=response.status, reason=reason, fields=fields
    )


class AccessPlanItWriter:
    """One record per call: upsert, create or update of one module."""

    max_batch = 50
    id_field = "ID"

    def __init__(self, module: str, mode: str, match: str | None) -> None:
        self.module = module
        self.mode = mode
        self.match = match
        self.keys = match_fields(match)
        self.match_fields = self.keys  # for dry runs: the fields that find a record on the target
        self.idempotent = mode in ("upsert", "update")

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        payload = {k: v for k, v in item.payload.items() if v is not None or k == "ID"}
        problems: dict[str, list[str]] = {}
        if self.mode in ("upsert", "create"):
            for key in self.keys:
                value = item.payload.get(key)
                if value is None or value == "":
                    problems[key] = [f"{key} is (part of) the match key of this step and must not be empty"]
        if self.mode == "update" and not payload.get("ID"):
            problems["ID"] = ["update needs the target ID (map ID through a crosswalk)"]
        if problems:
            reason = "; ".join(m for msgs in problems.values() for m in msgs)
            return RowResult(item.idem_key, ok=False, action="rejected", reason=reason, fields=problems)
        match_value = match_filter(self.keys, payload) if self.keys else None
        return WriteItem(item.idem_key, item.source_key, payload, match_value)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        out: list[tuple[Request, list[WriteItem]]] = []
        path = f"/{self.module}"
        for it in items:
            if self.mode == "upsert":
                params = (("$upsert", str(it.match_value)),)
                req = Request("POST", path, path, params=params, json=it.payload, is_write=True)
            elif self.mode == "update":
                body = {k: v for k, v in it.payload.items() if k != "ID"}
                req = Request("PUT", f"{path}/{it.payload['ID']}", path, json=body, is_write=True)
            else:
                req = Request("POST", path, path, json=it.payload, is_write=True)
            out.append((req, [it]))
        return out

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status in (200, 201):
            body = response.json() or {}
            target_id = body.get("ID", item.payload.get("ID"))
            action: Action = "created" if response.status == 201 else "updated"
            return [RowResult(item.idem_key, ok=True, target_id=str(target_id), action=action)]
        return [model_state_rejection(item, response)]

    def lookup_request(self, item: WriteItem) -> Request | None:
        if not self.keys or item.match_value is None:
            return None
        params = (("$filter", item.match_value), ("$top", "2"))
        return Request("GET", f"/{self.module}", f"/{self.module}", params=params)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        if response.status != 200:
            return None
        results = (response.json() or {}).get("results") or []
        return str(results[0]["ID"]) if len(results) == 1 else None


def make_auth(credentials: Mapping[str, str]) -> AccessPlanItAuth:
    return AccessPlanItAuth(
        username=credentials.get("username"),
        password=credentials.get("password"),
        api_key=credentials.get("api_key"),
    )


def make_reader(
    entity: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
) -> AccessPlanItReader:
    return AccessPlanItReader(entity, filters, page_size, step, fields)


def make_writer(entity: str, mode: str, match: str | None) -> AccessPlanItWriter:
    if mode not in ("upsert", "create", "update"):
        raise EngineSupportError(f"accessplanit cannot write {entity!r} in mode {mode!r}")
    return AccessPlanItWriter(entity, mode, match)
