"""A fast, minimal Velpic target for measuring where the client is the bottleneck: ``GET /user`` pages of the
source tenant (offset paging as Velpic: ``startIndex``/``maxResults``, ``meta.totalResultCount``) and
``POST /bulkUserImport`` (accepts, answers the rows with ids), nothing else; no validation. Pages are encoded
once and kept, so the target spends a few microseconds per request and the client's own cost shows.

Optional per-request latency (``--read-latency``, ``--write-latency``) and an enforced rate limit on the
imports (``--rate N``: at most N per second, any sliding second) answered ``429`` in one of three ways
(``--limit-style``): ``retry-after`` (a ``Retry-After`` in whole seconds, rounded up), ``bare`` (no header at
all) or ``headers`` (``RateLimit-Limit``/``-Remaining``/``-Reset`` on every import answer, and
``Retry-After`` on a 429).

``python -m benchmarks.fast_target --users N --env-file F [--port 0] [--rate 50 --limit-style bare] ...``
prints ``fast-target ready: URL`` once it serves, and writes ``VELPIC_BASE_URL``, ``VELPIC_SOURCE_ACCESS_KEY``
and ``VELPIC_TARGET_ACCESS_KEY`` to the env file. Control: ``GET /_stats`` (``count``, ``duplicates``,
``updates`` of the target's users, requests, imports and 429s), ``POST /_reset`` (an empty target, stats
cleared).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import secrets
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

API = "/velpic/api/v2"
LIMIT_STYLES = ("retry-after", "bare", "headers")


class Limit:
    """At most ``rate`` imports in any sliding second."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._hits: deque[float] = deque()

    def admit(self, now: float) -> float | None:
        """None when the request is within the limit (and it is counted), else the seconds until it would be."""
        hits = self._hits
        while hits and hits[0] <= now - 1.0:
            hits.popleft()
        if len(hits) >= self.rate:
            return hits[0] + 1.0 - now
        hits.append(now)
        return None

    def remaining(self) -> int:
        return max(0, self.rate - len(self._hits))


