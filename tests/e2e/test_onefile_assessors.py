"""Assessor <-> learner links, both ways, through the real CLI on the sandbox.

OneFile -> Velpic (plans/onefile-to-velpic.toml): every assessor gets one caseload group ("Learners of <name>
(OneFile assessor <ID>)") that it alone supervises; every learner with a DefaultAssessorID is a member of its
assessor's caseload (and of its classroom's group), of no other caseload; a second run adds nothing; learners
changed in OneFile and sent to the import again by a ``--delta`` keep every membership and supervisor, with no
duplicate group. The starter of ``migrator init onefile velpic`` carries the same links.

Velpic -> OneFile (plans/velpic-to-onefile.toml and its starter): a learner is created with, as
DefaultAssessorID, the OneFile assessor of its Velpic group's first supervisor (else the default assessor),
once. In process: the reader of each user's group's supervisors, and ``coalesce`` over a crosswalk."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.connectors.base import NestedReader, Response
from migrator.connectors.catalog import CATALOG
from migrator.connectors.velpic import make_reader
from migrator.coverage import Tally, plan_coverage
from migrator.errors import PermanentError
from migrator.journal import Journal
from migrator.plan.load import load_plan
from migrator.plan.mapping import MappingError, compile_map
from migrator.sandbox.app import SandboxThread
from migrator.sandbox.config import SandboxConfig
from tests.e2e.helpers import PLANS, entity_stats, get_json, migrator, records, run_plan, write_env

PLAN = PLANS / "onefile-to-velpic.toml"
TIME_SCALE = "40"  # the documented 300/minute, compressed


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    config = SandboxConfig(
        seed=29, scale=150, time_scale=float(TIME_SCALE), platforms=("onefile", "velpic"), default_limits=False
    )
    with SandboxThread(config) as sb:
        yield sb


def _caseload(assessor: dict[str, Any]) -> str:
    return f"Learners of {assessor['FirstName']} {assessor['LastName']} (OneFile assessor {assessor['ID']})"


def _links(sb: SandboxThread) -> dict[str, Any]:
    """What the target holds: each user's groups and supervised groups, by employee number, and the groups."""
    users = records(sb.base_url, "velpic", "target", "user")
    return {
        "groups": sorted((g["id"], g["name"]) for g in records(sb.base_url, "velpic", "target", "group")),
        "members": {u["employeeNumber"]: sorted(g["id"] for g in u["groups"]) for u in users},
        "supervised": {u["employeeNumber"]: sorted(g["id"] for g in u["groupsSupervised"]) for u in users},
    }


def _add_calls(sb: SandboxThread) -> int:
    return sum(
        r["count"]
        for r in get_json(f"{sb.base_url}/_sandbox/stats")["requests"]
        if r["platform"] == "velpic" and r["route"].endswith(("/add_members", "/add_supervisors"))
    )


def _check(sb: SandboxThread) -> dict[str, Any]:
    source = records(sb.base_url, "onefile", "source", "user")
    assessors = {u["ID"]: u for u in source if u["Role"] == 5}
    learners = [u for u in source if u["Role"] == 1]
    classrooms = {c["ID"]: c["Name"].strip() for c in records(sb.base_url, "onefile", "source", "classroom")}
    links = _links(sb)
    group_id = {name: gid for gid, name in links["groups"]}
    assert len(group_id) == len(links["groups"])  # no two groups of a name
    caseloads = {aid: group_id[_caseload(a)] for aid, a in assessors.items()}
    assert set(group_id) == {*classrooms.values(), *map(_caseload, assessors.values())}
    linked = [u for u in learners if u.get("DefaultAssessorID") is not None]
    assert len(linked) > 50 and len({u["DefaultAssessorID"] for u in linked}) > 3  # the seed links them
    for learner in linked:
        want = sorted({group_id[classrooms[learner["ClassroomID"]]], caseloads[learner["DefaultAssessorID"]]})
        assert links["members"][learner["MISID"]] == want, learner
    for aid, assessor in assessors.items():
        own = {caseloads[aid]}
        if assessor.get("ClassroomID") is not None:
            own.add(group_id[classrooms[assessor["ClassroomID"]]])
        assert links["supervised"][assessor["MISID"]] == sorted(own), assessor
        assert links["members"][assessor["MISID"]] == []
    # each caseload is supervised by its assessor alone
    supervisors: dict[int, list[str]] = {}
    for misid, groups in links["supervised"].items():
        for gid in groups:
            supervisors.setdefault(gid, []).append(misid)
    for aid, gid in caseloads.items():
        assert supervisors[gid] == [assessors[aid]["MISID"]]
    assert entity_stats(sb.base_url, "velpic", "target", "group")["duplicates"] == 0
    assert entity_stats(sb.base_url, "velpic", "target", "user")["duplicates"] == 0
    return links


