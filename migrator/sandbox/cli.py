"""``migrator sandbox``: serve every emulator on one loopback port until Ctrl-C.

``add_arguments(parser)`` and ``run(args)`` are what ``migrator/cli.py`` wires in; ``main(argv)`` runs it alone.
On start it writes ``--env-file`` (if asked), then prints exactly one line starting ``sandbox ready:`` with
the base URL; callers wait for that line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import ipaddress
import signal
import sys
from pathlib import Path
from typing import Any

from migrator.private_files import write_private
from migrator.sandbox.app import RunningSandbox, serve_forever
from migrator.sandbox.config import PROFILES, ConfigError, SandboxConfig, parse_option, parse_platforms
from migrator.sandbox.faults import FaultSpecError, parse_spec

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)"
    )
    parser.add_argument("--port", type=int, default=8765, help="port to bind (default 8765; 0 = any free port)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated data and of the faults")
    parser.add_argument("--scale", type=int, default=1000, help="people in each source tenant (default 1000)")
    parser.add_argument("--dirty", type=float, default=0.0, help="fraction of people with a data defect (0..1)")
    parser.add_argument("--faults", default="", metavar="SPEC", help="fault/rate rules, see docs/sandbox.md")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="X",
        help="sandbox time runs X times faster (default 1)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="PLATFORM.NAME=VALUE",
        help="an emulator switch, repeatable (e.g. accessplanit.token_ttl=600)",
    )
    parser.add_argument(
        "--no-default-limits",
        action="store_true",
        help="turn off the documented budgets (accessplanit 5000/h per endpoint, OneFile 300/min)",
    )
    parser.add_argument("--platforms", default=None, help="serve and seed only these, e.g. velpic,accessplanit")
    parser.add_argument(
        "--profile",
        default="default",
        choices=tuple(PROFILES),
        help="a named set of switches: adversarial sets each to its least convenient value",
    )
    parser.add_argument("--env-file", type=Path, default=None, help="write base URLs and credentials here")
    parser.add_argument("--allow-remote", action="store_true", help="allow a --host that is not loopback")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """Raises ``ConfigError`` / ``FaultSpecError`` with a message naming the flag."""
    options: dict[str, Any] = {}
    for text in args.option:
        key, value = parse_option(text)
        options[key] = value
    platforms = parse_platforms(args.platforms) if args.platforms else None
    config = SandboxConfig(
        seed=args.seed,
        scale=args.scale,
        dirty=args.dirty,
        time_scale=args.time_scale,
        faults=args.faults,
        options=options,
        platforms=platforms,
        default_limits=not args.no_default_limits,
        profile=args.profile,
    )
    try:
        parse_spec(args.faults, config.selected())
    except FaultSpecError as exc:
        raise FaultSpecError(f"--faults: {exc}") from None
    return config


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """``NAME=value`` lines, readable by the owner only (0600, never through a link: it holds credentials)."""
    lines = ["# written by `migrator sandbox`: base URLs and credentials of the emulated platforms"]
    lines += [f"{name}={value}" for name, value in env.items()]
    write_private(path, ("\n".join(lines) + "\n").encode("utf-8"))


def run(args: argparse.Namespace) -> int:
    if not is_loopback(args.host) and not args.allow_remote:
        print(
            f"migrator sandbox: refusing --host {args.host}: it is not a loopback address and the sandbox "
            "serves test credentials; add --allow-remote if you really mean it",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        config = config_from_args(args)
    except (ConfigError, FaultSpecError) as exc:
        print(f"migrator sandbox: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def ready(sandbox: RunningSandbox) -> None:
        # the seeded records live as long as this process: keep them out of later collections, whose full
        # passes over them otherwise pause request handling mid-run (measured: 36 ms, 37 s into the rate-limited
        # benchmark at 3,000 people), which moves the moments the sandbox counts requests against its windows
        gc.freeze()
        if args.env_file is not None:
            write_env_file(args.env_file, sandbox.env())
        state = sandbox.state
        print(
            f"sandbox ready: {sandbox.base_url} (platforms: {', '.join(state.platforms)}; "
            f"{config.scale} people seeded in {state.seed_seconds:.2f} s; Ctrl-C to stop)",
            flush=True,
        )

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):  # no signal handlers on some platforms
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        await serve_forever(config, args.host, args.port, on_ready=ready, stop=stop)

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(
            f"migrator sandbox: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
            "choose another --port (0 picks a free one)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    except ImportError as exc:
        print(
            f"migrator sandbox: an emulator module is missing ({exc}); use --platforms to pick others",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    print("sandbox stopped", flush=True)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="migrator sandbox", description="Serve the emulated platform APIs.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
