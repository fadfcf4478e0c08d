"""OneFile authentication: ``POST /Authentication`` with ``X-CustomerToken`` answers the session token as the
raw body; every other call sends it as ``X-TokenID``. A session lasts 24 hours: the token is given that expiry,
so the transport refreshes it before it runs out (and once on a 401, OneFile's only refusal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson

from migrator.connectors.base import Request, Response, Token
from migrator.connectors.onefile.spec import AUTHENTICATION
from migrator.errors import AuthError

__all__ = ["SESSION_SECONDS", "OneFileAuth", "make_auth"]

#: A session token lives 24 hours (documented).
SESSION_SECONDS = 24 * 3600.0


class OneFileAuth:
    """A 24-hour session from ``POST /Authentication`` (header ``X-CustomerToken``), sent as ``X-TokenID``."""

    def __init__(self, customer_token: str) -> None:
        if not customer_token:
            raise ValueError("OneFile needs customer_token (the API token OneFile support issues)")
        self._customer_token = customer_token

    def token_request(self) -> Request | None:
        headers = (("X-CustomerToken", self._customer_token),)
        return Request("POST", AUTHENTICATION.path, AUTHENTICATION.budget_key, headers=headers)

    def decode_token(self, response: Response, now: float) -> Token:
        value = _session_token(response.body) if response.status == 200 else ""
        if not value:
            why = "an empty session token" if response.status == 200 else f"HTTP {response.status}"
            raise AuthError(
                f"OneFile refused the customer token ({why}); check customer_token in your env file, or ask "
                "OneFile support for a new API token",
                platform="onefile",
                method="POST",
                url=AUTHENTICATION.path,
                status=response.status,
            )
        return Token(value, now + SESSION_SECONDS)

    def headers(self, token: Token | None) -> Mapping[str, str]:
        return {"X-TokenID": token.value} if token is not None else {}

    def secrets(self) -> Sequence[str]:
        return [self._customer_token]

    def refused(self, response: Response) -> bool:
        """OneFile refuses a session with 401 only (the reference gives no other refusal)."""
        return False


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


def make_auth(credentials: Mapping[str, str]) -> OneFileAuth:
    return OneFileAuth(credentials.get("customer_token", ""))
