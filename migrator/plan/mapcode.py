"""A compiled map as one generated Python function: the per-record hot path of every step.

``compile_map`` builds one closure per target field; calling them in a loop costs a function call or three per
field and record. For the forms almost every plan uses — a top-level source field, optionally through the text
transforms ``trim``/``lower``/``upper``/``str``, and constants — this module writes the whole map as the body of
one function (straight-line code, the common case of each text transform inlined), and falls back to the field's
own closure for everything else (templates, crosswalks, dates, lookups …). The generated function gives exactly
what the loop of closures gives (``tests/unit/test_mapcode.py`` checks both on the same records); a record that
is not a plain ``dict`` goes through the loop of closures.

The generated source never contains a value from the plan: field names and constants are passed in as
arguments (``_n0``, ``_c0`` …), so no plan text can inject code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from migrator.plan.expr import Expression, FieldRef, Literal

__all__ = ["generate"]

Fn = Callable[[Mapping[str, Any], Any], Any]

#: transform name → the inline form for a text value (anything else goes through the transform's function)
_INLINE = {"trim": "v.strip()", "lower": "v.lower()", "upper": "v.upper()", "str": "v"}


def generate(
    entries: Sequence[tuple[str, Expression, Fn, Sequence[Callable[[Any], Any]]]],
    fallback: Callable[[Mapping[str, Any], Any], dict[str, Any]],
) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    """One function ``(record, resolve) -> dict`` for the map ``entries``.

    Each entry is ``(target field, expression, the field's compiled closure, its transform functions in
    order)``; ``fallback`` is the loop over the closures, used for a record that is not a ``dict``.
    """
    env: dict[str, Any] = {"_fallback": fallback, "_dict": dict}
    lines = [
        "def _map(record, resolve):",
        "    if record.__class__ is not _dict:",
        "        return _fallback(record, resolve)",
        "    out = {}",
    ]
    for i, (name, expr, closure, transforms) in enumerate(entries):
        env[f"_n{i}"] = name
        src = expr.source
        if isinstance(src, Literal) and not expr.transforms and _immutable(src.value):
            if src.value is not None:
                env[f"_c{i}"] = src.value
                lines.append(f"    out[_n{i}] = _c{i}")
            continue
        constant = src.value if isinstance(src, Literal) and not expr.transforms else None
        if isinstance(constant, list) and _flat(constant):
            env[f"_c{i}"] = tuple(constant)
            lines.append(f"    out[_n{i}] = list(_c{i})")  # a fresh list per record, as the closure gives
            continue
        if isinstance(src, FieldRef) and len(src.path) == 1 and all(c.name in _INLINE for c in expr.transforms):
            env[f"_s{i}"] = src.path[0]
            lines.append(f"    v = record.get(_s{i})")
            for j, (call, step) in enumerate(zip(expr.transforms, transforms, strict=True)):
                env[f"_t{i}_{j}"] = step
                lines.append(f"    v = {_INLINE[call.name]} if v.__class__ is str else _t{i}_{j}(v)")
        else:
            env[f"_f{i}"] = closure
            lines.append(f"    v = _f{i}(record, resolve)")
        lines.append("    if v is not None:")
        lines.append(f"        out[_n{i}] = v")
    lines.append("    return out")
    code = compile("\n".join(lines), "<migrator map>", "exec")
    exec(code, env)  # the source is built above from fixed fragments; plan values are in env
    generated: Callable[[Mapping[str, Any], Any], dict[str, Any]] = env["_map"]
    return generated


def _immutable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _flat(values: list[Any]) -> bool:
    return all(isinstance(v, str | int | float | bool) for v in values)
