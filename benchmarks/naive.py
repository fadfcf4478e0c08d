"""Contender "naive": what a consultant writes by hand. A sequential ``requests`` script: read a page, keep it,
post a bulk of 500 when one is full. One request at a time, no journal.

``python -m benchmarks.naive --env-file F [--page 100] [--batch 500]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import requests

from benchmarks.common import USER_FILTER, read_env, velpic_payload


def migrate(base: str, source_key: str, target_key: str, page: int, batch: int) -> int:
    written = 0
    buffer: list[dict[str, Any]] = []
    with requests.Session() as http:

        def flush(rows: list[dict[str, Any]]) -> int:
            r = http.post(
                f"{base}/bulkUserImport",
                json={"users": rows, "mergeType": "empNo"},
                headers={"AccessKey": target_key},
                timeout=300,
            )
            r.raise_for_status()
            return len(r.json())

        start = 0
        while True:
            r = http.get(
                f"{base}/user",
                params={**USER_FILTER, "startIndex": start, "maxResults": page},
                headers={"AccessKey": source_key},
                timeout=300,
            )
            r.raise_for_status()
            body = r.json()
            results = body["results"]
            buffer.extend(velpic_payload(u) for u in results)
            while len(buffer) >= batch:
                written += flush(buffer[:batch])
                del buffer[:batch]
            start += len(results)
            if not results or start >= body["meta"]["totalResultCount"]:
                break
        if buffer:
            written += flush(buffer)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.naive")
    parser.add_argument("--env-file", required=True, type=Path)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args(argv)
    env = read_env(args.env_file)
    written = migrate(
        env["VELPIC_BASE_URL"],
        env["VELPIC_SOURCE_ACCESS_KEY"],
        env["VELPIC_TARGET_ACCESS_KEY"],
        args.page,
        args.batch,
    )
    print(f"naive: written {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
