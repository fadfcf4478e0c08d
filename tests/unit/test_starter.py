"""The starter plans of ``migrator init``, in process: every route's text is valid TOML that loads as a plan,
names every environment variable it references at the top (with the names the sandbox's env file holds),
comments what it leaves behind and every target field it does not map, and keeps the steps that need the
customer's data commented out; ``toml_value`` writes values TOML reads back as they were."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from migrator.connectors.catalog import CATALOG
from migrator.graph import compile_graph
from migrator.plan.load import load_plan
from migrator.sandbox.app import build_state
from migrator.sandbox.config import SandboxConfig
from migrator.starter.model import CANNOT_HOLD, NO_MAPPING
from migrator.starter.render import env_vars, render_plan, step_platform, toml_key, toml_value
from migrator.starter.routes import ROUTES

ROUTE_IDS = [f"{s}-{t}" for s, t in ROUTES]


def _header(text: str) -> str:
    return text.split("\n[plan]\n", 1)[0]


@pytest.mark.parametrize("key", list(ROUTES), ids=ROUTE_IDS)
def test_every_route_renders_a_plan_that_loads_and_compiles(key: tuple[str, str], tmp_path: Path) -> None:
    text = render_plan(ROUTES[key], "acme")
    data = tomllib.loads(text)
    assert data["plan"]["name"] == "acme"
    assert data["connections"]["source"]["platform"] == key[0]
    assert data["connections"]["target"]["platform"] == key[1]
    plan = tmp_path / "plan.toml"
    plan.write_text(text)
    compile_graph(load_plan(str(plan)))  # raises PlanError on any problem


@pytest.mark.parametrize("key", list(ROUTES), ids=ROUTE_IDS)
def test_every_env_var_is_named_at_the_top_as_the_sandbox_names_it(key: tuple[str, str]) -> None:
    text = render_plan(ROUTES[key], "acme")
    referenced = set(re.findall(r"\$\{([A-Z0-9_]+)\}", text))
    assert referenced == set(env_vars(ROUTES[key]))
    header = _header(text)
    assert "# Env vars: " in header
    for name in referenced:
        assert re.search(rf"\b{name}\b", header), name
    state = build_state(SandboxConfig(seed=1, scale=5))
    sandbox_names: set[str] = set()
    for platform in state.platforms.values():
        sandbox_names |= set(platform.env_lines("http://127.0.0.1:1"))
    assert referenced <= sandbox_names


@pytest.mark.parametrize("key", list(ROUTES), ids=ROUTE_IDS)
def test_every_known_target_field_is_mapped_or_commented_with_why(key: tuple[str, str]) -> None:
    route = ROUTES[key]
    text = render_plan(route, "acme")
    for step in route.steps:
        fields = CATALOG[step_platform(route, step)].entities[step.write].fields
        block = text.split(f"[steps.{step.name}]\n", 1)[1].split("\n\n", 1)[0]
        for field in sorted(fields or ()):
            mapped = re.search(rf"^(# )?map\.{field} = ", block, re.MULTILINE)
            explained = re.search(rf"^(# )*# map\.{field} is not mapped: \S", block, re.MULTILINE)
            assert mapped or explained, (step.name, field)


def test_what_is_left_behind_is_named_with_why() -> None:
    header = _header(render_plan(ROUTES["velpic", "velpic"], "acme"))
    assert f"left behind: lesson — lessons are authored content: {CANNOT_HOLD}" in header
    assert "left behind: certificate" not in header  # archived by the step certificates
    assert f"left behind: lesson_schedule — {NO_MAPPING}" in header
    assert "left behind: user_status" not in header  # read with the users (the same list)


@pytest.mark.parametrize("key", [k for k in ROUTES if k[0] == "velpic"], ids=lambda k: f"{k[0]}-{k[1]}")
def test_every_route_out_of_velpic_archives_the_certificates_beside_its_journal(key: tuple[str, str]) -> None:
    data = tomllib.loads(render_plan(ROUTES[key], "acme"))
    assert data["connections"]["certificates"] == {
        "platform": "files",
        "path": "certificates",
        "relative_to": "journal",
    }
    step = data["steps"]["certificates"]
    assert step["read"]["entity"] == "certificate" and step["read"]["filter"] == {"activeValue": "all"}
    assert step["write"] == {
        "to": "certificates",
        "entity": "documents",
        "mode": "create",
        "match": "scheduleId",
    }
    assert step["map"]["document"] == "certificate"


def test_a_step_needing_the_customers_data_is_commented_out_with_what_it_needs() -> None:
    text = render_plan(ROUTES["accessplanit", "velpic"], "acme")
    data = tomllib.loads(text)
    assert set(data["steps"]) == {"companies", "users", "user_status"}
    assert "course_lesson" not in data["tables"]
    assert "\n# [steps.completions]\n" in text and "\n# [tables.course_lesson]\n" in text
    assert "left behind until you supply it: step completions" in _header(text)
    assert "after" not in data["steps"]["user_status"]  # it named the commented-out step
    assert '# add "completions" to after once that step is enabled' in text


def test_role_and_status_tables_are_carried() -> None:
    data = tomllib.loads(render_plan(ROUTES["velpic", "accessplanit"], "acme"))
    assert data["tables"]["user_status"]["values"] == {"56": "Active", "57": "Inactive"}
    assert data["tables"]["main_role"]["values"]["7"] == "Administrator"
    users = data["steps"]["users"]
    assert users["read"]["filter"] == {"activeValue": "all"}
    assert users["map"]["Status"] == "clientStatusId | lookup(user_status)"


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        'quote " and \\ back',
        "tab\tnew\nline \x01 \x7f é",
        0,
        -3,
        0.25,
        True,
        False,
        [1, "a"],
        {"a b": [1]},
    ],
)
def test_toml_value_reads_back_as_written(value: object) -> None:
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


def test_toml_key_quotes_what_a_bare_key_cannot_hold() -> None:
    assert toml_key("Delegate") == "Delegate"
    key = 'Food Hygiene "2"'
    assert tomllib.loads(toml_key(key) + " = 1") == {key: 1}
