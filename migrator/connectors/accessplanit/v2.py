"""accessplanit API v2: the modules (``user``, ``company``, ``usercoursedate``, …), read and written through
OData calls. Pure request builders and response decoders; every module is declared alike in ``spec``
(``v2_read``, ``v2_writes``), so any module name is served.

Reads: ``GET /{module}`` with ``$filter``, ``$select``, ``$orderby`` on the record key (the order of an unsorted
answer is not documented), ``$top`` + ``$skip`` (a PAGE NUMBER) + ``$count=true`` → ``totalCount`` (its name
matched without case), so pages after the first are fetched concurrently; a filter that would need parentheses
is read in parts (``odata``, ``split``); ``changed_since`` narrows a delta read to the records modified since.
Writes, one record per call: ``POST /{module}?$upsert=<Field> eq '<value>'`` (idempotent), ``POST /{module}``
(create; in doubt, looked up with ``$filter`` and compared exactly), ``PUT /{module}/{ID}`` (partial update);
the new ID is read from ``{"ID": …}`` or a bare answer. A 400 carries ``ModelState``: a per-record rejection.
An ``$upsert`` sends the record whole, with the declared fields its module's own list names (``apihelp``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from migrator.connectors.accessplanit.apihelp import help_request, listed_fields
from migrator.connectors.accessplanit.auth import make_auth
from migrator.connectors.accessplanit.modelstate import model_state_rejection, refused_lookup
from migrator.connectors.accessplanit.odata import (
    filter_variants,
    has_or,
    match_fields,
    match_filter,
    odata_literal,
)
from migrator.connectors.accessplanit.spec import ACCESSPLANIT, v2_read, v2_writes
from migrator.connectors.accessplanit.split import SplitPaginator
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
#: the records a lookup asks for: the document's default page (several may match when ``eq`` ignores case)
_LOOKUP_TOP = "50"


def _get(body: Mapping[str, Any], name: str) -> Any:
    """``body[name]``, the key matched without case (the ``$count`` names are known only from screenshots)."""
    if name in body:
        return body[name]
    folded = name.casefold()
    return next((v for k, v in body.items() if str(k).casefold() == folded), None)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _answered_id(response: Response, key: str, sent: Any) -> str | None:
    """The record ID a write answered: ``{"ID": …}`` (any case of the key), or the bare ID as JSON (the document
    says only that a POST "will return the ID of the new record"); else the ID sent, if any. An answer that is
    not JSON (a proxy's HTML page) raises ``ValueError``: it says nothing of the write."""
    body = response.json()
    found = _get(body, key) if isinstance(body, Mapping) else body
    if isinstance(found, str | int) and not isinstance(found, bool) and str(found) != "":
        return str(found)
    return None if sent is None or sent == "" else str(sent)


class AccessPlanItReader:
    """``GET /{module}`` with ``$filter``, ``$orderby`` on the key, ``$top``, ``$skip`` pages and ``$count``.

    The document leaves the order of an unsorted answer open, so pages are read sorted by the record key (a
    stable order for offset paging). A filter that would need parentheses is read in parts, which select
    records apart (``filter_variants``, ``SplitPaginator``)."""

    def __init__(
        self, module: str, filters: Mapping[str, Any], page_size: int, step: str, fields: Collection[str] = ()
    ) -> None:
        read = v2_read(module)
        self.module = module
        self.path = read.endpoint.path
        self.endpoint = read.endpoint.budget_key
        self.key_field = read.key
        self.filters = dict(filters)
        self.variants = filter_variants(self.filters)
        self.params: tuple[tuple[str, str], ...] = (("$orderby", read.key),)
        # without $select the API answers a default field set: ask for every field the map reads
        top = list(dict.fromkeys([read.key, *(f.split(".")[0] for f in fields)]))
        if fields:
            self.params += (("$select", ",".join(top)),)
        self.page_size = page_size
        self.step = step

    def changed_since(self, when: float) -> bool:
        """Delta runs: read only records modified at or after ``when`` (epoch seconds), where the module has a
        modification date and the plan's own ``$filter`` has no ``or`` (it cannot take one more clause without
        parentheses). Returns whether the read was narrowed."""
        field = _MODIFIED_FIELD.get(self.module.lower())
        own = self.filters.get("$filter")
        if field is None or (own is not None and has_or(str(own))):
            return False
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when))
        self.variants = filter_variants(self.filters, also=(f"{field} ge {odata_literal(stamp)}",))
        return True

    def paginator(self) -> Paginator:
        if len(self.variants) < 2:
            return self._pages()
        return SplitPaginator([(v, self._pages()) for v in self.variants], step=self.step)

    def _pages(self) -> Paginator:
        key = self.key_field
        return make_paginator(
            "accessplanit_v2_page",
            page_size=self.page_size,
            step=self.step,
            record_key=lambda r: str(r.get(key)),
        )

    def page_request(self, page: PageRequest) -> Request:
        own = (("$filter", self.variants[0]),) if len(self.variants) == 1 else ()
        return Request("GET", self.path, endpoint=self.endpoint, params=own + self.params + page.params)

    def decode_page(self, response: Response) -> Page:
        body = response.json() or {}
        if not isinstance(body, Mapping):
            raise ValueError(
                f"accessplanit answered a {type(body).__name__} where an object with results was expected"
            )
        records = [dict(r) for r in _get(body, "results") or [] if isinstance(r, Mapping)]
        total = _get(body, "totalCount")
        return Page(records, total if isinstance(total, int) and not isinstance(total, bool) else None)


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
        """What the target would refuse in ``payload``, by field: a match field must hold one value (an empty
        filter would match arbitrary records, and several values would need ``or`` beside ``and``)."""
        problems: dict[str, list[str]] = {}
        for key in self.match_fields:
            value = payload.get(key)
            if value is None or value == "":
                problems[key] = [f"{key} is (part of) the match key of this step and must not be empty"]
            elif isinstance(value, list | dict):
                problems[key] = [f"{key} is (part of) the match key of this step and must be one value"]
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
        if 200 <= response.status < 300:  # the document names 200 and 201; any success is one
            target_id = _answered_id(response, self.read.key, item.payload.get(self.read.key))
            action: Action = "created" if response.status == 201 or self.mode == "create" else "updated"
            return [RowResult(item.idem_key, ok=True, target_id=target_id, action=action)]
        return [model_state_rejection(item, response)]


