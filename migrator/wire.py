"""The wire: the one engine module that talks aiohttp, behind a small seam that an in-memory wire also fits.

A ``Wire`` is an async context (open it once, close it at the end) with one call, ``exchange``: send a
connector ``Request`` with the auth headers the transport chose for it, and hand back the ``Response``.
Building the call is the wire's job: the URL (base URL + path), the query parameters, the headers (the auth
headers, then the request's own), the body (``json`` as JSON, ``form`` as ``x-www-form-urlencoded``, with its
``Content-Type``). ``on_answer`` is called once the status line is back (the server has counted the request:
the rate limiter's window guard needs that moment). A lost connection or a timeout raises one of
``LOST_CONNECTION``, which the transport turns into a ``TransientError`` with :func:`lost_connection`;
everything else (auth, budgets, retries, redaction, stats) is the transport's.

``AiohttpWire`` is the real one (one ``ClientSession`` and its keep-alive pool); ``MemoryWire`` hands each call
to a function, sync or async, as a ``WireRequest`` (its body decoded as a server would), and returns that
function's ``Response``; the function raises one of ``LOST_CONNECTION`` to simulate a lost connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote_plus

import aiohttp
import anyio
import orjson

from migrator.connectors.base import Request, Response
from migrator.errors import TransientError

__all__ = [
    "LOST_CONNECTION",
    "AiohttpWire",
    "Handler",
    "MemoryWire",
    "Wire",
    "WireRequest",
    "lost_connection",
]

#: what a wire raises when the connection is lost or times out
LOST_CONNECTION = (TimeoutError, aiohttp.ClientError, OSError)


class Wire(Protocol):
    """Where requests go: open with ``async with``, then ``exchange`` any number of requests."""

    async def __aenter__(self) -> object: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def exchange(
        self, request: Request, auth_headers: Mapping[str, str], on_answer: Callable[[], object]
    ) -> Response:
        """Send ``request`` with ``auth_headers``; call ``on_answer()`` when the answer starts to arrive."""
        ...


def _encode_body(request: Request, headers: dict[str, str]) -> bytes | None:
    """The body of ``request`` on the wire, with its ``Content-Type`` set in ``headers``; None for no body."""
    if request.json is not None:
        headers["Content-Type"] = "application/json"
        return orjson.dumps(request.json)
    if request.form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in request.form).encode()
    return None


def lost_connection(error: BaseException, platform: str, request: Request) -> TransientError:
    """The ``TransientError`` for one of ``LOST_CONNECTION`` raised while ``request`` was on the wire."""
    kind = "timed out" if isinstance(error, TimeoutError) else "connection failed"
    return TransientError(
        f"{kind}: {type(error).__name__}", platform=platform, method=request.method, url=request.path
    )


class AiohttpWire:
    """HTTP through one ``aiohttp.ClientSession``: a keep-alive pool of ``pool`` connections, a total
    ``timeout`` per request, TLS verified unless ``verify_tls`` is False."""

    def __init__(self, base_url: str, *, timeout: float, verify_tls: bool, pool: int) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.verify_tls = verify_tls
        self.pool = pool
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AiohttpWire:
        connector = aiohttp.TCPConnector(limit=self.pool, ssl=self.verify_tls, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            raise_for_status=False,
            auto_decompress=True,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            with anyio.CancelScope(shield=True):
                await self._session.close()
            self._session = None

    async def exchange(
        self, request: Request, auth_headers: Mapping[str, str], on_answer: Callable[[], object]
    ) -> Response:
        session = self._session
        assert session is not None, "Transport used outside `async with`"
        headers = dict(auth_headers)
        headers.update(request.headers)
        data = _encode_body(request, headers)
        async with session.request(
            request.method,
            self.base_url + request.path,
            params=list(request.params) or None,
            data=data,
            headers=headers,
        ) as resp:
            on_answer()
            body = await resp.read()
            return Response(resp.status, body, {k.lower(): v for k, v in resp.headers.items()})


@dataclass(frozen=True, slots=True)
class WireRequest:
    """One call as a server receives it: ``path`` relative to the base URL, the headers sent (auth headers,
    the request's own, ``Content-Type``), and the body decoded: ``json`` for a JSON body, ``form`` for a form
    (None when the call has no such body)."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    json: Any = None
    form: tuple[tuple[str, str], ...] | None = None


#: what a ``MemoryWire`` calls: a request in, a response out (returned or awaited)
Handler = Callable[[WireRequest], Response | Awaitable[Response]]


class MemoryWire:
    """Requests answered in process by ``handler``, no socket: the body goes through the same encoding as on
    the real wire and is decoded back, and answer headers are lower-cased as aiohttp's are."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self._open = False

    async def __aenter__(self) -> MemoryWire:
        self._open = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._open = False

    async def exchange(
        self, request: Request, auth_headers: Mapping[str, str], on_answer: Callable[[], object]
    ) -> Response:
        assert self._open, "Transport used outside `async with`"
        headers = dict(auth_headers)
        headers.update(request.headers)
        body = _encode_body(request, headers) or b""
        json: Any = None
        form: tuple[tuple[str, str], ...] | None = None
        if request.json is not None:
            json = orjson.loads(body)
        elif request.form is not None:
            form = tuple(parse_qsl(body.decode(), keep_blank_values=True))
        answer = self.handler(WireRequest(request.method, request.path, request.params, headers, json, form))
        response = answer if isinstance(answer, Response) else await answer
        on_answer()
        return Response(response.status, response.body, {k.lower(): v for k, v in response.headers.items()})
