"""accessplanit v2 ``$filter`` / ``$orderby`` / ``$select``: parsing and evaluation, table-driven, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from migrator.sandbox.accessplanit_odata import (
    Clause,
    FieldInfo,
    ODataError,
    compile_filter,
    normalize_datetime,
    parse_filter,
    parse_orderby,
    parse_select,
    schema_of,
    sort_records,
)

SCHEMA = schema_of(
    [
        FieldInfo("ID"),
        FieldInfo("CourseID"),
        FieldInfo("Label"),
        FieldInfo("Status"),
        FieldInfo("StartDate", "DateTime"),
        FieldInfo("Places", "Int32"),
        FieldInfo("Score", "Decimal"),
        FieldInfo("Passed", "Boolean"),
        FieldInfo("Notes", sortable=False, filterable=False),
    ]
)

ROWS: list[dict[str, Any]] = [
    {
        "ID": "1",
        "CourseID": "FirAid",
        "Label": "First Aid - Jan",
        "Status": "Available",
        "StartDate": "2024-06-01T09:00:00",
        "Places": 10,
        "Score": 55.5,
        "Passed": True,
        "Notes": None,
    },
    {
        "ID": "2",
        "CourseID": "FirAid",
        "Label": "First Aid - Feb",
        "Status": "Full",
        "StartDate": "2025-02-01T09:00:00",
        "Places": 20,
        "Score": 80.0,
        "Passed": False,
        "Notes": None,
    },
    {
        "ID": "3",
        "CourseID": "ManHan",
        "Label": "Manual Handling",
        "Status": "available",
        "StartDate": "2025-03-01T10:00:00",
        "Places": 5,
        "Score": None,
        "Passed": None,
        "Notes": "x",
    },
    {
        "ID": "4",
        "CourseID": "O'Neil",
        "Label": None,
        "Status": "Cancelled",
        "StartDate": None,
        "Places": None,
        "Score": None,
        "Passed": None,
        "Notes": None,
    },
]


def ids(text: str) -> list[str]:
    flt = parse_filter(text, SCHEMA)
    pred = compile_filter(flt)
    return [r["ID"] for r in ROWS if pred(r)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the document's examples
        ("CourseID eq 'FirAid'", ["1", "2"]),
        ("CourseID ne 'FirAid'", ["3", "4"]),
        ("StartDate lt '2025-01-01T10:00:00'", ["1"]),
        ("StartDate le '2025-02-01T09:00:00'", ["1", "2"]),
        ("StartDate gt '2025-01-01T10:00:00'", ["2", "3"]),
        ("StartDate ge '2025-02-01T09:00:00'", ["2", "3"]),
        ("contains(CourseID,'FirAid')", ["1", "2"]),
        ("startswith(CourseID,'Fir')", ["1", "2"]),
        ("endswith(CourseID,'aid')", ["1", "2"]),  # case-insensitive
        ("StartDate gt '2025-01-01T10:00:00' and status eq 'Available'", ["3"]),
        ("StartDate gt '2025-01-01T10:00:00' or status eq 'Available'", ["1", "2", "3"]),
        # leading space as in the document's format line; field names and keywords case-insensitive
        (" courseid EQ 'firaid'", ["1", "2"]),
        ("CourseID eq 'ManHan' AND Places lt '10'", ["3"]),
        # and binds tighter than or
        ("CourseID eq 'ManHan' or CourseID eq 'FirAid' and Places gt '15'", ["2", "3"]),
        ("Places gt '15' and CourseID eq 'FirAid' or CourseID eq 'ManHan'", ["2", "3"]),
        # types: numbers quoted or not, decimals, booleans, dates without time
        ("Places ge 10", ["1", "2"]),
        ("Score gt '60'", ["2"]),
        ("Passed eq 'true'", ["1"]),
        ("Passed eq false", ["2"]),
        ("StartDate lt '2025-01-01'", ["1"]),
        ("StartDate eq '2025-03-01T11:00:00+01:00'", ["3"]),
        # nulls
        ("Label eq null", ["4"]),
        ("StartDate ne null", ["1", "2", "3"]),
        ("Places lt '100'", ["1", "2", "3"]),  # null never compares
        ("Label ne 'Manual Handling'", ["1", "2", "4"]),
        # a quote inside a value
        ("CourseID eq 'O''Neil'", ["4"]),
        ("contains(Label,'aid - ')", ["1", "2"]),
        ("ID eq '3'", ["3"]),
    ],
)
def test_filter_selects_rows(text: str, expected: list[str]) -> None:
    assert ids(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("(CourseID eq 'FirAid')", "parentheses"),
        ("CourseID eq 'FirAid' and (Places gt '1' or Places lt '3')", "parentheses"),
        ("CourseID eq 'FirAid')", "unbalanced"),
        ("Nope eq 'x'", "unknown field 'Nope'"),
        ("Notes eq 'x'", "not filterable"),
        ("contains(Notes,'x')", "not filterable"),
        ("CourseID like 'x'", "unknown operator"),
        ("CourseID eq", "unexpected end"),
        ("CourseID eq 'open", "unterminated"),
        ("CourseID eq FirAid", "single quotes"),
        ("CourseID eq 'a' xor Places eq '1'", "expected 'and' or 'or'"),
        ("not CourseID eq 'a'", "'not' is not supported"),
        ("Places eq 'ten'", "whole number"),
        ("StartDate gt 'yesterday'", "is a date"),
        ("StartDate gt '1990-02-31'", "is a date"),
        ("Passed eq 'maybe'", "true or false"),
        ("CourseID eq 'a' and", "unexpected end"),
        ("contains(CourseID 'a')", "expected ','"),
        ("CourseID eq 'a' # 1", "unexpected character"),
        ("contains(CourseID,null)", "quoted text"),
    ],
)
def test_filter_refused(text: str, fragment: str) -> None:
    with pytest.raises(ODataError) as info:
        parse_filter(text, SCHEMA)
    assert info.value.option == "$filter"
    assert fragment in info.value.message


def test_empty_filter_is_no_filter() -> None:
    assert parse_filter("  ", SCHEMA) is None
    assert compile_filter(None)(ROWS[0]) is True


@pytest.mark.parametrize(
    ("text", "single"),
    [
        ("Status eq 'Full'", Clause("Status", "eq", "full", "String")),
        ("Status ne 'Full'", None),
        ("Status eq 'Full' and ID eq '2'", None),
        ("Status eq 'Full' or ID eq '2'", None),
    ],
)
def test_single_equality(text: str, single: Clause | None) -> None:
    flt = parse_filter(text, SCHEMA)
    assert flt is not None
    assert flt.single_equality() == single


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("label,startdate,status", ("Label", "StartDate", "Status")),  # requested order, canonical names
        ("Status, ID ,", ("Status", "ID")),
        ("ID,id,Label", ("ID", "Label")),
        ("Notes", ("Notes",)),  # selectable although not filterable
        ("", None),
    ],
)
def test_select(text: str, expected: tuple[str, ...] | None) -> None:
    assert parse_select(text, SCHEMA) == expected


def test_select_unknown_field() -> None:
    with pytest.raises(ODataError, match=r"\$select: unknown field 'Spaces'"):
        parse_select("Label,Spaces", SCHEMA)


@pytest.mark.parametrize(
    ("text", "expected_ids"),
    [
        ("startdate desc", ["3", "2", "1", "4"]),  # nulls last when descending
        ("StartDate", ["4", "1", "2", "3"]),  # nulls first ascending
        ("CourseID asc,Places desc", ["2", "1", "3", "4"]),
        ("status asc,ID desc", ["3", "1", "4", "2"]),  # case-insensitive text order: available ×2
        ("Score desc,ID asc", ["2", "1", "3", "4"]),
        ("", ["1", "2", "3", "4"]),
    ],
)
def test_orderby(text: str, expected_ids: list[str]) -> None:
    rows = sort_records(list(ROWS), parse_orderby(text, SCHEMA))
    assert [r["ID"] for r in rows] == expected_ids


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Notes asc", "not sortable"),
        ("Nope", "unknown field"),
        ("Label upward", "asc or desc"),
        ("Label desc extra", "expected 'field [asc|desc]'"),
    ],
)
def test_orderby_refused(text: str, fragment: str) -> None:
    with pytest.raises(ODataError) as info:
        parse_orderby(text, SCHEMA)
    assert info.value.option == "$orderby"
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-01", "2025-01-01T00:00:00"),
        ("2025-01-01T10:00", "2025-01-01T10:00:00"),
        ("2025-01-01T10:00:00.123", "2025-01-01T10:00:00"),
        ("2025-01-01T10:00:00Z", "2025-01-01T10:00:00"),
        ("2025-01-01T10:00:00+02:00", "2025-01-01T08:00:00"),
        ("1990-02-31", None),
        ("31/01/2025", None),
        ("", None),
    ],
)
def test_normalize_datetime(text: str, expected: str | None) -> None:
    assert normalize_datetime(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # no precedence: left to right, so "a or b and c" is "(a or b) and c"
        ("CourseID eq 'ManHan' or CourseID eq 'FirAid' and Places gt '15'", ["2"]),
        ("Places gt '15' and CourseID eq 'FirAid' or CourseID eq 'ManHan'", ["2", "3"]),
        (
            "CourseID eq 'FirAid' or CourseID eq 'ManHan' and Status eq 'available' or ID eq '4'",
            ["1", "3", "4"],
        ),
        ("CourseID eq 'FirAid' and Places gt '15'", ["2"]),  # one connective: the same either way
        ("CourseID eq 'FirAid' or ID eq '4'", ["1", "2", "4"]),
    ],
)
def test_filter_without_precedence_applies_left_to_right(text: str, expected: list[str]) -> None:
    pred = compile_filter(parse_filter(text, SCHEMA, "left"))
    assert [r["ID"] for r in ROWS if pred(r)] == expected


def test_an_unknown_precedence_is_refused_with_the_switch_named() -> None:
    with pytest.raises(ValueError, match=r"accessplanit\.filter_precedence"):
        parse_filter("ID eq '1'", SCHEMA, "right")
