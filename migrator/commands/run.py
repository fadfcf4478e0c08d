"""``migrator run PLAN``: run (or resume) a migration. Exit 0 done, 3 done with rejected records, 2 plan
error, 1 failure (the journal is consistent: run again to resume)."""

from __future__ import annotations

import argparse
import gc
import hashlib
import ipaddress
import json
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import msgspec

from migrator.commands._plan_args import add_plan_arguments, environment
from migrator.connectors.catalog import CATALOG
from migrator.coverage import (
    StepCount,
    Tally,
    kept_tallies,
    plan_coverage,
    rows_to_json,
    summary_lines,
    tallies_to_json,
)
from migrator.dry_run_report import DRY_RUN_BANNER, write_dry_run_report
from migrator.errors import JournalError, JournalStorageError, PlanError
from migrator.graph import TaskGraph, compile_graph
from migrator.identity import references_of
from migrator.journal import Journal, LedgerCounts, Tenant
from migrator.logging import Redactor, configure_logging
from migrator.plan.env import ResolvedConnection, resolve_connections, secret_values
from migrator.plan.load import LoadedPlan, load_plan
from migrator.report import ReportError, write_reports
from migrator.run_files import RunFiles
from migrator.runtime.delta import delta_origins
from migrator.runtime.inventory import take_inventory
from migrator.runtime.options import RunOptions
from migrator.runtime.progress import ProgressDisplay, budget_paces
from migrator.runtime.runner import RunSummary, run_plan, summary_stats
from migrator.runtime.selection import SelectionMode

__all__ = ["add_arguments", "journal_path", "plan_hash", "run", "tenants"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)
    parser.add_argument("--journal", metavar="PATH", help="journal file (default .migrator/<plan name>.sqlite)")
    parser.add_argument("--fresh", action="store_true", help="delete the journal and start over")
    parser.add_argument(
        "--allow-plan-change", action="store_true", help="resume although the plan changed since the last run"
    )
    parser.add_argument(
        "--same-customers",
        action="store_true",
        help="resume although a connection's credentials or address changed, when they still reach the same "
        "accounts (a regenerated key): the journal is bound to them from now on",
    )
    parser.add_argument("--dry-run", action="store_true", help="read and map everything, write nothing")
    parser.add_argument(
        "--approved",
        metavar="CHANGESET",
        help="run only while this change set of `migrator preview` holds (same plan, counts within the plan's "
        "approval_tolerance); refused (exit 2) otherwise",
    )
    parser.add_argument(
        "--retry-rejected",
        action="store_true",
        help="write only the dead letters again, after a fix of the plan or data (a changed plan is accepted)",
    )
    parser.add_argument(
        "--delta",
        action="store_true",
        help="cutover pass: write only new records and those whose mapped content changed since written",
    )
    parser.add_argument(
        "--step", action="append", default=[], metavar="STEP", help="only this step (repeatable)"
    )
    parser.add_argument(
        "--log-file",
        metavar="PATH",
        help="JSONL log (default beside the journal: .migrator/<plan name>.log.jsonl, or <journal>.log.jsonl)",
    )
    parser.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")
    parser.add_argument(
        "--report-dir",
        metavar="DIR",
        help="reports folder (default beside the journal: .migrator/<plan>-report/, or <journal>.reports/; "
        "a dry run's: .migrator/<plan>-dry-run/, or <journal>.dry-run/)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify TLS certificates (loopback hosts only, unless --insecure-confirm)",
    )
    parser.add_argument(
        "--insecure-confirm",
        action="store_true",
        help="allow --insecure for a host that is not on this machine (its traffic can then be intercepted)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="X",
        help="rehearse against `migrator sandbox --time-scale X` (budgets X× larger, tokens X× shorter)",
    )


def plan_hash(loaded: LoadedPlan) -> str:
    """A stable hash of what the plan says about what it writes (not of its formatting, nor of any resolved
    secret). The steps' limits (``limits``, ``on_error``, ``defaults.max_rejected``) are left out: raising a
    limit to resume a stopped step changes nothing already written, so it needs no ``--allow-plan-change``."""
    plan = loaded.plan
    steps = {
        name: msgspec.structs.replace(step, limits=None, on_error=None) for name, step in plan.steps.items()
    }
    defaults = msgspec.structs.replace(plan.defaults, max_rejected=None)
    unlimited = msgspec.structs.replace(plan, steps=steps, defaults=defaults)
    return hashlib.blake2b(msgspec.json.encode(unlimited), digest_size=16).hexdigest()


