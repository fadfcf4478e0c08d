"""migrator: async, resumable bulk migration between training platforms."""

from migrator.errors import (
    AuthError,
    ConnectorError,
    JournalError,
    MigrationFailed,
    MigratorError,
    PermanentError,
    PlanError,
    RateLimitedError,
    RecordRejected,
    TransientError,
)

__all__ = [
    "AuthError",
    "ConnectorError",
    "JournalError",
    "MigrationFailed",
    "MigratorError",
    "PermanentError",
    "PlanError",
    "RateLimitedError",
    "RecordRejected",
    "TransientError",
    "__version__",
]

__version__ = "0.1.0"
