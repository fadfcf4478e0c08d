"""The undo's pure parts and its journal: planning a run's reversal (what is removed, restored, or listed as
not undone, in which order, what an earlier undo finished), the pre-images and undo marks the journal keeps
(and an older journal upgraded to hold them), and each platform's reversal calls, answer by answer."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from migrator.commands.undo import chosen_runs
from migrator.connectors.accessplanit.undo import AccessPlanItUndo, AccessPlanItV1Undo
from migrator.connectors.anewspring.undo import ANewSpringUndo
from migrator.connectors.base import Removal, Removed, Request, Response, StateWriter
from migrator.connectors.catalog import CATALOG
from migrator.connectors.registry import make_undo_writer, make_writer
from migrator.connectors.velpic.undo import VelpicUndo
from migrator.coverage import same_list
from migrator.graph import compile_graph
from migrator.journal import SCHEMA_VERSION, Journal, PreImage, RunEffect, SentRecord, UndoMark, WriteResult
from migrator.plan.load import load_plan
from migrator.protocol.keys import idempotency_key
from migrator.runtime.ledger import JournalLedger
from migrator.runtime.selection import Selection, SelectionMode
from migrator.runtime.states import kept_states, state_fields
from migrator.runtime.undone import settled_counts, taken_runs, undone_keys
from migrator.undo import StepTarget, UndoRefused, plan_undo

STEPS = [
    StepTarget("groups", "target", "velpic", "group", can_restore=False, records="group"),
    StepTarget("users", "target", "velpic", "user", can_restore=True, records="user"),
    StepTarget("user_status", "target", "velpic", "user_status", can_restore=False, records="user"),
]


def removal(platform: str, entity: str) -> Removal | str:
    return Removal("inactivated", "stays") if entity in ("user", "group") else f"no call for {entity}"


def effect(step: str, key: str, target: str | None, action: str, image: object = "unsaved") -> RunEffect:
    saved = image != "unsaved"
    return RunEffect(step, key, target, action, saved, None if not saved else image, None)  # type: ignore[arg-type]


def test_created_records_are_removed_updated_ones_restored_unchanged_left_in_reverse_step_order() -> None:
    effects = [
        effect("groups", "g1", "10", "created"),
        effect("groups", "g2", "11", "unchanged"),
        effect("users", "u1", "100", "updated", {"firstName": "Before"}),
        effect("users", "u2", "101", "updated", None),  # not on the target before: the upsert created it
        effect("users", "u3", "102", "updated"),  # no pre-image: cannot be restored
    ]
    plan = plan_undo(1, STEPS, effects, removal, {})
    assert [(r.step, r.target_id, r.kind) for r in plan.reversals] == [
        ("users", "100", "restore"),
        ("users", "101", "remove"),
        ("groups", "10", "remove"),
    ]
    assert plan.reversals[0].image == {"firstName": "Before"}
    assert [(c.step, c.source_key) for c in plan.cannot] == [("users", "u3")]
    assert "updated without its values from before the run" in plan.cannot[0].reason
    assert plan.remains() == {("users", "remove", "stays"): 1, ("groups", "remove", "stays"): 1}


def test_one_reversal_per_target_record_a_removal_wins_and_covers_other_steps_updates() -> None:
    effects = [
        effect("users", "a", "100", "updated", {"firstName": "X"}),
        effect("users", "b", "100", "created"),  # the source held the match value twice
        effect("users", "c", "200", "created"),
        effect("user_status", "c", "200", "updated"),  # its status: gone with the user
        effect("user_status", "d", "300", "updated"),  # a user the run did not create
    ]
    plan = plan_undo(1, STEPS, effects, removal, {})
    assert [(r.step, r.target_id, r.kind, r.source_keys) for r in plan.reversals] == [
        ("users", "100", "remove", ("b", "a")),
        ("users", "200", "remove", ("c",)),
    ]
    assert [(c.step, c.target_id) for c in plan.cannot] == [("user_status", "300")]


def test_what_cannot_be_removed_or_restored_is_listed_with_its_reason() -> None:
    steps = [StepTarget("lessons", "target", "velpic", "lesson_schedule", can_restore=False)]
    effects = [
        effect("lessons", "s1", "7", "created"),
        effect("lessons", "s2", None, "created"),
        effect("lessons", "s3", "8", "updated", {"status": "due"}),
        effect("gone", "x", "9", "created"),
    ]
    plan = plan_undo(1, steps, effects, removal, {})
    assert plan.reversals == []
    reasons = {c.source_key: c.reason for c in plan.cannot}
    assert reasons["s1"] == "no call for lesson_schedule"
    assert "no target id" in reasons["s2"]
    assert "has no write that restores" in reasons["s3"]
    assert "no such step" in reasons["x"]


def test_an_earlier_undos_done_reversals_are_not_made_again_sent_and_failed_ones_are() -> None:
    effects = [effect("users", k, t, "created") for k, t in (("a", "1"), ("b", "2"), ("c", "3"))]
    marks = {
        ("users", "1"): UndoMark("users", "1", "remove", "done"),
        ("users", "2"): UndoMark("users", "2", "remove", "sent"),
        ("users", "3"): UndoMark("users", "3", "remove", "failed", "refused"),
    }
    plan = plan_undo(1, STEPS, effects, removal, marks)
    assert [r.target_id for r in plan.finished] == ["1"]
    assert [r.target_id for r in plan.reversals] == ["2", "3"]


# -- the journal ---------------------------------------------------------------------------------------------


def test_the_journal_keeps_a_runs_pre_images_and_effects_and_an_undos_marks(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite", "p") as j:
        run = j.begin_run("h")
        j.save_pre_images(
            "users", [PreImage("a", "100", "a@x", {"firstName": "Before"}), PreImage("b", None, "b@x", None)]
        )
        j.save_pre_images("users", [PreImage("a", "100", "a@x", {"firstName": "Later"})])  # the first one stays
        j.mark_batch_sent("users", "b1", [SentRecord("ia", "a"), SentRecord("ib", "b"), SentRecord("ic", "c")])
        j.mark_batch_done(
            "users",
            "b1",
            [
                WriteResult("ia", "a", "100", "updated"),
                WriteResult("ib", "b", "101", "updated"),
                WriteResult("ic", "c", "102", "unchanged"),
            ],
        )
        j.finish_run("done")
        assert j.run_effects([run]) == [
            RunEffect("users", "a", "100", "updated", True, {"firstName": "Before"}, "a@x"),
            RunEffect("users", "b", "101", "updated", True, None, "b@x"),
            RunEffect("users", "c", "102", "unchanged", False, None, None),
        ]
        assert j.runs_that_wrote_after(0) == [run] and j.runs_that_wrote_after(run) == []
        j.mark_undo(run, [UndoMark("users", "100", "restore", "sent")])
        j.mark_undo(run, [UndoMark("users", "100", "restore", "failed", "refused: secret-1234")])
        assert j.undo_marks(run) == {
            ("users", "100"): UndoMark("users", "100", "restore", "failed", "refused: secret-1234")
        }
        assert j.integrity_check() == []


def test_a_step_journals_a_batchs_pre_images_with_the_batch_sent(tmp_path: Path) -> None:
    """The step's ledger keeps a batch's pre-images until the batch is marked sent, and the journal writes
    both in one transaction: before the request, what undo needs is there (and nothing of a batch never
    marked sent)."""
    path = tmp_path / "j.sqlite"
    with Journal.open(path, "p") as j:
        run = j.begin_run("h")
        ledger = JournalLedger(j, "users")
        ledger.pre_images(
            [PreImage("a", "100", "a@x", {"firstName": "Before"}), PreImage("b", None, "b@x", None)]
        )
        with Journal.open(path, "p", read_only=True) as reader:
            assert reader._conn.execute("SELECT count(*) FROM batch_images").fetchone()[0] == 0
        ledger.batch_sent("b1", [SentRecord("ia", "a"), SentRecord("ib", "b")])
        with Journal.open(path, "p", read_only=True) as reader:  # before any request: committed
            assert reader._conn.execute("SELECT count(*) FROM batch_images").fetchone()[0] == 1
        ledger.pre_images([PreImage("c", None, "c@x", None)])
        ledger.batch_sent("b2", [SentRecord("ic", "c")])
        ledger.batch_done("b1", [WriteResult("ia", "a", "100", "updated"), WriteResult("ib", "b", "101")], [])
        ledger.batch_done("b2", [WriteResult("ic", "c", "102")], [])
        assert j.run_effects([run]) == [
            RunEffect("users", "a", "100", "updated", True, {"firstName": "Before"}, "a@x"),
            RunEffect("users", "b", "101", "created", True, None, "b@x"),
            RunEffect("users", "c", "102", "created", True, None, "c@x"),
        ]


def test_undo_reasons_are_redacted(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite", "p", redact=lambda s: s.replace("secret-1234", "***")) as j:
        j.mark_undo(1, [UndoMark("users", "1", "remove", "failed", "echoed secret-1234")])
        assert j.undo_marks(1)[("users", "1")].reason == "echoed ***"


def test_an_older_journal_is_upgraded_to_keep_pre_images(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    Journal.open(path, "p").close()
    conn = sqlite3.connect(path)
    conn.executescript("DROP TABLE pre_images; DROP TABLE undo_actions; PRAGMA user_version = 6;")
    conn.close()
    with Journal.open(path, "p") as j:
        run = j.begin_run("h")
        j.save_pre_images("s", [PreImage("a", "1", None, {"x": 1})])
        j.mark_batch_sent("s", "b1", [SentRecord("ia", "a")])
        j.mark_batch_done("s", "b1", [WriteResult("ia", "a", "1", "updated")])
        assert j.run_effects([run]) == [RunEffect("s", "a", "1", "updated", True, {"x": 1}, None)]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_pre_images_an_older_journal_kept_per_record_are_read_with_those_kept_per_batch(tmp_path: Path) -> None:
    """Before schema 9 a pre-image was a row per record (``pre_images``); since, a batch's are one row. An
    undo of runs on both sides reads both: each record's image is the earliest run's, and within a run the
    first saved."""
    with Journal.open(tmp_path / "j.sqlite", "p") as j:
        first = j.begin_run("h")
        j._conn.execute(
            "INSERT INTO pre_images (run_id, step, source_key, target_id, match_value, image) "
            "VALUES (?, 'users', 'a', '100', 'a@x', '{\"firstName\":\"Old\"}')",
            (first,),
        )
        j.mark_batch_sent("users", "b1", [SentRecord("ia", "a")])
        j.mark_batch_done("users", "b1", [WriteResult("ia", "a", "100", "updated")])
        j.finish_run("stopped")
        second = j.begin_run("h")
        j.save_pre_images(
            "users", [PreImage("a", "100", "a@x", {"firstName": "Run 2"}), PreImage("b", None, "b@x", None)]
        )
        j.save_pre_images("users", [PreImage("b", "101", "b@x", {"firstName": "Later"})])  # the first stays
        j.mark_batch_sent("users", "b2", [SentRecord("ia", "a"), SentRecord("ib", "b")])
        j.mark_batch_done(
            "users", "b2", [WriteResult("ia", "a", "100", "updated"), WriteResult("ib", "b", "101")]
        )
        j.finish_run("done")
        assert j.run_effects([first, second]) == [
            RunEffect("users", "a", "100", "updated", True, {"firstName": "Old"}, "a@x"),
            RunEffect("users", "b", "101", "created", True, None, "b@x"),
        ]
        assert j.run_effects([second]) == [
            RunEffect("users", "a", "100", "updated", True, {"firstName": "Run 2"}, "a@x"),
            RunEffect("users", "b", "101", "created", True, None, "b@x"),
        ]


# -- reversal calls ------------------------------------------------------------------------------------------


def answer(status: int, body: bytes = b"") -> Response:
    return Response(status, body)


def calls_until_done(
    writer: object, entity: str, target_id: str, statuses: list[tuple[int, bytes]]
) -> list[Request | Removed | str]:
    """Each step of a removal, the platform answering ``statuses`` in turn."""
    answers: list[Response] = []
    steps: list[Request | Removed | str] = []
    for status, body in [*statuses, (0, b"")]:
        step = writer.next_removal(entity, target_id, answers)  # type: ignore[attr-defined]
        steps.append(step)
        if not isinstance(step, Request):
            return steps
        answers.append(answer(status, body))
    return steps


def test_an_accessplanit_user_is_deleted_until_the_platform_says_it_is_gone() -> None:
    steps = calls_until_done(AccessPlanItUndo(), "user", "u/1", [(200, b""), (200, b""), (404, b"")])
    assert [s.method + " " + s.path for s in steps[:3] if isinstance(s, Request)] == ["DELETE /user/u%2F1"] * 3
    assert steps[-1] == Removed()
    # a resumed undo whose first DELETEs reached the platform: the next one answers 404, already gone
    assert calls_until_done(AccessPlanItUndo(), "user", "u1", [(404, b"")])[-1] == Removed(already=True)
    assert calls_until_done(AccessPlanItUndo(), "company", "c1", [(200, b"")])[-1] == Removed()
    refused = calls_until_done(AccessPlanItUndo(), "company", "c1", [(400, b"in use")])[-1]
    assert isinstance(refused, str) and "400" in refused and "in use" in refused
    assert isinstance(AccessPlanItV1Undo().removal("company"), str)


def test_a_velpic_user_leaves_its_groups_then_is_inactivated() -> None:
    user = b'{"id": 5, "groups": [{"id": 1}, 2], "groupsSupervised": [{"id": 3}]}'
    steps = calls_until_done(
        VelpicUndo(), "user", "5", [(200, user), (200, b""), (404, b""), (200, b""), (200, b"")]
    )
    paths = [s.path for s in steps if isinstance(s, Request)]
    assert paths == [
        "/user/5",
        "/group/1/remove_members",
        "/group/2/remove_members",
        "/group/3/remove_supervisors",
        "/user/5/inactivate",
    ]
    assert steps[1].json == {"userIds": [5]}  # type: ignore[union-attr]
    assert steps[-1] == Removed()
    assert calls_until_done(VelpicUndo(), "user", "5", [(404, b"")])[-1] == Removed(already=True)
    assert calls_until_done(VelpicUndo(), "group", "9", [(200, b"")])[-1] == Removed()
    assert isinstance(VelpicUndo().removal("lesson_schedule"), str)


def test_anewspring_removals_and_their_ids() -> None:
    w = ANewSpringUndo()
    member = calls_until_done(w, "group_member", "VG1/E01", [(200, b"")])
    assert isinstance(member[0], Request) and member[0].path == "/deleteGroupUsers/VG1"
    assert member[0].form == (("user", "E01"), ("ignoreMissing", "true"))
    sub = calls_until_done(w, "subscription", "E01/C 1", [(404, b"")])
    assert (
        isinstance(sub[0], Request)
        and sub[0].path == "/unsubscribe/E01/C%201"
        and sub[-1] == Removed(already=True)
    )
    refused = calls_until_done(w, "group", "VG1", [(409, b"still has users")])[-1]
    assert isinstance(refused, str) and "409" in refused
    assert isinstance(w.next_removal("subscription", "no-slash", []), str)
    assert w.empty == ""


@pytest.mark.parametrize("platform", ["velpic", "accessplanit", "accessplanit_v1", "anewspring", "onefile"])
def test_the_registry_serves_each_platforms_reversal_calls(platform: str) -> None:
    assert make_undo_writer(platform) is not None


def test_platforms_without_reversal_calls_have_none_and_entities_read_from_one_list_are_one() -> None:
    assert make_undo_writer("files") is None
    onefile = make_undo_writer("onefile")
    assert onefile is not None and "has no call that deletes" in str(onefile.removal("user"))
    velpic = CATALOG["velpic"]
    assert same_list(velpic, "user_status") == "user" and same_list(velpic, "group") == "group"


def test_a_resumed_load_keeps_each_records_pre_image_from_its_first_run(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite", "p") as j:
        first = j.begin_run("h")
        j.save_pre_images(
            "users", [PreImage("a", "100", None, {"firstName": "Before"}), PreImage("b", None, None, None)]
        )
        j.mark_batch_sent("users", "b1", [SentRecord("ia", "a"), SentRecord("ib", "b")])  # killed: in doubt
        second = j.begin_run("h")
        # the resumed run read the target after the first run's writes reached it
        j.save_pre_images(
            "users", [PreImage("a", "100", None, {"firstName": "Loaded"}), PreImage("b", "101", None, {})]
        )
        j.mark_batch_sent("users", "b2", [SentRecord("ia", "a"), SentRecord("ib", "b")])
        j.mark_batch_done(
            "users",
            "b2",
            [WriteResult("ia", "a", "100", "updated"), WriteResult("ib", "b", "101", "unchanged")],
        )
        effects = j.run_effects([first, second])
        assert [(e.source_key, e.image) for e in effects] == [("a", {"firstName": "Before"}), ("b", None)]
        assert [e.image for e in j.run_effects([second])] == [{"firstName": "Loaded"}, {}]
    plan = plan_undo(second, STEPS, effects, removal, {})
    assert [(r.target_id, r.kind) for r in plan.reversals] == [("100", "restore"), ("101", "remove")]


# -- which runs an undo takes --------------------------------------------------------------------------------


def _wrote(j: Journal, step: str, key: str, status: str | None) -> int:
    run = j.begin_run("h")
    j.mark_batch_sent(step, f"b-{key}", [SentRecord(f"i-{key}", key)])
    j.mark_batch_done(step, f"b-{key}", [WriteResult(f"i-{key}", key, key, "created")])
    if status is not None:
        j.finish_run(status)
    return run


def test_the_undo_takes_the_last_run_and_the_unfinished_runs_it_resumed(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite", "p") as j:
        _wrote(j, "s", "a", "done")  # a load that finished: not part of the next one
        killed = _wrote(j, "s", "b", None)  # marked unfinished when the next run begins
        stopped = _wrote(j, "s", "c", "stopped")
        resumed = _wrote(j, "s", "d", "done")
        j.begin_run("h")  # a run that wrote nothing
        j.finish_run("done")
        assert chosen_runs(j, None) == [killed, stopped, resumed]
        with pytest.raises(UndoRefused, match=f"Undo run {resumed} first"):
            chosen_runs(j, stopped)
        with pytest.raises(UndoRefused, match="has no run 99"):
            chosen_runs(j, 99)
    with Journal.open(tmp_path / "k.sqlite", "p") as j, pytest.raises(UndoRefused, match="nothing to undo"):
        chosen_runs(j, None)


def test_a_velpic_user_already_inactive_is_not_inactivated_again() -> None:
    user = b'{"id": 5, "clientStatusId": 57, "groups": [], "groupsSupervised": []}'
    assert calls_until_done(VelpicUndo(), "user", "5", [(200, user)])[-1] == Removed(already=True)
    still_in = b'{"id": 5, "active": false, "groups": [{"id": 1}], "groupsSupervised": []}'
    steps = calls_until_done(VelpicUndo(), "user", "5", [(200, still_in), (200, b"")])
    assert [s.path for s in steps if isinstance(s, Request)] == ["/user/5", "/group/1/remove_members"]
    assert steps[-1] == Removed()


def test_a_status_written_to_a_user_that_was_there_is_put_back_from_its_match_value() -> None:
    """Velpic user status: sent only to a user in the other status, so its match value (id, status sent) says
    what the user held; a user the run created leaves with its status; one linked (no call) needs nothing."""
    writer = make_writer("velpic", "user_status", "update", "id")
    assert isinstance(writer, StateWriter)
    steps = [*STEPS[:2], replace(STEPS[2], can_restore=True, state_before=writer.state_before)]

    def status(key: str, target: str, action: str, sent: int | None) -> RunEffect:
        image_saved = sent is not None  # a record sent has its pre-image: not in the index (id, status)
        match = f"{target}\x1f{sent}" if sent is not None else None
        return RunEffect("user_status", key, target, action, image_saved, None, match)

    effects = [
        effect("users", "c", "200", "created"),
        status("c", "200", "updated", 57),  # created by the run: removed with the user
        status("d", "300", "updated", 57),  # was Active
        status("e", "400", "updated", 56),  # was Not Current
        status("f", "500", "unchanged", None),  # already so: linked, no call
    ]
    plan = plan_undo(1, steps, effects, removal, {})
    assert [(r.step, r.target_id, r.kind, r.image) for r in plan.reversals] == [
        ("user_status", "300", "restore", {"clientStatusId": 56}),
        ("user_status", "400", "restore", {"clientStatusId": 57}),
        ("users", "200", "remove", None),
    ]
    assert plan.cannot == []
    assert writer.state_before("300") is None and writer.state_before("300\x1f99") is None


def test_a_run_after_an_undo_writes_again_what_the_undo_took_back(tmp_path: Path) -> None:
    """Every record the undone runs wrote last is no longer settled for a normal run, once the undo has made
    a reversal; a record a later run wrote again is settled as that run left it."""

    def wrote(j: Journal, key: str) -> None:
        idem = idempotency_key("p", "s", key)
        j.mark_batch_sent("s", f"b-{key}-{j.runs()[-1]['id']}", [SentRecord(idem, key)])
        j.mark_batch_done("s", f"b-{key}-{j.runs()[-1]['id']}", [WriteResult(idem, key, key, "created")])

    with Journal.open(tmp_path / "j.sqlite", "p") as j:
        j.begin_run("h")
        wrote(j, "a")
        j.finish_run("done")
        killed = j.begin_run("h")
        wrote(j, "b")
        resumed = j.begin_run("h")  # resumes the killed run
        wrote(j, "c")
        j.finish_run("done")
        assert taken_runs(j, resumed) == [killed, resumed]
        assert undone_keys(j, "s") == set()  # an undo planned, none made: nothing taken back
        j.mark_undo(resumed, [UndoMark("s", "b", "remove", "done")])
        assert undone_keys(j, "s") == {idempotency_key("p", "s", k) for k in ("b", "c")}
        selection = Selection.load(j, "s", SelectionMode.NORMAL, updates=False)
        assert selection.reread and not selection.skip_before_mapping(idempotency_key("p", "s", "b"))
        assert selection.skip_before_mapping(idempotency_key("p", "s", "a"))
        # a run after the undo starts its limits' figures from the records not taken back
        held = j.step_counts()["s"]
        assert (held.records_done, held.created) == (3, 3)
        assert settled_counts(j, "s") == replace(held, records_done=1, created=1)
        j.begin_run("h")
        wrote(j, "b")  # written again by the run after the undo
        assert undone_keys(j, "s") == {idempotency_key("p", "s", "c")}
        assert undone_keys(j, "other") == set()
        assert settled_counts(j, "s") == replace(j.step_counts()["s"], records_done=2, created=2)
        assert settled_counts(j, "other") is None


def status_steps() -> list[StepTarget]:
    """The Velpic steps as ``step_targets`` makes them: users writes firstName and lastName, user_status the
    status (its state)."""
    writer = make_writer("velpic", "user_status", "update", "id")
    assert isinstance(writer, StateWriter)
    return [
        STEPS[0],
        replace(STEPS[1], fields=("firstName", "lastName")),
        replace(
            STEPS[2], can_restore=True, state_before=writer.state_before, state_fields=state_fields(writer)
        ),
    ]


def test_a_status_goes_back_to_the_earliest_pre_image_last_whichever_step_changed_it() -> None:
    """The users step's pre-images hold each merged user's status before the run (the import may reactivate
    a leaver: the status step then finds it Active): that is the status put back, after the user's values,
    also for a user the status step did not write; the import's restore is sent without it."""
    steps = status_steps()
    assert steps[2].state_fields == ("clientStatusId",)
    effects = [
        effect("users", "a", "100", "updated", {"firstName": "A", "lastName": "L", "clientStatusId": 57}),
        effect("users", "b", "200", "updated", {"firstName": "B", "lastName": "L", "clientStatusId": 57}),
        effect("users", "c", "300", "updated", {"firstName": "C", "lastName": "L", "clientStatusId": 56}),
        effect("users", "d", "400", "updated", {"clientStatusId": 56}),  # only its status was read
        # reactivated by the import, inactivated again: its match value says Active, the pre-image Not Current
        RunEffect("user_status", "b", "200", "updated", True, None, "200\x1f57"),
    ]
    plan = plan_undo(1, steps, effects, removal, {})
    assert [(r.step, r.target_id, r.image) for r in plan.reversals] == [
        ("users", "100", {"firstName": "A", "lastName": "L"}),
        ("users", "200", {"firstName": "B", "lastName": "L"}),
        ("users", "300", {"firstName": "C", "lastName": "L"}),
        ("user_status", "100", {"clientStatusId": 57}),
        ("user_status", "200", {"clientStatusId": 57}),
        ("user_status", "300", {"clientStatusId": 56}),
        ("user_status", "400", {"clientStatusId": 56}),
    ]
    assert plan.cannot == []


