"""What every Velpic reader and writer shares about calls: a call to a declared endpoint, the records of a list
answer, Velpic's error text, a rejection, the result of a one-record write, and ids as Velpic takes them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from migrator.connectors.base import Action, Method, Request, Response, RowResult, WriteItem
from migrator.connectors.spec import Endpoint

__all__ = ["error_text", "id_list", "one_written", "rejected", "request", "results"]

_SEGMENT = re.compile(r"\{\w+\}")


def request(
    endpoint: Endpoint, *ids: object, params: tuple[tuple[str, str], ...] = (), json: Any = None
) -> Request:
    """A call to ``endpoint`` (its path and budget key), the ``{name}`` segments of its path filled in order
    with ``ids``. Every call but a GET writes to the target."""
    path = endpoint.path
    if ids:
        values = iter(ids)
        path = _SEGMENT.sub(lambda _: str(next(values)), path)
    method = cast(Method, endpoint.method)
    return Request(method, path, endpoint.budget_key, params=params, json=json)


def results(response: Response) -> list[dict[str, Any]]:
    """The records of a 200 list answer (``{"results": […]}``); none for any other answer."""
    if response.status != 200:
        return []
    body = response.json() or {}
    rows = body.get("results") if isinstance(body, dict) else None
    return [row for row in rows or [] if isinstance(row, dict)]


def error_text(response: Response) -> str:
    """Velpic's reason for a refusal: ``error``, ``message`` or ``reason`` of the body, else the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text()
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body.get("reason") or body)
    return response.text()


def rejected(item: WriteItem, problems: Mapping[str, list[str]], status: int | None = None) -> RowResult:
    """``item`` refused, with its problems by field (the reason joins them)."""
    reason = "; ".join(msg for msgs in problems.values() for msg in msgs)
    return RowResult(item.idem_key, ok=False, action="rejected", status=status, reason=reason, fields=problems)


def one_written(item: WriteItem, response: Response, action: Action) -> RowResult:
    """The result of a one-record write whose 200 answer carries the record's ``id``."""
    if response.status == 200:
        body = response.json() or {}
        return RowResult(item.idem_key, ok=True, target_id=str(body.get("id")), action=action)
    return rejected(item, {"row": [error_text(response)]}, response.status)


def id_list(value: Any) -> list[int] | None:
    """``5``, ``"5"``, ``[5, "6"]`` → ``[5, 6]``; None when a value is not a whole number."""
    items = value if isinstance(value, list) else [value]
    out: list[int] = []
    for item in items:
        if isinstance(item, bool):
            return None
        try:
            out.append(int(str(item).strip()))
        except ValueError:
            return None
    return out
