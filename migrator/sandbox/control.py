"""The control API under ``/_sandbox/``: info, stats, records, reset, faults, revoke, clock, options.

It is never rate limited, faulted or counted (the middleware lets ``/_sandbox/`` through untouched).
Errors are ``{"error": "..."}`` with 400 (bad body) or 404 (unknown platform, tenant or entity).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

import orjson
from aiohttp import web

from migrator.sandbox.clock import Clock
from migrator.sandbox.config import ConfigError, SandboxConfig, check_option_key
from migrator.sandbox.faults import FaultSpecError, Rule, spec_from_json
from migrator.sandbox.platform import Platform
from migrator.sandbox.stats import Stats

JSONL_CHUNK = 2000


class ControlState(Protocol):
    """What the control routes need (``app.SandboxState`` provides it)."""

    @property
    def config(self) -> SandboxConfig: ...

    @property
    def platforms(self) -> Mapping[str, Platform]: ...

    @property
    def stats(self) -> Stats: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def base_url(self) -> str: ...

    @property
    def seed_seconds(self) -> float: ...

    def rules(self) -> list[Rule]: ...

    def reseed(self, *, seed: int, scale: int, dirty: float) -> None: ...

    def set_faults(self, spec: str, *, default_limits: bool | None = None) -> None: ...


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS, default=str),
        status=status,
        content_type="application/json",
    )


def _http_error(status: int, message: str) -> web.HTTPException:
    kind: type[web.HTTPException] = web.HTTPNotFound if status == 404 else web.HTTPBadRequest
    return kind(text=orjson.dumps({"error": message}).decode(), content_type="application/json")


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _http_error(400, f"{request.path}: the body is not valid JSON ({exc})") from None


async def _json_object(request: web.Request) -> dict[str, Any]:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise _http_error(400, f"{request.path}: the body must be a JSON object")
    return body


def _number(body: Mapping[str, Any], key: str, where: str) -> float:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _http_error(400, f"{where}: {key!r} must be a number, got {value!r}")
    return float(value)


def _platform(state: ControlState, name: str) -> Platform:
    platform = state.platforms.get(name)
    if platform is None:
        raise _http_error(404, f"unknown platform {name!r}; this sandbox serves {', '.join(state.platforms)}")
    return platform


def add_control_routes(app: web.Application, state: ControlState) -> None:
    """Register every ``/_sandbox/*`` route on ``app``."""

    def info_doc() -> dict[str, Any]:
        base, config = state.base_url, state.config
        return {
            "platforms": {name: platform.info(base) for name, platform in state.platforms.items()},
            "sandbox": {
                "base_url": base,
                "seed": config.seed,
                "scale": config.scale,
                "dirty": config.dirty,
                "time_scale": state.clock.time_scale,
                "now": state.clock.now(),
                "default_limits": config.default_limits,
                "faults": config.faults,
                "options": config.options,
                "seed_seconds": round(state.seed_seconds, 3),
            },
        }

    def faults_doc() -> dict[str, Any]:
        return {
            "spec": state.config.faults,
            "default_limits": state.config.default_limits,
            "rules": [rule.to_json() for rule in state.rules()],
        }

    async def info(request: web.Request) -> web.Response:
        return json_response(info_doc())

    async def stats(request: web.Request) -> web.Response:
        tables = {name: platform.entities() for name, platform in state.platforms.items()}
        return json_response(state.stats.snapshot(tables))

    async def records(request: web.Request) -> web.StreamResponse:
        name, tenant, entity = (request.match_info[k] for k in ("platform", "tenant", "entity"))
        tenants = _platform(state, name).entities()
        if tenant not in tenants:
            raise _http_error(404, f"{name} has no tenant {tenant!r}; tenants: {', '.join(tenants)}")
        if entity not in tenants[tenant]:
            raise _http_error(
                404, f"{name}/{tenant} has no entity {entity!r}; entities: {', '.join(sorted(tenants[tenant]))}"
            )
        rows = list(tenants[tenant][entity].records.values())  # a snapshot: handlers may write meanwhile
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
        for start in range(0, len(rows), JSONL_CHUNK):
            chunk = b"".join(
                dumps(row, option=option, default=str) + b"\n" for row in rows[start : start + JSONL_CHUNK]
            )
            await response.write(chunk)
        await response.write_eof()
        return response

    async def reset(request: web.Request) -> web.Response:
        body = await _json_object(request)
        unknown = sorted(set(body) - {"seed", "scale", "dirty"})
        if unknown:
            raise _http_error(400, f"/_sandbox/reset: unknown key {unknown[0]!r}; accepted: seed, scale, dirty")
        config = state.config
        seed, scale, dirty = config.seed, config.scale, config.dirty
        for key in ("seed", "scale"):
            if key in body and (isinstance(body[key], bool) or not isinstance(body[key], int) or body[key] < 0):
                raise _http_error(
                    400, f"/_sandbox/reset: {key!r} must be a whole number >= 0, got {body[key]!r}"
                )
        seed = body.get("seed", seed)
        scale = body.get("scale", scale)
        if "dirty" in body:
            dirty = _number(body, "dirty", "/_sandbox/reset")
            if not 0.0 <= dirty <= 1.0:
                raise _http_error(
                    400, f"/_sandbox/reset: 'dirty' must be a fraction between 0 and 1, got {dirty}"
                )
        state.reseed(seed=seed, scale=scale, dirty=dirty)
        return json_response(
            {"seed": seed, "scale": scale, "dirty": dirty, "seconds": round(state.seed_seconds, 3)}
        )

    async def get_faults(request: web.Request) -> web.Response:
        return json_response(faults_doc())

    async def set_faults(request: web.Request) -> web.Response:
        default_limits: bool | None = None
        if request.content_type == "application/json":
            body = await _json_body(request)
            if isinstance(body, dict) and ("spec" in body or "default_limits" in body):
                unknown = sorted(set(body) - {"spec", "rules", "default_limits"})
                if unknown:
                    raise _http_error(
                        400,
                        f"/_sandbox/faults: unknown key {unknown[0]!r}; accepted: spec, rules, default_limits",
                    )
                default_limits = body.get("default_limits")
                if default_limits is not None and not isinstance(default_limits, bool):
                    raise _http_error(400, "/_sandbox/faults: 'default_limits' must be true or false")
                body = body.get("spec", body.get("rules", state.config.faults))
            try:
                spec = spec_from_json(body)
            except FaultSpecError as exc:
                raise _http_error(400, f"/_sandbox/faults: {exc}") from None
        else:
            spec = (await request.text()).strip()
        try:
            state.set_faults(spec, default_limits=default_limits)
        except FaultSpecError as exc:
            raise _http_error(400, f"/_sandbox/faults: {exc}") from None
        return json_response(faults_doc())

    async def revoke(request: web.Request) -> web.Response:
        body = await _json_object(request)
        name, tenant = body.get("platform"), body.get("tenant")
        if not isinstance(name, str) or not isinstance(tenant, str):
            raise _http_error(
                400, '/_sandbox/revoke: the body must be {"platform": "<name>", "tenant": "<tenant>"}'
            )
        platform = _platform(state, name)
        if tenant not in platform.entities():
            raise _http_error(
                404, f"{name} has no tenant {tenant!r}; tenants: {', '.join(platform.entities())}"
            )
        platform.revoke_tokens(tenant)
        return json_response({"revoked": {"platform": name, "tenant": tenant}})

    async def get_clock(request: web.Request) -> web.Response:
        return json_response({"now": state.clock.now(), "time_scale": state.clock.time_scale})

    async def set_clock(request: web.Request) -> web.Response:
        body = await _json_object(request)
        if set(body) != {"advance"}:
            raise _http_error(400, '/_sandbox/clock: the body must be {"advance": <sandbox seconds>}')
        seconds = _number(body, "advance", "/_sandbox/clock")
        if seconds < 0:
            raise _http_error(
                400, f"/_sandbox/clock: 'advance' must be >= 0 (time only moves forward), got {seconds}"
            )
        state.clock.advance(seconds)
        return await get_clock(request)

    async def get_options(request: web.Request) -> web.Response:
        return json_response({"options": state.config.options})

    async def set_options(request: web.Request) -> web.Response:
        body = await _json_object(request)
        options = state.config.options
        for key in body:
            try:
                check_option_key(key, extra=tuple(state.platforms))
            except ConfigError as exc:
                raise _http_error(400, f"/_sandbox/options: {exc}") from None
        for key, value in body.items():
            if value is None:
                options.pop(key, None)
            else:
                options[key] = value
        return await get_options(request)

    app.router.add_get("/_sandbox/info", info)
    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_get("/_sandbox/records/{platform}/{tenant}/{entity}", records)
    app.router.add_post("/_sandbox/reset", reset)
    app.router.add_get("/_sandbox/faults", get_faults)
    app.router.add_post("/_sandbox/faults", set_faults)
    app.router.add_post("/_sandbox/revoke", revoke)
    app.router.add_get("/_sandbox/clock", get_clock)
    app.router.add_post("/_sandbox/clock", set_clock)
    app.router.add_get("/_sandbox/options", get_options)
    app.router.add_post("/_sandbox/options", set_options)
