"""How the write stage writes with one writer, decided once when the step is built."""

from __future__ import annotations

from dataclasses import dataclass

from migrator.connectors.base import DirectWriter, LookupWriter, PreReadWriter, RequestWriter, Writer

__all__ = ["WritePath"]


@dataclass(frozen=True)
class WritePath:
    """A writer and what it can do: write itself (``direct``) or through HTTP calls (``calls``); look a
    record up when its create is in doubt (``lookups``: create-only writers that can); read from the target
    before writing (``pre_reads``). ``classified``: its results already say whether each record was created
    or updated as the target holds it (a dry run's writer classifies every record itself), so the write stage
    does not tell them apart again."""

    writer: Writer
    direct: DirectWriter | None = None
    calls: RequestWriter | None = None
    lookups: LookupWriter | None = None
    pre_reads: PreReadWriter | None = None
    classified: bool = False

    @classmethod
    def of(cls, writer: Writer, *, classified: bool = False) -> WritePath:
        if isinstance(writer, DirectWriter):
            return cls(writer, direct=writer, classified=classified)
        if not isinstance(writer, RequestWriter):
            raise TypeError(f"{type(writer).__name__} writes neither directly nor through requests")
        lookups = writer if not writer.idempotent and isinstance(writer, LookupWriter) else None
        pre_reads = writer if isinstance(writer, PreReadWriter) else None
        return cls(writer, calls=writer, lookups=lookups, pre_reads=pre_reads, classified=classified)
