"""The HTML view of a change set: one self-contained page (no script, no outside resource) to review before
approving a run. Every value from the plan, the sources or the targets goes through :func:`html.escape`, so
a value holding markup is shown, never interpreted."""

from __future__ import annotations

import html
import json
import time
from typing import Any

from migrator.changeset import ChangeSet, StepChange, totals
from migrator.estimate import format_duration

__all__ = ["render_html"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}"
    "td.n{text-align:right}.warn{color:#a40}code{white-space:pre-wrap}"
)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _value(value: Any) -> str:
    return _e(json.dumps(value, ensure_ascii=False, default=str))


def render_html(found: ChangeSet) -> str:
    """The page of ``found``."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(found.previewed_at))
    took = "unknown" if found.seconds is None else format_duration(found.seconds)
    sums = totals(found.steps)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Change set — {_e(found.plan)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Change set of plan {_e(found.plan)}</h1>",
        f"<p>Previewed {_e(when)}; nothing was written. Plan hash <code>{_e(found.plan_hash)}</code>; "
        f"approval tolerance {_e(found.tolerance)}. The run: {_e(found.requests)} requests, {_e(took)} "
        "under its budgets.</p>",
        "<table><tr><th>step</th><th>status</th><th>read</th><th>create</th><th>update</th><th>unchanged</th>"
        "<th>linked</th><th>reject</th><th>requests</th><th>time</th></tr>",
    ]
    for name, s in found.steps.items():
        parts.append(
            f"<tr><td>{_e(name)}</td><td>{_e(s.status)}</td>"
            + "".join(
                f"<td class='n'>{v:,}</td>"
                for v in (s.read, s.created, s.updated, s.unchanged, s.linked, s.rejected)
            )
            + f"<td class='n'>{_e(s.requests)}</td>"
            + f"<td>{_e('' if s.seconds is None else format_duration(s.seconds))}</td></tr>"
        )
    parts.append(
        "<tr><th>total</th><td></td>"
        + "".join(
            f"<td class='n'>{sums[k]:,}</td>"
            for k in ("read", "created", "updated", "unchanged", "linked", "rejected")
        )
        + "<td></td><td></td></tr></table>"
    )
    for name, s in found.steps.items():
        parts.extend(_step(name, s))
    parts.append("</body></html>\n")
    return "".join(parts)


def _step(name: str, s: StepChange) -> list[str]:
    out = [f"<h2>Step {_e(name)}</h2>"]
    if s.error:
        out.append(f"<p class='warn'>{_e(s.error)}</p>")
    if s.breach:
        out.append(f"<p class='warn'>Limit: {_e(s.breach)}: the run would stop this step.</p>")
    for what, states in (("create", s.after_create), ("merge", s.after_merge)):
        if states:
            out.append(
                f"<p>Set after their {what} (linked where the platform leaves the record so, updated "
                "otherwise: no document says which):</p><table><tr><th>state wanted</th><th>records</th></tr>"
            )
            out.extend(f"<tr><td>{_e(k)}</td><td class='n'>{n:,}</td></tr>" for k, n in states.items())
            out.append("</table>")
    if s.fields:
        out.append("<table><tr><th>field updated</th><th>records</th></tr>")
        out.extend(f"<tr><td>{_e(f)}</td><td class='n'>{n:,}</td></tr>" for f, n in s.fields.items())
        out.append("</table>")
    if s.samples:
        out.append("<table><tr><th>record</th><th>action</th><th>field</th><th>before</th><th>after</th></tr>")
        for sample in s.samples:
            for field, (before, after) in sample.changes.items():
                out.append(
                    f"<tr><td>{_e(sample.source_key)}</td><td>{_e(sample.action)}</td><td>{_e(field)}</td>"
                    f"<td><code>{_value(before)}</code></td><td><code>{_value(after)}</code></td></tr>"
                )
        out.append("</table>")
    if s.invalid:
        out.append("<table><tr><th>record</th><th>kind</th><th>reason</th></tr>")
        out.extend(
            f"<tr><td>{_e(i.source_key)}</td><td>{_e(i.kind)}</td><td>{_e(i.reason)}</td></tr>"
            for i in s.invalid
        )
        out.append("</table>")
    return out
