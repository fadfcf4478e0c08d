"""accessplanit's list of a v2 module's fields: ``GET /accessplan/apihelp/v2/modules/{module}``. Pure.

The document says the answer is "a list of the fields available within for your chosen module and supporting
information for each; including whether each field can be sorted, filtered, and it’s data type", and shows its
form only as an image. So it is read in any plausible form: a list of fields, bare or under a key such as
``Fields`` or ``Properties`` (any case), each a name or an object naming it (``Name``, ``FieldName``,
``PropertyName``, …, any case); or an object of field name → its information. The help is served beside the
API, not under it: its path is relative to the connection's base URL (``…/accessplan/api/v2``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from migrator.connectors.base import Request, Response
from migrator.connectors.spec import endpoint

__all__ = ["MODULE_HELP", "help_request", "listed_fields"]

#: the help of one module, from the API's base URL ``…/accessplan/api/v2`` to ``…/accessplan/apihelp/v2``;
#: counted on its own budget key
MODULE_HELP = endpoint("GET", "/../../apihelp/v2/modules/{module}", "/apihelp")
#: where an answer object may hold its list of fields, compared without case
_LIST_KEYS = ("fields", "properties", "columns", "results", "data", "items", "value")
#: what a field object may name its field by, compared without case
_NAME_KEYS = ("name", "fieldname", "field", "propertyname", "apiname", "columnname", "key", "id")


def help_request(module: str) -> Request:
    """The request for the fields of ``module``."""
    return Request("GET", MODULE_HELP.path.replace("{module}", module), MODULE_HELP.budget_key)


def listed_fields(response: Response, key: str) -> frozenset[str] | None:
    """The field names the help of a module answered, as it spells them; None when the answer is not a
    success or names no field in a form known here, or does not name the module's record key ``key`` (every
    module has one: a list without it is not the module's fields)."""
    if response.status != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    names = frozenset(_names(body))
    return names if key.casefold() in {n.casefold() for n in names} else None


def _get(body: Mapping[str, Any], names: Sequence[str]) -> Any:
    """The value of the first of ``names`` that ``body`` holds, its keys compared without case."""
    folded = {str(k).casefold(): v for k, v in body.items()}
    return next((folded[n] for n in names if n in folded), None)


def _names(body: Any) -> list[str]:
    if isinstance(body, Mapping):
        listed = _get(body, _LIST_KEYS)
        if isinstance(listed, list | Mapping):
            return _names(listed)
        # an object of field name → its information (each an object)
        if body and all(isinstance(v, Mapping) for v in body.values()):
            return [str(k) for k in body]
        return []
    if not isinstance(body, list):
        return []
    names: list[str] = []
    for entry in body:
        name = _get(entry, _NAME_KEYS) if isinstance(entry, Mapping) else entry
        if isinstance(name, str) and name.strip():
            names.append(name.strip())
    return names
