"""Body faults: a malformed JSON body (``garble_rate``), a 200 with a proxy's HTML error page (``html_rate``),
and a write answer missing its last row (``truncate_rate``): parsed, decided, and seen by a client over HTTP."""

from __future__ import annotations

import json

import aiohttp
import pytest

from migrator.sandbox.config import PLATFORM_NAMES, SandboxConfig
from migrator.sandbox.faults import ECHO, GARBLE, HTML, PASS, TRUNCATE, FaultEngine, parse_spec
from migrator.sandbox.middleware import garbled, without_last_row
from tests.conftest import FAKES, MakeSandbox

SRC = {"X-Key": "fake-source-7"}


def _engine(spec: str) -> FaultEngine:
    return FaultEngine(parse_spec(spec, (*PLATFORM_NAMES, "fake")), 7, lambda: 0.0)


def _decide(engine: FaultEngine, method: str = "GET") -> str:
    return engine.decide("fake", method, "api/items", "api/items", lambda: None).action


def test_settings_parse() -> None:
    (rule,) = parse_spec("velpic:garble_rate=0.1,html_rate=0.2,truncate_rate=0.3", PLATFORM_NAMES)
    assert (rule.garble_rate, rule.html_rate, rule.truncate_rate) == (0.1, 0.2, 0.3)


@pytest.mark.parametrize(
    ("spec", "method", "action"),
    [
        ("fake:garble_rate=1", "GET", GARBLE),
        ("fake:html_rate=1", "POST", HTML),
        ("fake:truncate_rate=1", "POST", TRUNCATE),
        ("fake:truncate_rate=1", "GET", PASS),  # only writes lose rows
        ("fake:html_rate=1,garble_rate=1", "GET", HTML),
        ("fake:echo_rate=1", "GET", ECHO),  # the first that fires decides
    ],
)
def test_decisions(spec: str, method: str, action: str) -> None:
    assert _decide(_engine(spec), method) == action


def test_adding_a_body_setting_does_not_shift_other_draws() -> None:
    plain = _engine("fake:error_rate=0.5")
    other = _engine("fake:error_rate=0.5;velpic:garble_rate=0.5")
    assert [_decide(plain) for _ in range(50)] == [_decide(other) for _ in range(50)]


def test_garbled_body_is_never_json() -> None:
    for body in (b"", b"[]", b'{"a": 1}', json.dumps([{"id": i} for i in range(20)]).encode()):
        with pytest.raises(ValueError):
            json.loads(garbled(body))


def test_without_last_row() -> None:
    assert json.loads(without_last_row(b"[1, 2, 3]") or b"") == [1, 2]
    assert json.loads(without_last_row(b'{"n": 2, "rows": [{"a": 1}, {"a": 2}]}') or b"") == {
        "n": 2,
        "rows": [{"a": 1}],
    }
    assert without_last_row(b'{"id": 3}') is None
    assert without_last_row(b"[]") is None
    assert without_last_row(b"<html>") is None


async def test_clients_see_each_body_fault(make_sandbox: MakeSandbox) -> None:
    spec = "fake/items:methods=GET,garble_rate=1;other:html_rate=1"
    config = SandboxConfig(seed=7, scale=5, default_limits=False, faults=spec)
    async with make_sandbox(config, platform_classes=FAKES) as sb, aiohttp.ClientSession() as http:
        async with http.get(sb.url("/fake/api/items"), headers=SRC) as resp:
            assert resp.status == 200
            with pytest.raises(ValueError):
                json.loads(await resp.read())
        async with http.get(sb.url("/other/api/items"), headers={"X-Key": "other-source-7"}) as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            assert "<html>" in await resp.text()
        assert sb.state.stats.faults == {"garbled": 1, "html": 1}


async def test_echo_answers_400_with_the_request_headers(make_sandbox: MakeSandbox) -> None:
    config = SandboxConfig(seed=7, scale=5, default_limits=False, faults="fake:echo_rate=1")
    async with make_sandbox(config, platform_classes=FAKES) as sb, aiohttp.ClientSession() as http:
        async with http.get(sb.url("/fake/api/items"), headers=SRC) as resp:
            assert resp.status == 400
            assert (await resp.json())["request_headers"]["X-Key"] == SRC["X-Key"]
        assert sb.state.stats.faults == {"echoed": 1}


async def test_truncated_write_takes_effect_but_its_answer_misses_a_row(make_sandbox: MakeSandbox) -> None:
    # the fake's create answers one object, so the list cut is the one inside it
    config = SandboxConfig(seed=7, scale=5, default_limits=False, faults="fake:truncate_rate=1")
    async with make_sandbox(config, platform_classes=FAKES) as sb, aiohttp.ClientSession() as http:
        body = {"email": "t@example.com", "tags": ["a", "b"]}
        async with http.post(sb.url("/fake/api/items"), headers=SRC, json=body) as resp:
            answer = await resp.json()
        assert answer["tags"] == ["a"]
        assert sb.platforms["fake"].table("source", "item").creates == 1
        assert sb.state.stats.faults == {"truncated": 1}
