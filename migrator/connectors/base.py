"""The engine ↔ connector contract: values on the wire and Protocols, one per thing a connector can do.

HTTP connectors are pure request builders and response decoders, no sockets: the transport executes
``Request`` values and hands back ``Response`` values, and connectors never see aiohttp. A platform package
provides an ``Auth`` (how to get, apply and recognise refused credentials), readers and writers. What a reader
or writer can do is told by the Protocols it implements (all ``runtime_checkable``); the runtime asks once,
when it builds a step, never per record:

readers
    ``PagedReader``: reads one entity page by page through the transport; ``NestedReader``: a paged reader of
    a parent entity that expands each parent into its children (Velpic schedules per user), and
    ``PagedChildrenReader`` one whose children of a parent may take several pages; ``DetailReader``:
    a nested reader that completes each child with one more request (Velpic: a schedule's certificate);
    ``ChangesReader``: can narrow its read to what changed since a date (``--delta``); ``StreamReader``:
    reads its pages itself, without the transport (local files); ``CountingReader``: can count its
    records cheaply (``explain --probe``).
writers
    ``Writer``: what every writer has (its mode, batch limit, whether a resend is safe, the fields that find a
    record on the target, and ``prepare``, the target's own rules); ``RequestWriter``: writes through HTTP
    calls; ``LookupWriter``: can find a record by its match key when its create is in doubt;
    ``PreReadWriter``: reads from the target before it writes (Velpic ILT attendance), and
    ``PagedPreReadWriter`` page after page where a list it reads may hold more than one page (Velpic group
    members); ``IdWriter``: writes at a target id (an update); ``DirectWriter``: writes itself, without the
    transport (local files, the dry run); ``ListedOtherwise``: its target lists what it writes under other
    field names (aNewSpring users); ``StateWriter``: writes one of two states, so what a record held before
    is known (Velpic user status).
undo
    ``UndoWriter``: takes away what a run created (``migrator undo``): per entity how, or why it cannot be,
    and the calls one after the other (``Removed`` when done).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec
import orjson

from migrator.errors import MigratorError
from migrator.protocol.pagination import PageRequest, Paginator

__all__ = [
    "Action",
    "Auth",
    "ChangesReader",
    "CountingReader",
    "DetailReader",
    "DirectWriter",
    "EngineSupportError",
    "HoldingWriter",
    "IdWriter",
    "ListedFieldsWriter",
    "ListedOtherwise",
    "LookupWriter",
    "MatchComparer",
    "MembershipKeeper",
    "NestedReader",
    "OpenListing",
    "Page",
    "PagedChildrenReader",
    "PagedPreReadWriter",
    "PagedReader",
    "PartialReader",
    "PreReadJudge",
    "PreReadWriter",
    "Reader",
    "Removal",
    "Removed",
    "Request",
    "RequestWriter",
    "Response",
    "RowResult",
    "SettingError",
    "StateWriter",
    "StaticKeyAuth",
    "StreamReader",
    "Token",
    "UndoWriter",
    "WholeRecordWriter",
    "WriteItem",
    "Writer",
]


class EngineSupportError(MigratorError):
    """The plan asks for something the catalog knows but this engine's connectors do not serve yet."""

    exit_code = 2


class SettingError(MigratorError):
    """A step setting that the connector refuses (a filter value, a merge type). ``key`` is the setting's path
    within the step (``read.filter.status``); the plan layer turns it into a problem that names the plan file
    and the step."""

    exit_code = 2

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


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

    def refused(self, response: Response) -> bool:
        """Whether an answer other than 401 says the credentials are refused (Velpic: 403 with code 806)."""


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

    def refused(self, response: Response) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Page:
    records: list[dict[str, Any]]
    total: int | None = None


@runtime_checkable
class PagedReader(Protocol):
    """Reads one entity page by page through the transport: the paginator plans the pages, the reader builds
    each page's request and decodes its answer. ``key_field`` names the source key of a record."""

    key_field: str
    page_size: int

    def paginator(self) -> Paginator: ...

    def page_request(self, page: PageRequest) -> Request: ...

    def decode_page(self, response: Response) -> Page: ...


