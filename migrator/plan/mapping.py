"""A step's ``map`` (and its ``where``) compiled once into pure functions of ``(record, resolve)``.

Expression forms (see :mod:`migrator.plan.expr` for the grammar):

- ``"FirstName"`` / ``"company.name"``: a source field (dotted paths walk nested objects and lists);
- ``"'Migrated'"``: a quoted string constant; ``true``, ``false``, ``null`` and numbers are constants, and so
  is any non-string map value (``[6]``, ``true``, ``3``);
- ``"'Migrated from ' + MISID"``: a template — atoms joined as text (a missing field counts as ``""``; if every
  field in it is missing the result is missing);
- ``"ClassroomID -> classes"``: the target id step ``classes`` created for that source key (element-wise for a
  list); a source key with no crosswalk entry is a :class:`MappingError`;
- conditions: ``a == b``, ``a != b``, ``a in ['x', 'y']``, ``a not in [...]``, ``and``, ``or``, ``not`` and
  parentheses. Comparisons are exact (``'1'`` is not ``1``, ``'Yes'`` is not ``'yes'``: put ``| lower`` in
  parentheses first); a value on its own is true when it is present, not empty and not ``false``;
- ``if(condition, then, else)`` (``else`` may be left out: missing), ``coalesce(a, b, 'x')`` (the first value
  present and not empty; a crosswalk reference with no entry counts as absent there), ``call(name, a, b)`` (a
  function of the plan's functions file);
- ``... | trim | lower | upper | split(',') | join(';') | date('%d/%m/%Y', '%Y-%m-%d') | date('%Y-%m-%d')
  | datetime('%d/%m/%Y %H:%M', 'Europe/London', 'UTC') | re_replace('[^0-9+]', '') | default('x')
  | lookup(table) | fn(name) | int | str | as_list | as_object('id')``. Text transforms apply element-wise to
  lists; ``date`` with one format parses ISO 8601; ``default`` replaces a missing or empty value.

A field whose value ends up missing (``None``) is left out of the output record, so a partial update never
clears a target field by accident. Syntax errors, unknown functions and transforms, wrong argument counts,
unknown lookup tables, bad regular expressions, unknown time zones and plan functions that do not exist or
cannot take their arguments are found at compile time (:class:`MapProblem`, with the column); value problems
at run time, and an exception raised by a plan function, raise :class:`MappingError` (the record's dead letter).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from migrator.plan.decode import did_you_mean
from migrator.plan.expr import (
    Boolean,
    Call,
    Compare,
    Concat,
    Crosswalk,
    Expression,
    ExprSyntaxError,
    FieldRef,
    Function,
    Ident,
    Literal,
    Member,
    Negation,
    Node,
    parse,
)
from migrator.plan.functions import PlanFunctions
from migrator.plan.mapcode import generate

__all__ = [
    "FUNCTIONS",
    "TRANSFORMS",
    "CompiledMap",
    "CrosswalkMiss",
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
_Value = Callable[[Record, Resolve], Any]
#: the map key a ``where`` problem or source use is filed under
WHERE = "where"


class MappingError(Exception):
    """One record's field could not be mapped; the engine turns it into a dead letter."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class CrosswalkMiss(MappingError):
    """A crosswalk reference whose source key the step it names has no target id for: inside ``coalesce`` the
    reference counts as absent (the next value is taken); anywhere else, the record's dead letter."""


