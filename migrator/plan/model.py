"""The plan, as frozen msgspec Structs.

A plan file (TOML, YAML or JSON) decodes into :class:`Plan`. Every Struct forbids unknown fields, so a typo is
an error rather than a silently ignored key. The write side is a tagged union on ``mode`` (a
:class:`WriteMode`: ``bulk`` | ``upsert`` | ``create`` | ``update``): the modes that need a match key
(``upsert``, ``update``) require it.

Values here are exactly what the file says: ``${VAR}`` references stay unresolved (see :mod:`migrator.plan.env`)
so that a Plan can be printed or hashed without leaking a secret.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "CREDENTIAL_FIELDS",
    "OVERWRITE_POLICIES",
    "PLATFORMS",
    "Budget",
    "BulkWrite",
    "Connection",
    "CreateWrite",
    "Defaults",
    "Limits",
    "MapValue",
    "OnError",
    "Plan",
    "PlanMeta",
    "Platform",
    "Read",
    "Step",
    "Table",
    "UpdateWrite",
    "UpsertWrite",
    "Write",
    "WriteMode",
]

Platform = Literal["velpic", "accessplanit", "accessplanit_v1", "onefile", "anewspring", "files"]
PLATFORMS: tuple[str, ...] = ("velpic", "accessplanit", "accessplanit_v1", "onefile", "anewspring", "files")


class WriteMode(StrEnum):
    """How a step writes (``write.mode``): ``bulk`` import, ``upsert`` (create or update on a match field),
    ``create`` only, ``update`` existing records. The connector catalog declares which an entity supports. A
    member equals its string (``WriteMode.BULK == "bulk"``)."""

    BULK = "bulk"
    UPSERT = "upsert"
    CREATE = "create"
    UPDATE = "update"


#: Connection fields that hold a credential: they must be ``${VAR}`` references, never literal values.
CREDENTIAL_FIELDS: tuple[str, ...] = ("access_key", "username", "password", "api_key", "customer_token")

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0.0, lt=1.0)]
Seconds = Annotated[float, msgspec.Meta(gt=0.0)]

#: A ``map`` entry: a string expression, or a constant of any other TOML type.
MapValue = str | int | float | bool | list[Any] | dict[str, Any]
FilterValue = str | int | float | bool | list[Any]


class _Base(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    pass


class PlanMeta(_Base, frozen=True):
    """``[plan]``: the plan's name (part of every record's idempotency key), a description, the Python
    ``functions`` file the maps may call, and how far a run may be from its approved change set."""

    name: Annotated[str, msgspec.Meta(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    description: str = ""
    #: a Python file beside the plan whose functions maps may call (``call(name, ...)``, ``| fn(name)``)
    functions: str | None = None
    #: how far a run's counts may be from its approved change set (``run --approved``): a count or ``"2%"``
    approval_tolerance: int | str | None = None


class Defaults(_Base, frozen=True):
    """``[defaults]``: values every step uses unless it says otherwise."""

    page_size: PositiveInt | None = None
    batch: PositiveInt | None = None
    max_rejected: NonNegativeInt | None = None
    concurrency: PositiveInt | None = None


class Budget(_Base, frozen=True):
    """A connection's rate budget: ``default`` for every endpoint, per-endpoint overrides, and a ``reserve``
    fraction (0 ≤ reserve < 1) left unused for the customer's own live traffic. Rates read ``"<N>/<unit>"``."""

    default: str | None = None
    endpoints: dict[str, str] = {}
    reserve: Fraction = 0.0


class Connection(_Base, frozen=True):
    """``[connections.<name>]``: where a platform is and how to authenticate (credentials as ``${VAR}``)."""

    platform: Platform
    base_url: str | None = None
    path: str | None = None  # the ``files`` platform: a directory of CSV files
    # what a relative ``path`` is relative to: the plan file's folder, or the run's journal (its own folder,
    # beside its reports: ``migrator.run_files.RunFiles.folder``)
    relative_to: Literal["plan", "journal"] = "plan"
    access_key: str | None = None
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    customer_token: str | None = None
    budget: str | Budget | None = None
    timeout: Seconds = 30.0
    concurrency: PositiveInt | None = None


