"""How an aNewSpring call is spelled: objects addressed by external ID in the path (one quoted segment per
``{name}`` of the endpoint), commands as form-encoded POSTs whose list parameters repeat their key
(``role=student&role=teacher``) and whose booleans are ``true``/``false``. Pure request building."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from migrator.connectors.anewspring.answers import rejected
from migrator.connectors.base import Request, RowResult, WriteItem
from migrator.connectors.spec import Endpoint

__all__ = ["command", "external_ids", "fill", "form_pairs", "path_params", "query", "segment"]

_PARAM = re.compile(r"\{(\w+)\}")


def segment(value: Any) -> str:
    """An external ID as one path segment."""
    return quote(str(value), safe="")


def path_params(path: str) -> tuple[str, ...]:
    """The parameters of an endpoint's path, in order: ``/subscribe/{userID}/{courseID}`` → ``("userID",
    "courseID")``."""
    return tuple(_PARAM.findall(path))


def fill(path: str, values: Mapping[str, Any]) -> str:
    """``path`` with each ``{name}`` replaced by ``values[name]`` as one path segment."""
    return _PARAM.sub(lambda m: segment(values[m.group(1)]), path)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def form_pairs(payload: Mapping[str, Any], skip: Collection[str] = ()) -> tuple[tuple[str, str], ...]:
    """A payload as form parameters: lists repeat their key, booleans are true/false, None is dropped."""
    pairs: list[tuple[str, str]] = []
    for name, value in payload.items():
        if name in skip or value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            if v is not None:
                pairs.append((name, _text(v)))
    return tuple(pairs)


def command(endpoint: Endpoint, payload: Mapping[str, Any]) -> Request:
    """The form POST of one record to ``endpoint``: its path parameters filled from the record (and left out
    of the form), the record's other fields the form."""
    path = fill(endpoint.path, payload)
    form = form_pairs(payload, skip=path_params(endpoint.path))
    return Request("POST", path, endpoint.budget_key, form=form)


def query(endpoint: Endpoint, payload: Mapping[str, Any]) -> Request:
    """A GET of ``endpoint`` with its path parameters filled from ``payload`` (the exists calls)."""
    return Request("GET", fill(endpoint.path, payload), endpoint.budget_key)


def external_ids(item: WriteItem, names: Sequence[str]) -> RowResult | dict[str, str]:
    """The external IDs ``names`` of ``item``, trimmed, or the rejection of the first one missing or not one
    value."""
    ids: dict[str, str] = {}
    for name in names:
        value = item.payload.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return rejected(item, name, f"{name} (the external ID in the call's path) is required")
        if isinstance(value, list | dict):
            return rejected(item, name, f"{name} must be one value; got {value!r}")
        ids[name] = str(value).strip()
    return ids
