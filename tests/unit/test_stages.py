"""The pipeline's stages in process, over the in-memory wire: fetch, map, write (in-doubt creates resolved by
lookup for every match key the catalog accepts), the dry-run writer and the isolation of all-or-nothing
batches. No socket, no subprocess; the journal is a real SQLite file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from migrator.connectors.base import Request, Response, RowResult, WriteItem, Writer
from migrator.connectors.registry import make_auth, make_reader, make_writer
from migrator.connectors.velpic.spec import VELPIC
from migrator.errors import TransientError
from migrator.journal import Journal, SentRecord, WriteResult
from migrator.plan.mapping import compile_map
from migrator.protocol.keys import record_key_function
from migrator.runtime.batch import Batch
from migrator.runtime.build import crosswalk_resolver
from migrator.runtime.counters import StepCounters
from migrator.runtime.dryrun import DryRunWriter, Finding, StepFindings
from migrator.runtime.fetch import page_feed
from migrator.runtime.ledger import JournalLedger
from migrator.runtime.mapper import map_and_batch
from migrator.runtime.pages import PageTracker
from migrator.runtime.selection import Selection, SelectionMode
from migrator.runtime.step import run_step
from migrator.runtime.step_spec import StepSpec
from migrator.runtime.write import write_batch
from migrator.runtime.write_path import WritePath
from migrator.transport import Transport
from migrator.wire import WireRequest
from tests.memory_transport import json_response, memory_transport

PLAN = "stages"


class FakeVelpic:
    """Velpic users as the document describes them: ``GET /user`` pages (``startIndex``/``maxResults``,
    answers ``results`` and ``meta.totalResultCount``), ``POST /user`` creates one and answers it. The
    list ignores every filter, so a lookup must compare what it finds. ``lose`` loses the answers of that
    many creates after they are done (a connection reset between the server's commit and its answer)."""

    def __init__(self, users: int = 0, lose: int = 0) -> None:
        self.users: list[dict[str, Any]] = [
            {"id": i + 1, "userName": f"u{i}", "emailAddress": f"u{i}@example.com", "employeeNumber": str(i)}
            for i in range(users)
        ]
        self.lose = lose
        self.calls: list[tuple[str, str]] = []

    def __call__(self, request: WireRequest) -> Response:
        self.calls.append((request.method, request.path))
        if request.method == "GET" and request.path == "/user":
            params = dict(request.params)
            start, size = int(params.get("startIndex", 0)), int(params.get("maxResults", 0) or 10**9)
            page = self.users[start : start + size]
            return json_response(200, {"results": page, "meta": {"totalResultCount": len(self.users)}})
        if request.method == "POST" and request.path == "/user":
            user = {**dict(request.json), "id": len(self.users) + 1}
            self.users.append(user)
            if self.lose:
                self.lose -= 1
                raise ConnectionResetError("lost answer")
            return json_response(200, user)
        return json_response(404, {"error": True, "message": "not here"})


def _transport(handler: Callable[[WireRequest], Response]) -> Transport:
    return memory_transport("velpic", make_auth("velpic", {"access_key": "k"}), handler)


def _spec(
    journal: Journal,
    target: Transport,
    writer: Writer,
    *,
    mapping: dict[str, Any],
    batch: int = 10,
    name: str = "users",
) -> StepSpec:
    compiled, problems = compile_map(mapping, {})
    assert compiled is not None, problems
    reader = make_reader("velpic", "user", {}, 100, name)
    counters = StepCounters()
    return StepSpec(
        plan_name=PLAN,
        name=name,
        reader=reader,
        feed=page_feed(name, reader, target, counters, 2),
        path=WritePath.of(writer),
        target=target,
        mapping=compiled,
        resolve=crosswalk_resolver({}),
        batch=batch,
        journal=journal,
        ledger=JournalLedger(journal, name),
        read_concurrency=2,
        write_concurrency=2,
        counters=counters,
    )


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal.open(tmp_path / "journal.db", PLAN)


# -- fetch ----------------------------------------------------------------------------------------------------
async def test_fetch_sends_every_page_once_and_skips_done_pages() -> None:
    server = FakeVelpic(users=250)
    reader = make_reader("velpic", "user", {}, 100, "users")
    counters = StepCounters()
    async with _transport(server) as source:
        feed = page_feed("users", reader, source, counters, 2)
        send, recv = anyio.create_memory_object_stream[tuple[str, list[dict[str, Any]]]](10)
        await feed.run((), send)
        pages = [page async for page in recv]
    assert sorted(len(records) for _, records in pages) == [50, 100, 100]
    assert sorted(r["id"] for _, records in pages for r in records) == list(range(1, 251))
    assert counters.pages == 3 and counters.total == 250

    done = {pages[0][0]}
    counters = StepCounters()
    async with _transport(server) as source:
        send, recv = anyio.create_memory_object_stream[tuple[str, list[dict[str, Any]]]](10)
        await page_feed("users", reader, source, counters, 2).run(done, send)
        again = [key async for key, _ in recv]
    assert set(again) == {key for key, _ in pages} - done


# -- map ------------------------------------------------------------------------------------------------------
async def test_map_skips_settled_rejects_unmappable_and_batches_by_size(journal: Journal) -> None:
    key_of = record_key_function(PLAN, "users")
    journal.mark_batch_sent("users", "b0", [SentRecord(key_of("0"), "0")])
    journal.mark_batch_done("users", "b0", [WriteResult(key_of("0"), "0", "t0", "created")])
    async with _transport(FakeVelpic()) as target:
        writer = make_writer("velpic", "user", "create", "emailAddress")
        mapping = {
            "emailAddress": "email",
            "userName": "name",
            "firstName": "name",
            "lastName": "name",
            "roles": [6],
            "employeeNumber": "emp | int",
        }
        spec = _spec(journal, target, writer, mapping=mapping, batch=2)
        records = [{"id": i, "email": f"p{i}@example.com", "name": f"p{i}", "emp": str(i)} for i in range(6)]
        records.append({"id": 99, "email": "bad@example.com", "name": "bad", "emp": "not a number"})
        selection = Selection.load(journal, spec.name, SelectionMode.NORMAL, updates=False)
        tracker = PageTracker(spec.ledger)
        pages_send, pages_recv = anyio.create_memory_object_stream[tuple[str, list[dict[str, Any]]]](1)
        batch_send, batch_recv = anyio.create_memory_object_stream[Batch](10)
        async with anyio.create_task_group() as tg:
            tg.start_soon(map_and_batch, spec, selection, tracker, pages_recv, batch_send)
            async with pages_send:
                await pages_send.send(("p0", records))
        batches = [b async for b in batch_recv]
    assert [len(b.items) for b in batches] == [2, 2, 1]
    assert [it.source_key for b in batches for it in b.items] == ["1", "2", "3", "4", "5"]
    assert spec.counters.read == 7 and spec.counters.skipped == 1 and spec.counters.rejected == 1
    assert [(d.step, d.source_key) for d in journal.open_rejections()] == [("users", "99")]
    assert tracker.pending == {"p0": 5}  # settled: the skipped and the rejected record; the batched ones wait


# -- write: in-doubt creates ----------------------------------------------------------------------------------
CREATE_MATCH_KEYS = VELPIC.entities["user"].writes["create"].match_keys


@pytest.mark.parametrize("match", CREATE_MATCH_KEYS)
async def test_a_create_whose_answer_is_lost_is_found_not_created_twice(journal: Journal, match: str) -> None:
    server = FakeVelpic(lose=1)
    async with _transport(server) as target:
        writer = make_writer("velpic", "user", "create", match)
        spec = _spec(
            journal,
            target,
            writer,
            mapping={
                "userName": "name",
                "emailAddress": "email",
                "employeeNumber": "emp",
                "firstName": "name",
                "lastName": "name",
                "roles": [6],
            },
            batch=1,
        )
        records = [{"id": 1, "name": "ann", "email": "ann@example.com", "emp": "E1"}]
        path = spec.path
        item = path.writer.prepare(WriteItem("k1", "1", spec.mapping(records[0], spec.resolve)))
        assert isinstance(item, WriteItem)
        tracker = PageTracker(spec.ledger)
        tracker.opened("p", 1)
        await write_batch(spec, {}, tracker, Batch(path, [item], ["p"], ["h"]))
    assert len(server.users) == 1, server.users  # created once, found by its match key after the lost answer
    assert journal.crosswalk("users") == {"1": "1"}
    assert spec.counters.in_doubt_resolved == 1 and spec.counters.written == 1


@pytest.mark.parametrize("match", CREATE_MATCH_KEYS)
async def test_a_record_in_doubt_from_an_earlier_run_is_looked_up_first(journal: Journal, match: str) -> None:
    server = FakeVelpic(users=3)
    async with _transport(server) as target:
        writer = make_writer("velpic", "user", "create", match)
        spec = _spec(journal, target, writer, mapping={}, batch=1)
        existing = server.users[2]
        payload = {k: existing[k] for k in ("userName", "emailAddress", "employeeNumber")}
        payload.update(firstName="x", lastName="y", roles=[6])
        item = path_item = WriteItem("k3", "src-3", payload)
        tracker = PageTracker(spec.ledger)
        tracker.opened("p", 1)
        await write_batch(spec, {"k3": None}, tracker, Batch(spec.path, [path_item], ["p"], ["h"]))
    assert len(server.users) == 3  # nothing created: the earlier run's create had landed
    assert ("POST", "/user") not in server.calls
    assert journal.crosswalk("users") == {"src-3": str(existing["id"])}
    assert item.idem_key in journal.settled_keys("users")


# -- write: isolation -----------------------------------------------------------------------------------------
class AllOrNothing:
    """A bulk writer whose call fails as a whole, without naming a record (every row ``pending``), when any
    record is bad or the call holds more than ``takes`` records; one record alone is answered for itself."""

    mode = "bulk"
    max_batch = 16
    idempotent = True
    match_fields = ("name",)

    def __init__(self, takes: int = 16) -> None:
        self.takes = takes
        self.calls: list[list[str]] = []

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        return item

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [(Request("POST", "/bulk", "/bulk", json=[it.payload for it in items]), list(items))]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        self.calls.append([it.source_key for it in items])
        bad = any(it.payload["name"] == "bad" for it in items)
        if len(items) > 1 and (bad or len(items) > self.takes):
            return [RowResult(it.idem_key, ok=False, action="pending") for it in items]
        return [
            RowResult(it.idem_key, ok=False, status=400, reason="bad name")
            if it.payload["name"] == "bad"
            else RowResult(it.idem_key, ok=True, target_id="t-" + it.source_key)
            for it in items
        ]


async def _write_all_or_nothing(journal: Journal, writer: AllOrNothing, names: list[str]) -> StepSpec:
    async with _transport(lambda request: json_response(200, [])) as target:
        spec = _spec(journal, target, writer, mapping={}, batch=len(names))
        items = [WriteItem(f"k{i}", str(i), {"name": name}) for i, name in enumerate(names)]
        tracker = PageTracker(spec.ledger)
        tracker.opened("p", len(items))
        await write_batch(spec, {}, tracker, Batch(spec.path, items, ["p"] * len(items), ["h"] * len(items)))
    return spec


async def test_an_all_or_nothing_refusal_is_halved_until_the_bad_record_is_alone(journal: Journal) -> None:
    writer = AllOrNothing()
    names = ["bad" if i == 2 else f"n{i}" for i in range(16)]
    spec = await _write_all_or_nothing(journal, writer, names)
    assert [len(c) for c in writer.calls] == [16, 8, 8, 4, 4, 2, 2, 1, 1]  # one by one would be 17 calls
    assert sorted(k for c in writer.calls[1:3] for k in c) == sorted(writer.calls[0])  # halves, every record
    assert spec.counters.written == 15 and spec.counters.rejected == 1
    assert journal.crosswalk("users") == {str(i): f"t-{i}" for i in range(16) if i != 2}
    assert [d.source_key for d in journal.open_rejections()] == ["2"]


async def test_a_call_larger_than_the_target_takes_is_halved_until_it_is_taken(journal: Journal) -> None:
    writer = AllOrNothing(takes=3)
    spec = await _write_all_or_nothing(journal, writer, [f"n{i}" for i in range(10)])
    assert [len(c) for c in writer.calls] == [10, 5, 5, 3, 2, 3, 2]
    assert spec.counters.written == 10 and spec.counters.rejected == 0
    assert journal.crosswalk("users") == {str(i): f"t-{i}" for i in range(10)}
    assert journal.open_rejections() == []


class SecondForm(AllOrNothing):
    """One record per call; the first call of a record is left ``pending`` (to be sent another way, as
    aNewSpring's subscribe does with bare dates), and so is every call of a record named ``never``."""

    def __init__(self) -> None:
        super().__init__(takes=1)
        self.seen: set[str] = set()

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [(Request("POST", "/one", "/one", json=it.payload), [it]) for it in items]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        (it,) = items
        self.calls.append([it.source_key])
        if it.payload["name"] == "never" or it.source_key not in self.seen:
            self.seen.add(it.source_key)
            return [RowResult(it.idem_key, ok=False, action="pending", reason="another form")]
        return [RowResult(it.idem_key, ok=True, target_id="t-" + it.source_key)]


async def test_a_record_its_own_call_leaves_pending_goes_once_more_alone(journal: Journal) -> None:
    writer = SecondForm()
    spec = await _write_all_or_nothing(journal, writer, ["n0", "never", "n2"])
    assert sorted(k for (k,) in writer.calls) == ["0", "0", "1", "1", "2", "2"]  # twice each, never a third
    assert journal.crosswalk("users") == {"0": "t-0", "2": "t-2"}
    assert spec.counters.written == 2 and spec.counters.rejected == 1
    assert [d.source_key for d in journal.open_rejections()] == ["1"]


# -- the dry run is a writer ----------------------------------------------------------------------------------
async def test_the_dry_run_writer_classifies_against_the_target_index_and_writes_nothing(
    journal: Journal,
) -> None:
    real = make_writer("velpic", "user", "bulk", "email")
    dry = DryRunWriter(real, {"a@example.com": ["7"]})
    person = {"firstName": "A", "lastName": "B", "roles": [6]}
    items = [
        WriteItem("k1", "1", {**person, "emailAddress": "A@example.com"}),
        WriteItem("k2", "2", {**person, "emailAddress": "b@x.io"}),
        WriteItem("k3", "3", {"emailAddress": "c@x.io"}),  # the real writer's rules refuse it: no names
    ]
    prepared = [dry.prepare(it) for it in items]
    assert [isinstance(p, WriteItem) for p in prepared] == [True, True, False]
    items = items[:2]
    rows = await dry.write_direct(items)
    assert [(r.idem_key, r.action, r.target_id) for r in rows] == [
        ("k1", "updated", "7"),
        ("k2", "created", "0"),
    ]
    assert "b@x.io" in dry.made  # a later record or step writing the same entity finds it created
    assert "b@x.io" not in (dry.index or {})  # the target's own index is as read


async def test_the_dry_run_writer_links_what_a_create_only_step_finds_and_notes_what_to_look_at() -> None:
    counters = StepCounters()
    findings = StepFindings()
    real = make_writer("velpic", "group", "create", "name")
    dry = DryRunWriter(real, {"sales": ["5"], "ops": ["6", "7"]}, counters=counters, findings=findings)
    items = [WriteItem(f"k{i}", str(i), {"name": n}) for i, n in enumerate(["Sales", "Ops", "New", "new"])]
    prepared = [dry.prepare(it) for it in items]
    rows = await dry.write_direct([p for p in prepared if isinstance(p, WriteItem)])
    assert [(r.action, r.target_id) for r in rows] == [
        ("unchanged", "5"),  # linked, as a run links it
        ("rejected", None),  # two target records hold the name: a run refuses to guess
        ("created", "0"),
        ("unchanged", "0"),  # the source holds the name twice: the second is linked to the first's record
    ]
    assert counters.linked == 2
    assert [f.source_key for f in findings.findings] == ["3"]
    assert "also record '2'" in findings.findings[0].reason

    # a malformed address the target's own rules let through is noted, and still written
    users = DryRunWriter(make_writer("accessplanit", "user", "upsert", "ExternalID"), {}, findings=findings)
    person = {"Forenames": "A", "Surname": "B", "Email": "a.example.com", "ExternalID": "x-9"}
    assert isinstance(users.prepare(WriteItem("k", "9", person)), WriteItem)
    assert findings.findings[-1] == Finding("9", "Email = 'a.example.com' is not an e-mail address")


async def test_a_whole_step_runs_in_process(journal: Journal) -> None:
    server = FakeVelpic(users=120)
    target_server = FakeVelpic()
    async with _transport(server) as source, _transport(target_server) as target:
        writer = make_writer("velpic", "user", "create", "emailAddress")
        spec = _spec(
            journal,
            target,
            writer,
            mapping={
                "userName": "userName",
                "emailAddress": "emailAddress",
                "firstName": "userName",
                "lastName": "userName",
                "roles": [6],
            },
        )
        spec.feed = page_feed(spec.name, spec.reader, source, spec.counters, 2)
        counters = await run_step(spec)
    assert counters.read == 120 and counters.created == 120 and counters.rejected == 0
    assert sorted(u["emailAddress"] for u in target_server.users) == sorted(
        u["emailAddress"] for u in server.users
    )
    assert len(journal.crosswalk("users")) == 120


# -- write: records already on the target ----------------------------------------------------------------------
def _user(i: int) -> dict[str, Any]:
    return {"userName": f"u{i}", "emailAddress": f"u{i}@example.com", "firstName": "F", "lastName": "L"}


async def test_a_create_links_what_the_target_index_holds_and_refuses_an_ambiguous_value(
    journal: Journal,
) -> None:
    server = FakeVelpic()
    async with _transport(server) as target:
        writer = make_writer("velpic", "user", "create", "emailAddress")
        spec = _spec(journal, target, writer, mapping={}, batch=10)
        spec.existing = {"u1@example.com": ["41"], "u2@example.com": ["42", "43"]}
        items = [WriteItem(f"k{i}", str(i), {**_user(i), "roles": [6]}) for i in (1, 2, 3)]
        items.append(WriteItem("k4", "4", {**_user(3), "roles": [6]}))  # the source holds u3 twice
        tracker = PageTracker(spec.ledger)
        tracker.opened("p", 4)
        await write_batch(spec, {}, tracker, Batch(spec.path, items[:3], ["p"] * 3, ["h"] * 3))
        await write_batch(spec, {}, tracker, Batch(spec.path, items[3:], ["p"], ["h"]))
    assert [u["emailAddress"] for u in server.users] == ["u3@example.com"]  # only the missing one is created
    walk = journal.crosswalk("users")
    assert walk["1"] == "41" and walk["4"] == walk["3"] == str(server.users[0]["id"])
    [dead] = journal.open_rejections()
    assert dead.source_key == "2" and "2 records on the target" in dead.reason
    assert spec.counters.linked == 2 and spec.counters.created == 1 and spec.counters.rejected == 1


async def test_without_an_index_a_create_looks_each_record_up_first(journal: Journal) -> None:
    server = FakeVelpic(users=2)
    async with _transport(server) as target:
        writer = make_writer("velpic", "user", "create", "userName")
        spec = _spec(journal, target, writer, mapping={}, batch=10)
        items = [WriteItem(f"k{i}", str(i), {**_user(i), "roles": [6]}) for i in (1, 5)]
        tracker = PageTracker(spec.ledger)
        tracker.opened("p", 2)
        await write_batch(spec, {}, tracker, Batch(spec.path, items, ["p"] * 2, ["h"] * 2))
    assert sorted(u["userName"] for u in server.users) == ["u0", "u1", "u5"]
    assert journal.crosswalk("users")["1"] == "2"
    assert spec.counters.linked == 1 and spec.counters.created == 1


async def test_a_create_in_doubt_is_found_by_the_value_it_was_sent_with(journal: Journal) -> None:
    """The earlier run created ``old`` and lost the answer; the source has renamed the user since."""
    server = FakeVelpic(users=1)
    sent = {k: server.users[0][k] for k in ("userName", "emailAddress", "employeeNumber")}
    async with _transport(server) as target:
        writer = make_writer("velpic", "user", "create", "userName")
        spec = _spec(journal, target, writer, mapping={}, batch=1)
        renamed = WriteItem("k1", "src-1", {**_user(7), "roles": [6]})
        tracker = PageTracker(spec.ledger)
        tracker.opened("p", 1)
        await write_batch(spec, {"k1": sent}, tracker, Batch(spec.path, [renamed], ["p"], ["h"]))
    assert len(server.users) == 1  # found by what was sent, not created again under the new name
    assert journal.crosswalk("users") == {"src-1": str(server.users[0]["id"])}
    assert spec.counters.in_doubt_resolved == 1


async def test_a_create_in_doubt_is_found_by_its_sent_value_in_the_target_index(journal: Journal) -> None:
    async with _transport(FakeVelpic()) as target:
        writer = make_writer("velpic", "user", "create", "emailAddress")
        spec = _spec(journal, target, writer, mapping={}, batch=1)
        spec.existing = {"old@example.com": ["9"]}
        renamed = WriteItem("k1", "src-1", {**_user(7), "roles": [6]})
        tracker = PageTracker(spec.ledger)
        tracker.opened("p", 1)
        sent = {"emailAddress": "old@example.com"}
        await write_batch(spec, {"k1": sent}, tracker, Batch(spec.path, [renamed], ["p"], ["h"]))
    assert journal.crosswalk("users") == {"src-1": "9"} and spec.counters.created == 0


async def test_a_create_keeps_what_it_sent_for_a_later_lookup(journal: Journal) -> None:
    def unreachable(request: WireRequest) -> Response:
        if request.method == "POST":
            raise ConnectionResetError("the create never arrives")
        return json_response(200, {"results": [], "meta": {"totalResultCount": 0}})

    async with _transport(unreachable) as target:
        writer = make_writer("velpic", "user", "create", "emailAddress")
        spec = _spec(journal, target, writer, mapping={}, batch=1)
        item = WriteItem("k1", "src-1", {**_user(1), "roles": [6]})
        tracker = PageTracker(spec.ledger)
        tracker.opened("p", 1)
        with pytest.raises(TransientError):
            await write_batch(spec, {}, tracker, Batch(spec.path, [item], ["p"], ["h"]))
    assert journal.sent_payloads("users")["k1"]["emailAddress"] == "u1@example.com"
