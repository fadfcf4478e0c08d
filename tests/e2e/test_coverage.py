"""Nothing left behind silently, through the real CLI on the sandbox: a copy of plans/velpic-to-velpic.toml
without its groups step and with its users read as ``activeValue=active`` names both gaps — the groups no
step reads, the inactive users the filter excludes — with the sandbox's own counts, in the summary of
``migrator run``, in coverage.csv and report.html (also from ``migrator report``, offline), in ``verify``
and in ``explain --probe``."""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, migrator, records, run_plan, write_env

GROUPS_REASON = "entity group of connection source: no step reads it"
INACTIVE_REASON = (
    "user status inactive of connection source: excluded by filter activeValue=active of step users"
)
LESSON_REASON = (
    "entity lesson of connection source: no step reads it (the target cannot hold it: velpic has no lesson to "
    "write)"
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig(seed=11, scale=200, platforms=("velpic",), default_limits=False)) as sb:
        yield sb


def _narrowed_plan(tmp: Path, *, users_filter: str = ', filter = { activeValue = "active" }') -> Path:
    """plans/velpic-to-velpic.toml without its groups, status and certificates steps (and the user fields that
    go through groups, and the certificates' folder), its users read with ``users_filter`` (by default
    ``activeValue = "active"``)."""
    text = (PLANS / "velpic-to-velpic.toml").read_text()
    for table in ("steps.groups", "steps.user_status", "steps.certificates", "connections.certificates"):
        text, removed = re.subn(rf"\[{re.escape(table)}\]\n(?:[^\[\n][^\n]*\n)*", "", text)
        assert removed == 1, table
    text = "\n".join(line for line in text.splitlines() if "-> groups" not in line) + "\n"
    old = 'read  = { from = "source", entity = "user", filter = { activeValue = "all" }, page_size = 200 }'
    assert text.count(old) == 1
    text = text.replace(old, f'read  = {{ from = "source", entity = "user", page_size = 200{users_filter} }}')
    plan = tmp / "narrowed.toml"
    plan.write_text(text)
    return plan


def _line(output: str, start: str) -> str:
    found = [line for line in output.splitlines() if line.strip().startswith(start)]
    assert len(found) == 1, output
    return found[0]


def _in_source(line: str) -> int:
    match = re.search(r"in source\s+([\d,]+)", line)
    assert match is not None, line
    return int(match.group(1).replace(",", ""))


