"""Turn the scenarios' results into ``results.json`` (the schema of issue #7, nothing more) and ``RESULTS.md``
(a table per scenario with every contender, ratios, the targets, machine and date, and what limits it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.requests_per_record import route_rows, table

HERE = Path(__file__).resolve().parent
FINDINGS = HERE / "what_limits_it.md"


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def results_json(
    date: str, machine: dict[str, Any], s: dict[str, dict[str, Any]], quick: bool
) -> dict[str, Any]:
    """Exactly ``{"date", "machine", "scenarios": {...}}`` as issue #7 states it."""
    scenarios: dict[str, Any] = {}
    for key in ("throughput", "latency", "fast_throughput", "fast_latency"):
        if key in s:
            fig = s[key]["figures"]
            scenarios[key] = {n: fig.get(n) for n in ("raw", "dlt", "naive", "migrator")}
    if "rate_limited" in s:
        r = s["rate_limited"]
        scenarios["rate_limited"] = {
            "physical_limit_s": r["physical_limit_s"],
            "migrator_s": r["migrator_s"] if r["valid"] else None,
            "responses_429": r["responses_429"],
        }
    if "memory" in s:
        m = s["memory"]
        scenarios["memory"] = {"rss_100k_mb": m["rss_100k_mb"]}
        if not quick or m["rss_1m_mb"] is not None:
            scenarios["memory"]["rss_1m_mb"] = m["rss_1m_mb"]
    if "resume" in s:
        r = s["resume"]
        scenarios["resume"] = {
            "records_written_twice": r["records_written_twice"] if r["valid"] else None,
            "in_flight_bound": r["in_flight_bound"],
            "extra_s": r["extra_s"] if r["valid"] else None,
        }
    if "journal" in s:
        j = s["journal"]
        scenarios["journal"] = {"on_rec_s": j["on_rec_s"], "memory_rec_s": j["memory_rec_s"]}
    if "unstated_budget" in s:
        scenarios["unstated_budget"] = {
            row["run"]: {
                "physical_limit_s": row["physical_limit_s"],
                "migrator_s": row["migrator_s"] if row["valid"] else None,
                "responses_429": row["responses_429"],
            }
            for row in s["unstated_budget"]["rows"]
        }
    return {"date": date, "machine": machine, "scenarios": scenarios}


