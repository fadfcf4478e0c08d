"""``migrator preview PLAN``: what a run of the plan would do, as a change set to review and approve.

The preview is a dry run (``migrator.runtime.dryrun``: the run's own pipeline with a writer that classifies
instead of writing): it reads the sources and the targets and writes nothing to them nor to the journal. Its
step limits are left off while it counts, so that every step is counted whole; each step's counts are then
checked against its limits (``StepLimits.breach``), and a limit they would trip is named. The requests and the
time are those of the run's source reads and writes under the plan's budgets (``migrator.estimate``): records
unchanged or linked cost no write.

It writes ``changeset.json`` and ``changeset.html`` (0600, masked with the run's redactor) into its folder
(``--out``; default beside the journal: ``.migrator/<plan>-preview/``, or ``<journal>.preview/``). A journal
that does not exist yet, or ``--fresh``, previews a first run (an empty journal, in a temporary folder).
Exit 0: the run would write without a rejection; 3: it would reject records or trip a limit; 1: a step could
not be previewed; 2: a plan error. ``migrator run PLAN --approved changeset.json`` runs only while the change
set holds (:func:`check_approved`).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import anyio
import msgspec

from migrator.changeset import (
    ChangeSet,
    Invalid,
    SampleChange,
    StepChange,
    Tolerance,
    decode_change_set,
    differences,
    encode_change_set,
)
from migrator.changeset_html import render_html
from migrator.commands._plan_args import add_plan_arguments, environment
from migrator.commands.run import plan_hash
from migrator.errors import PlanError
from migrator.estimate import format_duration, read_requests, shared_durations, write_requests
from migrator.graph import TaskGraph, compile_graph
from migrator.journal import Journal
from migrator.logging import Redactor, configure_logging
from migrator.plan.env import ResolvedConnection, resolve_connections, secret_values
from migrator.plan.load import LoadedPlan, load_plan
from migrator.private_files import make_private_dir, write_private
from migrator.report import ReportError
from migrator.run_files import RunFiles
from migrator.runtime.breakers import Baseline, Breaker, StepLimits
from migrator.runtime.options import RunOptions
from migrator.runtime.runner import RunSummary, run_plan

__all__ = ["add_arguments", "check_approved", "preview", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_plan_arguments(parser)
    parser.add_argument("--journal", metavar="PATH", help="the run's journal (default .migrator/<plan>.sqlite)")
    parser.add_argument("--fresh", action="store_true", help="preview a run started over (`run --fresh`)")
    parser.add_argument(
        "--step", action="append", default=[], metavar="STEP", help="only this step (repeatable)"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="folder of changeset.json and changeset.html (default .migrator/<plan>-preview/, or "
        "<journal>.preview/)",
    )
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    parser.add_argument("--time-scale", type=float, default=1.0, metavar="X", help="as `migrator run`")


def run(args: argparse.Namespace) -> int:
    loaded = load_plan(args.plan)
    connections = resolve_connections(loaded.plan, environment(args), loaded.file)
    redactor = Redactor(secret_values(connections))
    configure_logging(redactor=redactor)
    journal = Path(args.journal) if args.journal else None
    found = preview(loaded, connections, redactor, args, journal=journal)
    files = RunFiles.of(journal, loaded.plan.plan.name)
    out = Path(args.out) if args.out else files.dry_run.with_name(_preview_name(files.dry_run.name))
    paths = write_change_set(out, found, redactor)
    print(summary_text(found))
    print(f"change set: {paths[0]}\nview: {paths[1]}")
    print(f"approve it: migrator run {args.plan} --approved {paths[0]}")
    if any(s.status != "done" for s in found.steps.values()):
        return 1
    return 3 if any(s.rejected or s.breach for s in found.steps.values()) else 0


def _preview_name(dry_run: str) -> str:
    return dry_run.removesuffix("dry-run") + "preview"


def preview(
    loaded: LoadedPlan,
    connections: Mapping[str, ResolvedConnection],
    redactor: Redactor,
    args: argparse.Namespace,
    *,
    journal: Path | None,
) -> ChangeSet:
    """Preview a run of ``loaded`` (``args``: ``fresh``, ``step``, ``insecure``, ``time_scale``) with the
    journal ``journal`` (None: the plan's default)."""
    graph = compile_graph(loaded)
    name = graph.name
    unknown = [s for s in args.step if s not in loaded.plan.steps]
    if unknown:
        raise PlanError.single(loaded.file, "steps", f"--step {unknown[0]!r} is not a step of this plan")
    tolerance = tolerance_of(loaded)
    # counted whole: the limits are checked on the counts afterwards
    unlimited = dataclasses.replace(
        graph, steps={n: dataclasses.replace(s, limits=StepLimits()) for n, s in graph.steps.items()}
    )
    options = RunOptions(
        dry_run=True,
        verify_tls=not args.insecure,
        time_scale=args.time_scale,
        only_steps=tuple(args.step),
    )
    files = RunFiles.of(journal, name)
    path, placed = files.journal, files.place(loaded).plan
    with tempfile.TemporaryDirectory(prefix="migrator-preview-") as empty:
        first = args.fresh or not path.exists()
        opened = Journal.open(Path(empty) / "journal.sqlite" if first else path, name, redact=redactor.text)
        try:

            async def main() -> RunSummary:
                return await run_plan(
                    placed,
                    unlimited,
                    connections=connections,
                    journal=opened,
                    redactor=redactor,
                    options=options,
                    base_dir=Path(loaded.file).parent,
                )

            summary = anyio.run(main)
            baselines = {n: Baseline.of(c) for n, c in opened.step_counts().items()}
        finally:
            opened.close()
    return change_set(graph, summary, plan_hash(loaded), tolerance, baselines)


def tolerance_of(loaded: LoadedPlan) -> Tolerance:
    """The plan's ``[plan] approval_tolerance``; a ``PlanError`` when it is neither a count nor a percentage."""
    try:
        return Tolerance.of(loaded.plan.plan.approval_tolerance)
    except ValueError as error:
        raise PlanError.single(loaded.file, "plan.approval_tolerance", str(error)) from None


def change_set(
    graph: TaskGraph,
    summary: RunSummary,
    digest: str,
    tolerance: Tolerance,
    baselines: Mapping[str, Baseline],
) -> ChangeSet:
    """The change set of a preview's ``summary``."""
    steps: dict[str, StepChange] = {}
    loads: dict[str, dict[object, int]] = {}
    rates: dict[object, float | None] = {}
    rejected_by_step: dict[str, list[Invalid]] = {}
    for letter in summary.would_reject:
        rejected_by_step.setdefault(letter.step, []).append(
            Invalid(letter.source_key, "rejected", letter.reason)
        )
    for name, outcome in summary.steps.items():
        c = outcome.counters
        node = graph.steps[name]
        findings = summary.dry_run.findings(name)
        breaker = Breaker(node.limits, baselines.get(name, Baseline()))
        breach = node.limits.breach(breaker.figures(c))
        reads = read_requests(c.read, node.read_paging.style, node.page_size, node.read_paging.knows_total)
        writes = write_requests(c.created + c.updated, node.per_record, node.batch)
        load: dict[object, int] = {}
        for use, k in ((node.read, reads), (node.write, writes)):
            if use.bucket is not None and k:
                load[use.bucket] = load.get(use.bucket, 0) + k
                rates[use.bucket] = None if use.rate is None else use.rate.per_second
        loads[name] = load
        invalid = rejected_by_step.get(name, []) + [
            Invalid(f.source_key, "suspect", f.reason) for f in findings.findings
        ]
        steps[name] = StepChange(
            read=c.read,
            created=c.created,
            updated=c.updated,
            unchanged=c.unchanged,
            linked=c.linked,
            rejected=c.rejected,
            skipped=c.skipped,
            excluded=c.excluded,
            after_create=dict(sorted(findings.after_create.items())),
            after_merge=dict(sorted(findings.after_merge.items())),
            status=outcome.status,
            error=outcome.error,
            fields=dict(findings.fields.most_common()),
            samples=[SampleChange(s.source_key, s.action, dict(s.changes)) for s in findings.samples],
            invalid=invalid,
            breach="" if breach is None else breach.message(name).split(". ", 1)[0],
            requests=reads + writes if node.parent is None else None,
        )
    seconds = _seconds(graph, loads, rates)
    steps = {n: msgspec.structs.replace(s, seconds=seconds.get(n)) for n, s in steps.items()}
    known = [s.requests for s in steps.values()]
    total_seconds = sum(v for v in seconds.values() if v is not None)
    return ChangeSet(
        plan=graph.name,
        plan_hash=digest,
        previewed_at=time.time(),
        steps=steps,
        tolerance=str(tolerance),
        requests=None if any(r is None for r in known) else sum(r for r in known if r is not None),
        seconds=total_seconds,
    )


def _seconds(
    graph: TaskGraph, loads: Mapping[str, Mapping[object, int]], rates: Mapping[object, float | None]
) -> dict[str, float | None]:
    """Each step's time under its budgets, the steps of a level sharing them (``estimate``)."""
    out: dict[str, float | None] = {}
    for level in graph.levels:
        out.update(shared_durations({n: loads[n] for n in level if n in loads}, rates))
    return out


def write_change_set(out: Path, found: ChangeSet, redactor: Redactor) -> tuple[Path, Path]:
    """``changeset.json`` and ``changeset.html`` in ``out`` (0600, masked); their paths."""
    json_path, html_path = out / "changeset.json", out / "changeset.html"
    try:
        make_private_dir(out)
        write_private(json_path, redactor.text(encode_change_set(found).decode()).encode())
        write_private(html_path, redactor.text(render_html(found)).encode())
    except OSError as error:
        raise ReportError(
            f"preview: cannot write the change set into {out} ({error.strerror}); fix that (permissions, free "
            "space) or choose another folder (--out DIR)"
        ) from None
    return json_path, html_path


def summary_text(found: ChangeSet) -> str:
    lines = [f"plan {found.plan}: preview (nothing written), plan hash {found.plan_hash}"]
    for name, s in found.steps.items():
        lines.append(
            f"  {name:<20} {s.status:<8} read {s.read:>9,}  create {s.created:>9,}  update {s.updated:>9,}  "
            f"unchanged {s.unchanged:>9,}  linked {s.linked:>7,}  reject {s.rejected:>7,}  "
            f"requests {'?' if s.requests is None else f'{s.requests:,}'}"
        )
        if s.error:
            lines.append(f"    {s.error}")
        for what, states in (("create", s.after_create), ("merge", s.after_merge)):
            if states:
                wanted = ", ".join(f"{n:,} want {state}" for state, n in states.items())
                lines.append(
                    f"    after their {what}: {wanted}; each is linked where the platform leaves the record "
                    "so, updated otherwise"
                )
        if s.breach:
            lines.append(f"    limit: {s.breach}: the run would stop this step")
        suspect = sum(1 for i in s.invalid if i.kind == "suspect")
        if suspect:
            lines.append(f"    {suspect:,} records to look at (duplicate match values, malformed e-mails)")
    took = "unknown" if found.seconds is None else format_duration(found.seconds)
    total = "?" if found.requests is None else f"{found.requests:,}"
    lines.append(f"the run: {total} requests, {took} under its budgets; tolerance {found.tolerance}")
    return "\n".join(lines)


def check_approved(
    loaded: LoadedPlan,
    connections: Mapping[str, ResolvedConnection],
    redactor: Redactor,
    args: argparse.Namespace,
) -> None:
    """``run --approved CHANGESET``: preview again, and a ``PlanError`` (exit 2) unless the approved change
    set holds (the same plan hash, each step's figures within the plan's tolerance)."""
    where = str(args.approved)
    if args.retry_rejected or args.delta or args.dry_run:
        raise PlanError.single(
            loaded.file,
            "",
            "--approved holds a preview of a normal run: run it without --retry-rejected, --delta or --dry-run",
        )
    try:
        approved = decode_change_set(Path(where).read_bytes(), where)
    except OSError as error:
        raise PlanError.single(loaded.file, "", f"--approved {where}: {error.strerror}") from None
    except ValueError as error:
        raise PlanError.single(loaded.file, "", f"--approved: {error}") from None
    digest = plan_hash(loaded)
    if approved.plan_hash != digest:  # no need to read anything: the plan is not the one approved
        problems = differences(approved, msgspec.structs.replace(approved, plan_hash=digest), Tolerance())
    else:
        journal = Path(args.journal) if args.journal else None
        found = preview(loaded, connections, redactor, args, journal=journal)
        problems = differences(approved, found, tolerance_of(loaded))
    if problems:
        raise PlanError.single(
            loaded.file,
            "",
            f"the run does not hold the approved change set {where}: " + "; ".join(problems) + ". Nothing was "
            "written. Preview again (`migrator preview`), review the new change set, and run with it",
        )