class FastTarget:
    def __init__(
        self,
        users: int,
        *,
        read_latency: float,
        write_latency: float,
        rate: int | None,
        limit_style: str,
    ) -> None:
        self.users = users
        self.read_latency = read_latency
        self.write_latency = write_latency
        self.limit = Limit(rate) if rate else None
        self.limit_style = limit_style
        self.source_key = secrets.token_hex(16)
        self.target_key = secrets.token_hex(16)
        self._pages: dict[tuple[int, int], bytes] = {}
        self.reset()

    def reset(self) -> None:
        self.by_key: dict[str, int] = {}
        self.duplicates = 0
        self.updates = 0
        self.requests = 0
        self.imports = 0  # import requests, 429s included
        self.rejected = 0
        self.next_id = 1_000_000

    @staticmethod
    def user(i: int) -> dict[str, Any]:
        return {
            "id": i + 1,
            "userName": f"user{i}",
            "firstName": f"First{i}",
            "lastName": f"Last{i}",
            "emailAddress": f"User{i}@Example.com",
            "employeeNumber": f"E{i:07d}",
            "clientStatusId": 56,
            "active": True,
            "roles": [6],
            "groups": [],
        }

    def page(self, start: int, size: int) -> bytes:
        body = self._pages.get((start, size))
        if body is None:
            end = self.users if size == 0 else min(self.users, start + size)
            results = [self.user(i) for i in range(start, end)]
            meta = {"totalResultCount": self.users, "startIndex": start, "endIndex": start + len(results)}
            body = orjson.dumps({"results": results, "meta": meta})
            self._pages[(start, size)] = body
        return body

    async def list_users(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        key = request.headers.get("AccessKey")
        if key not in (self.source_key, self.target_key):
            return web.json_response({"internalCode": 806, "error": "Access denied"}, status=403)
        if self.read_latency:
            await asyncio.sleep(self.read_latency)
        start = int(request.query.get("startIndex") or 0)
        size = int(request.query.get("maxResults") or 0)
        if key == self.target_key:  # the target's users so far (a run reads them before it merges)
            return web.Response(body=self.target_page(start, size), content_type="application/json")
        return web.Response(body=self.page(start, size), content_type="application/json")

    def target_page(self, start: int, size: int) -> bytes:
        """A page of the users imported so far, each with its id and the merge key it was imported by."""
        users = list(self.by_key.items())
        end = len(users) if size == 0 else min(len(users), start + size)
        results = [{"id": uid, "employeeNumber": key} for key, uid in users[start:end]]
        meta = {"totalResultCount": len(users), "startIndex": start, "endIndex": start + len(results)}
        return orjson.dumps({"results": results, "meta": meta})

    async def bulk_user_import(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.imports += 1
        if request.headers.get("AccessKey") != self.target_key:
            return web.json_response({"internalCode": 806, "error": "Access denied"}, status=403)
        headers: dict[str, str] = {}
        if self.limit is not None:
            wait = self.limit.admit(time.monotonic())
            if self.limit_style == "headers":
                headers = {
                    "RateLimit-Limit": str(self.limit.rate),
                    "RateLimit-Remaining": str(self.limit.remaining()),
                    "RateLimit-Reset": "1",
                }
            if wait is not None:
                self.rejected += 1
                if self.limit_style != "bare":
                    headers["Retry-After"] = str(max(1, math.ceil(wait)))
                body = b'{"internalCode":429,"error":"Too Many Requests"}'
                return web.Response(status=429, body=body, headers=headers, content_type="application/json")
        payload = orjson.loads(await request.read())
        merge = payload.get("mergeType") or "none"
        field = {"empNo": "employeeNumber", "email": "emailAddress", "userName": "userName"}.get(merge)
        answered = []
        for row in payload.get("users") or ():
            key = str(row.get("employeeNumber") or row.get("emailAddress") or "")
            uid = self.by_key.get(key)
            if uid is not None and field is not None and row.get(field) is not None:
                self.updates += 1
            else:
                if uid is not None:
                    self.duplicates += 1
                uid = self.next_id
                self.next_id += 1
                self.by_key[key] = uid
            answered.append({**row, "id": uid})
        if self.write_latency:
            await asyncio.sleep(self.write_latency)
        return web.Response(body=orjson.dumps(answered), headers=headers, content_type="application/json")

    async def stats(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "count": len(self.by_key),
                "duplicates": self.duplicates,
                "updates": self.updates,
                "requests": self.requests,
                "imports": self.imports,
                "rate_limited": self.rejected,
            }
        )

    async def reset_route(self, request: web.Request) -> web.StreamResponse:
        self.reset()
        return web.json_response({})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_get(API + "/user", self.list_users)
        app.router.add_post(API + "/bulkUserImport", self.bulk_user_import)
        app.router.add_get("/_stats", self.stats)
        app.router.add_post("/_reset", self.reset_route)
        return app


async def serve(target: FastTarget, port: int, env_file: Path) -> None:
    runner = web.AppRunner(target.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    server = site._server
    assert server is not None
    bound = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{bound}"
    env_file.write_text(  # noqa: ASYNC240 - once, before the first request is served
        f"VELPIC_BASE_URL={url}{API}\n"
        f"VELPIC_SOURCE_ACCESS_KEY={target.source_key}\n"
        f"VELPIC_TARGET_ACCESS_KEY={target.target_key}\n"
    )
    print(f"fast-target ready: {url} ({target.users:,} users)", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    description = __doc__.splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fast_target", description=description)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--env-file", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--read-latency", type=float, default=0.0, help="seconds added to every page read")
    parser.add_argument("--write-latency", type=float, default=0.0, help="seconds added to every import")
    parser.add_argument("--rate", type=int, default=0, help="imports allowed per second (0: no limit)")
    parser.add_argument("--limit-style", choices=LIMIT_STYLES, default="retry-after")
    args = parser.parse_args(argv)
    target = FastTarget(
        args.users,
        read_latency=args.read_latency,
        write_latency=args.write_latency,
        rate=args.rate or None,
        limit_style=args.limit_style,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(target, args.port, args.env_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
