"""migrator: async, resumable bulk migration between training platforms."""

from migrator.errors import (
    AuthError,
    ConnectorError,
    JournalError,
    MigratorError,
    PermanentError,
    PlanError,
    RateLimitedError,
    TransientError,
)

__all__ = [
    "AuthError",
    "ConnectorError",
    "JournalError",
    "MigratorError",
    "PermanentError",
    "PlanError",
    "RateLimitedError",
    "TransientError",
    "__version__",
]

__version__ = "0.1.0"
