"""What a sample of source records holds, field by field: fill rate, value types, example values, and the
distinct values of the id-like and status-like fields a plan needs (organisations, roles, statuses).

Pure: records in, :class:`FieldStats` out (``migrator peek`` reads the records and shows these). Nested
objects are walked: ``address.city`` is a field, and so is ``groups[].id`` for a list of objects; a list of
plain values is one field of type ``list``. A field whose name says it holds a secret (password, token, key)
shows no value, only ``***``; every example value is cut to ``max_len`` characters.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["SECRET_MASK", "FieldStats", "field_stats", "is_id_like", "is_secret", "shown"]

SECRET_MASK: Final = "***"
#: names of fields whose values are never shown
_SECRET: Final = re.compile(r"pass(word)?|secret|token|api_?key|access_?key|authorization|cookie", re.I)
#: the last part of a field name that holds an id: ``OrganisationID``, ``clientStatusId``, ``role_id``, ``id``
_ID: Final = re.compile(r"^(?i:ids?)$|(?:Id|ID|Ids|IDs)$|[_\-](?i:ids?)$")
#: words that name a small set of values a plan maps: statuses, roles, types
_STATUS: Final = re.compile(r"status|role|type|state|kind|category|level", re.I)


@dataclass(frozen=True, slots=True)
class FieldStats:
    """One field over the sample: ``filled`` of ``records`` hold a value (not null, not empty); its JSON
    types; up to a few distinct example values (as shown); and, for an id-like or status-like field, its
    distinct values with their counts (``values``, most frequent first), unless it is ``unique`` (a value per
    record, such as the record's own key: then the values would be the sample itself)."""

    name: str
    filled: int
    records: int
    types: tuple[str, ...]
    examples: tuple[str, ...]
    secret: bool
    id_like: bool
    unique: bool
    values: tuple[tuple[str, int], ...]

    @property
    def fill_rate(self) -> float:
        return self.filled / self.records if self.records else 0.0


def is_secret(name: str) -> bool:
    """Whether the field's name says it holds a credential."""
    return _SECRET.search(name) is not None


def is_id_like(name: str) -> bool:
    """Whether the field holds an id or one of a small set of statuses, roles or types (by its last part)."""
    last = name.rsplit(".", 1)[-1].removesuffix("[]")
    return _ID.search(last) is not None or _STATUS.search(last) is not None


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _filled(value: Any) -> bool:
    return value is not None and value != "" and not (isinstance(value, list | tuple | Mapping) and not value)


def shown(value: Any, max_len: int) -> str:
    """A value as one line of at most ``max_len`` characters (longer ones end in ``…``)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(shown(v, max_len) for v in value) + "]"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= max_len else text[: max(1, max_len - 1)] + "…"


def _fields(record: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted name, value)`` of every leaf of ``record``; a list of objects gives ``name[].field``."""
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _fields(value, f"{name}.")
        elif isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
            merged: dict[str, list[Any]] = {}
            for item in value:
                for sub, leaf in _fields(item, f"{name}[]."):
                    merged.setdefault(sub, []).append(leaf)
            for sub, leaves in merged.items():
                yield sub, leaves
        else:
            yield name, value


def field_stats(
    records: Sequence[Mapping[str, Any]], *, examples: int = 3, max_len: int = 40, max_values: int = 25
) -> list[FieldStats]:
    """The statistics of every field of ``records``, in the order fields first appear."""
    seen: dict[str, list[Any]] = {}
    for record in records:
        for name, value in _fields(record):
            seen.setdefault(name, []).append(value)
    out: list[FieldStats] = []
    for name, values in seen.items():
        leaves = list(_leaves(name, values))
        filled = [v for v in values if _filled(v)]
        secret = is_secret(name)
        types = tuple(sorted({_type(v) for v in leaves if v is not None}))
        distinct: Counter[str] = Counter(shown(v, max_len) for v in leaves if _filled(v))
        id_like = is_id_like(name) and not secret
        unique = bool(distinct) and max(distinct.values()) == 1 and len(distinct) > max_values
        out.append(
            FieldStats(
                name=name,
                filled=len(filled),
                records=len(records),
                types=types,
                examples=(SECRET_MASK,) if secret and filled else tuple(list(distinct)[:examples]),
                secret=secret,
                id_like=id_like,
                unique=unique,
                values=tuple(distinct.most_common(max_values)) if id_like and not unique else (),
            )
        )
    return out


def _leaves(name: str, values: Iterable[Any]) -> Iterator[Any]:
    """The single values of a field: a ``name[].field`` holds one list per record, its items are the values."""
    for value in values:
        if "[]." in name and isinstance(value, list):
            yield from value
        else:
            yield value
