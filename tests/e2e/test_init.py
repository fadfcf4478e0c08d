"""``migrator init SOURCE TARGET`` through the real CLI, against the sandbox over loopback HTTP.

- every route's starter plan passes ``migrator validate`` with the sandbox's env file (the names it writes);
- the starters of Velpic -> Velpic, accessplanit -> Velpic, Velpic -> accessplanit and aNewSpring -> Velpic
  *run* and carry every source user, leavers too, with its status and its roles (compared with the sandbox's
  source records);
- an unknown platform, a route with no starter, or an existing ``--out`` file: a clear message, exit 2, no
  traceback, and the existing file left as it was.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from migrator.starter.routes import ROUTES
from tests.e2e.crosswalk_check import crosswalk
from tests.e2e.helpers import entity_stats, give_ui_users_ids, migrator, records, run_plan, write_env

ACTIVE, NOT_CURRENT = 56, 57
#: the starters' tables, restated: what each source role and status must become
VELPIC_ROLES = {3: 3, 4: 4, 5: 5, 6: 6, 7: 3, 8: 8}
APIT_TO_VELPIC_ROLE = {"Delegate": 6, "Trainer": 8, "Manager": 5, "Administrator": 3}
APIT_TO_VELPIC_STATUS = {"Active": ACTIVE, "Inactive": NOT_CURRENT}
ANS_TO_VELPIC_ROLE = {"student": 6, "teacher": 8, "mentor": 5, "administrator": 3}  # any other: 6
VELPIC_TO_APIT_ROLE = {
    3: "Administrator",
    7: "Administrator",
    5: "Manager",
    8: "Trainer",
    6: "Delegate",
    4: "Delegate",
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    config = SandboxConfig(seed=23, scale=150, default_limits=False)
    with SandboxThread(config) as sb:
        yield sb


def _init(tmp: Path, source: str, target: str) -> Path:
    plan = tmp / f"{source}-{target}.toml"
    done = migrator("init", source, target, "--out", str(plan), cwd=tmp)
    assert done.returncode == 0, done.stdout + done.stderr
    return plan


@pytest.mark.parametrize(("source", "target"), sorted(ROUTES), ids=[f"{s}-{t}" for s, t in sorted(ROUTES)])
def test_every_route_starter_validates(
    sandbox: SandboxThread, tmp_path: Path, source: str, target: str
) -> None:
    plan = _init(tmp_path, source, target)
    env = write_env(sandbox, tmp_path / "sandbox.env")
    checked = migrator("validate", str(plan), "--env-file", str(env), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("ok: ")


def test_the_routes_that_matter_have_a_starter() -> None:
    wanted = {("onefile", "velpic"), ("anewspring", "velpic"), ("accessplanit", "velpic")}
    wanted |= {("velpic", t) for t in ("accessplanit", "onefile", "anewspring", "velpic")}
    wanted |= {("files", t) for t in ("velpic", "accessplanit", "accessplanit_v1", "onefile", "anewspring")}
    wanted |= {("accessplanit_v1", "accessplanit")}
    assert wanted <= set(ROUTES)


@pytest.fixture
def fresh() -> Iterator[SandboxThread]:
    """A sandbox of its own for a test that runs a plan: its target starts empty."""
    with SandboxThread(
        SandboxConfig(seed=23, scale=150, platforms=("velpic", "accessplanit"), default_limits=False)
    ) as sb:
        yield sb


def _ran(sandbox: SandboxThread, tmp: Path, source: str, target: str) -> Path:
    plan = _init(tmp, source, target)
    # the starters state the platforms' budgets (accessplanit 5000/hour): on a clock 200 times faster
    done = run_plan(plan, tmp, write_env(sandbox, tmp / "sandbox.env"), "--time-scale", "200")
    assert done.returncode == 0, done.stdout + done.stderr
    return plan


def test_velpic_to_velpic_starter_carries_every_user_with_status_and_roles(
    fresh: SandboxThread, tmp_path: Path
) -> None:
    plan = _ran(fresh, tmp_path, "velpic", "velpic")
    source = {str(u["id"]): u for u in records(fresh.base_url, "velpic", "source", "user")}
    target = {str(u["id"]): u for u in records(fresh.base_url, "velpic", "target", "user")}
    walk = crosswalk(plan, tmp_path, "users")
    assert set(walk) == set(source)
    statuses = Counter(u["clientStatusId"] for u in source.values())
    assert statuses[NOT_CURRENT] > 0 and statuses[ACTIVE] > 0  # the seed has leavers
    for key, target_id in walk.items():
        src, dst = source[key], target[target_id]
        assert dst["employeeNumber"] == src["employeeNumber"]
        assert dst["clientStatusId"] == src["clientStatusId"], (src, dst)
        assert sorted(dst["roles"]) == sorted({VELPIC_ROLES[r] for r in src["roles"]}), (src, dst)
    assert entity_stats(fresh.base_url, "velpic", "target", "user")["duplicates"] == 0


def test_accessplanit_to_velpic_starter_carries_every_user_with_status_and_role(
    fresh: SandboxThread, tmp_path: Path
) -> None:
    plan = _ran(fresh, tmp_path, "accessplanit", "velpic")
    source = {
        str(u["ID"]): u
        for u in records(fresh.base_url, "accessplanit", "source", "user")
        if u["Status"] in APIT_TO_VELPIC_STATUS  # deleted users are not carried
    }
    assert {u["Status"] for u in source.values()} == set(APIT_TO_VELPIC_STATUS)
    target = {str(u["id"]): u for u in records(fresh.base_url, "velpic", "target", "user")}
    walk = crosswalk(plan, tmp_path, "users")
    assert set(walk) == set(source)
    for key, target_id in walk.items():
        src, dst = source[key], target[target_id]
        assert dst["emailAddress"] == src["Email"].strip().lower()
        assert dst["clientStatusId"] == APIT_TO_VELPIC_STATUS[src["Status"]], (src, dst)
        assert dst["roles"] == [APIT_TO_VELPIC_ROLE[src["MainRoleID"]]], (src, dst)
    assert entity_stats(fresh.base_url, "velpic", "target", "user")["duplicates"] == 0


def test_velpic_to_accessplanit_starter_carries_every_user_with_status_and_main_role(
    fresh: SandboxThread, tmp_path: Path
) -> None:
    _ran(fresh, tmp_path, "velpic", "accessplanit")
    source = records(fresh.base_url, "velpic", "source", "user")
    assert {u["clientStatusId"] for u in source} == {ACTIVE, NOT_CURRENT}
    target = {u["ExternalID"]: u for u in records(fresh.base_url, "accessplanit", "target", "user")}
    for u in source:
        t = target[f"velpic-user-{u['id']}"]
        assert t["Status"] == ("Active" if u["clientStatusId"] == ACTIVE else "Inactive"), u["id"]
        assert t["MainRoleID"] == VELPIC_TO_APIT_ROLE[u["roles"][0]], u["id"]
    assert entity_stats(fresh.base_url, "accessplanit", "target", "user")["duplicates"] == 0


def test_anewspring_to_velpic_starter_carries_every_user_with_status_and_roles(tmp_path: Path) -> None:
    config = SandboxConfig(seed=5, scale=80, platforms=("anewspring", "velpic"), default_limits=False)
    with SandboxThread(config) as sb:
        give_ui_users_ids(sb)
        _ran(sb, tmp_path, "anewspring", "velpic")
        source = {u["email"].strip().lower(): u for u in records(sb.base_url, "anewspring", "source", "user")}
        assert {u["active"] for u in source.values()} == {True, False}  # the seed has inactive users
        target = {u["emailAddress"]: u for u in records(sb.base_url, "velpic", "target", "user")}
        assert set(source) <= set(target)
        for email, src in source.items():
            dst = target[email]
            assert dst["clientStatusId"] == (ACTIVE if src["active"] else NOT_CURRENT), (src, dst)
            assert sorted(dst["roles"]) == sorted({ANS_TO_VELPIC_ROLE.get(r, 6) for r in src["roles"]}), (
                src,
                dst,
            )
        assert entity_stats(sb.base_url, "velpic", "target", "user")["duplicates"] == 0


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("moodle", "velpic"), "SOURCE: unknown platform 'moodle': choose one of velpic,"),
        (("velpic", "nowhere"), "TARGET: unknown platform 'nowhere'"),
        (("onefile", "anewspring"), "no starter is known for onefile -> anewspring; known routes:"),
        (("velpic", "velpic", "--name", "no spaces"), "--name: 'no spaces' is not a plan name"),
    ],
)
def test_init_refuses_what_it_cannot_write(tmp_path: Path, args: tuple[str, ...], said: str) -> None:
    done = migrator("init", *args, "--out", str(tmp_path / "plan.toml"), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "plan.toml").exists()


def test_init_never_replaces_an_existing_file(tmp_path: Path) -> None:
    existing = tmp_path / "plan.toml"
    existing.write_text("# the consultant's own plan\n")
    done = migrator("init", "velpic", "velpic", "--out", str(existing), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{existing}: already exists: init never replaces a file" in done.stderr
    assert "Traceback" not in done.stderr
    assert existing.read_text() == "# the consultant's own plan\n"


def test_init_writes_name_toml_by_default(tmp_path: Path) -> None:
    done = migrator("init", "velpic", "accessplanit", "--name", "acme", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'name = "acme"' in (tmp_path / "acme.toml").read_text()
