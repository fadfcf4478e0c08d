"""Every shipped route plan out of Velpic archives the certificates, through the real CLI on the sandbox: the
archive is the run's own folder beside its journal (``<journal>.certificates/``; with the default journal
``.migrator/<plan name>-certificates/`` in the working folder, never beside the plan file), it holds one file
per passed, completed schedule of the source, each file's bytes and SHA-256 equal to the PDF the sandbox
serves, the index names the learner's source id, employee number and (one target user per person) target id;
a re-run downloads no certificate. The run's summary names the folder."""

from __future__ import annotations

import csv
import hashlib
import sqlite3
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from migrator.connectors.catalog import CATALOG
from migrator.coverage import Tally, plan_coverage
from migrator.plan.load import load_plan
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.crosswalk_check import crosswalk
from tests.e2e.helpers import PLANS, get_json, migrator, records, run_plan, write_env

TIME_SCALE = "40"  # OneFile's 300/minute and accessplanit's 5000/hour, compressed


@dataclass(frozen=True)
class Route:
    plan: str
    platforms: tuple[str, ...]
    #: the step whose crosswalk holds each user's target id (None: the index carries no target id)
    users_step: str | None


ROUTES = [
    Route("velpic-to-velpic", ("velpic",), "users"),
    Route("velpic-to-accessplanit", ("velpic", "accessplanit"), "users"),
    Route("velpic-to-anewspring", ("velpic", "anewspring"), "users"),
    Route("velpic-to-onefile", ("velpic", "onefile"), None),
]


def _sandbox(route: Route) -> SandboxThread:
    config = SandboxConfig(
        seed=27, scale=60, time_scale=float(TIME_SCALE), platforms=route.platforms, default_limits=False
    )
    return SandboxThread(config)


def _source_pdfs(sb: SandboxThread) -> dict[str, bytes]:
    """The PDF of every completed schedule of the source, as the sandbox serves it (every one was passed: the
    default seed), by schedule id."""
    env = sb.sandbox.env()
    out: dict[str, bytes] = {}
    for schedule in records(sb.base_url, "velpic", "source", "lesson_schedule"):
        if schedule["status"] != "completed":
            continue
        request = urllib.request.Request(
            f"{env['VELPIC_BASE_URL']}/lesson_schedule/{schedule['id']}/certificate",
            headers={"AccessKey": env["VELPIC_SOURCE_ACCESS_KEY"]},
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert resp.headers.get_content_type() == "application/pdf"
            out[str(schedule["id"])] = resp.read()
    return out


def _certificate_requests(sb: SandboxThread) -> int:
    return sum(
        r["count"]
        for r in get_json(f"{sb.base_url}/_sandbox/stats")["requests"]
        if r["platform"] == "velpic" and r["route"].endswith("/certificate")
    )


def _index(folder: Path) -> list[dict[str, str]]:
    with (folder / "index.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _check_archive(sb: SandboxThread, folder: Path, route: Route, targets: dict[str, str]) -> None:
    """The archive holds exactly the source's certificates, byte for byte, and the index says whose
    (``targets``: source user id → target id, from the run's crosswalk)."""
    pdfs = _source_pdfs(sb)
    assert pdfs, "the seed must have completed schedules"
    rows = _index(folder)
    by_schedule = {r["scheduleId"]: r for r in rows}
    assert len(rows) == len(by_schedule) == len(pdfs)  # one row per certificate: count equal
    assert set(by_schedule) == set(pdfs)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*(r["file"] for r in rows), "index.csv"])
    schedules = {str(s["id"]): s for s in records(sb.base_url, "velpic", "source", "lesson_schedule")}
    users = {str(u["id"]): u for u in records(sb.base_url, "velpic", "source", "user")}
    for schedule_id, pdf in pdfs.items():
        row = by_schedule[schedule_id]
        content = (folder / row["file"]).read_bytes()
        assert content == pdf  # the sandbox's own bytes
        assert row["sha256"] == hashlib.sha256(content).hexdigest() == hashlib.sha256(pdf).hexdigest()
        schedule = schedules[schedule_id]
        assert row["sourceUserId"] == str(schedule["userId"])
        assert row["employeeNumber"] == (users[row["sourceUserId"]].get("employeeNumber") or "")
        assert row["lessonId"] == str(schedule["lessonId"])
        assert row["completedDate"] == schedule["lessonCompletedDate"]
        if route.users_step:
            assert row["targetUserId"] == targets[row["sourceUserId"]]
        else:
            assert "targetUserId" not in row


