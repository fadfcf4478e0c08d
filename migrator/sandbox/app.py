"""The sandbox app: every platform emulator on one port, the fault middleware and the control API.

- ``build_app(config)`` → an ``aiohttp.web.Application`` (seeded, not yet listening);
- ``running_sandbox(config)`` → an async context manager serving it on loopback, yielding a ``RunningSandbox``;
- ``SandboxThread`` → the same in a background thread, for synchronous tests and benchmarks;
- ``serve_forever(config)`` → what ``migrator sandbox`` runs until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from migrator.sandbox.clock import Clock
from migrator.sandbox.config import DEFAULT_LIMITS, SandboxConfig
from migrator.sandbox.control import add_control_routes
from migrator.sandbox.faults import FaultEngine, Rule, build_engine
from migrator.sandbox.generator import generate
from migrator.sandbox.middleware import Sleep, fault_middleware
from migrator.sandbox.platform import TENANTS, Context, Platform
from migrator.sandbox.stats import Stats

PlatformClasses = Sequence[type[Platform]]

_DEFAULT_CLASSES = {
    "velpic": ("migrator.sandbox.velpic", "VelpicPlatform"),
    "accessplanit": ("migrator.sandbox.accessplanit", "AccessPlanItPlatform"),
    "onefile": ("migrator.sandbox.onefile", "OneFilePlatform"),
    "anewspring": ("migrator.sandbox.anewspring", "ANewSpringPlatform"),
}


def default_platform_classes(names: Sequence[str] | None = None) -> list[type[Platform]]:
    """The emulator classes, imported here (lazily) so this module imports even while one is missing."""
    classes = []
    for name in names or _DEFAULT_CLASSES:
        module_name, class_name = _DEFAULT_CLASSES[name]
        module = importlib.import_module(module_name)
        classes.append(getattr(module, class_name))
    return classes


@dataclass
class SandboxState:
    """Everything live in one sandbox: platforms, clock, stats and the fault engine."""

    config: SandboxConfig
    clock: Clock
    ctx: Context
    platforms: dict[str, Platform]  # by name
    by_segment: dict[str, Platform] = field(default_factory=dict)  # by first path segment of the prefix
    stats: Stats = field(default_factory=Stats)
    base_url: str = ""
    seed_seconds: float = 0.0
    engine: FaultEngine = field(init=False)

    def __post_init__(self) -> None:
        self.by_segment = {p.prefix.strip("/").split("/")[0]: p for p in self.platforms.values()}
        self.engine = self._engine(self.config.faults, self.config.default_limits)

    def _engine(self, spec: str, default_limits: bool) -> FaultEngine:
        return build_engine(
            spec,
            seed=self.config.seed,
            now=self.clock.now,
            platforms=tuple(self.platforms),
            defaults=DEFAULT_LIMITS if default_limits else (),
        )

    def rules(self) -> list[Rule]:
        return list(self.engine.rules)

    def set_faults(self, spec: str, *, default_limits: bool | None = None) -> None:
        """Replace the fault rules (fresh windows and random streams); raises ``FaultSpecError``."""
        limits = self.config.default_limits if default_limits is None else default_limits
        self.engine = self._engine(spec, limits)
        self.config.faults, self.config.default_limits = spec, limits

    def seed_platforms(self) -> None:
        """Generate the population and seed every platform's tenants; records how long it took."""
        started = time.perf_counter()
        was_enabled = gc.isenabled()
        gc.disable()  # millions of fresh objects: the cyclic collector would only slow seeding down
        try:
            population = generate(seed=self.config.seed, scale=self.config.scale, dirty=self.config.dirty)
            for platform in self.platforms.values():
                for tenant in TENANTS:
                    platform.seed(population, tenant)
            del population
        finally:
            if was_enabled:
                gc.enable()
        self.seed_seconds = time.perf_counter() - started

    def reseed(self, *, seed: int, scale: int, dirty: float) -> None:
        """``POST /_sandbox/reset``: every platform back to a fresh, seeded state; stats and faults restart.

        Routes stay bound to the same platform objects, so each is re-initialised in place (its attributes
        cleared, ``__init__`` run again) before it is seeded.
        """
        self.config.seed, self.config.scale, self.config.dirty = seed, scale, dirty
        self.ctx.seed = seed
        gc.unfreeze()  # the records frozen at start-up (``cli.run``) become collectable again
        for platform in self.platforms.values():
            platform.reinitialise(self.ctx)
        self.seed_platforms()
        self.stats.clear()
        self.engine = self._engine(self.config.faults, self.config.default_limits)


STATE_KEY = web.AppKey("sandbox_state", SandboxState)


