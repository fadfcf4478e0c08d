"""Each route plan in ``plans/`` is its route's ``migrator init`` starter, completed: it carries every
(source entity → target entity, mode) the starter carries, and may carry more (learning history the
starter leaves for the consultant to map)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.plan.load import LoadedPlan, parse_plan_text
from migrator.starter.render import render_plan
from migrator.starter.routes import ROUTES

PLANS = Path(__file__).resolve().parents[2] / "plans"
#: each shipped route plan and the route of its starter
ROUTE_OF = {
    "velpic-to-velpic": ("velpic", "velpic"),
    "accessplanit-to-velpic": ("accessplanit", "velpic"),
    "velpic-to-accessplanit": ("velpic", "accessplanit"),
    "velpic-to-onefile": ("velpic", "onefile"),
    "velpic-to-anewspring": ("velpic", "anewspring"),
    "onefile-to-velpic": ("onefile", "velpic"),
    "anewspring-to-velpic": ("anewspring", "velpic"),
    "accessplanit-v1-to-v2": ("accessplanit_v1", "accessplanit"),
    "csv-to-accessplanit": ("files", "accessplanit"),
}


def _carried(loaded: LoadedPlan) -> set[tuple[str, str, str, str, str]]:
    plan = loaded.plan
    return {
        (
            plan.connections[step.read.from_].platform,
            step.read.entity,
            plan.connections[step.write.to].platform,
            step.write.entity,
            str(step.write.mode),
        )
        for step in plan.steps.values()
    }


def test_every_route_plan_has_a_starter_route() -> None:
    shipped = {p.stem for p in PLANS.glob("*.toml")} - {"demo", "accessplanit-coursedates-to-velpic-ilt"}
    assert shipped == set(ROUTE_OF)
    assert set(ROUTE_OF.values()) <= set(ROUTES)


@pytest.mark.parametrize("name", sorted(ROUTE_OF))
def test_the_route_plan_carries_everything_its_starter_carries(name: str) -> None:
    path = PLANS / f"{name}.toml"
    shipped = _carried(parse_plan_text(path.read_text(), str(path), PLANS))
    starter = _carried(parse_plan_text(render_plan(ROUTES[ROUTE_OF[name]], name), "starter.toml", PLANS))
    assert starter, name
    assert starter <= shipped, sorted(starter - shipped)
