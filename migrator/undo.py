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
  mapped field the target did not return is named as not restored (the restore cannot clear or put it back);
  a record updated without a pre-image (the step could not read the target's values, or several target
  records held its match value) cannot be restored;
- a state a create-only step wrote to a record that was there (``StepTarget.state_before``: Velpic user
  status, sent only to a user in the other status) is **restored** to the state its match value says the
  record held;
- a record's state (``StepTarget.state_fields``) goes back to the earliest pre-image of the run that holds
  it, the state before the run, whichever step changed it: an earlier step's write may change it as a side
  effect (Velpic ``bulkUserImport`` may reactivate a leaver it merges into, and the status step then finds
  it Active), so every record such a step updated gets a state restore (looked up first: one already so
  costs no call), made after the record's values are restored and made again whenever they are; a record
  whose pre-image holds no state (a journal from before they did) goes back to what the state step's match
  value says, or, when that step did not write it, is listed as not undone;
- an unchanged record needs nothing.

Records that reach the same target record (the source held its match value twice) make one reversal; a
removal wins over a restore, and a record another step removes (a Velpic user whose status a later step set)
needs neither a restore nor a line of what cannot be undone. Reversals run in the reverse of the plan's step
order (memberships before the groups and users they join), states last. A reversal a previous undo of the
run finished is not made again; one it left in doubt (*sent*) or that failed is made again: every reversal
call is safe to repeat.
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
    those are (itself, or the one read from the same list: Velpic ``user_status`` is a ``user``), ``fields``:
    the fields it writes that the target returns (a restore names those a pre-image lacks), and
    ``state_before`` and ``state_fields`` (see below)."""

    step: str
    connection: str
    platform: str
    entity: str
    can_restore: bool
    records: str = ""
    #: a step that writes one of two states (``StateWriter``): the fields that put back what a record held
    #: before a write with a match value
    state_before: Callable[[str], Mapping[str, Any] | None] | None = None
    fields: tuple[str, ...] = ()
    #: a step that writes one of two states: the fields of that state (Velpic ``clientStatusId``), which the
    #: other steps writing its records keep in their pre-images (``runtime.states``)
    state_fields: tuple[str, ...] = ()

    def record(self, target_id: str) -> tuple[str, str, str]:
        """The target record ``target_id`` of this step, as any step writing it names it."""
        return (self.connection, self.records or self.entity, target_id)

    def sets_state_of(self, other: StepTarget) -> bool:
        """Whether this is a state step writing the records ``other`` writes (and not ``other`` itself)."""
        return bool(self.state_fields) and other.step != self.step and self.record("") == other.record("")


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

    def remains(self) -> dict[tuple[str, Kind, str], int]:
        """(step, reversal, what remains of a record removed or restored in part) → how many reversals leave
        it (the plan lists them)."""
        out: dict[tuple[str, Kind, str], int] = {}
        for r in (*self.reversals, *self.finished):
            if r.left:
                out[(r.step, r.kind, r.left)] = out.get((r.step, r.kind, r.left), 0) + 1
        return out


@dataclass(frozen=True, slots=True)
class _State:
    """A record's state as the earliest pre-image of the run that holds it shows it (before the run)."""

    rank: int  # the plan order of the step whose pre-image it is
    source_key: str
    image: Mapping[str, Any] | None  # None: that pre-image holds no state (a journal from before they did)
    by: str  # that step


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
    order = {s.step: i for i, s in enumerate(steps)}
    plan = UndoPlan(run_id)
    chosen: dict[tuple[str, str], Reversal] = {}

    def choose(outcome: Reversal) -> None:
        key = (outcome.step, outcome.target_id)
        was = chosen.get(key)
        if was is None:
            chosen[key] = outcome
        elif was.kind == "restore" and outcome.kind == "remove":
            chosen[key] = _joined(outcome, was.source_keys)
        else:
            chosen[key] = _joined(was, outcome.source_keys)

    for effect in effects:
        target = by_step.get(effect.step)
        if target is None:
            plan.cannot.append(
                NotUndone(
                    effect.step, effect.source_key, effect.target_id, "the plan has no such step any more"
                )
            )
            continue
        states = tuple(f for s in steps if s.sets_state_of(target) for f in s.state_fields)
        outcome = _reverse(target, effect, removal, states)
        if isinstance(outcome, NotUndone):
            plan.cannot.append(outcome)
        elif outcome is not None:
            choose(outcome)
    for (step, target_id), state in _states_before(steps, effects, order).items():
        target, key = by_step[step], (step, target_id)
        was = chosen.get(key)
        if state.image is None:  # what the earlier write may have changed is not known
            if was is None:
                plan.cannot.append(
                    NotUndone(
                        step,
                        state.source_key,
                        target_id,
                        f"step {state.by} wrote to it and may have changed its "
                        f"{', '.join(target.state_fields)} (the journal does not say what it held before the "
                        "run): check it on the target",
                    )
                )
        elif not target.can_restore:
            plan.cannot.append(
                NotUndone(
                    step,
                    state.source_key,
                    target_id,
                    f"{target.platform} {target.entity} has no write that restores a record's values",
                )
            )
        elif was is None or was.kind == "restore":  # the state before the run, whichever step changed it
            keys = (state.source_key,) if was is None else was.source_keys
            chosen[key] = _state_restore(step, target_id, keys, state.image)
    # a state step's record it could not say the state of before, now known from an earlier pre-image
    plan.cannot = [c for c in plan.cannot if not _state_known(c, by_step, chosen)]
    gone = {by_step[r.step].record(r.target_id) for r in chosen.values() if r.kind == "remove"}

    def removed(step: str, target_id: str | None, kind: str = "") -> bool:
        return kind != "remove" and target_id is not None and by_step[step].record(target_id) in gone

    plan.cannot = [c for c in plan.cannot if c.step not in by_step or not removed(c.step, c.target_id)]
    chosen = {k: r for k, r in chosen.items() if not removed(r.step, r.target_id, r.kind)}

    def of_state(r: Reversal) -> bool:
        return bool(by_step[r.step].state_fields) and r.kind == "restore"

    def done(r: Reversal) -> bool:
        mark = marks.get((r.step, r.target_id))
        return mark is not None and mark.state == "done"

    # a state goes back last: a restore of the record's values (Velpic: through the import) may change it
    ordered = sorted(chosen.values(), key=lambda r: (of_state(r), -order[r.step], r.target_id))
    pending = {by_step[r.step].record(r.target_id) for r in ordered if not of_state(r) and not done(r)}
    for reversal in ordered:
        again = of_state(reversal) and by_step[reversal.step].record(reversal.target_id) in pending
        (plan.finished if done(reversal) and not again else plan.reversals).append(reversal)
    return plan


