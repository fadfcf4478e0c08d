"""accessplanit v2 filter expressions: OData literals, the ``$filter`` of a step's read and the
``$upsert``/``$filter`` that finds a record by its match key. Pure text building.

``$filter`` has no grouping parentheses and ``and`` binds tighter than ``or``; values are always
single-quoted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["filter_expression", "match_fields", "match_filter", "odata_literal"]


def odata_literal(value: Any) -> str:
    """A single-quoted OData literal; a quote inside is doubled (``O'Brien`` → ``'O''Brien'``)."""
    return "'" + str(value).replace("'", "''") + "'"


def match_fields(match: str | None) -> tuple[str, ...]:
    """``"Email"`` → ``("Email",)``; a compound key ``"UserID,CourseDateID"`` (a booking is one user on one
    course date) → ``("UserID", "CourseDateID")``."""
    return tuple(f.strip() for f in (match or "").split(",") if f.strip())


def match_filter(fields: Sequence[str], payload: Mapping[str, Any]) -> str:
    """``UserID eq 'josm1' and CourseDateID eq '1001'``: the ``$upsert``/``$filter`` that finds a record."""
    return " and ".join(f"{f} eq {odata_literal(payload.get(f))}" for f in fields)


def filter_expression(filters: Mapping[str, Any]) -> str:
    """``{"Status": "Active", "$filter": "…"}`` → ``Status eq 'Active' and (…)`` clauses joined with ``and``."""
    clauses = []
    for field, value in filters.items():
        if field == "$filter":
            clauses.append(str(value))
        elif isinstance(value, list):
            clauses.append(" or ".join(f"{field} eq {odata_literal(v)}" for v in value))
        else:
            clauses.append(f"{field} eq {odata_literal(value)}")
    return " and ".join(clauses)
