"""The transport over the in-memory wire, no socket: the request as built for the wire, token refresh on 401,
retries, lost connections, platform refusals, budgets on a virtual clock, redaction and stats."""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping, Sequence
from urllib.parse import quote_plus

import aiohttp
import orjson
import pytest

from migrator.connectors.base import Request, Response, StaticKeyAuth, Token
from migrator.connectors.registry import make_auth
from migrator.errors import AuthError, TransientError
from migrator.limits import ConnectionLimits, RateBudgets
from migrator.logging import Redactor
from migrator.plan.budgets import Budgets
from migrator.plan.rates import Rate
from migrator.transport import Transport
from migrator.wire import MemoryWire, WireRequest
from tests.memory_transport import VirtualClock, json_response, memory_transport

PASSWORD = "hunter2-secret"
AWKWARD = 'p@ss w/rd+&=%"\\'
KEY = "key-5f3a9c"
GET_USER = Request("GET", "/user", "/user")
POST_USER = Request("POST", "/user", "/user", json={"name": "Ann"})


class KeyAuth(StaticKeyAuth):
    """A static key whose 403s are never a refusal of the key."""

    header = "X-Key"


class SessionAuth:
    """A login (``POST /login``, a form) that returns a session token, sent as a bearer token."""

    def token_request(self) -> Request | None:
        return Request("POST", "/login", "/login", form=(("user", "ann"), ("password", PASSWORD)))

    def decode_token(self, response: Response, now: float) -> Token:
        return Token(response.json()["token"], now + 3600)

    def headers(self, token: Token | None) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {token.value}"} if token is not None else {}

    def secrets(self) -> Sequence[str]:
        return [PASSWORD]

    def refused(self, response: Response) -> bool:
        return False


async def test_the_handler_receives_the_request_as_built_for_the_wire() -> None:
    seen: list[WireRequest] = []

    def handler(request: WireRequest) -> Response:
        seen.append(request)
        return json_response(201, {"id": 7})

    request = Request(
        "POST",
        "/user",
        "/user",
        params=(("tag", "a"), ("tag", "b")),
        json={"name": "Ann", "groups": (1, 2)},
        headers=(("X-Trace", "t-1"),),
    )
    async with memory_transport("velpic", KeyAuth(KEY), handler) as transport:
        response = await transport.send(request)

    assert response == Response(201, orjson.dumps({"id": 7}), {})
    assert seen == [
        WireRequest(
            "POST",
            "/user",
            (("tag", "a"), ("tag", "b")),
            {"X-Key": KEY, "X-Trace": "t-1", "Content-Type": "application/json"},
            json={"name": "Ann", "groups": [1, 2]},
        )
    ]


async def test_a_401_refreshes_the_token_once_and_sends_the_request_again() -> None:
    tokens = iter(["tok-first", "tok-second"])
    calls: list[tuple[str, str, str | None]] = []

    async def handler(request: WireRequest) -> Response:
        calls.append((request.method, request.path, request.headers.get("Authorization")))
        if request.path == "/login":
            assert request.form == (("user", "ann"), ("password", PASSWORD))
            assert request.headers == {"Content-Type": "application/x-www-form-urlencoded"}
            return json_response(200, {"token": next(tokens)})
        if request.headers["Authorization"] == "Bearer tok-first":
            return json_response(401)
        return json_response(200, [{"id": 1}])

    async with memory_transport("accessplanit", SessionAuth(), handler) as transport:
        response = await transport.send(GET_USER)

    assert response.json() == [{"id": 1}]
    assert calls == [
        ("POST", "/login", None),
        ("GET", "/user", "Bearer tok-first"),
        ("POST", "/login", None),
        ("GET", "/user", "Bearer tok-second"),
    ]
    assert transport.stats.token_refreshes == 2
    assert transport.current_token() == Token("tok-second", 3600.0)


