"""Pure, sans-io protocol logic, no sockets and no clocks of its own.

- ``keys``: idempotency keys and content hashes (stable BLAKE2b digests).
- ``retry``: backoff with full jitter, ``Retry-After`` parsing, retry decisions, ``retrying``.
- ``pagination``: one paginator state machine per platform paging style, with a loop guard.
- ``batching``: records into batches by count and encoded bytes, with stable batch ids.
- ``indoubt``: what to do with a batch that was sent but not confirmed, and lookup reconciliation.

Import from the submodules (``from migrator.protocol.pagination import make_paginator``).
"""
