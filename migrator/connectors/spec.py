"""The shape of a platform declaration: what a platform can read and write, as data.

Each connector package declares its platform once, in its own ``spec.py`` (``connectors/velpic/spec.py``, …),
with these types; its readers and writers take their endpoints, key fields, batch limits and match keys from
that declaration, and ``connectors.catalog`` assembles the declarations into ``CATALOG``, which the plan
validator, the task graph and the docs read.

Per platform: the credentials a connection needs, the documented default rate budget and its scope (one
budget per endpoint path, or one for the whole API), and the entities with their read endpoint (source key
field, paging style, default and maximum page size), write modes (endpoint, requests per batch, maximum batch
size), known target fields (``None`` = not known, any field accepted) and match keys. A read may declare the
statuses its records have and the filter that selects each (:class:`Statuses`): the inventory of a run counts
them apart, and the coverage names a status no step's filter carries (``migrator.coverage``).

Endpoint paths are relative to the connection's ``base_url``. ``budget_key`` names the budget an endpoint
draws from: accessplanit counts requests "per endpoint" — taken as per module path, shared by GET/POST/PUT of
that module (``/user``); OneFile counts the whole API (``*``).

Values marked ``# ASSUMED`` are not in any public document (``docs/sandbox.md`` lists them); the engine must
treat them as defaults that a plan can override.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from migrator.plan.model import WriteMode
from migrator.plan.rates import Rate
from migrator.protocol.pagination import Style

__all__ = [
    "ANY_FIELD",
    "Endpoint",
    "EntitySpec",
    "Paging",
    "PagingStyle",
    "PlatformSpec",
    "ReadSpec",
    "Statuses",
    "WriteSpec",
    "endpoint",
    "entities",
    "writes",
]

#: ``match_keys`` value meaning "any known (filterable) field of the entity" (accessplanit ``$upsert``).
ANY_FIELD = "*"

#: how an entity's list is read: the style of its paginator (:mod:`migrator.protocol.pagination`), or ``file``
#: (a local file, no requests)
PagingStyle = Style | Literal["file"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    budget_key: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class Paging:
    """How an entity's list is read. ``style`` names its paginator (``velpic_offset``,
    ``accessplanit_v2_page``, ``accessplanit_v1_page``, ``onefile_path_page``; ``unpaged``: one request returns
    everything) or is ``file`` (a local file, no requests). ``knows_total``: the response says how many records
    exist, so the remaining pages are planned at once and no extra empty-page request is needed."""

    style: PagingStyle
    default_size: int | None = None
    max_size: int | None = None
    knows_total: bool = True


@dataclass(frozen=True, slots=True)
class Statuses:
    """The statuses an entity's records have, and the read filter that selects them: ``values`` maps each
    value of the filter ``parameter`` to the statuses a read with it returns; ``default`` is the value the
    platform applies when a read does not send the filter (``None``: such a read returns every status).

    Velpic users: ``Statuses("activeValue", {"active": ("active",), "inactive": ("inactive",), "all": (...)},
    default="active")`` — a read without ``activeValue`` leaves the inactive users out."""

    parameter: str
    values: Mapping[str, tuple[str, ...]]
    default: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every status, in the order the values first name them."""
        return tuple(dict.fromkeys(s for statuses in self.values.values() for s in statuses))


@dataclass(frozen=True, slots=True)
class ReadSpec:
    endpoint: Endpoint
    paging: Paging
    key: str
    required_filters: tuple[str, ...] = ()
    parent: str | None = None  # read once per record of this entity (nested resource)
    statuses: Statuses | None = None  # None: the platform's list knows no statuses for this entity
    # the entity whose records these are, each completed by a request of its own (Velpic user_supervisors:
    # the users, with their group's supervisors): what the sources hold is counted as that entity's
    records_of: str | None = None


@dataclass(frozen=True, slots=True)
class WriteSpec:
    """One write mode. ``per_record``: one request per record (``batch`` ignored, max 1); else one request
    per batch of up to ``max_batch`` records. ``match_keys``: allowed ``match`` values (``ANY_FIELD`` = any
    known field); ``match_required``: the mode cannot work without one."""

    endpoint: Endpoint
    per_record: bool = True
    max_batch: int = 1
    default_batch: int = 1
    match_keys: tuple[str, ...] = ()
    match_required: bool = False


@dataclass(frozen=True, slots=True)
class EntitySpec:
    name: str
    read: ReadSpec | None = None
    writes: Mapping[str, WriteSpec] = field(default_factory=dict)  # keyed by WriteMode members
    fields: frozenset[str] | None = None  # None: not known, any field accepted


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    name: str
    title: str
    credentials: tuple[str, ...]  # required connection fields besides base_url
    entities: Mapping[str, EntitySpec]
    budget: Rate | None = None
    budget_scope: Literal["endpoint", "api"] = "endpoint"
    needs_base_url: bool = True
    open_entities: bool = False  # files: any entity name (a file name)
    budget_source: str = ""
    #: credential sets accepted instead of ``credentials`` (accessplanit: an API key instead of a login)
    alternative_credentials: tuple[tuple[str, ...], ...] = ()


def entities(*specs: EntitySpec) -> Mapping[str, EntitySpec]:
    return MappingProxyType({s.name: s for s in specs})


def writes(**modes: WriteSpec) -> Mapping[str, WriteSpec]:
    """An entity's write modes by name (``writes(create=..., update=...)``); a name that is not a
    :class:`WriteMode` is a ``ValueError`` when the catalog is built."""
    return MappingProxyType({WriteMode(mode): spec for mode, spec in modes.items()})


def endpoint(method: str, path: str, budget_key: str | None = None) -> Endpoint:
    return Endpoint(method, path, budget_key if budget_key is not None else path)
