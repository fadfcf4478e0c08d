"""How a step stops: ``StepFailed`` (its limits are in ``breakers``)."""

from __future__ import annotations

from migrator.errors import MigratorError

__all__ = ["StepFailed"]


class StepFailed(MigratorError):
    """The step stopped: a limit gone past (``breakers``), or an error the step cannot go past."""
