"""Pure, sans-io protocol logic, no sockets and no clocks of its own.

- ``keys``: idempotency keys, batch ids and content hashes (stable BLAKE2b digests).
- ``retry``: backoff with full jitter, ``Retry-After`` parsing, retry decisions, ``retrying``.
- ``pagination``: one paginator state machine per platform paging style, with a loop guard.

Import from the submodules (``from migrator.protocol.pagination import make_paginator``).
"""
