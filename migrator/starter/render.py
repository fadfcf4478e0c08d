"""A starter plan as TOML text, with its comments: pure, from a :class:`~migrator.starter.model.Route`.

The text names every environment variable it references at the top, then what the plan does not carry (each
source entity no step reads, with why, and each step left commented out, with what it needs); every table and
step follows with its comment, and under each step every field the target is known to take that the step does
not map, commented with why.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from migrator.connectors.catalog import CATALOG
from migrator.starter.connections import CONNECTIONS, Side, connection_fields
from migrator.starter.model import CHANGE, NO_MAPPING, ConnectionBlock, Route, StepSpec, TableSpec
from migrator.starter.routes import FIELD_NOTES, UNMAPPED

__all__ = ["env_vars", "left_behind", "render_plan", "step_platform", "toml_key", "toml_value"]

WIDTH = 115
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_key(key: str) -> str:
    """``key`` bare when TOML allows it, else a quoted key."""
    return key if _BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    """``value`` as a TOML value: strings, booleans, integers, floats, lists and (inline) tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _comment(text: str, prefix: str = "# ", indent: str = "") -> list[str]:
    """``text`` as comment lines of at most WIDTH characters, the first after ``prefix``, the others after
    ``# `` and ``indent``."""
    return textwrap.wrap(
        text, WIDTH, initial_indent=prefix, subsequent_indent="# " + indent, break_on_hyphens=False
    )


def env_vars(route: Route) -> list[str]:
    """Every environment variable the plan of ``route`` references, in order of first use."""
    names: list[str] = []
    for platform, side in ((route.source, Side.SOURCE), (route.target, Side.TARGET)):
        for value in connection_fields(platform, side).values():
            for name in _ENV_REF.findall(value) if isinstance(value, str) else ():
                if name not in names:
                    names.append(name)
    return names


def _unread(route: Route) -> list[str]:
    """The source's readable entities no step reads, an entity read through the same endpoint as one a step
    reads (Velpic ``user_status`` is the ``user`` list) counting as read; none for an open source (files)."""
    spec = CATALOG[route.source]
    if spec.open_entities:
        return []
    read = {s.read for s in route.steps}
    endpoints = {e.read.endpoint for e in spec.entities.values() if e.name in read and e.read is not None}
    return [
        e.name
        for e in spec.entities.values()
        if e.read is not None
        and e.read.records_of is None  # another entity's records, completed (Velpic user_supervisors)
        and e.name not in read
        and e.read.endpoint not in endpoints
    ]


def left_behind(route: Route) -> list[str]:
    """What the plan does not carry, one sentence each: source entities no step reads (with why) and steps
    left commented out (with what they need)."""
    lines = [
        f"left behind: {entity} — {NO_MAPPING}" for entity in _unread(route) if entity not in route.left_behind
    ]
    lines += [f"left behind: {entity} — {why}" for entity, why in route.left_behind.items()]
    lines += [
        f"left behind until you supply it: step {s.name} ({s.read} -> {s.write}), commented out below — "
        f"needs {s.needs}"
        for s in route.steps
        if s.needs
    ]
    return lines


def _header(route: Route, name: str) -> list[str]:
    lines = _comment(" ".join(route.summary))
    lines += ["#", *_comment("Env vars: " + ", ".join(env_vars(route)), indent="          ")]
    written = (
        f"Written by `migrator init {route.source} {route.target} --name {name}`: a starting point. Check "
        f"it with "
        "`migrator validate`, rehearse it with `migrator run --dry-run`."
    )
    if any(fm.note.startswith(CHANGE) for s in route.steps for fm in s.fields):
        written += f" Lines marked {CHANGE} hold the sandbox's values: set the customer's."
    lines += ["#", *_comment(written)]
    behind = left_behind(route)
    if behind:
        lines += ["#", "# Not carried by this plan:"]
        for line in behind:
            lines += _comment(line, "# - ", "  ")
    return lines


def _connection(label: str, platform: str, side: Side) -> list[str]:
    spec = CONNECTIONS[platform]
    lines = [f"[connections.{label}]"]
    for key, value in connection_fields(platform, side).items():
        if key == "budget" and spec.budget_note:
            lines += _comment(spec.budget_note)
        if key == "path" and spec.path_note:
            lines += _comment(spec.path_note)
        lines.append(f"{key} = {toml_value(value)}")
    return lines


