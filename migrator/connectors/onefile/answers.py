"""What OneFile answers, decoded: search results (a JSON array; 204 or an empty body when nothing matches),
the bare id of a created record, and the reason in an error answer, turned into a rejection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migrator.connectors.base import Response, RowResult, WriteItem
from migrator.connectors.onefile.values import whole

__all__ = ["bare_id", "message", "refused", "rejected", "rows"]


def rows(response: Response) -> list[dict[str, Any]]:
    """A search answer: a JSON array, or 204 / an empty body when nothing matches."""
    if response.status == 204 or not response.body.strip():
        return []
    body = response.json()
    if isinstance(body, list):
        return [r for r in body if isinstance(r, dict)]
    if isinstance(body, dict):
        return [body]
    raise ValueError(f"OneFile answered {type(body).__name__} where a list of records was expected")


def bare_id(response: Response) -> str:
    """``POST /User`` and ``POST /Placement`` answer the new ID as a bare integer."""
    try:
        body = response.json()
    except ValueError:
        body = response.text().strip().strip('"')
    if isinstance(body, dict):
        lowered = {str(k).casefold(): v for k, v in body.items()}
        body = lowered.get("id")
    number = whole(body)
    if number is None:
        raise ValueError(f"OneFile answered {response.text(80)!r} where the new record's ID was expected")
    return str(number)


def message(response: Response) -> str:
    """The reason in an error answer: ``{"message"}`` / ``{"Message"}`` (any casing), else the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text()
    if isinstance(body, dict):
        lowered = {str(k).casefold(): v for k, v in body.items()}
        for key in ("message", "error", "reason"):
            if lowered.get(key):
                return str(lowered[key])
    if isinstance(body, str) and body:
        return body
    return response.text() or f"HTTP {response.status}"


def rejected(
    item: WriteItem, problems: Mapping[str, list[str]], status: int | None = None, reason: str = ""
) -> RowResult:
    """The rejection of ``item`` for ``problems`` (by field); ``reason`` defaults to their messages."""
    reason = reason or "; ".join(dict.fromkeys(m for msgs in problems.values() for m in msgs))
    return RowResult(
        item.idem_key, ok=False, action="rejected", status=status, reason=reason, fields=dict(problems)
    )


def refused(item: WriteItem, response: Response, what: str) -> RowResult:
    """The rejection of ``item`` by an error answer to the write of ``what``."""
    text = message(response)
    return rejected(
        item, {"row": [text]}, response.status, f"OneFile refused the {what} (HTTP {response.status}): {text}"
    )
