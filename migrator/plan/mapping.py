"""A step's ``map`` compiled once into a pure function ``(record, resolve) -> dict``.

Expression forms (see :mod:`migrator.plan.expr` for the grammar):

- ``"FirstName"`` / ``"company.name"``: a source field (dotted paths walk nested objects and lists);
- ``"'Migrated'"``: a quoted string constant; any non-string value (``[6]``, ``true``, ``3``) is a constant too;
- ``"'Migrated from ' + MISID"``: a template — atoms joined as text (a missing field counts as ``""``; if every
  field in it is missing the result is missing);
- ``"ClassroomID -> classes"``: the target id step ``classes`` created for that source key (element-wise for a
  list); a source key with no crosswalk entry is a :class:`MappingError`;
- ``... | trim | lower | upper | split(',') | join(';') | date('%d/%m/%Y', '%Y-%m-%d') | date('%Y-%m-%d')
  | default('x') | lookup(table) | int | str | as_list | as_object('id')``. Text transforms apply element-wise
  to lists; ``date`` with one format parses ISO 8601; ``default`` replaces a missing or empty value.

A field whose value ends up missing (``None``) is left out of the output record, so a partial update never
clears a target field by accident. Syntax errors, unknown transforms, wrong argument counts and unknown lookup
tables are found at compile time (:class:`MapProblem`); value problems at run time raise :class:`MappingError`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from migrator.plan.decode import did_you_mean
from migrator.plan.expr import (
    Call,
    Concat,
    Crosswalk,
    Expression,
    ExprSyntaxError,
    FieldRef,
    Ident,
    Literal,
    parse,
)
from migrator.plan.mapcode import generate

__all__ = [
    "TRANSFORMS",
    "CompiledMap",
    "LookupTable",
    "MapProblem",
    "MappingError",
    "Resolve",
    "compile_map",
    "parse_value",
]

Resolve = Callable[[str, str], str | int | None]
Record = Mapping[str, Any]
_Fn = Callable[[Any], Any]


class MappingError(Exception):
    """One record's field could not be mapped; the engine turns it into a dead letter."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True, slots=True)
class MapProblem:
    """A compile-time problem in one map entry (``field`` is the target field)."""

    field: str
    message: str


_NO_DEFAULT = object()


@dataclass(frozen=True, slots=True)
class LookupTable:
    values: Mapping[str, Any]
    default: Any = _NO_DEFAULT

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT


