"""The one budget rule: the plan's rate or table, else the platform's documented rate; overrides; reserve."""

from __future__ import annotations

import pytest

from migrator.plan.budgets import Budgets, resolve_budgets
from migrator.plan.model import Budget
from migrator.plan.rates import Rate

DOCUMENTED = Rate(5000, 3600)


@pytest.mark.parametrize(
    ("budget", "key", "rate", "origin", "reserve"),
    [
        (None, "/user", DOCUMENTED, "catalog", 0.0),
        ("20/second", "/user", Rate(20, 1), "plan", 0.0),
        (Budget(reserve=0.2), "/user", DOCUMENTED, "catalog", 0.2),
        (Budget(default="1/second"), "/user", Rate(1, 1), "plan", 0.0),
        (Budget(endpoints={"/user": "2/second"}), "/user", Rate(2, 1), "plan", 0.0),
        (Budget(endpoints={"/user": "2/second"}), "/company", DOCUMENTED, "catalog", 0.0),
    ],
)
def test_the_plan_wins_over_the_documented_rate(
    budget: str | Budget | None, key: str, rate: Rate, origin: str, reserve: float
) -> None:
    budgets = resolve_budgets(budget, DOCUMENTED)
    assert (budgets.rate(key), budgets.origin_of(key), budgets.reserve) == (rate, origin, reserve)


def test_no_rate_anywhere_is_unlimited() -> None:
    budgets = resolve_budgets(Budget(endpoints={"/user": "2/second"}), None)
    assert (budgets.rate("/group"), budgets.origin_of("/group")) == (None, "none")


def test_stated_rates_read_back_the_same_and_skip_what_is_not_a_rate() -> None:
    budgets = resolve_budgets(Budget(default="20/second", endpoints={"/bulkUserImport": "2/second"}), None)
    assert budgets.stated() == {"default": "20/second", "/bulkUserImport": "2/second"}
    back = Budgets.from_stated({**budgets.stated(), "/user": "lots", "/group": 3})
    assert (back.default, dict(back.endpoints)) == (budgets.default, dict(budgets.endpoints))


def test_a_compressed_clock_shortens_every_window() -> None:
    budgets = resolve_budgets(Budget(default="10/minute", endpoints={"/x": "1/second"}), None).compressed(60)
    assert budgets.rate("/y") == Rate(10, 1)
    assert budgets.rate("/x") == Rate(1, 1 / 60)
