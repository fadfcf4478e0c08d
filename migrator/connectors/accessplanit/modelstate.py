"""accessplanit's answer to a refused write (v2 and v1 alike): a 400 whose ``Message`` says why and whose
``ModelState`` names the fields (``{"user.DateOfBirth": ["An error has occurred."]}``), turned into a
rejection of that one record."""

from __future__ import annotations

from migrator.connectors.base import Response, RowResult, WriteItem

__all__ = ["model_state_rejection"]


def model_state_rejection(item: WriteItem, response: Response) -> RowResult:
    fields: dict[str, list[str]] = {}
    reason = response.text()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key, msgs in (body.get("ModelState") or {}).items():
            fields[str(key)] = [str(m) for m in msgs] if isinstance(msgs, list) else [str(msgs)]
        reason = str(body.get("Message") or reason)
        if fields:
            reason += " " + "; ".join(f"{k}: {', '.join(v)}" for k, v in fields.items())
    return RowResult(
        item.idem_key, ok=False, action="rejected", status=response.status, reason=reason, fields=fields
    )
