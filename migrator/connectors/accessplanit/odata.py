"""accessplanit v2 filter expressions: OData literals, the ``$filter`` expressions of a step's read and the
``$upsert``/``$filter`` that finds a record by its match key. Pure text building.

The document allows ``and`` and ``or`` but "filter logic using parenthesis is not supported", and it does not
say which of the two binds tighter. So every expression built here means the same whatever the precedence: an
``and`` chain, or an ``or`` chain, never both. A read whose filter needs both (a list of values beside another
field: ``Status in (A, B) and Type eq X``) becomes several ``and`` chains, one per combination of list values,
read one after the other and merged by record key. Values are always single-quoted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import product
from typing import Any

from migrator.connectors.base import SettingError

__all__ = ["filter_variants", "has_or", "match_fields", "match_filter", "odata_literal"]

#: a single-quoted OData literal (a doubled quote inside), skipped when looking for keywords
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_OR = re.compile(r"\bor\b", re.IGNORECASE)


def odata_literal(value: Any) -> str:
    """A single-quoted OData literal; a quote inside is doubled (``O'Brien`` → ``'O''Brien'``)."""
    return "'" + str(value).replace("'", "''") + "'"


def has_or(expression: str) -> bool:
    """Whether ``expression`` joins clauses with ``or`` (outside its quoted values)."""
    return _OR.search(_LITERAL.sub("''", expression)) is not None


def match_fields(match: str | None) -> tuple[str, ...]:
    """``"Email"`` → ``("Email",)``; a compound key ``"UserID,CourseDateID"`` (a booking is one user on one
    course date) → ``("UserID", "CourseDateID")``."""
    return tuple(f.strip() for f in (match or "").split(",") if f.strip())


def match_filter(fields: Sequence[str], payload: Mapping[str, Any]) -> str:
    """``UserID eq 'josm1' and CourseDateID eq '1001'``: the ``$upsert``/``$filter`` that finds a record (one
    value per field: an ``and`` chain)."""
    return " and ".join(f"{f} eq {odata_literal(payload.get(f))}" for f in fields)


def filter_variants(filters: Mapping[str, Any], also: Sequence[str] = ()) -> tuple[str, ...]:
    """The ``$filter`` expressions that together select what ``filters`` says, each an ``and`` chain or an
    ``or`` chain: ``{}`` → ``()``; ``{"Status": "Active", "Type": "X"}`` → one ``and`` chain; a list alone
    (``{"Status": ["A", "B"]}``) → one ``or`` chain; a list beside other fields → one ``and`` chain per
    combination of list values (``Status eq 'A' and Type eq 'X'``, ``Status eq 'B' and Type eq 'X'``), which
    select records apart (``_apart``). A
    ``"$filter"`` entry is the plan's own expression: used as written when alone, and joined with ``and``
    otherwise, which it may be only when it has no ``or``. Raises ``SettingError`` for an empty list and for a
    ``$filter`` with ``or`` beside other filters. ``also``: more clauses every expression must hold (a delta
    run's modification date), joined like the filters."""
    own = filters.get("$filter")
    if own is not None and (len(filters) > 1 or also) and has_or(str(own)):
        raise SettingError(
            "read.filter.$filter",
            "accessplanit filters have no parentheses, so a $filter with 'or' cannot be joined with the step's "
            "other filters: write the whole condition in $filter, or list the values of one field",
        )
    fixed: list[str] = []
    lists: list[list[str]] = []  # per listed field: the clause chain of each value
    alone: list[str] = []  # the one listed field's values as plain clauses (an ``or`` chain)
    for field, value in filters.items():
        if field == "$filter":
            fixed.append(str(value))
        elif isinstance(value, list):
            values = list(dict.fromkeys(str(v) for v in value))
            if not values:
                raise SettingError(
                    f"read.filter.{field}",
                    "an empty list selects nothing: give at least one value, or remove it",
                )
            lists.append([_apart(field, v, values[:i]) for i, v in enumerate(values)])
            alone = [f"{field} eq {odata_literal(v)}" for v in values]
        else:
            fixed.append(f"{field} eq {odata_literal(value)}")
    fixed.extend(also)
    if not lists:
        return (" and ".join(fixed),) if fixed else ()
    if not fixed and len(lists) == 1:
        return (" or ".join(alone),)
    return tuple(" and ".join((*fixed, *combination)) for combination in product(*lists))


def _apart(field: str, value: str, earlier: Sequence[str]) -> str:
    """``field eq value``, kept apart from the earlier values the platform may take as the same one (they differ
    only in case or surrounding spaces: whether ``eq`` tells them apart is not documented), so that the parts
    of a split read never find one record twice."""
    same = [e for e in earlier if e.strip().casefold() == value.strip().casefold()]
    return " and ".join(
        [f"{field} eq {odata_literal(value)}", *(f"{field} ne {odata_literal(e)}" for e in same)]
    )
