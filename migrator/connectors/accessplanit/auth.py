"""accessplanit authentication, the same for API v2 and API v1: a 60-minute bearer token from ``/token``
(``grant_type=password``; refreshed by the transport before it runs out and once on 401), or an API key sent
as ``Authorization: Bearer <key>`` with no token call. A refusal is a 401 only.

The document asks for the token with a GET and the parameters; the vendor's own demo client POSTs them as a
form. The token is asked for with a GET first; an answer that shows the parameters were not read (anything
but a token or an ``invalid_grant`` refusal of the login) switches the connection to the POST form, which is
tried at once (the transport's retry) and kept for every later token. Token requests built before the switch
may still be sent after it (the transport builds one before it waits for another task's token call), so as
many "not read" answers as such GETs are taken for theirs before one is the form's, and final.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from migrator.connectors.accessplanit.spec import TOKEN
from migrator.connectors.base import Request, Response, Token
from migrator.errors import AuthError, TransientError

__all__ = ["AccessPlanItAuth", "make_auth"]


def _body(response: Response) -> Any:
    try:
        return response.json()
    except ValueError:  # an HTML or text page: not the token endpoint's JSON
        return None


class AccessPlanItAuth:
    def __init__(self, *, username: str | None, password: str | None, api_key: str | None) -> None:
        if not api_key and not (username and password):
            raise ValueError("accessplanit needs api_key, or username and password")
        self._username = username
        self._password = password
        self._api_key = api_key
        #: how the token is asked for: the document's GET, until the platform shows it does not read it
        self.by_form = False
        self._gets = 0  # GET token requests built
        self._stale = 0  # of those, the ones whose answer may still come after the switch

    def token_request(self) -> Request | None:
        if self._api_key:
            return None
        login = (
            ("grant_type", "password"),
            ("username", self._username or ""),
            ("password", self._password or ""),
        )
        if self.by_form:
            return Request("POST", TOKEN.path, TOKEN.budget_key, form=login)
        self._gets += 1
        return Request("GET", TOKEN.path, TOKEN.budget_key, params=login)

    def decode_token(self, response: Response, now: float) -> Token:
        body = _body(response)
        if response.status == 200 and isinstance(body, dict) and body.get("access_token"):
            self._stale = 0
            expires_in = float(body.get("expires_in") or 3600)
            return Token(str(body["access_token"]), now + expires_in)
        refused_login = isinstance(body, dict) and body.get("error") == "invalid_grant"
        if not refused_login and (not self.by_form or self._stale > 0):
            if self.by_form:
                self._stale -= 1
            else:
                self.by_form, self._stale = True, self._gets - 1
            raise TransientError(
                "accessplanit did not read the token request sent by GET (the document's form of it); asking "
                "again with a POSTed form",
                platform="accessplanit",
                method="GET",
                url=TOKEN.path,
                status=response.status,
            )
        why = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
        raise AuthError(
            f"accessplanit refused the username/password ({why or response.text(120)}); check the credentials "
            "in your env file",
            platform="accessplanit",
            method="POST" if self.by_form else "GET",
            url=TOKEN.path,
            status=response.status,
        )

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