@runtime_checkable
class NestedReader(PagedReader, Protocol):
    """Pages through a parent entity and reads each parent record's children (one request per parent); the
    fetch stage expands each parent page into the children of its records."""

    def children(self, parent: Mapping[str, Any]) -> Request | None: ...

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]: ...


@runtime_checkable
class PagedChildrenReader(NestedReader, Protocol):
    """A nested reader whose children of one parent may take more than one page (Velpic: a user's lesson
    schedules): after each page's answer, ``next_children`` names the next page (the same request from a later
    row), or None once the list is read."""

    def next_children(self, request: Request, response: Response) -> Request | None: ...


@runtime_checkable
class PartialReader(NestedReader, Protocol):
    """A nested reader that stops at a parent it cannot read the children of (an aNewSpring user without an
    external ID, the only way to address it), so that none is left out unseen; ``partial`` makes it leave such
    parents out instead. The engine's read of a target sets it: the writes address records by that same
    field, so a record without it is none a write can reach."""

    partial: bool


@runtime_checkable
class OpenListing(NestedReader, Protocol):
    """A nested reader whose list of parents may leave some out, in a way no document settles (aNewSpring
    ``getUsers``: whether it lists inactive users is not said). ``lists_all``: whether the parents read so far
    show the list whole (an inactive user among them). ``parent_of(record)``: the parent a record as written
    belongs to (its ``children`` request reads it alone; None: it names none); ``listed(parent)``: whether the
    list held that parent. The engine's read of a target reads a parent the list left out when a write names
    it, so that what the target holds there is known before anything is written to it."""

    lists_all: bool

    def parent_of(self, record: Mapping[str, Any]) -> Mapping[str, Any] | None: ...

    def listed(self, parent: Mapping[str, Any]) -> bool: ...


@runtime_checkable
class DetailReader(NestedReader, Protocol):
    """A nested reader that completes each child with one request of its own (Velpic: the PDF certificate of
    each completed schedule); the fetch stage asks it only for a child the step has not settled yet, so a
    resumed run does not fetch again what is done. A detail answer with any status but a transient one is the
    reader's to decode (a refusal is a fact about that child)."""

    def detail(self, child: Mapping[str, Any]) -> Request | None: ...

    def decode_detail(self, response: Response, child: Mapping[str, Any]) -> dict[str, Any]: ...


@runtime_checkable
class ChangesReader(Protocol):
    """Can narrow its read to the records modified since a moment (a ``--delta`` run)."""

    def changed_since(self, when: float) -> bool:
        """Read only what changed since ``when`` (epoch seconds); False if this entity cannot be narrowed."""


@runtime_checkable
class StreamReader(Protocol):
    """Reads its pages itself, without the transport (local files): the pages not in ``done``, in order."""

    key_field: str
    page_size: int

    def pages(self, done: Collection[str]) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]: ...


@runtime_checkable
class CountingReader(Protocol):
    """Can count its records cheaply (``explain --probe``): a local file, counted by reading it."""

    async def count(self) -> int:
        """How many records the source holds."""


#: what a step reads with
Reader = PagedReader | StreamReader


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


@runtime_checkable
class Writer(Protocol):
    """What every writer has: one entity in one mode.

    ``idempotent``: a resend is safe (merge, upsert, update); False for create-only. ``match_fields``: the
    payload fields that find a record on the target (empty when the step has no match key)."""

    mode: str
    max_batch: int
    idempotent: bool
    match_fields: tuple[str, ...]

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        """Normalise a mapped record for the wire, or reject it with the target's own rules (no request)."""


@runtime_checkable
class RequestWriter(Writer, Protocol):
    """Writes through HTTP calls sent by the transport."""

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        """The calls that write ``items``: one bulk call, or one call per record."""

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        """Per-record results of one call (a 400 on a single-record call is a rejection, not an error)."""


