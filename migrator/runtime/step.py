"""One step's pipeline: fetch pages → map → batch → write, joined by bounded memory object streams.

Memory stays flat: at most a few pages and a few batches are in flight whatever the record count, and a slow
or rate-limited target slows the reads. Everything durable goes through the step's ledger, per page and per
batch:

- a record already *done* or *rejected* in the ledger is skipped (resume);
- a batch is *sent* in the journal before its request and *done* after it;
- a record still *sent* from an earlier run is in doubt: an idempotent writer (merge, upsert, update) just
  sends it again; a create-only writer first looks it up on the target by its match key and creates it only
  if it is missing;
- a page is marked done once every record read from it is settled, so a resumed run does not fetch it again;
- a tripped breaker (``breakers``) stops the reads and the mapping; the batches in flight finish and are
  journaled, those not sent yet are dropped (a resumed run writes them), and the step fails naming the limit.

The stages: ``fetch`` (source pages), ``mapper`` (selection, mapping, batching, page tracking), ``write``
(write workers, in-doubt resolution, isolation of all-or-nothing batches).
"""

from __future__ import annotations

from typing import Any

import anyio
import structlog

from migrator.errors import AuthError, JournalStorageError, MigratorError
from migrator.protocol.keys import record_key_function
from migrator.runtime.batch import Batch
from migrator.runtime.counters import StepCounters
from migrator.runtime.failures import StepFailed
from migrator.runtime.mapper import map_and_batch
from migrator.runtime.pages import PageTracker
from migrator.runtime.selection import Selection, SelectionMode
from migrator.runtime.step_spec import StepSpec
from migrator.runtime.write import write_worker

__all__ = ["run_step"]

log = structlog.get_logger("migrator.runtime")


async def run_step(spec: StepSpec) -> StepCounters:
    """Run one step to the end (or raise ``StepFailed``)."""
    journal = spec.journal
    selection = Selection.load(journal, spec.name, spec.selection, updates=spec.update_path is not None)
    sent = journal.sent_payloads(spec.name)
    in_doubt = {key: sent.get(key) for key in journal.keys_in_state(spec.name, "sent")}
    # retry and delta runs read every page again: the records they write are on pages marked done (so does a
    # normal run after an undo)
    normal = spec.selection is SelectionMode.NORMAL and not selection.reread
    done_pages = journal.pages_done(spec.name) if normal else set()
    tracker = PageTracker(spec.ledger)
    counters = spec.counters
    counters.started_at = anyio.current_time()
    spec.breaker.check(counters)  # a resumed step already past a limit stops before its first write
    spec.breaker.raise_if_tripped(spec.name)

    # read ahead: pages queue up while the target works through a backlog of writes (a single-process
    # target serves reads and writes in turn), so mapping never waits for a read stuck behind writes; at most
    # ~6,400 records, so memory stays flat whatever the page size
    page_size = spec.reader.page_size or 100
    pages_ahead = max(4, min(4 * spec.read_concurrency, 6400 // page_size))
    page_send, page_recv = anyio.create_memory_object_stream[tuple[str, list[dict[str, Any]]]](pages_ahead)
    batch_send, batch_recv = anyio.create_memory_object_stream[Batch](spec.write_concurrency)
    key_of = record_key_function(spec.plan_name, spec.name)

    def needed(source_key: str) -> bool:
        """Whether the run writes the record of ``source_key`` (its details are fetched only then)."""
        return not selection.skip_before_mapping(key_of(source_key))

    async def read_and_map() -> None:
        # a tripped breaker cancels this scope: no more pages or batches, the writes in flight finish
        with spec.breaker.reads():
            async with anyio.create_task_group() as reading:
                reading.start_soon(spec.feed.run, done_pages, page_send, needed)
                reading.start_soon(map_and_batch, spec, selection, tracker, page_recv, batch_send)
        await batch_send.aclose()  # closed by the mapper unless it was cancelled before it started

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(read_and_map)
            async with batch_recv:
                for _ in range(spec.write_concurrency):
                    tg.start_soon(write_worker, spec, in_doubt, tracker, batch_recv.clone())
    except BaseExceptionGroup as group:
        raise _step_error(spec, group) from None
    finally:
        if spec.current is not None:
            spec.current.close()  # its scratch database is deleted
    tracker.flush()
    spec.breaker.raise_if_tripped(spec.name)
    counters.finished_at = anyio.current_time()
    spec.report()
    return counters


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for error in group.exceptions:
        out.extend(_leaves(error) if isinstance(error, BaseExceptionGroup) else [error])
    return out


def _step_error(spec: StepSpec, group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error a failed step raises, out of its task group's exception group: the runner tells an
    ``AuthError`` or a ``JournalStorageError`` (stop the run) from any other ``MigratorError`` (this step
    failed) only on a bare error. An answer a connector could not read (malformed JSON, an HTML page with
    status 200, fewer rows than records) becomes a ``StepFailed`` that says so; cancellation and anything else
    not an ``Exception`` pass through as the group."""
    leaves = _leaves(group)
    if any(not isinstance(e, Exception) for e in leaves):
        return group
    for kind in (AuthError, JournalStorageError, MigratorError):
        for error in leaves:
            if isinstance(error, kind):
                return error
    error = leaves[0]
    log.warning("step_unreadable_answer", step=spec.name, error=type(error).__name__)
    detail = spec.target.redactor.text(str(error))[:200]
    return StepFailed(
        f"step {spec.name}: a platform answer could not be read ({type(error).__name__}: {detail}). The "
        "journal is consistent: run again to resume (records in doubt are checked before being written again)"
    )
