"""A change set: what a run of a plan will do, as ``migrator preview`` found it, for a person to approve (pure).

A change set names the plan by its hash (``run.plan_hash``: what the plan writes, not its formatting nor its
limits) and holds, per step, the records the run would create, update, leave unchanged, link (a create-only
step's records the target already has) and reject, the fields its updates change (how many records each), a
sample of values before → after, the records a person should look at (``invalid``: those the run would reject,
with their reasons, and those it would write but that look wrong — a match value the source holds twice, a
malformed e-mail address), the writes of a state onto records an earlier step creates (``after_create``:
whether the run sends them depends on the state the platform gives a record it creates, which no document
states), the step limit its counts would trip, and the requests and time the run would cost
under its budgets.

``migrator run --approved CHANGESET`` previews again and compares (:func:`differences`): the plan's hash must
be the approved one, and each step's figures — created, updated, unchanged, linked and rejected, each apart
(a run tells a merge's or an upsert's creates from its updates by the target's values it read, as the preview
does), and the writes of a state onto records an earlier step creates, by the state they want — may differ
from the approved ones by at most the plan's ``[plan] approval_tolerance``: a count
(``10``: ten records either way) or a percentage of the step's records as approved (``"2%"``); without it, not
at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec

from migrator.runtime.breakers import parse_limit

__all__ = [
    "COMPARED",
    "ChangeSet",
    "Invalid",
    "SampleChange",
    "StepChange",
    "Tolerance",
    "decode_change_set",
    "differences",
    "encode_change_set",
    "totals",
]

#: the figures an approval compares, per step
COMPARED = ("created", "updated", "unchanged", "linked", "rejected")


class SampleChange(msgspec.Struct, frozen=True):
    """One record as the run would write it: per field, its value on the target before (None for a create)
    and after."""

    source_key: str
    action: str
    changes: dict[str, tuple[object, object]]


class Invalid(msgspec.Struct, frozen=True):
    """A record to look at: ``rejected`` (the run would refuse it) or ``suspect`` (it would write it)."""

    source_key: str
    kind: str
    reason: str


class StepChange(msgspec.Struct, frozen=True):
    """One step's figures (see the module)."""

    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    linked: int = 0
    rejected: int = 0
    skipped: int = 0
    excluded: int = 0
    #: writes of a state onto records an earlier step creates, by the state they want (``field=value``): the
    #: run leaves unchanged (linked) those the platform creates in that state and updates the others — which
    #: state that is, no document says, so the preview counts them here rather than guess
    after_create: dict[str, int] = {}
    #: the same writes onto records an earlier step merges into, by the state wanted and whether the record
    #: holds it before the merge (``held``, ``other``): linked where the merge leaves it in the state wanted
    after_merge: dict[str, int] = {}
    status: str = "done"
    error: str = ""
    fields: dict[str, int] = {}
    samples: list[SampleChange] = []
    invalid: list[Invalid] = []
    breach: str = ""
    requests: int | None = None
    seconds: float | None = None

    def figure(self, name: str) -> int:
        value: int = getattr(self, name)
        return value


class ChangeSet(msgspec.Struct, frozen=True):
    """What a run of plan ``plan`` (hash ``plan_hash``) will do, found at ``previewed_at`` (epoch seconds)."""

    plan: str
    plan_hash: str
    previewed_at: float
    steps: dict[str, StepChange]
    tolerance: str = "0"
    requests: int | None = None
    seconds: float | None = None


class Tolerance(msgspec.Struct, frozen=True):
    """How far a figure may be from the approved one: ``count`` records, or ``percent`` of the step's records
    (read) as approved."""

    count: int | None = None
    percent: float | None = None

    @classmethod
    def of(cls, value: int | str | None) -> Tolerance:
        """From the plan's ``approval_tolerance`` (None: exact); ValueError says what is wrong."""
        if value is None:
            return cls(count=0)
        count, percent = parse_limit(value)
        return cls(count, percent)

    def allowed(self, records: int) -> int:
        if self.count is not None:
            return self.count
        assert self.percent is not None
        return math.floor(self.percent * records / 100.0)

    def __str__(self) -> str:
        return f"{self.count}" if self.count is not None else f"{self.percent:g}%"


def differences(approved: ChangeSet, found: ChangeSet, tolerance: Tolerance) -> list[str]:
    """Why ``found`` does not hold what ``approved`` said, one line each (empty: it holds)."""
    if approved.plan_hash != found.plan_hash:
        return [
            f"the plan changed since its change set was approved (hash {approved.plan_hash}, now "
            f"{found.plan_hash})"
        ]
    out: list[str] = []
    for name in sorted(set(approved.steps) | set(found.steps)):
        was, now = approved.steps.get(name), found.steps.get(name)
        if was is None or now is None:
            out.append(f"step {name}: {'not in the approved change set' if was is None else 'not run now'}")
            continue
        allowed = tolerance.allowed(was.read)
        for figure in COMPARED:
            before, after = was.figure(figure), now.figure(figure)
            if abs(after - before) > allowed:
                out.append(
                    f"step {name}: {after:,} records {figure}, approved {before:,} "
                    f"(tolerance {tolerance}: {allowed:,} records)"
                )
        for what, old, new in (
            ("create", was.after_create, now.after_create),
            ("merge", was.after_merge, now.after_merge),
        ):
            for state in sorted(set(old) | set(new)):
                before, after = old.get(state, 0), new.get(state, 0)
                if abs(after - before) > allowed:
                    out.append(
                        f"step {name}: {after:,} records set to {state} after their {what}, approved "
                        f"{before:,} (tolerance {tolerance}: {allowed:,} records)"
                    )
    return out


def encode_change_set(change_set: ChangeSet) -> bytes:
    return msgspec.json.format(msgspec.json.encode(change_set), indent=2) + b"\n"


def decode_change_set(content: bytes, where: str) -> ChangeSet:
    """A change set from its JSON; ValueError naming ``where`` and what is wrong."""
    try:
        return msgspec.json.decode(content, type=ChangeSet)
    except msgspec.DecodeError as error:
        raise ValueError(f"{where} is not a change set written by `migrator preview` ({error})") from None


def totals(steps: Mapping[str, StepChange]) -> dict[str, int]:
    """The figures summed over ``steps``."""
    keys = ("read", "created", "updated", "unchanged", "linked", "rejected")
    return {k: sum(s.figure(k) for s in steps.values()) for k in keys}
