"""What every Velpic reader and writer shares about calls: a call to a declared endpoint, the records of a list
answer and whether one page holds them all, Velpic's error text, a rejection, the result of a one-record write,
and ids as Velpic takes them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from migrator.connectors.base import Action, Method, Request, Response, RowResult, WriteItem
from migrator.connectors.spec import Endpoint
from migrator.connectors.velpic.spec import MAX_PAGE
from migrator.errors import PermanentError

__all__ = [
    "ONE_PAGE",
    "error_text",
    "id_list",
    "list_total",
    "listed",
    "more_than_a_page",
    "one_written",
    "rejected",
    "request",
    "results",
]

#: the paging parameters of a list read in one call: from the first record, the largest page a list serves.
#: Always sent: a missing ``maxResults`` is "Default is 0" in the document, and what 0 means it does not say.
ONE_PAGE = (("startIndex", "0"), ("maxResults", str(MAX_PAGE)))

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


def listed(response: Response) -> tuple[list[dict[str, Any]], bool]:
    """The records of a list answer read with ``ONE_PAGE``, and whether they are all the list holds: its
    ``meta.totalResultCount`` says no more, or, for a list answered without meta (a user's lesson schedules),
    the page is not full."""
    rows = results(response)
    total = list_total(response)
    if total is not None:
        return rows, total <= len(rows)
    return rows, len(rows) < MAX_PAGE


def list_total(response: Response) -> int | None:
    """The ``meta.totalResultCount`` of a 200 list answer: how many records the whole list holds (None: the
    answer does not say)."""
    body = response.json() if response.status == 200 else None
    meta = body.get("meta") if isinstance(body, dict) else None
    total = meta.get("totalResultCount") if isinstance(meta, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def more_than_a_page(what: str, advice: str, response: Response) -> PermanentError:
    """The error of a list read in one call (``ONE_PAGE``) whose ``response`` says it holds more: ``what``
    names the list, ``advice`` what to do."""
    total, answered = list_total(response), len(results(response))
    holds = f"{total:,}" if total is not None else f"at least {answered:,}"  # a full page, and no total
    return PermanentError(
        f"Velpic: {what} holds {holds} records, more than the one page this call reads ({answered:,} "
        f"answered to maxResults={MAX_PAGE}); {advice}"
    )


def error_text(response: Response) -> str:
    """Velpic's reason for a refusal, from the fields its document gives error bodies: ``message`` ("a
    description of the error"), else ``error`` when it is text (the group-not-found body has ``"error": true``),
    with ``reason`` after it when it says something else; else the body as text."""
    try:
        body = response.json()
    except ValueError:
        return response.text()
    if not isinstance(body, dict):
        return response.text()
    texts = {
        k: v.strip() for k in ("message", "error", "reason") if isinstance(v := body.get(k), str) and v.strip()
    }
    main = texts.get("message") or texts.get("error")
    reason = texts.get("reason")
    if main is None:
        return reason or response.text()
    return f"{main} ({reason})" if reason and reason != main else main


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
