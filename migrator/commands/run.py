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
from migrator.errors import JournalError, PlanError
from migrator.graph import TaskGraph, compile_graph
from migrator.journal import Journal, Tenant, default_journal_path
from migrator.logging import Redactor, configure_logging
from migrator.plan.env import ResolvedConnection, resolve_connections, secret_values
from migrator.plan.load import LoadedPlan, load_plan
from migrator.report import default_report_dir, write_reports
from migrator.runtime.delta import delta_origins
from migrator.runtime.options import RunOptions
from migrator.runtime.progress import ProgressDisplay
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
        "--log-file", metavar="PATH", help="JSONL log (default .migrator/<plan name>.log.jsonl)"
    )
    parser.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")
    parser.add_argument("--report-dir", metavar="DIR", help="reports folder (default .migrator/<plan>-report)")
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
    return Path(args.journal) if args.journal else default_journal_path(plan_name)


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
    log_file = Path(args.log_file) if args.log_file else default_journal_path(name).with_suffix(".log.jsonl")
    configure_logging(redactor=redactor, log_file=log_file)

    journal = Journal.open(journal_path(args, name), name, fresh=args.fresh, redact=redactor.text)
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
        display = ProgressDisplay(plain=True if args.plain else None)
        run = _Run(loaded, graph, connections, journal, redactor, options, display)
        summary = _run_with_signals(run)
        status = "done" if summary.ok else ("stopped" if summary.stopped else "failed")
        if not args.dry_run:
            journal.finish_run(status)
            assert journal.run_id is not None
            journal.save_run_stats(journal.run_id, summary_stats(summary, loaded.plan))
            entities = {name: step.write.entity for name, step in loaded.plan.steps.items()}
            report_dir = Path(args.report_dir) if args.report_dir else default_report_dir(name)
            write_reports(journal, report_dir, name, entities=entities)
    finally:
        journal.close()
    _print_summary(summary, journal.path, log_file, dry_run=args.dry_run)
    if not args.dry_run:
        print(f"report: {report_dir / 'report.html'}")
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


def _print_summary(summary: RunSummary, journal: Path, log_file: Path, *, dry_run: bool = False) -> None:
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
        print(line)
        if outcome.error:
            print(f"    {outcome.error}")
    if summary.stopped:
        print(f"  stopped: {summary.stopped}")
    print(f"journal: {journal}\nlog: {log_file}")


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    return time.strftime("%H:%M:%S", time.gmtime(seconds))
