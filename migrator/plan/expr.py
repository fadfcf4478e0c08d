"""The ``map`` expression language: parse a string into a small AST (pure; no evaluation here).

Grammar::

    expression := condition ( "|" transform )*
    condition  := conjunct ( "or" conjunct )*
    conjunct   := negation ( "and" negation )*
    negation   := "not" negation | test
    test       := value [ ( "==" | "!=" ) value | [ "not" ] "in" "[" [ value ( "," value )* ] "]" ]
    value      := path "->" STEP                 crosswalk: the id step STEP created for this source key
                | atom ( "+" atom )*             one atom, or a template joining atoms as text
    atom       := path | STRING | NUMBER | "true" | "false" | "null"
                | FUNCTION "(" [ expression ( "," expression )* ] ")"     if, coalesce, call
                | "(" expression ")"
    path       := NAME ( "." NAME )*             dotted source field (``company.name``); `quoted name` allowed
    transform  := NAME [ "(" [ arg ( "," arg )* ] ")" ]
    arg        := STRING | NUMBER | NAME

STRING is single- or double-quoted with backslash escapes: ``'Migrated from ' + MISID``. ``and``, ``or``,
``not`` and ``in`` are operators only where an operator can stand, so a field of that name still reads as a
field elsewhere; ``true``, ``false`` and ``null`` are constants (write `` `true` `` for a field of that name).
Which functions exist and what they take is the compiler's business (:mod:`migrator.plan.mapping`); the parser
reads any ``NAME(`` as a function and keeps its column for the compiler's errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "Boolean",
    "Call",
    "Compare",
    "Concat",
    "Crosswalk",
    "ExprSyntaxError",
    "Expression",
    "FieldRef",
    "Function",
    "Ident",
    "Literal",
    "Member",
    "Negation",
    "Node",
    "Source",
    "parse",
]


class ExprSyntaxError(ValueError):
    """A map expression that cannot be parsed; ``column`` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        self.column = column
        super().__init__(f"{message} at column {column}")


@dataclass(frozen=True, slots=True)
class FieldRef:
    path: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Literal:
    value: object


@dataclass(frozen=True, slots=True)
class Concat:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Crosswalk:
    field: FieldRef
    step: str


