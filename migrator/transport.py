"""Executes connector ``Request`` values over a wire (``migrator.wire``: aiohttp by default, or in memory).

One ``Transport`` per connection: auth (static headers, or a session token fetched once, refreshed before it
runs out and once on 401), endpoint rate budgets and concurrency (``limits.ConnectionLimits``; a budget an
answer's headers state is passed on to its limiter, ``limits.stated_budget``), retry with
backoff and jitter (``protocol.retry``; each try that is tried again is told to the caller's ``retried``
callback, for its trace), stats, and the mapping of a lost connection and of error statuses to
``errors.py``. The wire only carries calls: the default ``AiohttpWire`` holds one ``ClientSession`` (keep-alive
pool sized to the connection's concurrency).

What the transport raises: ``TransientError`` (connection reset, timeout, 5xx; after retries),
``UnreachableError`` (no connection could be opened: refused, host not found; after a few tries, saying how
many), a ``PermanentError`` for a TLS failure,
``RateLimitedError`` (429 after retries), ``AuthError`` (a 401 after one token refresh, or a 403 that the
platform's ``Auth.refused`` says refuses the credentials). Every other status is handed back as a ``Response``
for the connector to decode (a 400 is a record's rejection, a 404 a missing record); the wire raises a
``PermanentError`` itself for a redirect it refuses and for an answer past its size limit. No message carries
a credential: URLs hold none, body excerpts are redacted before they are cut, and a token endpoint's answer
other than 2xx reaches the auth (which may quote it) with the run's secrets already masked.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from migrator.connectors.base import Auth, Request, Response, Token
from migrator.errors import AuthError, RateLimitedError, TransientError, UnreachableError
from migrator.limits import ConnectionLimits, stated_budget
from migrator.logging import Redactor
from migrator.protocol.retry import RetryPolicy, parse_retry_after, retrying
from migrator.wire import LOST_CONNECTION, AiohttpWire, Wire, lost_connection

__all__ = ["RetriedTry", "Transport", "TransportStats"]

log = structlog.get_logger("migrator.transport")

#: refresh a token this many seconds before it runs out
REFRESH_MARGIN = 120.0

#: told of one try of a request that failed and is tried again, with its error (``Transport.send``)
RetriedTry = Callable[[Exception], None]


@dataclass
class TransportStats:
    """Counts for the run report: requests and statuses per endpoint, retries, 429s."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    rate_limited: int = 0
    token_refreshes: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "token_refreshes": self.token_refreshes,
            "errors": self.errors,
        }