@runtime_checkable
class LookupWriter(RequestWriter, Protocol):
    """A create-only writer that can find a record on the target by its match key, so a create whose outcome
    is unknown (a lost response, a crash between send and answer) is looked up before it is sent again."""

    def lookup_request(self, item: WriteItem) -> Request | None:
        """The request that finds ``item`` on the target, or None when it has no value to look up by."""

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        """The target id of ``item`` if the lookup found it."""


@runtime_checkable
class ListedOtherwise(Writer, Protocol):
    """A writer whose target lists its records under other field names than it writes them (aNewSpring users:
    the external ID it writes as ``userID`` is listed as ``id``, ``role`` as ``roles``): ``listed_names``,
    written field → listed field; and ``listed_id``, the listed field that names a record as the writer's
    answers name it (the external ID, not the list's generated key). The engine reads the target's records
    through them when it indexes the target or reads its current values."""

    listed_names: Mapping[str, str]
    listed_id: str


@runtime_checkable
class StateWriter(Writer, Protocol):
    """A create-only writer in ``update`` mode of a state with two values (Velpic user status: Active or Not
    Current), whose match value holds the state it writes: it is sent only to a record found in the other
    state, so its match value tells what the record held before (``migrator undo`` puts that back)."""

    def state_before(self, match_value: str) -> dict[str, Any] | None:
        """The fields that put back what a record held before a write with ``match_value`` (None when the
        value is not one of this writer's)."""


@runtime_checkable
class MatchComparer(Writer, Protocol):
    """A writer whose match values compare by what they mean, not by their text (Velpic ILT start times: one
    instant, answered in the account's zone whatever zone it was sent in). The engine compares the target's
    records with the records it writes through ``comparable`` when it indexes the target by match value."""

    def comparable(self, field: str, value: Any) -> Any:
        """``value`` of match field ``field`` in a form equal for equal meanings (None when it has none)."""


@runtime_checkable
class WholeRecordWriter(Writer, Protocol):
    """A writer whose write must carry the whole record (accessplanit ``$upsert``: "the full record data"):
    the ``record_fields`` a record does not map are sent with the target's own values. A step that reads the
    target's current values reads these fields too and completes each record from them, without a read per
    record."""

    record_fields: tuple[str, ...]


@runtime_checkable
class ListedFieldsWriter(WholeRecordWriter, Protocol):
    """A whole-record writer whose target lists the fields its records have (accessplanit: a module's help).
    The step asks once per connection and entity in a run, before it reads the target's current values, and
    the writer keeps of its ``record_fields`` only those the list names: a field the target lacks is neither
    read nor sent. An answer that cannot be read keeps them all."""

    def fields_request(self) -> Request | None:
        """The request for the list (None: the writer has no record fields to narrow)."""

    def listed_fields(self, response: Response) -> frozenset[str] | None:
        """The field names ``response`` lists, as the target spells them; None when it cannot be read."""

    def keep_listed(self, listed: frozenset[str] | None) -> None:
        """Narrow ``record_fields`` to those ``listed`` names (compared without case); None keeps them all."""


@runtime_checkable
class MembershipKeeper(RequestWriter, Protocol):
    """A writer whose call may drop what a record holds beyond what it sends (Velpic ``bulkUserImport``: a
    merged user's groups and supervised groups). The step reads ``kept_fields`` with the target's current
    values and journals each record's values of them with its batch, before the batch is sent (a resumed run
    knows them after a call that dropped them); after the batch's calls it sends ``restores`` for what the
    answers, or the current values of a record not sent, no longer hold."""

    kept_fields: tuple[str, ...]

    def answered(self, response: Response, items: Sequence[WriteItem]) -> dict[str, dict[str, Any] | None]:
        """The records' values of ``kept_fields`` as ``response`` answered them, by idempotency key (None:
        the answer does not say; a record not matched back is left out)."""

    def restores(
        self, users: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any] | None]]
    ) -> list[Request]:
        """The calls that put back, for each ``(target id, values before, values after)``, what after lacks
        of before (after None: all of before)."""


