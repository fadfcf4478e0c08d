"""Batching by count and bytes, with keys kept and stable batch ids."""

from __future__ import annotations

import orjson
import pytest

from migrator.protocol.batching import Batcher, Item, batch_id, batches, make_item
from migrator.protocol.keys import content_hash, idempotency_key


def item(i: int, size: int = 10) -> Item:
    encoded = b"x" * size
    return Item(idempotency_key("p", "s", i), str(i), {"i": i}, encoded, content_hash(encoded))


@pytest.mark.parametrize(
    ("n", "max_count", "sizes"),
    [(0, 3, []), (1, 3, [1]), (3, 3, [3]), (7, 3, [3, 3, 1]), (9, 3, [3, 3, 3]), (5, 1, [1, 1, 1, 1, 1])],
)
def test_batches_by_count(n: int, max_count: int, sizes: list[int]) -> None:
    out = list(batches("s", (item(i) for i in range(n)), max_count=max_count))
    assert [len(b) for b in out] == sizes
    assert [it.source_key for b in out for it in b.items] == [str(i) for i in range(n)]


@pytest.mark.parametrize(
    # items of 10 bytes: a batch of k is 2 + 10k + (k - 1) bytes as a JSON array → 1: 12, 2: 23, 3: 34
    ("max_bytes", "sizes"),
    [(12, [1] * 5), (22, [1] * 5), (23, [2, 2, 1]), (34, [3, 2]), (10_000, [5])],
)
def test_batches_by_bytes(max_bytes: int, sizes: list[int]) -> None:
    out = list(batches("s", (item(i) for i in range(5)), max_count=100, max_bytes=max_bytes))
    assert [len(b) for b in out] == sizes
    assert all(b.nbytes <= max_bytes for b in out)
    assert not any(b.oversize for b in out)


def test_nbytes_is_the_size_of_the_joined_json_array() -> None:
    its = [make_item(idempotency_key("p", "s", i), str(i), {"n": i, "x": "é"}, orjson.dumps) for i in range(4)]
    (b,) = batches("s", its, max_count=10)
    body = b"[" + b",".join(i.encoded for i in b.items) + b"]"
    assert b.nbytes == len(body)
    assert orjson.loads(body) == [{"n": i, "x": "é"} for i in range(4)]


def test_count_and_bytes_together() -> None:
    out = list(batches("s", (item(i) for i in range(10)), max_count=4, max_bytes=34))
    assert [len(b) for b in out] == [3, 3, 3, 1]


def test_a_record_larger_than_max_bytes_goes_alone_flagged_oversize() -> None:
    its = [item(0), item(1, size=100), item(2)]
    out = list(batches("s", its, max_count=10, max_bytes=30))
    assert [len(b) for b in out] == [1, 1, 1]
    assert [b.oversize for b in out] == [False, True, False]


def test_items_keep_their_keys_and_payload() -> None:
    it = make_item("k1", "src-1", {"a": 1}, orjson.dumps, match_value="a@example.com")
    assert (it.idem_key, it.source_key, it.payload, it.encoded) == ("k1", "src-1", {"a": 1}, b'{"a":1}')
    assert it.content_hash == content_hash(b'{"a":1}')
    assert it.match_value == "a@example.com"
    (b,) = batches("s", [it], max_count=5)
    assert b.items == (it,)


def test_batch_ids_are_stable_and_depend_on_step_keys_and_order() -> None:
    first = [b.batch_id for b in batches("s", (item(i) for i in range(10)), max_count=4)]
    again = [b.batch_id for b in batches("s", (item(i) for i in range(10)), max_count=4)]
    assert first == again
    assert len(set(first)) == 3
    assert batch_id("s", ["a", "b"]) != batch_id("t", ["a", "b"])
    assert batch_id("s", ["a", "b"]) != batch_id("s", ["b", "a"])
    assert batch_id("s", ["ab"]) != batch_id("s", ["a", "b"])
    assert batch_id("s", ["a", "b"]) == "1b39c532527ebf8f"  # fixed: a resumed run in a new process agrees


def test_batcher_add_and_flush() -> None:
    batcher = Batcher("s", max_count=2)
    assert batcher.add(item(0)) is None
    full = batcher.add(item(1))
    assert full is not None
    assert [i.source_key for i in full.items] == ["0", "1"]
    assert batcher.add(item(2)) is None
    assert len(batcher) == 1
    rest = batcher.flush()
    assert rest is not None
    assert [i.source_key for i in rest.items] == ["2"]
    assert batcher.flush() is None


@pytest.mark.parametrize(("count", "nbytes"), [(0, None), (1, 2)])
def test_bad_limits_are_refused(count: int, nbytes: int | None) -> None:
    with pytest.raises(ValueError, match="'s'"):
        Batcher("s", max_count=count, max_bytes=nbytes)
