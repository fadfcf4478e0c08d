"""What a write may drop of a record beyond what it sends, kept across the batch and put back after it.

A ``MembershipKeeper`` (Velpic ``bulkUserImport``: a merged user's groups) names the fields its call may
drop. Before a batch is sent, each record's values of them on the target are taken from the step's read of
the target's current values and journaled with the batch, in the record's sent payload under ``KEPT``; a
record in doubt from a run that stopped after its call keeps the values that run journaled (the target's
may be dropped by now). After the batch's calls, what each record's answer (or, for a record not sent, its
current values) no longer holds is put back with the keeper's ``restores``: they are safe to send again, so a
run killed before they finished sends them again on resume, from the journaled values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from migrator.connectors.base import MembershipKeeper, WriteItem
from migrator.journal import WriteResult
from migrator.runtime.indoubt import InDoubt
from migrator.runtime.step_spec import StepSpec
from migrator.runtime.target_index import TargetRecord

__all__ = ["KEPT", "kept_before", "put_back"]

log = structlog.get_logger("migrator.runtime")

#: the sent payload's key of what the record held of the keeper's fields before (``[target id, values]``)
KEPT = "_kept"
#: record idempotency key → (target id, values before)
Kept = dict[str, tuple[str, dict[str, Any]]]


def kept_before(
    keeper: MembershipKeeper,
    items: Sequence[WriteItem],
    matched: Mapping[str, str | None],
    held: Mapping[str, TargetRecord],
    in_doubt: InDoubt,
) -> Kept:
    """Each record's values of the keeper's fields before this batch: as journaled by the run that left it in
    doubt, else as the target's current values hold them (a record the target holds alone, read before the
    run wrote it); records with none are left out."""
    kept: Kept = {}
    for it in items:
        journaled = (in_doubt.get(it.idem_key) or {}).get(KEPT)
        if isinstance(journaled, list) and len(journaled) == 2 and isinstance(journaled[1], dict):
            kept[it.idem_key] = (str(journaled[0]), journaled[1])
            continue
        value = matched.get(it.idem_key)
        record = held.get(value) if value is not None else None
        if record is None or record.shared or record.written:
            continue
        values = {f: record.values[f] for f in keeper.kept_fields if record.values.get(f)}
        if values:
            kept[it.idem_key] = (record.target_id, values)
    return kept


async def put_back(
    spec: StepSpec,
    keeper: MembershipKeeper,
    kept: Kept,
    results: Sequence[WriteResult],
    answered: Mapping[str, dict[str, Any] | None],
    current: Mapping[str, dict[str, Any]],
) -> None:
    """Send the restores of what each written record lost: its ``answered`` values after the call, or, for a
    record settled without one, its ``current`` values (a rejected record is left alone). A refused restore
    is a warning of the step; a call that fails (retries spent) stops the step, its batch left in doubt."""
    users: list[tuple[str, Mapping[str, Any], Mapping[str, Any] | None]] = []
    for result in results:
        entry = kept.get(result.idem_key)
        if entry is None:
            continue
        target_id, before = entry
        after = answered.get(result.idem_key) if result.idem_key in answered else current.get(result.idem_key)
        users.append((result.target_id or target_id, before, after))
    for request in keeper.restores(users):
        response = await spec.target.send(request, retry_transient=True)
        if 200 <= response.status < 300:
            log.info("kept_restored", step=spec.name, path=request.path, users=request.json)
            continue
        spec.counters.warnings.append(
            spec.target.redactor.text(
                f"{request.method} {request.path} {request.json} (putting back what the write dropped) "
                f"answered HTTP {response.status}: {response.text(200)}"
            )
        )
