"""How a step stops: ``StepFailed`` and the rejection limit (``on_error.max_rejected``)."""

from __future__ import annotations

from migrator.errors import MigratorError
from migrator.runtime.counters import StepCounters

__all__ = ["StepFailed", "check_rejections"]


class StepFailed(MigratorError):
    """The step stopped: too many rejected records, or an error the step cannot go past."""


def check_rejections(step: str, counters: StepCounters, limit: int | None) -> None:
    """Raise ``StepFailed`` once more records were rejected than the step's ``on_error.max_rejected``."""
    if limit is not None and counters.rejected > limit:
        raise StepFailed(
            f"step {step}: {counters.rejected} records rejected, more than on_error.max_rejected = "
            f"{limit}. See the dead letters (`migrator status`, errors.csv), fix the plan or the data, "
            "then run again: done records are not written twice."
        )