@dataclass(frozen=True, slots=True)
class Compare:
    """``left == right`` or ``left != right``."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Member:
    """``value in [options]`` (``negated``: ``not in``)."""

    value: Node
    options: tuple[Node, ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class Boolean:
    """``a and b and …`` or ``a or b or …``."""

    op: str
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Negation:
    operand: Node


@dataclass(frozen=True, slots=True)
class Function:
    """``name(arg, …)`` in a value position: ``if``, ``coalesce``, ``call`` (``column`` of the name)."""

    name: str
    args: tuple[Expression, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Ident:
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[str | int | float | Ident, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Expression:
    """A value (``source``) through its transforms, left to right; in parentheses, a value of its own."""

    source: Node
    transforms: tuple[Call, ...] = ()


#: a value in an expression
Node = FieldRef | Literal | Concat | Crosswalk | Compare | Member | Boolean | Negation | Function | Expression
#: what an expression's transforms apply to (the same thing as a :data:`Node`)
Source = Node
_Operand = Callable[[], Node]


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<quoted>`[^`]+`)
  | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
  | (?P<name>[A-Za-z_$@][A-Za-z0-9_$@-]*)
  | (?P<arrow>->)
  | (?P<op>==|!=)
  | (?P<sym>[|+().,\[\]])
    """,
    re.VERBOSE,
)
_CONSTANTS = {"true": True, "false": False, "null": None}
#: tokens that can start a value: after ``not`` one of these makes it the operator, not a field
_VALUE_START = ("string", "quoted", "number", "name")


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    column: int


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            if ch in "'\"":
                raise ExprSyntaxError("unterminated string", pos + 1)
            raise ExprSyntaxError(f"unexpected character {ch!r}", pos + 1)
        kind = m.lastgroup or ""
        if kind != "ws":
            toks.append(_Tok(kind, m.group(), pos + 1))
        pos = m.end()
    toks.append(_Tok("end", "", len(text) + 1))
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def peek(self) -> _Tok:
        return self.toks[min(self.i + 1, len(self.toks) - 1)]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect_sym(self, sym: str) -> None:
        if self.tok.text != sym:
            raise ExprSyntaxError(f"expected {sym!r}, found {self._found()}", self.tok.column)
        self.take()

    def _found(self) -> str:
        return "end of expression" if self.tok.kind == "end" else repr(self.tok.text)

    def _is_word(self, word: str) -> bool:
        return self.tok.kind == "name" and self.tok.text == word

    def whole(self) -> Expression:
        if self.tok.kind == "end":
            raise ExprSyntaxError("empty expression", 1)
        expr = self.expression()
        if self.tok.kind != "end":
            raise ExprSyntaxError(f"unexpected {self._found()}", self.tok.column)
        return expr

    def expression(self) -> Expression:
        source = self.condition()
        calls: list[Call] = []
        while self.tok.text == "|":
            self.take()
            calls.append(self.call())
        return Expression(source, tuple(calls))

    def condition(self) -> Node:
        return self._chain("or", self.conjunct)

    def conjunct(self) -> Node:
        return self._chain("and", self.negation)

    def _chain(self, word: str, operand: _Operand) -> Node:
        first = operand()
        if not self._is_word(word):
            return first
        operands = [first]
        while self._is_word(word):
            self.take()
            operands.append(operand())
        return Boolean(word, tuple(operands))

    def negation(self) -> Node:
        if self._is_word("not") and (self.peek().kind in _VALUE_START or self.peek().text in ("(", "[")):
            self.take()
            return Negation(self.negation())
        return self.test()

    def test(self) -> Node:
        left = self.value()
        if self.tok.kind == "op":
            op = self.take().text
            return Compare(op, left, self.value())
        negated = self._is_word("not") and self.peek().kind == "name" and self.peek().text == "in"
        if negated:
            self.take()
        if self._is_word("in"):
            self.take()
            return Member(left, self.options(), negated)
        return left

    def options(self) -> tuple[Node, ...]:
        self.expect_sym("[")
        items: list[Node] = []
        if self.tok.text != "]":
            items.append(self.value())
            while self.tok.text == ",":
                self.take()
                items.append(self.value())
        self.expect_sym("]")
        return tuple(items)

    def value(self) -> Node:
        first = self.atom()
        if self.tok.kind == "arrow":
            arrow = self.take()
            if not isinstance(first, FieldRef):
                raise ExprSyntaxError("'->' needs a source field on its left", arrow.column)
            if self.tok.kind != "name":
                raise ExprSyntaxError(
                    f"expected a step name after '->', found {self._found()}", self.tok.column
                )
            return Crosswalk(first, self.take().text)
        parts = [first]
        while self.tok.text == "+":
            self.take()
            parts.append(self.atom())
        return first if len(parts) == 1 else Concat(tuple(parts))

    def atom(self) -> Node:
        tok = self.tok
        if tok.kind == "string":
            self.take()
            return Literal(_unescape(tok.text))
        if tok.kind == "number":
            self.take()
            return Literal(float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind == "name" and tok.text in _CONSTANTS:
            self.take()
            return Literal(_CONSTANTS[tok.text])
        if tok.kind == "name" and self.peek().text == "(":
            return self.function()
        if tok.text == "(":
            self.take()
            inner = self.expression()
            self.expect_sym(")")
            return inner if inner.transforms else inner.source
        if tok.kind in ("name", "quoted"):
            return self.path()
        raise ExprSyntaxError(f"expected a field name or a quoted string, found {self._found()}", tok.column)

    def function(self) -> Function:
        name = self.take()
        self.expect_sym("(")
        args: list[Expression] = []
        if self.tok.text != ")":
            args.append(self.expression())
            while self.tok.text == ",":
                self.take()
                args.append(self.expression())
        self.expect_sym(")")
        return Function(name.text, tuple(args), name.column)

    def path(self) -> FieldRef:
        parts = [self._name_part()]
        while self.tok.text == ".":
            self.take()
            parts.append(self._name_part())
        return FieldRef(tuple(parts))

    def _name_part(self) -> str:
        tok = self.tok
        if tok.kind == "name":
            self.take()
            return tok.text
        if tok.kind == "quoted":
            self.take()
            return tok.text[1:-1]
        if tok.kind == "number" and tok.text.isdigit():  # list index in a dotted path: items.0.id
            self.take()
            return tok.text
        raise ExprSyntaxError(f"expected a field name, found {self._found()}", tok.column)

    def call(self) -> Call:
        tok = self.tok
        if tok.kind != "name":
            raise ExprSyntaxError(f"expected a transform name after '|', found {self._found()}", tok.column)
        self.take()
        args: list[str | int | float | Ident] = []
        if self.tok.text == "(":
            self.take()
            if self.tok.text != ")":
                args.append(self.arg())
                while self.tok.text == ",":
                    self.take()
                    args.append(self.arg())
            self.expect_sym(")")
        return Call(tok.text, tuple(args), tok.column)

    def arg(self) -> str | int | float | Ident:
        tok = self.take()
        if tok.kind == "string":
            return _unescape(tok.text)
        if tok.kind == "number":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "name":
            return Ident(tok.text)
        raise ExprSyntaxError(
            "expected an argument (a quoted string, a number or a name), found "
            + ("end of expression" if tok.kind == "end" else repr(tok.text)),
            tok.column,
        )


def parse(text: str) -> Expression:
    """Parse one map expression; raises :class:`ExprSyntaxError`."""
    return _Parser(text).whole()