async def test_a_second_401_is_an_auth_error_that_names_no_secret() -> None:
    tokens = iter(["tok-first", "tok-second"])

    def handler(request: WireRequest) -> Response:
        if request.path == "/login":
            return json_response(200, {"token": next(tokens)})
        echo = f"refused {request.headers['Authorization']} (password {PASSWORD})"
        return Response(401, echo.encode())

    async with memory_transport("accessplanit", SessionAuth(), handler) as transport:
        with pytest.raises(AuthError) as info:
            await transport.send(GET_USER)

    assert info.value.status == 401
    assert PASSWORD not in str(info.value)
    assert "tok-second" not in str(info.value)
    assert info.value.body_excerpt == "refused Bearer *** (password ***)"
    assert transport.stats.token_refreshes == 2


async def test_a_server_error_names_no_secret() -> None:
    def handler(request: WireRequest) -> Response:
        return Response(500, f"upstream failed for key {request.headers['X-Key']}".encode())

    async with memory_transport("velpic", KeyAuth(KEY), handler) as transport:
        with pytest.raises(TransientError) as info:
            await transport.send(POST_USER, retry_transient=False)

    assert KEY not in str(info.value)
    assert info.value.status == 500
    assert info.value.body_excerpt == "upstream failed for key ***"


async def test_a_server_error_excerpt_is_masked_before_it_is_cut() -> None:
    def handler(request: WireRequest) -> Response:
        body = "x" * 180 + "&password=" + quote_plus(AWKWARD) + "&more" * 9  # the 200th character is inside it
        return Response(500, body.encode())

    async with memory_transport("velpic", KeyAuth(KEY), handler, redactor=Redactor([AWKWARD])) as transport:
        with pytest.raises(TransientError) as info:
            await transport.send(POST_USER, retry_transient=False)

    assert info.value.body_excerpt == ("x" * 180 + "&password=***" + "&more" * 9)[:200]


class EchoedLoginAuth(SessionAuth):
    """A login whose refusal the auth quotes in its error (as the platforms' auths do), cut at 50 bytes."""

    def __init__(self) -> None:
        self.answers: list[bytes] = []

    def decode_token(self, response: Response, now: float) -> Token:
        self.answers.append(response.body)
        raise AuthError(f"login refused ({response.text(50)})", status=response.status)


async def test_a_refused_login_reaches_the_auth_with_the_secrets_masked() -> None:
    def handler(request: WireRequest) -> Response:
        assert request.form is not None
        echo = "bad request: " + "&".join(f"{k}={quote_plus(v)}" for k, v in request.form)
        return Response(400, json.dumps({"error": echo}).encode())

    auth = EchoedLoginAuth()
    async with memory_transport("accessplanit", auth, handler, redactor=Redactor([PASSWORD])) as transport:
        with pytest.raises(AuthError) as info:
            await transport.send(GET_USER)

    assert auth.answers == [b'{"error": "bad request: user=ann&password=***"}']
    assert "hunt" not in str(info.value)  # not even the part of the password before the auth's cut


async def test_an_idempotent_call_is_retried_after_transient_failures() -> None:
    statuses = iter([503, 502, 200])
    clock = VirtualClock()

    def handler(request: WireRequest) -> Response:
        return json_response(next(statuses), {"done": True})

    async with memory_transport("velpic", KeyAuth(KEY), handler, clock=clock) as transport:
        response = await transport.send(GET_USER)

    assert response.status == 200
    assert transport.stats.retries == 2
    assert len(clock.sleeps) == 2
    assert transport.stats.statuses == {"503": 1, "502": 1, "200": 1}


async def test_a_create_only_call_is_not_retried_after_a_transient_failure() -> None:
    calls: list[WireRequest] = []
    clock = VirtualClock()

    def handler(request: WireRequest) -> Response:
        calls.append(request)
        return json_response(503)

    async with memory_transport("velpic", KeyAuth(KEY), handler, clock=clock) as transport:
        with pytest.raises(TransientError):
            await transport.send(POST_USER, retry_transient=False)

    assert len(calls) == 1
    assert transport.stats.retries == 0
    assert clock.sleeps == []


