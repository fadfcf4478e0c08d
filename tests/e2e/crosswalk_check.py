"""The crosswalk check of end-to-end route tests: each crosswalk row of a step pairs a source record with the
target record that carries the source record's match key, so a result matched back to the wrong record (by
position, say) cannot pass unseen."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tests.e2e.helpers import migrator

Record = Mapping[str, Any]


def crosswalk(plan: Path, tmp: Path, step: str) -> dict[str, str]:
    """Source id → target id of ``step``, from the ``crosswalk.csv`` that ``migrator report`` writes from the
    journal of a run made with ``run_plan(plan, tmp, …)``."""
    out = tmp / "crosswalk-check"
    result = migrator("report", str(plan), "--journal", str(tmp / "journal.sqlite"), "--out", str(out), cwd=tmp)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (out / "crosswalk.csv").read_bytes().decode("utf-8-sig")
    return {
        row["source_id"]: row["target_id"] for row in csv.DictReader(io.StringIO(text)) if row["step"] == step
    }


def assert_crosswalk_carries_keys(
    walk: Mapping[str, str],
    sources: Iterable[Record],
    targets: Iterable[Record],
    *,
    source_key: Callable[[Record], Any],
    target_key: Callable[[Record], Any],
    source_id: str = "id",
    target_id: str = "id",
) -> None:
    """Every row of ``walk`` names a source record (by ``source_id``) and a target record (by ``target_id``),
    and the target's ``target_key`` equals the source's ``source_key`` (the match key as the plan maps it)."""
    by_source = {str(r[source_id]): r for r in sources}
    by_target = {str(r[target_id]): r for r in targets}
    assert walk, "the step has no crosswalk rows"
    wrong = [
        (key, target, source_key(by_source[key]), target_key(by_target[target]))
        for key, target in walk.items()
        if source_key(by_source[key]) != target_key(by_target[target])
    ]
    assert not wrong, f"{len(wrong)} of {len(walk)} rows pair a source with another's target, e.g. {wrong[:3]}"
