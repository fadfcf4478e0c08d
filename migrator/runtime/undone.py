"""What ``migrator undo`` took back, as the journal tells it: the runs an undo takes, and the records of
those runs that a normal run writes again.

An undo of run N takes N together with the runs before it that N resumed (those that wrote and did not
finish, back to one that finished: a load killed and resumed is undone whole). Once an undo has made any of
its reversals (its marks are in the journal), every record those runs wrote last is no longer settled for a
normal run: the next ``migrator run`` writes them again (a record the undo removed is created again, one it
restored is updated again, one it could not undo is found on the target as the run left it: linked, or
unchanged), and its limits' starting figures leave them out (``settled_counts``). A record a later run wrote
is that run's, not the undone one's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from migrator.journal import Journal, LedgerCounts, RunEffect
from migrator.protocol.keys import record_key_function

__all__ = ["settled_counts", "taken_runs", "undone_keys"]


def taken_runs(journal: Journal, last: int) -> list[int]:
    """The runs an undo of run ``last`` takes: ``last`` and the runs before it that it resumed, in order."""
    wrote = set(journal.runs_that_wrote_after(0))
    chosen = [last]
    for r in reversed([r for r in journal.runs() if int(r["id"]) < last]):
        if r["status"] == "done":
            break
        if int(r["id"]) in wrote:
            chosen.insert(0, int(r["id"]))
    return chosen


def undone_keys(journal: Journal, step: str) -> set[str]:
    """The idempotency keys of ``step``'s records that an undo took back and no run wrote since."""
    effects = _undone_effects(journal, step)
    if not effects:
        return set()
    key_of = record_key_function(journal.plan_name, step)
    return {key_of(e.source_key) for e in effects}


def settled_counts(journal: Journal, step: str) -> LedgerCounts | None:
    """What the journal holds of ``step`` (``Journal.step_counts``) but the records an undo took back and no
    run wrote since: a normal run writes those again, so its limits' starting figures leave them out."""
    counts = journal.step_counts().get(step)
    effects = _undone_effects(journal, step)
    if counts is None or not effects:
        return counts
    actions = Counter(e.action for e in effects)
    return replace(
        counts,
        records_done=counts.records_done - len(effects),
        created=counts.created - actions["created"],
        updated=counts.updated - actions["updated"],
        unchanged=counts.unchanged - actions["unchanged"],
    )


def _undone_effects(journal: Journal, step: str) -> list[RunEffect]:
    """The records of ``step`` that an undo took back and no run wrote since, as the undone runs left them."""
    undone = [
        run
        for r in journal.runs()
        if journal.undo_marks(int(r["id"]))
        for run in taken_runs(journal, int(r["id"]))
    ]
    if not undone:
        return []
    return [e for e in journal.run_effects(undone) if e.step == step]
