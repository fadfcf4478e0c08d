"""A connection's rate budgets: the one rule that decides which rate an endpoint draws from.

A plan states a connection's budget as one rate for every endpoint (``budget = "20/second"``) or as a table: a
``default`` rate, per-endpoint overrides keyed by budget key, and a ``reserve`` fraction left for the customer's
own traffic. A rate the plan does not state is the platform's documented one (the connector catalog's, passed
in as ``documented``). :func:`resolve_budgets` applies that rule once and decodes every rate into a
:class:`~migrator.plan.rates.Rate`; the task graph (``explain`` and its estimates), the transports' limiters,
the run statistics and the reports read the :class:`Budgets` it gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from migrator.plan.model import Budget
from migrator.plan.rates import Rate, parse_rate

__all__ = ["Budgets", "Origin", "resolve_budgets"]

#: where a rate comes from: the plan, the platform's documented default, or nowhere (unlimited)
Origin = Literal["plan", "catalog", "none"]

#: the key of the default rate in :meth:`Budgets.stated`, beside the budget keys of the overrides
_DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Budgets:
    """The budgets of one connection: ``default`` for every endpoint, ``endpoints`` overrides by budget key,
    and the ``reserve`` fraction left unused; ``origin`` says where :func:`resolve_budgets` took ``default``
    from."""

    default: Rate | None = None
    endpoints: Mapping[str, Rate] = field(default_factory=dict)
    reserve: float = 0.0
    origin: Origin = "none"

    def rate(self, key: str) -> Rate | None:
        """The rate that the endpoint of budget key ``key`` draws from, before the reserve; None: unlimited."""
        return self.endpoints.get(key, self.default)

    def origin_of(self, key: str) -> Origin:
        """Where the rate of budget key ``key`` comes from."""
        return "plan" if key in self.endpoints else self.origin

    def compressed(self, time_scale: float) -> Budgets:
        """Every rate's window ``time_scale`` times shorter: a rehearsal against a sandbox whose clock runs that
        much faster (``migrator sandbox --time-scale``)."""

        def faster(rate: Rate) -> Rate:
            return Rate(rate.count, rate.per_seconds / time_scale)

        return Budgets(
            None if self.default is None else faster(self.default),
            {key: faster(rate) for key, rate in self.endpoints.items()},
            self.reserve,
            self.origin,
        )

    def stated(self) -> dict[str, str]:
        """The rates as the run statistics keep them, the default under ``"default"`` (when there is one):
        ``{"default": "5000/hour", "/bulkUserImport": "2/second"}``."""
        out = {} if self.default is None else {_DEFAULT: str(self.default)}
        out.update((key, str(rate)) for key, rate in self.endpoints.items())
        return out

    @classmethod
    def from_stated(cls, texts: Mapping[str, Any]) -> Budgets:
        """The budgets that :meth:`stated` wrote (a report reads them back from the journal); an entry that is
        not a rate is left out. The statistics do not keep where a rate came from: ``origin`` stays ``none``."""
        rates: dict[str, Rate] = {}
        for key, text in texts.items():
            if isinstance(text, str):
                try:
                    rates[str(key)] = parse_rate(text)
                except ValueError:
                    continue
        return cls(rates.pop(_DEFAULT, None), rates)


def resolve_budgets(budget: str | Budget | None, documented: Rate | None) -> Budgets:
    """A connection's budgets from its plan ``budget`` (one rate, a table, or nothing) and its platform's
    ``documented`` rate. Raises ``ValueError`` for a rate that does not parse (a loaded plan has none)."""
    fallback: Origin = "none" if documented is None else "catalog"
    if isinstance(budget, str):
        return Budgets(parse_rate(budget), origin="plan")
    if budget is None:
        return Budgets(documented, origin=fallback)
    endpoints = {key: parse_rate(text) for key, text in budget.endpoints.items()}
    if budget.default is not None:
        return Budgets(parse_rate(budget.default), endpoints, budget.reserve, "plan")
    return Budgets(documented, endpoints, budget.reserve, fallback)