@dataclass(frozen=True, slots=True)
class MapProblem:
    """A compile-time problem in one map entry (``field`` is the target field; ``None``: the step's where)."""

    field: str | None
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
    """The compiled map: call it with a record and a crosswalk resolver.

    ``source_fields`` are the source paths the map and the where read; ``source_uses`` pairs each with the map
    key that reads it (``"where"`` for the where). ``where`` tells whether a record is selected (None: all).
    """

    fields: tuple[str, ...]
    references: tuple[tuple[str, str], ...]  # (target field, referenced step)
    source_fields: tuple[str, ...]
    _fns: tuple[tuple[str, Callable[[Record, Resolve], Any]], ...] = field(repr=False)
    #: the whole map as one generated function (``migrator.plan.mapcode``); set by ``compile_map``
    _fast: Callable[[Record, Resolve], dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    source_uses: tuple[tuple[str, str], ...] = ()
    where: Callable[[Record, Resolve], bool] | None = field(default=None, repr=False, compare=False)

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

    def selects(self, record: Record, resolve: Resolve) -> bool:
        """Whether the step's ``where`` keeps ``record`` (True without one)."""
        return self.where is None or self.where(record, resolve)


@dataclass
class _Context:
    """What compiling one map entry (or the where) needs and collects."""

    tables: Mapping[str, LookupTable]
    functions: PlanFunctions
    fld: str
    problems: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


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


def _t_trim(args: tuple[Any, ...], ctx: _Context) -> _Fn:
    return _elementwise(lambda v: _text(v).strip())


def _t_lower(args: tuple[Any, ...], ctx: _Context) -> _Fn:
    return _elementwise(lambda v: _text(v).lower())


def _t_upper(args: tuple[Any, ...], ctx: _Context) -> _Fn:
    return _elementwise(lambda v: _text(v).upper())


def _t_str(args: tuple[Any, ...], ctx: _Context) -> _Fn:
    return _elementwise(_text)


def _t_int(args: tuple[Any, ...], ctx: _Context) -> _Fn:
    fld = ctx.fld

    def conv(v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            return None
        try:
            return int(v)
        except (TypeError, ValueError):
            raise MappingError(fld, f"not an integer: {v!r}") from None

    return _elementwise(conv)


def _t_split(args: tuple[Any, ...], ctx: _Context) -> _Fn:
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


def _t_join(args: tuple[Any, ...], ctx: _Context) -> _Fn:
    sep = args[0] if args else ","

    def join(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return sep.join(_text(v) for v in value if v is not None)
        return _text(value)

    return join


def _t_date(args: tuple[Any, ...], ctx: _Context) -> _Fn:
    in_fmt, out_fmt = (None, args[0]) if len(args) == 1 else (args[0], args[1])
    fld = ctx.fld

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


#: the ``datetime`` format that means ISO 8601 (parsed by ``fromisoformat``, written by ``isoformat``)
ISO = "iso"


def _t_datetime(args: tuple[Any, ...], ctx: _Context) -> _Fn:
    in_fmt, out_fmt = args[0], args[3] if len(args) == 4 else ISO
    source_zone, target_zone = ZoneInfo(args[1]), ZoneInfo(args[2])
    fld = ctx.fld

    def conv(v: Any) -> Any:
        text = _text(v).strip()
        if not text:
            return None
        try:
            parsed = datetime.fromisoformat(text) if in_fmt == ISO else datetime.strptime(text, in_fmt)
        except ValueError:
            expected = "an ISO 8601 date and time" if in_fmt == ISO else f"a date and time in the form {in_fmt}"
            raise MappingError(fld, f"unparseable date and time {text!r}: expected {expected}") from None
        if parsed.tzinfo is None:  # a local time: in the source zone (fold 0 for a time the clocks repeat)
            parsed = parsed.replace(tzinfo=source_zone)
        moved = parsed.astimezone(target_zone)
        return moved.isoformat() if out_fmt == ISO else moved.strftime(out_fmt)

    return _elementwise(conv)


def _t_re_replace(args: tuple[Any, ...], ctx: _Context) -> _Fn:
    pattern, replacement = re.compile(args[0]), args[1]
    return _elementwise(lambda v: pattern.sub(replacement, _text(v)))


def _t_default(args: tuple[Any, ...], ctx: _Context) -> _Fn:
    fallback = args[0]

    def default(value: Any) -> Any:
        return fallback if value is None or value in ("", []) else value

    return default


def _t_lookup(args: tuple[Any, ...], ctx: _Context) -> _Fn:
    name = args[0].name if isinstance(args[0], Ident) else str(args[0])
    table = ctx.tables[name]
    fld = ctx.fld

    def look(v: Any) -> Any:
        key = _text(v)
        if key in table.values:
            return table.values[key]
        if table.has_default:
            return table.default
        raise MappingError(fld, f"value {key!r} is not in table {name!r} (add it, or give the table a default)")

    return _elementwise(look)


def _t_fn(args: tuple[Any, ...], ctx: _Context) -> _Fn:
    name = args[0].name
    hook = _guarded(name, ctx.functions.by_name[name], ctx)
    extra = args[1:]
    return lambda v: None if v is None else hook(v, *extra)


def _t_as_list(args: tuple[Any, ...], ctx: _Context) -> _Fn:
    return lambda v: None if v is None else (v if isinstance(v, list) else [v])


def _t_as_object(args: tuple[Any, ...], ctx: _Context) -> _Fn:
    key = str(args[0])
    return _elementwise(lambda v: {key: v})


_Factory = Callable[[tuple[Any, ...], _Context], _Fn]

#: name → (min args, max args (None: any number), factory)
TRANSFORMS: Mapping[str, tuple[int, int | None, _Factory]] = {
    "trim": (0, 0, _t_trim),
    "lower": (0, 0, _t_lower),
    "upper": (0, 0, _t_upper),
    "str": (0, 0, _t_str),
    "int": (0, 0, _t_int),
    "split": (0, 1, _t_split),
    "join": (0, 1, _t_join),
    "date": (1, 2, _t_date),
    "datetime": (3, 4, _t_datetime),
    "re_replace": (2, 2, _t_re_replace),
    "default": (1, 1, _t_default),
    "lookup": (1, 1, _t_lookup),
    "fn": (1, None, _t_fn),
    "as_list": (0, 0, _t_as_list),
    "as_object": (1, 1, _t_as_object),
}
_STRING_ARGS = ("date", "datetime", "re_replace", "split", "join", "as_object")

#: value-position functions: name → (min args, max args (None: any number))
FUNCTIONS: Mapping[str, tuple[int, int | None]] = {"if": (2, 3), "coalesce": (1, None), "call": (1, None)}


def _arity(kind: str, name: str, lo: int, hi: int | None, got: int) -> str | None:
    if lo <= got and (hi is None or got <= hi):
        return None
    want = f"{lo} or more" if hi is None else str(lo) if lo == hi else f"{lo} to {hi}"
    return f"{kind} {name!r} takes {want} argument(s); got {got}"


def _check_call(call: Call, ctx: _Context) -> str | None:
    spec = TRANSFORMS.get(call.name)
    if spec is None:
        return (
            f"unknown transform {call.name!r}{did_you_mean(call.name, TRANSFORMS)}; "
            f"known: {', '.join(sorted(TRANSFORMS))}"
        )
    lo, hi, _ = spec
    if (wrong := _arity("transform", call.name, lo, hi, len(call.args))) is not None:
        return wrong
    args = call.args
    if call.name == "lookup":
        arg = args[0]
        name = arg.name if isinstance(arg, Ident) else str(arg)
        if name not in ctx.tables:
            known = ", ".join(sorted(ctx.tables)) or "none declared"
            hint = did_you_mean(name, ctx.tables)
            return f"unknown lookup table {name!r}{hint}; tables: {known} (declare [tables.{name}])"
    elif call.name == "fn":
        if not isinstance(args[0], Ident):
            return "transform 'fn' takes the function's name first, unquoted: fn(clean_phone)"
        return ctx.functions.check(args[0].name, len(args))
    elif call.name in _STRING_ARGS and any(not isinstance(a, str) for a in args):
        return f"transform {call.name!r} takes quoted string arguments, e.g. {call.name}('x')"
    elif call.name == "re_replace":
        return _check_regex(str(args[0]), str(args[1]))
    elif call.name == "datetime":
        return next((msg for zone in args[1:3] if (msg := _check_zone(str(zone))) is not None), None)
    return None


def _transforms(calls: tuple[Call, ...], ctx: _Context) -> list[_Fn]:
    """The transform functions of ``calls``, in order; problems go to ``ctx`` (and give no functions)."""
    problems = [f"{msg} at column {call.column}" for call in calls if (msg := _check_call(call, ctx))]
    ctx.problems.extend(problems)
    return [] if problems else [TRANSFORMS[c.name][2](c.args, ctx) for c in calls]


def _check_regex(pattern: str, replacement: str) -> str | None:
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        return f"bad regular expression {pattern!r}: {err}"
    try:
        compiled.sub(replacement, "")
    except re.error as err:
        return f"bad replacement {replacement!r} for {pattern!r}: {err}"
    return None


def _check_zone(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r}{did_you_mean(name, available_timezones())}; use an IANA name"
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


def _present(value: Any) -> bool:
    """A value that counts: not missing, not an empty text or list."""
    return value is not None and not (isinstance(value, str | list) and not value)


def _truth(value: Any) -> bool:
    """A condition's value: a present value other than ``false``."""
    return value is not False and _present(value)


def _same(a: Any, b: Any) -> bool:
    """Exact equality: no text/number coercion, and ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a.__class__ is b.__class__ and a == b
    return bool(a == b)


def _compile(node: Node, ctx: _Context) -> _Value:
    if isinstance(node, Expression):
        source = _compile(node.source, ctx)
        return _chain(source, _transforms(node.transforms, ctx))
    if isinstance(node, Literal):
        return _constant(node.value)
    if isinstance(node, FieldRef):
        ctx.sources.append(node.dotted)
        path = node.path
        if len(path) == 1:  # the common case, a top-level field: one dict lookup
            name = path[0]
            return lambda record, resolve: record.get(name) if isinstance(record, Mapping) else None
        return lambda record, resolve: _get(record, path)
    if isinstance(node, Concat):
        return _concat(node, ctx)
    if isinstance(node, Crosswalk):
        return _crosswalk(node, ctx)
    if isinstance(node, Compare):
        left, right = _compile(node.left, ctx), _compile(node.right, ctx)
        if node.op == "==":
            return lambda record, resolve: _same(left(record, resolve), right(record, resolve))
        return lambda record, resolve: not _same(left(record, resolve), right(record, resolve))
    if isinstance(node, Member):
        value, options = _compile(node.value, ctx), [_compile(o, ctx) for o in node.options]
        negated = node.negated

        def member(record: Record, resolve: Resolve) -> bool:
            v = value(record, resolve)
            return any(_same(v, o(record, resolve)) for o in options) is not negated

        return member
    if isinstance(node, Boolean):
        operands = [_compile(o, ctx) for o in node.operands]
        if node.op == "and":
            return lambda record, resolve: all(_truth(o(record, resolve)) for o in operands)
        return lambda record, resolve: any(_truth(o(record, resolve)) for o in operands)
    if isinstance(node, Negation):
        operand = _compile(node.operand, ctx)
        return lambda record, resolve: not _truth(operand(record, resolve))
    assert isinstance(node, Function)
    return _function(node, ctx)


def _constant(value: Any) -> _Value:
    if isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value):
        return lambda record, resolve: list(value)  # a fresh list of immutable values: no deepcopy
    if isinstance(value, list | dict):
        return lambda record, resolve: copy.deepcopy(value)
    return lambda record, resolve: value


def _concat(node: Concat, ctx: _Context) -> _Value:
    parts = [(isinstance(p, Literal), _compile(p, ctx)) for p in node.parts]

    def concat(record: Record, resolve: Resolve) -> Any:
        pieces: list[str] = []
        fields = found = 0
        for constant, part in parts:
            value = part(record, resolve)
            if constant:
                pieces.append(_text(value))
                continue
            fields += 1
            if value is None or value == "":
                continue
            found += 1
            pieces.append(",".join(_text(v) for v in value) if isinstance(value, list) else _text(value))
        return None if fields and not found else "".join(pieces)

    return concat


def _crosswalk(node: Crosswalk, ctx: _Context) -> _Value:
    cpath, step, dotted, fld = node.field.path, node.step, node.field.dotted, ctx.fld
    ctx.references.append(step)
    ctx.sources.append(dotted)

    def one(key: Any, resolve: Resolve) -> Any:
        target = resolve(step, _text(key))
        if target is None:
            raise CrosswalkMiss(fld, f"no {step!r} record was created for source {dotted} = {_text(key)!r}")
        return target

    def crosswalk(record: Record, resolve: Resolve) -> Any:
        value = _get(record, cpath)
        if value is None or value == "":
            return None
        if isinstance(value, list):
            return [one(v, resolve) for v in value if v is not None and v != ""]
        return one(value, resolve)

    return crosswalk


def _function(node: Function, ctx: _Context) -> _Value:
    spec = FUNCTIONS.get(node.name)
    if spec is None:
        known = ", ".join(sorted(FUNCTIONS))
        ctx.problems.append(
            f"unknown function {node.name!r}{did_you_mean(node.name, FUNCTIONS)}; functions: {known} "
            f"(a transform goes after '|') at column {node.column}"
        )
        return _constant(None)
    if (wrong := _arity("function", node.name, *spec, len(node.args))) is not None:
        ctx.problems.append(f"{wrong} at column {node.column}")
        return _constant(None)
    if node.name == "call":
        return _call(node, ctx)
    args = [_compile(a, ctx) for a in node.args]
    if node.name == "if":
        test, then = args[0], args[1]
        otherwise = args[2] if len(args) == 3 else _constant(None)
        return lambda record, resolve: (
            then(record, resolve) if _truth(test(record, resolve)) else otherwise(record, resolve)
        )

    def coalesce(record: Record, resolve: Resolve) -> Any:
        for arg in args:
            try:
                value = arg(record, resolve)
            except CrosswalkMiss:
                continue  # no target id: absent, like a missing field
            if _present(value):
                return value
        return None

    return coalesce


def _call(node: Function, ctx: _Context) -> _Value:
    first = node.args[0]
    if not (isinstance(first, Expression) and isinstance(first.source, FieldRef) and not first.transforms):
        ctx.problems.append(
            f"call() takes the function's name first, unquoted: call(full_name, a, b) at column {node.column}"
        )
        return _constant(None)
    name = first.source.dotted
    args = [_compile(a, ctx) for a in node.args[1:]]
    if (why := ctx.functions.check(name, len(args))) is not None:
        ctx.problems.append(f"{why} at column {node.column}")
        return _constant(None)
    hook = _guarded(name, ctx.functions.by_name[name], ctx)
    return lambda record, resolve: hook(*(a(record, resolve) for a in args))


def _guarded(name: str, fn: Callable[..., Any], ctx: _Context) -> Callable[..., Any]:
    """``fn`` whose exceptions become the record's :class:`MappingError` (a dead letter, not a traceback)."""
    fld, file = ctx.fld, ctx.functions.file

    def hook(*args: Any) -> Any:
        try:
            return fn(*args)
        except MappingError:
            raise
        except Exception as err:  # the plan author's code: any failure rejects this record only
            raise MappingError(fld, f"function {name!r} ({file}) raised {type(err).__name__}: {err}") from None

    return hook


def parse_value(value: Any) -> Expression:
    """A map value as an Expression: strings are parsed, anything else is a constant."""
    if isinstance(value, str):
        return parse(value)
    return Expression(Literal(value))


def compile_map(
    mapping: Mapping[str, Any],
    tables: Mapping[str, LookupTable],
    *,
    functions: PlanFunctions | None = None,
    where: str | None = None,
) -> tuple[CompiledMap | None, list[MapProblem]]:
    """Compile a step's map (and its ``where`` condition). Returns ``(compiled, [])`` or ``(None, problems)``
    listing every bad entry; ``functions`` are the plan's functions file, for ``call`` and ``fn``."""
    hooks = functions if functions is not None else PlanFunctions()
    problems: list[MapProblem] = []
    fns: list[tuple[str, Callable[[Record, Resolve], Any]]] = []
    entries: list[tuple[str, Expression, Callable[[Record, Resolve], Any], list[_Fn]]] = []
    refs: list[tuple[str, str]] = []
    uses: list[tuple[str, str]] = []
    for fld, raw in mapping.items():
        ctx = _Context(tables, hooks, fld)
        try:
            expr = parse_value(raw)
        except ExprSyntaxError as err:
            problems.append(MapProblem(fld, f"bad expression {raw!r}: {err}"))
            continue
        source = _compile(expr.source, ctx)
        steps = _transforms(expr.transforms, ctx)
        if ctx.problems:
            problems.extend(MapProblem(fld, msg) for msg in ctx.problems)
            continue
        refs.extend((fld, step) for step in ctx.references)
        uses.extend((fld, path) for path in ctx.sources)
        closure = _chain(source, steps)
        fns.append((fld, closure))
        entries.append((fld, expr, closure, steps))
    selects = None
    if where is not None:
        selects, where_problems, where_uses = _compile_where(where, tables, hooks)
        problems.extend(MapProblem(None, msg) for msg in where_problems)
        uses.extend((WHERE, path) for path in where_uses)
    if problems:
        return None, problems
    sources = tuple(dict.fromkeys(path for _, path in uses))
    compiled = CompiledMap(
        tuple(mapping), tuple(refs), sources, tuple(fns), source_uses=tuple(dict.fromkeys(uses)), where=selects
    )
    object.__setattr__(compiled, "_fast", generate(entries, compiled.each_field))
    return compiled, []


def _compile_where(
    text: str, tables: Mapping[str, LookupTable], functions: PlanFunctions
) -> tuple[Callable[[Record, Resolve], bool] | None, list[str], list[str]]:
    """The ``where`` condition as a predicate; or its problems. Also the source paths it reads."""
    ctx = _Context(tables, functions, WHERE)
    try:
        expr = parse(text)
    except ExprSyntaxError as err:
        return None, [f"bad condition {text!r}: {err}"], []
    value = _compile(expr, ctx)
    if ctx.references:
        ctx.problems.append("a where condition reads the source record only: it cannot use a crosswalk '->'")
    if ctx.problems:
        return None, ctx.problems, []
    return (lambda record, resolve: _truth(value(record, resolve))), [], ctx.sources


def _chain(source: Callable[[Record, Resolve], Any], steps: list[_Fn]) -> Callable[[Record, Resolve], Any]:
    if not steps:
        return source

    def run(record: Record, resolve: Resolve) -> Any:
        value = source(record, resolve)
        for fn in steps:
            value = fn(value)
        return value

    return run