def targets(s: dict[str, dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for every target issues #7 and #18 set; met is None when the scenario did not
    run."""
    out: list[tuple[str, str, bool | None]] = []

    def fig(key: str, name: str) -> float | None:
        return s.get(key, {}).get("figures", {}).get(name)

    for key, n, raw_min, dlt_min in (("throughput", "1", 0.8, 5.0), ("latency", "2", 0.9, 12.0)):
        vs_raw = _ratio(fig(key, "migrator"), fig(key, "raw"))
        vs_dlt = _ratio(fig(key, "migrator"), fig(key, "dlt"))
        out.append(
            (f"{n}: migrator ≥ {raw_min}× raw", _x(vs_raw), None if vs_raw is None else vs_raw >= raw_min)
        )
        out.append(
            (f"{n}: migrator ≥ {dlt_min:g}× dlt", _x(vs_dlt), None if vs_dlt is None else vs_dlt >= dlt_min)
        )
    for key, n, raw_min in (("fast_throughput", "7", 0.8), ("fast_latency", "8", 0.95)):
        vs_raw = _ratio(fig(key, "migrator"), fig(key, "raw"))
        out.append(
            (
                f"{n}: migrator's wall ≥ {raw_min}× raw's (#18)",
                _x(vs_raw),
                None if vs_raw is None else vs_raw >= raw_min,
            )
        )
    cpu = cpu_ratio(s.get("fast_throughput"))
    out.append(("7: migrator's client CPU ≤ 1.25× raw's (#18)", _x(cpu), None if cpu is None else cpu <= 1.25))
    r = s.get("rate_limited")
    if r:
        over = r["migrator_s"] / r["physical_limit_s"] - 1 if r["physical_limit_s"] else None
        met = None if over is None or not r["valid"] else over <= 0.02 and r["responses_429"] == 0
        out.append(
            (
                "3: within 2% of requests ÷ budget, 0 × 429 (#7: 3%; #18: 2%)",
                f"{r['migrator_s']} s vs {r['physical_limit_s']} s ({_pct(over)}), {r['responses_429']} × 429",
                met,
            )
        )
    m = s.get("memory")
    if m:
        a, b = m["rss_100k_mb"], m["rss_1m_mb"]
        if b is not None and a:
            out.append(("4: peak RSS at 1M ≤ 200 MB", f"{b} MB", b <= 200))
            out.append(("4: RSS at 1M ≤ 1.3× the 100k figure", f"{b / a:.2f}×", b <= 1.3 * a))
        elif a is not None:
            out.append(("4: peak RSS at 100k ≤ 200 MB (1M not run)", f"{a} MB", a <= 200))
    r = s.get("resume")
    if r:
        out.append(
            (
                "5: written twice ≤ in-flight batches",
                f"{r['records_written_twice']} ≤ {r['in_flight_bound']}, extra {r['extra_s']} s",
                r["valid"] and r["records_written_twice"] <= r["in_flight_bound"],
            )
        )
    j = s.get("journal")
    if j and j["on_rec_s"] and j["memory_rec_s"]:
        cost = 1 - j["on_rec_s"] / j["memory_rec_s"]
        out.append(("6: the journal costs ≤ 10%", _pct(cost), cost <= 0.10))
    u = s.get("unstated_budget")
    for row in u["rows"] if u else ():
        over = row["migrator_step_s"] / row["physical_limit_s"] - 1 if row["migrator_step_s"] else None
        stated = row.get("budget_stated", False)
        share = row["share_429"]
        if stated:
            met = None if over is None or not row["valid"] else over <= 0.02 and row["responses_429"] == 0
            goal = "step within 2% of imports ÷ budget, 0 × 429"
        else:
            met = None if over is None or not row["valid"] else over <= 0.10 and share <= 0.02
            goal = "step within 10% of imports ÷ budget, ≤ 2% × 429"
        out.append(
            (
                f"9: {row['run']}: {goal}",
                f"{row['migrator_step_s']} s vs {row['physical_limit_s']} s ({_pct(over)}), "
                f"{row['responses_429']} × 429 ({share * 100:.1f}%)",
                met,
            )
        )
    return out


def profile_section(s: dict[str, dict[str, Any]]) -> list[str]:
    """Scenario 10 beside the raw loop's CPU per record (scenario 7): each stage's CPU per record, the
    functions that spent the most themselves, and the floor the journal's writes set alone."""
    p = s.get("client_profile")
    if not p:
        return ["(scenario 10, the client's profile, did not run)"]
    users = p["users"]
    per = 1e6 / users  # seconds → µs per record
    fast = s.get("fast_throughput")
    raw_cpu = (
        next((r.get("cpu_s") for r in fast["rows"] if r["contender"] == "raw" and r["valid"]), None)
        if fast and fast["users"] == users
        else None
    )
    sampled = sum(spent for _, spent in p["stages"]) or None
    lines = [
        f"**This run's profile (scenario 10).** Scenario 7's route, {users:,} users, once more under the "
        "sampling profiler of `benchmarks/cpu_sample.py` (each millisecond of the process's CPU charged to the "
        "stack it finds, so SQLite's and JSON's C time lands on the Python function that called it): "
        f"client CPU {p['cpu_s']} s ({p['cpu_s'] * per:.1f} µs per record; the profiler's own cost included)"
        + (
            f", where the raw loop's whole process took {raw_cpu} s ({raw_cpu * per:.1f} µs per record) in "
            f"scenario 7: {p['cpu_s'] / raw_cpu:.2f}×."
            if raw_cpu
            else "."
        )
        + ("" if p["valid"] else f" NO VALID FIGURE: {p['note']}"),
        "",
        "| Stage | CPU s | µs per record | Share |",
        "|---|---:|---:|---:|",
    ]
    for stage, spent in p["stages"]:
        share = f"{spent / sampled:.0%}" if sampled else "—"
        lines.append(f"| {stage} | {spent:.2f} | {spent * per:.1f} | {share} |")
    lines += ["", "Spent in the function itself (and the C it called):", ""]
    lines += [f"- {spent:.2f} s `{where}`" for where, spent in p["own"]]
    floor = p["ledger_floor"]
    total = sum(floor.values())
    lines += [
        "",
        "The floor the journal sets (`benchmarks/ledger_writes.py`: the ledger writes a run makes for each "
        "batch of 500, in-process, with no network, mapping or report; min of 2 runs): "
        + ", ".join(f"{stage} {spent:.2f} s" for stage, spent in floor.items())
        + f": {total:.2f} s, {total * per:.1f} µs per record"
        + (
            f", {total / raw_cpu:.2f}× the raw loop's whole CPU before a record is fetched or mapped."
            if raw_cpu
            else "."
        ),
    ]
    return lines


def cpu_ratio(scenario: dict[str, Any] | None) -> float | None:
    """migrator's client CPU ÷ the raw loop's, their best runs (the ones the table shows)."""
    if not scenario:
        return None
    cpu = {row["contender"]: row.get("cpu_s") for row in scenario["rows"] if row["valid"]}
    return _ratio(cpu.get("migrator"), cpu.get("raw"))


def _x(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}×"


def _s(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:+.1f}%"


def _n(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def results_md(
    date: str, machine: dict[str, Any], s: dict[str, dict[str, Any]], quick: bool, took: float, engine: str
) -> str:
    lines = [
        "# Benchmarks: migrator side by side with its peers",
        "",
        f"Written by `python -m benchmarks.run{' --quick' if quick else ''}` on {date} "
        f"({'QUICK mode: scenarios at a tenth of the size' if quick else 'full run'}; the whole run took "
        f"{took / 60:.1f} min). Every scenario starts `python -m migrator sandbox` (7–9: the fast target, "
        "`benchmarks/fast_target.py`) in its own process; every "
        "contender runs as its own process against it, the target tenant reset before each; a figure counts "
        "only when the target then holds exactly the expected users with 0 duplicates (`/_sandbox/stats`). "
        "Wall time is the whole process, interpreter start-up included.",
        "",
        f"Engine measured: commit {engine}.",
        "",
        f"Machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['ram_gb']} GB RAM, Python "
        f"{machine['python']}, {machine['os']}; 1-minute load average at start {machine['load_at_start']}, "
        f"at the end {machine.get('load_at_end', '—')} (the scenarios' own servers and clients count in it; "
        "on these 2 cores a load well above 2 means other work shared the machine).",
        "",
        "## Targets (issues #7 and #18)",
        "",
        "| Target | Measured | Met |",
        "|---|---|---|",
    ]
    for name, measured, met in targets(s):
        lines.append(f"| {name} | {measured} | {'—' if met is None else ('yes' if met else '**NO**')} |")
    for key in ("throughput", "latency", "fast_throughput", "fast_latency"):
        if key not in s:
            continue
        sc = s[key]
        raw = sc["figures"].get("raw")
        fast = key.startswith("fast_")
        lines += [
            "",
            f"## {sc['title']}: {sc['users']:,} Velpic users → Velpic target, page 100, bulk 500"
            + (f", {sc['faults']}" if fast and sc["faults"] else "")
            + (f", faults `{sc['faults']}`" if sc["faults"] and not fast else "")
            + ("" if sc["faults"] else ", no latency"),
            "",
            "| Contender | Wall s | Records/s | × raw | migrator × this | CPU s | CPU ÷ raw's "
            "| Target count / dups / updates | Note |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        mig = sc["figures"].get("migrator")
        raw_cpu = next((r.get("cpu_s") for r in sc["rows"] if r["contender"] == "raw" and r["valid"]), None)
        for row in sc["rows"]:
            t = row["target"]
            lines.append(
                f"| {row['contender']} | {row['seconds']:.2f} | {_n(row['rec_s'])} "
                f"| {_x(_ratio(row['rec_s'], raw))} "
                f"| {_x(_ratio(mig, row['rec_s']))} | {_s(row.get('cpu_s'))} "
                f"| {_x(_ratio(row.get('cpu_s'), raw_cpu))} "
                f"| {_n(t.get('count'))} / {_n(t.get('duplicates'))} / "
                f"{_n(t.get('updates'))} | {'' if row['valid'] else 'NO VALID FIGURE '}{row['note']} |"
            )
    r = s.get("rate_limited")
    if r:
        lines += [
            "",
            f"## 3 · rate-limited: {r['users']:,} users → accessplanit v2 `$upsert`, {r['rate']} req/s on the "
            "sandbox and in the plan",
            "",
            "| Upserts sent | Physical limit (requests ÷ budget) | migrator wall | migrator step | × limit "
            "| 429s |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {r['requests']:,} | {r['physical_limit_s']:.2f} s | {r['migrator_s']:.2f} s | "
            f"{_n(r['migrator_step_s'])} s | {_x(_ratio(r['migrator_s'], r['physical_limit_s']))} | "
            f"{r['responses_429']} |",
        ]
        if r["note"]:
            lines.append(f"\nNo valid figure: {r['note']}")
    m = s.get("memory")
    if m:
        lines += [
            "",
            "## 4 · memory: peak RSS of the migrator process (VmHWM), Velpic → Velpic",
            "",
            "| Users | Peak RSS MB | Wall s | Records/s | Note |",
            "|---:|---:|---:|---:|---|",
        ]
        for row in m["rows"]:
            lines.append(
                f"| {row['users']:,} | {_n(row['peak_rss_mb'])} | {row['seconds']:.2f} | {_n(row['rec_s'])} | "
                f"{'' if row['valid'] else 'NO VALID FIGURE '}{row['note']} |"
            )
    r = s.get("resume")
    if r:
        lines += [
            "",
            f"## 5 · resume: {r['users']:,} users, SIGKILL at ~50%, then `migrator run` again",
            "",
            "| Uninterrupted s | Killed after s (users on target) | Resume s | Extra s | Written twice | "
            "In-flight bound |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {r['single_s']:.2f} | {r['killed_s']:.2f} ({r['killed_at_count']:,}) | {r['resumed_s']:.2f} | "
            f"{r['extra_s']:.2f} | {r['records_written_twice']:,} | {r['in_flight_bound']:,} |",
        ]
        if r["note"] or not r["valid"]:
            lines.append(f"\nNo valid figure: {r['note'] or 'see the run log'} (target {r['target']})")
    j = s.get("journal")
    if j:
        cost = (
            None
            if not (j["on_rec_s"] and j["memory_rec_s"])
            else f"{(1 - j['on_rec_s'] / j['memory_rec_s']) * 100:+.1f}%"
        )
        lines += [
            "",
            f"## 6 · journal cost: {j['users']:,} users (scenario 1's route), best of {len(j['runs']['disk'])}",
            "",
            "| Journal | Records/s (best) | Runs |",
            "|---|---:|---|",
            f"| file on disk | {_n(j['on_rec_s'])} | {', '.join(_n(v) for v in j['runs']['disk'])} |",
            f"| tmpfs (`/dev/shm`) | {_n(j['memory_rec_s'])} "
            f"| {', '.join(_n(v) for v in j['runs']['memory'])} |",
            "",
            f"Cost of the disk journal: {cost or '—'}.",
        ]
    u = s.get("unstated_budget")
    if u:
        lines += [
            "",
            f"## 9 · unstated budget: {u['users']:,} imports of one record, the fast target allows "
            f"{u['rate']}/s",
            "",
            "| Run | Imports | Physical limit | migrator wall | migrator step | step × limit | 429s | Note |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for row in u["rows"]:
            step, limit = row["migrator_step_s"], row["physical_limit_s"]
            lines.append(
                f"| {row['run']} | {row['imports']:,} | {limit:.2f} s | {row['migrator_s']:.2f} s "
                f"| {_n(step)} s | {_x(_ratio(step, limit))} "
                f"| {row['responses_429']} ({row['share_429'] * 100:.1f}%) "
                f"| {'' if row['valid'] else 'NO VALID FIGURE '}{row['note']} |"
            )
    lines += ["", "## Requests per record, per route", "", *table(route_rows())]
    lines += ["", "## What limits it", "", *profile_section(s)]
    if FINDINGS.exists():
        lines += ["", FINDINGS.read_text().strip()]
    lines += [
        "",
        "## Reproduce",
        "",
        "`make bench` (everything, ~15–25 min, ~8 GB RAM for the 1M sandbox) or `make bench-quick` (1–3 at a "
        "tenth of the size plus the small versions of 4–6, < 5 min). One scenario: `python -m benchmarks.run "
        "--only throughput,latency` (results of scenarios not run are then left out of the files).",
        "",
    ]
    return "\n".join(lines)


def write(
    date: str, machine: dict[str, Any], s: dict[str, dict[str, Any]], quick: bool, took: float, engine: str
) -> None:
    (HERE / "results.json").write_text(json.dumps(results_json(date, machine, s, quick), indent=2) + "\n")
    (HERE / "RESULTS.md").write_text(results_md(date, machine, s, quick, took, engine))