def test_a_status_put_back_is_put_back_again_while_its_users_values_are_still_to_restore() -> None:
    """An undo that restored a user's status and then failed to restore its values (or was killed) restores
    the status again after them: the import that restores them may reactivate the user again."""
    steps = status_steps()
    effects = [
        effect("users", "a", "100", "updated", {"firstName": "A", "lastName": "L", "clientStatusId": 57}),
        effect("users", "b", "200", "updated", {"firstName": "B", "lastName": "L", "clientStatusId": 57}),
    ]
    marks = {
        ("users", "100"): UndoMark("users", "100", "restore", "failed", "refused"),
        ("users", "200"): UndoMark("users", "200", "restore", "done"),
        ("user_status", "100"): UndoMark("user_status", "100", "restore", "done"),
        ("user_status", "200"): UndoMark("user_status", "200", "restore", "done"),
    }
    plan = plan_undo(1, steps, effects, removal, marks)
    assert [(r.step, r.target_id) for r in plan.reversals] == [("users", "100"), ("user_status", "100")]
    assert [(r.step, r.target_id) for r in plan.finished] == [("users", "200"), ("user_status", "200")]


def test_a_pre_image_without_the_status_is_listed_and_a_field_the_target_did_not_return_is_named() -> None:
    """A journal from before the pre-images held statuses: a merged user the status step did not write may
    have had its status changed by the import, unknown, listed as not undone; one it wrote goes back by its
    match value. A mapped field the target did not return cannot be put back: the restore names it."""
    steps = status_steps()
    effects = [
        effect("users", "a", "100", "updated", {"firstName": "A"}),
        effect("users", "b", "200", "updated", {"firstName": "B", "lastName": "L"}),
        RunEffect("user_status", "b", "200", "updated", True, None, "200\x1f57"),
    ]
    plan = plan_undo(1, steps, effects, removal, {})
    assert [(r.step, r.target_id, r.image, r.left) for r in plan.reversals] == [
        (
            "users",
            "100",
            {"firstName": "A"},
            "lastName: the target did not return it before the run, left as the run wrote it",
        ),
        ("users", "200", {"firstName": "B", "lastName": "L"}, ""),
        ("user_status", "200", {"clientStatusId": 56}, ""),
    ]
    assert plan.remains() == {("users", "restore", plan.reversals[0].left): 1}
    assert [(c.step, c.target_id) for c in plan.cannot] == [("user_status", "100")]
    assert "step users wrote to it and may have changed its clientStatusId" in plan.cannot[0].reason


def test_the_steps_writing_the_records_a_state_step_sets_read_that_state_for_their_pre_images() -> None:
    plans = Path(__file__).resolve().parents[2] / "plans"
    loaded = load_plan(str(plans / "velpic-to-velpic.toml"))
    graph = compile_graph(loaded)
    assert kept_states(loaded.plan, graph, "users") == ("clientStatusId",)
    assert kept_states(loaded.plan, graph, "user_status") == ()
    assert kept_states(loaded.plan, graph, "groups") == ()
    assert kept_states(loaded.plan, graph, "certificates") == ()
    loaded = load_plan(str(plans / "csv-to-accessplanit.toml"))
    graph = compile_graph(loaded)
    assert all(kept_states(loaded.plan, graph, s) == () for s in loaded.plan.steps)
