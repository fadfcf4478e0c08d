"""Velpic's credentials: a static ``AccessKey`` header, and the answer that says the key is refused."""

from __future__ import annotations

from migrator.connectors.base import Response, StaticKeyAuth

__all__ = ["VelpicAuth"]


class VelpicAuth(StaticKeyAuth):
    """A static ``AccessKey`` header (one active key per account, no expiry).

    A key Velpic does not know is answered 403 with internal code 806, in a long body (users, most
    endpoints) or a short one (``{"internalCode":806,"error":"Token not valid"}``: groups, lessons, ILT); a
    403 with another code (831: the key lacks a permission) is not a refused key.
    """

    header = "AccessKey"

    def refused(self, response: Response) -> bool:
        return response.status == 403 and b"806" in response.body[:200]
