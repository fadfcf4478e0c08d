"""In-doubt batches: what to do with a batch the journal has as *sent* but not *done*.

The request may have reached the target (and the response been lost), or not. Pure decisions:

- ``bulk`` (a merge on a key, e.g. Velpic ``bulkUserImport`` with ``mergeType``), ``upsert`` and ``update``
  are idempotent: sending the same records again leaves the target as one send would → :class:`Resend`.
- ``create`` is not: its records are first looked up on the target by the match key → :class:`LookUp`; the
  lookup answer goes through :func:`reconcile`, which splits the records into those that already exist (their
  target ids go to the crosswalk, nothing is sent), those missing (created now) and those that cannot be
  settled automatically (several target records match; or no match key) — those become dead letters with a
  reason a person can act on, rather than risk a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "IDEMPOTENT_MODES",
    "InDoubtRecord",
    "LookUp",
    "Reconciled",
    "Resend",
    "Resolution",
    "Unresolvable",
    "WriteMode",
    "reconcile",
    "resolve_in_doubt",
]

WriteMode = Literal["bulk", "upsert", "create", "update"]
IDEMPOTENT_MODES: Final[frozenset[str]] = frozenset({"bulk", "upsert", "update"})


@dataclass(frozen=True, slots=True)
class InDoubtRecord:
    """One record of an in-doubt batch: its keys and, for ``create``, the value of its match field."""

    idem_key: str
    source_key: str
    match_value: str | None = None


@dataclass(frozen=True, slots=True)
class Resend:
    """Send these records again as they are (the write is idempotent)."""

    records: tuple[InDoubtRecord, ...]


@dataclass(frozen=True, slots=True)
class LookUp:
    """Look these records up on the target by ``match_field`` (``match_value``), then :func:`reconcile`."""

    match_field: str
    records: tuple[InDoubtRecord, ...]


@dataclass(frozen=True, slots=True)
class Unresolvable:
    """Records that cannot be settled automatically, with the reason (for their dead letters)."""

    reason: str
    records: tuple[InDoubtRecord, ...]


Resolution = Resend | LookUp | Unresolvable


def resolve_in_doubt(
    mode: str, records: Iterable[InDoubtRecord], *, match_field: str | None = None
) -> list[Resolution]:
    """The actions that settle the in-doubt ``records`` of one batch written in ``mode`` (no empty ones)."""
    recs = tuple(records)
    if not recs:
        return []
    if mode in IDEMPOTENT_MODES:
        return [Resend(recs)]
    if mode != "create":
        raise ValueError(f"unknown write mode {mode!r}; expected bulk, upsert, create or update")
    if not match_field:
        return [
            Unresolvable(
                "in doubt after an interrupted create, and the step has no match key to look records up with: "
                "check the target for these records, then add `match` to the step's write and run again",
                recs,
            )
        ]
    with_value = tuple(r for r in recs if r.match_value not in (None, ""))
    without = tuple(r for r in recs if r.match_value in (None, ""))
    out: list[Resolution] = []
    if with_value:
        out.append(LookUp(match_field, with_value))
    if without:
        out.append(
            Unresolvable(
                f"in doubt after an interrupted create, and the record has no value for the match field "
                f"{match_field!r}: check the target for it by hand",
                without,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Reconciled:
    """The outcome of looking an in-doubt create batch up on the target."""

    existing: tuple[tuple[InDoubtRecord, str], ...]  # (record, its target id): done, nothing to send
    missing: tuple[InDoubtRecord, ...]  # not on the target: create them
    ambiguous: tuple[tuple[InDoubtRecord, tuple[str, ...]], ...]  # several matches: dead letter


def reconcile(
    records: Sequence[InDoubtRecord],
    found: Mapping[str, Sequence[str]],
    *,
    normalize: Callable[[str], str] | None = None,
) -> Reconciled:
    """Split ``records`` by what a lookup ``found``: match value → target ids of the records having it.

    ``normalize`` makes the comparison match the target's (e.g. ``str.casefold`` where the platform compares
    strings without case, as accessplanit's ``$filter`` does). Records without a match value count as missing
    only if the caller chose to send them; :func:`resolve_in_doubt` never puts them in a :class:`LookUp`.
    """
    norm = normalize or (lambda s: s)
    index: dict[str, list[str]] = {}
    for value, ids in found.items():
        bucket = index.setdefault(norm(value), [])
        for target_id in ids:
            if target_id not in bucket:
                bucket.append(target_id)
    existing: list[tuple[InDoubtRecord, str]] = []
    missing: list[InDoubtRecord] = []
    ambiguous: list[tuple[InDoubtRecord, tuple[str, ...]]] = []
    for rec in records:
        ids = index.get(norm(rec.match_value), []) if rec.match_value is not None else []
        if not ids:
            missing.append(rec)
        elif len(ids) == 1:
            existing.append((rec, ids[0]))
        else:
            ambiguous.append((rec, tuple(ids)))
    return Reconciled(tuple(existing), tuple(missing), tuple(ambiguous))
