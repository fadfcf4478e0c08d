"""aNewSpring authentication: a static API key in the ``X-API-Key`` header, no token call; a refusal is a
401 only."""

from __future__ import annotations

from collections.abc import Mapping

from migrator.connectors.base import StaticKeyAuth

__all__ = ["ANewSpringAuth", "make_auth"]


class ANewSpringAuth(StaticKeyAuth):
    """A static ``X-API-Key`` header."""

    header = "X-API-Key"

    def __init__(self, api_key: str) -> None:
        if not api_key:
            raise ValueError("aNewSpring needs api_key")
        super().__init__(api_key)


def make_auth(credentials: Mapping[str, str]) -> ANewSpringAuth:
    return ANewSpringAuth(credentials.get("api_key", ""))