def test_each_learner_joins_its_assessors_caseload_which_the_assessor_supervises(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    env = write_env(sandbox, tmp_path / "sandbox.env")
    first = run_plan(PLAN, tmp_path, env, "--time-scale", TIME_SCALE)
    assert first.returncode == 0, first.stdout + first.stderr
    links = _check(sandbox)

    before = _add_calls(sandbox)
    again = run_plan(PLAN, tmp_path, env, "--time-scale", TIME_SCALE)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _add_calls(sandbox) == before  # a second run adds nothing
    assert _links(sandbox) == links

    # learners changed in OneFile, then a delta: the import sends them again (with their new numbers), and no
    # membership or supervisor is lost
    changed = _change_mobiles(sandbox)
    third = run_plan(PLAN, tmp_path, env, "--time-scale", TIME_SCALE, "--delta")
    assert third.returncode == 0, third.stdout + third.stderr
    target = {u["employeeNumber"]: u for u in records(sandbox.base_url, "velpic", "target", "user")}
    assert all(target[misid]["mobileNumber"] == mobile for misid, mobile in changed.items())
    assert _links(sandbox) == links


def _change_mobiles(sb: SandboxThread) -> dict[str, str]:
    """A new MobileNumber for every fifth learner with an assessor, through OneFile's own update call: MISID ->
    the new number."""
    env = sb.sandbox.env()
    base = env["ONEFILE_BASE_URL"]
    auth = urllib.request.Request(
        f"{base}/Authentication",
        data=b"",
        headers={"X-CustomerToken": env["ONEFILE_SOURCE_CUSTOMER_TOKEN"]},
        method="POST",
    )
    with urllib.request.urlopen(auth, timeout=30) as resp:
        token = resp.read().decode().strip()
    learners = [
        u
        for u in records(sb.base_url, "onefile", "source", "user")
        if u["Role"] == 1 and u.get("DefaultAssessorID") is not None
    ]
    changed: dict[str, str] = {}
    for n, learner in enumerate(sorted(learners, key=lambda u: u["ID"])[::5]):
        mobile = f"07999{n:06d}"
        update = urllib.request.Request(
            f"{base}/User/{learner['ID']}",
            data=json.dumps({"MobileNumber": mobile}).encode(),
            headers={"X-TokenID": token, "Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(update, timeout=30).close()
        changed[learner["MISID"]] = mobile
    assert changed
    return changed


def test_the_init_starter_carries_the_links_too(tmp_path: Path) -> None:
    """``migrator init onefile velpic`` writes the same caseloads and link steps: run on a fresh sandbox, every
    learner joins its assessor's caseload, which the assessor supervises."""
    plan = tmp_path / "onefile-velpic.toml"
    made = migrator("init", "onefile", "velpic", "--out", str(plan), cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    config = SandboxConfig(
        seed=29, scale=150, time_scale=float(TIME_SCALE), platforms=("onefile", "velpic"), default_limits=False
    )
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        done = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
        assert done.returncode == 0, done.stdout + done.stderr
        _check(sb)


# -- Velpic -> OneFile: a learner's assessor is a supervisor of its group ------------------------------------
TO_ONEFILE = PLANS / "velpic-to-onefile.toml"
DEFAULT_ASSESSOR = 10122762  # the plan's DefaultAssessorID for a new learner


@pytest.mark.parametrize("starter", [False, True], ids=["plan", "init-starter"])
def test_each_onefile_learner_is_assessed_by_its_velpic_groups_supervisor(
    starter: bool, tmp_path: Path
) -> None:
    """plans/velpic-to-onefile.toml (and the starter of ``migrator init velpic onefile``): each Velpic trainee
    that becomes a OneFile learner is created with, as DefaultAssessorID, the OneFile assessor made of the first
    supervisor (lowest id) of its first Velpic group; a learner whose group has no supervisor gets the default
    assessor, and so does one whose group's supervisor OneFile holds as no assessor (a trainee); a second run
    creates nothing."""
    plan = TO_ONEFILE
    if starter:
        plan = tmp_path / "velpic-onefile.toml"
        made = migrator("init", "velpic", "onefile", "--out", str(plan), cwd=tmp_path)
        assert made.returncode == 0, made.stdout + made.stderr
    config = SandboxConfig(
        seed=31, scale=150, time_scale=float(TIME_SCALE), platforms=("onefile", "velpic"), default_limits=False
    )
    with SandboxThread(config) as sb:
        env = write_env(sb, tmp_path / "sandbox.env")
        unsupervised, by_trainee = _arrange_supervisors(sb)
        first = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
        assert first.returncode in (0, 3), first.stdout + first.stderr  # 3: groupless learners (dead letters)
        source = {u["id"]: u for u in records(sb.base_url, "velpic", "source", "user")}
        supervisors: dict[int, list[int]] = {}
        for user in source.values():
            for ref in user["groupsSupervised"]:
                supervisors.setdefault(ref["id"], []).append(user["id"])
        onefile = records(sb.base_url, "onefile", "target", "user")
        learners = {u["MISID"]: u for u in onefile if u["Role"] == 1}
        assessors = {u["MISID"]: u["ID"] for u in onefile if u["Role"] == 5}
        assessed, kept = 0, set()
        for user in source.values():
            if 6 not in user["roles"] or not user["groups"]:
                continue
            learner = learners[user["employeeNumber"]]
            group = user["groups"][0]["id"]
            others = sorted(s for s in supervisors.get(group, ()) if s != user["id"])
            if others and {5, 8} & set(source[others[0]]["roles"]):
                want = assessors[source[others[0]]["employeeNumber"]]
                assessed += 1
            else:
                want = DEFAULT_ASSESSOR
                kept.add(group)
            assert learner["DefaultAssessorID"] == want, (user, learner)
        assert assessed > 20 and kept == {unsupervised, by_trainee}, (assessed, kept)
        with Journal.open(tmp_path / "journal.sqlite", load_plan(str(plan)).plan.plan.name) as journal:
            groupless = {str(u["id"]) for u in source.values() if 6 in u["roles"] and not u["groups"]}
            assert {d.source_key for d in journal.dead_letters("learners")} == groupless

        creates = _user_creates(sb)
        again = run_plan(plan, tmp_path, env, "--time-scale", TIME_SCALE)
        assert again.returncode in (0, 3), again.stdout + again.stderr
        assert _user_creates(sb) == creates  # exactly once: nothing created again


def _velpic(sb: SandboxThread, path: str, body: Any) -> None:
    env = sb.sandbox.env()
    request = urllib.request.Request(
        f"{env['VELPIC_BASE_URL']}{path}",
        data=json.dumps(body).encode(),
        headers={"AccessKey": env["VELPIC_SOURCE_ACCESS_KEY"], "Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=30).close()


def _arrange_supervisors(sb: SandboxThread) -> tuple[int, int]:
    """Arrange, through Velpic's own calls: one group of trainees loses its supervisors, another is supervised
    by a trainee only (no OneFile assessor). Returns the two groups."""
    users = records(sb.base_url, "velpic", "source", "user")
    firsts = sorted({u["groups"][0]["id"] for u in users if 6 in u["roles"] and u["groups"]})
    unsupervised, by_trainee = firsts[0], firsts[1]
    for group in (unsupervised, by_trainee):
        ids = [u["id"] for u in users if any(g["id"] == group for g in u["groupsSupervised"])]
        _velpic(sb, f"/group/{group}/remove_supervisors", {"userIds": ids})
    trainee = next(u for u in users if u["roles"] == [6] and by_trainee not in {g["id"] for g in u["groups"]})
    _velpic(sb, f"/group/{by_trainee}/add_supervisors", {"userIds": [trainee["id"]]})
    return unsupervised, by_trainee


def _user_creates(sb: SandboxThread) -> int:
    return sum(
        r["count"]
        for r in get_json(f"{sb.base_url}/_sandbox/stats")["requests"]
        if r["platform"] == "onefile" and r["method"] == "POST" and r["route"].endswith("/User")
    )


# -- the reader of each user's group's supervisors, in process ----------------------------------------------
def test_the_supervisors_reader_asks_the_first_group_and_sorts_what_velpic_answers() -> None:
    reader = make_reader("user_supervisors", {"roleId": 6}, 50, "learner_assessors")
    assert isinstance(reader, NestedReader)
    assert reader.page_request(reader.paginator().first()).path == "/user"  # the users are paged
    user = {"id": 7, "groups": [{"id": 1002}, {"id": 1001}]}
    asked = reader.children(user)
    assert asked is not None and asked.path == "/group/1002/supervisor"
    answer = {"results": [{"id": 40}, {"id": 7}, {"id": 12}], "meta": {"totalResultCount": 3}}
    (got,) = reader.decode_children(Response(200, json.dumps(answer).encode()), user)
    assert got["groupSupervisorIds"] == [12, 40] and got["supervisedGroupId"] == 1002  # sorted, not itself
    full = {"results": [{"id": 40}], "meta": {"totalResultCount": 5000}}
    with pytest.raises(PermanentError, match="supervisors of group 1002"):
        reader.decode_children(Response(200, json.dumps(full).encode()), user)
    groupless = {"id": 9, "groups": []}
    alone = reader.children(groupless)
    assert alone is not None and alone.path == "/user/9"  # no group: no supervisors, the user asked for itself
    (lone,) = reader.decode_children(Response(200, b'{"id": 9}'), groupless)
    assert lone["groupSupervisorIds"] == [] and lone["supervisedGroupId"] is None


def test_coalesce_takes_the_next_value_where_a_crosswalk_has_no_entry() -> None:
    compiled, problems = compile_map({"DefaultAssessorID": "coalesce(sup.0 -> assessors, 10122762)"}, {})
    assert compiled is not None and not problems
    walk = {("assessors", "12"): "10122790"}

    def resolve(step: str, key: str) -> str | None:
        return walk.get((step, key))

    assert compiled({"sup": [12, 40]}, resolve) == {"DefaultAssessorID": "10122790"}
    assert compiled({"sup": [40]}, resolve) == {"DefaultAssessorID": 10122762}  # no entry: the next value
    assert compiled({"sup": []}, resolve) == {"DefaultAssessorID": 10122762}
    strict, _ = compile_map({"DefaultAssessorID": "sup.0 -> assessors"}, {})
    assert strict is not None
    with pytest.raises(MappingError, match="no 'assessors' record was created"):
        strict({"sup": [40]}, resolve)  # outside coalesce a missing entry still rejects the record


def test_the_users_read_with_their_supervisors_are_the_users_in_the_coverage() -> None:
    """In process: a step reading ``user_supervisors`` reads the users (counted once, with their statuses),
    and no plan is said to leave ``user_supervisors`` behind."""
    tallies = [Tally("velpic", "user", "active", 90), Tally("velpic", "user", "inactive", 10)]
    rows = plan_coverage(load_plan(str(TO_ONEFILE)).plan, CATALOG, tallies)
    assert not [r for r in rows if r.entity == "user_supervisors"]
    learners = [r for r in rows if r.step == "learners"]
    assert [(r.entity, r.statuses, r.in_source) for r in learners] == [("user", ("active", "inactive"), 100)]
    velpic = plan_coverage(load_plan(str(PLANS / "velpic-to-velpic.toml")).plan, CATALOG, [])
    assert not [r for r in velpic if r.entity == "user_supervisors"]
