"""What the files platform (CSV or JSONL files in a directory) can read and write: any file name (the
template ``*``), and ``documents``, an archive of binary documents with its index (``archive``)."""

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

#: the entity of a documents archive: one file per record and ``index.csv`` (``connectors.files.archive``)
DOCUMENTS = "documents"

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
        EntitySpec(
            DOCUMENTS,  # a folder of files (certificates), one per record, and its index.csv
            writes=writes(
                # match: the field that identifies a record in the index (default: its idempotency key)
                create=WriteSpec(
                    endpoint("WRITE", "index.csv", ""),
                    per_record=False,
                    max_batch=500,
                    default_batch=20,  # each record carries its whole document
                    match_keys=(ANY_FIELD,),
                )
            ),
        ),
    ),
)
