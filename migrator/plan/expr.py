"""The ``map`` expression language: parse a string into a small AST (pure; no evaluation here).

Grammar::

    expression := source ( "|" transform )*
    source     := path "->" STEP                 crosswalk: the id step STEP created for this source key
                | atom ( "+" atom )*             one atom, or a template joining atoms as text
    atom       := path | STRING | NUMBER
    path       := NAME ( "." NAME )*             dotted source field (``company.name``); `quoted name` allowed
    transform  := NAME [ "(" [ arg ( "," arg )* ] ")" ]
    arg        := STRING | NUMBER | NAME

STRING is single- or double-quoted with backslash escapes: ``'Migrated from ' + MISID``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Call",
    "Concat",
    "Crosswalk",
    "ExprSyntaxError",
    "Expression",
    "FieldRef",
    "Ident",
    "Literal",
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
    parts: tuple[FieldRef | Literal, ...]


@dataclass(frozen=True, slots=True)
class Crosswalk:
    field: FieldRef
    step: str


@dataclass(frozen=True, slots=True)
class Ident:
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[str | int | float | Ident, ...]
    column: int


Source = FieldRef | Literal | Concat | Crosswalk


@dataclass(frozen=True, slots=True)
class Expression:
    source: Source
    transforms: tuple[Call, ...] = ()


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<quoted>`[^`]+`)
  | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
  | (?P<name>[A-Za-z_$@][A-Za-z0-9_$@-]*)
  | (?P<arrow>->)
  | (?P<sym>[|+().,])
    """,
    re.VERBOSE,
)


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

    def expression(self) -> Expression:
        if self.tok.kind == "end":
            raise ExprSyntaxError("empty expression", 1)
        source = self.source()
        calls: list[Call] = []
        while self.tok.text == "|":
            self.take()
            calls.append(self.call())
        if self.tok.kind != "end":
            raise ExprSyntaxError(f"unexpected {self._found()}", self.tok.column)
        return Expression(source, tuple(calls))

    def source(self) -> Source:
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

    def atom(self) -> FieldRef | Literal:
        tok = self.tok
        if tok.kind == "string":
            self.take()
            return Literal(_unescape(tok.text))
        if tok.kind == "number":
            self.take()
            return Literal(float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind in ("name", "quoted"):
            return self.path()
        raise ExprSyntaxError(f"expected a field name or a quoted string, found {self._found()}", tok.column)

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
    return _Parser(text).expression()
