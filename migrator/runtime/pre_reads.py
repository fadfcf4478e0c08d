"""A writer's reads before it writes (``PreReadWriter``), as a run, a dry run and an undo make them: the reads
``pre_lookups`` names, one after another, and for a writer whose lists may hold more than one page
(``PagedPreReadWriter``) each next page it names from the answers, until it names none. Every answer, in the
order received, is what ``apply_pre_lookups`` completes the records from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from migrator.connectors.base import PagedPreReadWriter, PreReadWriter, Request, Response, WriteItem

__all__ = ["pre_read"]


async def pre_read(
    send: Callable[[Request], Awaitable[Response]], writer: PreReadWriter, items: Sequence[WriteItem]
) -> list[tuple[Response, list[WriteItem]]]:
    """Every answer to ``writer``'s reads for ``items``, each with the records it serves, sent by ``send``."""
    answers: list[tuple[Response, list[WriteItem]]] = []
    reads = writer.pre_lookups(items)
    while reads:
        got = [(await send(request), its) for request, its in reads]
        answers += got
        reads = writer.next_lookups(got) if isinstance(writer, PagedPreReadWriter) else []
    return answers
