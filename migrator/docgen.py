"""Generate ``docs/plan-reference.md`` from the plan's Structs and the connector catalog.

``python -m migrator.docgen`` writes the file; ``python -m migrator.docgen --check`` exits 1 (and says what to
run) when the committed file differs from what the code would generate now. Everything in the page comes from
:mod:`migrator.plan.model` (keys, types, defaults, allowed values, docstrings) and
:mod:`migrator.connectors.catalog` (platforms, entities, endpoints, paging, write modes, match keys, fields,
budgets), plus :data:`FIELD_NOTES`, one line per key, which a test keeps complete.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from migrator.connectors.catalog import CATALOG
from migrator.connectors.spec import ANY_FIELD, EntitySpec, Paging, PlatformSpec, ReadSpec, WriteSpec
from migrator.plan import model

__all__ = [
    "DEFAULT_OUT",
    "FIELD_NOTES",
    "SECTIONS",
    "check",
    "main",
    "render",
    "render_catalog",
    "render_plan",
    "render_type",
    "struct_fields",
]

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "plan-reference.md"

#: (heading, where it sits in a plan file, Struct), in the order a plan file is usually written.
SECTIONS: tuple[tuple[str, str, type[msgspec.Struct]], ...] = (
    ("The whole file", "(top level)", model.Plan),
    ("`[plan]`", "[plan]", model.PlanMeta),
    ("`[defaults]`", "[defaults]", model.Defaults),
    ("`[connections.<name>]`", "[connections.<name>]", model.Connection),
    ("`budget = { … }`", "[connections.<name>].budget", model.Budget),
    ("`[tables.<name>]`", "[tables.<name>]", model.Table),
    ("`[steps.<name>]`", "[steps.<name>]", model.Step),
    ("`read = { … }`", "[steps.<name>].read", model.Read),
    ('`write = { mode = "bulk", … }`', "[steps.<name>].write", model.BulkWrite),
    ('`write = { mode = "upsert", … }`', "[steps.<name>].write", model.UpsertWrite),
    ('`write = { mode = "create", … }`', "[steps.<name>].write", model.CreateWrite),
    ('`write = { mode = "update", … }`', "[steps.<name>].write", model.UpdateWrite),
    ("`limits = { … }`", "[steps.<name>].limits", model.Limits),
    ("`on_error = { … }`", "[steps.<name>].on_error", model.OnError),
)

#: One line per key: what it does. ``Struct.field`` (the Python name); a test fails when a key has none.
FIELD_NOTES: dict[str, str] = {
    "Plan.plan": "the plan's name and description",
    "Plan.connections": "one table per platform connection, named as you like; steps refer to these names",
    "Plan.steps": "one table per step; at least one",
    "Plan.defaults": "values every step uses unless it says otherwise",
    "Plan.tables": "value tables for the `lookup(name)` transform",
    "PlanMeta.name": (
        "part of every record's idempotency key and the journal's file name "
        "(`.migrator/<name>.sqlite`): do not rename a plan mid-migration"
    ),
    "PlanMeta.description": "free text, shown by `explain` and in the report",
    "PlanMeta.functions": (
        "a Python file beside the plan whose functions maps call: `call(name, a, b)`, `x | fn(name)`"
    ),
    "PlanMeta.approval_tolerance": (
        "how far each step's figures may be from an approved change set for `run --approved` to go on: a "
        'count of records (`10`) or a percentage of the step\'s records (`"2%"`); unset: exactly '
        "(docs/preview.md)"
    ),
    "Defaults.page_size": (
        "read page size; unset: the endpoint's default; clamped to the endpoint's maximum (a step's own "
        "`read.page_size` above the maximum is an error)"
    ),
    "Defaults.batch": (
        "records per request for bulk writes (per-record modes always send 1); clamped to the mode's maximum"
    ),
    "Defaults.max_rejected": (
        "a step stops once more records than this were rejected; unset: never stops for that"
    ),
    "Defaults.concurrency": (
        "requests in flight per connection (unset: 8); a connection's own `concurrency` wins"
    ),
    "Connection.platform": "which connector talks to it (see the platforms below)",
    "Connection.base_url": "the API root, usually `${VAR}`; required by every platform but `files`; "
    "`http(s)://host[:port][/path]`, no query, fragment or user:password",
    "Connection.path": "`files` only: the directory of the CSV/JSONL files (relative to the plan file, or "
    "see `relative_to`); may be or contain `${VAR}` (the customer's export folder on this machine)",
    "Connection.relative_to": (
        '`files` only: `"plan"`, a relative `path` is in the plan file\'s folder; `"journal"`, `path` names '
        "the run's own folder beside its journal and reports: `.migrator/<plan name>-<path>/`, or "
        "`<journal>.<path>/` for `--journal <journal>` (a documents archive a run writes, say)"
    ),
    "Connection.access_key": "Velpic: the `AccessKey` header; must be `${VAR}`",
    "Connection.username": "accessplanit (v1, v2): user for the `/token` password grant; must be `${VAR}`",
    "Connection.password": "accessplanit (v1, v2): its password; must be `${VAR}`",
    "Connection.api_key": (
        "aNewSpring: the `X-API-Key` header; accessplanit: an API key instead of username/password; must be "
        "`${VAR}`"
    ),
    "Connection.customer_token": "OneFile: exchanged for a 24-hour session token; must be `${VAR}`",
    "Connection.budget": (
        'a rate such as `"20/second"` for every endpoint, or a `budget = { … }` table (below); unset: the '
        "platform's documented default"
    ),
    "Connection.timeout": "seconds per request",
    "Connection.concurrency": "requests in flight on this connection (unset: `defaults.concurrency`, else 8)",
    "Budget.default": '`"<count>/<second|minute|hour|day>"` for every endpoint of the connection',
    "Budget.endpoints": (
        "per-endpoint overrides, keyed by the endpoint's budget key (the path in the catalog below, e.g. "
        '`"/bulkUserImport"`)'
    ),
    "Budget.reserve": "fraction of every budget left unused for the customer's own traffic (0 ≤ reserve < 1)",
    "Read.from_": "the connection to read from",
    "Read.entity": "the entity to read (see the platform's entities below)",
    "Read.filter": (
        "filters sent to the source (query parameters, an OData `$filter`, or a search body, per platform); "
        "some entities require one"
    ),
    "Read.page_size": "records per page; at most the endpoint's maximum",
    "Read.key": "the source field that identifies a record (default: the entity's key in the catalog)",
    "BulkWrite.to": "the connection to write to",
    "BulkWrite.entity": "the target entity",
    "BulkWrite.match": "Velpic `mergeType`: `email`, `empNo` or `userName` (required by Velpic)",
    "BulkWrite.batch": "records per bulk request (at most the mode's maximum)",
    "UpsertWrite.to": "the connection to write to",
    "UpsertWrite.entity": "the target entity",
    "UpsertWrite.match": (
        "the field(s) that find the existing record: accessplanit `$upsert` field (a compound key is "
        'comma-separated, `"UserID,CourseDateID"`), aNewSpring `userID`'
    ),
    "UpsertWrite.batch": "ignored for per-record modes; at most 1 there",
    "CreateWrite.to": "the connection to write to",
    "CreateWrite.entity": "the target entity",
    "CreateWrite.match": (
        "the target field used to look a record up when its batch is in doubt after a crash, so that it is "
        "not created twice"
    ),
    "CreateWrite.batch": "records per request where the mode is a bulk call; per-record modes send 1",
    "UpdateWrite.to": "the connection to write to",
    "UpdateWrite.entity": "the target entity",
    "UpdateWrite.match": (
        "the field that names the record to change (usually the target id, through a crosswalk)"
    ),
    "UpdateWrite.batch": "ignored for per-record modes; at most 1 there",
    "OnError.max_rejected": (
        "the short form of `limits.max_rejected`: the step stops once more records than this were rejected"
    ),
    "Limits.max_rejected": (
        'the step stops once more records than this were rejected: a count (`100`) or a percentage (`"2%"`) '
        "of the step's records"
    ),
    "Limits.max_creates": "the step stops once it created more records than this (a count or a percentage)",
    "Limits.max_updates": "the step stops once it updated more records than this (a count or a percentage)",
    "Step.read": "what to read (below)",
    "Step.write": "where and how to write; a table tagged by `mode` (below)",
    "Step.map": (
        "target field → expression (see [plan-format.md](plan-format.md#map-expressions)); a constant of "
        "any other type is sent as is"
    ),
    "Step.where": (
        "a condition on each source record, e.g. `\"Status != 'Deleted'\"`; the records it is false for are "
        "excluded (counted as excluded by where)"
    ),
    "Step.after": "steps that must finish first, besides those this step's crosswalk references name",
    "Step.on_error": "the short form of `limits.max_rejected`",
    "Step.limits": (
        "circuit breakers: the most records the step may reject, create and update (see "
        "[plan-format.md](plan-format.md#limits-overwrite-and-unchanged-records))"
    ),
    "Step.overwrite": (
        '`{ field = "always" | "if_empty" | "once" }`: what an update may overwrite of a value the target '
        "holds (mapped fields only; default `always`)"
    ),
    "Step.concurrency": (
        "accepted by the plan language; the engine does not use it yet (the connection's concurrency applies)"
    ),
    "Table.values": "inline `{ key = value }` pairs (keys are compared as text)",
    "Table.file": "a CSV file (relative to the plan file) instead of `values`",
    "Table.key_column": "the CSV column holding the keys",
    "Table.value_column": "the CSV column holding the values",
    "Table.default": "the value for a key not in the table; unset: such a record is rejected",
}


def struct_fields(struct: type[msgspec.Struct]) -> tuple[msgspec.structs.FieldInfo, ...]:
    return msgspec.structs.fields(struct)


# ---------------------------------------------------------------------------------------------- types


def _strip_annotated(tp: Any) -> tuple[Any, list[msgspec.Meta]]:
    metas: list[msgspec.Meta] = []
    while typing.get_origin(tp) is typing.Annotated:
        args = typing.get_args(tp)
        tp = args[0]
        metas.extend(a for a in args[1:] if isinstance(a, msgspec.Meta))
    return tp, metas


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(tp)
    return None


_NAMES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    Any: "any",
    type(None): "none",
}


def render_type(tp: Any) -> str:
    """A reader's name for a field type: ``string``, ``integer ≥ 1``, ``table of string → …``, ``one of …``."""
    tp, metas = _strip_annotated(tp)
    args = _union_args(tp)
    if args is not None:
        parts = [render_type(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(parts))
    if typing.get_origin(tp) is typing.Literal:
        return "string"
    origin = typing.get_origin(tp)
    if origin is dict:
        _, value = typing.get_args(tp)
        return f"table of string → {render_type(value)}"
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return "list" if item is Any else f"list of {render_type(item)}"
    if tp is dict:
        return "table"
    if tp is list:
        return "list"
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return "table (below)"
    name = _NAMES.get(tp, getattr(tp, "__name__", str(tp)))
    return name + "".join(_constraint_text(m) for m in metas)


def _constraint_text(meta: msgspec.Meta) -> str:
    out = []
    if meta.ge is not None:
        out.append(f" ≥ {meta.ge:g}")
    if meta.gt is not None:
        out.append(f" > {meta.gt:g}")
    if meta.le is not None:
        out.append(f" ≤ {meta.le:g}")
    if meta.lt is not None:
        out.append(f" < {meta.lt:g}")
    if meta.min_length is not None and meta.min_length > 0:
        out.append(", not empty")
    return "".join(out)


def _allowed(tp: Any) -> str:
    """Allowed values of a Literal (possibly inside a union/Annotated) or a pattern; ``""`` if free."""
    tp, metas = _strip_annotated(tp)
    args = _union_args(tp)
    members = args if args is not None else (tp,)
    values: list[str] = []
    for member in members:
        bare, inner = _strip_annotated(member)
        metas.extend(inner)
        if typing.get_origin(bare) is typing.Literal:
            values.extend(f"`{v}`" for v in typing.get_args(bare))
    patterns = [f"matches `{m.pattern}`" for m in metas if m.pattern is not None]
    return ", ".join(values + patterns)


def _default(info: msgspec.structs.FieldInfo) -> str:
    if info.required:
        return "**required**"
    if info.default_factory is not msgspec.NODEFAULT:
        empty = info.default_factory()
        return "`{}`" if isinstance(empty, dict) else "`[]`" if isinstance(empty, list) else f"`{empty!r}`"
    value = info.default
    if value is None:
        return "unset"
    if isinstance(value, msgspec.Struct):
        return "`{}`"
    if isinstance(value, str):
        return f'`"{value}"`' if value else '`""`'
    if isinstance(value, (dict, list)) and not value:
        return "`{}`" if isinstance(value, dict) else "`[]`"
    return f"`{value!r}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _doc(struct: type) -> str:
    return " ".join(line.strip() for line in (inspect.getdoc(struct) or "").splitlines() if line.strip())


def render_plan() -> str:
    lines = [
        "## Plan keys",
        "",
        "Every table forbids unknown keys: a misspelt key is a plan error, never silently ignored. Credentials "
        f"({', '.join(f'`{c}`' for c in model.CREDENTIAL_FIELDS)}) must be `${{VAR}}` references.",
        "",
    ]
    for heading, where, struct in SECTIONS:
        lines += [f"### {heading}", "", f"Where: `{where}` · Struct `{struct.__name__}`", ""]
        config = struct.__struct_config__
        if config.tag_field is not None:
            lines += [f'Selected by `{config.tag_field} = "{config.tag}"`.', ""]
        doc = _doc(struct)
        if doc:
            lines += [_cell(doc.replace("``", "`")), ""]
        lines += ["| key | type | default | allowed values | meaning |", "|---|---|---|---|---|"]
        for info in struct_fields(struct):
            note = FIELD_NOTES.get(f"{struct.__name__}.{info.name}", "")
            row = (
                f"`{info.encode_name}`",
                render_type(info.type),
                _default(info),
                _allowed(info.type),
                note,
            )
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- catalog


def _paging(paging: Paging) -> str:
    if paging.style == "file":
        return "a local file, no requests"
    if paging.style == "unpaged":
        return "not paged: one request returns every record"
    sizes = []
    if paging.default_size is not None:
        sizes.append(f"default {paging.default_size}")
    if paging.max_size is not None:
        sizes.append(f"max {paging.max_size}")
    total = (
        "total known from the first page: later pages fetched concurrently"
        if paging.knows_total
        else "no total: read until a short or empty page"
    )
    size = f" ({', '.join(sizes)})" if sizes else ""
    return f"`{paging.style}` pages{size}; {total}"


def _budget_text(spec: PlatformSpec) -> str:
    if spec.budget is None:
        return "none"
    scope = "for the whole API (every endpoint shares it)" if spec.budget_scope == "api" else "per endpoint"
    return f"`{spec.budget}` {scope}"


def _read_rows(read: ReadSpec) -> list[str]:
    ep = read.endpoint
    rows = [
        f"- read: `{ep}` — key `{read.key}`; {_paging(read.paging)}",
    ]
    if ep.budget_key and ep.budget_key != ep.path:
        rows.append(f"  - budget key: `{ep.budget_key}`")
    if read.required_filters:
        rows.append(f"  - required filter(s): {', '.join(f'`{f}`' for f in read.required_filters)}")
    if read.parent:
        rows.append(f"  - nested: read once per `{read.parent}` record")
    return rows


def _match_text(write: WriteSpec) -> str:
    if not write.match_keys:
        return "none"
    keys = ", ".join("any known field" if k == ANY_FIELD else f"`{k}`" for k in write.match_keys)
    return keys + (" (**required**)" if write.match_required else " (optional)")


def _write_table(writes: Iterable[tuple[str, WriteSpec]]) -> list[str]:
    lines = [
        "| mode | endpoint | budget key | records per request | match keys |",
        "|---|---|---|---|---|",
    ]
    for mode, write in writes:
        per = "1" if write.per_record else f"up to {write.max_batch:,} (default {write.default_batch:,})"
        row = (
            f"`{mode}`",
            f"`{write.endpoint}`",
            f"`{write.endpoint.budget_key}`" if write.endpoint.budget_key else "–",
            per,
            _match_text(write),
        )
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return lines


def _entity(spec: PlatformSpec, ent: EntitySpec) -> list[str]:
    name = "any file name (`<entity>.csv` or `.jsonl`)" if ent.name == "*" else f"`{ent.name}`"
    lines = [f"#### {spec.name} · {name}", ""]
    if ent.read is not None:
        lines += _read_rows(ent.read)
    else:
        lines.append("- read: not readable (write only)")
    if not ent.writes:
        lines.append("- write: read only")
    lines.append(
        "- known fields: "
        + (
            "any (not listed in the catalog: target fields are not checked)"
            if ent.fields is None
            else ", ".join(f"`{f}`" for f in sorted(ent.fields))
        )
    )
    lines.append("")
    if ent.writes:
        lines += [*_write_table(ent.writes.items()), ""]
    return lines


def render_catalog() -> str:
    lines = [
        "## Platforms",
        "",
        "What the plan validator accepts per platform (`migrator/connectors/catalog.py`). Endpoint paths are "
        "relative to the connection's `base_url`. A write's *budget key* is the rate budget it draws from "
        "(the key of `budget.endpoints`). Values the public documents leave open are marked `ASSUMED` in the "
        "catalog and on the platform pages; a plan can override budgets, page sizes and batch sizes.",
        "",
        "| platform | title | connection keys | default budget | where the budget comes from |",
        "|---|---|---|---|---|",
    ]
    for spec in CATALOG.values():
        creds = " + ".join(f"`{c}`" for c in spec.credentials) or "none"
        for alt in spec.alternative_credentials:
            creds += " or " + " + ".join(f"`{c}`" for c in alt)
        if spec.needs_base_url:
            creds = "`base_url`, " + creds
        else:
            creds = "`path`" + ("" if creds == "none" else ", " + creds)
        lines.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in (f"`{spec.name}`", spec.title, creds, _budget_text(spec), spec.budget_source or "–")
            )
            + " |"
        )
    lines.append("")
    for spec in CATALOG.values():
        lines += [
            f"### `{spec.name}` — {spec.title}",
            "",
            f"Default budget: {_budget_text(spec)} ({spec.budget_source or 'no source'}).",
            "",
        ]
        for ent in spec.entities.values():
            lines += _entity(spec, ent)
    return "\n".join(lines)


