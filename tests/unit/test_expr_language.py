"""The map language's conditions, where, coalesce, re_replace, datetime and plan functions: parse, compile-time
problems (with the column) and evaluation; and the presence check of mapped source fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from migrator.errors import PlanError
from migrator.plan.expr import Boolean, Compare, ExprSyntaxError, Function, Member, Negation, parse
from migrator.plan.functions import PlanFunctions, load_functions
from migrator.plan.load import parse_plan_text
from migrator.plan.mapping import MappingError, compile_map
from migrator.runtime.presence import FieldPresence


def _title(first: str | None, last: str | None) -> str:
    return f"{(first or '').title()} {(last or '').upper()}".strip()


def _boom(value: Any) -> Any:
    raise ValueError(f"cannot clean {value!r}")


def _suffix(value: Any, tail: str) -> str:
    return f"{value}{tail}"


FUNCS = PlanFunctions("functions.py", {"title": _title, "boom": _boom, "suffix": _suffix})


def no_crosswalk(step: str, key: str) -> None:
    return None


def run(expr: str, record: dict[str, Any]) -> Any:
    compiled, problems = compile_map({"out": expr}, {}, functions=FUNCS)
    assert problems == [] and compiled is not None
    mapped = compiled(record, no_crosswalk)
    assert mapped == compiled.each_field(record, no_crosswalk)  # the generated function and the closures agree
    return mapped.get("out")


def problems_of(expr: str, where: str | None = None) -> list[str]:
    compiled, problems = compile_map({"out": expr}, {}, functions=FUNCS, where=where)
    assert compiled is None
    return [p.message for p in problems]


# ------------------------------------------------------------------------------------------------ parse


def test_parse_builds_conditions_with_precedence() -> None:
    tree = parse("a == 'x' or not b in [1, 2] and c != null").source
    assert isinstance(tree, Boolean) and tree.op == "or"
    left, right = tree.operands
    assert isinstance(left, Compare) and left.op == "=="
    assert isinstance(right, Boolean) and right.op == "and"
    negated, compare = right.operands
    assert isinstance(negated, Negation) and isinstance(negated.operand, Member)
    assert isinstance(compare, Compare) and compare.op == "!="


def test_parse_functions_keep_their_column() -> None:
    tree = parse("'x' + coalesce(a, b)").source
    function = tree.parts[1]  # type: ignore[union-attr]
    assert isinstance(function, Function) and function.name == "coalesce" and function.column == 7


def test_operator_words_stay_field_names_where_no_operator_can_stand() -> None:
    assert parse("not").source == parse("`not`").source
    assert parse("in | trim").transforms[0].name == "trim"


@pytest.mark.parametrize(
    ("text", "column"),
    [("if(a == , 1)", 9), ("a in [1, 2", 11), ("a not in 3", 10), ("coalesce(a b)", 12), ("a == 'x' and", 13)],
)
def test_syntax_errors_carry_the_column(text: str, column: int) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse(text)
    assert info.value.column == column


# ------------------------------------------------------------------------------------------- evaluation

CASES: list[tuple[str, dict[str, Any], Any]] = [
    ("if(Status == 'Archived', false, true)", {"Status": "Archived"}, False),
    ("if(Status == 'Archived', false, true)", {"Status": "Active"}, True),
    ("if(Status == 'Archived', false, true)", {}, True),
    ("if(Level == 1, 'one', 'other')", {"Level": "1"}, "other"),  # exact: text is not a number
    ("if(Level == 1, 'one', 'other')", {"Level": 1}, "one"),
    ("if(Flag == 1, 'one', 'other')", {"Flag": True}, "other"),  # true is not 1
    ("if(Role in ['T', 'A'], 'Tutor')", {"Role": "A"}, "Tutor"),
    ("if(Role in ['T', 'A'], 'Tutor')", {"Role": "L"}, None),  # no else: missing, left out
    ("if(Role not in ['T', 'A'], 'Learner', 'Staff')", {"Role": "L"}, "Learner"),
    ("if(a and not b, 'yes', 'no')", {"a": "x", "b": ""}, "yes"),
    ("if(a and not b, 'yes', 'no')", {"a": "x", "b": "y"}, "no"),
    ("if(a or b, 'yes', 'no')", {"a": False, "b": []}, "no"),
    ("if(a == null, 'none', a)", {}, "none"),
    ("if((Status | lower) == 'archived', 'A', 'B')", {"Status": " ARCHIVED"}, "B"),
    ("if((Status | trim | lower) == 'archived', 'A', 'B')", {"Status": " ARCHIVED"}, "A"),
    ("coalesce(Work, Home, 'none')", {"Work": "", "Home": "h@x"}, "h@x"),
    ("coalesce(Work, Home, 'none')", {"Work": None}, "none"),
    ("coalesce(Work, Home) | lower", {"Work": "W@X"}, "w@x"),
    ("coalesce(Work, Home)", {}, None),
    ("'Tel: ' + coalesce(Mobile, Phone)", {"Phone": "01"}, "Tel: 01"),
    ("Phone | re_replace('[^0-9+]', '')", {"Phone": "+44 (0)20 7946-0000"}, "+4402079460000"),
    ("Name | re_replace('(\\\\w+) (\\\\w+)', '\\\\2, \\\\1')", {"Name": "Ada Lovelace"}, "Lovelace, Ada"),
    ("Tags | re_replace('^x', '')", {"Tags": ["xa", "b"]}, ["a", "b"]),
    (
        "Seen | datetime('%d/%m/%Y %H:%M', 'Europe/London', 'UTC')",
        {"Seen": "01/07/2024 09:30"},
        "2024-07-01T08:30:00+00:00",
    ),
    (
        "Seen | datetime('%d/%m/%Y %H:%M', 'Europe/London', 'UTC', '%Y-%m-%dT%H:%M:%S')",
        {"Seen": "01/01/2024 09:30"},
        "2024-01-01T09:30:00",
    ),
    (  # an aware value keeps its own offset; the source zone is for local times only
        "Start | datetime('iso', 'Europe/London', 'Australia/Perth')",
        {"Start": "2018-05-19T01:00:06.000+0800"},
        "2018-05-19T01:00:06+08:00",
    ),
    (
        "Created | datetime('iso', 'UTC', 'America/New_York', '%Y-%m-%d %H:%M')",
        {"Created": "2016-08-24T15:00:00.000Z"},
        "2016-08-24 11:00",
    ),
    ("Seen | datetime('iso', 'UTC', 'UTC')", {"Seen": ""}, None),
    ("call(title, First, Last)", {"First": "ada", "Last": "lovelace"}, "Ada LOVELACE"),
    ("call(title, First, Last)", {"First": "ada"}, "Ada"),
    ("Code | fn(suffix, '-X')", {"Code": "A1"}, "A1-X"),
    ("Code | fn(boom)", {}, None),  # a missing value stays missing: the function is not called
]


@pytest.mark.parametrize(("expr", "record", "expected"), CASES, ids=[f"{c[0]}|{c[1]}" for c in CASES])
def test_evaluation(expr: str, record: dict[str, Any], expected: Any) -> None:
    assert run(expr, record) == expected


def test_a_raising_function_is_the_records_mapping_error() -> None:
    compiled, _ = compile_map({"Phone": "Phone | fn(boom)"}, {}, functions=FUNCS)
    assert compiled is not None
    with pytest.raises(MappingError) as info:
        compiled({"Phone": "12"}, no_crosswalk)
    assert info.value.field == "Phone"
    assert info.value.reason == "function 'boom' (functions.py) raised ValueError: cannot clean '12'"


def test_bad_datetime_value_is_a_mapping_error() -> None:
    compiled, _ = compile_map({"d": "d | datetime('%d/%m/%Y', 'UTC', 'UTC')"}, {})
    assert compiled is not None
    with pytest.raises(MappingError, match="unparseable date and time '2024-01-01': expected a date and time"):
        compiled({"d": "2024-01-01"}, no_crosswalk)


# ----------------------------------------------------------------------------------- compile-time problems

COMPILE_PROBLEMS = [
    ("iff(a, 1, 2)", "unknown function 'iff' (did you mean \"if\"?)", 1),
    ("if(a)", "function 'if' takes 2 to 3 argument(s); got 1", 1),
    ("'x' + coalesce()", "function 'coalesce' takes 1 or more argument(s); got 0", 7),
    ("a | re_replace('(', '')", "bad regular expression '('", 5),
    ("a | re_replace('(a)', '\\\\2')", "bad replacement", 5),
    ("a | re_replace(1, '')", "quoted string arguments", 5),
    ("a | datetime('iso', 'Europe/Londn', 'UTC')", "unknown time zone 'Europe/Londn' (did you mean", 5),
    ("a | datetime('iso', 'UTC')", "takes 3 to 4 argument(s); got 2", 5),
    ("call(titel, a, b)", "no function 'titel' in functions.py (did you mean \"title\"?)", 1),
    ("call(title, a)", "function 'title' in functions.py is title(first: 'str | None', last:", 1),
    ("call('title', a)", "call() takes the function's name first", 1),
    ("a | fn(boom, 'x')", "cannot take 2 argument(s)", 5),
    ("a | fn('boom')", "takes the function's name first, unquoted", 5),
]


@pytest.mark.parametrize(("expr", "message", "column"), COMPILE_PROBLEMS, ids=[c[0] for c in COMPILE_PROBLEMS])
def test_compile_problems_say_what_and_where(expr: str, message: str, column: int) -> None:
    (found,) = problems_of(expr)
    assert message in found
    assert found.endswith(f"at column {column}")


def test_functions_without_a_functions_file() -> None:
    compiled, problems = compile_map({"x": "call(title, a)"}, {})
    assert compiled is None
    assert 'needs a functions file: add functions = "functions.py" to [plan]' in problems[0].message


def test_where_selects_records_and_its_problems_are_filed_under_where() -> None:
    compiled, _ = compile_map({"x": "a"}, {}, where="Status != 'Deleted' and Kind in ['user', 'admin']")
    assert compiled is not None
    assert compiled.selects({"Status": "Active", "Kind": "user"}, no_crosswalk)
    assert not compiled.selects({"Status": "Deleted", "Kind": "user"}, no_crosswalk)
    assert not compiled.selects({"Status": "Active", "Kind": "guest"}, no_crosswalk)
    assert ("where", "Status") in compiled.source_uses and "Kind" in compiled.source_fields
    _, problems = compile_map({"x": "a"}, {}, where="Status === 'x'")
    assert [(p.field, "at column" in p.message) for p in problems] == [(None, True)]
    _, problems = compile_map({"x": "a"}, {}, where="Company -> companies")
    assert "cannot use a crosswalk" in problems[0].message


# ----------------------------------------------------------------------------------------- plan files

PLAN = """
[plan]
name = "p"
{functions}
[connections.src]
platform = "files"
path = "in"
[connections.dst]
platform = "files"
path = "out"
[steps.users]
read = {{ from = "src", entity = "users" }}
write = {{ to = "dst", entity = "users", mode = "create" }}
where = "{where}"
map.x = "{expr}"
"""


def _load(tmp_path: Path, expr: str, functions: str = "", where: str = "a != 'b'") -> Any:
    text = PLAN.format(functions=functions, expr=expr, where=where)
    return parse_plan_text(text, str(tmp_path / "plan.toml"), tmp_path)


def test_plan_functions_file_is_loaded_and_checked(tmp_path: Path) -> None:
    (tmp_path / "functions.py").write_text(
        "def full(a, b):\n    return f'{a} {b}'\n\ndef _private(a):\n    return a\n"
    )
    loaded = _load(tmp_path, "call(full, a, b)", 'functions = "functions.py"')
    assert loaded.maps["users"]({"a": "x", "b": "y"}, no_crosswalk) == {"x": "x y"}
    with pytest.raises(PlanError) as info:
        _load(tmp_path, "call(_private, a)", 'functions = "functions.py"', where="a =! 1")
    lines = str(info.value).splitlines()
    assert any("plan.toml: steps.users.map.x: no function '_private' in functions.py" in line for line in lines)
    assert any("plan.toml: steps.users.where: bad condition" in line for line in lines)


def test_missing_or_broken_functions_file_is_a_plan_problem(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"plan.functions: functions file 'nope.py' not found"):
        _load(tmp_path, "a", 'functions = "nope.py"')
    (tmp_path / "bad.py").write_text("x = 1\nraise RuntimeError('no db')\n")
    assert load_functions(tmp_path / "bad.py", "bad.py") == (
        "functions file 'bad.py' failed to load: line 2: RuntimeError: no db"
    )
    (tmp_path / "syntax.py").write_text("def f(:\n")
    assert "failed to load: line 1: SyntaxError" in str(load_functions(tmp_path / "syntax.py", "syntax.py"))


# ------------------------------------------------------------------------------------ fields no record has


def test_presence_names_a_path_no_record_carried_with_did_you_mean() -> None:
    uses = [("Forenames", "FirstNmae"), ("Town", "Address"), ("Email", "Email"), ("Co", "company.nmae")]
    presence = FieldPresence(uses)
    presence.see([{"FirstName": "a", "Email": None, "company": {"name": "x"}}])
    presence.see([{"FirstName": "b", "Email": "e", "company": {"name": "y"}}])
    assert presence.warnings() == [
        "map.Forenames: no record carried source field 'FirstNmae' (2 read) (did you mean \"FirstName\"?)",
        "map.Town: no record carried source field 'Address' (2 read)",
        "map.Co: no record carried source field 'company.nmae' (2 read) (did you mean \"company.name\"?)",
    ]


def test_presence_is_quiet_when_a_record_carries_it_or_nothing_was_read() -> None:
    presence = FieldPresence([("a", "Sparse"), ("g", "groups.id"), ("c", "company.name")])
    assert presence.warnings() == []
    presence.see([{"groups": [], "company": None}, {"Sparse": ""}])
    assert presence.warnings() == []  # an empty list or a null on the way cannot tell: no warning