class AccessPlanItUpsert(_ModuleWriter):
    """``POST /{module}?$upsert=<match filter>`` with the record: one match is updated, none is created, more
    than one is a 400 that changes nothing.

    The document asks for "the full record data" in the body and does not say what an update does to a field
    the body leaves out (the sandbox plays both: ``accessplanit.upsert_omitted``). So before a record is sent,
    the one target record its filter finds is read (``$filter``, ``$select`` of the module's declared fields
    the record does not carry), and each of those fields goes in the body with the target's own value: an
    update changes what the plan maps and nothing else, whatever the platform does with less. A step that reads
    the target's current values reads those fields with them and completes each record from that one read
    (``WholeRecordWriter``: no read per record); the read per record is for a step that cannot. A record that
    carries every declared field, or of a module whose fields are not declared, is sent as mapped.

    Most declared fields are assumed, so the fields sent whole are only those the platform's own list of the
    module's fields names (``ListedFieldsWriter``: ``GET …/apihelp/v2/modules/{module}``, asked once per
    connection and module in a run): a field the module lacks would make the read's ``$select``, and the
    upsert, refused. When the list cannot be read every declared field is sent."""

    mode = "upsert"

    def __init__(self, module: str, match: str | None) -> None:
        super().__init__(module, match)
        entity = ACCESSPLANIT.entities.get(module)
        declared = entity.fields if entity is not None and entity.fields is not None else frozenset()
        #: the module's declared fields but its key
        self.declared = tuple(sorted(declared - {self.read.key}))
        #: the fields an upsert sends whole: the declared ones the module lists (all of them until it does)
        self.record_fields = self.declared

    def fields_request(self) -> Request | None:
        return help_request(self.module) if self.declared else None

    def listed_fields(self, response: Response) -> frozenset[str] | None:
        return listed_fields(response, self.read.key)

    def keep_listed(self, listed: frozenset[str] | None) -> None:
        if listed is None:
            self.record_fields = self.declared
            return
        spelt = {name.casefold(): name for name in listed}
        self.record_fields = tuple(spelt[f.casefold()] for f in self.declared if f.casefold() in spelt)

    def _missing(self, item: WriteItem) -> tuple[str, ...]:
        held = {name.casefold() for name in item.payload}
        return tuple(f for f in self.record_fields if f.casefold() not in held)

    def pre_lookups(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        """One read per record that lacks a declared field: the record its filter finds, those fields."""
        endpoint = self.read.endpoint
        reads: list[tuple[Request, list[WriteItem]]] = []
        for it in items:
            missing = self._missing(it)
            if not missing or it.match_value is None:
                continue
            select = ",".join(dict.fromkeys((self.read.key, *self.match_fields, *missing)))
            params = (("$filter", it.match_value), ("$select", select), ("$top", _LOOKUP_TOP))
            reads.append((Request("GET", endpoint.path, endpoint.budget_key, params=params), [it]))
        return reads

    def apply_pre_lookups(
        self, items: Sequence[WriteItem], answers: Sequence[tuple[Response, list[WriteItem]]]
    ) -> list[WriteItem | RowResult]:
        """Each record completed with the values of the one target record whose match values are exactly its
        own; sent as mapped when there is none (a create) or several (the upsert refuses them). A refused read
        rejects the record: sent without those fields, it might clear them."""
        completed: dict[str, WriteItem | RowResult] = {}
        for response, its in answers:
            it = its[0]
            if response.status != 200:
                refused = model_state_rejection(it, response)
                reason = (
                    f"accessplanit refused the read of the record to update (HTTP {response.status}: "
                    f"{refused.reason}), which keeps the fields the plan does not map as they are; nothing was "
                    "sent"
                )
                completed[it.idem_key] = RowResult(
                    it.idem_key, ok=False, action="rejected", status=response.status, reason=reason
                )
                continue
            body = response.json()
            rows = _get(body, "results") if isinstance(body, Mapping) else None
            found = [
                r
                for r in rows or []
                if isinstance(r, Mapping)
                and all(_text(r.get(f)) == _text(it.payload.get(f)) for f in self.match_fields)
            ]
            if len(found) == 1:
                kept = {f: found[0][f] for f in self._missing(it) if f in found[0]}
                completed[it.idem_key] = WriteItem(
                    it.idem_key, it.source_key, {**kept, **it.payload}, it.match_value
                )
        return [completed.get(it.idem_key, it) for it in items]

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
        params = (
            ("$filter", match_filter(self.match_fields, item.payload)),
            ("$select", ",".join(dict.fromkeys((self.read.key, *self.match_fields)))),
            ("$top", _LOOKUP_TOP),
        )
        endpoint = self.read.endpoint
        return Request("GET", endpoint.path, endpoint.budget_key, params=params)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        """The one record found whose match values are exactly the ones sent (whether ``eq`` ignores case is
        not documented, so the filter may find near misses too). A refused lookup (a field the module will
        not filter on, say) cannot tell whether the create went through: the step stops rather than send it
        again."""
        if response.status != 200:
            raise refused_lookup(response, self.match_fields)
        body = response.json()
        rows = _get(body, "results") if isinstance(body, Mapping) else None
        found = [
            r
            for r in rows or []
            if isinstance(r, Mapping)
            and all(_text(r.get(f)) == _text(item.payload.get(f)) for f in self.match_fields)
        ]
        return None if len(found) != 1 or found[0].get(self.read.key) is None else str(found[0][self.read.key])


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