@pytest.fixture(params=ROUTES, ids=[r.plan for r in ROUTES])
def route(request: pytest.FixtureRequest) -> Route:
    route: Route = request.param
    return route


@pytest.fixture
def sandbox(route: Route) -> Iterator[SandboxThread]:
    with _sandbox(route) as sb:
        yield sb


def test_the_route_archives_every_certificate_beside_its_journal(
    route: Route, sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    plan = PLANS / f"{route.plan}.toml"
    first = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
    assert first.returncode in (0, 3), first.stdout + first.stderr  # 3: users the target rejects, by design
    assert "Traceback" not in first.stderr
    journal = tmp_path / "journal.sqlite"
    folder = tmp_path / "journal.sqlite.certificates"
    assert f"certificates: {folder}" in first.stdout
    targets = crosswalk(plan, tmp_path, route.users_step) if route.users_step else {}
    _check_archive(sandbox, folder, route, targets)
    assert not (PLANS / "certificates").exists()  # never beside the plan file
    with sqlite3.connect(journal) as db:
        dead = db.execute("SELECT COUNT(*) FROM dead_letters WHERE step = 'certificates'").fetchone()[0]
    assert dead == 0

    before = _certificate_requests(sandbox)
    again = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
    assert again.returncode in (0, 3), again.stdout + again.stderr
    assert _certificate_requests(sandbox) == before  # a re-run downloads 0 certificates
    _check_archive(sandbox, folder, route, targets)


def test_the_default_journal_keeps_its_certificates_in_the_working_folder(tmp_path: Path) -> None:
    """Without --journal: ``.migrator/<plan name>-certificates/`` beside ``.migrator/<plan name>.sqlite`` in
    the folder the run is started in; the archive is whole there."""
    route = ROUTES[0]
    with _sandbox(route) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        done = migrator(
            "run", str(PLANS / f"{route.plan}.toml"), "--env-file", str(env), "--plain", cwd=tmp_path
        )
        assert done.returncode == 0, done.stdout + done.stderr
        folder = tmp_path / ".migrator" / f"{route.plan}-certificates"
        assert f"certificates: {Path('.migrator') / f'{route.plan}-certificates'}" in done.stdout
        by_number = {
            u["employeeNumber"]: str(u["id"]) for u in records(sb.base_url, "velpic", "target", "user")
        }
        source = records(sb.base_url, "velpic", "source", "user")
        _check_archive(sb, folder, route, {str(u["id"]): by_number[u["employeeNumber"]] for u in source})
        assert not (PLANS / "certificates").exists()


def test_a_journal_folder_must_be_a_plain_name_of_a_files_connection(tmp_path: Path) -> None:
    env = tmp_path / "fake.env"
    env.write_text(
        "VELPIC_BASE_URL=http://127.0.0.1:9/velpic/api/v2\nVELPIC_SOURCE_ACCESS_KEY=a\nVELPIC_TARGET_ACCESS_KEY=b\n"
    )
    text = (PLANS / "velpic-to-velpic.toml").read_text(encoding="utf-8")
    plan = tmp_path / "plan.toml"
    plan.write_text(text)
    assert migrator("validate", str(plan), "--env-file", str(env), cwd=tmp_path).returncode == 0
    for old, bad, where in (
        ('path = "certificates"', 'path = "../certificates"', "connections.certificates.path"),
        ('path = "certificates"', 'path = ""', "connections.certificates.path"),
        ('platform = "files"', 'platform = "velpic"', "connections.certificates.relative_to"),
        (
            'read  = { from = "source", entity = "certificate"',
            'read  = { from = "certificates", entity = "x"',
            "step certificates reads it",
        ),
    ):
        plan.write_text(text.replace(old, bad))
        shown = migrator("validate", str(plan), "--env-file", str(env), cwd=tmp_path)
        assert shown.returncode == 2, shown.stdout + shown.stderr
        assert where in shown.stdout + shown.stderr
        assert "Traceback" not in shown.stderr


def test_the_archive_is_no_target_that_could_hold_what_the_plan_leaves_behind() -> None:
    """In process: the coverage of a route plan still says why an entity no step reads is left behind (the
    target cannot hold it): the certificates' folder holds documents, not records of other entities."""
    loaded = load_plan(str(PLANS / "velpic-to-velpic.toml"))
    rows = plan_coverage(loaded.plan, CATALOG, [Tally("source", "lesson", "", 16)])
    (lesson,) = [r for r in rows if r.entity == "lesson"]
    assert lesson.reason == (
        "entity lesson of connection source: no step reads it (the target cannot hold it: velpic has no lesson "
        "to write)"
    )
