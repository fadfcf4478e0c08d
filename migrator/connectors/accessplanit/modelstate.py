"""accessplanit's answer to a refused call (v2 and v1 alike): a 400 whose ``Message`` says why and whose
``ModelState`` names the fields (``{"user.DateOfBirth": ["An error has occurred."]}``), turned into a
rejection of that one record (a write), or into the error that stops a step (a lookup of a create in doubt)."""

from __future__ import annotations

from collections.abc import Sequence

from migrator.connectors.base import Response, RowResult, WriteItem
from migrator.errors import PermanentError

__all__ = ["model_state_rejection", "refused_lookup"]


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


def refused_lookup(response: Response, fields: Sequence[str]) -> PermanentError:
    """The error for a lookup of a create in doubt that accessplanit refused: whether the record was created
    cannot be told, so it is not sent again."""
    reason = model_state_rejection(WriteItem("", "", {}), response).reason or f"HTTP {response.status}"
    return PermanentError(
        f"accessplanit refused the lookup by {', '.join(fields)} of a record whose create is in doubt "
        f"(HTTP {response.status}: {reason[:200]}): whether it was created cannot be told, so it is not sent "
        "again. Check the target for it, and choose a match key the module can filter on (its $filter "
        "refuses some fields)."
    )
