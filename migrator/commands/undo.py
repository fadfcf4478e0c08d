"""``migrator undo PLAN [--run N] [--yes]``: reverse what one run wrote (default: the last run that wrote),
with the runs before it that it resumed (a load killed or stopped, then run again, is undone whole).

Records the run created are removed where the platform's API allows it, records it updated are put back to
the values they had before it (the pre-images it journaled), as :mod:`migrator.undo` works out. First the
command lists what cannot be undone and what a removal leaves on the platform (a Velpic user stays,
inactive), then the reversals; without ``--yes`` it stops there, exit 0, having written nothing. With
``--yes`` it makes them (:mod:`migrator.runtime.undo_run`), journaled like a run, so an undo stopped at any
moment resumes when run again, and writes ``undo-run-<N>.csv`` (step, source keys, target id, reversal,
outcome, detail: what was undone, what could not be and why) into the run's reports folder (``--out DIR``).
The journal keeps the undone run's ledger and the undo's marks (a later undo finds its reversals done): a
later ``migrator run`` of the journal writes the undone run's records again (``runtime.undone``).

Refused (exit 2): a journal bound to other accounts than the env file reaches, a run that a later run wrote
over (undo the later one first), a run the journal does not have. Exit 0 when every reversal is done, 1 when
one failed (its reason is in the report; run again to retry it).
"""

from __future__ import annotations

import argparse
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import anyio

from migrator.commands.connected_plan import ConnectedPlan, add_connected_arguments
from migrator.commands.run import tenants
from migrator.connectors.base import Removal
from migrator.connectors.registry import make_undo_writer
from migrator.journal import Journal
from migrator.private_files import make_private_dir, write_private
from migrator.report import to_csv
from migrator.runtime.connections import build_transport
from migrator.runtime.undo_run import ReversalOutcome, make_undo, step_targets
from migrator.runtime.undone import taken_runs
from migrator.transport import Transport
from migrator.undo import UndoPlan, UndoRefused, plan_undo

__all__ = ["UNDO_HEADER", "add_arguments", "chosen_runs", "run"]

