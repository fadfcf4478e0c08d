"""How OneFile holds values: whole numbers for ids and codes (crosswalk values arrive as text and are
converted), empty values left out (OneFile ignores them), and names and codes compared trimmed and
case-insensitively. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["INT_FIELDS", "normalise", "same", "whole"]

#: Fields OneFile holds as whole numbers.
INT_FIELDS = frozenset(
    {
        "ID",
        "OrganisationID",
        "Role",
        "DefaultAssessorID",
        "ClassroomID",
        "PlacementID",
        "ProviderID",
        "DefaultEmployerID",
        "LearnerStatusID",
        "CustomerID",
    }
)


def whole(value: Any) -> int | None:
    """``value`` as a whole number, or None (a boolean is not one)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def normalise(payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Drop empty values, whole-number fields as ints; problems by field."""
    out: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for name, value in payload.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name in INT_FIELDS:
            number = whole(value)
            if number is None:
                problems.setdefault(name, []).append(f"{name} must be a whole number; got {value!r}")
                continue
            out[name] = number
            continue
        out[name] = value
    return out, problems


def same(a: Any, b: Any) -> bool:
    """Whether two values name the same thing (trimmed, case-insensitive; a missing value matches nothing)."""
    return a is not None and b is not None and str(a).strip().casefold() == str(b).strip().casefold()