def journal_path(args: argparse.Namespace, plan_name: str) -> Path:
    return RunFiles.of(Path(args.journal) if args.journal else None, plan_name).journal


#: credentials that prove an identity without naming the account: a changed password is the same account
_NOT_IDENTITY = frozenset({"password"})


def tenants(connections: Mapping[str, ResolvedConnection]) -> dict[str, Tenant]:
    """The account each connection reaches: platform, location (the base URL without user info, scheme and
    host in lower case, no trailing slash; or the folder as the plan resolves it) and identity (the
    credentials that name the account — key, user name —, and the URL's user name if it has one)."""
    out: dict[str, Tenant] = {}
    for name, conn in connections.items():
        identity = sorted((k, v) for k, v in conn.credentials.items() if k not in _NOT_IDENTITY)
        if conn.base_url:
            url = urlsplit(conn.base_url)
            host = url.netloc.rpartition("@")[2]
            location = f"{url.scheme.lower()}://{host.lower()}{url.path.rstrip('/')}"
            identity.append(("url_user", url.username or ""))
        else:
            location = conn.path or ""
        out[name] = Tenant(conn.platform, location, json.dumps(identity))
    return out


def run(args: argparse.Namespace) -> int:
    loaded = load_plan(args.plan)
    graph = compile_graph(loaded)
    connections = resolve_connections(loaded.plan, environment(args), loaded.file)
    if args.insecure and not args.insecure_confirm:
        _refuse_remote_insecure(loaded.file, connections)
    redactor = Redactor(secret_values(connections))
    name = graph.name
    files = RunFiles.of(Path(args.journal) if args.journal else None, name)
    log_file = Path(args.log_file) if args.log_file else files.log
    configure_logging(redactor=redactor, log_file=log_file)
    if getattr(args, "approved", None):  # `demo` runs without the option
        from migrator.commands.preview import check_approved  # noqa: PLC0415 (preview imports this module)

        check_approved(loaded, connections, redactor, args)

    references = references_of({s: m.references for s, m in loaded.maps.items()})
    journal = Journal.open(files.journal, name, fresh=args.fresh, redact=redactor.text, references=references)
    try:
        digest = plan_hash(loaded)
        check = journal.check_plan(digest)
        unknown = [s for s in args.step if s not in loaded.plan.steps]
        if unknown:
            raise PlanError.single(
                loaded.file,
                "steps",
                f"--step {unknown[0]!r} is not a step of this plan: {', '.join(graph.order)}",
            )
        if args.retry_rejected and args.delta:
            raise PlanError.single(
                loaded.file, "", "--retry-rejected and --delta are separate passes: pick one"
            )
        allow_change = args.allow_plan_change or args.dry_run or args.retry_rejected
        if check.changed and not allow_change:
            raise PlanError.single(
                loaded.file,
                "",
                f"the plan changed since the last run of this journal ({journal.path}). Resume with "
                "--allow-plan-change if the change is safe (records already written stay as they are), or "
                "start over with --fresh",
            )
        reached = tenants(connections)
        changes = journal.tenant_changes(reached)
        if changes and not args.same_customers:
            raise JournalError(
                f"the journal {journal.path} was started with other accounts ({'; '.join(changes)}). A journal "
                "holds one customer's progress and crosswalk: with another customer's accounts this run would "
                "skip their records as done and link to the first customer's ids. For another customer, give "
                "the run its own journal with --journal PATH (or start this one over with --fresh); if these "
                "are the same accounts with new credentials (a regenerated key), run again with "
                "--same-customers."
            )
        if not args.dry_run:
            journal.bind_tenants(reached)
            journal.begin_run(digest)
        selection = (
            SelectionMode.RETRY_REJECTED
            if args.retry_rejected
            else SelectionMode.DELTA
            if args.delta
            else SelectionMode.NORMAL
        )
        finished = [r["started"] for r in journal.runs() if r["status"] == "done"]
        if args.delta and not finished:
            raise PlanError.single(
                loaded.file, "", "--delta needs a completed run of this plan first: run it without --delta"
            )
        options = RunOptions(
            dry_run=args.dry_run,
            verify_tls=not args.insecure,
            time_scale=args.time_scale,
            selection=selection,
            only_steps=tuple(args.step),
            delta_since=delta_origins(journal.runs(), journal.run_stats()) if args.delta else {},
        )
        # a delta or retry pass writes a part by design: it keeps the inventory of the last run that took one
        kept = kept_tallies(journal.run_stats()) if args.delta or args.retry_rejected else None
        placed = files.place(loaded)  # a connection of the run's own folder, beside this journal
        tallies = kept if kept is not None else _inventory(placed, connections, redactor, options)
        coverage = plan_coverage(loaded.plan, CATALOG, tallies)
        # the ETA of a run counts its budgets; a dry run writes nothing, its pace is its own
        paces = {} if args.dry_run else budget_paces(graph, args.time_scale)
        display = ProgressDisplay(plain=True if args.plain else None, paces=paces)
        run = _Run(placed, graph, connections, journal, redactor, options, display)
        summary = _run_with_signals(run)
        status = "done" if summary.ok else ("stopped" if summary.stopped else "failed")
        refused = ""  # the journal's end or the reports the disk refused to take
        ledger: dict[str, LedgerCounts] | None = None  # its counts, read once for the report and the summary
        if not args.dry_run:
            report_dir = Path(args.report_dir) if args.report_dir else files.reports
            entities = {name: step.write.entity for name, step in loaded.plan.steps.items()}
            try:
                journal.finish_run(status)
                assert journal.run_id is not None
                stats = summary_stats(summary, loaded.plan)
                kept_stats = {
                    "inventory": tallies_to_json(tallies),
                    "coverage": rows_to_json(coverage),
                    "references": references,
                }
                journal.save_run_stats(journal.run_id, {**stats, **kept_stats})
                ledger = journal.step_counts()
                write_reports(journal, report_dir, name, entities=entities, step_counts=ledger)
            except (JournalStorageError, ReportError) as error:
                refused = str(error)
        else:
            report_dir = Path(args.report_dir) if args.report_dir else files.dry_run
            write_dry_run_report(report_dir, summary, summary.would_reject, redactor.text)
        counts = _step_counts(summary, journal, ledger, dry_run=args.dry_run)
    finally:
        journal.close()
    _print_summary(summary, journal.path, log_file, summary_lines(coverage, counts), dry_run=args.dry_run)
    if refused:
        print(f"migrator: {refused}", file=sys.stderr)
        return 1
    if args.dry_run:
        rejected = f"{len(summary.would_reject):,} would-reject records with reasons"
        print(f"dry-run report ({DRY_RUN_BANNER}): {report_dir} (errors.csv: {rejected})")
    else:
        print(f"report: {report_dir / 'report.html'}")
        for conn_name, conn in loaded.plan.connections.items():  # the run's own folders (certificates)
            if conn.relative_to == "journal" and conn.path:
                print(f"{conn_name}: {files.folder(conn.path)}")
    if not summary.ok:
        return 1
    return 3 if summary.rejected else 0


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_remote_insecure(file: str, connections: Any) -> None:
    """``--insecure`` turns TLS verification off: only for hosts on this machine unless confirmed."""
    for name, conn in connections.items():
        base_url = getattr(conn, "base_url", None)
        if not base_url:
            continue
        host = urlsplit(base_url).hostname or ""
        if not _is_loopback(host):
            raise PlanError.single(
                file,
                f"connections.{name}.base_url",
                f"--insecure would turn TLS certificate checks off for {host!r}, which is not this machine: "
                "anyone on the way could read the credentials. Fix the certificate (or trust its CA), or add "
                "--insecure-confirm if you really mean it",
            )


