"""accessplanit over HTTP, the parts v1 and v2 share: answers and error bodies, bearer auth, the token endpoint.

Error bodies follow the v1 document (ASP.NET Web API style): ``{"Message": …}`` and, for a refused write,
``{"Message": "The request is invalid.", "ModelState": {"user.DateOfBirth": ["An error has occurred."]}}``.
The token endpoint answers in OAuth style (``invalid_grant``), as the vendor's demo client expects.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from migrator.sandbox.accessplanit_auth import Credentials, TokenStore
from migrator.sandbox.platform import Context

PLATFORM = "accessplanit"
DENIED = "Authorization has been denied for this request."
INVALID = "The request is invalid."
#: the ``token_verbs`` switch: where the token endpoint reads its parameters (the query, the form, or both)
TOKEN_VERBS = ("both", "get", "post")


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def message(status: int, text: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return json_response({"Message": text}, status, headers)


def invalid(model_state: Mapping[str, list[str]]) -> web.Response:
    return json_response({"Message": INVALID, "ModelState": dict(model_state)}, 400)


def unauthorized() -> web.Response:
    return message(401, DENIED, {"WWW-Authenticate": 'Bearer realm="accessplanit"'})


async def read_object(request: web.Request, entity: str) -> dict[str, Any] | web.Response:
    """The JSON object body of a write, or the 400 answer to send."""
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as exc:
        return invalid({entity: [f"The request body is not valid JSON ({exc})."]})
    if not isinstance(body, dict):
        return invalid({entity: ["The request body must be a JSON object of field names and values."]})
    return body


def _expiry_seconds(value: Any) -> float | None:
    """An API key expiry option: epoch seconds, or ISO text (``2025-06-30`` / ``2025-06-30T12:00:00Z``)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(
            f"sandbox option accessplanit.api_key_expiry.<tenant> = {value!r} is neither epoch seconds nor an "
            "ISO date such as 2025-06-30T12:00:00Z; fix the option"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


class Auth:
    """Bearer credentials: tokens from the token endpoint, or a tenant's API key (enabled, expiry, IPs)."""

    def __init__(self, ctx: Context, tokens: TokenStore) -> None:
        self.ctx = ctx
        self.tokens = tokens
        self.credentials: dict[str, Credentials] = {}
        self.by_username: dict[str, Credentials] = {}
        self.by_api_key: dict[str, str] = {}

    def add(self, cred: Credentials) -> None:
        self.credentials[cred.tenant] = cred
        self.by_username[cred.username.casefold()] = cred
        self.by_api_key[cred.api_key] = cred.tenant

    def option(self, name: str, default: Any) -> Any:
        return self.ctx.option(PLATFORM, name, default)

    @staticmethod
    def bearer(request: web.Request) -> str | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        value = value.strip()
        return value if scheme.casefold() == "bearer" and value else None

    def tenant_of(self, request: web.Request) -> str | None:
        value = self.bearer(request)
        if value is None:
            return None
        return self.tokens.tenant_of(value) or self.by_api_key.get(value)

    def key_usable(self, tenant: str, request: web.Request) -> bool:
        if not self.option(f"api_key_enabled.{tenant}", True):
            return False
        expiry = _expiry_seconds(self.option(f"api_key_expiry.{tenant}", None))
        if expiry is not None and self.ctx.clock.now() >= expiry:
            return False
        whitelist = str(self.option(f"api_key_ip_whitelist.{tenant}", "") or "")
        allowed = {ip.strip() for ip in whitelist.split(",") if ip.strip()}
        return not allowed or request.remote in allowed

    def authenticate(self, request: web.Request, *, v1: bool = False) -> str | None:
        """The tenant of a valid bearer credential, else None (answer 401)."""
        value = self.bearer(request)
        if value is None:
            return None
        tenant = self.tokens.check(value)
        if tenant is not None:
            return tenant
        tenant = self.by_api_key.get(value)
        if tenant is None or (v1 and not self.option("v1_api_keys", True)):
            return None
        return tenant if self.key_usable(tenant, request) else None

    # token endpoint ----------------------------------------------------------------------------------
    async def token(self, request: web.Request) -> web.Response:
        """``GET …/token?grant_type=password&username=…&password=…`` or the same as a POSTed form. The switch
        ``token_verbs`` (``both``, ``get``, ``post``) says where the parameters are read: a server that reads
        only the form answers a GET as if it had none (and the other way round)."""
        verbs = str(self.option("token_verbs", "both"))
        if verbs not in TOKEN_VERBS:
            raise ValueError(
                f"sandbox option accessplanit.token_verbs = {verbs!r}; use one of {', '.join(TOKEN_VERBS)}"
            )
        params: dict[str, str] = {}
        if verbs != "post":
            params.update({k.casefold(): v for k, v in request.query.items()})
        if (
            verbs != "get"
            and request.method == "POST"
            and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.post()
            params.update({k.casefold(): str(v) for k, v in form.items()})
        grant = params.get("grant_type", "").strip().casefold()
        ttl = float(self.option("token_ttl", 3600))
        refresh_ttl = float(self.option("refresh_token_ttl", 1_209_600))
        if grant == "password":
            cred = self.by_username.get(params.get("username", "").strip().casefold())
            if cred is None or params.get("password", "") != cred.password:
                return json_response(
                    {"error": "invalid_grant", "error_description": "The user name or password is incorrect."},
                    400,
                )
        elif grant == "refresh_token":
            tenant = self.tokens.redeem_refresh(params.get("refresh_token", "").strip())
            if tenant is None:
                return json_response(
                    {"error": "invalid_grant", "error_description": "The refresh token is invalid or expired."},
                    400,
                )
            cred = self.credentials[tenant]
        else:
            return json_response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "Send grant_type=password with username and password.",
                },
                400,
            )
        access, refresh = self.tokens.issue(cred.tenant, ttl, refresh_ttl)
        return json_response(
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": int(ttl),
                "refresh_token": refresh,
                "userID": cred.user_id,
                "refresh_token_expires_in": int(refresh_ttl),
            },
            headers={"Cache-Control": "no-store"},
        )
