"""What every platform emulator provides to the sandbox app (``app.py``) and control API.

Each platform is one module (``velpic.py``, ``accessplanit.py``, ``onefile.py``, ``anewspring.py``) with a
subclass of ``Platform``. The app mounts its routes under ``prefix``; the fault/rate-limit middleware calls
``tenant_of`` to key per-credential budgets and ``too_many_requests`` / ``server_error`` to answer in the
platform's own error format. Emulators are written from the platforms' own documents,
never from ``migrator.connectors``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from migrator.sandbox.clock import Clock
from migrator.sandbox.generator import Population
from migrator.sandbox.store import Table

TENANTS: tuple[str, ...] = ("source", "target")


@dataclass
class Context:
    """What an emulator is given: the clock, the seed, and the [ASSUMED] switches (``options``).

    ``options`` holds per-platform switches keyed ``"<platform>.<name>"`` (e.g.
    ``"velpic.invalid_role"`` = ``"reject"`` | ``"store"``), set from ``--option`` / the control API.
    Each emulator documents its own in ``docs/sandbox.md`` and reads them with ``option()``.
    """

    clock: Clock
    seed: int = 1
    options: dict[str, Any] = field(default_factory=dict)

    def option(self, platform: str, name: str, default: Any) -> Any:
        return self.options.get(f"{platform}.{name}", default)


class Platform(ABC):
    """Base of the five API emulators (accessplanit v1 and v2 are one platform, ``accessplanit``)."""

    name: ClassVar[str]  # "velpic", "accessplanit", "onefile", "anewspring"
    prefix: ClassVar[str]  # "/velpic", "/accessplanit", ...

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # tenant name → entity name → Table. Entity names are the platform's own singular names.
        self.tables: dict[str, dict[str, Table]] = {}

    @abstractmethod
    def add_routes(self, app: web.Application) -> None:
        """Register every route with its full path (``self.prefix + "/api/v2/user"``)."""

    @abstractmethod
    def seed(self, population: Population, tenant: str) -> None:
        """Fill ``tenant``: ``"source"`` gets the population; ``"target"`` only the catalogue a real
        target would already hold (lessons, courses, organisations, placements) and no users."""

    @abstractmethod
    def tenant_of(self, request: web.Request) -> str | None:
        """The tenant whose credential the request carries (without checking expiry), else None."""

    @abstractmethod
    def info(self, base_url: str) -> dict[str, Any]:
        """This platform's entry in ``GET /_sandbox/info`` (base URLs and tenant credentials)."""

    @abstractmethod
    def env_lines(self, base_url: str) -> dict[str, str]:
        """``NAME → value`` for ``migrator sandbox --env-file`` (e.g. ``VELPIC_TARGET_ACCESS_KEY``)."""

    @abstractmethod
    def too_many_requests(self, retry_after: int) -> web.StreamResponse:
        """The platform's 429 answer, with ``Retry-After``."""

    @abstractmethod
    def server_error(self) -> web.StreamResponse:
        """The platform's 5xx answer (Velpic: 503 with internalCode 500)."""

    def revoke_tokens(self, tenant: str) -> None:  # noqa: B027 - optional hook
        """Invalidate every session/token issued to ``tenant`` (fault injection). Static-key platforms
        (Velpic, aNewSpring) may regenerate the key instead; the default does nothing."""

    def reinitialise(self, ctx: Context) -> None:
        """Back to a fresh state for ``POST /_sandbox/reset``. Routes stay bound to this object, so it is
        re-initialised in place (attributes cleared, ``__init__`` run again); a platform whose routes are
        bound to helper objects overrides this to keep those objects and give them the fresh state."""
        vars(self).clear()
        type(self).__init__(self, ctx)

    def table(self, tenant: str, entity: str) -> Table:
        return self.tables[tenant][entity]

    def entities(self) -> dict[str, dict[str, Table]]:
        return self.tables
