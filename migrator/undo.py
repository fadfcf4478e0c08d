"""What ``migrator undo`` does to reverse one run, worked out from the journal alone (pure, no I/O).

A run's effects are the records it wrote last (``Journal.run_effects``; a load killed and resumed is its runs
together, each record with its pre-image from the first of them). Each becomes a *reversal* or a line of what
cannot be undone:

- a record the run created — its pre-image says the target did not hold it (also when a resumed run found it
  there, in doubt, and linked it), or, without a pre-image, the ledger says *created* —
  is **removed** by the platform's reversal calls (``UndoWriter.removal`` says how, what remains of it, or
  why it cannot be);
- a record the run updated is **restored** from its pre-image (the values of the step's mapped fields the
  target held before the run wrote), through the step's own idempotent writer or the entity's update; a
  record updated without a pre-image (the step could not read the target's values, or several target
  records held its match value) cannot be restored;
- a state a create-only step wrote to a record that was there (``StepTarget.state_before``: Velpic user
  status, sent only to a user in the other status) is **restored** to the state its match value says the
  record held;
- an unchanged record needs nothing.

Records that reach the same target record (the source held its match value twice) make one reversal; a
removal wins over a restore, and a record another step removes (a Velpic user whose status a later step set)
needs neither a restore nor a line of what cannot be undone. Reversals run in the reverse of the plan's step
order (memberships before the groups and users they join). A reversal a previous undo of the run finished is
not made again; one it left in doubt (*sent*) or that failed is made again: every reversal call is safe to
repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from migrator.connectors.base import Removal
from migrator.errors import MigratorError
from migrator.journal import RunEffect, UndoMark

__all__ = ["NotUndone", "Reversal", "StepTarget", "UndoPlan", "UndoRefused", "plan_undo"]

Kind = Literal["remove", "restore"]


class UndoRefused(MigratorError):
    """An undo that must not start (another run's accounts, a run a later one wrote over, no such run)."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class StepTarget:
    """Where a step writes: its target connection, platform and entity, whether it can restore a record's
    values (its writer resends safely, or the entity has an update), ``records``: the entity whose records
    those are (itself, or the one read from the same list: Velpic ``user_status`` is a ``user``), and
    ``state_before`` (see below)."""

    step: str
    connection: str
    platform: str
    entity: str
    can_restore: bool
    records: str = ""
    #: a step that writes one of two states (``StateWriter``): the fields that put back what a record held
    #: before a write with a match value
    state_before: Callable[[str], Mapping[str, Any] | None] | None = None

    def record(self, target_id: str) -> tuple[str, str, str]:
        """The target record ``target_id`` of this step, as any step writing it names it."""
        return (self.connection, self.records or self.entity, target_id)


@dataclass(frozen=True, slots=True)
class Reversal:
    """One target record to put back: removed (``how`` says what its calls do and ``left`` what remains of
    it) or restored to ``image`` (found by ``match_value`` for an upsert)."""

    step: str
    target_id: str
    kind: Kind
    source_keys: tuple[str, ...]
    how: str
    left: str = ""
    image: Mapping[str, Any] | None = None
    match_value: str | None = None


@dataclass(frozen=True, slots=True)
class NotUndone:
    """A record the undo leaves as the run made it, and why."""

    step: str
    source_key: str
    target_id: str | None
    reason: str


@dataclass(slots=True)
class UndoPlan:
    """The reversals still to make (in order), those a previous undo finished, and what cannot be undone."""

    run_id: int
    reversals: list[Reversal] = field(default_factory=list)
    finished: list[Reversal] = field(default_factory=list)
    cannot: list[NotUndone] = field(default_factory=list)

    def remains(self) -> dict[tuple[str, str], int]:
        """(step, what remains of a removed record) → how many reversals leave it (the plan lists them)."""
        out: dict[tuple[str, str], int] = {}
        for r in (*self.reversals, *self.finished):
            if r.left:
                out[(r.step, r.left)] = out.get((r.step, r.left), 0) + 1
        return out


def plan_undo(
    run_id: int,
    steps: Sequence[StepTarget],
    effects: Sequence[RunEffect],
    removal: Callable[[str, str], Removal | str],
    marks: Mapping[tuple[str, str], UndoMark],
) -> UndoPlan:
    """The undo of run ``run_id``: ``steps`` in the plan's order, the run's ``effects``, ``removal(platform,
    entity)`` (how a created record is removed, or why it cannot be) and the ``marks`` of earlier undos."""
    by_step = {s.step: s for s in steps}
    plan = UndoPlan(run_id)
    chosen: dict[tuple[str, str], Reversal] = {}
    for effect in effects:
        target = by_step.get(effect.step)
        if target is None:
            plan.cannot.append(
                NotUndone(
                    effect.step, effect.source_key, effect.target_id, "the plan has no such step any more"
                )
            )
            continue
        outcome = _reverse(target, effect, removal)
        if isinstance(outcome, NotUndone):
            plan.cannot.append(outcome)
            continue
        if outcome is None:
            continue
        key = (outcome.step, outcome.target_id)
        was = chosen.get(key)
        if was is None:
            chosen[key] = outcome
        elif was.kind == "restore" and outcome.kind == "remove":
            chosen[key] = _joined(outcome, was.source_keys)
        else:
            chosen[key] = _joined(was, outcome.source_keys)
    gone = {by_step[r.step].record(r.target_id) for r in chosen.values() if r.kind == "remove"}

    def removed(step: str, target_id: str | None, kind: str = "") -> bool:
        return kind != "remove" and target_id is not None and by_step[step].record(target_id) in gone

    plan.cannot = [c for c in plan.cannot if c.step not in by_step or not removed(c.step, c.target_id)]
    chosen = {k: r for k, r in chosen.items() if not removed(r.step, r.target_id, r.kind)}
    order = {s.step: i for i, s in enumerate(steps)}
    for reversal in sorted(chosen.values(), key=lambda r: (-order[r.step], r.target_id)):
        mark = marks.get((reversal.step, reversal.target_id))
        (plan.finished if mark is not None and mark.state == "done" else plan.reversals).append(reversal)
    return plan


def _joined(reversal: Reversal, more: tuple[str, ...]) -> Reversal:
    keys = tuple(dict.fromkeys((*reversal.source_keys, *more)))
    return Reversal(
        reversal.step,
        reversal.target_id,
        reversal.kind,
        keys,
        reversal.how,
        reversal.left,
        reversal.image,
        reversal.match_value,
    )


def _reverse(
    target: StepTarget, effect: RunEffect, removal: Callable[[str, str], Removal | str]
) -> Reversal | NotUndone | None:
    """One record's reversal, what keeps it from one, or None (nothing to undo)."""
    # not on the target before the run: created by it, whatever a resumed run's lookup later called it
    created = effect.image is None if effect.pre_image_saved else effect.action == "created"
    if effect.action == "unchanged" and not created:
        return None

    def cannot(reason: str) -> NotUndone:
        return NotUndone(effect.step, effect.source_key, effect.target_id, reason)

    if effect.target_id is None:
        return cannot(
            "the journal has no target id for it (the target did not say): find it on the target by hand"
        )
    if created and target.state_before is not None:  # a state written to a record that was there
        image = target.state_before(effect.match_value) if effect.match_value else None
        if image is None or not target.can_restore:
            return cannot(f"the journal does not say what {target.platform} {target.entity} it held before")
        return Reversal(
            effect.step,
            effect.target_id,
            "restore",
            (effect.source_key,),
            f"restored ({', '.join(f'{k} {v}' for k, v in sorted(image.items()))})",
            image=image,
            match_value=effect.match_value,
        )
    if created:
        how = removal(target.platform, target.entity)
        if isinstance(how, str):
            return cannot(how)
        return Reversal(effect.step, effect.target_id, "remove", (effect.source_key,), how.effect, how.left)
    if not effect.pre_image_saved:
        return cannot(
            "updated without its values from before the run (the step could not read the target's values of "
            f"{target.entity}, or several target records held its match value)"
        )
    if not target.can_restore:
        return cannot(f"{target.platform} {target.entity} has no write that restores a record's values")
    assert effect.image is not None
    if not effect.image:
        return cannot("the target returned none of the step's fields for it before the run: nothing to restore")
    return Reversal(
        effect.step,
        effect.target_id,
        "restore",
        (effect.source_key,),
        f"restored ({', '.join(sorted(effect.image))})",
        image=effect.image,
        match_value=effect.match_value,
    )