@dataclass(frozen=True)
class CompiledMap:
    """The compiled map: call it with a record and a crosswalk resolver."""

    fields: tuple[str, ...]
    references: tuple[tuple[str, str], ...]  # (target field, referenced step)
    source_fields: tuple[str, ...]
    _fns: tuple[tuple[str, Callable[[Record, Resolve], Any]], ...] = field(repr=False)
    #: the whole map as one generated function (``migrator.plan.mapcode``); set by ``compile_map``
    _fast: Callable[[Record, Resolve], dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    def __call__(self, record: Record, resolve: Resolve) -> dict[str, Any]:
        fast = self._fast
        return fast(record, resolve) if fast is not None else self.each_field(record, resolve)

    def each_field(self, record: Record, resolve: Resolve) -> dict[str, Any]:
        """The map, one compiled closure per field (what the generated function must equal)."""
        out: dict[str, Any] = {}
        for name, fn in self._fns:
            value = fn(record, resolve)
            if value is not None:
                out[name] = value
        return out


# ---------------------------------------------------------------- transforms


def _elementwise(fn: _Fn) -> _Fn:
    def apply(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return [apply(v) for v in value]
        return fn(value)

    return apply


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _t_trim(args: tuple[Any, ...], tables: Mapping[str, LookupTable], fld: str) -> _Fn:
    return _elementwise(lambda v: _text(v).strip())


def _t_lower(args: tuple[Any, ...], tables: Mapping[str, LookupTable], fld: str) -> _Fn:
    return _elementwise(lambda v: _text(v).lower())


def _t_upper(args: tuple[Any, ...], tables: Mapping[str, LookupTable], fld: str) -> _Fn:
    return _elementwise(lambda v: _text(v).upper())


def _t_str(args: tuple[Any, ...], tables: Mapping[str, LookupTable], fld: str) -> _Fn:
    return _elementwise(_text)


def _t_int(args: tuple[Any, ...], tables: Mapping[str, LookupTable], fld: str) -> _Fn:
    def conv(v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            return None
        try:
            return int(v)
        except (TypeError, ValueError):
            raise MappingError(fld, f"not an integer: {v!r}") from None

    return _elementwise(conv)


def _t_split(args: tuple[Any, ...], tables: Mapping[str, LookupTable], fld: str) -> _Fn:
    sep = args[0] if args else ","

    def split(value: Any) -> Any:
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        out: list[str] = []
        for item in items:
            out.extend(p.strip() for p in _text(item).split(sep) if p.strip())
        return out

    return split


def _t_join(args: tuple[Any, ...], tables: Mapping[str, LookupTable], fld: str) -> _Fn:
    sep = args[0] if args else ","

    def join(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return sep.join(_text(v) for v in value if v is not None)
        return _text(value)

    return join


def _t_date(args: tuple[Any, ...], tables: Mapping[str, LookupTable], fld: str) -> _Fn:
    in_fmt, out_fmt = (None, args[0]) if len(args) == 1 else (args[0], args[1])

    def conv(v: Any) -> Any:
        text = _text(v).strip()
        if not text:
            return None
        try:
            parsed = datetime.fromisoformat(text) if in_fmt is None else datetime.strptime(text, in_fmt)
        except ValueError:
            expected = "an ISO 8601 date" if in_fmt is None else f"a date in the form {in_fmt}"
            raise MappingError(fld, f"unparseable date {text!r}: expected {expected}") from None
        return parsed.strftime(out_fmt)

    return _elementwise(conv)


def _t_default(args: tuple[Any, ...], tables: Mapping[str, LookupTable], fld: str) -> _Fn:
    fallback = args[0]

    def default(value: Any) -> Any:
        return fallback if value is None or value in ("", []) else value

    return default


def _t_lookup(args: tuple[Any, ...], tables: Mapping[str, LookupTable], fld: str) -> _Fn:
    name = args[0].name if isinstance(args[0], Ident) else str(args[0])
    table = tables[name]

    def look(v: Any) -> Any:
        key = _text(v)
        if key in table.values:
            return table.values[key]
        if table.has_default:
            return table.default
        raise MappingError(fld, f"value {key!r} is not in table {name!r} (add it, or give the table a default)")

    return _elementwise(look)


def _t_as_list(args: tuple[Any, ...], tables: Mapping[str, LookupTable], fld: str) -> _Fn:
    return lambda v: None if v is None else (v if isinstance(v, list) else [v])


def _t_as_object(args: tuple[Any, ...], tables: Mapping[str, LookupTable], fld: str) -> _Fn:
    key = str(args[0])
    return _elementwise(lambda v: {key: v})


_Factory = Callable[[tuple[Any, ...], Mapping[str, LookupTable], str], _Fn]

#: name → (min args, max args, factory)
TRANSFORMS: Mapping[str, tuple[int, int, _Factory]] = {
    "trim": (0, 0, _t_trim),
    "lower": (0, 0, _t_lower),
    "upper": (0, 0, _t_upper),
    "str": (0, 0, _t_str),
    "int": (0, 0, _t_int),
    "split": (0, 1, _t_split),
    "join": (0, 1, _t_join),
    "date": (1, 2, _t_date),
    "default": (1, 1, _t_default),
    "lookup": (1, 1, _t_lookup),
    "as_list": (0, 0, _t_as_list),
    "as_object": (1, 1, _t_as_object),
}


def _check_call(call: Call, tables: Mapping[str, LookupTable]) -> str | None:
    spec = TRANSFORMS.get(call.name)
    if spec is None:
        return (
            f"unknown transform {call.name!r}{did_you_mean(call.name, TRANSFORMS)}; "
            f"known: {', '.join(sorted(TRANSFORMS))}"
        )
    lo, hi, _ = spec
    if not lo <= len(call.args) <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        return f"transform {call.name!r} takes {want} argument(s); got {len(call.args)}"
    if call.name == "lookup":
        arg = call.args[0]
        name = arg.name if isinstance(arg, Ident) else str(arg)
        if name not in tables:
            known = ", ".join(sorted(tables)) or "none declared"
            hint = did_you_mean(name, tables)
            return f"unknown lookup table {name!r}{hint}; tables: {known} (declare [tables.{name}])"
    elif call.name in ("date", "split", "join", "as_object") and any(not isinstance(a, str) for a in call.args):
        return f"transform {call.name!r} takes quoted string arguments, e.g. {call.name}('x')"
    return None


# ---------------------------------------------------------------- evaluation


def _get(record: Any, path: tuple[str, ...]) -> Any:
    value: Any = record
    for part in path:
        if value is None:
            return None
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list):
            if part.isdigit():
                idx = int(part)
                value = value[idx] if idx < len(value) else None
            else:
                value = [v.get(part) if isinstance(v, Mapping) else None for v in value]
                value = [v for v in value if v is not None]
        else:
            return None
    return value


def _source_fn(expr: Expression, fld: str) -> Callable[[Record, Resolve], Any]:
    src = expr.source
    if isinstance(src, Literal):
        constant = src.value
        if isinstance(constant, list) and all(isinstance(v, str | int | float | bool) for v in constant):
            return lambda record, resolve: list(constant)  # a fresh list of immutable values: no deepcopy
        if isinstance(constant, list | dict):
            return lambda record, resolve: copy.deepcopy(constant)
        return lambda record, resolve: constant
    if isinstance(src, FieldRef):
        path = src.path
        if len(path) == 1:  # the common case, a top-level field: one dict lookup
            name = path[0]
            return lambda record, resolve: record.get(name) if isinstance(record, Mapping) else None
        return lambda record, resolve: _get(record, path)
    if isinstance(src, Concat):
        parts = src.parts

        def concat(record: Record, resolve: Resolve) -> Any:
            pieces: list[str] = []
            fields = found = 0
            for part in parts:
                if isinstance(part, Literal):
                    pieces.append(_text(part.value))
                    continue
                fields += 1
                value = _get(record, part.path)
                if value is None or value == "":
                    continue
                found += 1
                pieces.append(",".join(_text(v) for v in value) if isinstance(value, list) else _text(value))
            return None if fields and not found else "".join(pieces)

        return concat
    assert isinstance(src, Crosswalk)
    cpath, step = src.field.path, src.step
    dotted = src.field.dotted

    def one(key: Any, resolve: Resolve) -> Any:
        target = resolve(step, _text(key))
        if target is None:
            raise MappingError(fld, f"no {step!r} record was created for source {dotted} = {_text(key)!r}")
        return target

    def crosswalk(record: Record, resolve: Resolve) -> Any:
        value = _get(record, cpath)
        if value is None or value == "":
            return None
        if isinstance(value, list):
            return [one(v, resolve) for v in value if v is not None and v != ""]
        return one(value, resolve)

    return crosswalk


def parse_value(value: Any) -> Expression:
    """A map value as an Expression: strings are parsed, anything else is a constant."""
    if isinstance(value, str):
        return parse(value)
    return Expression(Literal(value))


def compile_map(
    mapping: Mapping[str, Any], tables: Mapping[str, LookupTable]
) -> tuple[CompiledMap | None, list[MapProblem]]:
    """Compile a step's map. Returns ``(compiled, [])`` or ``(None, problems)`` listing every bad entry."""
    problems: list[MapProblem] = []
    fns: list[tuple[str, Callable[[Record, Resolve], Any]]] = []
    entries: list[tuple[str, Expression, Callable[[Record, Resolve], Any], list[_Fn]]] = []
    refs: list[tuple[str, str]] = []
    sources: list[str] = []
    for fld, raw in mapping.items():
        try:
            expr = parse_value(raw)
        except ExprSyntaxError as err:
            problems.append(MapProblem(fld, f"bad expression {raw!r}: {err}"))
            continue
        bad = [msg for call in expr.transforms if (msg := _check_call(call, tables))]
        if bad:
            problems.extend(MapProblem(fld, msg) for msg in bad)
            continue
        src = expr.source
        if isinstance(src, Crosswalk):
            refs.append((fld, src.step))
            sources.append(src.field.dotted)
        elif isinstance(src, FieldRef):
            sources.append(src.dotted)
        elif isinstance(src, Concat):
            sources.extend(p.dotted for p in src.parts if isinstance(p, FieldRef))
        steps = [TRANSFORMS[c.name][2](c.args, tables, fld) for c in expr.transforms]
        closure = _chain(_source_fn(expr, fld), steps)
        fns.append((fld, closure))
        entries.append((fld, expr, closure, steps))
    if problems:
        return None, problems
    compiled = CompiledMap(tuple(mapping), tuple(refs), tuple(dict.fromkeys(sources)), tuple(fns))
    object.__setattr__(compiled, "_fast", generate(entries, compiled.each_field))
    return compiled, []


def _chain(source: Callable[[Record, Resolve], Any], steps: list[_Fn]) -> Callable[[Record, Resolve], Any]:
    if not steps:
        return source

    def run(record: Record, resolve: Resolve) -> Any:
        value = source(record, resolve)
        for fn in steps:
            value = fn(value)
        return value

    return run
