"""In-doubt batches: resend, look up, or leave to a person; and reconciliation of a lookup."""

from __future__ import annotations

import pytest

from migrator.protocol.indoubt import (
    InDoubtRecord,
    LookUp,
    Resend,
    Unresolvable,
    reconcile,
    resolve_in_doubt,
)

A = InDoubtRecord("k1", "1", "a@x.org")
B = InDoubtRecord("k2", "2", "b@x.org")
C = InDoubtRecord("k3", "3", None)
D = InDoubtRecord("k4", "4", "")


@pytest.mark.parametrize("mode", ["bulk", "upsert", "update"])
def test_idempotent_modes_resend_everything(mode: str) -> None:
    assert resolve_in_doubt(mode, [A, B, C], match_field="email") == [Resend((A, B, C))]


def test_create_looks_records_up_by_match_key() -> None:
    assert resolve_in_doubt("create", [A, B], match_field="email") == [LookUp("email", (A, B))]


def test_create_records_without_a_match_value_are_unresolvable() -> None:
    out = resolve_in_doubt("create", [A, C, D], match_field="email")
    assert out[0] == LookUp("email", (A,))
    assert isinstance(out[1], Unresolvable)
    assert out[1].records == (C, D)
    assert "'email'" in out[1].reason


def test_create_without_match_key_is_unresolvable_with_advice() -> None:
    (out,) = resolve_in_doubt("create", [A, B], match_field=None)
    assert isinstance(out, Unresolvable)
    assert out.records == (A, B)
    assert "match" in out.reason


def test_empty_batch_needs_nothing() -> None:
    assert resolve_in_doubt("create", [], match_field="email") == []


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown write mode 'merge'"):
        resolve_in_doubt("merge", [A])


@pytest.mark.parametrize(
    ("found", "existing", "missing", "ambiguous"),
    [
        ({}, [], ["k1", "k2"], []),
        ({"a@x.org": ["T1"]}, [("k1", "T1")], ["k2"], []),
        ({"a@x.org": ["T1"], "b@x.org": ["T2"]}, [("k1", "T1"), ("k2", "T2")], [], []),
        ({"a@x.org": ["T1", "T9"]}, [], ["k2"], [("k1", ("T1", "T9"))]),
        ({"a@x.org": ["T1", "T1"]}, [("k1", "T1")], ["k2"], []),  # the same id twice is one record
        ({"b@x.org": []}, [], ["k1", "k2"], []),
    ],
)
def test_reconcile(
    found: dict[str, list[str]],
    existing: list[tuple[str, str]],
    missing: list[str],
    ambiguous: list[tuple[str, tuple[str, ...]]],
) -> None:
    out = reconcile([A, B], found)
    assert [(r.idem_key, t) for r, t in out.existing] == existing
    assert [r.idem_key for r in out.missing] == missing
    assert [(r.idem_key, ids) for r, ids in out.ambiguous] == ambiguous


def test_reconcile_with_case_insensitive_matching() -> None:
    assert reconcile([A], {"A@X.ORG": ["T1"]}).missing == (A,)
    out = reconcile([A], {"A@X.ORG": ["T1"]}, normalize=str.casefold)
    assert out.existing == ((A, "T1"),)
