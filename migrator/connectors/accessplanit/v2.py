"""accessplanit API v2: the modules (``user``, ``company``, ``usercoursedate``, …), read and written through
OData calls. Pure request builders and response decoders; every module is declared alike in ``spec``
(``v2_read``, ``v2_writes``), so any module name is served.

Reads: ``GET /{module}`` with ``$filter``, ``$select``, ``$top`` + ``$skip`` (a PAGE NUMBER) + ``$count=true``
→ ``totalCount``, so pages after the first are fetched concurrently; ``changed_since`` narrows a delta read to
the records modified since. Writes, one record per call: ``POST /{module}?$upsert=<Field> eq '<value>'``
(idempotent), ``POST /{module}`` (create; in doubt, looked up with ``$filter``), ``PUT /{module}/{ID}``
(partial update). A 400 carries ``ModelState``: a per-record rejection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from migrator.connectors.accessplanit.auth import make_auth
from migrator.connectors.accessplanit.modelstate import model_state_rejection
from migrator.connectors.accessplanit.odata import filter_expression, match_fields, match_filter, odata_literal
from migrator.connectors.accessplanit.spec import v2_read, v2_writes
from migrator.connectors.base import (
    Action,
    EngineSupportError,
    Page,
    Request,
    RequestWriter,
    Response,
    RowResult,
    WriteItem,
)
from migrator.protocol.pagination import PageRequest, Paginator, make_paginator

__all__ = [
    "AccessPlanItCreate",
    "AccessPlanItReader",
    "AccessPlanItUpdate",
    "AccessPlanItUpsert",
    "make_auth",
    "make_reader",
    "make_writer",
]


#: modules whose records carry a modification date (the vendor demo's user model: ``DateUpdated``)
_MODIFIED_FIELD = {"user": "DateUpdated"}


class AccessPlanItReader:
    """``GET /{module}`` with ``$filter``, ``$top``, ``$skip`` pages and ``$count``."""

    def __init__(
        self, module: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
    ) -> None:
        read = v2_read(module)
        self.module = module
        self.path = read.endpoint.path
        self.endpoint = read.endpoint.budget_key
        self.key_field = read.key
        expr = filter_expression(filters)
        self.params: tuple[tuple[str, str], ...] = (("$filter", expr),) if expr else ()
        # without $select the API answers a default field set: ask for every field the map reads
        top = list(dict.fromkeys([read.key, *(f.split(".")[0] for f in fields)]))
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
        return Request("GET", self.path, endpoint=self.endpoint, params=self.params + page.params)

    def decode_page(self, response: Response) -> Page:
        body = response.json() or {}
        total = body.get("totalCount")
        return Page(list(body.get("results") or []), total if isinstance(total, int) else None)


class _ModuleWriter:
    """One record per call to one module in one mode. ``match_fields``: the step's match key (one field, or a
    compound key such as ``UserID,CourseDateID``), joined with ``and`` into the filter that finds a record."""

    mode: str
    idempotent = True

    def __init__(self, module: str, match: str | None) -> None:
        self.module = module
        self.read = v2_read(module)
        self.write = v2_writes(module)[self.mode]
        self.max_batch = self.write.max_batch
        self.match_fields = match_fields(match)

    def _problems(self, payload: Mapping[str, Any]) -> dict[str, list[str]]:
        """What the target would refuse in ``payload``, by field: a match field must not be empty (an empty
        filter would match arbitrary records)."""
        problems: dict[str, list[str]] = {}
        for key in self.match_fields:
            value = payload.get(key)
            if value is None or value == "":
                problems[key] = [f"{key} is (part of) the match key of this step and must not be empty"]
        return problems

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        key = self.read.key
        payload = {k: v for k, v in item.payload.items() if v is not None or k == key}
        problems = self._problems(payload)
        if problems:
            reason = "; ".join(m for msgs in problems.values() for m in msgs)
            return RowResult(item.idem_key, ok=False, action="rejected", reason=reason, fields=problems)
        match_value = match_filter(self.match_fields, payload) if self.match_fields else None
        return WriteItem(item.idem_key, item.source_key, payload, match_value)

    def _request(self, item: WriteItem) -> Request:
        endpoint = self.write.endpoint
        return Request("POST", endpoint.path, endpoint.budget_key, json=item.payload)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [(self._request(it), [it]) for it in items]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status in (200, 201):
            body = response.json() or {}
            target_id = body.get(self.read.key, item.payload.get(self.read.key))
            action: Action = "created" if response.status == 201 else "updated"
            return [RowResult(item.idem_key, ok=True, target_id=str(target_id), action=action)]
        return [model_state_rejection(item, response)]


class AccessPlanItUpsert(_ModuleWriter):
    """``POST /{module}?$upsert=<match filter>`` with the record: one match is updated, none is created, more
    than one is a 400 that changes nothing."""

    mode = "upsert"

    def _request(self, item: WriteItem) -> Request:
        endpoint = self.write.endpoint
        path, _, parameter = endpoint.path.partition("?")
        params = ((parameter, str(item.match_value)),)
        return Request("POST", path, endpoint.budget_key, params=params, json=item.payload)


class AccessPlanItCreate(_ModuleWriter):
    """``POST /{module}`` → ``201 {"ID"}``. Create-only: a create in doubt is looked up with the ``$filter`` of
    its match key first."""

    mode = "create"
    idempotent = False

    def lookup_request(self, item: WriteItem) -> Request | None:
        values = [item.payload.get(f) for f in self.match_fields]
        if not values or any(v is None or v == "" for v in values):
            return None
        params = (("$filter", match_filter(self.match_fields, item.payload)), ("$top", "2"))
        endpoint = self.read.endpoint
        return Request("GET", endpoint.path, endpoint.budget_key, params=params)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        """The one record the filter found (``eq`` is the platform's own match, as in ``$upsert``)."""
        if response.status != 200:
            return None
        results = (response.json() or {}).get("results") or []
        return str(results[0][self.read.key]) if len(results) == 1 else None


class AccessPlanItUpdate(_ModuleWriter):
    """``PUT /{module}/{ID}``: a partial update of the record at its target ``ID`` (fields left out are
    kept)."""

    mode = "update"

    def __init__(self, module: str, match: str | None) -> None:
        super().__init__(module, match)
        self.id_field = self.read.key

    def _problems(self, payload: Mapping[str, Any]) -> dict[str, list[str]]:
        problems: dict[str, list[str]] = {}
        if not payload.get(self.id_field):
            problems[self.id_field] = ["update needs the target ID (map ID through a crosswalk)"]
        return problems

    def _request(self, item: WriteItem) -> Request:
        endpoint = self.write.endpoint
        body = {k: v for k, v in item.payload.items() if k != self.id_field}
        path = endpoint.path.replace("{id}", str(item.payload[self.id_field]))
        return Request("PUT", path, endpoint.budget_key, json=body)


#: the writer of each mode (every module has the same three)
_WRITERS: Mapping[str, Callable[[str, str | None], RequestWriter]] = {
    w.mode: w for w in (AccessPlanItUpsert, AccessPlanItCreate, AccessPlanItUpdate)
}


def make_reader(
    entity: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
) -> AccessPlanItReader:
    return AccessPlanItReader(entity, filters, page_size, step, fields)


def make_writer(entity: str, mode: str, match: str | None) -> RequestWriter:
    factory = _WRITERS.get(mode)
    if factory is None:
        raise EngineSupportError(f"accessplanit cannot write {entity!r} in mode {mode!r}")
    return factory(entity, match)
