"""The fields a target lists for an entity, asked once per connection and entity in a run.

A writer that sends whole records (accessplanit ``$upsert``) declares the fields it completes a record with,
most of them assumed; where the target lists the fields an entity has (``ListedFieldsWriter``: accessplanit's
module help), the step asks that list before it reads the target's current values, and the writer keeps only
the fields listed. Every step writing the same entity through the same connection shares the one answer. A
list that cannot be had (refused, unreachable, in a form the connector does not know) does not stop the run:
the writer keeps every declared field, and the first step that asked says so in the log and its warnings.
"""

from __future__ import annotations

import anyio
import structlog

from migrator.connectors.base import ListedFieldsWriter
from migrator.errors import ConnectorError
from migrator.runtime.counters import StepCounters
from migrator.transport import Transport

__all__ = ["FieldLists"]

log = structlog.get_logger("migrator.runtime")


class FieldLists:
    """The lists of one run, by connection and request path (an unreadable one as None)."""

    def __init__(self) -> None:
        self._lists: dict[tuple[str, str], frozenset[str] | None] = {}
        self._locks: dict[tuple[str, str], anyio.Lock] = {}

    async def narrow(
        self, target: Transport, writer: ListedFieldsWriter, entity: str, step: str, counters: StepCounters
    ) -> None:
        """Narrow ``writer``'s record fields to those ``target`` lists for ``entity``, asked the first time."""
        request = writer.fields_request()
        if request is None:
            return
        key = (target.name, request.path)
        async with self._locks.setdefault(key, anyio.Lock()):
            if key not in self._lists:
                self._lists[key] = await self._ask(target, writer, entity, step, counters)
        writer.keep_listed(self._lists[key])

    @staticmethod
    async def _ask(
        target: Transport, writer: ListedFieldsWriter, entity: str, step: str, counters: StepCounters
    ) -> frozenset[str] | None:
        declared = writer.record_fields
        request = writer.fields_request()
        assert request is not None
        try:
            response = await target.send(request)
        except ConnectorError as error:  # refused credentials or an unreachable help: the writes will tell
            why = type(error).__name__
        else:
            listed = writer.listed_fields(response)
            if listed is not None:
                held = {name.casefold() for name in listed}
                lacking = sorted(f for f in declared if f.casefold() not in held)
                log.info(
                    "record_fields_listed", step=step, connection=target.name, entity=entity, lacking=lacking
                )
                return listed
            why = f"HTTP {response.status}" if response.status != 200 else "an answer in a form not known"
        log.warning("record_fields_unlisted", step=step, connection=target.name, entity=entity, reason=why)
        counters.warnings.append(
            f"{target.name} did not list the fields of {entity} ({why}): its records are completed with every "
            f"field the connector declares ({', '.join(declared)}); a field the target lacks makes a record "
            "rejected"
        )
        return None
