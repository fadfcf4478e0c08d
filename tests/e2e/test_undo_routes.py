"""``migrator undo`` on every route plan that ``tests/e2e/test_undo.py`` does not take apart one by one: a run
onto the sandbox's target, then its undo with ``--yes``. Every target record of every platform is compared
field by field before the run and after the undo: what was there is as it was; what the run created is gone,
or — where the platform deletes none — inactive and in no group (Velpic users), inactive (groups) or cancelled
(ILT sessions); and what stays is what the undo listed first as what it cannot undo."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, give_ui_users_ids, migrator, run_plan, write_env
from tests.e2e.test_preview import ROUTES

TIME_SCALE = "200"
#: fields a platform stamps on every write: the time of the last change, not what the record holds
STAMPS = frozenset({"modifiedDate", "DateUpdated", "updatedDateTime", "lastModified", "modified"})
#: what no API call takes back, by the target records it leaves: the words the undo's listing names it by
CANNOT = {
    "velpic.lesson_schedule": "Velpic lesson_schedule records",
    "velpic.ilt_attendee": "Velpic ilt_registration records",
    "onefile.user": "OneFile's API document has no call that deletes or archives a user",
}
#: the routes test_undo.py does not cover
ROUTES_LEFT = sorted(
    set(ROUTES)
    - {
        "velpic-to-velpic.toml",
        "csv-to-accessplanit.toml",
        "velpic-to-accessplanit.toml",
        "velpic-to-anewspring.toml",
    }
)


def _target(sb: SandboxThread) -> dict[str, dict[str, Any]]:
    """Every record of every platform's target tenant, by ``platform.entity:key``, as JSON holds it."""
    out: dict[str, dict[str, Any]] = {}
    for name, platform in sb.state.platforms.items():
        for entity, table in platform.entities().get("target", {}).items():
            for key, record in table.records.items():
                out[f"{name}.{entity}:{key}"] = json.loads(json.dumps(record, default=str))
    return out


def _removed_in_place(kind: str, record: dict[str, Any]) -> bool:
    """A created record a platform keeps, taken off as far as its API allows: a Velpic user inactive and in
    no group, a Velpic group inactive."""
    if kind == "velpic.user":
        return (
            record.get("clientStatusId") == 57
            and not record.get("groups")
            and not record.get("groupsSupervised")
        )
    if kind == "velpic.group":
        return record.get("active") is False
    if kind == "velpic.ilt_session":
        return record.get("statusId") == 3  # cancelled
    return False


@pytest.mark.parametrize("plan", ROUTES_LEFT)
def test_the_undo_puts_the_target_back_but_what_it_listed_first(tmp_path: Path, plan: str) -> None:
    platforms, _ = ROUTES[plan]
    config = SandboxConfig(
        seed=7, scale=40, platforms=platforms, default_limits=False, time_scale=float(TIME_SCALE)
    )
    shutil.copytree(PLANS / "data", tmp_path / "plans" / "data")
    path = tmp_path / "plans" / plan
    path.write_text((PLANS / plan).read_text())
    with SandboxThread(config) as sb:
        if "anewspring" in platforms:
            give_ui_users_ids(sb)
        env = write_env(sb, tmp_path / "sb.env")
        before = _target(sb)
        run = run_plan(path, tmp_path, env, "--time-scale", TIME_SCALE)
        assert run.returncode in (0, 3), run.stdout + run.stderr
        assert len(_target(sb)) > len(before)
        undo = ["undo", str(path), "--env-file", str(env), "--journal", str(tmp_path / "journal.sqlite")]
        undone = migrator(*undo, "--yes", "--time-scale", TIME_SCALE, cwd=tmp_path)
        assert undone.returncode == 0, undone.stdout + undone.stderr
        listed = undone.stdout[: undone.stdout.index("to undo:")]
        after = _target(sb)

    for key, was in before.items():
        assert key in after, f"{key} was on the target before the run and is gone after the undo"
        changed = {n: (was.get(n), after[key].get(n)) for n in set(was) | set(after[key]) if n not in STAMPS}
        assert {n: v for n, v in changed.items() if v[0] != v[1]} == {}, key
    left: dict[str, int] = {}
    for key, record in after.items():
        kind = key.split(":", 1)[0]
        if key not in before and not _removed_in_place(kind, record):
            left[kind] = left.get(kind, 0) + 1
    unnamed = {kind: n for kind, n in left.items() if CANNOT.get(kind, "\0") not in listed}
    assert unnamed == {}, (unnamed, listed)
