"""How a starter plan connects to each platform: the connection's fields, each credential an environment
variable, named as ``migrator sandbox --env-file`` writes them (``VELPIC_SOURCE_ACCESS_KEY``, …), and the rate
budget the shipped route plans keep for the customer's own traffic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

__all__ = ["CONNECTIONS", "ConnectionSpec", "Side", "connection_fields"]


class Side(StrEnum):
    """Which end of the route a connection is: its credentials are named for it (``…_SOURCE_…``)."""

    SOURCE = "source"
    TARGET = "target"


@dataclass(frozen=True, slots=True)
class ConnectionSpec:
    """A platform's connection: ``base_url_var`` (the same for both sides, or None: no base URL),
    ``credentials`` (connection field -> variable name with ``{side}`` for SOURCE / TARGET), the budget a
    connection gets (None: the documented default), and a comment on it."""

    platform: str
    base_url_var: str | None
    credentials: Mapping[str, str]
    budget: str | Mapping[str, Any] | None = None
    budget_note: str = ""
    #: the ``files`` platform: the folder of the export (source) or of the files written (target)
    path: Mapping[Side, str] | None = None
    path_note: str = ""


CONNECTIONS: Mapping[str, ConnectionSpec] = MappingProxyType(
    {
        c.platform: c
        for c in (
            ConnectionSpec(
                "velpic",
                "VELPIC_BASE_URL",
                {"access_key": "VELPIC_{side}_ACCESS_KEY"},
                MappingProxyType({"default": "20/second", "reserve": 0.2}),
                "leave 20% of the API for the customer's own users",
            ),
            ConnectionSpec(
                "accessplanit",
                "ACCESSPLANIT_V2_BASE_URL",
                {"username": "ACCESSPLANIT_{side}_USERNAME", "password": "ACCESSPLANIT_{side}_PASSWORD"},
                MappingProxyType({"default": "5000/hour", "reserve": 0.1}),
                "5000 requests/hour per endpoint is documented; keep 10% for the customer's own integrations",
            ),
            ConnectionSpec(
                "accessplanit_v1",
                "ACCESSPLANIT_V1_BASE_URL",
                {"username": "ACCESSPLANIT_{side}_USERNAME", "password": "ACCESSPLANIT_{side}_PASSWORD"},
                MappingProxyType({"default": "5000/hour", "reserve": 0.1}),
                "5000 requests/hour per feed is documented; keep 10% for the customer's own integrations",
            ),
            ConnectionSpec(
                "onefile",
                "ONEFILE_BASE_URL",
                {"customer_token": "ONEFILE_{side}_CUSTOMER_TOKEN"},
                MappingProxyType({"reserve": 0.25}),
                "300 calls a minute for the whole API; keep a quarter for the provider's own staff",
            ),
            ConnectionSpec(
                "anewspring",
                "ANEWSPRING_BASE_URL",
                {"api_key": "ANEWSPRING_{side}_API_KEY"},
                "20/second",
                "no rate is documented: stay gentle",
            ),
            ConnectionSpec(
                "files",
                None,
                {},
                path=MappingProxyType({Side.SOURCE: "export", Side.TARGET: "out"}),
                path_note="a folder relative to this plan file: point it at the customer's export",
            ),
        )
    }
)


def connection_fields(platform: str, side: Side) -> dict[str, Any]:
    """The ``[connections.<side>]`` table of ``platform`` (credentials as ``${VAR}`` references)."""
    spec = CONNECTIONS[platform]
    fields: dict[str, Any] = {"platform": platform}
    if spec.base_url_var is not None:
        fields["base_url"] = f"${{{spec.base_url_var}}}"
    for name, var in spec.credentials.items():
        fields[name] = "${" + var.format(side=side.value.upper()) + "}"
    if spec.path is not None:
        fields["path"] = spec.path[side]
    if spec.budget is not None:
        fields["budget"] = spec.budget if isinstance(spec.budget, str) else dict(spec.budget)
    return fields
