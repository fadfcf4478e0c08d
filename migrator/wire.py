"""The wire: the one engine module that talks aiohttp, behind a small seam that an in-memory wire also fits.

A ``Wire`` is an async context (open it once, close it at the end) with one call, ``exchange``: send a
connector ``Request`` with the auth headers the transport chose for it, and hand back the ``Response``.
Building the call is the wire's job: the URL (base URL + path), the query parameters, the headers (the auth
headers, then the request's own), the body (``json`` as JSON, ``form`` as ``x-www-form-urlencoded``, with its
``Content-Type``). ``on_answer`` is called once the status line of the answer (after redirects, the last one)
is back (the server has counted the request: the rate limiter's window guard needs that moment). A lost
connection or a timeout raises one of ``LOST_CONNECTION``, which the transport turns into a ``TransientError``
with :func:`lost_connection` (an ``UnreachableError`` when no connection could be opened, a
``PermanentError`` for a TLS failure, each naming the URL); everything else (auth, budgets, retries,
redaction, stats) is the transport's.

``AiohttpWire`` is the real one (one ``ClientSession`` and its keep-alive pool). It never hands the
connection's credentials to anyone but the base URL's origin: it follows a redirect itself, only to the same
scheme, host and port, at most ``MAX_REDIRECTS`` hops, and for a request other than a ``GET`` only a redirect
that keeps the method and body (307, 308); any other redirect is a ``PermanentError``. It reads an answer's
body in chunks and stops with a ``PermanentError`` past ``MAX_BODY_BYTES``, so a runaway answer costs at most
that much memory.

``MemoryWire`` hands each call to a function, sync or async, as a ``WireRequest`` (its body decoded as a server
would), and returns that function's ``Response``; the function raises one of ``LOST_CONNECTION`` to simulate a
lost connection.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict
from urllib.parse import parse_qsl, quote_plus

import aiohttp
import anyio
import orjson
from yarl import URL

from migrator.connectors.base import Request, Response
from migrator.errors import PermanentError, TransientError, UnreachableError

__all__ = [
    "LOST_CONNECTION",
    "MAX_BODY_BYTES",
    "MAX_REDIRECTS",
    "AiohttpWire",
    "Handler",
    "MemoryWire",
    "Wire",
    "WireRequest",
    "lost_connection",
    "shown_url",
]

#: what a wire raises when the connection is lost or times out
LOST_CONNECTION = (TimeoutError, aiohttp.ClientError, OSError)
#: the longest answer body ``AiohttpWire`` reads (a page of the largest documented size is a few MB)
MAX_BODY_BYTES = 32 * 1024 * 1024
#: the most redirects one request follows, each within the base URL's origin
MAX_REDIRECTS = 3
#: redirects that keep the method and the body (RFC 9110 §15.4.8, §15.4.9); the others turn a request into a GET
_KEEP_METHOD = frozenset({307, 308})
_REDIRECTS = frozenset({301, 302, 303}) | _KEEP_METHOD
_CHUNK = 64 * 1024


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


def shown_url(base_url: str, request: Request) -> str:
    """Where ``request`` goes, for a message: the base URL's scheme, host, port and path, and the request's
    path without its query string (which may hold a key) and without any user info."""
    url = URL(base_url.rstrip("/") + request.path.partition("?")[0])
    if not url.is_absolute():
        return url.path
    return str(url.with_user(None).with_query(None).with_fragment(None))


def lost_connection(
    error: BaseException, platform: str, request: Request, base_url: str = ""
) -> TransientError | PermanentError:
    """The error for one of ``LOST_CONNECTION`` raised while ``request`` was on the wire. A connection that
    could not be opened at all is an ``UnreachableError`` (refused, host name not found: retried briefly) or,
    for a TLS failure, a ``PermanentError`` (a refused certificate does not fix itself); a connection lost
    or timed out once open is a ``TransientError``. Messages name the URL (no query, no user info)."""
    url = shown_url(base_url, request)
    host = URL(base_url).host or ""
    where: _Where = {"platform": platform, "method": request.method, "url": url, "status": None}
    if isinstance(error, aiohttp.ClientSSLError | ssl.SSLError):
        return PermanentError(
            f"TLS failure talking to {url}: {_tls_reason(error)}. Check that the base URL names the "
            "platform's own host (https), that this machine's clock is right and that its CA certificates "
            "trust the server's (behind a TLS-inspecting proxy, trust the proxy's CA)",
            **where,
        )
    if isinstance(error, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return UnreachableError(
            f"cannot connect to {url}: the host name {host!r} was not found (DNS)",
            check="Check the host name in the connection's base URL, and this machine's network and DNS "
            "(VPN, proxy)",
            **where,
        )
    if isinstance(error, aiohttp.ClientConnectorError | ConnectionRefusedError):
        cause = error.os_error if isinstance(error, aiohttp.ClientConnectorError) else error
        refused = isinstance(cause, ConnectionRefusedError)
        problem = "connection refused" if refused else f"no connection ({cause.strerror or error})"
        return UnreachableError(
            f"cannot connect to {url}: {problem}",
            check="Check the host and port of the connection's base URL, that the service is up, and that "
            "this machine may reach it (firewall, VPN, proxy)",
            **where,
        )
    kind = "timed out" if isinstance(error, TimeoutError) else "connection failed"
    return TransientError(
        f"{kind}: {type(error).__name__}", platform=platform, method=request.method, url=request.path
    )


def _tls_reason(error: BaseException) -> str:
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        cert = error.certificate_error
        return getattr(cert, "verify_message", None) or "the server's certificate was refused"
    return "the TLS handshake failed"


class _Where(TypedDict):
    """Where an error of the wire happened, as ``ConnectorError`` takes it."""

    platform: str
    method: str
    url: str
    status: int | None


def _origin(url: URL) -> tuple[str, str, int | None]:
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


def _shown(origin: tuple[str, str, int | None]) -> str:
    scheme, host, port = origin
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


class AiohttpWire:
    """HTTP through one ``aiohttp.ClientSession``: a keep-alive pool of ``pool`` connections, a total
    ``timeout`` per request, TLS verified unless ``verify_tls`` is False. ``platform`` names the connection's
    platform in the errors the wire raises itself (a refused redirect, an answer too large)."""

    def __init__(self, base_url: str, *, platform: str, timeout: float, verify_tls: bool, pool: int) -> None:
        self.base_url = base_url
        self.platform = platform
        self.timeout = timeout
        self.verify_tls = verify_tls
        self.pool = pool
        self._origin = _origin(URL(base_url))
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
        url: str | URL = self.base_url + request.path
        params = list(request.params) or None
        for _ in range(MAX_REDIRECTS + 1):
            async with session.request(
                request.method, url, params=params, data=data, headers=headers, allow_redirects=False
            ) as resp:
                location = resp.headers.get("Location")
                if resp.status not in _REDIRECTS or location is None:
                    on_answer()
                    body = await self._read_body(resp, request)
                    return Response(resp.status, body, {k.lower(): v for k, v in resp.headers.items()})
                url, params = self._redirect(request, resp.status, resp.url, location), None
        raise PermanentError(
            f"the server redirected more than {MAX_REDIRECTS} times; set the connection's base_url to the "
            "address the API answers on",
            platform=self.platform,
            method=request.method,
            url=request.path,
        )

    def _redirect(self, request: Request, status: int, current: URL, location: str) -> URL:
        """Where a redirect from ``current`` to ``location`` goes, when it may be followed with the credentials;
        else a ``PermanentError``."""
        where = _Where(platform=self.platform, method=request.method, url=request.path, status=status)
        try:
            target = current.join(URL(location))
        except ValueError:
            raise PermanentError(
                f"the server redirected ({status}) to an address that is not a URL; set the connection's "
                "base_url to the address the API answers on",
                **where,
            ) from None
        origin = _origin(target)
        if origin != self._origin:
            raise PermanentError(
                f"the server redirected to another origin, {_shown(origin)} (the connection's base_url is on "
                f"{_shown(self._origin)}); the credentials are never sent to another scheme, host or port. "
                "Set the connection's base_url to the address the API answers on",
                **where,
            )
        if request.method != "GET" and status not in _KEEP_METHOD:
            raise PermanentError(
                f"the server answered a {request.method} with a redirect ({status}) that would turn it into a "
                "GET and drop its body; set the connection's base_url to the address the API answers on",
                **where,
            )
        return target

    async def _read_body(self, resp: aiohttp.ClientResponse, request: Request) -> bytes:
        """The body of ``resp``, read in chunks; a ``PermanentError`` (and the connection closed) as soon as it
        is known to be longer than ``MAX_BODY_BYTES``."""
        body = bytearray()
        if resp.content_length is None or resp.content_length <= MAX_BODY_BYTES:
            async for chunk in resp.content.iter_chunked(_CHUNK):
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    break
            else:
                return bytes(body)
        resp.close()
        raise PermanentError(
            f"the answer from {self.base_url + request.path} is larger than {MAX_BODY_BYTES // 2**20} MiB, the "
            "most the engine reads from one answer; check that the connection's base_url is the platform's "
            "API, and lower the step's page_size if pages are that large",
            platform=self.platform,
            method=request.method,
            url=request.path,
            status=resp.status,
        )


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
