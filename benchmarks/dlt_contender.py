"""Contender "dlt": what a data engineer would pick. dlt's ``rest_api`` source reads the Velpic source users
(offset paginator on ``startIndex``/``maxResults`` with ``meta.totalResultCount``); a ``@dlt.destination`` sink
posts the same ``bulkUserImport`` bulks of 500 (``mergeType=empNo``) to the target tenant. dlt's own defaults
otherwise (its extract → normalize → load stages, files in a pipelines directory).

``python -m benchmarks.dlt_contender --env-file F --workdir DIR [--page 100] [--batch 500]``
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import USER_FILTER, read_env, velpic_payload


def migrate(env: dict[str, str], workdir: Path, page: int, batch: int) -> int:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    # keep the source's camelCase field names (dlt would snake_case them) and nested lists in the row
    os.environ.setdefault("SCHEMA__NAMING", "direct")
    import dlt  # noqa: PLC0415 - imported after the environment above is set
    import requests  # noqa: PLC0415
    from dlt.sources.rest_api import rest_api_source  # noqa: PLC0415

    base = env["VELPIC_BASE_URL"]
    target_key = env["VELPIC_TARGET_ACCESS_KEY"]
    written = {"n": 0}
    http = requests.Session()

    @dlt.destination(batch_size=batch, name="velpic_bulk", skip_dlt_columns_and_tables=True)
    def velpic_bulk(items: Any, table: Any) -> None:
        rows = [velpic_payload(u) for u in items]
        r = http.post(
            f"{base}/bulkUserImport",
            json={"users": rows, "mergeType": "empNo"},
            headers={"AccessKey": target_key},
            timeout=300,
        )
        r.raise_for_status()
        written["n"] += len(r.json())

    source = rest_api_source(
        {
            "client": {
                "base_url": base + "/",
                "auth": {
                    "type": "api_key",
                    "name": "AccessKey",
                    "api_key": env["VELPIC_SOURCE_ACCESS_KEY"],
                    "location": "header",
                },
                "paginator": {
                    "type": "offset",
                    "limit": page,
                    "offset_param": "startIndex",
                    "limit_param": "maxResults",
                    "total_path": "meta.totalResultCount",
                },
            },
            "resources": [
                {
                    "name": "users",
                    "max_table_nesting": 0,
                    "endpoint": {"path": "user", "params": dict(USER_FILTER), "data_selector": "results"},
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_velpic_users",
        destination=velpic_bulk,
        pipelines_dir=str(workdir / "dlt-pipelines"),
        dataset_name="bench",
    )
    pipeline.run(source)
    return written["n"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.dlt_contender")
    parser.add_argument("--env-file", required=True, type=Path)
    parser.add_argument("--workdir", type=Path, default=Path.cwd())
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args(argv)
    written = migrate(read_env(args.env_file), args.workdir, args.page, args.batch)
    print(f"dlt: written {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
