"""accessplanit authentication, the same for API v2 and API v1: a 60-minute bearer token from ``/token``
(``grant_type=password``, form-encoded; refreshed by the transport before it runs out and once on 401), or an
API key sent as ``Authorization: Bearer <key>`` with no token call. A refusal is a 401 only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from migrator.connectors.accessplanit.spec import TOKEN
from migrator.connectors.base import Request, Response, Token
from migrator.errors import AuthError

__all__ = ["AccessPlanItAuth", "make_auth"]


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
        return Request("POST", TOKEN.path, TOKEN.budget_key, form=form)

    def decode_token(self, response: Response, now: float) -> Token:
        body = response.json() if response.body else None
        if response.status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            why = body.get("error_description") if isinstance(body, dict) else response.text(120)
            raise AuthError(
                f"accessplanit refused the username/password ({why}); check the credentials in your env file",
                platform="accessplanit",
                method="POST",
                url=TOKEN.path,
                status=response.status,
            )
        expires_in = float(body.get("expires_in") or 3600)
        return Token(str(body["access_token"]), now + expires_in)

    def headers(self, token: Token | None) -> Mapping[str, str]:
        value = self._api_key if self._api_key else (token.value if token else "")
        return {"Authorization": f"Bearer {value}"}

    def secrets(self) -> Sequence[str]:
        return [s for s in (self._password, self._api_key) if s]

    def refused(self, response: Response) -> bool:
        """accessplanit refuses credentials with 401 only (the documents give no other refusal)."""
        return False


def make_auth(credentials: Mapping[str, str]) -> AccessPlanItAuth:
    return AccessPlanItAuth(
        username=credentials.get("username"),
        password=credentials.get("password"),
        api_key=credentials.get("api_key"),
    )
