"""Map expressions compiled to pure functions: tables of record → value, and compile-time problems."""

from __future__ import annotations

from typing import Any

import pytest

from migrator.plan.expr import ExprSyntaxError, parse
from migrator.plan.mapping import LookupTable, MappingError, compile_map

TABLES = {
    "roles": LookupTable({"Learner": 6, "Tutor": 8}),
    "soft": LookupTable({"a": "A"}, default="?"),
}
CROSSWALK = {("classes", "15379"): 9001, ("classes", "15381"): 9002, ("groups", "7"): "g-7"}


def resolve(step: str, key: str) -> str | int | None:
    return CROSSWALK.get((step, key))


def run(expr: Any, record: dict[str, Any]) -> Any:
    compiled, problems = compile_map({"out": expr}, TABLES)
    assert problems == [] and compiled is not None
    return compiled(record, resolve).get("out")


CASES: list[tuple[Any, dict[str, Any], Any]] = [
    ("FirstName", {"FirstName": "Zoë"}, "Zoë"),
    ("FirstName", {}, None),  # missing field → left out
    ("FirstName", {"FirstName": None}, None),
    ("company.name", {"company": {"name": "Acme"}}, "Acme"),
    ("company.name", {"company": None}, None),
    ("groups.id", {"groups": [{"id": 1}, {"id": 2}]}, [1, 2]),
    ("groups.0.id", {"groups": [{"id": 1}, {"id": 2}]}, 1),
    ("`First Name`", {"First Name": "Seán"}, "Seán"),
    ("'Migrated'", {}, "Migrated"),
    ([6], {}, [6]),
    (True, {}, True),
    (3, {}, 3),
    ("'Migrated from ' + MISID", {"MISID": "BAD1"}, "Migrated from BAD1"),
    ("FirstName + ' ' + LastName", {"FirstName": "Amélie", "LastName": "O'Brien"}, "Amélie O'Brien"),
    ("FirstName + ' ' + LastName", {"FirstName": "Amélie"}, "Amélie "),
    ("FirstName + ' ' + LastName", {}, None),  # every field missing → missing
    ("'it\\'s ' + x", {"x": 1}, "it's 1"),
    ("Name | trim", {"Name": "  Łukasz \t"}, "Łukasz"),
    ("Email | trim | lower", {"Email": " ZOË@Example.COM "}, "zoë@example.com"),
    ("Name | upper", {"Name": "straße"}, "STRASSE"),
    ("Name | trim", {}, None),
    ("Tags | split(',')", {"Tags": "a, b,,c"}, ["a", "b", "c"]),
    ("Tags | split(';') | join(',')", {"Tags": "a;b"}, "a,b"),
    ("Tags | join('; ')", {"Tags": ["x", None, "y"]}, "x; y"),
    ("Tags | lower", {"Tags": ["A", "B"]}, ["a", "b"]),
    ("DOB | date('%d/%m/%Y', '%Y-%m-%d')", {"DOB": "31/01/1990"}, "1990-01-31"),
    ("DOB | date('%Y-%m-%d')", {"DOB": "2022-02-23T12:49:33.150Z"}, "2022-02-23"),
    ("DOB | date('%d/%m/%Y', '%Y-%m-%d')", {"DOB": ""}, None),
    ("Phone | default('n/a')", {}, "n/a"),
    ("Phone | default('n/a')", {"Phone": ""}, "n/a"),
    ("Phone | default('n/a')", {"Phone": "123"}, "123"),
    ("Role | lookup(roles)", {"Role": "Tutor"}, 8),
    ("Role | lookup(roles)", {}, None),
    ("Role | lookup(soft)", {"Role": "zzz"}, "?"),
    ("Roles | lookup(roles)", {"Roles": ["Learner", "Tutor"]}, [6, 8]),
    ("Id | int", {"Id": "42"}, 42),
    ("Id | str", {"Id": 42}, "42"),
    ("Id | as_list", {"Id": 5}, [5]),
    ("Role | default(6) | as_list", {}, [6]),
    ("Id | as_object('id')", {"Id": [1, 2]}, [{"id": 1}, {"id": 2}]),
    ("ClassroomID -> classes", {"ClassroomID": 15379}, 9001),
    ("ClassroomID -> classes", {}, None),
    ("ClassroomID -> classes | as_list | as_object('id')", {"ClassroomID": "15381"}, [{"id": 9002}]),
    ("groups.id -> groups | as_object('id')", {"groups": [{"id": 7}]}, [{"id": "g-7"}]),
]


