"""Plan loading: TOML/YAML/JSON, every problem collected, key paths, tables, budgets."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
import yaml

from migrator.errors import PlanError
from migrator.plan.load import MAX_PLAN_DEPTH, MAX_PLAN_VALUES, load_plan, parse_plan_text
from migrator.plan.model import Budget, BulkWrite, CreateWrite, Plan
from migrator.plan.rates import Rate, parse_rate

GOOD = """
[plan]
name = "p"

[connections.src]
platform = "onefile"
base_url = "${ONEFILE_BASE_URL}"
customer_token = "${ONEFILE_SOURCE_CUSTOMER_TOKEN}"

[connections.dst]
platform = "velpic"
base_url = "https://${VELPIC_HOST}/api/v2"
access_key = "${VELPIC_TARGET_ACCESS_KEY}"
budget = { default = "20/second", endpoints = { "/bulkUserImport" = "2/second" }, reserve = 0.2 }

[tables.roles]
values = { "1" = 6 }

[steps.classes]
read  = { from = "src", entity = "classroom", filter = { OrganisationID = 5740 } }
write = { to = "dst", entity = "group", mode = "create", match = "name" }
map = { name = "Name" }

[steps.learners]
read  = { from = "src", entity = "user", filter = { OrganisationID = 5740, Role = 1 } }
write = { to = "dst", entity = "user", mode = "bulk", match = "empNo", batch = 500 }
map.roles  = "Role | lookup(roles) | as_list"
map.groups = "ClassroomID -> classes | as_list | as_object('id')"
"""


def problems_of(text: str, file: str = "plan.toml") -> list[str]:
    with pytest.raises(PlanError) as info:
        parse_plan_text(text, file, Path("."))
    return [str(p) for p in info.value.problems]


def test_good_plan_decodes_into_frozen_structs() -> None:
    loaded = parse_plan_text(GOOD, "plan.toml", Path("."))
    plan = loaded.plan
    assert isinstance(plan.steps["learners"].write, BulkWrite)
    assert isinstance(plan.steps["classes"].write, CreateWrite)
    assert plan.steps["learners"].read.from_ == "src"
    assert isinstance(plan.connections["dst"].budget, Budget)
    assert plan.connections["dst"].access_key == "${VELPIC_TARGET_ACCESS_KEY}"  # never resolved in the Plan
    assert loaded.maps["learners"].references == (("groups", "classes"),)
    with pytest.raises(AttributeError):
        plan.plan.name = "other"  # type: ignore[misc]


def test_yaml_and_json_give_the_same_plan() -> None:
    toml_plan = parse_plan_text(GOOD, "p.toml", Path(".")).plan
    data = msgspec.to_builtins(toml_plan)
    as_yaml = parse_plan_text(yaml.safe_dump(data), "p.yaml", Path(".")).plan
    as_json = parse_plan_text(json.dumps(data), "p.json", Path(".")).plan
    assert as_yaml == toml_plan
    assert as_json == toml_plan


def test_every_problem_is_reported_not_only_the_first() -> None:
    text = GOOD.replace('mode = "bulk"', 'mode = "bluk"').replace('entity = "group",', 'entty = "group",')
    text = text.replace("[tables.roles]", "[tables.roles]\nextra = 1")
    found = problems_of(text)
    assert any("steps.learners.write.mode: expected one of bulk" in p for p in found)
    assert any("steps.classes.write.entty: unknown key" in p and '(did you mean "entity"?)' in p for p in found)
    assert any("steps.classes.write.entity: missing (required)" in p for p in found)
    assert any("tables.roles.extra: unknown key" in p for p in found)
    assert all(p.startswith("plan.toml: ") for p in found)


def test_semantic_problems_are_all_reported() -> None:
    text = GOOD.replace('from = "src", entity = "user"', 'from = "srx", entity = "user"')
    text = text.replace('"20/second"', '"20 a second"').replace("lookup(roles)", "lookup(role)")
    text = text.replace('customer_token = "${ONEFILE_SOURCE_CUSTOMER_TOKEN}"', 'customer_token = "hunter2"')
    found = problems_of(text)
    assert len(found) == 4, found
    joined = "\n".join(found)
    assert 'steps.learners.read.from: unknown connection "srx" (did you mean "src"?)' in joined
    assert "connections.dst.budget.default: expected" in joined
    assert "steps.learners.map.roles: unknown lookup table 'role'" in joined
    assert "connections.src.customer_token: a literal secret" in joined
    assert "hunter2" not in joined


def test_key_paths_quote_keys_that_need_it() -> None:
    text = GOOD.replace("[steps.classes]", '[steps."my classes"]').replace("-> classes", "-> nope")
    found = problems_of(text)
    assert any(
        p.startswith('plan.toml: steps.learners.map.groups: crosswalk reference to unknown step "nope"')
        for p in found
    )


def test_toml_syntax_error_has_line_and_column() -> None:
    with pytest.raises(PlanError) as info:
        parse_plan_text('[plan]\nname = "x"\n[steps\n', "x.toml")
    (problem,) = info.value.problems
    assert problem.line == 3
    assert problem.column is not None
    assert str(problem).startswith("x.toml:3:")


def test_table_from_csv_file(tmp_path: Path) -> None:
    (tmp_path / "roles.csv").write_text("code,velpic\nLearner,6\nTutor,8\n", encoding="utf-8")
    text = GOOD.replace(
        'values = { "1" = 6 }', 'file = "roles.csv"\nkey_column = "code"\nvalue_column = "velpic"'
    )
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(text, encoding="utf-8")
    loaded = load_plan(str(plan_file))
    assert dict(loaded.tables["roles"].values) == {"Learner": "6", "Tutor": "8"}


def test_table_file_problems(tmp_path: Path) -> None:
    (tmp_path / "roles.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    text = GOOD.replace('values = { "1" = 6 }', 'file = "roles.csv"')
    found = problems_of(
        text.replace("[tables.roles]", "[tables.other]\nfile = 'missing.csv'\n[tables.roles]"),
        str(tmp_path / "p.toml"),
    )
    with pytest.raises(PlanError) as info:
        parse_plan_text(text, "p.toml", tmp_path)
    assert "tables.roles.file: roles.csv: no column key, value" in str(info.value)
    assert any("tables.other.file: cannot read table file" in p for p in found)


def test_table_needs_values_or_file() -> None:
    found = problems_of(GOOD.replace('values = { "1" = 6 }', ""))
    assert any("tables.roles: give exactly one of values" in p for p in found)


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("5000/hour", 5000 / 3600),
        ("20/second", 20.0),
        ("300/minute", 5.0),
        ("1/day", 1 / 86400),
        ("10 / s", 10.0),
    ],
)
def test_rates(text: str, per_second: float) -> None:
    assert parse_rate(text).per_second == pytest.approx(per_second)


@pytest.mark.parametrize("text", ["5000 per hour", "5000/fortnight", "0/second", "/hour", "fast"])
def test_bad_rates_say_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"rate|expected"):
        parse_rate(text)


@pytest.mark.parametrize(
    ("text", "count", "per"),
    [("5000/hour", 5000, 3600.0), ("20/second", 20, 1.0), ("300/minute", 300, 60.0), ("50/s", 50, 1.0)],
)
def test_rates_decode_to_count_and_window(text: str, count: float, per: float) -> None:
    assert parse_rate(text) == Rate(count, per)


@pytest.mark.parametrize("text", ["fast", "20", "20/fortnight", "0/second", "-5/second", "/hour"])
def test_bad_rate_errors_quote_the_text(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_rate(text)
    assert repr(text) in str(info.value)


def test_schema_covers_the_plan() -> None:
    schema = msgspec.json.schema(Plan)
    assert "Connection" in schema["$defs"]
    write = json.dumps(schema["$defs"]["Step"])
    assert "UpsertWrite" in write


def _nested(fmt: str, depth: int) -> str:
    """A plan whose map value is a list nested ``depth`` deep, in ``fmt`` (JSON text is YAML too)."""
    value = "[" * depth + "6" + "]" * depth
    if fmt == "toml":
        return GOOD.replace('map.roles  = "Role | lookup(roles) | as_list"', f"map.roles = {value}")
    text = json.dumps(msgspec.to_builtins(parse_plan_text(GOOD, "p.toml", Path(".")).plan))
    return text.replace('"Role | lookup(roles) | as_list"', value)


@pytest.mark.parametrize("fmt", ["toml", "json", "yaml"])
def test_a_plan_nested_too_deep_for_the_walk_names_where(fmt: str) -> None:
    (problem,) = problems_of(_nested(fmt, MAX_PLAN_DEPTH + 5), f"plan.{fmt}")
    assert problem == (
        f"plan.{fmt}: steps.learners.map.roles…: nested deeper than 32 levels; a plan needs far fewer: "
        "look for a runaway structure (brackets that never close, a generated file)"
    )


@pytest.mark.parametrize("fmt", ["toml", "json", "yaml"])
def test_a_plan_nested_too_deep_for_the_parser_is_a_plan_error(fmt: str) -> None:
    (problem,) = problems_of(_nested(fmt, 100_000), f"plan.{fmt}")
    assert problem.startswith(f"plan.{fmt}: nested deeper than 32 levels;")


def test_nesting_up_to_the_limit_is_accepted() -> None:
    # the map value's list sits 4 levels down (steps.learners.map.roles), so it may nest 28 more
    loaded = parse_plan_text(_nested("toml", MAX_PLAN_DEPTH - 4), "plan.toml", Path("."))
    assert "learners" in loaded.maps


BILLION_LAUGHS = """
plan: {name: p}
steps:
  s:
    map:
      a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
      f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
      g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
      h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
      i: [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_a_yaml_alias_bomb_is_refused_before_it_expands() -> None:
    (problem,) = problems_of(BILLION_LAUGHS, "plan.yaml")
    assert problem.startswith("plan.yaml: steps.s.map.")
    assert (
        f"the plan holds more than {MAX_PLAN_VALUES} values (each use of a YAML alias counts in full); move "
        'large value tables to a CSV file (tables.<name>.file = "x.csv") and write aliases out'
    ) in problem


def test_a_yaml_alias_that_holds_itself_is_refused() -> None:
    (problem,) = problems_of("plan: {name: p}\nsteps: {s: {map: {roles: &r [1, *r]}}}\n", "plan.yaml")
    assert "steps.s.map.roles…: nested deeper than 32 levels" in problem


def test_a_few_yaml_aliases_are_fine() -> None:
    data = msgspec.to_builtins(parse_plan_text(GOOD, "p.toml", Path(".")).plan)
    shared = data["steps"]["classes"]["read"]["filter"]
    data["steps"]["learners"]["read"]["filter"] = shared  # one object twice: safe_dump writes an alias
    text = yaml.safe_dump(data)
    assert "&id001" in text and "*id001" in text
    plan = parse_plan_text(text, "p.yaml", Path(".")).plan
    assert plan.steps["learners"].read.filter == plan.steps["classes"].read.filter == {"OrganisationID": 5740}
