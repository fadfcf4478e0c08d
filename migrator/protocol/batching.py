"""Batching: group mapped records into write batches, bounded by record count and by encoded bytes.

Each :class:`Item` keeps its source key, idempotency key, payload and encoded bytes together, so per-row
results can be mapped back and the transport can join the encoded bodies without encoding twice
(``b"[" + b",".join(item.encoded for item in batch.items) + b"]"``).

A batch's id is a digest of its step and its records' idempotency keys in order: a resumed run that rebuilds
the same batch gets the same id, and the journal recognises it. The byte size of a batch is counted as a JSON
array of the encoded records (brackets and commas included). A single record larger than ``max_bytes`` cannot
be split: it goes alone in a batch of one with ``oversize=True``, and the target decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from migrator.protocol.keys import content_hash, stable_digest

__all__ = ["Batch", "Batcher", "Item", "batch_id", "batches", "make_item"]

_ARRAY_BYTES = 2  # "[" and "]"
_SEPARATOR_BYTES = 1  # ","


@dataclass(frozen=True, slots=True)
class Item:
    """One mapped record on its way to the target."""

    idem_key: str
    source_key: str
    payload: Any
    encoded: bytes
    content_hash: str | None = None
    match_value: str | None = None

    @property
    def size(self) -> int:
        return len(self.encoded)


def make_item(
    idem_key: str,
    source_key: str,
    payload: Any,
    encode: Callable[[Any], bytes],
    *,
    match_value: str | None = None,
) -> Item:
    """An :class:`Item` with its payload encoded once by ``encode`` (e.g. ``orjson.dumps``) and hashed."""
    encoded = encode(payload)
    return Item(idem_key, source_key, payload, encoded, content_hash(encoded), match_value)


@dataclass(frozen=True, slots=True)
class Batch:
    batch_id: str
    step: str
    items: tuple[Item, ...]
    nbytes: int
    oversize: bool = False

    def __len__(self) -> int:
        return len(self.items)


def batch_id(step: str, idem_keys: Iterable[str]) -> str:
    """The stable id of the batch of ``idem_keys`` (in order) in ``step``: 16 hex characters."""
    return stable_digest(step, *idem_keys, size=8, person=b"migrator.batch")


class Batcher:
    """Accumulates items; :meth:`add` returns a full batch when the next item would not fit, :meth:`flush`
    returns the rest. Keeps at most one batch of items in memory."""

    def __init__(self, step: str, *, max_count: int, max_bytes: int | None = None) -> None:
        if max_count < 1:
            raise ValueError(f"step {step!r}: batch size must be at least 1 record; got {max_count}")
        if max_bytes is not None and max_bytes < _ARRAY_BYTES + 1:
            raise ValueError(f"step {step!r}: max_bytes must be at least 3; got {max_bytes}")
        self.step = step
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._items: list[Item] = []
        self._nbytes = _ARRAY_BYTES

    def add(self, item: Item) -> Batch | None:
        """Add ``item``; if it does not fit in the current batch, return that batch and start a new one."""
        out: Batch | None = None
        if self._items and not self._fits(item):
            out = self._cut()
        self._items.append(item)
        self._nbytes += item.size + (_SEPARATOR_BYTES if len(self._items) > 1 else 0)
        if len(self._items) >= self.max_count and out is None:
            out = self._cut()
        return out

    def flush(self) -> Batch | None:
        """The items gathered so far as a batch, or ``None`` when there are none."""
        return self._cut() if self._items else None

    def __len__(self) -> int:
        return len(self._items)

    def _fits(self, item: Item) -> bool:
        if len(self._items) >= self.max_count:
            return False
        return self.max_bytes is None or self._nbytes + _SEPARATOR_BYTES + item.size <= self.max_bytes

    def _cut(self) -> Batch:
        items = tuple(self._items)
        nbytes = self._nbytes
        self._items = []
        self._nbytes = _ARRAY_BYTES
        oversize = self.max_bytes is not None and nbytes > self.max_bytes
        return Batch(batch_id(self.step, (i.idem_key for i in items)), self.step, items, nbytes, oversize)


def batches(
    step: str, items: Iterable[Item], *, max_count: int, max_bytes: int | None = None
) -> Iterator[Batch]:
    """Every batch of ``items``, in order (the pure, iterator form of :class:`Batcher`)."""
    batcher = Batcher(step, max_count=max_count, max_bytes=max_bytes)
    for item in items:
        full = batcher.add(item)
        if full is not None:
            yield full
    rest = batcher.flush()
    if rest is not None:
        yield rest