def _extra_connection(block: ConnectionBlock) -> list[str]:
    lines = [*_comment(block.note), f"[connections.{toml_key(block.label)}]"]
    return lines + [f"{toml_key(key)} = {toml_value(value)}" for key, value in block.fields.items()]


def _table(table: TableSpec) -> list[str]:
    lines = _comment(table.note)
    if table.needs:
        lines += _comment(f"Commented out until you write it: {table.needs}.")
    body = [f"[tables.{toml_key(table.name)}]"]
    if table.values is not None:
        body.append(f"values = {toml_value(dict(table.values))}")
    if table.file is not None:
        body += [
            f"file = {toml_value(table.file)}",
            f"key_column = {toml_value(table.key_column)}",
            f"value_column = {toml_value(table.value_column)}",
        ]
    if table.default is not None:
        body.append(f"default = {toml_value(table.default)}")
    return lines + (_commented(body) if table.needs else body)


def _commented(lines: Iterable[str]) -> list[str]:
    return [f"# {line}" if line else "#" for line in lines]


def _step(step: StepSpec, target: str, disabled: set[str]) -> list[str]:
    lines = _comment(step.note) if step.note else []
    if step.needs:
        lines += _comment(f"Commented out until you supply it: {step.needs}.")
    read: dict[str, Any] = {"from": "source", "entity": step.read}
    if step.filter:
        read["filter"] = dict(step.filter)
    if step.page_size is not None:
        read["page_size"] = step.page_size
    if step.key is not None:
        read["key"] = step.key
    write: dict[str, Any] = {"to": step.to, "entity": step.write, "mode": step.mode}
    if step.match is not None:
        write["match"] = step.match
    if step.batch is not None:
        write["batch"] = step.batch
    body = [f"[steps.{toml_key(step.name)}]", f"read  = {toml_value(read)}", f"write = {toml_value(write)}"]
    if step.where is not None:
        body.append(f"where = {toml_value(step.where)}")
    for fm in step.fields:
        line = f"map.{toml_key(fm.target)} = {toml_value(fm.value)}"
        body.append(f"{line}   # {fm.note}" if fm.note else line)
    for field, why in _unmapped(step, target):
        body.append(f"# map.{field} is not mapped: {why}")
    after = [a for a in step.after if step.needs or a not in disabled]
    if after:
        body.append(f"after = {toml_value(after)}")
    body += [f'# add "{a}" to after once that step is enabled' for a in step.after if a not in after]
    if step.max_rejected is not None:
        body.append(f"on_error = {toml_value({'max_rejected': step.max_rejected})}")
    return lines + (_commented(body) if step.needs else body)


def step_platform(route: Route, step: StepSpec) -> str:
    """The platform ``step`` writes: the route's target, or that of the connection it writes to."""
    return next((c.platform for c in route.connections if c.label == step.to), route.target)


def _unmapped(step: StepSpec, target: str) -> list[tuple[str, str]]:
    """Each field the catalog knows ``step.write`` takes on ``target`` (the platform the step writes) that the
    step does not map, and why."""
    entity = CATALOG[target].entities.get(step.write)
    if entity is None or entity.fields is None:
        return []
    mapped = {fm.target for fm in step.fields}
    notes = FIELD_NOTES.get((target, step.write), {})
    return [
        (f, step.unmapped.get(f) or notes.get(f) or UNMAPPED) for f in sorted(entity.fields) if f not in mapped
    ]


def render_plan(route: Route, name: str) -> str:
    """The starter plan of ``route`` named ``name``, as TOML text with its comments."""
    disabled = {s.name for s in route.steps if s.needs}
    sections: list[Sequence[str]] = [
        _header(route, name),
        ["[plan]", f"name = {toml_value(name)}"],
        _connection("source", route.source, Side.SOURCE),
        _connection("target", route.target, Side.TARGET),
        *(_extra_connection(c) for c in route.connections),
        *(_table(t) for t in route.tables),
        *(_step(s, step_platform(route, s), disabled) for s in route.steps),
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"
