"""The inventory of a run's sources: how many records each source entity holds, by status, counted before
anything is written (``migrator run``) or on request (``explain --probe``).

Each :class:`~migrator.coverage.Slice` (connection, entity, status and the read filter that selects it) is
counted once, all of them at once (a source far away answers the counts in about one round trip, not one per
slice), each through its connection's own transport and so within its concurrency and rate budget: a reader
that counts itself (:class:`~migrator.connectors.base.CountingReader`: a local file) is asked; a list whose
answer says its total (Velpic ``meta.totalResultCount``, accessplanit ``$count``) costs one request of one
record; any other list is read page by page, at its largest page, and its records counted. What cannot be
counted (a nested list, read once per parent record; a list that needs a filter no step gives; an answer other
than 200) is a :class:`~migrator.coverage.Tally` without a count, whose note says why — never an error: the
inventory informs the run, it does not stop it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anyio

from migrator.connectors.base import CountingReader, EngineSupportError, Page, PagedReader, StreamReader
from migrator.connectors.catalog import CATALOG, entity_spec
from migrator.connectors.registry import make_reader
from migrator.coverage import Slice, Tally, slices
from migrator.errors import MigratorError
from migrator.logging import Redactor
from migrator.plan.env import ResolvedConnection, resolved_paths
from migrator.plan.model import Plan
from migrator.protocol.pagination import NextPage, PageRequest, RemainingPages
from migrator.runtime.build import connection_folder
from migrator.runtime.connections import OpenedTransports
from migrator.transport import Transport

__all__ = ["take_inventory"]

_EMPTY = Page([])


async def take_inventory(
    plan: Plan,
    connections: Mapping[str, ResolvedConnection],
    redactor: Redactor,
    *,
    base_dir: Path,
    verify_tls: bool = True,
    time_scale: float = 1.0,
) -> list[Tally]:
    """One tally per (source connection, entity, status) of the plan, in :func:`~migrator.coverage.slices`
    order (whatever order the counts are answered in)."""
    plan = resolved_paths(plan, connections)
    opened = OpenedTransports(plan, connections, redactor, verify_tls=verify_tls, time_scale=time_scale)
    pieces = slices(plan, CATALOG)
    tallies: list[Tally] = [_tally(piece, None, piece.uncountable) for piece in pieces]
    async with opened:

        async def tally(index: int, piece: Slice) -> None:
            try:
                count, note = await _count(plan, piece, base_dir, opened)
            except MigratorError as error:
                count, note = None, redactor.text(str(error))[:300]
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                count, note = None, f"the source's answer could not be read ({type(error).__name__})"
            tallies[index] = _tally(piece, count, note)

        async with anyio.create_task_group() as group:
            for index, piece in enumerate(pieces):
                if not piece.uncountable:
                    group.start_soon(tally, index, piece)
    return tallies


def _tally(piece: Slice, count: int | None, note: str) -> Tally:
    return Tally(piece.connection, piece.entity, piece.status, count, note)


async def _count(
    plan: Plan,
    piece: Slice,
    base_dir: Path,
    transport: OpenedTransports,
) -> tuple[int | None, str]:
    spec = entity_spec(piece.platform, piece.entity)
    paging = spec.read.paging if spec is not None and spec.read is not None else None
    knows_total = paging is not None and paging.knows_total and paging.style not in ("unpaged", "file")
    largest = paging.max_size if paging is not None and paging.max_size else 100
    folder = connection_folder(plan, piece.connection, base_dir)

    def reader_of(size: int) -> PagedReader | StreamReader:
        return make_reader(
            piece.platform, piece.entity, piece.filters, size, f"inventory:{piece.entity}", folder=folder
        )

    try:
        reader = reader_of(1 if knows_total else largest)
    except EngineSupportError as error:
        return None, f"the connector cannot read it ({error})"
    if isinstance(reader, CountingReader):
        return await reader.count(), ""
    if isinstance(reader, StreamReader):
        return sum([len(records) async for _, records in reader.pages(())]), ""
    source = await transport(piece.connection)
    if knows_total:
        response = await source.send(reader.page_request(reader.paginator().first()))
        if response.status != 200:
            return None, f"the count's request answered HTTP {response.status}"
        total = reader.decode_page(response).total
        if total is not None:
            return total, ""
        # the answer did not say its total after all: read the list at its largest page
        reader = reader_of(largest)
        assert isinstance(reader, PagedReader)
    return await _read_count(reader, source)


async def _read_count(reader: PagedReader, source: Transport) -> tuple[int | None, str]:
    """The records of a whole list, read page by page as its paginator plans them."""
    pager = reader.paginator()
    pending: list[PageRequest] = [pager.start(())]
    seen = 0
    while pending:
        request = pending.pop(0)
        response = await source.send(reader.page_request(request))
        if response.status not in (200, 204):
            return None, f"the count's request answered HTTP {response.status}"
        page = reader.decode_page(response) if response.status == 200 else _EMPTY
        seen += len(page.records)
        outcome = pager.receive(request, page)
        if isinstance(outcome, NextPage):
            pending.append(outcome.request)
        elif isinstance(outcome, RemainingPages):
            pending.extend(outcome.requests)
    return seen, ""
