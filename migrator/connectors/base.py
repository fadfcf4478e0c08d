"""What a connector is: pure request builders and response decoders, no sockets.

The transport executes ``Request`` values and hands back ``Response`` values; connectors never see aiohttp.
A platform module provides an ``Auth`` (how to get and apply credentials), ``SourceReader``s (how to page an
entity) and ``TargetWriter``s (how to write a batch and read per-record results back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import msgspec
import orjson

from migrator.errors import MigratorError
from migrator.protocol.pagination import PageRequest, Paginator

__all__ = [
    "Action",
    "Auth",
    "EngineSupportError",
    "NestedReader",
    "Page",
    "Request",
    "Response",
    "RowResult",
    "SourceReader",
    "StaticKeyAuth",
    "TargetWriter",
    "Token",
    "WriteItem",
]


class EngineSupportError(MigratorError):
    """The plan asks for something the catalog knows but this engine's connectors do not serve yet."""

    exit_code = 2


Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
#: ``pending``: the target did not process this row (another row sank an all-or-nothing call): send it again.
Action = Literal["created", "updated", "unchanged", "rejected", "pending"]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP call, relative to the connection's base URL.

    ``endpoint`` is the rate-budget key, as in ``connectors.catalog`` (``"/bulkUserImport"``; accessplanit
    counts per module path, ``"/user"``, whatever the method): requests with the same endpoint share a budget.
    ``params`` keeps order and repeats (aNewSpring and OData need both).
    """

    method: Method
    path: str
    endpoint: str
    params: tuple[tuple[str, str], ...] = ()
    json: Any = None
    form: tuple[tuple[str, str], ...] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    is_write: bool = False


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    expires_at: float | None  # epoch seconds; None = never


class Auth(Protocol):
    """How a platform authenticates. Static-key platforms return no token request."""

    def token_request(self) -> Request | None:
        """The request that obtains a session token, or None for static credentials."""

    def decode_token(self, response: Response, now: float) -> Token:
        """The token from the token response (raises ``AuthError`` on a refusal)."""

    def headers(self, token: Token | None) -> Mapping[str, str]:
        """Headers that authenticate a request (with the current token, if any)."""

    def secrets(self) -> Sequence[str]:
        """Every credential value, for the log redactor."""


class StaticKeyAuth:
    """A key that never expires, sent in one header on every request (Velpic ``AccessKey``, aNewSpring
    ``X-API-Key``): no token request."""

    header = ""

    def __init__(self, key: str) -> None:
        self._key = key

    def token_request(self) -> Request | None:
        return None

    def decode_token(self, response: Response, now: float) -> Token:  # pragma: no cover - static key
        return Token(self._key, None)

    def headers(self, token: Token | None) -> Mapping[str, str]:
        return {self.header: self._key}

    def secrets(self) -> Sequence[str]:
        return [self._key]


@dataclass(frozen=True, slots=True)
class Page:
    records: list[dict[str, Any]]
    total: int | None = None


class SourceReader(Protocol):
    """Reads one entity page by page.

    A nested entity (read once per record of a parent, e.g. Velpic lesson schedules per user) pages through
    the parent with these methods and also has ``children(parent) -> Request | None`` and
    ``decode_children(response, parent) -> list[record]``; the fetch stage expands each parent page into the
    children of its records (see ``NestedReader``).
    """

    key_field: str

    def paginator(self) -> Paginator: ...

    def page_request(self, page: PageRequest) -> Request: ...

    def decode_page(self, response: Response) -> Page: ...


class NestedReader(SourceReader, Protocol):
    def children(self, parent: Mapping[str, Any]) -> Request | None: ...

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]: ...


class WriteItem(msgspec.Struct, frozen=True, gc=False):
    """One mapped record on its way to the target (a struct: one is built per record, and a frozen dataclass
    costs ten times as much to build)."""

    idem_key: str
    source_key: str
    payload: dict[str, Any]
    match_value: str | None = None


class RowResult(msgspec.Struct, frozen=True, gc=False):
    """What the target said about one record of a batch."""

    idem_key: str
    ok: bool
    target_id: str | None = None
    action: Action = "created"
    status: int | None = None
    reason: str = ""
    fields: Mapping[str, Sequence[str]] = msgspec.field(default_factory=dict)


class TargetWriter(Protocol):
    """Writes batches of one entity in one mode."""

    mode: str
    max_batch: int
    idempotent: bool  # resend is safe (merge/upsert/update); False for create-only

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        """Normalise a mapped record for the wire, or reject it with the target's own rules (no request)."""

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        """The calls that write ``items``: one bulk call, or one call per record."""

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        """Per-record results of one call (a 400 on a single-record call is a rejection, not an error)."""

    def lookup_request(self, item: WriteItem) -> Request | None:
        """For create-only in-doubt resolution: find ``item`` on the target by its match key."""

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        """The target id of ``item`` if the lookup found it."""