async def test_a_create_only_call_is_retried_after_a_429_for_as_long_as_the_server_asks() -> None:
    answers = iter([json_response(429, headers={"Retry-After": "3"}), json_response(201, {"id": 7})])
    clock = VirtualClock()

    def handler(request: WireRequest) -> Response:
        return next(answers)

    async with memory_transport("velpic", KeyAuth(KEY), handler, clock=clock) as transport:
        response = await transport.send(POST_USER, retry_transient=False)

    assert response.status == 201
    assert clock.sleeps == [3.0]
    assert (transport.stats.rate_limited, transport.stats.retries) == (1, 1)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (ConnectionResetError(104, "Connection reset by peer"), "connection failed: ConnectionResetError"),
        (aiohttp.ServerDisconnectedError(), "connection failed: ServerDisconnectedError"),
        (TimeoutError(), "timed out: TimeoutError"),
    ],
)
async def test_a_lost_connection_is_a_transient_error(error: Exception, message: str) -> None:
    def handler(request: WireRequest) -> Response:
        raise error

    async with memory_transport("velpic", KeyAuth(KEY), handler) as transport:
        with pytest.raises(TransientError) as info:
            await transport.send(POST_USER, retry_transient=False)

    assert str(info.value) == f"{message} (velpic POST /user)"
    assert info.value.status is None
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert transport.stats.errors == 1
    assert transport.stats.statuses == {}


async def test_a_lost_connection_of_an_idempotent_call_is_retried() -> None:
    answers: list[Response | Exception] = [ConnectionResetError(), json_response(200, [])]

    def handler(request: WireRequest) -> Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with memory_transport("velpic", KeyAuth(KEY), handler) as transport:
        response = await transport.send(GET_USER)

    assert response.status == 200
    assert (transport.stats.errors, transport.stats.retries) == (1, 1)


async def test_each_retried_try_is_told_to_the_caller_with_its_error() -> None:
    """An idempotent call lost, answered 503, then 429, then answered: the caller's ``retried`` hears of the
    three failed tries in order (the last try's answer is the caller's own to record); a create-only call's
    429 retries are told too, and its final error is not."""
    answers: list[Response | Exception] = [
        ConnectionResetError(),
        json_response(503),
        json_response(429, headers={"Retry-After": "2"}),
        json_response(200, []),
    ]

    def handler(request: WireRequest) -> Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    told: list[Exception] = []
    async with memory_transport("velpic", KeyAuth(KEY), handler) as transport:
        response = await transport.send(POST_USER, retried=told.append)
        assert response.status == 200
        assert [(type(e).__name__, getattr(e, "status", None)) for e in told] == [
            ("TransientError", None),
            ("TransientError", 503),
            ("RateLimitedError", 429),
        ]
        told.clear()
        answers[:] = [json_response(429, headers={"Retry-After": "1"}), json_response(503)]
        with pytest.raises(TransientError):
            await transport.send(POST_USER, retry_transient=False, retried=told.append)
        assert [getattr(e, "status", None) for e in told] == [429]


async def test_a_refused_connection_fails_the_same_way_on_the_aiohttp_wire() -> None:
    with socket.socket() as unused:  # a loopback port that nothing listens on once it is closed
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    real = Transport(
        name="real",
        platform="velpic",
        base_url=f"http://127.0.0.1:{port}",
        auth=KeyAuth(KEY),
        limits=ConnectionLimits(RateBudgets(), concurrency=1),
        redactor=Redactor(),
    )

    def handler(request: WireRequest) -> Response:
        raise ConnectionRefusedError(111, "Connection refused")

    async with real, memory_transport("velpic", KeyAuth(KEY), handler) as memory:
        errors: list[TransientError] = []
        for transport in (real, memory):
            with pytest.raises(TransientError) as info:
                await transport.send(POST_USER, retry_transient=False)
            errors.append(info.value)

    on_socket, in_memory = errors
    check = (
        "Check the host and port of the connection's base URL, that the service is up, and that this machine "
        "may reach it (firewall, VPN, proxy)"
    )
    url = f"http://127.0.0.1:{port}/user"
    assert str(on_socket) == f"cannot connect to {url}: connection refused. {check} (velpic POST {url})"
    assert str(in_memory) == f"cannot connect to /user: connection refused. {check} (velpic POST /user)"
    assert real.stats.as_dict() == memory.stats.as_dict()


