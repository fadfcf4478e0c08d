"""Idempotency keys, batch ids and content hashes: fixed, stable across processes, unambiguous."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from migrator.protocol.keys import batch_id, content_hash, idempotency_key, record_key_function, stable_digest


def test_fixed_expected_hex_for_a_fixed_input() -> None:
    assert idempotency_key("acme", "learners", "42") == "9edb5e9ccc9633e6faf7"
    assert content_hash(b"{}") == "2afb9b83f9314e5d029766197f539792"


def test_same_key_in_another_process_with_another_hash_seed() -> None:
    code = "from migrator.protocol.keys import idempotency_key as k; print(k('acme', 'learners', '42'))"
    for seed in ("1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == "9edb5e9ccc9633e6faf7"


def test_int_and_str_source_keys_name_the_same_record() -> None:
    assert idempotency_key("p", "s", 7) == idempotency_key("p", "s", "7")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("p", "s", "1"), ("p", "s", "2")),
        (("p", "s", "1"), ("p", "t", "1")),
        (("p", "s", "1"), ("q", "s", "1")),
        (("a|b", "c", "1"), ("a", "b|c", "1")),  # no separator ambiguity
        (("ab", "c", "1"), ("a", "bc", "1")),
    ],
)
def test_different_parts_give_different_keys(a: tuple[str, str, str], b: tuple[str, str, str]) -> None:
    assert idempotency_key(*a) != idempotency_key(*b)


def test_key_shape_and_unicode() -> None:
    key = idempotency_key("plän", "stép", "ключ")
    assert len(key) == 20
    int(key, 16)
    assert stable_digest("x", size=8) != stable_digest("x", size=8, person=b"other")


def test_empty_plan_or_step_is_refused() -> None:
    with pytest.raises(ValueError, match="plan name and a step"):
        idempotency_key("", "s", "1")


def test_the_engines_key_function_gives_the_same_keys() -> None:
    key = record_key_function("acme", "learners")
    assert key("42") == "9edb5e9ccc9633e6faf7" == idempotency_key("acme", "learners", "42")
    assert [key(s) for s in ("", "é", "a|b")] == [
        idempotency_key("acme", "learners", s) for s in ("", "é", "a|b")
    ]
    assert record_key_function("acme", "other")("42") != key("42")


def test_batch_ids_are_stable_and_depend_on_step_keys_and_order() -> None:
    assert batch_id("s", ["a", "b"]) != batch_id("t", ["a", "b"])
    assert batch_id("s", ["a", "b"]) != batch_id("s", ["b", "a"])
    assert batch_id("s", ["ab"]) != batch_id("s", ["a", "b"])
    assert batch_id("s", ["a", "b"]) == "1b39c532527ebf8f"  # fixed: a resumed run in a new process agrees
