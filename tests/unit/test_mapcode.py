"""The generated map function gives exactly what the loop of per-field closures gives."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.plan.mapping import CompiledMap, LookupTable, MappingError, compile_map

MAP: dict[str, Any] = {
    "plain": "a",
    "lowered": "b | lower",
    "chain": "a | trim | upper | str",
    "nested": "obj.inner | trim",
    "template": "'x-' + a",
    "defaulted": "c | default('none') | lower",
    "number": "n | int",
    "looked": "b | lookup(t)",
    "roles": [6, 7],
    "flag": False,
    "nothing": None,
    "nested_const": [{"id": 1}],
    "text": "'Migrated'",
    "referenced": "r -> other",
}
TABLES = {"t": LookupTable({"x": "X"}, default="?")}

_scalar = st.one_of(st.none(), st.text(max_size=4), st.integers(-3, 3), st.booleans())
_value = st.one_of(_scalar, st.lists(_scalar, max_size=3))
_record = st.fixed_dictionaries(
    {},
    optional={
        "a": _value,
        "b": _value,
        "c": _value,
        "n": st.one_of(st.none(), st.integers(-9, 9), st.sampled_from(["5", "x", ""])),
        "obj": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"inner": _value})),
        "r": st.sampled_from(["1", "2", ""]),
    },
)


def _compiled() -> CompiledMap:
    compiled, problems = compile_map(MAP, TABLES)
    assert compiled is not None, problems
    return compiled


def _resolve(step: str, key: Any) -> Any:
    return {"1": "T1"}.get(str(key))


def _outcome(fn: Any, record: Any) -> Any:
    try:
        return ("ok", fn(record, _resolve))
    except MappingError as error:
        return ("error", error.field, error.reason)


@settings(max_examples=500, deadline=None)
@given(_record)
def test_generated_map_equals_the_closures(record: dict[str, Any]) -> None:
    compiled = _compiled()
    assert _outcome(compiled, record) == _outcome(compiled.each_field, record)


def test_generated_map_is_used_and_returns_fresh_constants() -> None:
    compiled = _compiled()
    assert compiled._fast is not None
    one = compiled({"a": " Ann ", "b": "X", "r": "1"}, _resolve)
    assert one["plain"] == " Ann " and one["lowered"] == "x" and one["chain"] == "ANN"
    assert one["roles"] == [6, 7] and one["flag"] is False and "nothing" not in one
    assert one["referenced"] == "T1" and one["text"] == "Migrated"
    one["roles"].append(9)
    one["nested_const"][0]["id"] = 5
    two = compiled({"a": "b"}, _resolve)
    assert two["roles"] == [6, 7] and two["nested_const"] == [{"id": 1}]


def test_a_record_that_is_not_a_dict_goes_through_the_closures() -> None:
    compiled = _compiled()
    record = MappingProxyType({"a": "x", "b": "Y"})
    assert compiled(record, _resolve) == compiled.each_field(record, _resolve)
    assert compiled(record, _resolve)["lowered"] == "y"
