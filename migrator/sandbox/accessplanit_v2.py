"""accessplanit API v2: ``/accessplan/api/v2/{module}[/{id}]``, ``/accessplan/apihelp/v2/modules[/{module}]``.

List: ``{"results": […]}``, ``$top`` (default 50, ``-1`` = all), ``$skip`` = page number from 0, ``$count=true``
adds ``pageIndex`` / ``pageSize`` / ``totalCount``, ``$select`` (requested order), ``$orderby``, ``$filter``.
Writes: POST → 201 ``{"ID"}``; ``POST ?$upsert=<filter>`` (one match → update 200, none → create 201,
several → 400, nothing changed; an update leaves the fields the body omits alone, or clears them under the
``upsert_omitted`` switch); PUT partial update → 200 record; DELETE permanent (users: two phases). The fields
a module has are those the switch ``module_fields`` leaves it (its help lists them).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from aiohttp import web

from migrator.sandbox.accessplanit_data import Record, TenantData
from migrator.sandbox.accessplanit_http import Auth, invalid, json_response, message, read_object, unauthorized
from migrator.sandbox.accessplanit_odata import (
    ODataError,
    compile_filter,
    parse_filter,
    parse_orderby,
    parse_select,
    sort_records,
)
from migrator.sandbox.accessplanit_schema import (
    MODULES,
    USER,
    Module,
    WriteResult,
    module_named,
    validate_write,
)

LIST_OPTIONS = frozenset({"$filter", "$select", "$orderby", "$top", "$skip", "$count"})
#: the names of the three values ``$count=true`` adds (the document shows them in screenshots only)
COUNT_NAMES = {
    "camel": ("pageIndex", "pageSize", "totalCount"),
    "pascal": ("PageIndex", "PageSize", "TotalCount"),
}
QUERY_INVALID = "The query specified in the URI is not valid."
#: the values of the ``upsert_omitted`` switch
UPSERT_OMITTED = ("keep", "reset")


def project(record: Record, names: Iterable[str]) -> dict[str, Any]:
    return {name: record.get(name) for name in names}


class BadQuery(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _int_option(query: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = query.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise BadQuery(f"{name} must be a whole number, got {raw!r}.") from None
    if value < minimum:
        raise BadQuery(f"{name} must be {minimum} or more, got {value}.")
    return value


class V2Api:
    def __init__(self, auth: Auth, data: Mapping[str, TenantData]) -> None:
        self.auth = auth
        self.data = data
        self._answers = 0  # list answers given in a shuffled order (the seed of the next one)

    def option(self, name: str, default: Any) -> Any:
        return self.auth.option(name, default)

    def _precedence(self) -> str:
        return str(self.option("filter_precedence", "and"))

    def _id_answer(
        self, record_id: str, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        """What a create or an upsert answers: ``{"ID": …}``, or the bare ID (switch ``create_answer``)."""
        body: Any = record_id if self.option("create_answer", "object") == "bare" else {"ID": record_id}
        return json_response(body, status, headers)

    def add_routes(self, app: web.Application, root: str) -> None:
        api, helps = f"{root}/api/v2", f"{root}/apihelp/v2"
        app.router.add_get(f"{api}/token", self.auth.token)
        app.router.add_post(f"{api}/token", self.auth.token)
        app.router.add_get(f"{helps}/modules", self.modules)
        app.router.add_get(f"{helps}/modules/{{module}}", self.module_help)
        # One route per module, so that each module is its own endpoint (rate budgets are per endpoint);
        # the {module} routes catch other spellings (``User``, ``COURSEDATE``) and unknown modules.
        for module in (*MODULES, "{module}"):
            app.router.add_get(f"{api}/{module}", self.list)
            app.router.add_post(f"{api}/{module}", self.create)
            app.router.add_get(f"{api}/{module}/{{id}}", self.get_one)
            app.router.add_put(f"{api}/{module}/{{id}}", self.put)
            app.router.add_delete(f"{api}/{module}/{{id}}", self.delete)

    # common ------------------------------------------------------------------------------------------
    def _module(self, name: str) -> Module | None:
        """The module ``name`` as this platform serves it: every field, or without the ones switch
        ``module_fields`` says it lacks (a ``$select``, ``$filter`` or write naming one is refused)."""
        return module_named(name, str(self.option("module_fields", "full")))

    def _resolve(self, request: web.Request) -> tuple[TenantData, Module] | web.Response:
        tenant = self.auth.authenticate(request)
        if tenant is None:
            return unauthorized()
        name = request.match_info.get("module") or request.path.split("/api/v2/", 1)[1].split("/", 1)[0]
        module = self._module(name)
        if module is None:
            return message(
                404,
                f"No HTTP resource was found that matches the request URI '{request.path}': there is no "
                f"module '{name}' (GET apihelp/v2/modules lists them).",
            )
        return self.data[tenant], module

    @staticmethod
    def _not_found(module: Module, record_id: str) -> web.Response:
        return message(404, f"No {module.name} record found with ID '{record_id}'.")

    def _validate(self, module: Module, body: Mapping[str, Any], *, create: bool) -> WriteResult:
        required = (
            frozenset({"Email"})
            if module.name == USER.name and self.option("user_email_required", False)
            else None
        )
        return validate_write(
            module,
            body,
            create=create,
            reject_unknown=self.option("unknown_fields", "reject") == "reject",
            also_required=required or frozenset(),
        )

    def _omitted(self, module: Module, body: Mapping[str, Any]) -> Record:
        """What an upsert's update does to the fields its body leaves out: nothing (``upsert_omitted=keep``,
        the default), or clears each writable one that is not required (``reset``: the body taken as "the full
        record data", the document's words; what it does with less is not said)."""
        mode = self.option("upsert_omitted", "keep")
        if mode not in UPSERT_OMITTED:
            raise ValueError(
                f"accessplanit.upsert_omitted must be one of {', '.join(UPSERT_OMITTED)}; got {mode!r}"
            )
        if mode == "keep":
            return {}
        sent = {key.casefold() for key in body}
        # a status is never blank: it is kept
        return {
            f.name: None
            for f in module.fields
            if not (f.readonly or f.required or f.name == "Status" or f.name.casefold() in sent)
        }

    def _check(self, data: TenantData, module: Module, result: WriteResult, existing: Record | None) -> None:
        reject = self.option("double_booking", "allow") == "reject"
        data.check(module, result, existing, reject_double_booking=reject)

    # help --------------------------------------------------------------------------------------------
    async def modules(self, request: web.Request) -> web.Response:
        if self.auth.authenticate(request) is None:
            return unauthorized()
        return json_response(sorted(m.title for m in MODULES.values()))

    async def module_help(self, request: web.Request) -> web.Response:
        if self.auth.authenticate(request) is None:
            return unauthorized()
        module = self._module(request.match_info["module"])
        if module is None:
            return message(404, f"There is no module '{request.match_info['module']}'.")
        return json_response(module.help())

    # reads -------------------------------------------------------------------------------------------
    async def list(self, request: web.Request) -> web.Response:
        resolved = self._resolve(request)
        if isinstance(resolved, web.Response):
            return resolved
        data, module = resolved
        query = request.query
        unknown = sorted(k for k in query if k.startswith("$") and k.casefold() not in LIST_OPTIONS)
        try:
            if unknown:
                raise BadQuery(f"Unsupported query option(s): {', '.join(unknown)}.")
            flt = parse_filter(query.get("$filter", ""), module.schema, self._precedence())
            select = parse_select(query.get("$select", ""), module.schema) or module.default_select
            orderby = parse_orderby(query.get("$orderby", ""), module.schema)
            top = _int_option(query, "$top", int(self.option("default_top", 50)), -1)
            skip = _int_option(query, "$skip", 0, 0)
            count_text = query.get("$count", "false").strip().casefold()
            if count_text not in ("true", "false"):
                raise BadQuery(f"$count must be true or false, got {query.get('$count')!r}.")
        except ODataError as exc:
            return message(400, f"{QUERY_INVALID} {exc.option}: {exc.message}")
        except BadQuery as exc:
            return message(400, f"{QUERY_INVALID} {exc.text}")
        count = count_text == "true"
        source = data.candidates(module.name, flt)
        matched: Iterable[Record] = source if flt is None else filter(compile_filter(flt), source)
        start = skip * top if top >= 0 else 0
        stop = start + top if top >= 0 else None
        total: int | None = None
        shuffled = not orderby and self.option("default_order", "stored") == "shuffled"
        if orderby or shuffled or (count and flt is not None):
            rows = sort_records(list(matched), orderby)
            if shuffled:  # no order asked: each answer in an order of its own, as an unsorted query may be
                self._answers += 1
                random.Random(self._answers).shuffle(rows)
            total = len(rows)
            page = rows[start:stop] if top >= 0 or skip == 0 else []
        else:
            if count:
                total = len(data.tables[module.name])
            page = list(islice(matched, start, stop)) if top >= 0 or skip == 0 else []
        body: dict[str, Any] = {"results": [project(r, select) for r in page]}
        if count:
            names = COUNT_NAMES.get(str(self.option("count_names", "camel")), COUNT_NAMES["camel"])
            for name, value in zip(names, (skip, top if top >= 0 else total, total), strict=True):
                body[name] = value
        return json_response(body)

    async def get_one(self, request: web.Request) -> web.Response:
        resolved = self._resolve(request)
        if isinstance(resolved, web.Response):
            return resolved
        data, module = resolved
        record_id = request.match_info["id"]
        record = data.get(module.name, record_id)
        if record is None:
            return self._not_found(module, record_id)
        try:
            select = parse_select(request.query.get("$select", ""), module.schema) or module.all_names
        except ODataError as exc:
            return message(400, f"{QUERY_INVALID} {exc.option}: {exc.message}")
        return json_response(project(record, select))

    # writes ------------------------------------------------------------------------------------------
    async def create(self, request: web.Request) -> web.Response:
        resolved = self._resolve(request)
        if isinstance(resolved, web.Response):
            return resolved
        data, module = resolved
        body = await read_object(request, module.name)
        if isinstance(body, web.Response):
            return body
        upsert = request.query.get("$upsert")
        if upsert is not None:
            try:
                flt = parse_filter(upsert, module.schema, self._precedence())
            except ODataError as exc:
                return message(400, f"{QUERY_INVALID} $upsert: {exc.message}")
            if flt is None:
                return message(400, f"{QUERY_INVALID} $upsert needs a filter, e.g. $upsert=Email eq 'a@b.com'.")
            matches = [r["ID"] for r in filter(compile_filter(flt), data.candidates(module.name, flt))]
            if len(matches) > 1:
                return message(
                    400,
                    f"The $upsert filter matched {len(matches)} {module.name} records; it must match at most "
                    "one. Nothing was changed: make the filter unique (e.g. on ExternalID or Email).",
                )
            if matches:
                existing = data.tables[module.name].records[matches[0]]
                result = self._validate(module, body, create=False)
                self._check(data, module, result, existing)
                if result.model_state:
                    return invalid(result.model_state)
                data.update(module, matches[0], {**self._omitted(module, body), **result.changes})
                return self._id_answer(matches[0])
        result = self._validate(module, body, create=True)
        self._check(data, module, result, None)
        if result.model_state:
            return invalid(result.model_state)
        record = data.create(module, result.changes)
        return self._id_answer(record["ID"], 201, {"Location": f"{request.path}/{record['ID']}"})

    async def put(self, request: web.Request) -> web.Response:
        resolved = self._resolve(request)
        if isinstance(resolved, web.Response):
            return resolved
        data, module = resolved
        record_id = request.match_info["id"]
        existing = data.get(module.name, record_id)
        if existing is None:
            return self._not_found(module, record_id)
        body = await read_object(request, module.name)
        if isinstance(body, web.Response):
            return body
        result = self._validate(module, body, create=False)
        self._check(data, module, result, existing)
        if result.model_state:
            return invalid(result.model_state)
        record = data.update(module, record_id, result.changes)
        return json_response(project(record, module.all_names))

    async def delete(self, request: web.Request) -> web.Response:
        resolved = self._resolve(request)
        if isinstance(resolved, web.Response):
            return resolved
        data, module = resolved
        record_id = request.match_info["id"]
        if data.get(module.name, record_id) is None:
            return self._not_found(module, record_id)
        outcome = data.delete(module, record_id)
        if outcome == "status":
            return json_response({"ID": record_id, "Status": "Deleted"})
        return json_response({"ID": record_id})
