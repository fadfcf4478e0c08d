"""What a step's read of the target may have left out, read when a write names it.

A nested read whose list of parents may leave some out (``OpenListing``: aNewSpring ``getUsers``, which may or
may not list inactive users; no document says) and did not show itself whole cannot tell "not on the target"
from "not listed". A record the step would then count created — and whose undo would delete it — may be a
customer's user the list left out. So before a batch is judged against the step's view of the target, each
parent its records name that the list did not hold is read by itself, once per step (the reader's own
``children`` request: aNewSpring ``getUser/{id}``, ``getSubscriptions/{id}``), and what it answers joins every
view watching that read (the current values, a dry run's index): a parent the target does not hold answers
204 or 404 and adds nothing. One call per distinct request serves every view of the step."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio
import structlog

from migrator.connectors.base import OpenListing, Reader, Request
from migrator.errors import first_leaf
from migrator.runtime.dryrun import DRY_RUN_ID
from migrator.runtime.failures import StepFailed
from migrator.transport import Transport

__all__ = ["Unlisted"]

log = structlog.get_logger("migrator.runtime")


class Unlisted:
    """The parents a step's reads of the target may have left out, read when a batch names them (see the
    module). ``watch`` each read once it is done (a reader that showed its list whole, or is no
    ``OpenListing``, is not kept); a step with nothing watched needs no ``read``."""

    def __init__(self, transport: Transport, step: str, entity: str) -> None:
        self.transport = transport
        self.step = step
        self.entity = entity
        self.views: list[tuple[OpenListing, Callable[[Mapping[str, Any]], None]]] = []
        self._asked: set[tuple[tuple[str, str], ...]] = set()

    def watch(self, reader: Reader, visit: Callable[[Mapping[str, Any]], None]) -> None:
        """A read of the target is done: when its list may have left parents out, what a parent it did not
        list holds goes to ``visit`` too, once read."""
        if isinstance(reader, OpenListing) and not reader.lists_all:
            self.views.append((reader, visit))

    def __bool__(self) -> bool:
        return bool(self.views)

    async def read(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Every parent of ``records`` (as written) that no list held and this step has not read yet, read
        by itself, its records to each view. A parent named by a dry run's stand-in id (a record it would
        create) is none the target holds."""
        first = self.views[0][0]
        parents: list[Mapping[str, Any]] = []
        for record in records:
            parent = first.parent_of(record)
            if parent is None or DRY_RUN_ID in parent.values() or first.listed(parent):
                continue
            key = tuple(sorted((k, str(v)) for k, v in parent.items()))
            if key not in self._asked:
                self._asked.add(key)
                parents.append(parent)
        if not parents:
            return
        limiter = anyio.Semaphore(max(1, self.transport.limits.concurrency))
        try:
            async with anyio.create_task_group() as tg:
                for parent in parents:
                    tg.start_soon(self._one, parent, limiter)
        except BaseExceptionGroup as group:  # a read refused, or its call failed: that error, as it is
            raise first_leaf(group) from None
        log.info("target_unlisted_read", step=self.step, entity=self.entity, parents=len(parents))

    async def _one(self, parent: Mapping[str, Any], limiter: anyio.Semaphore) -> None:
        answered: dict[tuple[str, str, str], Any] = {}
        for reader, visit in self.views:
            request = reader.children(parent)
            if request is None:
                continue
            key = (request.method, request.path, repr(request.params))
            if key not in answered:
                async with limiter:
                    answered[key] = await self.transport.send(request)
            response = answered[key]
            if response.status in (204, 404):  # not on the target
                continue
            if response.status != 200:
                raise StepFailed(self._refused(request, f"answered {response.status}"))
            try:
                children = reader.decode_children(response, parent)
            except (ValueError, KeyError, TypeError) as error:
                raise StepFailed(self._refused(request, f"answered what cannot be read ({error})")) from None
            for child in children:
                visit(child)

    def _refused(self, request: Request, what: str) -> str:
        return (
            f"step {self.step}: the target's list of {self.entity} may leave records out, so each one it did "
            f"not list is read by itself before it is written; {request.method} {request.path} {what}. Check "
            "the target connection's credentials and rights, then run again (nothing of this batch was written)"
        )
