"""The aiohttp middleware that applies rate budgets and faults to platform requests and counts them.

The control API (``/_sandbox/…``) passes straight through: it is never limited, faulted or counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware

from migrator.sandbox.clock import Clock
from migrator.sandbox.faults import (
    ECHO,
    ERROR,
    GARBLE,
    HTML,
    LOSE,
    PASS,
    RATE_LIMITED,
    RESET,
    THROTTLED,
    TRUNCATE,
    Decision,
    FaultEngine,
)
from migrator.sandbox.platform import Platform
from migrator.sandbox.stats import Stats

CONTROL_SEGMENT = "_sandbox"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Sleep = Callable[[float], Awaitable[None]]


class FaultState(Protocol):
    """What the middleware reads on every request (``app.SandboxState`` provides it)."""

    @property
    def by_segment(self) -> Mapping[str, Platform]:
        """Platforms keyed by the first path segment of their prefix (``"velpic"``)."""

    @property
    def engine(self) -> FaultEngine: ...

    @property
    def stats(self) -> Stats: ...

    @property
    def clock(self) -> Clock: ...


def drop_connection(request: web.BaseRequest, *, reset: bool) -> None:
    """Close the client connection without a response byte: RST when ``reset``, else a plain close (FIN)."""
    transport = request.transport
    if transport is None:
        return
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # the socket may already be gone
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><h1>Bad Gateway</h1><p>The upstream server is temporarily unavailable.</p></body></html>"
)


def garbled(body: bytes) -> bytes:
    """A body cut in half: what a proxy that gave up mid-response forwards. Never valid JSON."""
    return body[: len(body) // 2] + b"\x00{" if body else b"{"


def without_last_row(body: bytes) -> bytes | None:
    """The JSON body with the last element of its row list removed (the top-level array, else the first
    non-empty list in the top-level object); None when there is no such list."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    rows = data if isinstance(data, list) else None
    if isinstance(data, dict):
        rows = next((v for v in data.values() if isinstance(v, list) and v), None)
    if not rows:
        return None
    rows.pop()
    return json.dumps(data).encode()


def fault_middleware(state: FaultState, *, sleep: Sleep = asyncio.sleep) -> Middleware:
    """Build the middleware; ``sleep`` (real time) is injectable for tests of latency and stalls."""

    async def call(request: web.Request, handler: Handler, name: str, route: str) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            state.stats.request(name, request.method, route, exc.status)
            raise
        state.stats.request(name, request.method, route, response.status)
        return response

    async def apply(
        request: web.Request, handler: Handler, platform: Platform, route: str, decision: Decision
    ) -> web.StreamResponse:
        stats, name, method = state.stats, platform.name, request.method
        if decision.latency > 0:
            stats.fault("latency")
            await sleep(decision.latency)
        if decision.stall > 0:
            stats.fault("stall")
            await sleep(decision.stall)
        action = decision.action
        if action in (RATE_LIMITED, THROTTLED):
            retry_after = decision.retry_after
            response = platform.too_many_requests(state.clock.retry_after(retry_after or 0.0))
            if retry_after is None:
                response.headers.popall("Retry-After", None)
            if action == RATE_LIMITED:
                stats.rate_limited += 1
            else:
                stats.fault("throttled")
            stats.request(name, method, route, response.status)
            return response
        if action == RESET:
            stats.fault("reset")
            stats.request(name, method, route, None)
            drop_connection(request, reset=True)
            return web.Response()  # never sent: aiohttp finds the transport closed and drops it quietly
        if action == ERROR:
            stats.fault("error")
            response = platform.server_error()
            stats.request(name, method, route, response.status)
            return response
        if action == HTML:
            stats.fault("html")
            stats.request(name, method, route, 200)
            return web.Response(status=200, text=HTML_ERROR_PAGE, content_type="text/html")
        if action == ECHO:
            stats.fault("echoed")
            stats.request(name, method, route, 400)
            echoed = {"message": "The request is invalid.", "request_headers": dict(request.headers)}
            return web.json_response(echoed, status=400)
        if action in (GARBLE, TRUNCATE):
            response = await call(request, handler, name, route)
            body = response.body if isinstance(response, web.Response) else None
            if not isinstance(body, bytes):
                return response
            new = garbled(body) if action == GARBLE else without_last_row(body)
            if new is None:
                return response
            stats.fault("garbled" if action == GARBLE else "truncated")
            answer = web.Response(status=response.status, body=new, headers=response.headers)
            answer.headers.popall("Content-Length", None)
            return answer
        if action == LOSE:
            with contextlib.suppress(web.HTTPException):
                await handler(request)  # the write takes effect ...
            stats.fault("lost")
            stats.request(name, method, route, None)
            drop_connection(request, reset=False)  # ... and its answer never leaves
            return web.Response()
        return await call(request, handler, name, route)

    @web.middleware
    async def sandbox_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        end = path.find("/", 1)
        segment = path[1:end] if end > 0 else path[1:]
        if segment == CONTROL_SEGMENT:
            return await handler(request)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "?"
        platform = state.by_segment.get(segment)
        if platform is None:
            return await call(request, handler, "-", route)
        stats = state.stats
        stats.entered(platform.name)
        try:
            return await platform_request(request, handler, platform, route)
        finally:
            stats.left(platform.name)

    async def platform_request(
        request: web.Request, handler: Handler, platform: Platform, route: str
    ) -> web.StreamResponse:
        path = request.path
        engine = state.engine
        if not engine.applies_to(platform.name):
            return await call(request, handler, platform.name, route)
        cut = len(platform.prefix) + 1
        decision = engine.decide(
            platform.name,
            request.method,
            path[cut:],
            route[cut:] if route.startswith(platform.prefix) else route,
            lambda: platform.tenant_of(request),
        )
        if decision.action == PASS and decision.latency == 0.0 and decision.stall == 0.0:
            return await call(request, handler, platform.name, route)
        return await apply(request, handler, platform, route, decision)

    return sandbox_faults
