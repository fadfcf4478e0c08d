"""What aNewSpring answers, decoded: JSON lists under a key (``{"users": […]}``), ``{"result": bool}`` of the
exists calls, and plain-text errors (often starting with the status code) turned into rejections."""

from __future__ import annotations

from typing import Any

from migrator.connectors.base import Response, RowResult, WriteItem

__all__ = ["exists", "json_list", "reason", "refused", "rejected"]


def json_list(response: Response, key: str) -> list[dict[str, Any]]:
    """The records listed under ``key`` (or a bare array); 204 or an empty body is none."""
    if response.status == 204 or not response.body.strip():
        return []
    body = response.json()
    rows = body.get(key) if isinstance(body, dict) else body
    if not isinstance(rows, list):
        raise ValueError(f"aNewSpring answered no {key!r} list: {response.text(80)!r}")
    return [r for r in rows if isinstance(r, dict)]


def exists(response: Response) -> bool:
    """``{"result": true}``: what an exists call answers when the object is there."""
    if response.status != 200:
        return False
    body = response.json()
    return isinstance(body, dict) and body.get("result") is True


def reason(response: Response) -> str:
    """The plain-text error (or ``{"message"}`` under ``_formatErrors``), without the leading status code."""
    text = response.body[:400].decode("utf-8", "replace").strip()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        text = str(body["message"])
    code = str(response.status)
    if text.startswith(code):
        text = text[len(code) :].strip(" :-")
    return text or f"HTTP {response.status}"


def rejected(item: WriteItem, field: str, reason: str, status: int | None = None) -> RowResult:
    return RowResult(
        item.idem_key, ok=False, action="rejected", status=status, reason=reason, fields={field: [reason]}
    )


def refused(item: WriteItem, response: Response, call: str, hint: str = "") -> RowResult:
    """The rejection of ``item`` by an error answer to ``call`` (``addUser``), with a hint at the cause."""
    why = f"aNewSpring {call} answered {response.status}: {reason(response)}" + (f" ({hint})" if hint else "")
    return rejected(item, "row", why, response.status)
