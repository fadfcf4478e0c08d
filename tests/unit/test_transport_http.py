"""The transport over the aiohttp wire, against small aiohttp servers on loopback: redirects (credentials never
leave the base URL's origin) and answer bodies past the wire's size limit (refused, read no further)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from migrator.connectors.base import Request, Response
from migrator.connectors.registry import make_auth
from migrator.errors import PermanentError
from migrator.limits import ConnectionLimits, RateBudgets
from migrator.logging import Redactor
from migrator.protocol.retry import RetryPolicy
from migrator.transport import Transport
from migrator.wire import MAX_BODY_BYTES, MAX_REDIRECTS

GET_USER = Request("GET", "/user", "/user")
POST_USER = Request("POST", "/user", "/user", json={"name": "Ann"})
#: every credential header of the platforms, and the accessplanit login form's password field
CREDENTIAL_HEADERS = ("AccessKey", "X-API-Key", "X-CustomerToken", "X-TokenID", "Authorization")


@dataclass
class Seen:
    """What a server received: one (method, path and query, headers, body) per request."""

    requests: list[tuple[str, str, Mapping[str, str], bytes]] = field(default_factory=list)


@asynccontextmanager
async def serve(handler: web.Handler) -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        yield server


def recorder(seen: Seen) -> web.Handler:
    async def handler(request: web.Request) -> web.Response:
        seen.requests.append((request.method, request.path_qs, dict(request.headers), await request.read()))
        return web.json_response([{"id": 1}])

    return handler


def origin(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def attempt(t: Transport, request: Request) -> Response | Exception:
    """The answer to ``request``, or the error it ended with (so a test can first check what reached whom)."""
    try:
        return await t.send(request)
    except Exception as error:  # handed back for the assertions
        return error


def transport(platform: str, base_url: str, credentials: Mapping[str, str]) -> Transport:
    return Transport(
        name="target",
        platform=platform,
        base_url=base_url,
        auth=make_auth(platform, credentials),
        limits=ConnectionLimits(RateBudgets(), concurrency=2),
        redactor=Redactor(credentials.values()),
        retry=RetryPolicy(max_attempts=1),
    )


# (platform, credentials, whether the token call itself is redirected): every credential the engine sends
CREDENTIAL_CASES = [
    ("velpic", {"access_key": "velpic-key-0001"}, False),
    ("anewspring", {"api_key": "ans-key-0002"}, False),
    ("onefile", {"customer_token": "onefile-customer-0003"}, True),
    ("onefile", {"customer_token": "onefile-customer-0004"}, False),
    ("accessplanit", {"username": "ann", "password": "apit-Pa55-0005"}, True),
    ("accessplanit", {"api_key": "apit-key-0006"}, False),
]


@pytest.mark.parametrize(
    ("platform", "credentials", "redirect_login"),
    CREDENTIAL_CASES,
    ids=[f"{p}-{'-'.join(c)}-{'login' if r else 'call'}" for p, c, r in CREDENTIAL_CASES],
)
async def test_a_redirect_to_another_origin_is_refused_and_no_credential_leaves(
    platform: str, credentials: Mapping[str, str], redirect_login: bool
) -> None:
    other = Seen()

    async def base(request: web.Request) -> web.StreamResponse:
        login = request.path in ("/token", "/Authentication")
        if login and not redirect_login:
            if platform == "onefile":
                return web.Response(text="onefile-session-token-0007")
            return web.json_response({"access_token": "apit-session-token-0008", "expires_in": 3600})
        raise web.HTTPTemporaryRedirect(f"{target_origin}{request.path_qs}")

    async with serve(recorder(other)) as elsewhere, serve(base) as server:
        target_origin, base_origin = origin(elsewhere), origin(server)
        async with transport(platform, base_origin, credentials) as t:
            outcome = await attempt(t, GET_USER)

    assert other.requests == []  # not one header, not one form field reached the other origin
    assert isinstance(outcome, PermanentError), outcome
    message = str(outcome)
    assert f"redirected to another origin, {target_origin}" in message
    assert f"the connection's base_url is on {base_origin}" in message
    assert "Set the connection's base_url to the address the API answers on" in message
    assert not any(secret in message for secret in credentials.values())


@pytest.mark.parametrize("kind", ["port", "host", "scheme"])
async def test_another_port_host_or_scheme_is_another_origin(kind: str) -> None:
    other, own = Seen(), Seen()

    async def base(request: web.Request) -> web.StreamResponse:
        own.requests.append((request.method, request.path, dict(request.headers), b""))
        location = {
            "port": f"http://127.0.0.1:{elsewhere.port}/user",
            "host": f"http://localhost:{server.port}/user",
            "scheme": f"https://127.0.0.1:{server.port}/user",
        }[kind]
        raise web.HTTPFound(location)

    async with (
        serve(recorder(other)) as elsewhere,
        serve(base) as server,
        transport("velpic", origin(server), {"access_key": "velpic-key-0009"}) as t,
    ):
        outcome = await attempt(t, GET_USER)

    assert other.requests == []
    assert len(own.requests) == 1  # refused at the redirect: nothing was sent anywhere else
    assert isinstance(outcome, PermanentError), outcome
    assert "redirected to another origin" in str(outcome)


async def test_a_same_origin_redirect_is_followed_with_the_credentials() -> None:
    seen = Seen()
    record = recorder(seen)

    async def base(request: web.Request) -> web.StreamResponse:
        if request.path == "/api/user":
            raise web.HTTPPermanentRedirect("/v2/user?moved=1")  # 308: a POST stays a POST, with its body
        return await record(request)

    async with (
        serve(base) as server,
        transport("velpic", origin(server) + "/api", {"access_key": "velpic-key-0010"}) as t,
    ):
        answer = await t.send(POST_USER)

    assert answer.json() == [{"id": 1}]
    ((method, path, headers, body),) = seen.requests
    assert (method, path, orjson.loads(body)) == ("POST", "/v2/user?moved=1", {"name": "Ann"})
    assert headers["AccessKey"] == "velpic-key-0010"


async def test_redirects_are_followed_a_few_hops_only() -> None:
    hops = Seen()

    async def base(request: web.Request) -> web.StreamResponse:
        hops.requests.append((request.method, request.path, dict(request.headers), b""))
        raise web.HTTPFound(f"/hop{len(hops.requests)}")

    async with (
        serve(base) as server,
        transport("velpic", origin(server), {"access_key": "velpic-key-0011"}) as t,
    ):
        with pytest.raises(PermanentError, match=f"redirected more than {MAX_REDIRECTS} times"):
            await t.send(GET_USER)

    assert [path for _, path, _, _ in hops.requests] == ["/user", "/hop1", "/hop2", "/hop3"]


async def test_a_redirect_that_would_turn_a_write_into_a_get_is_refused() -> None:
    seen = Seen()
    record = recorder(seen)

    async def base(request: web.Request) -> web.StreamResponse:
        if request.path == "/user":
            raise web.HTTPFound("/elsewhere")
        return await record(request)

    async with (
        serve(base) as server,
        transport("velpic", origin(server), {"access_key": "velpic-key-0012"}) as t,
    ):
        with pytest.raises(PermanentError, match="would turn it into a GET and drop its body"):
            await t.send(POST_USER)

    assert seen.requests == []


async def test_an_endless_answer_is_refused_near_the_size_limit() -> None:
    sent: list[int] = [0]
    done = anyio.Event()
    guard = 8 * MAX_BODY_BYTES  # "endless" for the client; the guard only keeps the old code from eating RAM

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b'{"id": 1, "name": "lol"}, ' * 2600
        try:
            await response.write(b"[")
            while sent[0] < guard:
                await response.write(chunk)
                sent[0] += len(chunk)
        except ConnectionError:
            pass  # the client hung up: what we count is what it could have read
        finally:
            done.set()
        return response

    async with serve(endless) as server:
        base_origin = origin(server)
        async with transport("velpic", base_origin, {"access_key": "velpic-key-0013"}) as t:
            with pytest.raises(PermanentError) as info:
                await t.send(GET_USER)
        with anyio.fail_after(60):
            await done.wait()

    assert f"the answer from {base_origin}/user is larger than 32 MiB" in str(info.value)
    assert "(velpic GET /user → 200)" in str(info.value)
    assert MAX_BODY_BYTES < sent[0] < 2 * MAX_BODY_BYTES  # the read stopped near the limit, not at the guard


async def test_an_answer_that_declares_a_length_past_the_limit_is_refused_unread() -> None:
    async def large(request: web.Request) -> web.Response:
        return web.Response(body=bytes(MAX_BODY_BYTES + 1), content_type="application/octet-stream")

    async with (
        serve(large) as server,
        transport("velpic", origin(server), {"access_key": "velpic-key-0014"}) as t,
    ):
        with pytest.raises(PermanentError, match="is larger than 32 MiB, the most the engine reads"):
            await t.send(GET_USER)


async def test_an_answer_at_the_limit_is_read_whole() -> None:
    body = b'"' + b"x" * (MAX_BODY_BYTES - 2) + b'"'

    async def exact(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async with (
        serve(exact) as server,
        transport("velpic", origin(server), {"access_key": "velpic-key-0015"}) as t,
    ):
        answer = await t.send(GET_USER)

    assert answer.body == body
