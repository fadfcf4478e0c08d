"""What the files platform (CSV or JSONL files in a directory) can read and write."""

from __future__ import annotations

from migrator.connectors.spec import (
    ANY_FIELD,
    EntitySpec,
    Paging,
    PlatformSpec,
    ReadSpec,
    WriteSpec,
    endpoint,
    entities,
    writes,
)

FILES = PlatformSpec(
    name="files",
    title="CSV or JSONL files in a directory",
    credentials=(),
    needs_base_url=False,
    open_entities=True,
    budget_source="local files: no requests",
    entities=entities(
        EntitySpec(
            "*",  # template: entity = file name without .csv / .jsonl
            read=ReadSpec(endpoint("READ", "{entity}.csv", ""), Paging("file"), key="id"),
            writes=writes(
                # match: the field that makes a row unique in the file (a re-run appends nothing twice)
                create=WriteSpec(
                    endpoint("WRITE", "{entity}.csv", ""),
                    per_record=False,
                    max_batch=100_000,
                    default_batch=1000,
                    match_keys=(ANY_FIELD,),
                )
            ),
        ),
    ),
)