class Read(_Base, frozen=True):
    """``read = { from, entity, filter, page_size, key }``."""

    from_: str = msgspec.field(name="from")
    entity: str
    filter: dict[str, FilterValue] = {}
    page_size: PositiveInt | None = None
    key: str | None = None  # source key field; default from the connector catalog


class _Write(_Base, frozen=True):
    @property
    def mode(self) -> WriteMode:
        """The write mode (the union's tag)."""
        return WriteMode(str(self.__struct_config__.tag))


class BulkWrite(_Write, frozen=True, tag_field="mode", tag=WriteMode.BULK.value):
    """Bulk import (Velpic ``bulkUserImport``): ``match`` is the mergeType: email, empNo or userName."""

    to: str
    entity: str
    match: str | None = None
    batch: PositiveInt | None = None


class UpsertWrite(_Write, frozen=True, tag_field="mode", tag=WriteMode.UPSERT.value):
    """Create-or-update on a match field (accessplanit ``$upsert``, aNewSpring ``addOrUpdateUser``)."""

    to: str
    entity: str
    match: str
    batch: PositiveInt | None = None


class CreateWrite(_Write, frozen=True, tag_field="mode", tag=WriteMode.CREATE.value):
    """Create only. ``match`` is the target field used to look records up when a batch is in doubt."""

    to: str
    entity: str
    match: str | None = None
    batch: PositiveInt | None = None


class UpdateWrite(_Write, frozen=True, tag_field="mode", tag=WriteMode.UPDATE.value):
    """Update existing records found by ``match``."""

    to: str
    entity: str
    match: str
    batch: PositiveInt | None = None


Write = BulkWrite | UpsertWrite | CreateWrite | UpdateWrite


#: A limit: a count (``500``) or a percentage of the step's records (``"2%"``).
LimitValue = NonNegativeInt | str


class Limits(_Base, frozen=True):
    """``limits = { max_rejected, max_creates, max_updates }``: the step's circuit breakers. The step stops once
    more records than a limit were rejected, created or updated; each is a count (``500``) or a percentage of
    the step's records (``"2%"``). Unset: no limit."""

    max_rejected: LimitValue | None = None
    max_creates: LimitValue | None = None
    max_updates: LimitValue | None = None


class OnError(_Base, frozen=True):
    """The short form of ``limits.max_rejected``: the step stops once more than ``max_rejected`` records were
    refused (unset: never stops for that)."""

    max_rejected: NonNegativeInt | None = None


#: How an update treats a field the target already holds a value in (``overwrite``): ``always`` writes it (the
#: default), ``if_empty`` only when the target's value is empty, ``once`` never (only a create writes it).
OVERWRITE_POLICIES: tuple[str, ...] = ("always", "if_empty", "once")


class Step(_Base, frozen=True):
    """``[steps.<name>]``: read, map, write; ``where`` selects the source records the step migrates;
    ``after`` adds ordering beyond crosswalk references."""

    read: Read
    write: Write
    map: dict[str, MapValue] = {}
    after: list[str] = []
    on_error: OnError | None = None
    concurrency: PositiveInt | None = None
    limits: Limits | None = None
    overwrite: dict[str, str] = {}  # field → one of OVERWRITE_POLICIES (checked in graph.py)
    #: a condition on each source record (the map's expression language); records it is false for are excluded
    where: str | None = None


class Table(_Base, frozen=True):
    """``[tables.<name>]``: a value table for ``lookup(name)``, inline (``values``) or from a CSV ``file`` with
    ``key_column``/``value_column``. ``default`` is used for a value not in the table (else a mapping error)."""

    values: dict[str, Any] | None = None
    file: str | None = None
    key_column: str = "key"
    value_column: str = "value"
    default: Any | None = None


class Plan(_Base, frozen=True):
    """A whole plan file."""

    plan: PlanMeta
    connections: dict[str, Connection]
    steps: dict[str, Step]
    defaults: Defaults = Defaults()
    tables: dict[str, Table] = {}
