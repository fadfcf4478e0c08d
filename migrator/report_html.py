"""The HTML report: one self-contained page (inline CSS, inline SVG, no script, no external asset).

Pure: :class:`ReportData` in, a ``str`` out. Every text that comes from the journal (step names, reasons,
endpoints) goes through :func:`html.escape`, so a reason holding markup is shown, never interpreted.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from migrator.coverage import COVERAGE_HEADER, CoverageRow, StepCount, csv_rows, left_behind
from migrator.journal import LedgerCounts
from migrator.plan.budgets import Budgets

__all__ = ["ReportData", "budget_rows", "render", "step_rows", "target_records", "throughput_buckets"]

_NICE_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)


@dataclass
class ReportData:
    """What the HTML page shows, read once from the journal (see :func:`migrator.report.collect`)."""

    plan: str
    generated_at: float
    runs: list[dict[str, Any]] = field(default_factory=list)
    run_stats: dict[int, dict[str, Any]] = field(default_factory=dict)
    step_counts: dict[str, LedgerCounts] = field(default_factory=dict)
    entities: dict[str, str] = field(default_factory=dict)
    completions: list[tuple[str, float, int]] = field(default_factory=list)
    reasons: list[tuple[str, str, int]] = field(default_factory=list)
    rejected: int = 0
    #: the coverage of the newest run that took an inventory, and each step's counts beside it
    coverage: list[CoverageRow] = field(default_factory=list)
    coverage_counts: dict[str, StepCount] = field(default_factory=dict)
    #: records on the target the migration wrote, each counted once: ``<connection>.<entity>`` → (the steps
    #: that write them, distinct target ids); ``None`` until the ledger is read through (the reports' pass)
    records: dict[str, tuple[tuple[str, ...], int]] | None = None
    #: the latest ``migrator verify`` summary written beside the reports (``None``: not verified there)
    verify: dict[str, Any] | None = None
    #: who wrote the report (the operating system's user) and with which migrator version
    prepared_by: str = ""
    version: str = ""

    def latest_stats(self) -> tuple[int | None, dict[str, Any]]:
        """The newest run that saved statistics, and those statistics (``{}`` when none did)."""
        if not self.run_stats:
            return None, {}
        run_id = max(self.run_stats)
        return run_id, self.run_stats[run_id]


# -- pure tables ---------------------------------------------------------------------------------------------


def throughput_buckets(
    completions: Iterable[tuple[str, float, int]], max_buckets: int = 48
) -> tuple[float, float, list[int]]:
    """Records done per time bucket: ``(start, bucket seconds, counts)``.

    The bucket is the smallest of 1 s, 2 s, 5 s, 10 s, … 1 day that needs at most ``max_buckets`` buckets.
    No completions: ``(0.0, 1.0, [])``.
    """
    points = [(t, n) for _, t, n in completions]
    if not points:
        return 0.0, 1.0, []
    start = min(t for t, _ in points)
    span = max(t for t, _ in points) - start
    width = float(next((s for s in _NICE_SECONDS if span / s < max_buckets), _NICE_SECONDS[-1]))
    counts = [0] * (int(span // width) + 1)
    for t, n in points:
        counts[min(int((t - start) // width), len(counts) - 1)] += n
    return start, width, counts


def _num(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def step_rows(
    counts: Mapping[str, LedgerCounts], stats: Mapping[str, Any]
) -> list[tuple[str, str, int, int, int, int, int, int, float | None, int]]:
    """Per step: ``(step, status, read, created, updated, unchanged, rejected, skipped, seconds, in target)``.

    Read, skipped, status and duration come from the latest run's statistics; created, updated, unchanged and
    rejected from the journal's ledger (all runs), and "in target" is the ledger's done records.
    """
    steps_stats = stats.get("steps") if isinstance(stats.get("steps"), dict) else {}
    assert isinstance(steps_stats, dict)
    names = list(dict.fromkeys([*steps_stats, *counts]))
    rows = []
    for name in names:
        s = steps_stats.get(name) or {}
        c = counts.get(name, LedgerCounts())
        started, finished = s.get("started_at"), s.get("finished_at")
        seconds = (
            float(finished) - float(started)
            if isinstance(started, int | float) and isinstance(finished, int | float) and finished >= started
            else None
        )
        rows.append(
            (
                name,
                str(s.get("status", "")),
                _num(s.get("read")),
                c.created,
                c.updated,
                c.unchanged,
                c.records_rejected,
                _num(s.get("skipped")),
                seconds,
                c.records_done,
            )
        )
    return rows


def budget_rows(
    stats: Mapping[str, Any], seconds: float | None
) -> list[tuple[str, str, int, str, float | None, float | None]]:
    """``(connection, endpoint, requests, budget, average requests/s, share of the budget)`` per endpoint.

    The budget is the rate the endpoint drew from (:meth:`Budgets.rate <migrator.plan.budgets.Budgets.rate>`
    over the run's stated budgets); the share is the average rate over the run (``requests / seconds``)
    against it; unknown (``None``) without a budget or a duration.
    """
    transports = stats.get("transports") if isinstance(stats.get("transports"), dict) else {}
    budgets = stats.get("budgets") if isinstance(stats.get("budgets"), dict) else {}
    assert isinstance(transports, dict) and isinstance(budgets, dict)
    rows = []
    for conn in sorted(transports):
        requests = (transports[conn] or {}).get("requests") or {}
        stated = budgets.get(conn)
        conn_budgets = Budgets.from_stated(stated if isinstance(stated, dict) else {})
        for endpoint in sorted(requests):
            n = _num(requests[endpoint])
            rate = conn_budgets.rate(endpoint)
            avg = n / seconds if seconds else None
            share = None if rate is None or avg is None else avg / rate.per_second
            rows.append((conn, endpoint, n, "" if rate is None else str(rate), avg, share))
    return rows


def target_records(data: ReportData) -> int:
    """Records on the target the migration wrote, each once (:attr:`ReportData.records`); before the ledger is
    read through, the done records of every step."""
    if data.records is not None:
        return sum(n for _, n in data.records.values())
    return sum(c.records_done for c in data.step_counts.values())


def _run_seconds(run: Mapping[str, Any] | None, stats: Mapping[str, Any]) -> float | None:
    if run is not None and isinstance(run.get("finished"), int | float):
        return max(0.0, float(run["finished"]) - float(run["started"]))
    steps = stats.get("steps") if isinstance(stats.get("steps"), dict) else {}
    assert isinstance(steps, dict)
    starts = [s["started_at"] for s in steps.values() if isinstance(s.get("started_at"), int | float)]
    ends = [s["finished_at"] for s in steps.values() if isinstance(s.get("finished_at"), int | float)]
    return max(ends) - min(starts) if starts and ends else None


def _transport_totals(stats: Mapping[str, Any]) -> tuple[int, int, int]:
    """(requests, 429s, retries) over every connection of one run's statistics."""
    transports = stats.get("transports") if isinstance(stats.get("transports"), dict) else {}
    assert isinstance(transports, dict)
    requests = rate_limited = retries = 0
    for value in transports.values():
        t = value or {}
        requests += sum(_num(v) for v in (t.get("requests") or {}).values())
        rate_limited += _num(t.get("rate_limited"))
        retries += _num(t.get("retries"))
    return requests, rate_limited, retries


# -- markup --------------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _when(epoch: Any) -> str:
    if not isinstance(epoch, int | float):
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _secs(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def _table(caption: str, header: Sequence[str], rows: Iterable[Sequence[Any]], css: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(header)}" class="none">none</td></tr>'
    return (
        f'<table class="{_e(css)}"><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _chart(completions: Sequence[tuple[str, float, int]]) -> str:
    start, width, counts = throughput_buckets(completions)
    w, h, left, bottom, top = 960, 260, 56, 36, 16
    plot_w, plot_h = w - left - 16, h - bottom - top
    peak = max(counts, default=0)
    parts = [
        f'<svg id="throughput" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img" aria-label="records written per {width:g} s">',
        "<title>Records written over time</title>",
        f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#555"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#555"/>',
    ]
    if not counts or peak == 0:
        parts.append(
            f'<text x="{w // 2}" y="{h // 2}" text-anchor="middle" fill="#555">no batch was written yet</text>'
        )
    else:
        bar = plot_w / len(counts)
        for i, n in enumerate(counts):
            if n == 0:
                continue
            bh = plot_h * n / peak
            x = left + i * bar
            parts.append(
                f'<rect class="bar" x="{x + bar * 0.1:.1f}" y="{top + plot_h - bh:.1f}" '
                f'width="{max(bar * 0.8, 1.0):.1f}" height="{bh:.1f}" fill="#2b6cb0">'
                f"<title>{_secs(i * width)}–{_secs((i + 1) * width)}: {n:,} records</title></rect>"
            )
        parts.append(
            f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" font-size="12" fill="#333">{peak:,}</text>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="12" fill="#333">0</text>'
        )
        end = len(counts) * width
        parts.append(
            f'<text x="{left}" y="{h - 12}" font-size="12" fill="#333">{_e(_when(start))}</text>'
            f'<text x="{left + plot_w}" y="{h - 12}" text-anchor="end" font-size="12" fill="#333">'
            f"+{_e(_secs(end))} (bars of {width:g} s)</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;margin:24px;color:#1a202c;
background:#f7fafc}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #cbd5e0}
.meta{color:#4a5568;margin:0 0 16px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:22px}.card.bad b{color:#c53030}.card.good b{color:#2f855a}
table{border-collapse:collapse;background:#fff;margin:8px 0;font-size:14px}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid #e2e8f0;padding:4px 10px;text-align:left}th{background:#edf2f7}
td.none{color:#718096;font-style:italic}
.signoff{background:#fff;border:2px solid #2d3748;border-radius:6px;padding:12px 18px;margin-top:28px}
.signoff dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:8px 0}
.signoff dt{font-weight:600}.signoff dd{margin:0}
.sign{display:flex;gap:48px;margin-top:28px}.sign div{flex:1;border-top:1px solid #2d3748;padding-top:4px}
.verdict.good{color:#2f855a}.verdict.bad{color:#c53030}
@page{size:A4;margin:14mm}
@media print{
body{background:#fff;margin:0;font-size:11px}
.card,table,.signoff{background:#fff}
h2{break-after:avoid}
tr,.card,.signoff,.sign,svg{break-inside:avoid}
thead{display:table-header-group}
.signoff{break-before:page}
svg{max-width:100%;height:auto}
svg title{display:none}
}
"""


def render(data: ReportData) -> str:
    """The report page."""
    run_id, stats = data.latest_stats()
    runs_by_id = {r["id"]: r for r in data.runs}
    last_run = runs_by_id.get(run_id) if run_id is not None else (data.runs[-1] if data.runs else None)
    seconds = _run_seconds(last_run, stats)
    total = target_records(data)
    requests, rate_limited, retries = _transport_totals(stats)

    history = []
    for r in data.runs:
        s = data.run_stats.get(r["id"], {})
        req, lim, ret = _transport_totals(s)
        took = max(0.0, r["finished"] - r["started"]) if isinstance(r.get("finished"), int | float) else None
        history.append(
            (
                r["id"],
                _when(r["started"]),
                _when(r.get("finished")),
                _secs(took),
                r["status"],
                req,
                lim,
                ret,
                str(s.get("run_by", "")),
                str(s.get("version", "")),
            )
        )
    steps = [
        (*row[:8], _secs(row[8]), row[9], data.entities.get(row[0], ""))
        for row in step_rows(data.step_counts, stats)
    ]
    budgets = [
        (
            conn,
            ep,
            n,
            budget or "none",
            "" if avg is None else f"{avg:.2f}",
            "" if share is None else f"{share:.0%}",
        )
        for conn, ep, n, budget, avg, share in budget_rows(stats, seconds)
    ]
    transports = stats.get("transports") if isinstance(stats.get("transports"), dict) else {}
    assert isinstance(transports, dict)
    conn_rows = []
    for conn in sorted(transports):
        t = transports[conn] or {}
        statuses = t.get("statuses") or {}
        status_text = ", ".join(f"{k}: {_num(v):,}" for k, v in sorted(statuses.items()))
        conn_rows.append(
            (
                conn,
                sum(_num(v) for v in (t.get("requests") or {}).values()),
                status_text,
                _num(t.get("rate_limited")),
                _num(t.get("retries")),
                _num(t.get("token_refreshes")),
            )
        )
    failed = [
        (name, s.get("error", ""))
        for name, s in (stats.get("steps") or {}).items()
        if isinstance(s, dict) and s.get("error")
    ]
    behind = left_behind(data.coverage)
    behind_records = sum(r.in_source or 0 for r in behind)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Migration report: {_e(data.plan)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Migration report: {_e(data.plan)}</h1>",
        f'<p class="meta">Generated {_e(_when(data.generated_at))} from the journal; '
        f"{len(data.runs)} run(s).</p>",
        '<div class="cards">',
        f'<div class="card good"><b>{total:,}</b>records in the target</div>',
        f'<div class="card {"bad" if data.rejected else "good"}"><b>{data.rejected:,}</b>'
        "records rejected</div>",
        f'<div class="card"><b>{requests:,}</b>requests (last run)</div>',
        f'<div class="card {"bad" if rate_limited else ""}"><b>{rate_limited:,}</b>429 responses</div>',
        f'<div class="card"><b>{retries:,}</b>retries</div>',
        f'<div class="card"><b>{_e(_secs(seconds) or "–")}</b>last run took</div>',
        f'<div class="card {"bad" if behind else "good"}"><b>{len(behind):,}</b>'
        f"entities/statuses left behind ({behind_records:,} records)</div>",
        "</div>",
        "<h2>Steps</h2>",
        _table(
            "Per step: read, skipped, status and duration of the last run; created, updated, unchanged, "
            "rejected and in-target from the journal (all runs)",
            (
                "step",
                "status",
                "read",
                "created",
                "updated",
                "unchanged",
                "rejected",
                "skipped",
                "duration",
                "in target",
                "entity",
            ),
            steps,
            "steps",
        ),
    ]
    if data.records is not None:
        out.append(
            _table(
                "Records on the target, each once however many steps wrote it (a user, then its status)",
                ("target", "steps", "records"),
                [(what, ", ".join(steps), n) for what, (steps, n) in sorted(data.records.items())],
                "records",
            )
        )
    if failed:
        out.append(_table("Step errors (last run)", ("step", "error"), failed, "step-errors"))
    out += [
        "<h2>Coverage</h2>",
        _table(
            "Per source entity and status: records in the source (counted before the run wrote), the step "
            "that carries them with its counts (read in the last run; written and rejected from the journal), "
            "and what the plan leaves behind, with the reason (also in coverage.csv)",
            COVERAGE_HEADER,
            csv_rows(data.coverage, data.coverage_counts),
            "coverage",
        ),
    ]
    out += [
        "<h2>Throughput</h2>",
        _chart(data.completions),
        "<h2>Requests per endpoint against their budgets (last run)</h2>",
        _table(
            "Average rate over the run against the configured budget",
            ("connection", "endpoint", "requests", "budget", "avg req/s", "share of budget"),
            budgets,
            "budgets",
        ),
        _table(
            "Per connection: statuses, 429s and retries (last run)",
            ("connection", "requests", "statuses", "429s", "retries", "token refreshes"),
            conn_rows,
            "connections",
        ),
        "<h2>Top rejection reasons</h2>",
        _table(
            f"Records still rejected: {data.rejected:,} (every one is in errors.csv)",
            ("step", "reason", "records"),
            data.reasons,
            "reasons",
        ),
        "<h2>Run history</h2>",
        _table(
            "Every run of this journal",
            (
                "run",
                "started",
                "finished",
                "took",
                "status",
                "requests",
                "429s",
                "retries",
                "run by",
                "version",
            ),
            history,
            "runs",
        ),
        _verify_section(data.verify),
        _signoff(data, history),
        "</body></html>",
    ]
    return "\n".join(out)


def _verify_section(summary: Mapping[str, Any] | None) -> str:
    """The latest verification: its verdict and counts, per step and per target entity, and the steps it could
    not read back."""
    if summary is None:
        return (
            '<h2>Verification</h2><p class="meta">Not verified: run <code>migrator verify</code> (it writes '
            "its result beside these reports and this page again).</p>"
        )
    if "error" in summary:
        return f'<h2>Verification</h2><p class="verdict bad">{_e(summary["error"])}</p>'
    counts = summary.get("counts") or {}
    ok = bool(summary.get("ok"))
    verdict = "the target matches" if ok else "the target does NOT match"
    strict = " (strict: extra records fail)" if summary.get("strict") else ""
    steps = [
        (
            name,
            _num(c.get("source")),
            _num(c.get("migrated")),
            _num(c.get("matched")),
            _num(c.get("different")),
            _num(c.get("missing")),
            _num(c.get("rejected")),
        )
        for name, c in (summary.get("steps") or {}).items()
        if isinstance(c, dict)
    ]
    entities = [
        (
            f"{e.get('connection', '')}.{e.get('entity', '')}",
            _num(e.get("target")),
            _num(e.get("migrated")),
            _num(e.get("extra")),
            _num(e.get("duplicates")),
        )
        for e in summary.get("entities") or []
        if isinstance(e, dict)
    ]
    unverified = list((summary.get("unverified") or {}).items())
    totals = ", ".join(
        f"{name} {_num(counts.get(name)):,}"
        for name in ("missing", "different", "extra", "rejected", "duplicate")
    )
    return "".join(
        [
            "<h2>Verification</h2>",
            f'<p class="verdict {"good" if ok else "bad"}" id="verify-verdict">Verified '
            f"{_e(_when(summary.get('at')))}: {verdict}{strict}; {_e(totals)} (details in verify.csv)</p>",
            _table(
                "Per step: source records reconciled with the target at their crosswalk ids",
                ("step", "source", "migrated", "matched", "different", "missing", "rejected"),
                steps,
                "verify-steps",
            ),
            _table(
                "Per target entity: records there, those the migration wrote, and the others",
                ("target", "records", "migrated", "extra", "duplicates"),
                entities,
                "verify-entities",
            ),
            _table(
                "Steps not verified: their target cannot be read back",
                ("step", "why"),
                unverified,
                "verify-unverified",
            ),
            _table(
                "Targets read back one request per record (no list call answers what is compared)",
                ("target", "requests and why"),
                list((summary.get("per_record") or {}).items()),
                "verify-per-record",
            ),
        ]
    )


def _signoff(data: ReportData, history: Sequence[Sequence[Any]]) -> str:
    """The block a customer signs: what was run (the plan and its hash), every run with its start, end,
    status and who ran it, the verification's verdict, who prepared the report, when, with which version."""
    hashes = list(dict.fromkeys(str(r.get("plan_hash", "")) for r in data.runs if r.get("plan_hash")))
    plan_hash = ", ".join(hashes) if hashes else "no run yet"
    if len(hashes) > 1:
        plan_hash += " (the plan changed between runs)"
    if data.verify is None:
        verified = "not verified"
    elif "error" in data.verify:
        verified = str(data.verify["error"])
    else:
        verified = ("the target matches" if data.verify.get("ok") else "the target does NOT match") + (
            f" (verified {_when(data.verify.get('at'))})"
        )
    runs = [(row[0], row[1], row[2], row[4], row[8], row[9]) for row in history]
    items = [
        ("Plan", data.plan),
        ("Plan hash", plan_hash),
        ("Runs", f"{len(data.runs)}"),
        (
            "Records in the target (written by the migration)",
            f"{sum(c.records_done for c in data.step_counts.values()):,}",
        ),
        ("Records rejected", f"{data.rejected:,}"),
        ("Verification", verified),
        ("Report prepared by", data.prepared_by or "unknown"),
        ("Report prepared at", _when(data.generated_at)),
        ("migrator version", data.version or "unknown"),
    ]
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    return "".join(
        [
            '<section class="signoff" id="signoff"><h2>Sign-off</h2>',
            f"<dl>{rows}</dl>",
            _table(
                "Runs of this journal",
                ("run", "started", "finished", "status", "run by", "version"),
                runs,
                "signoff-runs",
            ),
            '<div class="sign"><div>Signed for the customer (name, signature, date)</div>'
            "<div>Signed for the migration (name, signature, date)</div></div>",
            "</section>",
        ]
    )
