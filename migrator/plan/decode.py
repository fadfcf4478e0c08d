"""Decode plain data (from TOML/YAML/JSON) into the plan Structs, collecting EVERY problem.

``msgspec.convert`` stops at the first error, so :func:`decode` walks the Struct tree itself: unknown keys,
missing keys and each leaf value are checked separately, and each msgspec error is translated into a
:class:`~migrator.errors.PlanProblem` with a dotted key path (``steps.learners.write.mode``) instead of
msgspec's ``$.steps.learners.write.mode``. Only when a subtree has no problem is it converted for real.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal, Union, get_args, get_origin

import msgspec

from migrator.errors import PlanProblem

__all__ = ["decode", "did_you_mean", "join_path", "quote_key"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_MSGSPEC_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")


class _Invalid:
    """Marker for a subtree that had problems."""


INVALID = _Invalid()


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean "x"?)`` when a choice is close to ``word``, else ``""``."""
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f' (did you mean "{close[0]}"?)' if close else ""


def quote_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else '"' + key.replace('"', '\\"') + '"'


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{quote_key(key)}" if path else quote_key(key)


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return type(value).__name__


def _is_struct(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _strip_annotated(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    if get_origin(tp) in (Union, types.UnionType):
        return get_args(tp)
    return None


def _translate(err: msgspec.ValidationError, file: str, path: str, value: object) -> PlanProblem:
    text = str(err)
    sub = ""
    m = _MSGSPEC_PATH.search(text)
    if m:
        sub = m.group("path")
        text = text[: m.start()]
    full = path
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", sub):
        full = join_path(full, part[0] if part[0] else int(part[1]))
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = text.replace("Expected ", "expected ", 1)
    if text.startswith("expected"):
        text = re.sub(r", got \w+$", "", text).replace(" | null", "")
        text = re.sub(r"\b(int|str|float|bool|object)\b", lambda m: _NAMES[m.group(1)], text)
        if not sub:
            text += f"; got {_type_name(value)} {_short(value)}"
    return PlanProblem(file, full, text)


_NAMES = {"int": "an integer", "str": "a string", "float": "a number", "bool": "a boolean", "object": "a table"}


def _short(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 40 else text[:37] + "..."


def decode(value: Any, tp: Any, file: str, path: str, problems: list[PlanProblem]) -> Any:
    """Convert ``value`` to ``tp``; on failure append problems and return :data:`INVALID`."""
    original = tp
    tp = _strip_annotated(tp)
    if _is_struct(tp):
        return _decode_struct(value, tp, file, path, problems)
    args = _union_args(tp)
    if args is not None:
        structs = [a for a in args if _is_struct(a)]
        tag_field = structs[0].__struct_config__.tag_field if structs else None
        if len(structs) > 1 and tag_field is not None and isinstance(value, dict):
            return _decode_tagged(value, structs, tag_field, file, path, problems=problems)
        if len(structs) == 1 and isinstance(value, dict):
            return _decode_struct(value, structs[0], file, path, problems)
    if get_origin(tp) is Literal:
        choices = [str(a) for a in get_args(tp)]
        if value not in get_args(tp):
            shown = f'"{value}"' if isinstance(value, str) else _short(value)
            hint = did_you_mean(value, choices) if isinstance(value, str) else ""
            problems.append(PlanProblem(file, path, f"expected one of {', '.join(choices)}; got {shown}{hint}"))
            return INVALID
        return value
    if get_origin(tp) is dict and isinstance(value, dict):
        _, val_tp = get_args(tp)
        val_core = _strip_annotated(val_tp)
        if _is_struct(val_core) or _union_args(val_core) is not None:
            out: dict[str, Any] = {}
            ok = True
            for k, v in value.items():
                r = decode(v, val_tp, file, join_path(path, str(k)), problems)
                ok = ok and r is not INVALID
                out[k] = r
            return out if ok else INVALID
    try:
        return msgspec.convert(value, original)
    except msgspec.ValidationError as err:
        problems.append(_translate(err, file, path, value))
        return INVALID


def _decode_tagged(
    value: dict[str, Any],
    structs: list[Any],
    tag_field: str,
    file: str,
    path: str,
    *,
    problems: list[PlanProblem],
) -> Any:
    by_tag = {str(s.__struct_config__.tag): s for s in structs}
    tag = value.get(tag_field)
    if tag is None:
        problems.append(
            PlanProblem(file, join_path(path, tag_field), f"missing; expected one of {', '.join(by_tag)}")
        )
        return INVALID
    if not isinstance(tag, str) or tag not in by_tag:
        shown = f'"{tag}"' if isinstance(tag, str) else _short(tag)
        hint = did_you_mean(tag, by_tag) if isinstance(tag, str) else ""
        problems.append(
            PlanProblem(
                file, join_path(path, tag_field), f"expected one of {', '.join(by_tag)}; got {shown}{hint}"
            )
        )
        return INVALID
    return _decode_struct(value, by_tag[tag], file, path, problems)


def _decode_struct(value: Any, tp: Any, file: str, path: str, problems: list[PlanProblem]) -> Any:
    if not isinstance(value, dict):
        problems.append(PlanProblem(file, path, f"expected a table; got {_type_name(value)} {_short(value)}"))
        return INVALID
    fields = {f.encode_name: f for f in msgspec.structs.fields(tp)}
    tag_field = tp.__struct_config__.tag_field
    ok = True
    for key, sub in value.items():
        if key == tag_field:
            continue
        info = fields.get(str(key))
        sub_path = join_path(path, str(key))
        if info is None:
            problems.append(
                PlanProblem(
                    file,
                    sub_path,
                    f"unknown key; expected one of {', '.join(fields)}{did_you_mean(str(key), fields)}",
                )
            )
            ok = False
            continue
        if decode(sub, info.type, file, sub_path, problems) is INVALID:
            ok = False
    for name, info in fields.items():
        if info.required and name not in value:
            problems.append(PlanProblem(file, join_path(path, name), "missing (required)"))
            ok = False
    if not ok:
        return INVALID
    try:
        return msgspec.convert(value, tp)
    except msgspec.ValidationError as err:  # cross-field checks, if any
        problems.append(_translate(err, file, path, value))
        return INVALID
