"""Everything one step needs, built once by the runner: what it reads with, what it writes with and what it
can do, its budgets of concurrency, and where its effects are kept."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrator.connectors.base import Reader
from migrator.journal import Journal
from migrator.plan.mapping import CompiledMap
from migrator.runtime.breakers import Breaker
from migrator.runtime.counters import StepCounters
from migrator.runtime.fetch import PageFeed
from migrator.runtime.ledger import StepLedger
from migrator.runtime.selection import SelectionMode
from migrator.runtime.target_index import CurrentValues, TargetIndex
from migrator.runtime.write_path import WritePath
from migrator.transport import Transport

if TYPE_CHECKING:  # it reads the target through the dry run's stand-ins, which name a step's resolver
    from migrator.runtime.unlisted import Unlisted

__all__ = ["Resolver", "StepSpec"]

#: a crosswalk reference → the target id it resolves to (None: the referenced record has none)
Resolver = Callable[[str, Any], Any]


@dataclass
class StepSpec:
    """One step, ready to run.

    ``feed`` reads the source pages of ``reader``; ``path`` writes with the step's writer (a dry run's writer
    writes nothing). ``update_path``: on a delta run of a create-only step, the writer that updates a changed
    record at its crosswalk target id, in the payload field ``update_id_field``. ``existing``: the target's
    records by match value, so that a create-only step links a record already there instead of creating it
    again (``target_index``). ``current``: a step that updates, the target's current values of the fields it
    writes by match value (``target_index``); ``unlisted``: what those reads' lists may have left out, read
    when a batch names it (``unlisted``); each update keeps what ``overwrite``
    protects and is not sent when it changes nothing (``unchanged``); ``not_compared``: fields left out of that
    comparison (write-only ones, the id an update is addressed by).
    ``breaker``: the step's limits (``breakers``). ``journal`` is read (which records are settled, in doubt,
    done); ``ledger`` keeps the step's effects (nothing, in a dry run).
    """

    plan_name: str
    name: str
    reader: Reader
    feed: PageFeed
    path: WritePath
    target: Transport
    mapping: CompiledMap
    resolve: Resolver
    batch: int
    journal: Journal
    ledger: StepLedger
    breaker: Breaker = field(default_factory=Breaker)
    read_concurrency: int = 4
    write_concurrency: int = 4
    selection: SelectionMode = SelectionMode.NORMAL
    update_path: WritePath | None = None
    update_id_field: str = "id"
    #: a create-only step's target records by match value, read when the step starts (None: unknowable)
    existing: TargetIndex | None = None
    current: CurrentValues | None = None
    unlisted: Unlisted | None = None
    overwrite: Mapping[str, str] = field(default_factory=dict)
    not_compared: frozenset[str] = frozenset()
    counters: StepCounters = field(default_factory=StepCounters)
    on_progress: Callable[[str, StepCounters], None] | None = None

    def report(self) -> None:
        """Tell the progress display how the step stands."""
        if self.on_progress is not None:
            self.on_progress(self.name, self.counters)