def build_state(config: SandboxConfig, platform_classes: PlatformClasses | None = None) -> SandboxState:
    """Instantiate and seed the platforms of ``config`` (``platform_classes`` replaces the default four)."""
    if platform_classes is None:
        classes = default_platform_classes(config.selected())
    else:
        wanted = config.platforms
        classes = [cls for cls in platform_classes if wanted is None or cls.name in wanted]
    clock = Clock(config.time_scale)
    ctx = Context(clock=clock, seed=config.seed, options=config.options)
    state = SandboxState(config=config, clock=clock, ctx=ctx, platforms={cls.name: cls(ctx) for cls in classes})
    state.seed_platforms()
    return state


def build_app(
    config: SandboxConfig,
    platform_classes: PlatformClasses | None = None,
    *,
    sleep: Sleep = asyncio.sleep,
) -> web.Application:
    """The whole sandbox as one app: platform routes under their prefixes, faults, the control API.
    ``sleep`` (real time, for latency and stalls) is injectable."""
    state = build_state(config, platform_classes)
    app = web.Application(middlewares=[fault_middleware(state, sleep=sleep)], client_max_size=64 * 1024**2)
    app[STATE_KEY] = state
    add_control_routes(app, state)
    for platform in state.platforms.values():
        platform.add_routes(app)
    return app


@dataclass
class RunningSandbox:
    """A listening sandbox: ``base_url`` (``http://127.0.0.1:PORT``), ``platforms`` by name, ``state``."""

    base_url: str
    state: SandboxState

    @property
    def platforms(self) -> dict[str, Platform]:
        return self.state.platforms

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def url(self, path: str) -> str:
        return self.base_url + path

    def env(self) -> dict[str, str]:
        """Every platform's ``env_lines`` plus ``SANDBOX_URL``, for ``--env-file``."""
        lines = {"SANDBOX_URL": self.base_url}
        for platform in self.platforms.values():
            lines.update(platform.env_lines(self.base_url))
        return lines


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@asynccontextmanager
async def running_sandbox(
    config: SandboxConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    platform_classes: PlatformClasses | None = None,
    shutdown_timeout: float = 2.0,
) -> AsyncIterator[RunningSandbox]:
    """Serve the sandbox on ``host:port`` (0 = a free port) for the body of the ``async with``."""
    app = build_app(config, platform_classes)
    state = app[STATE_KEY]
    # handler_cancellation: a client that gives up (timeout during a stall) cancels its handler.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        state.base_url = f"http://{_url_host(host)}:{bound_port}"
        yield RunningSandbox(base_url=state.base_url, state=state)
    finally:
        await runner.cleanup()


async def serve_forever(
    config: SandboxConfig,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    on_ready: Callable[[RunningSandbox], None] | None = None,
    stop: asyncio.Event | None = None,
    platform_classes: PlatformClasses | None = None,
) -> None:
    """Serve until ``stop`` is set or the task is cancelled (Ctrl-C under ``asyncio.run``)."""
    async with running_sandbox(config, host, port, platform_classes=platform_classes) as sandbox:
        if on_ready is not None:
            on_ready(sandbox)
        await (stop or asyncio.Event()).wait()


class SandboxThread:
    """The sandbox on its own event loop in a background thread, for synchronous code::

    with SandboxThread(SandboxConfig(scale=100)) as sandbox:
        requests.get(sandbox.base_url + "/_sandbox/info")
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        platform_classes: PlatformClasses | None = None,
    ) -> None:
        self.config = config or SandboxConfig()
        self.host, self.port = host, port
        self.platform_classes = platform_classes
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._sandbox: RunningSandbox | None = None
        self._error: BaseException | None = None

    @property
    def sandbox(self) -> RunningSandbox:
        if self._sandbox is None:
            raise RuntimeError("the sandbox thread is not running; call start() first")
        return self._sandbox

    @property
    def base_url(self) -> str:
        return self.sandbox.base_url

    @property
    def state(self) -> SandboxState:
        return self.sandbox.state

    def start(self) -> SandboxThread:
        if self._thread is not None:
            raise RuntimeError("this SandboxThread was already started")
        self._thread = threading.Thread(target=self._run, name="migrator-sandbox", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise RuntimeError(f"the sandbox failed to start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self._thread = None

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(); nothing else is listening in this thread
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        def ready(sandbox: RunningSandbox) -> None:
            self._sandbox = sandbox
            self._ready.set()

        await serve_forever(
            self.config,
            self.host,
            self.port,
            on_ready=ready,
            stop=self._stop,
            platform_classes=self.platform_classes,
        )
