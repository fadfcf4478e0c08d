"""Plan → TaskGraph: order, parallel levels, budgets, catalog checks, cycles."""

from __future__ import annotations

from typing import get_args

import pytest

from migrator.connectors.catalog import CATALOG
from migrator.errors import PlanError
from migrator.graph import TaskGraph, compile_graph
from migrator.plan.load import parse_plan_text
from migrator.plan.model import PLATFORMS, Platform

HEAD = """
[plan]
name = "g"
[connections.v]
platform = "velpic"
base_url = "${VELPIC_BASE_URL}"
access_key = "${VELPIC_SOURCE_ACCESS_KEY}"
[connections.a]
platform = "accessplanit"
base_url = "${ACCESSPLANIT_V2_BASE_URL}"
api_key = "${ACCESSPLANIT_TARGET_API_KEY}"
budget = { reserve = 0.2, endpoints = { "/company" = "1000/hour" } }
[connections.o]
platform = "onefile"
base_url = "${ONEFILE_BASE_URL}"
customer_token = "${ONEFILE_SOURCE_CUSTOMER_TOKEN}"
"""

STEPS = """
[steps.companies]
read  = { from = "v", entity = "group" }
write = { to = "a", entity = "company", mode = "upsert", match = "ExternalID" }
map = { Name = "name", ExternalID = "'g' + id" }
[steps.people]
read  = { from = "v", entity = "user" }
write = { to = "a", entity = "user", mode = "upsert", match = "Email" }
map = { Email = "emailAddress", MainCompanyID = "groups.0.id -> companies" }
[steps.learners]
read  = { from = "o", entity = "user", filter = { OrganisationID = 1 } }
write = { to = "a", entity = "user", mode = "upsert", match = "ExternalID" }
map = { Email = "Email", ExternalID = "MISID" }
[steps.report]
read  = { from = "a", entity = "user" }
write = { to = "v", entity = "user", mode = "bulk", match = "email" }
after = ["people", "learners"]
"""


def graph_of(text: str) -> TaskGraph:
    return compile_graph(parse_plan_text(text, "g.toml"))


def problems(text: str) -> str:
    with pytest.raises(PlanError) as info:
        graph_of(text)
    return str(info.value)


def test_catalog_covers_every_platform_of_the_model() -> None:
    assert set(CATALOG) == set(PLATFORMS) == set(get_args(Platform))


def test_levels_and_dependencies() -> None:
    g = graph_of(HEAD + STEPS)
    assert g.levels == (("companies", "learners"), ("people",), ("report",))
    assert g.order == ("companies", "learners", "people", "report")
    assert g.steps["people"].depends_on == ("companies",)
    assert g.steps["report"].depends_on == ("learners", "people")
    assert g.parallel_with("companies") == ("learners",)
    assert g.parallel_with("people") == ()


def test_endpoints_and_budgets() -> None:
    g = graph_of(HEAD + STEPS)
    people = g.steps["people"]
    assert str(people.write.endpoint) == "POST /user?$upsert"
    assert people.write.bucket == ("a", "/user")
    assert people.write.origin == "catalog"
    assert people.write.budget is not None and people.write.budget.count == 5000
    assert people.write.rate is not None and people.write.rate.count == pytest.approx(4000)  # 20% reserve
    companies = g.steps["companies"]
    assert companies.write.origin == "plan"
    assert companies.write.rate is not None and companies.write.rate.count == pytest.approx(800)
    assert people.read.budget is None and people.read.origin == "none"  # Velpic: nothing documented
    learners = g.steps["learners"]
    assert learners.read.bucket == ("o", "*")  # OneFile: one budget for the whole API
    assert learners.read.budget is not None and learners.read.budget.per_second == pytest.approx(5.0)
    assert learners.page_size == 100 and not learners.read_paging.knows_total
    assert people.per_record and people.batch == 1
    assert g.steps["report"].batch == 500 and not g.steps["report"].per_record  # bulk: the most it takes


def test_cycle_through_crosswalk_and_after_names_the_keys() -> None:
    text = HEAD + STEPS.replace('map = { Name = "name", ExternalID = "\'g\' + id" }', 'after = ["report"]')
    msg = problems(text)
    assert "dependency cycle" in msg
    assert "steps.people.map.MainCompanyID needs companies" in msg
    assert "steps.companies.after needs report" in msg


def test_catalog_problems_are_all_collected() -> None:
    text = HEAD + STEPS.replace(
        'entity = "company", mode = "upsert", match = "ExternalID"',
        'entity = "company", mode = "upsert", match = "ExternalId"',
    )
    text = text.replace("filter = { OrganisationID = 1 }", "filter = {}")
    text = text.replace('MainCompanyID = "groups', 'MainCompanyId = "groups')
    msg = problems(text)
    assert (
        'steps.companies.write.match: unknown field "ExternalId" of accessplanit company '
        '(did you mean "ExternalID"?)' in msg
    )
    assert 'steps.learners.read.filter: onefile user reads need filter "OrganisationID"' in msg
    assert (
        "steps.people.map.MainCompanyId: unknown target field for accessplanit user "
        '(did you mean "MainCompanyID"?)' in msg
    )


def test_batch_limits() -> None:
    msg = problems(HEAD + STEPS.replace('match = "Email" }', 'match = "Email", batch = 10 }'))
    assert "steps.people.write.batch: this mode sends one record per request; got batch = 10" in msg
    msg = problems(HEAD + STEPS.replace('match = "email" }', 'match = "email", batch = 5000 }'))
    assert "steps.report.write.batch: at most 500 records per request" in msg


def test_files_platform_accepts_any_entity_and_makes_no_requests() -> None:
    text = (
        HEAD
        + """
[connections.f]
platform = "files"
path = "./export"
[steps.csv]
read  = { from = "f", entity = "people" }
write = { to = "v", entity = "user", mode = "bulk", match = "email" }
"""
    )
    node = graph_of(text).steps["csv"]
    assert node.read.bucket is None
    assert str(node.read.endpoint) == "READ people.csv"


FILES_PLAN = """
[plan]
name = "p"
[connections.d]
platform = "files"
path = "data"
[steps.s]
read = {{ from = "d", entity = "{read}" }}
write = {{ to = "d", entity = "{write}", mode = "create", match = "id" }}
map.id = "id"
"""


@pytest.mark.parametrize(("read", "write", "key"), [("../x", "ok", "read"), ("ok", "../../escaped", "write")])
def test_a_files_entity_that_names_a_path_is_a_plan_problem(read: str, write: str, key: str) -> None:
    with pytest.raises(PlanError) as info:
        compile_graph(parse_plan_text(FILES_PLAN.format(read=read, write=write), "plan.toml"))
    bad = read if key == "read" else write
    assert f"plan.toml: steps.s.{key}.entity: {bad!r} is not a plain file name" in str(info.value)
