"""In-doubt creates: a create-only write whose outcome is unknown is looked up on the target before it is
sent again, so a lost response or a crash between send and answer never creates a record twice.

Two moments: a record still *sent* in the ledger from an earlier run (``found_on_target``, before its batch is
sent), and a call that failed with a transient error (``send_create``: look its records up, then send again
only the missing ones). An idempotent write (merge, upsert, update) is simply sent again by the transport.
A create-only writer that cannot look records up (no ``LookupWriter``) is sent again as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import structlog

from migrator.connectors.base import LookupWriter, Request, RequestWriter, Response, RowResult, WriteItem
from migrator.errors import TransientError
from migrator.runtime.failures import StepFailed
from migrator.runtime.step_spec import StepSpec

__all__ = ["InDoubt", "found_on_target", "send_create"]

#: a step's records in doubt from an earlier run: idempotency key → the payload it was sent with (None when
#: the journal kept none)
InDoubt = Mapping[str, dict[str, Any] | None]

log = structlog.get_logger("migrator.runtime")

#: attempts of one create-only call whose answers are lost, looking its records up between attempts
CREATE_ATTEMPTS = 6


async def look_up(spec: StepSpec, lookups: LookupWriter, item: WriteItem, *, in_doubt: bool) -> str | None:
    """The target id of ``item`` if the target has it (``in_doubt``: its create may have happened)."""
    request = lookups.lookup_request(item)
    if request is None:
        return None
    response = await spec.target.send(request)
    target_id = lookups.decode_lookup(response, item)
    spec.ledger.looked_up(item, request, response, target_id, in_doubt=in_doubt)
    return target_id


async def found_on_target(
    spec: StepSpec, lookups: LookupWriter, items: Sequence[WriteItem], in_doubt: InDoubt
) -> tuple[list[tuple[WriteItem, str]], list[WriteItem]]:
    """Records the target already has (with their ids), and the rest: each record is looked up by its match
    value, and a record in doubt from an earlier run first by the values it was sent with."""
    found: list[tuple[WriteItem, str]] = []
    remaining: list[WriteItem] = []
    for it in items:
        sent = in_doubt.get(it.idem_key)
        was = WriteItem(it.idem_key, it.source_key, sent) if sent else None
        target_id = await look_up(spec, lookups, was, in_doubt=True) if was else None
        if target_id is None:
            target_id = await look_up(spec, lookups, it, in_doubt=it.idem_key in in_doubt)
        if target_id is not None:
            found.append((it, target_id))
        else:
            remaining.append(it)
    return found, remaining


async def send_create(
    spec: StepSpec,
    writer: RequestWriter,
    lookups: LookupWriter | None,
    request: Request,
    items: Sequence[WriteItem],
) -> list[RowResult]:
    """Send one create-only call. A transient failure leaves its outcome unknown: the records are looked up
    before the call is tried again; the ones found are done, and a partly found call returns the others as
    ``pending`` (written again)."""
    attempts = 0
    while True:
        attempts += 1
        response: Response | None = None
        try:
            # a 429 the transport waits out and sends again is journaled as a try of its own
            retried = partial(spec.ledger.attempted, items, request)
            response = await spec.target.send(request, retry_transient=False, retried=retried)
            decoded = writer.decode(response, items)
        except (TransientError, ValueError) as error:
            spec.ledger.attempted(items, request, error if response is None else response)
            if attempts >= CREATE_ATTEMPTS:
                if isinstance(error, ValueError):
                    raise StepFailed(f"step {spec.name}: unreadable write response: {error}") from None
                raise
            log.info("write_in_doubt", step=spec.name, endpoint=request.endpoint, error=type(error).__name__)
            rows: dict[str, RowResult] = {}
            if lookups is not None:
                for it in items:
                    target_id = await look_up(spec, lookups, it, in_doubt=True)
                    if target_id is not None:
                        rows[it.idem_key] = RowResult(it.idem_key, ok=True, target_id=target_id)
            if len(rows) == len(items):
                spec.counters.in_doubt_resolved += len(rows)
                return list(rows.values())
            if rows:
                return [
                    rows.get(it.idem_key) or RowResult(it.idem_key, ok=False, action="pending") for it in items
                ]
            await spec.target.sleep(min(0.05 * 2**attempts, 2.0))
        else:
            spec.ledger.attempted(items, request, response, decoded)
            return decoded
