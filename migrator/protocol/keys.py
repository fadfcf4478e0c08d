"""Stable keys: a record's idempotency key, a batch's id, and a content hash for delta runs.

An idempotency key names one record of one step of one plan, everywhere: the journal's ledger, logs, error
files and the crosswalk. A batch id names a batch by its step and its records' idempotency keys in order, so a
resumed run that rebuilds the same batch gets the same id and the journal recognises it. Both must be the same
in every process, on every machine and every Python version, so they are BLAKE2b digests of length-prefixed
UTF-8 parts (never ``hash()``, which is salted per process). Length prefixes make the encoding unambiguous:
``("a|b", "c")`` and ``("a", "b|c")`` cannot collide by construction.

Digest sizes: 10 bytes (20 hex characters) for idempotency keys — a collision among ten million records of one
plan has a probability near 4e-11 —, 8 bytes for batch ids and 16 bytes for content hashes.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable

__all__ = ["KEY_BYTES", "batch_id", "content_hash", "idempotency_key", "record_key_function", "stable_digest"]

KEY_BYTES = 10
_PERSON = (
    b"migrator.idem"  # personalisation: these digests never equal another use of BLAKE2b on the same bytes
)


def stable_digest(*parts: str, size: int = KEY_BYTES, person: bytes = b"") -> str:
    """Hex BLAKE2b digest of ``parts``, each UTF-8 encoded and prefixed with its byte length."""
    h = hashlib.blake2b(digest_size=size, person=person)
    for part in parts:
        raw = part.encode("utf-8")
        h.update(len(raw).to_bytes(8, "big"))
        h.update(raw)
    return h.hexdigest()


def idempotency_key(plan: str, step: str, source_key: str | int) -> str:
    """The idempotency key of the record ``source_key`` read by ``step`` of ``plan`` (20 hex characters): the
    same bytes as ``stable_digest(plan, step, key, person=_PERSON)``.

    An integer source key names the same record as its decimal string (``7`` and ``"7"`` give one key), since
    platforms disagree on whether ids are numbers or strings.
    """
    return record_key_function(plan, step)(str(source_key))


@functools.lru_cache(maxsize=64)
def record_key_function(plan: str, step: str) -> Callable[[str], str]:
    """``idempotency_key(plan, step, ·)`` for one step's records, as one fast function of the source key text
    (the engine calls it once per record): a BLAKE2b state that has already taken (plan, step), copied per
    key."""
    if not plan or not step:
        raise ValueError("an idempotency key needs a plan name and a step name")
    h = hashlib.blake2b(digest_size=KEY_BYTES, person=_PERSON)
    for part in (plan, step):
        raw = part.encode("utf-8")
        h.update(len(raw).to_bytes(8, "big"))
        h.update(raw)
    copy = h.copy

    def key(source_key: str) -> str:
        k = copy()
        raw = source_key.encode("utf-8")
        k.update(len(raw).to_bytes(8, "big"))
        k.update(raw)
        return str(k.hexdigest())

    return key


def batch_id(step: str, idem_keys: Iterable[str]) -> str:
    """The stable id of the batch of ``idem_keys`` (in order) in ``step``: 16 hex characters."""
    return stable_digest(step, *idem_keys, size=8, person=b"migrator.batch")


#: the empty state of a content hash, copied per record (cheaper than building one with its parameters)
_CONTENT = hashlib.blake2b(digest_size=16)


def content_hash(encoded: bytes) -> str:
    """Hash of a record's encoded payload (32 hex characters): unchanged content ⇒ unchanged hash."""
    h = _CONTENT.copy()
    h.update(encoded)
    return h.hexdigest()
