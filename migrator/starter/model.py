"""The shape of route knowledge, as data: per (source, target) route, its value tables and its steps, each step
one entity pairing with its field correspondences, and what the route does not carry (and why)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CANNOT_HOLD",
    "CHANGE",
    "NO_MAPPING",
    "ConnectionBlock",
    "FieldMap",
    "Route",
    "StepSpec",
    "TableSpec",
    "m",
]

#: why a source entity is not carried: the target has nowhere to put it ...
CANNOT_HOLD = "target cannot hold it"
#: ... or it could, but how is the customer's choice
NO_MAPPING = "no mapping known: map it yourself"

#: how a note starts that marks a value the customer must set (the sandbox's, as it stands)
CHANGE = "CHANGE"

#: a map entry: an expression (a string) or a constant of another TOML type
Value = str | int | float | bool | list[Any] | dict[str, Any]


@dataclass(frozen=True, slots=True)
class FieldMap:
    """``map.<target> = <value>``, with a comment on the line when ``note`` is set."""

    target: str
    value: Value
    note: str = ""


def m(target: str, value: Value, note: str = "") -> FieldMap:
    """A field correspondence (short to keep the route tables readable)."""
    return FieldMap(target, value, note)


@dataclass(frozen=True, slots=True)
class TableSpec:
    """``[tables.<name>]``: inline ``values`` (and a ``default``) or a CSV ``file``. ``needs`` set: the table is
    data only the customer has (a file to write first), so the plan carries it commented out."""

    name: str
    note: str
    values: Mapping[str, Any] | None = None
    default: Any | None = None
    file: str | None = None
    key_column: str = "key"
    value_column: str = "value"
    needs: str = ""


@dataclass(frozen=True, slots=True)
class ConnectionBlock:
    """``[connections.<label>]`` besides ``source`` and ``target`` (the run's certificate archive, say): its
    fields as written, under its comment."""

    label: str
    note: str
    fields: Mapping[str, Any]

    @property
    def platform(self) -> str:
        return str(self.fields["platform"])


@dataclass(frozen=True, slots=True)
class StepSpec:
    """``[steps.<name>]``: read ``read`` of the source, write ``write`` of the target with ``mode`` / ``match``,
    ``fields`` mapped; ``unmapped`` says why a target field is left out (besides the platform-wide notes).
    ``needs`` set: the step cannot run before the customer supplies it, so the plan carries it commented out.
    ``to``: the connection written, ``target`` or one of the route's ``connections``; ``where``: the step's
    condition on each source record."""

    name: str
    note: str
    read: str
    write: str
    mode: str
    match: str | None
    fields: tuple[FieldMap, ...]
    filter: Mapping[str, Any] = field(default_factory=dict)
    page_size: int | None = None
    key: str | None = None
    batch: int | None = None
    after: tuple[str, ...] = ()
    max_rejected: int | None = None
    unmapped: Mapping[str, str] = field(default_factory=dict)
    needs: str = ""
    to: str = "target"
    where: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """Everything a starter plan of ``source`` -> ``target`` holds: a summary (text pieces, joined and
    wrapped), its tables, its steps in order, ``left_behind``: source entity -> why no step carries it, and
    ``connections``: any besides the source and the target."""

    source: str
    target: str
    summary: tuple[str, ...]
    tables: tuple[TableSpec, ...]
    steps: tuple[StepSpec, ...]
    left_behind: Mapping[str, str] = field(default_factory=dict)
    connections: tuple[ConnectionBlock, ...] = ()
