"""The whole exception tree of migrator: every class it raises, and where the ones not defined here live.

::

    MigratorError
    ├── PlanError                the user can fix it: file, key path, what was expected, a suggestion (exit 2)
    ├── SettingError             a step setting a connector refuses; the plan layer makes it a PlanError
    │                            problem (connectors.base; exit 2)
    ├── EngineSupportError       no connector of this engine serves what the plan asks (connectors.base; exit 2)
    ├── ConnectorError           platform, method, url, status, body excerpt — never a secret
    │   ├── TransientError       timeouts, resets, 5xx: retried with backoff and jitter
    │   │   ├── RateLimitedError    429, with retry_after
    │   │   └── UnreachableError    connection refused, host name not found: retried only briefly
    │   └── PermanentError       the step cannot go on (404 on a parent, 409 on a create-only write, a
    │       │                    redirect to another origin, an answer past the wire's size limit)
    │       ├── AuthError        401/403 after one refresh: the run stops cleanly
    │       ├── PaginationLoopError  the server ignores the paging parameters (protocol.pagination)
    │       └── FileDataError    a local file cannot be read as it is: which file and line (connectors.files)
    ├── JournalError             corrupt, foreign plan, newer schema
    │   └── JournalStorageError  the disk refused a journal write mid-run (full, read-only, I/O error): the
    │                            run stops cleanly
    ├── LogFileError             the log cannot be opened as a private file (migrator.logging; exit 2)
    ├── ReportError              the reports cannot be written where asked (migrator.report)
    └── StepFailed               a step stops: too many rejected records, an unreadable page or answer
                                 (runtime.failures)

A record the target refuses is not an exception: the connector reports it in its per-record results and it
becomes a dead letter. A record that cannot be mapped raises :class:`~migrator.plan.mapping.MappingError`
(not a ``MigratorError``), which the engine turns into a dead letter too.

Every message is written for a person: what was wrong, where, and what to do. No message ever carries a
credential: connector errors hold a body *excerpt* that the transport has already redacted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AuthError",
    "ConnectorError",
    "JournalError",
    "JournalStorageError",
    "MigratorError",
    "PermanentError",
    "PlanError",
    "PlanProblem",
    "RateLimitedError",
    "TransientError",
    "UnreachableError",
    "first_leaf",
]


class MigratorError(Exception):
    """Base of every error migrator raises on purpose."""

    exit_code: int = 1


@dataclass(frozen=True, slots=True)
class PlanProblem:
    """One problem in a plan: where it is and what to do about it."""

    file: str
    path: str  # key path, e.g. "steps.learners.write.mode" or "steps[2].write.mode"
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PlanError(MigratorError):
    """The plan is wrong in a way the user can fix. Carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: Sequence[PlanProblem]) -> None:
        self.problems: tuple[PlanProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid plan")

    @classmethod
    def single(
        cls, file: str, path: str, message: str, line: int | None = None, column: int | None = None
    ) -> PlanError:
        return cls([PlanProblem(file, path, message, line, column)])


class ConnectorError(MigratorError):
    """A platform call failed. Holds where, never a secret."""

    def __init__(
        self,
        message: str,
        *,
        platform: str = "",
        method: str = "",
        url: str = "",
        status: int | None = None,
        body_excerpt: str = "",
    ) -> None:
        self.platform = platform
        self.method = method
        self.url = url
        self.status = status
        self.body_excerpt = body_excerpt
        parts = [message]
        if method or url:
            parts.append(f"({platform} {method} {url}".rstrip() + (f" → {status}" if status else "") + ")")
        if body_excerpt:
            parts.append(f"body: {body_excerpt}")
        super().__init__(" ".join(parts))


class TransientError(ConnectorError):
    """Timeouts, connection resets, 5xx: worth retrying with backoff."""


class RateLimitedError(TransientError):
    """429 Too Many Requests; ``retry_after`` seconds when the server said so."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class UnreachableError(TransientError):
    """The platform could not be reached at all (connection refused, host name not found): retried only
    for a few seconds, since a service that is down or a wrong address is not a busy server. ``check`` says
    what to look at; ``tried`` what was attempted (set once the retries are over)."""

    def __init__(self, problem: str, *, check: str, tried: str = "", **kw: object) -> None:
        self.problem = problem
        self.check = check
        self.tried = tried
        self.where: dict[str, object] = dict(kw)
        text = f"{problem} ({tried})" if tried else problem
        super().__init__(f"{text}. {check}", **kw)  # type: ignore[arg-type]

    def after(self, attempts: int, seconds: float) -> UnreachableError:
        """The same failure, saying how often and for how long it was tried."""
        tries = "tried once" if attempts == 1 else f"tried {attempts} times in {seconds:.1f} s"
        return UnreachableError(self.problem, check=self.check, tried=tries, **self.where)


class PermanentError(ConnectorError):
    """The step cannot go on: retrying will not help."""


class AuthError(PermanentError):
    """Credentials refused even after one refresh: the run stops cleanly."""


class JournalError(MigratorError):
    """The journal cannot be used: corrupt, written by another plan, or by a newer migrator."""


class JournalStorageError(JournalError):
    """The journal's disk refused a write during a run (full, read-only, an I/O error): the whole run stops
    cleanly, as for refused credentials; what the journal holds stays consistent and a later run resumes."""


def first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a task group's exception group, out of any groups nested in it: what a pass of
    concurrent calls raises as it is when one of them fails (refused credentials, retries spent)."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
