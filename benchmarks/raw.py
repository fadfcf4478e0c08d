"""Contender "raw": a hand-written aiohttp loop, the ceiling. Reads Velpic source users page by page (the first
page gives the total, then every other page is fetched concurrently), writes them to the target tenant with
``POST /bulkUserImport`` ``mergeType=empNo`` in bulks of 500, at most 16 requests in flight. No journal.

``python -m benchmarks.raw --env-file F [--page 100] [--batch 500] [--concurrency 16]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from benchmarks.common import USER_FILTER, read_env, velpic_payload


async def migrate(base: str, source_key: str, target_key: str, page: int, batch: int, concurrency: int) -> int:
    sem = asyncio.Semaphore(concurrency)
    written = 0
    buffer: list[dict[str, Any]] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def get(start: int) -> dict[str, Any]:
            params = {**USER_FILTER, "startIndex": str(start), "maxResults": str(page)}
            async with sem, session.get(f"{base}/user", params=params, headers={"AccessKey": source_key}) as r:
                r.raise_for_status()
                body: dict[str, Any] = orjson.loads(await r.read())
                return body

        async def write(rows: list[dict[str, Any]]) -> None:
            nonlocal written
            body = orjson.dumps({"users": rows, "mergeType": "empNo"})
            headers = {"AccessKey": target_key, "Content-Type": "application/json"}
            async with sem, session.post(f"{base}/bulkUserImport", data=body, headers=headers) as r:
                if r.status != 200:
                    raise RuntimeError(f"bulkUserImport answered {r.status}: {(await r.text())[:300]}")
                answer = orjson.loads(await r.read())
                written += len(answer)

        async with asyncio.TaskGroup() as tg:

            def take(results: list[dict[str, Any]]) -> None:
                buffer.extend(velpic_payload(u) for u in results)
                while len(buffer) >= batch:
                    chunk = buffer[:batch]
                    del buffer[:batch]
                    tg.create_task(write(chunk))

            async def one(start: int) -> None:
                take((await get(start))["results"])

            first = await get(0)
            total = int(first["meta"]["totalResultCount"])
            take(first["results"])
            for start in range(page, total, page):
                tg.create_task(one(start))
        if buffer:
            await write(buffer)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.raw")
    parser.add_argument("--env-file", required=True, type=Path)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    env = read_env(args.env_file)
    written = asyncio.run(
        migrate(
            env["VELPIC_BASE_URL"],
            env["VELPIC_SOURCE_ACCESS_KEY"],
            env["VELPIC_TARGET_ACCESS_KEY"],
            args.page,
            args.batch,
            args.concurrency,
        )
    )
    print(f"raw: written {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