class Transport:
    """Sends requests of one connection with its auth, budgets and retries, over ``wire`` (default: an
    ``AiohttpWire`` to ``base_url`` with ``timeout``, ``verify_tls`` and a pool sized to the concurrency)."""

    def __init__(
        self,
        *,
        name: str,
        platform: str,
        base_url: str,
        auth: Auth,
        limits: ConnectionLimits,
        redactor: Redactor,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        verify_tls: bool = True,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
        wire: Wire | None = None,
    ) -> None:
        self.name = name
        self.platform = platform
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.limits = limits
        self.redactor = redactor
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.verify_tls = verify_tls
        self.time_scale = time_scale
        self.stats = TransportStats()
        self._clock = clock
        self.sleep = sleep
        self._token: Token | None = None
        self._margin = REFRESH_MARGIN
        self._token_lock = anyio.Lock()
        self._wire: Wire = wire or AiohttpWire(
            self.base_url,
            platform=platform,
            timeout=timeout,
            verify_tls=verify_tls,
            pool=limits.concurrency + 2,
        )
        redactor.add(*auth.secrets())

    async def __aenter__(self) -> Transport:
        await self._wire.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._wire.__aexit__(*exc)

    # -- public ---------------------------------------------------------------------------------------------
    async def send(
        self, request: Request, *, retry_transient: bool = True, retried: RetriedTry | None = None
    ) -> Response:
        """Execute ``request`` with auth, budgets and retries. ``retry_transient=False`` (a create-only write
        whose outcome would be unknown after a reset) retries only 429s, which the server did not process.
        ``retried(error)`` is told of each try that failed and is tried again (a lost answer, a 5xx, a 429),
        before the wait: once per HTTP call, for the caller's own record of its tries; the last try's answer
        or error is the caller's to record."""
        policy = self.retry if retry_transient else RetryPolicy(max_attempts=1)

        async def attempt() -> Response:
            return await self._with_auth(request)

        def on_retry(n: int, error: BaseException, delay: float) -> None:
            if retried is not None and isinstance(error, Exception):
                retried(error)
            self.stats.retries += 1
            log.info(
                "request_retry",
                connection=self.name,
                endpoint=request.endpoint,
                attempt=n,
                delay=round(delay, 3),
                error=type(error).__name__,
            )

        if retry_transient:
            started = time.monotonic()
            tries = [1]

            def count_retry(n: int, error: BaseException, delay: float) -> None:
                tries[0] = n + 1
                on_retry(n, error, delay)

            try:
                return await retrying(attempt, policy, sleep=self.sleep, on_retry=count_retry)
            except UnreachableError as error:
                raise error.after(tries[0], time.monotonic() - started) from None
        # retry 429s only
        while True:
            try:
                return await attempt()
            except RateLimitedError as error:
                delay = error.retry_after if error.retry_after is not None else 1.0
                on_retry(1, error, delay)
                await self.sleep(delay)

    def current_token(self) -> Token | None:
        return self._token

    # -- auth -----------------------------------------------------------------------------------------------
    async def _ensure_token(self, *, force: bool = False) -> Token | None:
        token_request = self.auth.token_request()
        if token_request is None:
            return None
        async with self._token_lock:
            now = self._clock()
            token = self._token
            fresh = token is not None and (token.expires_at is None or token.expires_at - self._margin > now)
            if fresh and not force:
                return token
            response = await self._raw(token_request, {})
            if not 200 <= response.status < 300:  # a refusal may echo the login form: mask before decoding
                masked = self.redactor.text(response.body.decode("utf-8", "replace")).encode()
                response = Response(response.status, masked, response.headers)
            if response.status >= 500:
                raise TransientError(
                    "token endpoint failed",
                    platform=self.platform,
                    method="POST",
                    url=token_request.path,
                    status=response.status,
                )
            issued = self._clock()
            token = self.auth.decode_token(response, issued)
            if token.expires_at is not None and self.time_scale != 1.0:  # a rehearsal on a compressed clock
                token = Token(token.value, issued + (token.expires_at - issued) / self.time_scale)
            self._token = token
            if token.expires_at is not None:  # refresh 2 min early, or at 90% of a short lifetime
                self._margin = min(REFRESH_MARGIN / self.time_scale, 0.1 * (token.expires_at - issued))
            self.redactor.add(self._token.value)
            self.stats.token_refreshes += 1
            log.info("token_obtained", connection=self.name)
            return self._token

    async def _with_auth(self, request: Request) -> Response:
        token = await self._ensure_token()
        response = await self._raw(request, self.auth.headers(token))
        if response.status == 401 and self.auth.token_request() is not None:
            if self._token is token:  # nobody refreshed it meanwhile
                token = await self._ensure_token(force=True)
            else:
                token = self._token
            response = await self._raw(request, self.auth.headers(token))
        if response.status == 401 or (response.status == 403 and self.auth.refused(response)):
            raise AuthError(
                "the platform refused the credentials (after one token refresh). Check the connection's "
                "credentials in your env file; the run stopped cleanly and `migrator run` resumes it",
                platform=self.platform,
                method=request.method,
                url=request.path,
                status=response.status,
                body_excerpt=self.redactor.excerpt(response.body, 200),
            )
        return response

    # -- one call -------------------------------------------------------------------------------------------
    async def _raw(self, request: Request, auth_headers: Mapping[str, str]) -> Response:
        self.stats.requests[request.endpoint] += 1
        async with self.limits.permit(request.endpoint) as permit:
            try:
                # the wire reports the answer's first byte: the server has counted the request by now, the
                # window guard's bound
                response = await self._wire.exchange(request, auth_headers, permit.answered)
            except LOST_CONNECTION as error:
                permit.ok()
                self.stats.errors += 1
                raise lost_connection(error, self.platform, request, self.base_url) from None
            status = response.status
            self.stats.statuses[str(status)] += 1
            # what the answer says of the server's budget (RateLimit-*, X-RateLimit-*): the limiter holds to it
            stated = stated_budget(response.headers, self._clock())
            if status == 429:
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                permit.rate_limited(retry_after, stated)
                self.stats.rate_limited += 1
                raise RateLimitedError(
                    "rate limited (429)",
                    retry_after=retry_after,
                    platform=self.platform,
                    method=request.method,
                    url=request.path,
                    status=429,
                )
            permit.ok(stated)
        if status >= 500:
            raise TransientError(
                "server error",
                platform=self.platform,
                method=request.method,
                url=request.path,
                status=status,
                body_excerpt=self.redactor.excerpt(response.body, 200),
            )
        return response
