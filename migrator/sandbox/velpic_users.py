"""Velpic emulator: users — list, get, create, update, activate / inactivate, login URL, bulkUserImport."""

from __future__ import annotations

import hashlib
import random
from typing import Any

from aiohttp import web

from migrator.sandbox.store import Record
from migrator.sandbox.velpic_format import (
    ACTIVE,
    INVALID_ROLE,
    NOT_CURRENT,
    VALID_ROLES,
    ApiError,
    bad_request,
    conflict,
    empty_ok,
    id_refs,
    json_response,
    page,
    path_id,
    read_object,
    schedule_date,
)
from migrator.sandbox.velpic_state import TIME_ZONE, VelpicTenant, exact, fold

TEXT_FIELDS = ("userName", "firstName", "lastName", "emailAddress", "phoneNumber", "mobileNumber", "timeZone")
REQUIRED_NAMES = ("firstName", "lastName", "emailAddress")
UPDATE_REQUIRED = (
    "id",
    "firstName",
    "lastName",
    "emailAddress",
    "phoneNumber",
    "mobileNumber",
    "employeeNumber",
    "roles",
    "timeZone",
)
MERGE_TYPES = ("none", "email", "userName", "empNo")
ACTIVE_VALUES = {"active": ACTIVE, "inactive": NOT_CURRENT, "all": None}
EXPIRES_IN = ("disabled", "never", "day", "week", "month", "year")
ANSWER_ORDERS = ("as_sent", "reversed", "shuffled")
MERGE_STATUSES = ("keep", "reactivate")
OMITTED = ("keep", "reset")
#: the status of a user ``bulkUserImport`` creates (``created_status``): the document does not say [ASSUMED]
CREATED_STATUSES = {"active": ACTIVE, "not_current": NOT_CURRENT}
#: what ``bulk_omitted=reset`` sets a merged user's field to when its row leaves it out: what a create gives it
RESET_FIELDS: dict[str, Any] = {
    "phoneNumber": None,
    "mobileNumber": None,
    "employeeNumber": None,
    "timeZone": TIME_ZONE,
}


# -- validation -----------------------------------------------------------------------------------------------
def check_roles(t: VelpicTenant, value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(r, int) and not isinstance(r, bool) for r in value):
        raise bad_request(f"{where}roles must be a list of role ids (3 ADMIN … 8 INSTRUCTOR), got {value!r}.")
    if t.opt("invalid_role", "reject") == "reject" and any(r not in VALID_ROLES for r in value):
        raise ApiError(400, INVALID_ROLE)
    return value


def user_fields(t: VelpicTenant, body: Record, where: str = "", *, require_names: bool = True) -> Record:
    """The user fields present in ``body``, validated; groups as lists of ids. Unknown keys are ignored."""
    fields: Record = {}
    for name in TEXT_FIELDS:
        if name in body:
            value = body[name]
            if value is not None and not isinstance(value, str):
                raise bad_request(f"{where}{name} must be a string, got {value!r}.")
            fields[name] = value
    if "employeeNumber" in body:
        emp = body["employeeNumber"]
        if emp is not None and not isinstance(emp, str | int):
            raise bad_request(f"{where}employeeNumber must be a string or null, got {emp!r}.")
        fields["employeeNumber"] = None if emp is None else str(emp)
    if require_names:
        for name in REQUIRED_NAMES:
            value = fields.get(name)
            if not isinstance(value, str) or not value.strip():
                raise bad_request(f"{where}{name} is required (a non-empty string).")
    if "roles" in body:
        fields["roles"] = check_roles(t, body["roles"], where)
    for name in ("groups", "groupsSupervised"):
        if name in body:
            gids = id_refs(body[name], f"{where}{name}")
            t.check_groups(gids, f"{where}{name}")
            fields[name] = gids
    return fields


def _user(t: VelpicTenant, request: web.Request) -> Record:
    return t.user(path_id(request, "userId"))


# -- list / get -----------------------------------------------------------------------------------------------
def _query_users(t: VelpicTenant, key: tuple[str, str, str, int | None, int | None]) -> list[Record]:
    q, emp, email, status, role = key
    records = t.users.records
    candidates: Any
    if emp:
        candidates = [records[i] for i in t.by_emp.get(exact(emp) or "", ())]
        candidates = [r for r in candidates if r.get("employeeNumber") == emp]
    elif email:
        candidates = [records[i] for i in t.by_email.get(fold(email) or "", ())]
    else:
        candidates = records.values()
    needle = q.casefold()
    out = []
    for rec in candidates:
        if status is not None and rec["clientStatusId"] != status:
            continue
        if email and fold(rec.get("emailAddress")) != fold(email):
            continue
        if role is not None and role not in rec["roles"]:
            continue
        if needle and not any(
            needle in (rec.get(f) or "").casefold() for f in ("userName", "firstName", "lastName")
        ):
            continue
        out.append(rec)
    return out