HEADER = """\
# Plan reference

<!-- GENERATED by `python -m migrator.docgen` from migrator/plan/model.py and migrator/connectors/catalog.py.
     Do not edit by hand: change the code (or FIELD_NOTES in migrator/docgen.py) and regenerate. -->

Every key a plan file can hold, and every platform, entity, endpoint and write mode the validator accepts.
The guide with an annotated example is [plan-format.md](plan-format.md); each platform's quirks are on its own
page in [platforms/](platforms/velpic.md); error messages are explained in
[troubleshooting.md](troubleshooting.md). `migrator schema` prints the same keys as a JSON Schema.
"""


def render() -> str:
    return HEADER + "\n" + render_plan() + "\n" + render_catalog().rstrip("\n") + "\n"


def check(path: Path) -> str | None:
    """``None`` when ``path`` holds exactly what :func:`render` gives; else what is wrong and what to run."""
    try:
        current = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"{path} does not exist: run `python -m migrator.docgen` to write it"
    if current != render():
        return (
            f"{path} is out of date with migrator/plan/model.py and migrator/connectors/catalog.py: "
            "run `python -m migrator.docgen` and commit the result"
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m migrator.docgen", description="Generate docs/plan-reference.md."
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the page goes (default docs/…)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is not up to date")
    args = parser.parse_args(argv)
    out: Path = args.out
    if args.check:
        problem = check(out)
        if problem is not None:
            print(f"docgen: {problem}", file=sys.stderr)
            return 1
        print(f"docgen: {out} is up to date")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(), encoding="utf-8")
    print(f"docgen: wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
