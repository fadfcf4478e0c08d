"""accessplanit v2 query options, pure: ``$filter``, ``$orderby`` and ``$select`` parsed and evaluated.

Grammar of ``$filter`` as the v2 document describes it (OData-like, without grouping)::

    filter  := and_expr ("or" and_expr)*          # "and" binds tighter than "or" [ASSUMED]
    and_expr:= clause ("and" clause)*
             # or, with precedence "left": clause (("and" | "or") clause)*, applied left to right
    clause  := field op literal                   # op: eq ne lt le gt ge
             | func "(" field "," literal ")"     # func: contains startswith endswith
    literal := 'quoted string' ('' escapes a quote) | number | null | true | false

Grouping parentheses are refused ("filter logic using parenthesis is not supported"); the parentheses of a
function call are allowed. Field names and keywords are case-insensitive; string comparisons are
case-insensitive. An unknown field, or one the module does not mark filterable / sortable, is an error.

Record values are stored typed: ``String`` → str, ``Int32`` → int, ``Decimal`` → float, ``Boolean`` → bool,
``DateTime`` → canonical ``"YYYY-MM-DDTHH:MM:SS"`` text (so that text order is time order). Literals are
coerced to the field's type once, when the filter is parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Record = dict[str, Any]
Predicate = Callable[[Record], bool]

COMPARISONS = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})
FUNCTIONS = frozenset({"contains", "startswith", "endswith"})
DATA_TYPES = frozenset({"String", "Int32", "Decimal", "DateTime", "Boolean"})


class ODataError(ValueError):
    """A query option the API refuses (answered with 400). ``option`` is ``$filter``, ``$orderby``, …"""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """What the help endpoint says about a field: its name, data type and query capabilities."""

    name: str
    data_type: str = "String"
    sortable: bool = True
    filterable: bool = True


Schema = Mapping[str, FieldInfo]  # keyed by the case-folded field name


def schema_of(fields: Iterable[FieldInfo]) -> dict[str, FieldInfo]:
    return {f.name.casefold(): f for f in fields}


def resolve_field(schema: Schema, name: str, option: str) -> FieldInfo:
    info = schema.get(name.strip().casefold())
    if info is None:
        known = ", ".join(f.name for f in schema.values())
        raise ODataError(option, f"unknown field '{name.strip()}'; fields of this module: {known}")
    return info


# datetimes -----------------------------------------------------------------------------------------
def normalize_datetime(text: str) -> str | None:
    """``"2025-01-01"`` / ``"2025-01-01T10:00"`` / ``"…Z"`` → ``"2025-01-01T10:00:00"``; invalid → None.

    Offsets are converted to UTC and dropped; fractions of a second are dropped.
    """
    raw = text.strip()
    if len(raw) < 10:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S")


# tokens --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "word" | "string" | "number" | "(" | ")" | ","
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "(),":
            tokens.append(_Tok(ch, ch, i))
            i += 1
        elif ch == "'":
            start, i, parts = i, i + 1, []
            while True:
                if i >= n:
                    raise ODataError("$filter", f"unterminated quoted value starting at position {start}")
                if text[i] == "'":
                    if i + 1 < n and text[i + 1] == "'":
                        parts.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                parts.append(text[i])
                i += 1
            tokens.append(_Tok("string", "".join(parts), start))
        elif ch.isdigit() or (ch == "-" and i + 1 < n and text[i + 1].isdigit()):
            start = i
            i += 1
            while i < n and (text[i].isdigit() or text[i] == "."):
                i += 1
            tokens.append(_Tok("number", text[start:i], start))
        elif ch.isalpha() or ch == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_."):
                i += 1
            tokens.append(_Tok("word", text[start:i], start))
        else:
            raise ODataError("$filter", f"unexpected character {ch!r} at position {i}")
    return tokens


# filter model --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Clause:
    field: str  # canonical field name
    op: str  # eq ne lt le gt ge contains startswith endswith
    value: Any  # coerced to the field's type (None for null)
    data_type: str


@dataclass(frozen=True, slots=True)
class Filter:
    """A disjunction of conjunctions: ``any(all(clause for clause in group) for group in groups)``."""

    groups: tuple[tuple[Clause, ...], ...]

    def single_equality(self) -> Clause | None:
        """The only clause when the filter is one ``field eq value`` (lets a caller use an index)."""
        if len(self.groups) == 1 and len(self.groups[0]) == 1 and self.groups[0][0].op == "eq":
            return self.groups[0][0]
        return None

    def fields(self) -> set[str]:
        return {c.field for g in self.groups for c in g}


def _coerce(info: FieldInfo, tok: _Tok, op: str) -> Any:
    if tok.kind == "word":
        word = tok.text.casefold()
        if word == "null":
            if op in FUNCTIONS:
                raise ODataError("$filter", f"{op}() needs a quoted text value, not null")
            return None
        if word in ("true", "false") and info.data_type == "Boolean":
            return word == "true"
        raise ODataError(
            "$filter", f"value {tok.text!r} at position {tok.pos} must be in single quotes, e.g. '{tok.text}'"
        )
    if tok.kind not in ("string", "number"):
        raise ODataError("$filter", f"expected a value at position {tok.pos}, found {tok.text!r}")
    text = tok.text
    if op in FUNCTIONS or info.data_type == "String":
        return text.casefold()
    if info.data_type == "Int32":
        try:
            return int(text.strip())
        except ValueError:
            raise ODataError("$filter", f"{info.name} is a whole number; {text!r} is not") from None
    if info.data_type == "Decimal":
        try:
            return float(text.strip())
        except ValueError:
            raise ODataError("$filter", f"{info.name} is a number; {text!r} is not") from None
    if info.data_type == "Boolean":
        word = text.strip().casefold()
        if word not in ("true", "false"):
            raise ODataError("$filter", f"{info.name} is true or false; {text!r} is neither")
        return word == "true"
    if info.data_type == "DateTime":
        value = normalize_datetime(text)
        if value is None:
            raise ODataError(
                "$filter", f"{info.name} is a date; {text!r} is not one (use e.g. '2025-01-01T10:00:00')"
            )
        return value
    return text


class _Parser:
    def __init__(self, text: str, schema: Schema) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.schema = schema

    def parse_left(self) -> Filter:
        """``and`` and ``or`` with no precedence, applied from left to right (``a or b and c`` is ``(a or b)
        and c``), kept as the same disjunction of conjunctions: an ``and`` joins the clause to every group so
        far, an ``or`` opens a group."""
        groups = [[self.parse_clause()]]
        while True:
            if self.keyword("and"):
                clause = self.parse_clause()
                for group in groups:
                    group.append(clause)
            elif self.keyword("or"):
                groups.append([self.parse_clause()])
            else:
                break
        self.end()
        return Filter(tuple(tuple(g) for g in groups))

    def peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, what: str) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise ODataError("$filter", f"unexpected end of filter, expected {what}")
        self.i += 1
        return tok

    def expect(self, kind: str) -> _Tok:
        tok = self.take(repr(kind))
        if tok.kind != kind:
            raise ODataError("$filter", f"expected {kind!r} at position {tok.pos}, found {tok.text!r}")
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.text.casefold() == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Filter:
        groups = [self.parse_and()]
        while self.keyword("or"):
            groups.append(self.parse_and())
        self.end()
        return Filter(tuple(groups))

    def end(self) -> None:
        tok = self.peek()
        if tok is not None:
            if tok.kind == ")":
                raise ODataError("$filter", f"unbalanced ')' at position {tok.pos}")
            raise ODataError("$filter", f"expected 'and' or 'or' at position {tok.pos}, found {tok.text!r}")

    def parse_and(self) -> tuple[Clause, ...]:
        clauses = [self.parse_clause()]
        while self.keyword("and"):
            clauses.append(self.parse_clause())
        return tuple(clauses)

    def field(self, tok: _Tok) -> FieldInfo:
        if tok.kind != "word":
            raise ODataError("$filter", f"expected a field name at position {tok.pos}, found {tok.text!r}")
        info = resolve_field(self.schema, tok.text, "$filter")
        if not info.filterable:
            raise ODataError("$filter", f"field '{info.name}' is not filterable (see apihelp/v2/modules)")
        return info

    def parse_clause(self) -> Clause:
        tok = self.take("a condition")
        if tok.kind == "(":
            raise ODataError(
                "$filter", f"grouping with parentheses is not supported (position {tok.pos}); use and / or only"
            )
        word = tok.text.casefold() if tok.kind == "word" else ""
        if word == "not":
            raise ODataError("$filter", "'not' is not supported; use ne or another operator")
        nxt = self.peek()
        if word in FUNCTIONS and nxt is not None and nxt.kind == "(":
            self.i += 1
            info = self.field(self.take("a field name"))
            self.expect(",")
            value = _coerce(info, self.take("a quoted value"), word)
            self.expect(")")
            return Clause(info.name, word, value, info.data_type)
        info = self.field(tok)
        op_tok = self.take("an operator (eq, ne, lt, le, gt, ge)")
        op = op_tok.text.casefold()
        if op_tok.kind != "word" or op not in COMPARISONS:
            raise ODataError(
                "$filter",
                f"unknown operator {op_tok.text!r} at position {op_tok.pos}; use eq, ne, lt, le, gt or ge",
            )
        value = _coerce(info, self.take("a quoted value"), op)
        return Clause(info.name, op, value, info.data_type)


PRECEDENCES = ("and", "left")


def parse_filter(text: str, schema: Schema, precedence: str = "and") -> Filter | None:
    """``$filter`` text → ``Filter``; empty text → None. Raises ``ODataError``. ``precedence``: ``and`` binds
    tighter than ``or`` (OData's rule), or ``left``: none, left to right (the document says neither)."""
    if not text.strip():
        return None
    if precedence not in PRECEDENCES:
        raise ValueError(
            f"sandbox option accessplanit.filter_precedence = {precedence!r}; "
            f"use one of {', '.join(PRECEDENCES)}"
        )
    parser = _Parser(text, schema)
    return parser.parse() if precedence == "and" else parser.parse_left()


# evaluation ----------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    return value.casefold() if isinstance(value, str) else str(value).casefold()


def _clause_predicate(c: Clause) -> Predicate:
    name, want = c.field, c.value
    is_text = c.data_type == "String"
    if c.op in FUNCTIONS:
        if c.op == "contains":
            return lambda r: (v := r.get(name)) is not None and want in _text(v)
        if c.op == "startswith":
            return lambda r: (v := r.get(name)) is not None and _text(v).startswith(want)
        return lambda r: (v := r.get(name)) is not None and _text(v).endswith(want)
    if want is None:
        if c.op == "eq":
            return lambda r: r.get(name) is None
        if c.op == "ne":
            return lambda r: r.get(name) is not None
        return lambda r: False

    def get(r: Record) -> Any:
        v = r.get(name)
        return v.casefold() if is_text and isinstance(v, str) else v

    if c.op == "eq":
        return lambda r: get(r) == want
    if c.op == "ne":
        return lambda r: get(r) != want
    if c.op == "lt":
        return lambda r: (v := get(r)) is not None and v < want
    if c.op == "le":
        return lambda r: (v := get(r)) is not None and v <= want
    if c.op == "gt":
        return lambda r: (v := get(r)) is not None and v > want
    return lambda r: (v := get(r)) is not None and v >= want


def compile_filter(flt: Filter | None) -> Predicate:
    """A predicate over stored records (``and`` before ``or``)."""
    if flt is None:
        return lambda r: True
    groups = [[_clause_predicate(c) for c in g] for g in flt.groups]
    return lambda r: any(all(p(r) for p in g) for g in groups)


# $select / $orderby --------------------------------------------------------------------------------
def parse_select(text: str, schema: Schema) -> tuple[str, ...] | None:
    """``"label,startdate"`` → canonical names in the requested order (duplicates dropped); empty → None."""
    names: list[str] = []
    for part in text.split(","):
        if not part.strip():
            continue
        name = resolve_field(schema, part, "$select").name
        if name not in names:
            names.append(name)
    return tuple(names) or None


def parse_orderby(text: str, schema: Schema) -> tuple[tuple[str, bool], ...]:
    """``"startdate desc,label asc"`` → ``(("StartDate", True), ("Label", False))`` (True = descending)."""
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2:
            raise ODataError("$orderby", f"expected 'field [asc|desc]', found {part.strip()!r}")
        info = resolve_field(schema, words[0], "$orderby")
        if not info.sortable:
            raise ODataError("$orderby", f"field '{info.name}' is not sortable (see apihelp/v2/modules)")
        direction = words[1].casefold() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise ODataError("$orderby", f"direction must be asc or desc, found {words[1]!r}")
        keys.append((info.name, direction == "desc"))
    return tuple(keys)


def _sort_key(name: str) -> Callable[[Record], tuple[bool, Any]]:
    def key(r: Record) -> tuple[bool, Any]:
        v = r.get(name)
        if v is None:
            return (False, 0)  # nulls sort first ascending, last descending
        return (True, v.casefold() if isinstance(v, str) else v)

    return key


def sort_records(records: list[Record], orderby: tuple[tuple[str, bool], ...]) -> list[Record]:
    """Stable multi-key sort, in place; the first key has the highest priority."""
    for name, desc in reversed(orderby):
        records.sort(key=_sort_key(name), reverse=desc)
    return records