UNDO_HEADER = ("step", "source_keys", "target_id", "reversal", "outcome", "detail")
#: the outcome of a reversal the target had made already (before this undo's call)
_ALREADY = {"remove": "already gone", "restore": "already as before"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_connected_arguments(parser, doing="undo")
    parser.add_argument("--run", type=int, metavar="N", help="the run to undo (default: the last that wrote)")
    parser.add_argument("--yes", action="store_true", help="make the reversals (without it: only the plan)")
    parser.add_argument("--out", metavar="DIR", help="where undo-run-<N>.csv goes (default: the run's reports)")


def run(args: argparse.Namespace) -> int:
    session = ConnectedPlan.of(args)
    loaded, connections, files, name = session.loaded, session.connections, session.files, session.name
    if not files.journal.exists():
        raise UndoRefused(f"no journal at {files.journal} for plan {name!r}: nothing was run, nothing to undo")
    with Journal.open(files.journal, name, redact=session.redactor.text) as journal:
        changes = journal.tenant_changes(tenants(connections))
        if changes:
            raise UndoRefused(
                f"the journal {journal.path} was written with other accounts ({'; '.join(changes)}): an undo "
                "reaches the accounts the run wrote to, or none. Use the env file of that run."
            )
        run_ids = chosen_runs(journal, args.run)
        run_id = run_ids[-1]  # the undo's name and its journal marks
        steps, restorers = step_targets(loaded.plan, session.graph)
        writers = {s.platform: make_undo_writer(s.platform) for s in steps}

        def removal(platform: str, entity: str) -> Removal | str:
            writer = writers.get(platform)
            if writer is None and platform == "files":
                return (
                    "written to files on this machine (a certificates archive, say), not to a platform: "
                    "delete them yourself to discard them"
                )
            if writer is None:
                return f"migrator has no reversal calls for {platform}: remove the records by hand"
            return writer.removal(entity)

        plan = plan_undo(run_id, steps, journal.run_effects(run_ids), removal, journal.undo_marks(run_id))
        _print_plan(name, plan, run_ids)
        if not args.yes:
            print("nothing was changed: run again with --yes to make these reversals")
            return 0
        found = {p: w for p, w in writers.items() if w is not None}
        used = sorted({s.connection for s in steps if any(r.step == s.step for r in plan.reversals)})

        async def main() -> list[ReversalOutcome]:
            async with AsyncExitStack() as stack:
                transports: dict[str, Transport] = {}
                for conn in used:
                    transport = build_transport(
                        loaded.plan,
                        conn,
                        connections[conn],
                        session.redactor,
                        verify_tls=session.verify_tls,
                        time_scale=session.time_scale,
                    )
                    transports[conn] = await stack.enter_async_context(transport)
                return await make_undo(plan, steps, transports, found, restorers, journal)

        outcomes = anyio.run(main)
    out = Path(args.out) if args.out else files.reports
    make_private_dir(out)
    report = out / f"undo-run-{run_id}.csv"
    write_private(report, to_csv(UNDO_HEADER, _rows(plan, outcomes)))
    failed = [o for o in outcomes if o.state == "failed"]
    counts = Counter((o.reversal.kind, o.already) for o in outcomes if o.state == "done")
    print(
        f"undo of run {run_id}: removed {counts[('remove', False)]:,}, "
        f"already gone {counts[('remove', True)]:,}, "
        f"restored {counts[('restore', False)]:,}, already as before {counts[('restore', True)]:,}, "
        f"failed {len(failed):,}, done by an earlier undo {len(plan.finished):,}, "
        f"not undone {len(plan.cannot):,}; details: {report}"
    )
    if outcomes or plan.finished:
        print(
            f"a run of this plan with this journal writes the records of run {_listed(run_ids)} again "
            "(the journal keeps them as undone)"
        )
    return 1 if failed else 0


def chosen_runs(journal: Journal, asked: int | None) -> list[int]:
    """The runs to undo: run ``asked`` (default: the last that wrote) and the runs before it that it resumed
    (those that wrote and did not finish, back to one that did), in order."""
    ids = [int(r["id"]) for r in journal.runs()]
    if asked is not None and asked not in ids:
        raise UndoRefused(f"the journal {journal.path} has no run {asked} (its runs: {_listed(ids)})")
    wrote = journal.runs_that_wrote_after(0)
    if asked is None and not wrote:
        raise UndoRefused(f"no run of the journal {journal.path} wrote anything: nothing to undo")
    last = asked if asked is not None else wrote[-1]
    later = journal.runs_that_wrote_after(last)
    if later:
        raise UndoRefused(
            f"run {last} cannot be undone while the records of runs {_listed(later)} written after it are on "
            f"the target: they may have overwritten its effects. Undo run {later[-1]} first."
        )
    return taken_runs(journal, last)


def _listed(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids) or "none"


def _print_plan(name: str, plan: UndoPlan, run_ids: list[int]) -> None:
    resumed = f" (with the runs it resumed: {_listed(run_ids[:-1])})" if len(run_ids) > 1 else ""
    print(f"undo {name}, run {plan.run_id}{resumed}:")
    reasons = Counter((c.step, c.reason) for c in plan.cannot)
    print(f"cannot be undone: {len(plan.cannot):,} records" + (":" if reasons else ""))
    for (step, reason), n in sorted(reasons.items()):
        print(f"  step {step}: {n:,} records: {reason}")
    for (step, kind, left), n in sorted(plan.remains().items()):
        print(
            f"  step {step}: {n:,} records {'removed' if kind == 'remove' else 'restored'} only in part: {left}"
        )
    kinds = Counter((r.step, r.kind) for r in plan.reversals)
    print(f"to undo: {len(plan.reversals):,} records (done by an earlier undo: {len(plan.finished):,})")
    for (step, kind), n in kinds.items():
        verb = "remove" if kind == "remove" else "restore to their values before the run"
        print(f"  step {step}: {verb} {n:,}")


def _rows(plan: UndoPlan, outcomes: list[ReversalOutcome]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for c in plan.cannot:
        rows.append((c.step, c.source_key, c.target_id or "", "", "not undone", c.reason))
    for r in plan.finished:
        rows.append((r.step, " ".join(r.source_keys), r.target_id, r.kind, "done earlier", r.how))
    for o in outcomes:
        r = o.reversal
        outcome = "failed" if o.state == "failed" else _ALREADY[r.kind] if o.already else "done"
        detail = o.reason if o.state == "failed" else "; ".join(x for x in (r.how, r.left) if x)
        rows.append((r.step, " ".join(r.source_keys), r.target_id, r.kind, outcome, detail))
    return rows