@dataclass(frozen=True)
class _Run:
    """What one ``migrator run`` works with, resolved by ``run``."""

    loaded: LoadedPlan
    graph: TaskGraph
    connections: Mapping[str, ResolvedConnection]
    journal: Journal
    redactor: Redactor
    options: RunOptions
    display: ProgressDisplay


def _run_with_signals(r: _Run) -> RunSummary:
    """First Ctrl-C: cancel the run (in-flight requests are abandoned; the journal stays consistent because
    every write to it is one transaction) and exit 130. Second Ctrl-C: exit at once."""
    loaded, graph, connections, journal, redactor, options, display = (
        r.loaded,
        r.graph,
        r.connections,
        r.journal,
        r.redactor,
        r.options,
        r.display,
    )

    async def main() -> RunSummary | None:
        result: list[RunSummary] = []
        migration = anyio.CancelScope()

        async def watch_signals() -> None:
            # outside the migration's cancel scope: it keeps listening while the migration winds down, so a
            # second Ctrl-C during the shutdown always exits at once
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                count = 0
                async for _ in signals:
                    count += 1
                    if count == 1:
                        print("\nmigrator: stopping… (Ctrl-C again to exit at once)", file=sys.stderr)
                        migration.cancel()
                    else:
                        print(_STOPPED, file=sys.stderr)
                        os._exit(130)

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_signals)
            with migration:
                result.append(
                    await run_plan(
                        loaded.plan,
                        graph,
                        connections=connections,
                        journal=journal,
                        redactor=redactor,
                        options=options,
                        on_progress=display.update,
                        base_dir=Path(loaded.file).parent,
                    )
                )
            tg.cancel_scope.cancel()
        return result[0] if result else None

    _tune_gc()
    try:
        with display:
            summary = anyio.run(main)
        if summary is None:
            # stopped by Ctrl-C: while the journal takes its last write, another Ctrl-C exits at once
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, _exit_at_once)
            journal.finish_run("interrupted")
            journal.close()
            print(_STOPPED, file=sys.stderr)
            raise SystemExit(130)
    except KeyboardInterrupt:
        # a second Ctrl-C that landed after the watcher had closed (the run had already stopped)
        print(_STOPPED, file=sys.stderr)
        raise SystemExit(130) from None
    return summary