async def test_a_velpic_403_with_code_806_is_a_refusal_of_the_key() -> None:
    def handler(request: WireRequest) -> Response:
        return json_response(403, {"internalCode": 806, "error": "Token not valid"})

    auth = make_auth("velpic", {"access_key": KEY})
    async with memory_transport("velpic", auth, handler) as transport:
        with pytest.raises(AuthError) as info:
            await transport.send(GET_USER)

    assert info.value.status == 403
    assert info.value.platform == "velpic"


async def test_the_same_403_is_handed_back_when_the_auth_does_not_call_it_a_refusal() -> None:
    def handler(request: WireRequest) -> Response:
        return json_response(403, {"internalCode": 806, "error": "Token not valid"})

    async with memory_transport("velpic", KeyAuth(KEY), handler) as transport:
        response = await transport.send(GET_USER)

    assert response.status == 403
    assert response.json() == {"internalCode": 806, "error": "Token not valid"}


async def test_an_endpoint_budget_paces_the_calls_on_the_injected_clock() -> None:
    clock = VirtualClock(now=100.0)
    budgets = RateBudgets(Budgets(default=Rate(2, 1.0)), clock=clock.clock, sleep=clock.sleep)
    sent_at: list[float] = []

    def handler(request: WireRequest) -> Response:
        sent_at.append(clock.now)
        return json_response(200, [])

    async with memory_transport("velpic", KeyAuth(KEY), handler, clock=clock, budgets=budgets) as transport:
        for _ in range(6):
            await transport.send(GET_USER)

    assert len(sent_at) == 6
    assert sent_at[0] == 100.0
    assert all(later - first >= 1.0 for first, later in zip(sent_at, sent_at[2:], strict=False))
    assert clock.sleeps  # the budget waited, on the virtual clock


async def test_stats_count_requests_per_endpoint_statuses_and_retries() -> None:
    answers = iter([200, 404, 503, 200])

    def handler(request: WireRequest) -> Response:
        return json_response(next(answers), {})

    async with memory_transport("velpic", KeyAuth(KEY), handler) as transport:
        await transport.send(GET_USER)
        for _ in range(2):
            await transport.send(Request("GET", "/user/9", "/user/{userId}"))

    assert transport.stats.as_dict() == {
        "requests": {"/user": 1, "/user/{userId}": 3},
        "statuses": {"200": 2, "404": 1, "503": 1},
        "retries": 1,
        "rate_limited": 0,
        "token_refreshes": 0,
        "errors": 0,
    }


async def test_a_handler_bug_is_not_taken_for_a_lost_connection() -> None:
    calls: list[WireRequest] = []

    def handler(request: WireRequest) -> Response:
        calls.append(request)
        raise KeyError("no such route")

    async with memory_transport("velpic", KeyAuth(KEY), handler) as transport:
        with pytest.raises(KeyError):
            await transport.send(GET_USER)

    assert len(calls) == 1
    assert transport.stats.errors == 0


async def test_the_memory_wire_reports_an_answer_only_when_one_came_back() -> None:
    answered: list[str] = []

    def lost(request: WireRequest) -> Response:
        raise ConnectionResetError

    answering = MemoryWire(lambda request: json_response(200, {}, {"Retry-After": "1"}))
    async with answering, MemoryWire(lost) as losing:
        response = await answering.exchange(GET_USER, {}, lambda: answered.append("answer"))
        with pytest.raises(ConnectionResetError):
            await losing.exchange(GET_USER, {}, lambda: answered.append("lost"))

    assert answered == ["answer"]
    assert response.headers == {"retry-after": "1"}
