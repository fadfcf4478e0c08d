"""Updates measured against the target's current values: which fields the plan lets an update overwrite, and
whether what is left would change anything (pure).

**Overwrite policy** (a step's ``overwrite = { field = policy }``), for a record the target already holds:

- ``always`` (the default): the mapped value is written;
- ``if_empty``: written only when the target returns the field empty (``null``, ``""``, ``[]`` or ``{}``); a
  value the target holds is kept, and so is a field it does not return (nothing tells that it is empty);
- ``once``: never written by an update, whatever the target holds (empty included: a value the customer
  cleared stays cleared); only a create writes it.

A kept field is sent with the target's own value rather than left out, so the record stays as it is whether
the platform leaves an omitted field alone or resets it (Velpic ``bulkUserImport`` resets omitted roles). A
field the target did not return cannot be sent back: a kept one is left out of the write.

**Unchanged**: a record whose every written field equals the target's current value is not sent. Values are
compared exactly, in the forms the platforms return what they store:

- strings exactly (case and spaces count);
- a number equals the same number (``1`` and ``1.0``), or the target's text of it (``123`` and ``"123"``:
  employee numbers and ids stored as text); booleans equal only booleans;
- ``null`` equals ``""`` (no value, either way);
- a list equals a list with the same elements, in any order and as many times each (the platforms do not
  promise the order of the lists they return: groups, roles);
- an object equals a target object holding the same value for every key the sent one names (a reference
  ``{"id": 5}`` equals the target's ``{"id": 5, "name": "Sales"}``).

A field the target does not return (absent from the record read) cannot be compared: the record is sent. A
field the target accepts but never returns (write-only: Velpic ``sendWelcomeEmail``) is an instruction to the
platform, not a value it keeps: it is not compared.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["is_empty", "kept_fields", "same_value", "unchanged", "with_overwrite_policy"]


def is_empty(value: Any) -> bool:
    """No value: ``null``, ``""``, ``[]`` or ``{}``."""
    return value is None or (isinstance(value, str | list | tuple | dict) and len(value) == 0)


def _number_text(number: int | float, text: str) -> bool:
    """Whether ``text`` is how a platform writes ``number`` as text (``"123"``; not ``"0123"``, ``" 123"``)."""
    canonical = str(int(number)) if isinstance(number, float) and number.is_integer() else str(number)
    return text == canonical


def same_value(sent: Any, stored: Any) -> bool:
    """Whether the target's ``stored`` value already is ``sent`` (the rules in the module's docstring)."""
    if isinstance(sent, bool) or isinstance(stored, bool):
        return isinstance(sent, bool) and isinstance(stored, bool) and sent is stored
    if sent is None or sent == "":
        return stored is None or stored == ""
    if isinstance(sent, int | float):
        if isinstance(stored, int | float):
            return float(sent) == float(stored)
        return isinstance(stored, str) and _number_text(sent, stored)
    if isinstance(sent, str):
        if isinstance(stored, int | float):
            return _number_text(stored, sent)
        return isinstance(stored, str) and sent == stored
    if isinstance(sent, list | tuple):
        return isinstance(stored, list | tuple) and _same_elements(list(sent), list(stored))
    if isinstance(sent, Mapping):
        return isinstance(stored, Mapping) and all(
            k in stored and same_value(v, stored[k]) for k, v in sent.items()
        )
    return bool(sent == stored)


def _same_elements(sent: list[Any], stored: list[Any]) -> bool:
    """Each sent element matched to its own stored element (a multiset, any order)."""
    if len(sent) != len(stored):
        return False
    left = list(stored)
    for value in sent:
        for i, other in enumerate(left):
            if same_value(value, other):
                del left[i]
                break
        else:
            return False
    return True


def kept_fields(payload: Mapping[str, Any], current: Mapping[str, Any], policy: Mapping[str, str]) -> set[str]:
    """The fields of an update the plan's ``policy`` keeps as the target has them (``current``: the target's
    record, holding only the fields it returned)."""
    kept = set()
    for field, rule in policy.items():
        if field not in payload or rule == "always":
            continue
        if rule == "once" or field not in current or not is_empty(current[field]):
            kept.add(field)
    return kept


def with_overwrite_policy(
    payload: Mapping[str, Any], current: Mapping[str, Any], policy: Mapping[str, str]
) -> dict[str, Any]:
    """An update's payload with the fields ``policy`` keeps set to the target's values (left out when the
    target did not return them)."""
    kept = kept_fields(payload, current, policy)
    if not kept:
        return dict(payload)
    out = {}
    for field, value in payload.items():
        if field not in kept:
            out[field] = value
        elif field in current:
            out[field] = current[field]
    return out


def unchanged(
    payload: Mapping[str, Any], current: Mapping[str, Any], *, write_only: Collection[str] = ()
) -> bool:
    """Whether writing ``payload`` would leave the target's record (``current``) as it is: every field
    compared (but ``write_only`` ones) is returned by the target with the same value."""
    for field, value in payload.items():
        if field in write_only:
            continue
        if field not in current or not same_value(value, current[field]):
            return False
    return True