def test_left_behind_groups_and_inactive_users_are_named_with_counts_everywhere(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    users = records(sandbox.base_url, "velpic", "source", "user")
    active = sum(1 for u in users if u["clientStatusId"] == 56)
    inactive = sum(1 for u in users if u["clientStatusId"] == 57)
    # the document's GET /group lists the groups in use (the sandbox's default hides inactivated ones)
    groups = sum(1 for g in records(sandbox.base_url, "velpic", "source", "group") if g["active"])
    lessons = len(records(sandbox.base_url, "velpic", "source", "lesson"))
    assert active > 0 and inactive > 0 and groups > 0 and lessons > 0
    env = write_env(sandbox, tmp_path / "sandbox.env")
    plan = _narrowed_plan(tmp_path)

    ran = run_plan(plan, tmp_path, env, "--report-dir", str(tmp_path / "report"))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    out = ran.stdout
    carried = _line(out, "source.user [active]")
    assert _in_source(carried) == active
    assert f"step users: read {active:,}  written {active:,}  rejected 0" in carried
    behind = _line(out, "source.user [inactive]")
    assert _in_source(behind) == inactive and behind.endswith(f"LEFT BEHIND: {INACTIVE_REASON}")
    group = _line(out, "source.group [all]")
    assert _in_source(group) == groups and group.endswith(f"LEFT BEHIND: {GROUPS_REASON}")
    assert _line(out, "source.lesson [all]").endswith(f"LEFT BEHIND: {LESSON_REASON}")
    assert _in_source(_line(out, "source.lesson [all]")) == lessons
    # nothing of the target is counted as a source
    assert "target." not in out.split("coverage", 1)[1].split("journal:", 1)[0]

    expected = {
        ("user", "active"): (str(active), "users", "no", ""),
        ("user", "inactive"): (str(inactive), "", "yes", INACTIVE_REASON),
        ("group", "all"): (str(groups), "", "yes", GROUPS_REASON),
        ("lesson", "all"): (str(lessons), "", "yes", LESSON_REASON),
    }
    offline = tmp_path / "offline"
    made = migrator(
        "report", str(plan), "--journal", str(tmp_path / "journal.sqlite"), "--out", str(offline), cwd=tmp_path
    )
    assert made.returncode == 0, made.stdout + made.stderr
    for folder in (tmp_path / "report", offline):
        with (folder / "coverage.csv").open(encoding="utf-8-sig", newline="") as f:
            table = {(r["entity"], r["status"]): r for r in csv.DictReader(f) if r["connection"] == "source"}
        for key, (count, step, left, reason) in expected.items():
            row = table[key]
            assert (row["in_source"], row["step"], row["left_behind"], row["reason"]) == (
                count,
                step,
                left,
                reason,
            )
        assert (table["user", "active"]["read"], table["user", "active"]["written"]) == (
            str(active),
            str(active),
        )
        page = (folder / "report.html").read_text()
        for reason in (INACTIVE_REASON, GROUPS_REASON, LESSON_REASON):
            assert html.escape(reason, quote=True) in page

    verified = migrator(
        "verify", str(plan), "--env-file", str(env), "--journal", str(tmp_path / "journal.sqlite"),
        "--out", str(tmp_path / "report"), cwd=tmp_path,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    said = verified.stdout
    assert f"left behind source.user [inactive] records {inactive:,}: {INACTIVE_REASON}" in said
    assert f"left behind source.group [all] records {groups:,}: {GROUPS_REASON}" in said
    summary = _line(said, "left behind by the plan:")
    counted = inactive + groups + lessons + len(records(sandbox.base_url, "velpic", "source", "ilt_session"))
    # lesson schedules and certificates are read once per parent: named, not counted
    assert summary == f"left behind by the plan: 6 entities/statuses, {counted:,} records (+2 not counted)"


def test_explain_probe_shows_the_inventory_and_the_default_filter(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    users = records(sandbox.base_url, "velpic", "source", "user")
    inactive = sum(1 for u in users if u["clientStatusId"] == 57)
    env = write_env(sandbox, tmp_path / "sandbox.env")
    plan = _narrowed_plan(tmp_path, users_filter="")  # users read with the platform's default filter
    shown = migrator("explain", str(plan), "--probe", "--env-file", str(env), cwd=tmp_path)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    line = _line(shown.stdout, "source.user [inactive]")
    assert _in_source(line) == inactive
    assert line.endswith(
        "LEFT BEHIND: user status inactive of connection source: excluded by filter activeValue=active (the "
        "platform's default: the step sends none) of step users"
    )
    assert _in_source(_line(shown.stdout, "source.user [active]")) == len(users) - inactive
    as_json = migrator(
        "explain", str(plan), "--probe", "--format", "json", "--env-file", str(env), cwd=tmp_path
    )
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    rows = json.loads(as_json.stdout)["coverage"]
    (left,) = [r for r in rows if r["entity"] == "user" and r["step"] is None]
    assert (left["statuses"], left["in_source"]) == (["inactive"], inactive)


@pytest.mark.parametrize(
    ("plan", "platform", "scale", "counted"),
    [
        # accessplanit v1 feeds say no total: the inventory reads the pages (of 500: 3 of them) and counts
        ("accessplanit-v1-to-v2.toml", "accessplanit", 1100, {"v1.user": "user", "v1.company": "company"}),
        # aNewSpring's getUsers is one unpaged list
        ("anewspring-to-velpic.toml", "anewspring", 120, {"anewspring.user": "user"}),
    ],
)
def test_lists_without_a_total_are_counted_by_reading_them(
    plan: str, platform: str, scale: int, counted: dict[str, str], tmp_path: Path
) -> None:
    config = SandboxConfig(seed=5, scale=scale, platforms=(platform, "velpic"), default_limits=False)
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        shown = migrator("explain", str(PLANS / plan), "--probe", "--env-file", str(env), cwd=tmp_path)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        for where, entity in counted.items():
            expected = len(records(sb.base_url, platform, "source", entity))
            assert expected > 0
            # one line per step that reads it (two steps read the v1 companies)
            lines = [x for x in shown.stdout.splitlines() if x.strip().startswith(f"{where} [all]")]
            assert lines and all(_in_source(line) == expected for line in lines), shown.stdout
