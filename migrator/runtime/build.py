"""Building a step from the plan: its reader and writer, and what each can do, decided here once.

The runner calls ``build_step`` when a step's dependencies are done. A create-only step gets the target's
records by match value (``target_index``), so it links what is already there; a step that updates (update,
upsert, bulk, or the update writer of a delta) gets the target's current values of the fields it writes, for
its overwrite policy and to leave unchanged records unsent (and the state a state step of the plan sets on
the same records, for its pre-images: ``states``). Its breakers start from what the journal holds of it when
a normal run resumes it (``breakers``), but the records an undo took back (``undone``). A dry run gets a
``DryRunWriter`` around the real writer (and the same current values, so that it settles unchanged records as
a run does, and the states the dry run's earlier state steps leave the same records in), a resolver that
knows the records other steps would have written, and a ledger that keeps nothing in the journal; a run gets
the journal's ledger. A delta run of a create-only step also gets the entity's update writer, for changed
records already written."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from migrator.connectors.base import (
    ChangesReader,
    HoldingWriter,
    IdWriter,
    ListedFieldsWriter,
    MembershipKeeper,
    WholeRecordWriter,
    Writer,
)
from migrator.connectors.catalog import entity_spec
from migrator.connectors.registry import make_reader, make_writer
from migrator.graph import StepNode, TaskGraph
from migrator.journal import Journal
from migrator.plan.model import Plan
from migrator.runtime.breakers import Baseline, Breaker
from migrator.runtime.counters import StepCounters
from migrator.runtime.delta import DELTA_MARGIN
from migrator.runtime.dryrun import DryRun, DryRunLedger, DryRunWriter, dry_run_resolver
from migrator.runtime.failures import StepFailed
from migrator.runtime.fetch import page_feed
from migrator.runtime.ledger import JournalLedger, StepLedger
from migrator.runtime.listed_fields import FieldLists
from migrator.runtime.options import RunOptions
from migrator.runtime.selection import SelectionMode
from migrator.runtime.states import kept_states, records_of
from migrator.runtime.step_spec import Resolver, StepSpec
from migrator.runtime.target_index import CurrentValues, TargetIndex, read_current_values, read_target_index
from migrator.runtime.undone import settled_counts
from migrator.runtime.unlisted import Unlisted
from migrator.runtime.write_path import WritePath
from migrator.transport import Transport
from migrator.verify import WRITE_ONLY_FIELDS

__all__ = ["build_step", "connection_folder", "crosswalk_resolver"]

log = structlog.get_logger("migrator.runtime")


def connection_folder(plan: Plan, connection: str, base_dir: Path) -> Path | None:
    """A connection's directory (``path``, its ``${VAR}`` references resolved first:
    :func:`~migrator.plan.env.resolved_paths`), relative to the plan file's folder like table files; None for a
    connection without one."""
    path = plan.connections[connection].path
    if path is None:
        return None
    return Path(path) if Path(path).is_absolute() else base_dir / path


async def build_step(
    plan: Plan,
    graph: TaskGraph,
    node: StepNode,
    *,
    transports: Mapping[str, Transport],
    journal: Journal,
    options: RunOptions,
    counters: StepCounters,
    on_progress: Callable[[str, StepCounters], None] | None,
    base_dir: Path,
    field_lists: FieldLists,
    dry_run: DryRun | None = None,
) -> StepSpec:
    """The step ready to run: its reader, writer and what each can do are decided here, once. A dry run
    keeps what it would have written and rejected in ``dry_run``; ``field_lists`` holds the run's lists of
    the fields a target's entity has."""
    step = plan.steps[node.name]
    source = transports[node.read.connection]
    target = transports[node.write.connection]
    assert node.mapping is not None
    referenced = {ref for _, ref in node.mapping.references}
    page_size = node.page_size or 100
    # as many batches and pages in flight as the connection allows (its `concurrency`, default 8)
    write_conc = options.write_concurrency or step.concurrency or target.limits.concurrency
    read_conc = options.read_concurrency or source.limits.concurrency
    folder = connection_folder(plan, step.write.to, base_dir)
    writer = make_writer(node.write.platform, step.write.entity, node.mode, node.match, folder=folder)
    update_writer: Writer | None = None
    entity = entity_spec(node.write.platform, step.write.entity)
    # a delta of a create-only step updates changed records where the entity can be updated; where it cannot,
    # they are left as they are
    delta = options.selection is SelectionMode.DELTA
    if delta and node.mode == "create" and entity is not None and "update" in entity.writes:
        update_writer = make_writer(node.write.platform, step.write.entity, "update", node.match)
    reader = make_reader(
        node.read.platform,
        step.read.entity,
        step.read.filter,
        page_size,
        node.name,
        (*node.mapping.source_fields, *([step.read.key] if step.read.key else [])),
        key=step.read.key,
        folder=connection_folder(plan, step.read.from_, base_dir),
    )
    since = options.delta_since.get(node.name, options.delta_since.get("*"))
    if delta and since is not None and isinstance(reader, ChangesReader):
        narrowed = reader.changed_since(since - DELTA_MARGIN)
        log.info("delta_read", step=node.name, since=since, narrowed_by_modified_date=narrowed)
    crosswalks = {ref: journal.crosswalk(ref) for ref in referenced}
    ledger: StepLedger
    existing = None
    current: CurrentValues | None = None
    # the current values and a dry run's index are completed with what the target's list left out (a run's
    # create-only step is answered "already there" by the write itself)
    unlisted = Unlisted(target, node.name, step.write.entity)
    # a create-only step links what the target has
    if not writer.idempotent and not options.dry_run:
        existing = await read_target_index(target, node.write.platform, step.write.entity, writer, node.name)
    updates = writer if writer.idempotent else update_writer
    if updates is not None:
        if isinstance(updates, ListedFieldsWriter):  # only the record fields the target's entity has
            await field_lists.narrow(target, updates, step.write.entity, node.name, counters)
        # a writer that sends whole records completes them from the same read (no read per record); the
        # state a later step sets on the same records is read too, for the pre-images (``states``)
        whole = updates.record_fields if isinstance(updates, WholeRecordWriter) else ()
        kept = updates.kept_fields if isinstance(updates, MembershipKeeper) else ()  # what it may drop
        fields = (*node.mapping.fields, *whole, *kept, *kept_states(plan, graph, node.name))
        current = await read_current_values(
            target, node.write.platform, step.write.entity, updates, node.name, fields, unlisted
        )
        if current is None and step.overwrite:
            raise StepFailed(
                f"step {node.name}: overwrite needs the target's current values of {step.write.entity} "
                f"by {', '.join(updates.match_fields) or 'match key'}, and the target could not be read "
                "whole (see the log's target_values_unknown). Remove `overwrite` from the step, or give it "
                "a match key the target's records carry"
            )
    if options.dry_run:
        dry = dry_run if dry_run is not None else DryRun()
        findings = dry.findings(node.name)
        if isinstance(writer, HoldingWriter):  # a target no transport lists (a documents archive)
            index: TargetIndex | None = await writer.holdings()
        else:
            index = await read_target_index(
                target, node.write.platform, step.write.entity, writer, node.name, unlisted
            )
        writer = DryRunWriter(
            writer,
            index,
            current=current,
            counters=counters,
            findings=findings,
            target=target,
            made=dry.made(step.write.to, step.write.entity, writer.match_fields),
            merged=dry.merged.setdefault(step.write.to, {}),
            states=dry.states_of(step.write.to, records_of(node.write.platform, step.write.entity)),
            step=node.name,
        )
        if update_writer is not None:
            update_writer = DryRunWriter(
                update_writer, index, counters=counters, findings=findings, target=target
            )
        resolve = dry_run_resolver(crosswalks, dry)
        ledger = DryRunLedger(node.name, dry)
    else:
        resolve = crosswalk_resolver(crosswalks)
        ledger = JournalLedger(journal, node.name)
    id_field = "id"
    if update_writer is not None:
        real = update_writer.writer if isinstance(update_writer, DryRunWriter) else update_writer
        id_field = real.id_field if isinstance(real, IdWriter) else "id"
    # a resumed normal run counts what the journal holds of the step (but what an undo took back: written
    # again); a retry or a delta counts its own pass
    resumed = options.selection is SelectionMode.NORMAL
    baseline = Baseline.of(settled_counts(journal, node.name)) if resumed else Baseline()
    not_compared = WRITE_ONLY_FIELDS.get((node.write.platform, step.write.entity), frozenset())
    return StepSpec(
        plan_name=graph.name,
        name=node.name,
        reader=reader,
        feed=page_feed(node.name, reader, source, counters, read_conc),
        path=WritePath.of(writer, classified=options.dry_run),
        target=target,
        mapping=node.mapping,
        resolve=resolve,
        batch=min(node.batch, writer.max_batch) if not node.per_record else max(1, min(node.batch, 50)),
        journal=journal,
        ledger=ledger,
        breaker=Breaker(node.limits, baseline),
        read_concurrency=read_conc,
        write_concurrency=write_conc,
        selection=options.selection,
        update_path=None if update_writer is None else WritePath.of(update_writer, classified=options.dry_run),
        update_id_field=id_field,
        existing=existing,
        current=current,
        unlisted=unlisted if unlisted else None,
        overwrite=step.overwrite,
        not_compared=not_compared | ({id_field} if update_writer is not None else set()),
        counters=counters,
        on_progress=on_progress,
    )


def crosswalk_resolver(crosswalks: Mapping[str, Mapping[str, str]]) -> Resolver:
    """Crosswalk references: the target id the referenced step wrote for a source key, or None."""

    def resolve(step: str, key: Any) -> Any:
        walk = crosswalks.get(step)
        return None if walk is None else walk.get(str(key))

    return resolve