@pytest.mark.parametrize(("expr", "record", "expected"), CASES, ids=[str(c[0]) for c in CASES])
def test_expression_values(expr: Any, record: dict[str, Any], expected: Any) -> None:
    assert run(expr, record) == expected


def test_missing_values_are_left_out_of_the_output() -> None:
    compiled, _ = compile_map({"a": "A", "b": "B", "c": [6]}, TABLES)
    assert compiled is not None
    assert compiled({"A": 1}, resolve) == {"a": 1, "c": [6]}


def test_constants_are_not_shared_between_records() -> None:
    compiled, _ = compile_map({"roles": [6]}, TABLES)
    assert compiled is not None
    first = compiled({}, resolve)
    first["roles"].append(99)
    assert compiled({}, resolve) == {"roles": [6]}


BAD_VALUES = [
    ("DOB | date('%d/%m/%Y', '%Y-%m-%d')", {"DOB": "1990-31-01"}, "unparseable date '1990-31-01'"),
    ("DOB | date('%Y-%m-%d')", {"DOB": "yesterday"}, "expected an ISO 8601 date"),
    ("Role | lookup(roles)", {"Role": "Dean"}, "'Dean' is not in table 'roles'"),
    (
        "ClassroomID -> classes",
        {"ClassroomID": 1},
        "no 'classes' record was created for source ClassroomID = '1'",
    ),
    ("Id | int", {"Id": "x1"}, "not an integer"),
]


@pytest.mark.parametrize(("expr", "record", "reason"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_unmappable_values_raise_mapping_error_with_field(
    expr: str, record: dict[str, Any], reason: str
) -> None:
    compiled, _ = compile_map({"target_field": expr}, TABLES)
    assert compiled is not None
    with pytest.raises(MappingError) as info:
        compiled(record, resolve)
    assert info.value.field == "target_field"
    assert reason in info.value.reason
    assert str(info.value).startswith("target_field: ")


COMPILE_PROBLEMS = [
    ("x | trimm", "unknown transform 'trimm' (did you mean \"trim\"?)"),
    ("x | lookup(nope)", "unknown lookup table 'nope'"),
    ("x | date()", "takes 1 to 2 argument(s); got 0"),
    ("x | trim('a')", "takes 0 argument(s); got 1"),
    ("x | split(3)", "quoted string arguments"),
    ("'a' + ", "bad expression"),
    ("a ->", "expected a step name after '->'"),
    ("'unterminated", "unterminated string"),
    ("a b", "unexpected 'b'"),
    ("", "empty expression"),
    ("'x' -> s", "'->' needs a source field"),
]


@pytest.mark.parametrize(("expr", "message"), COMPILE_PROBLEMS, ids=[c[0] or "empty" for c in COMPILE_PROBLEMS])
def test_compile_problems_name_the_field(expr: str, message: str) -> None:
    compiled, problems = compile_map({"ok": "a", "bad": expr}, TABLES)
    assert compiled is None
    assert [p.field for p in problems] == ["bad"]
    assert message in problems[0].message


def test_every_bad_entry_is_reported() -> None:
    _, problems = compile_map({"a": "x | nope", "b": "'", "c": "fine"}, TABLES)
    assert [p.field for p in problems] == ["a", "b"]


def test_references_and_source_fields_are_collected() -> None:
    compiled, _ = compile_map(
        {"groups": "ClassroomID -> classes", "name": "First + ' ' + Last", "x": "company.name"}, TABLES
    )
    assert compiled is not None
    assert compiled.references == (("groups", "classes"),)
    assert compiled.source_fields == ("ClassroomID", "First", "Last", "company.name")
    assert compiled.fields == ("groups", "name", "x")


def test_syntax_error_carries_column() -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse("a | trim | ")
    assert info.value.column == 12