@runtime_checkable
class PreReadWriter(RequestWriter, Protocol):
    """Reads from the target before it writes (Velpic ILT attendance: user id → attendee id)."""

    def pre_lookups(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        """The reads to make before writing ``items``, each with the records it serves."""

    def apply_pre_lookups(
        self, items: Sequence[WriteItem], answers: Sequence[tuple[Response, list[WriteItem]]]
    ) -> list[WriteItem | RowResult]:
        """The records to write, completed from the answers, or their rejections."""


@runtime_checkable
class PagedPreReadWriter(PreReadWriter, Protocol):
    """A writer whose reads before it writes are lists that may hold more than one page (Velpic: a group's
    members, a session's attendees), read to their end: each round of answers is handed to ``next_lookups``,
    which learns it and names the next pages, until it names none; then every answer goes to
    ``apply_pre_lookups``."""

    def next_lookups(
        self, answers: Sequence[tuple[Response, list[WriteItem]]]
    ) -> list[tuple[Request, list[WriteItem]]]:
        """Learns the pages ``answers`` hold; the next page of each list they say holds more (none: read)."""


@runtime_checkable
class PreReadJudge(PreReadWriter, Protocol):
    """A writer that reads the target before it writes and can tell from those reads alone that a write would
    change nothing (Velpic lesson schedules: every lesson already scheduled for the user; group members and
    supervisors: every user already in the group): such a record is settled without a call, in a run as in a
    dry run."""

    def settled(self, item: WriteItem) -> RowResult | None:
        """``item``'s row — ``unchanged``, with the target id of what holds it — when the target already holds
        what it writes (as its pre-reads completed it), else None: it is sent."""


@runtime_checkable
class IdWriter(Protocol):
    """Writes a record at its target id, taken from the payload field ``id_field`` (an update)."""

    id_field: str


@runtime_checkable
class DirectWriter(Writer, Protocol):
    """Writes itself, without the transport (local files; the dry run, which writes nothing)."""

    async def write_direct(self, items: Sequence[WriteItem]) -> list[RowResult]:
        """Per-record results, in the order of ``items``."""


@runtime_checkable
class HoldingWriter(Writer, Protocol):
    """A writer that knows, without a request, what its target holds (a documents archive: its index file),
    where no transport can list that target: a dry run classifies its records against it."""

    async def holdings(self) -> dict[str, list[str]]:
        """Match value (stripped, case-folded, as the engine compares them) → the target ids holding it."""


# -- undo ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Removal:
    """How a created record of an entity is taken off its platform: ``effect`` says what the calls do
    (``deleted``, ``inactivated``); ``left`` what remains of the record afterwards ("" when nothing does)."""

    effect: str
    left: str = ""


@dataclass(frozen=True, slots=True)
class Removed:
    """The record is off the target (or never was: a call answered that it does not exist)."""

    already: bool = False


@runtime_checkable
class UndoWriter(Protocol):
    """A platform's reversal calls. Removing one record may take several calls (an accessplanit user is deleted
    twice; a Velpic user leaves its groups before it is inactivated): the runtime asks for the next call with
    the answers so far until the connector says ``Removed`` or gives the reason it failed (a sentence). Every
    call is safe to send again: a record already removed is answered as such, and counts as removed.
    ``empty``: what a restore sends for a field that was empty before the run (JSON null; an empty form
    parameter on a platform whose calls are forms)."""

    empty: Any

    def removal(self, entity: str) -> Removal | str:
        """How a created record of ``entity`` is removed, or why it cannot be (a sentence)."""
        ...

    def next_removal(self, entity: str, target_id: str, answers: Sequence[Response]) -> Request | Removed | str:
        """The next call that removes record ``target_id`` of ``entity``, given the answers to the calls made so
        far (in order); ``Removed`` when it is done; a sentence when the platform refused."""
        ...