def _exit_at_once(signum: int, frame: object) -> None:
    """Every journal write is one transaction: whatever moment a Ctrl-C comes at, the journal is consistent."""
    print(_STOPPED, file=sys.stderr)
    os._exit(130)


def _tune_gc() -> None:
    """Fewer, cheaper collections for a long run. A run allocates millions of short-lived containers (decoded
    records, mapped payloads) that form no cycles, so the default young-generation threshold (700) makes the
    collector run every few records and its full passes re-walk every object alive. Start-up objects (modules,
    the plan) are frozen out of all collections, and collections run after 20,000 allocations instead of 700:
    the same memory bound in practice, ~15% less CPU per record (``benchmarks/RESULTS.md``)."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)


_STOPPED = "migrator: interrupted; the journal is consistent, `migrator run` resumes"


def _inventory(
    loaded: LoadedPlan, connections: Mapping[str, ResolvedConnection], redactor: Redactor, options: RunOptions
) -> list[Tally]:
    """The sources' records by entity and status, counted before anything is written."""

    async def main() -> list[Tally]:
        return await take_inventory(
            loaded.plan,
            connections,
            redactor,
            base_dir=Path(loaded.file).parent,
            verify_tls=options.verify_tls,
            time_scale=options.time_scale,
        )

    return anyio.run(main)


def _step_counts(
    summary: RunSummary, journal: Journal, ledger: Mapping[str, LedgerCounts] | None, *, dry_run: bool
) -> dict[str, StepCount]:
    """Per step: read in this run; written and rejected as the ledger holds them (every run so far: its
    counts ``ledger`` when read already, else read here), or, in a dry run, as this run would have."""
    if dry_run:
        return {
            name: StepCount(o.counters.read, o.counters.created + o.counters.updated, o.counters.rejected)
            for name, o in summary.steps.items()
        }
    if ledger is None:
        ledger = journal.step_counts()
    out: dict[str, StepCount] = {}
    for name, o in summary.steps.items():
        held = ledger.get(name)
        written = held.records_done if held is not None else 0
        rejected = held.records_rejected if held is not None else 0
        out[name] = StepCount(o.counters.read, written, rejected)
    return out


def _print_summary(
    summary: RunSummary, journal: Path, log_file: Path, coverage: list[str], *, dry_run: bool = False
) -> None:
    took = summary.finished_at - summary.started_at
    what = "dry run (nothing written)" if dry_run else "done" if summary.ok else "NOT done"
    print(f"plan {summary.plan}: {what} in {_duration(took)}")
    words = ("would create", "would update", "would reject") if dry_run else ("created", "updated", "rejected")
    for outcome in summary.steps.values():
        c = outcome.counters
        line = (
            f"  {outcome.name:<20} {outcome.status:<8} read {c.read:>9,}  {words[0]} {c.created:>9,}  "
            f"{words[1]} {c.updated:>9,}  unchanged {c.unchanged:>9,}  skipped {c.skipped:>9,}  "
            f"{words[2]} {c.rejected:>7,}"
        )
        print(line + (f"  excluded by where {c.excluded:,}" if c.excluded else ""))
        for warning in c.warnings:
            print(f"    warning: {warning}")
        if outcome.error:
            print(f"    {outcome.error}")
    if summary.stopped:
        print(f"  stopped: {summary.stopped}")
    for line in coverage:
        print(line)
    print(f"journal: {journal}\nlog: {log_file}")


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    return time.strftime("%H:%M:%S", time.gmtime(seconds))