async def list_users(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    query = request.query
    start, max_results = t.paging(query)
    active = query.get("activeValue") or "active"
    if active not in ACTIVE_VALUES:
        raise bad_request(f"activeValue must be one of active, inactive, all; got {active!r}.")
    role: int | None = None
    if query.get("roleId"):
        try:
            role = int(query["roleId"])
        except ValueError:
            raise bad_request(f"roleId must be a role id (3-8), got {query['roleId']!r}.") from None
    key = (
        query.get("q") or "",
        query.get("empId") or "",
        query.get("emailAddress") or "",
        ACTIVE_VALUES[active],
        role,
    )
    users = t.user_lists.get(key)
    if users is None:
        users = _query_users(t, key)
        if len(t.user_lists) >= 64:
            t.user_lists.clear()
        t.user_lists[key] = users
    results = page(users, start, max_results)
    stamp = schedule_date(t.now())
    info = t.meta(len(users), start, len(results))
    info["createdDate"] = info["modifiedDate"] = stamp
    return json_response({"results": results, "meta": info, "createdDate": stamp, "modifiedDate": stamp})


async def get_user(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    return json_response(_user(t, request))


# -- create / update ------------------------------------------------------------------------------------------
async def create_user(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    body = await read_object(request)
    fields = user_fields(t, body)
    if "sendWelcomeEmail" in body and not isinstance(body["sendWelcomeEmail"], bool):
        raise bad_request(f"sendWelcomeEmail must be true or false, got {body['sendWelcomeEmail']!r}.")
    if t.opt("unique_email", "off") == "reject" and fold(fields["emailAddress"]) in t.by_email:
        raise conflict("A user with this emailAddress already exists.")
    rec = t.create_user(fields)
    created, modified = t.created_stamps(t.now(), schedule_date)
    return json_response({"id": rec["id"], "createdDate": created, "modifiedDate": modified})


async def update_user(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    rec = _user(t, request)
    body = await read_object(request)
    strict = t.opt("update_missing_fields", "reject") == "reject"
    if strict:
        missing = [name for name in UPDATE_REQUIRED if name not in body]
        if missing:
            raise bad_request(
                f"Update of user {rec['id']} is a full replacement; missing required field(s): "
                f"{', '.join(missing)}. Send the whole user (employeeNumber may be null)."
            )
    if "id" in body and body["id"] != rec["id"]:
        raise bad_request(f"The body id {body['id']!r} does not match the user id {rec['id']} in the path.")
    fields = user_fields(t, body, require_names=strict)
    for name in REQUIRED_NAMES:
        if name in fields and not (isinstance(fields[name], str) and fields[name].strip()):
            raise bad_request(f"{name} must be a non-empty string.")
    if fields.get("userName") is None:
        fields.pop("userName", None)  # userName is optional in an update: absent or null keeps it
    return json_response(t.update_user(rec, fields))


# -- status and login URL -------------------------------------------------------------------------------------
async def activate_user(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    t.set_status(_user(t, request), ACTIVE)
    return empty_ok()


async def inactivate_user(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    """A user already Not Current is answered 200 again (``inactivate_again`` ``accept``, the default) or
    refused with 400 (``refuse``): the document does not say."""
    rec = _user(t, request)
    if rec.get("clientStatusId") == NOT_CURRENT and t.opt("inactivate_again", "accept") == "refuse":
        raise bad_request(f"User {rec['id']} is already inactive.")
    t.set_status(rec, NOT_CURRENT)
    return empty_ok()


async def generate_login_url(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    rec = _user(t, request)
    expires = request.query.get("expiresIn")
    if expires not in EXPIRES_IN:
        raise bad_request(f"expiresIn must be one of {', '.join(EXPIRES_IN)}; got {expires!r}.")
    t.login_tokens += 1
    token = hashlib.sha256(f"{t.name}:{rec['id']}:{t.login_tokens}".encode()).hexdigest()[:32]
    return json_response(f"{request.scheme}://{request.host}/velpic/#touch/{token}?expiresIn={expires}")


# -- bulkUserImport -------------------------------------------------------------------------------------------
def _bulk_rows(t: VelpicTenant, rows: list[Any]) -> list[tuple[Record, Record]]:
    """Validate every row before writing anything: ``[(row, fields)]`` of the rows to import."""
    skip = t.opt("bulk_invalid_row", "reject") == "skip"
    valid: list[tuple[Record, Record]] = []
    for i, row in enumerate(rows):
        where = f"users[{i}]: "
        try:
            if not isinstance(row, dict):
                raise bad_request(f"{where}each user must be a JSON object, got {row!r}.")
            valid.append((row, user_fields(t, row, where)))
        except ApiError as exc:
            if exc.body is INVALID_ROLE or not skip:
                raise
    return valid


async def bulk_user_import(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    body = await read_object(request)
    rows = body.get("users")
    if not isinstance(rows, list):
        raise bad_request("users is required: a list of users to create or merge.")
    most = int(t.opt("bulk_max_users", 0))  # 0: no limit; the document states none either way
    if most and len(rows) > most:
        raise bad_request(f"at most {most} users in one import; got {len(rows)}.")
    merge = body.get("mergeType") or "none"
    if merge not in MERGE_TYPES:
        raise bad_request(f"mergeType must be one of {', '.join(MERGE_TYPES)}; got {merge!r}.")
    merge_status, omitted = t.opt("bulk_merge_status", "keep"), t.opt("bulk_omitted", "keep")
    if merge_status not in MERGE_STATUSES:
        raise bad_request(
            f"velpic.bulk_merge_status must be one of {', '.join(MERGE_STATUSES)}; got {merge_status!r}."
        )
    if omitted not in OMITTED:
        raise bad_request(f"velpic.bulk_omitted must be one of {', '.join(OMITTED)}; got {omitted!r}.")
    created_status = CREATED_STATUSES.get(t.opt("created_status", "active"))
    if created_status is None:
        raise bad_request(
            f"velpic.created_status must be one of {', '.join(CREATED_STATUSES)}; "
            f"got {t.opt('created_status', 'active')!r}."
        )
    groups_omitted = t.opt("bulk_omitted_groups", "keep")
    if groups_omitted not in OMITTED:
        raise bad_request(
            f"velpic.bulk_omitted_groups must be one of {', '.join(OMITTED)}; got {groups_omitted!r}."
        )
    out: list[Record] = []
    for row, fields in _bulk_rows(t, rows):
        uid = t.lowest_match(merge, fields)
        if uid is None:
            created = t.create_user(fields)
            if created_status != ACTIVE:  # the other way the document leaves open: created Not Current
                t.users.update(created["id"], {"clientStatusId": created_status, "active": False})
                t.user_lists.clear()
                created = t.users.records[created["id"]]
            out.append(created)
            continue
        if fields.get("userName") is None:
            fields.pop("userName", None)
        if "roles" not in row:
            fields["roles"] = [6]  # [DOC] "If none is specified it will reset role to trainee."
        if omitted == "reset":  # the other way the document leaves open: every field left out is reset
            fields.update((k, v) for k, v in RESET_FIELDS.items() if k not in row)
        if groups_omitted == "reset":  # the memberships and supervised groups a row leaves out are cleared
            fields.update((name, []) for name in ("groups", "groupsSupervised") if name not in row)
        merged = t.update_user(t.users.records[uid], fields)
        if merge_status == "reactivate" and merged["clientStatusId"] != ACTIVE:
            t.set_status(merged, ACTIVE)  # the other way the document leaves open: a merge reactivates
        out.append(merged)
    return json_response(answer_order(t, out))


def answer_order(t: VelpicTenant, users: list[Record]) -> list[Record]:
    """The import's answer in the order of ``bulk_answer_order``: ``as_sent`` (input order), ``reversed``, or
    ``shuffled`` (seeded by the sandbox seed and the ids; never the input order when two or more differ) —
    the document only says "an array of users" [ASSUMED]."""
    order = t.opt("bulk_answer_order", "as_sent")
    if order not in ANSWER_ORDERS:
        raise bad_request(f"velpic.bulk_answer_order must be one of {', '.join(ANSWER_ORDERS)}; got {order!r}.")
    if order == "as_sent":
        return users
    if order == "reversed":
        return users[::-1]
    shuffled = list(users)
    random.Random(f"{t.ctx.seed}:{[u['id'] for u in users]}").shuffle(shuffled)
    return shuffled if shuffled != users else users[::-1]
