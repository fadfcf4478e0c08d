"""aNewSpring API emulator, under ``/anewspring/api/<function>[/<pathParams>]``.

Written from aNewSpring's own API overview;
every [ASSUMED] behaviour is a switch read with ``ctx.option("anewspring", …)`` and documented in
``docs/sandbox-anewspring.md``. State and seeding live in ``anewspring_data.py``.

RPC style: GET for reads, POST for commands; parameters come from the query string and the form body
(repeated keys are arrays: ``role=student&role=teacher``). Objects are addressed by external ID; with the
``accept_uid`` switch, reads and updates also accept the generated UID. Responses are JSON only (the
``Accept: application/xml`` output of the real API is not emulated).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from aiohttp import web
from multidict import MultiDict, MultiMapping

from migrator.sandbox.anewspring_data import (
    BOOL_FIELDS,
    GROUP_TYPES,
    RESULT_DATE_NAMES,
    ROLES,
    SUBSCRIBE_DATE_FORMS,
    TEXT_FIELDS,
    ANewSpringTenant,
    course_summary,
    credential,
    iso,
    new_tenant,
    parse_bool,
    result_row,
    seed_catalogue,
    seed_people,
    subscription_row,
    user_full,
    user_summary,
    valid_date,
)
from migrator.sandbox.generator import Population
from migrator.sandbox.platform import TENANTS, Context, Platform
from migrator.sandbox.store import Record

API = "/api"


class ApiError(Exception):
    """Ends a call with ``status`` and ``message`` (text, or JSON under ``_formatErrors=true``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Call:
    """One API call: its tenant, merged query + form parameters, and path parameters."""

    tenant: ANewSpringTenant
    params: MultiDict[str]
    path: dict[str, str]
    pretty: bool = False

    def json(self, data: Any) -> web.Response:
        """A JSON answer, indented under ``_pretty=true``."""
        option = orjson.OPT_INDENT_2 if self.pretty else 0
        return web.Response(body=orjson.dumps(data, option=option), content_type="application/json")

    def json_result(self, value: Any) -> web.Response:
        return self.json({"result": value})

    def one(self, name: str) -> str | None:
        return self.params.get(name)

    def all(self, name: str) -> list[str]:
        return [v for v in self.params.getall(name, []) if v != ""]

    def has(self, name: str) -> bool:
        return name in self.params

    def flag(self, name: str, default: bool) -> bool:
        value = parse_bool(self.one(name), default)
        if value is None:
            raise ApiError(400, f"Parameter '{name}' must be true or false, got '{self.one(name)}'.")
        return value


Handler = Callable[[Call], Awaitable[web.Response]]


def _flag(params: MultiMapping[str], name: str) -> bool:
    return parse_bool(params.get(name), False) is True


class ANewSpringPlatform(Platform):
    """aNewSpring: API key auth, users by external ID, groups, subscriptions, templates and courses."""

    name: ClassVar[str] = "anewspring"
    prefix: ClassVar[str] = "/anewspring"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.tenants: dict[str, ANewSpringTenant] = {}
        self._generation: dict[str, int] = {}
        self._keys: dict[str, str] = {}  # current API key → tenant
        self._calls: dict[str, tuple[str, str, Handler]] = {
            "userExists": ("GET", "{userID}", self._user_exists),
            "getUser": ("GET", "{userID}", self._get_user),
            "getUsers": ("GET", "", self._get_users),
            "initializeId": ("POST", "{login}/{userID}", self._initialize_id),
            "addUser": ("POST", "{userID}", self._add_user),
            "updateUser": ("POST", "{userID}", self._update_user),
            "addOrUpdateUser": ("POST", "{userID}", self._add_or_update_user),
            "addUserRoles": ("POST", "{userID}", self._add_user_roles),
            "deleteUser": ("POST", "{userID}", self._delete_user),
            "getLoginToken": ("GET", "{userID}", self._get_login_token),
            "groupExists": ("GET", "{groupID}", self._group_exists),
            "addGroup": ("POST", "{groupID}", self._add_group),
            "updateGroup": ("POST", "{groupID}", self._update_group),
            "groupUserExists": ("GET", "{groupID}/{userID}", self._group_user_exists),
            "getGroupUsers": ("GET", "{groupID}", self._get_group_users),
            "addGroupUsers": ("POST", "{groupID}", self._add_group_users),
            "deleteGroupUsers": ("POST", "{groupID}", self._delete_group_users),
            "deleteGroup": ("POST", "{groupID}", self._delete_group),
            "subscribe": ("POST", "{userID}/{courseID}", self._subscribe),
            "unsubscribe": ("POST", "{userID}/{courseID}", self._unsubscribe),
            "isSubscribed": ("GET", "{userID}/{courseID}", self._is_subscribed),
            "getSubscriptions": ("GET", "{userID}", self._get_subscriptions),
            "getResults": ("GET", "{userID}", self._get_results),
            "getTemplates": ("GET", "", self._get_templates),
            "getCourses": ("GET", "{templateID}", self._get_courses),
            "getCourse": ("GET", "{id}", self._get_course),
            "getStudentSubscriptions": ("GET", "{courseID}", self._get_student_subscriptions),
        }

    # Platform hooks --------------------------------------------------------------------------------
    def _opt(self, name: str, default: Any) -> Any:
        return self.ctx.option(self.name, name, default)

    def api_key(self, tenant: str) -> str:
        return credential(self.ctx.seed, tenant, self._generation.get(tenant, 0))

    def add_routes(self, app: web.Application) -> None:
        base = self.prefix + API
        for function, (method, path, handler) in self._calls.items():
            app.router.add_route(method, f"{base}/{function}/{path}".rstrip("/"), self._endpoint(handler))
        app.router.add_route("*", base + "/{tail:.*}", self._unknown)

    def seed(self, population: Population, tenant: str) -> None:
        state = new_tenant(tenant)
        course_uids = seed_catalogue(state, population)
        if tenant == "source":
            seed_people(state, population, course_uids)
        self.tenants[tenant] = state
        self.tables[tenant] = state.tables
        self._keys[self.api_key(tenant)] = tenant

    def _key_of(self, request: web.Request) -> str:
        return request.query.get("_key") or request.headers.get("X-API-Key") or ""

    def tenant_of(self, request: web.Request) -> str | None:
        return self._keys.get(self._key_of(request))

    def info(self, base_url: str) -> dict[str, Any]:
        return {
            "base_url": base_url.rstrip("/") + self.prefix + API,
            "tenants": [{"name": t, "api_key": self.api_key(t)} for t in TENANTS],
        }

    def env_lines(self, base_url: str) -> dict[str, str]:
        lines = {"ANEWSPRING_BASE_URL": base_url.rstrip("/") + self.prefix + API}
        for t in TENANTS:
            lines[f"ANEWSPRING_{t.upper()}_API_KEY"] = self.api_key(t)
        return lines

    def too_many_requests(self, retry_after: int) -> web.StreamResponse:
        return web.Response(status=429, text="429 Too Many Requests", headers={"Retry-After": str(retry_after)})

    def server_error(self) -> web.StreamResponse:
        return web.Response(status=500, text="500 Internal Server Error")

    def revoke_tokens(self, tenant: str) -> None:
        """Regenerate ``tenant``'s API key: the old one answers 401 from now on."""
        self._keys.pop(self.api_key(tenant), None)
        self._generation[tenant] = self._generation.get(tenant, 0) + 1
        self._keys[self.api_key(tenant)] = tenant

    # responses -------------------------------------------------------------------------------------
    def _error(self, request: web.Request, status: int, message: str, *, prefix: bool = True) -> web.Response:
        if _flag(request.query, "_formatErrors"):
            return web.Response(
                body=orjson.dumps({"code": status, "message": message}),
                status=status,
                content_type="application/json",
            )
        if prefix and self._opt("error_code_prefix", True):
            message = f"{status} {message}"
        return web.Response(status=status, text=message)

    # dispatch --------------------------------------------------------------------------------------
    def _endpoint(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            tenant = self._keys.get(self._key_of(request))
            if tenant is None:
                status = int(self._opt("bad_key_status", 401))
                return self._error(request, status, "Invalid API key", prefix=False)
            params: MultiDict[str] = MultiDict(request.query)
            if request.method == "POST" and request.can_read_body:
                form = await request.post()
                params.extend((k, v) for k, v in form.items() if isinstance(v, str))
            call = Call(self.tenants[tenant], params, dict(request.match_info), _flag(request.query, "_pretty"))
            try:
                response = await handler(call)
            except ApiError as exc:
                return self._error(request, exc.status, exc.message)
            if (
                response.status == 200
                and response.body is None
                and _flag(request.query, "_returnSuccessMessage")
            ):
                return call.json({"code": 200, "message": "OK"})
            return response

        return endpoint

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        if self._keys.get(self._key_of(request)) is None:
            return self._error(request, int(self._opt("bad_key_status", 401)), "Invalid API key", prefix=False)
        function = request.match_info["tail"].split("/", 1)[0]
        known = self._calls.get(function)
        if known is not None:
            if request.method != known[0]:
                return self._error(request, 405, f"{function} takes {known[0]}, not {request.method}.")
            return self._error(request, 404, f"{function}: missing path parameters ({known[1]}).")
        if request.method not in ("GET", "POST"):
            return self._error(request, 405, f"The API takes GET and POST only, not {request.method}.")
        return self._error(request, 404, f"There is no API call named '{function}'.")

    # look-ups --------------------------------------------------------------------------------------
    def _find_user(self, t: ANewSpringTenant, ident: str) -> Record | None:
        uid = t.by_ext.get(ident)
        if uid is None and self._opt("accept_uid", True):
            uid = ident
        return t.users.get(uid) if uid is not None else None

    def _user(self, t: ANewSpringTenant, ident: str) -> Record:
        user = self._find_user(t, ident)
        if user is None:
            raise ApiError(404, f"There is no user with ID '{ident}'.")
        return user

    def _course(self, t: ANewSpringTenant, ident: str) -> Record:
        uid = t.course_by_id.get(ident)
        if uid is None and self._opt("accept_uid", True):
            uid = ident
        course = t.tables["course"].get(uid) if uid is not None else None
        if course is None:
            raise ApiError(404, f"There is no course with ID '{ident}'.")
        return course

    @staticmethod
    def _group(t: ANewSpringTenant, ident: str) -> Record:
        group = t.groups.get(ident)
        if group is None:
            raise ApiError(404, f"There is no user group with ID '{ident}'.")
        return group

    # users -----------------------------------------------------------------------------------------
    async def _user_exists(self, c: Call) -> web.Response:
        return c.json_result(self._find_user(c.tenant, c.path["userID"]) is not None)

    async def _get_user(self, c: Call) -> web.Response:
        return c.json(user_full(self._user(c.tenant, c.path["userID"])))

    def _listed(self, user: Record) -> bool:
        """Whether ``getUsers`` lists ``user``: every user, or only active ones under ``list_inactive=false``
        (the document does not say whether the list holds inactive users)."""
        return (
            user.get("active", True) is not False
            or parse_bool(str(self._opt("list_inactive", True)), True) is True
        )

    async def _get_users(self, c: Call) -> web.Response:
        return c.json({"users": [user_summary(u) for u in c.tenant.users if self._listed(u)]})

    async def _initialize_id(self, c: Call) -> web.Response:
        t, login, ext = c.tenant, c.path["login"], c.path["userID"]
        uid = t.by_login.get(login.casefold())
        if uid is None:
            raise ApiError(404, f"There is no user with login '{login}'.")
        user = t.users.records[uid]
        if user.get("id") is not None:
            raise ApiError(409, f"The user with login '{login}' already has an external ID.")
        if ext in t.by_ext:
            raise ApiError(409, f"The external ID '{ext}' is already used by another user.")
        t.users.update(uid, {"id": ext})
        t.by_ext[ext] = uid
        return web.Response()

    def _changes(self, c: Call, user: Record | None) -> Record:
        """User fields sent in the call, checked; ``user`` is None on create."""
        t = c.tenant
        changes: Record = {}
        for name in TEXT_FIELDS:
            if not c.has(name):
                continue
            value = (c.one(name) or "").strip() if name in ("login", "email") else c.one(name) or ""
            if name == "dateOfBirth":
                if value == "":
                    if user is not None and user.get("dateOfBirth"):
                        if self._opt("clear_date_of_birth", "ignore") == "reject":
                            raise ApiError(409, "The date of birth cannot be removed once it has been set.")
                        continue
                elif not valid_date(value):
                    raise ApiError(400, f"Parameter 'dateOfBirth' must be a date as yyyy-MM-dd, got '{value}'.")
            if name == "login" and value:
                holder = t.by_login.get(value.casefold())
                if holder is not None and (user is None or holder != user["uid"]):
                    raise ApiError(409, f"The login '{value}' is already used by another user.")
            changes[name] = value or None
        for name in BOOL_FIELDS:
            if c.has(name):
                changes[name] = c.flag(name, True)
        return changes

    def _roles(self, c: Call) -> list[str]:
        roles = c.all("role")
        bad = [r for r in roles if r not in ROLES]
        if bad:
            raise ApiError(400, f"Unknown role '{bad[0]}'; use one of {', '.join(sorted(ROLES))}.")
        return list(dict.fromkeys(roles))

    def _create(self, c: Call, ext: str) -> None:
        t = c.tenant
        required = [f for f in str(self._opt("add_user_required", "login")).split(",") if f.strip()]
        for name in required:
            if not (c.one(name.strip()) or "").strip():
                raise ApiError(400, f"Parameter '{name.strip()}' is required to add a user.")
        changes = self._changes(c, None)
        roles = self._roles(c) or [str(self._opt("default_role", "student"))]
        uid = t.new_uid("user")
        record: Record = {"uid": uid, "id": ext, **{k: v for k, v in changes.items() if v is not None}}
        record["roles"] = roles
        record.setdefault("active", True)
        record["created"] = iso(self.ctx.clock.now())
        t.users.create(uid, record)
        t.by_ext[ext] = uid
        if record.get("login"):
            t.by_login[record["login"].casefold()] = uid

    def _update(self, c: Call, user: Record) -> None:
        t = c.tenant
        if user.get("archived") and c.flag("archived", True):
            raise ApiError(409, f"The user '{user.get('id')}' is archived; send archived=false to restore it.")
        changes = self._changes(c, user)
        new_ext = (c.one("id") or "").strip()
        if new_ext and new_ext != user.get("id"):
            if new_ext in t.by_ext:
                raise ApiError(409, f"The external ID '{new_ext}' is already used by another user.")
            if user.get("id") is not None:
                t.by_ext.pop(user["id"], None)
            t.by_ext[new_ext] = user["uid"]
            changes["id"] = new_ext
        if c.has("archived"):
            changes["archived"] = c.flag("archived", False)
        if "login" in changes:
            if user.get("login"):
                t.by_login.pop(str(user["login"]).casefold(), None)
            if changes["login"]:
                t.by_login[changes["login"].casefold()] = user["uid"]
        changes["modified"] = iso(self.ctx.clock.now())
        t.users.update(user["uid"], changes)

    async def _add_user(self, c: Call) -> web.Response:
        ext = c.path["userID"]
        existing = c.tenant.by_ext.get(ext)
        if existing is not None:
            archived = c.tenant.users.records[existing].get("archived")
            raise ApiError(
                409, f"A user with ID '{ext}' already exists" + (" (archived)." if archived else ".")
            )
        self._create(c, ext)
        return web.Response()

    def _addressed(self, c: Call) -> Record:
        """updateUser addresses by ``userUID`` when sent, else by the path's external ID."""
        uid = c.one("userUID")
        if uid:
            user = c.tenant.users.get(uid)
            if user is None:
                raise ApiError(404, f"There is no user with UID '{uid}'.")
            return user
        return self._user(c.tenant, c.path["userID"])

    async def _update_user(self, c: Call) -> web.Response:
        self._update(c, self._addressed(c))
        return web.Response()

    async def _add_or_update_user(self, c: Call) -> web.Response:
        uid = c.tenant.by_ext.get(c.path["userID"])
        if uid is None:
            self._create(c, c.path["userID"])
        else:
            self._update(c, c.tenant.users.records[uid])
        return web.Response()

    async def _add_user_roles(self, c: Call) -> web.Response:
        user = self._user(c.tenant, c.path["userID"])
        roles = self._roles(c)
        if not roles:
            raise ApiError(400, "Parameter 'role' is required (repeat it for several roles).")
        held = list(user.get("roles", ()))
        dup = [r for r in roles if r in held]
        if dup and not c.flag("ignoreDuplicates", True):
            raise ApiError(409, f"The user already has the role '{dup[0]}'.")
        new = [r for r in roles if r not in held]
        if new:
            c.tenant.users.update(user["uid"], {"roles": held + new})
        return web.Response()

    async def _delete_user(self, c: Call) -> web.Response:
        t = c.tenant
        user = self._user(t, c.path["userID"])
        uid = user["uid"]
        for members in t.members.values():
            members.pop(uid, None)
        for course_uid in list(t.subs_of_user.get(uid, {})):
            t.remove_subscription(uid, course_uid)
        t.subs_of_user.pop(uid, None)
        if user.get("id") is not None:
            t.by_ext.pop(user["id"], None)
        if user.get("login"):
            t.by_login.pop(str(user["login"]).casefold(), None)
        t.users.delete(uid)
        return web.Response()

    async def _get_login_token(self, c: Call) -> web.Response:
        user = self._user(c.tenant, c.path["userID"])
        token = credential(self.ctx.seed, f"sso:{user['uid']}", int(self.ctx.clock.now()) // 60)
        return c.json_result(token)

    # groups ----------------------------------------------------------------------------------------
    async def _group_exists(self, c: Call) -> web.Response:
        return c.json_result(c.path["groupID"] in c.tenant.groups.records)

    def _check_parent(self, t: ANewSpringTenant, group_id: str, parent: str) -> None:
        if parent == group_id:
            raise ApiError(409, f"The user group '{group_id}' cannot be its own parent.")
        seen = parent
        while seen:
            record = t.groups.get(seen)
            if record is None:
                raise ApiError(404, f"There is no parent user group with ID '{seen}'.")
            if record.get("parent") == group_id:
                raise ApiError(409, f"Moving '{group_id}' under '{parent}' would make a loop of groups.")
            seen = record.get("parent") or ""

    async def _add_group(self, c: Call) -> web.Response:
        t, group_id = c.tenant, c.path["groupID"]
        kind = (c.one("type") or "").strip()
        if kind not in GROUP_TYPES:
            raise ApiError(400, f"Parameter 'type' must be one of student, teacher, mentor (got '{kind}').")
        name = (c.one("name") or "").strip()
        if not name:
            raise ApiError(400, "Parameter 'name' is required to add a user group.")
        if group_id in t.groups.records:
            raise ApiError(409, f"A user group with ID '{group_id}' already exists.")
        parent = (c.one("parent") or "").strip() or None
        if parent is not None:
            self._check_parent(t, group_id, parent)
        record = {"id": group_id, "uid": t.new_uid("group"), "name": name, "type": kind, "parent": parent}
        t.groups.create(group_id, record)
        t.members[group_id] = {}
        return web.Response()

    async def _update_group(self, c: Call) -> web.Response:
        t, group_id = c.tenant, c.path["groupID"]
        self._group(t, group_id)
        changes: Record = {}
        if c.has("name"):
            name = (c.one("name") or "").strip()
            if not name:
                raise ApiError(400, "Parameter 'name' cannot be empty.")
            changes["name"] = name
        if c.has("parent"):
            parent = (c.one("parent") or "").strip() or None
            if parent is not None:
                self._check_parent(t, group_id, parent)
            changes["parent"] = parent
        if changes:
            t.groups.update(group_id, changes)
        return web.Response()

    async def _group_user_exists(self, c: Call) -> web.Response:
        t = c.tenant
        self._group(t, c.path["groupID"])
        user = self._find_user(t, c.path["userID"])
        return c.json_result(user is not None and user["uid"] in t.members.get(c.path["groupID"], {}))

    async def _get_group_users(self, c: Call) -> web.Response:
        t = c.tenant
        self._group(t, c.path["groupID"])
        records = t.users.records
        return c.json({"users": [user_summary(records[u]) for u in t.members.get(c.path["groupID"], {})]})

    def _listed_users(self, c: Call) -> list[Record]:
        idents = c.all("user")
        if not idents:
            raise ApiError(400, "Parameter 'user' is required (repeat it for several users).")
        return [self._user(c.tenant, ident) for ident in idents]

    async def _add_group_users(self, c: Call) -> web.Response:
        t, group_id = c.tenant, c.path["groupID"]
        group = self._group(t, group_id)
        users = self._listed_users(c)
        members = t.members.setdefault(group_id, {})
        ignore = c.flag("ignoreDuplicates", bool(self._opt("ignore_duplicates_default", False)))
        c.flag("addToTeacherStudents", False)
        c.flag("notify", False)
        to_add: dict[str, None] = {}
        for user in users:
            if group["type"] not in user.get("roles", ()):
                raise ApiError(
                    409,
                    f"User '{user.get('id') or user['uid']}' does not have the role '{group['type']}' "
                    f"that the {group['type']} group '{group_id}' needs.",
                )
            if user["uid"] in members or user["uid"] in to_add:
                if not ignore:
                    raise ApiError(
                        409, f"User '{user.get('id') or user['uid']}' is already in group '{group_id}'."
                    )
                continue
            to_add[user["uid"]] = None
        members.update(to_add)
        return web.Response()

    async def _delete_group_users(self, c: Call) -> web.Response:
        t, group_id = c.tenant, c.path["groupID"]
        self._group(t, group_id)
        users = self._listed_users(c)
        members = t.members.setdefault(group_id, {})
        ignore = c.flag("ignoreMissing", False)
        missing = [u for u in users if u["uid"] not in members]
        if missing and not ignore:
            raise ApiError(
                404, f"User '{missing[0].get('id') or missing[0]['uid']}' is not in group '{group_id}'."
            )
        for user in users:
            members.pop(user["uid"], None)
        return web.Response()

    async def _delete_group(self, c: Call) -> web.Response:
        t, group_id = c.tenant, c.path["groupID"]
        self._group(t, group_id)
        children = [g["id"] for g in t.groups if g.get("parent") == group_id]
        in_use = bool(t.members.get(group_id)) or bool(children)
        if in_use and not c.flag("force", False):
            raise ApiError(409, f"The user group '{group_id}' still has users or subgroups; send force=true.")
        for child in children:
            t.groups.update(child, {"parent": None})
        t.members.pop(group_id, None)
        t.groups.delete(group_id)
        return web.Response()

    # subscriptions and courses ---------------------------------------------------------------------
    async def _subscribe(self, c: Call) -> web.Response:
        t = c.tenant
        user = self._user(t, c.path["userID"])
        course = self._course(t, c.path["courseID"])
        if course["uid"] in t.subs_of_user.get(user["uid"], {}):
            raise ApiError(409, f"User '{c.path['userID']}' is already subscribed to '{c.path['courseID']}'.")
        now = iso(self.ctx.clock.now())
        start, expiry = self._date(c, "startDate"), self._date(c, "expiryDate")
        if start and expiry and expiry < start:
            raise ApiError(400, f"Parameter 'expiryDate' ({expiry}) is before 'startDate' ({start}).")
        record: Record = {
            "user": user["uid"],
            "course": course["uid"],
            "active": True,
            "subscribeDateTime": now,
            "startDateTime": start or now,
            "expiryDateTime": expiry or None,
            "finished": False,
            "finishedDateTime": None,
            "expired": False,
            "progress": 0,
            "score": None,
            "knowledgeIntake": 0,
            "efficiency": 0,
            "objectiveProgress": 0,
        }
        t.add_subscription(user["uid"], course["uid"], record, api=True)
        return web.Response()

    def _date(self, c: Call, name: str) -> str:
        """The optional date parameter ``name`` as stored (``2024-03-01T00:00:00Z``), or ""; 400 when it is
        not in the form of the ``subscribe_dates`` switch: ``date`` (yyyy-MM-dd, the default) or ``datetime``
        (yyyy-MM-ddTHH:mm:ss). The document names "the start and expiry date", neither parameter nor form."""
        value = (c.one(name) or "").strip()
        forms = str(self._opt("subscribe_dates", "date"))
        if forms not in SUBSCRIBE_DATE_FORMS:
            raise ApiError(400, f"anewspring.subscribe_dates must be one of {', '.join(SUBSCRIBE_DATE_FORMS)}.")
        form, shown = SUBSCRIBE_DATE_FORMS[forms]
        if value and not valid_date(value, form):
            raise ApiError(400, f"Parameter '{name}' must be a date as {shown}, got '{value}'.")
        if not value:
            return ""
        return f"{value}Z" if "T" in form else f"{value}T00:00:00Z"

    async def _unsubscribe(self, c: Call) -> web.Response:
        t = c.tenant
        user = self._user(t, c.path["userID"])
        course = self._course(t, c.path["courseID"])
        if course["uid"] not in t.subs_of_user.get(user["uid"], {}):
            raise ApiError(404, f"User '{c.path['userID']}' is not subscribed to '{c.path['courseID']}'.")
        t.remove_subscription(user["uid"], course["uid"])
        return web.Response()

    async def _is_subscribed(self, c: Call) -> web.Response:
        t = c.tenant
        user = self._user(t, c.path["userID"])
        course = self._course(t, c.path["courseID"])
        return c.json_result(course["uid"] in t.subs_of_user.get(user["uid"], {}))

    def _subscriptions(self, t: ANewSpringTenant, user: Record) -> list[tuple[Record, Record]]:
        courses, subs = t.tables["course"].records, t.tables["subscription"].records
        return [
            (courses[cu], subs[f"{user['uid']}|{cu}"])
            for cu in t.subs_of_user.get(user["uid"], {})
            if cu in courses
        ]

    async def _get_subscriptions(self, c: Call) -> web.Response:
        user = self._user(c.tenant, c.path["userID"])
        stats = not c.flag("skipStats", False)
        rows = [
            subscription_row(course, sub, stats=stats) for course, sub in self._subscriptions(c.tenant, user)
        ]
        return c.json({"courses": rows})

    async def _get_results(self, c: Call) -> web.Response:
        user = self._user(c.tenant, c.path["userID"])
        c.flag("asStudent", True)  # checked; what it hides (activities, feedback settings) is not modelled
        dates = str(self._opt("result_dates", "datetime"))
        names = str(self._opt("result_fields", "client"))
        if names not in RESULT_DATE_NAMES:
            raise ApiError(400, f"anewspring.result_fields must be one of {', '.join(RESULT_DATE_NAMES)}.")
        rows = [
            result_row(course, sub, dates=dates, names=names)
            for course, sub in self._subscriptions(c.tenant, user)
        ]
        return c.json({"courses": rows})

    async def _get_templates(self, c: Call) -> web.Response:
        with_none = c.flag("includeWithoutId", False)
        rows = [
            {"id": tp.get("id"), "uid": tp["uid"], "name": tp["name"]}
            for tp in c.tenant.tables["template"]
            if with_none or tp.get("id") is not None
        ]
        return c.json({"templates": rows})

    async def _get_courses(self, c: Call) -> web.Response:
        t, ident = c.tenant, c.path["templateID"]
        uid = t.template_by_id.get(ident)
        if uid is None and self._opt("accept_uid", True) and ident in t.tables["template"].records:
            uid = ident
        if uid is None:
            raise ApiError(404, f"There is no template with ID '{ident}'.")
        rows = [course_summary(co) for co in t.tables["course"] if co.get("templateUID") == uid]
        return c.json({"courses": rows})

    async def _get_course(self, c: Call) -> web.Response:
        return c.json(course_summary(self._course(c.tenant, c.path["id"])))

    async def _get_student_subscriptions(self, c: Call) -> web.Response:
        t = c.tenant
        course = self._course(t, c.path["courseID"])
        users, subs = t.users.records, t.tables["subscription"].records
        rows = []
        for user_uid in t.subs_of_course.get(course["uid"], {}):
            user, sub = users.get(user_uid), subs.get(f"{user_uid}|{course['uid']}")
            if user is None or sub is None:
                continue
            rows.append(
                {
                    **user_summary(user),
                    "subscribeDateTime": sub["subscribeDateTime"],
                    "progress": sub["progress"],
                    "finished": sub["finished"],
                }
            )
        return c.json({"students": rows})