def _states_before(
    steps: Sequence[StepTarget], effects: Sequence[RunEffect], order: Mapping[str, int]
) -> dict[tuple[str, str], _State]:
    """(state step, target id) → the record's state before the run: from the earliest pre-image of an earlier
    step writing its records (a step's write may change the state as a side effect: Velpic
    ``bulkUserImport`` may reactivate a leaver it merges into)."""
    by_step = {s.step: s for s in steps}
    found: dict[tuple[str, str], _State] = {}
    for effect in effects:
        writer = by_step.get(effect.step)
        if writer is None or effect.target_id is None or not effect.pre_image_saved or effect.image is None:
            continue  # not a record the step found on the target (no pre-image, or created by the run)
        for target in steps:
            if not target.sets_state_of(writer) or order[writer.step] > order[target.step]:
                continue
            held = effect.image
            image = (
                {f: held[f] for f in target.state_fields}
                if all(f in held for f in target.state_fields)
                else None
            )
            key = (target.step, effect.target_id)
            was = found.get(key)
            if was is None or order[writer.step] < was.rank:
                found[key] = _State(order[writer.step], effect.source_key, image, writer.step)
    return found


def _state_known(
    line: NotUndone, by_step: Mapping[str, StepTarget], chosen: Mapping[tuple[str, str], Reversal]
) -> bool:
    target = by_step.get(line.step)
    return target is not None and bool(target.state_fields) and (line.step, line.target_id or "") in chosen


def _state_restore(
    step: str, target_id: str, keys: tuple[str, ...], image: Mapping[str, Any], match_value: str | None = None
) -> Reversal:
    """A record's state put back to ``image``."""
    how = f"restored ({', '.join(f'{k} {v}' for k, v in sorted(image.items()))})"
    return Reversal(step, target_id, "restore", keys, how, image=dict(image), match_value=match_value)


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
    target: StepTarget,
    effect: RunEffect,
    removal: Callable[[str, str], Removal | str],
    states: tuple[str, ...] = (),
) -> Reversal | NotUndone | None:
    """One record's reversal, what keeps it from one, or None (nothing to undo). ``states``: the fields a
    state step puts back instead (left out of a restore of the record's values)."""
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
        return _state_restore(effect.step, effect.target_id, (effect.source_key,), image, effect.match_value)
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
    image = {k: v for k, v in effect.image.items() if k not in states}
    if not image:
        if effect.image:
            return None  # only its state was read: the state step puts it back
        return cannot("the target returned none of the step's fields for it before the run: nothing to restore")
    lacking = [f for f in target.fields if f not in image and f not in states]
    them = "it" if len(lacking) == 1 else "them"
    left = (
        f"{', '.join(lacking)}: the target did not return {them} before the run, left as the run wrote {them}"
        if lacking
        else ""
    )
    return Reversal(
        effect.step,
        effect.target_id,
        "restore",
        (effect.source_key,),
        f"restored ({', '.join(sorted(image))})",
        left,
        image=image,
        match_value=effect.match_value,
    )
