"""The journal: every effect of a run, in SQLite, so that a resumed run creates nothing twice.

The only module that speaks SQL, and one idea however long: the schema, its migrations and every statement
on it live together, so a change of the schema is a change of this one file. One file per plan (default
``.migrator/<plan name>.sqlite``; the caller passes the path), in WAL mode with ``synchronous=NORMAL``: a
commit survives a crash of the process (kill -9); a power cut may lose the last commits, never consistency.
The file and its ``-wal``/``-shm`` companions are created readable by the owner only (0600).

Writes happen per page and per batch, one transaction each, never per record:

- ``mark_batch_sent(step, batch_id, records)`` before the write request (the ledger has each record *sent*);
- ``mark_batch_done(step, batch_id, results, rejected)`` after it (ledger *done* with target id and action —
  the crosswalk is the ledger's view of target ids —, dead letters for the rejected);
- ``mark_pages_done(step, page_keys)`` once pages' records are all in done batches (the runtime decides when).

Reads for a run: :meth:`Journal.pages_done`, :meth:`Journal.settled_keys` (done or rejected records),
:meth:`Journal.keys_in_state` (e.g. *sent*: in a batch sent but not *done*), :meth:`Journal.done_hashes`
(delta runs), :meth:`Journal.crosswalk` (a whole step as a dict, for fast mapping) and
:meth:`Journal.check_plan` (has the plan changed since the last run?). For ``migrator status``:
:meth:`Journal.step_counts`, :meth:`Journal.dead_letters`, :meth:`Journal.runs`. For tests and audits:
:meth:`Journal.integrity_check`.

Reads for reports: :meth:`Journal.ledger_row_chunks` (the whole ledger in one pass, for ``success.csv`` and
``crosswalk.csv``), :meth:`Journal.open_rejections` (the latest dead letter of each record still rejected),
:meth:`Journal.batch_completions` (throughput), and :meth:`Journal.save_run_stats` / :meth:`Journal.run_stats`
(a JSON object per run: the runner's summary).

Schema versions: 1 (the ledger), 2 (adds ``run_stats``), 3 (a sent batch's records in one row), 4 (the
crosswalk is a view of the ledger's target ids, not a second table written per record). Opening an older journal
upgrades it in place, in one transaction (``_MIGRATIONS``); a newer one is refused.

Threading: calls are synchronous and short. Measured on the 2-core development VM with 500-record batches:
``mark_batch_sent`` and ``mark_batch_done`` ≈ 5 ms together. The engine calls them on its event loop, between
two awaits (a worker thread cost more CPU in GIL hand-offs than the writes themselves). The connection is
opened with ``check_same_thread=False`` and every call holds a lock, so calls from different threads are
serialised.

The ledger is keyed by (step, source key) — for one plan that is the same as keying it by idempotency key,
which is a hash of (plan, step, source key) and is stored in every row — because source keys arrive roughly
in order, so a batch touches a few neighbouring B-tree pages instead of one random page per record (hash keys
made batch writes about six times slower).

Secrets: the journal stores source keys, target ids, idempotency keys and reasons. Callers pass text that is
already redacted; ``redact`` (a ``str → str`` hook) is applied once more to every reason and detail stored.

Storage: before anything else, :meth:`Journal.open` writes (and syncs, and removes) a 1 MiB probe file beside
the journal, so that a full disk, a file-size limit or a folder that cannot be written fails the run at once,
with a ``JournalError`` naming the folder — before any request reaches a platform — instead of after records
were written to a target but not journaled.

Errors: a file that is not a journal (corrupt, or another program's database), a journal of another plan and
a journal written by a newer migrator raise :class:`~migrator.errors.JournalError` saying what to do.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple

import orjson

from migrator.connectors.base import Action
from migrator.errors import JournalError

__all__ = [
    "SCHEMA_VERSION",
    "DeadLetter",
    "Journal",
    "LedgerCounts",
    "LedgerRow",
    "PlanCheck",
    "Rejection",
    "SentRecord",
    "WriteResult",
    "default_journal_path",
]

SCHEMA_VERSION: Final = 4
_APP_ID: Final = 0x4D475254  # "MGRT" in PRAGMA application_id: tells our files from any other SQLite file

_SCHEMA: Final = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE runs (
    id        INTEGER PRIMARY KEY,
    started   REAL NOT NULL,
    finished  REAL,
    status    TEXT NOT NULL DEFAULT 'running',
    plan_hash TEXT NOT NULL,
    plan_name TEXT NOT NULL
);
CREATE TABLE pages (
    step     TEXT NOT NULL,
    page_key TEXT NOT NULL,
    done_at  REAL NOT NULL,
    records  INTEGER,
    run_id   INTEGER,
    PRIMARY KEY (step, page_key)
) WITHOUT ROWID;
CREATE TABLE batches (
    step     TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    state    TEXT NOT NULL CHECK (state IN ('sent', 'done')),
    sent_at  REAL NOT NULL,
    done_at  REAL,
    run_id   INTEGER,
    keys     TEXT,
    done_count INTEGER,
    PRIMARY KEY (step, batch_id)
) WITHOUT ROWID;
CREATE INDEX batches_state ON batches (step, state);
CREATE TABLE records (
    step         TEXT NOT NULL,
    source_key   TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('sent', 'done', 'rejected')),
    batch_id     TEXT,
    target_id    TEXT,
    action       TEXT CHECK (action IS NULL OR action IN ('created', 'updated', 'unchanged')),
    content_hash TEXT,
    updated_at   REAL NOT NULL,
    PRIMARY KEY (step, source_key)
) WITHOUT ROWID;
CREATE VIEW crosswalk AS SELECT step, source_key, target_id FROM records WHERE target_id IS NOT NULL;
CREATE TABLE dead_letters (
    id         INTEGER PRIMARY KEY,
    step       TEXT NOT NULL,
    source_key TEXT NOT NULL,
    idem_key   TEXT NOT NULL,
    status     INTEGER,
    reason     TEXT NOT NULL,
    detail     TEXT,
    run_id     INTEGER,
    at         REAL NOT NULL
);
CREATE INDEX dead_letters_step ON dead_letters (step);
CREATE INDEX dead_letters_idem ON dead_letters (idem_key);
CREATE TABLE run_stats (
    run_id   INTEGER PRIMARY KEY,
    saved_at REAL NOT NULL,
    stats    TEXT NOT NULL
);
"""

#: What each schema version adds to the one before it; opening an older journal applies them in order.
_MIGRATIONS: Final[Mapping[int, str]] = {
    2: """
CREATE TABLE IF NOT EXISTS run_stats (
    run_id   INTEGER PRIMARY KEY,
    saved_at REAL NOT NULL,
    stats    TEXT NOT NULL
);
""",
    3: """
ALTER TABLE batches ADD COLUMN keys TEXT;
ALTER TABLE batches ADD COLUMN done_count INTEGER
""",
    # the crosswalk becomes a view of the ledger (every target id it held is the ledger's too), and the
    # ledger's batch index goes (only old batches without done_count needed it; they get their count now):
    # one B-tree write per record instead of three
    4: """
UPDATE batches SET done_count = (SELECT count(*) FROM records r WHERE r.step = batches.step
    AND r.batch_id = batches.batch_id AND r.state = 'done') WHERE state = 'done' AND done_count IS NULL;
UPDATE records SET target_id = (SELECT c.target_id FROM crosswalk c WHERE c.step = records.step
    AND c.source_key = records.source_key) WHERE EXISTS (SELECT 1 FROM crosswalk c WHERE c.step = records.step
    AND c.source_key = records.source_key);
DROP INDEX IF EXISTS records_batch;
DROP TABLE crosswalk;
CREATE VIEW crosswalk AS SELECT step, source_key, target_id FROM records WHERE target_id IS NOT NULL
""",
}

#: what an upgrade statement says when an older build already made its change (tolerated, not an error)
_ALREADY_MIGRATED: Final = ("duplicate column", "use DROP VIEW", "already exists")


def default_journal_path(plan_name: str, base: str | os.PathLike[str] = ".") -> Path:
    """``<base>/.migrator/<plan name>.sqlite``."""
    return Path(base) / ".migrator" / f"{plan_name}.sqlite"


# -- values in and out ------------------------------------------------------------------------------


class SentRecord(NamedTuple):
    """A record of a batch about to be sent (``mark_batch_sent``), with its content hash for delta runs."""

    idem_key: str
    source_key: str
    content_hash: str | None = None


class WriteResult(NamedTuple):
    """A record the target accepted: its id there (if it says) and what happened (the ledger keeps
    ``created``, ``updated`` or ``unchanged``)."""

    idem_key: str
    source_key: str
    target_id: str | None
    action: Action = "created"


class Rejection(NamedTuple):
    """A record the target refused: it becomes a dead letter."""

    idem_key: str
    source_key: str
    reason: str
    status: int | None = None
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    step: str
    source_key: str
    idem_key: str
    status: int | None
    reason: str
    detail: Any
    run_id: int | None
    at: float


#: One record of the ledger as the reports read it: ``(step, source key, target id, action, done)``; the target
#: id is ``None`` for a record not in the crosswalk, the action ``None`` until done, ``done`` is 1 or 0. A plain
#: tuple: reports read millions of them.
LedgerRow = tuple[str, str, str | None, str | None, int]


@dataclass(frozen=True, slots=True)
class LedgerCounts:
    """What the ledger holds of one step: pages, batches and records by state, actions, dead letters."""

    pages_done: int = 0
    batches_sent: int = 0  # in doubt: sent, not done
    batches_done: int = 0
    records_sent: int = 0  # in doubt
    records_done: int = 0
    records_rejected: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    dead_letters: int = 0


@dataclass(frozen=True, slots=True)
class PlanCheck:
    """``changed`` is true when the last run used another plan hash (``previous``); false on a first run."""

    changed: bool
    previous: str | None


# -- the journal ------------------------------------------------------------------------------------


def _create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 (no window in which it is readable by others)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)  # whatever the umask


#: bytes the storage probe writes beside the journal: room for the next batches' journal writes
PROBE_BYTES: Final = 1 << 20


def _probe_storage(path: Path) -> None:
    """Raise ``JournalError`` unless the journal's folder takes a ``PROBE_BYTES`` write (made, synced, removed).

    Catches a full disk (ENOSPC, also at fsync), a file-size limit (a short write or EFBIG), a read-only or
    immutable folder, and a parent that is not a folder — all before the run touches any platform."""
    probe = path.with_name(path.name + "-probe")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if os.write(fd, bytes(PROBE_BYTES)) < PROBE_BYTES:
                raise OSError(errno.ENOSPC, "no room for a 1 MiB write (disk full or a file size limit)")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise JournalError(
            f"the journal {path} cannot be written in {path.parent}: {e.strerror or e}. Nothing was sent to "
            "any platform. Free some space or make that folder writable, or point --journal at a folder "
            "that is, then run again."
        ) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(probe)


def _remove_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


class Journal:
    """An open journal. Create with :meth:`open`; close with :meth:`close` (or use it as a context manager)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        plan_name: str,
        *,
        clock: Callable[[], float],
        redact: Callable[[str], str] | None,
    ) -> None:
        self._conn = conn
        self.path = path
        self.plan_name = plan_name
        self._clock = clock
        self._redact = redact or (lambda s: s)
        self._lock = threading.Lock()
        self._checkpoint_lock = threading.Lock()
        self._checkpointer: sqlite3.Connection | None = None  # ``checkpoint``'s own connection
        self.run_id: int | None = None

    # -- opening ------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        plan_name: str,
        *,
        fresh: bool = False,
        clock: Callable[[], float] = time.time,
        redact: Callable[[str], str] | None = None,
    ) -> Journal:
        """Open the journal of ``plan_name`` at ``path``, creating it (0600) if missing.

        ``fresh=True`` deletes an existing journal first (``--fresh``). Raises ``JournalError`` if the file is
        not a migrator journal, belongs to another plan, or was written by a newer migrator.
        """
        p = Path(path)
        _probe_storage(p)
        if fresh:
            _remove_files(p)
        if not p.exists():
            _create_private(p)
        try:
            conn = sqlite3.connect(p, isolation_level=None, check_same_thread=False, timeout=10.0)
        except sqlite3.Error as e:
            raise JournalError(f"cannot open the journal {p}: {e}. Check the path and its permissions.") from e
        try:
            cls._prepare(conn, p, plan_name, clock)
        except BaseException:
            conn.close()
            raise
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(f"{p}{suffix}", 0o600)
        return cls(conn, p, plan_name, clock=clock, redact=redact)

    @staticmethod
    def _prepare(conn: sqlite3.Connection, p: Path, plan_name: str, clock: Callable[[], float]) -> None:
        what_to_do = (
            "move it away, start over with --fresh, or give this run another journal with --journal PATH"
        )
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as e:
            raise JournalError(f"{p} is not a readable migrator journal ({e}): {what_to_do}.") from e
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"the journal {p} was written by a newer migrator (schema {version}; this one reads up to "
                f"{SCHEMA_VERSION}): upgrade migrator, or use another journal with --journal PATH."
            )
        if version == 0 and not tables:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('plan_name', ?), ('created', ?)",
                    (plan_name, repr(clock())),
                )
                conn.execute(f"PRAGMA application_id = {_APP_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except sqlite3.Error as e:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise JournalError(f"cannot create the journal {p}: {e}. {what_to_do}.") from e
        elif app_id != _APP_ID or version == 0:
            raise JournalError(f"{p} is an SQLite file but not a migrator journal: {what_to_do}.")
        elif version < SCHEMA_VERSION:
            Journal._migrate(conn, p, version)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = OFF")
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA cache_size = -8192")  # 8 MiB of page cache: memory stays flat at millions
            row = conn.execute("SELECT value FROM meta WHERE key = 'plan_name'").fetchone()
        except sqlite3.DatabaseError as e:
            raise JournalError(f"{p} is not a readable migrator journal ({e}): {what_to_do}.") from e
        owner = row[0] if row else None
        if owner != plan_name:
            raise JournalError(
                f"the journal {p} belongs to plan {owner!r}, not {plan_name!r}: give this plan its own journal "
                "with --journal PATH, or discard that one with --fresh."
            )

    @staticmethod
    def _migrate(conn: sqlite3.Connection, p: Path, version: int) -> None:
        """Bring a journal of an older schema up to :data:`SCHEMA_VERSION`, one transaction."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        try:
                            conn.execute(statement)
                        except sqlite3.OperationalError as e:
                            # a column, or the crosswalk view, that an older build already made
                            if not any(m in str(e) for m in _ALREADY_MIGRATED):
                                raise
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise JournalError(
                f"cannot upgrade the journal {p} from schema {version} to {SCHEMA_VERSION}: {e}. Check that "
                "the file is writable, or start over with --fresh."
            ) from e

    def close(self) -> None:
        with self._checkpoint_lock, self._lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
            self._conn.close()

    def defer_checkpoints(self, deferred: bool = True) -> None:
        """While deferred, commits never copy the WAL into the database file (SQLite's automatic checkpoint,
        which syncs the disk, runs inside the commit that crosses 1,000 pages); the caller runs
        :meth:`checkpoint` from a worker thread instead, so a commit made on an event loop never waits for the
        disk. ``deferred=False`` restores the automatic checkpoint."""
        with self._lock:
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {0 if deferred else 1000}")

    def checkpoint(self) -> tuple[int, int, int]:
        """Copy what the WAL holds into the database file, without waiting for or blocking a writer (a passive
        checkpoint, on a connection of its own, so it can run in a worker thread while another thread commits).
        Returns SQLite's ``(busy, frames in the WAL, frames checkpointed)``."""
        with self._checkpoint_lock:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._checkpointer.execute("PRAGMA busy_timeout = 10000")
            busy, frames, copied = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return int(busy), int(frames), int(copied)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction: all of it is visible after, or none of it."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # -- runs ---------------------------------------------------------------------------------------

    def check_plan(self, plan_hash: str) -> PlanCheck:
        """Compare ``plan_hash`` with the hash of the last run (before :meth:`begin_run` of this one)."""
        rows = self._read("SELECT plan_hash FROM runs ORDER BY id DESC LIMIT 1")
        if not rows:
            return PlanCheck(False, None)
        previous: str = rows[0][0]
        return PlanCheck(previous != plan_hash, previous)

    def begin_run(self, plan_hash: str) -> int:
        """Record the start of a run; returns its id (also kept as ``run_id`` and stamped on what it writes)."""
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO runs (started, status, plan_hash, plan_name) VALUES (?, 'running', ?, ?)",
                (self._clock(), plan_hash, self.plan_name),
            )
            run_id = cur.lastrowid
        assert run_id is not None
        self.run_id = run_id
        return run_id

    def finish_run(self, status: str, run_id: int | None = None) -> None:
        """Mark the run finished with ``status`` (e.g. ``done``, ``failed``, ``interrupted``)."""
        rid = run_id if run_id is not None else self.run_id
        if rid is None:
            raise ValueError("finish_run: no run was begun")
        with self._tx() as cur:
            cur.execute("UPDATE runs SET finished = ?, status = ? WHERE id = ?", (self._clock(), status, rid))

    def runs(self) -> list[dict[str, Any]]:
        rows = self._read("SELECT id, started, finished, status, plan_hash, plan_name FROM runs ORDER BY id")
        keys = ("id", "started", "finished", "status", "plan_hash", "plan_name")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # -- writes -------------------------------------------------------------------------------------

    def mark_pages_done(self, step: str, page_keys: Sequence[str]) -> None:
        """Pages done, one transaction (the runtime collects them and writes them per batch)."""
        if not page_keys:
            return
        now = self._clock()
        with self._tx() as cur:
            cur.executemany(
                "INSERT INTO pages (step, page_key, done_at, records, run_id) VALUES (?, ?, ?, NULL, ?) "
                "ON CONFLICT (step, page_key) DO UPDATE SET done_at = excluded.done_at, "
                "run_id = excluded.run_id",
                [(step, key, now, self.run_id) for key in page_keys],
            )

    def mark_batch_sent(self, step: str, batch_id: str, records: Iterable[SentRecord]) -> None:
        """Before the request: the batch is *sent*, with its records (one row, one transaction).

        The batch row carries its records (idempotency key, source key, content hash) as one JSON value, so
        marking a batch sent costs one insert whatever its size; its records are *sent* (in doubt) until
        :meth:`mark_batch_done`. A record already done (a delta run sending changed content) stays done with its
        target id, and is in doubt as well while the batch is.
        """
        keys = orjson.dumps([[r.idem_key, str(r.source_key), r.content_hash] for r in records]).decode()
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO batches (step, batch_id, state, sent_at, run_id, keys) "
                "VALUES (?, ?, 'sent', ?, ?, ?) ON CONFLICT (step, batch_id) DO UPDATE SET state = 'sent', "
                "sent_at = excluded.sent_at, "
                "done_at = NULL, run_id = excluded.run_id, keys = excluded.keys",
                (step, batch_id, self._clock(), self.run_id, keys),
            )

    def mark_batch_done(
        self,
        step: str,
        batch_id: str,
        results: Iterable[WriteResult],
        rejected: Iterable[Rejection] = (),
    ) -> int:
        """After the response: results → ledger *done* and crosswalk; rejections → *rejected* and dead letters.

        One transaction. Returns how many of the batch's records the call said nothing about; they stay *sent*
        in the ledger (``integrity_check`` reports them) — the caller should reject them or resolve them.
        """
        now = self._clock()
        with self._tx() as cur:
            row = cur.execute(
                "SELECT keys FROM batches WHERE step = ? AND batch_id = ?", (step, batch_id)
            ).fetchone()
            if row is None:
                raise ValueError(
                    f"step {step!r}: batch {batch_id} was never marked sent; call mark_batch_sent before the "
                    "request and mark_batch_done after it"
                )
            sent = {sk: (ik, h) for ik, sk, h in (orjson.loads(row[0]) if row[0] else [])}
            done_rows: list[tuple[Any, ...]] = []
            for r in results:
                key = str(r.source_key)
                target = None if r.target_id is None else str(r.target_id)
                digest = sent.pop(key, (None, None))[1]
                done_rows.append((step, key, r.idem_key, batch_id, target, r.action, digest, now))
            rej_rows: list[tuple[Any, ...]] = []
            dead_rows: list[tuple[Any, ...]] = []
            for j in rejected:
                key = str(j.source_key)
                digest = sent.pop(key, (None, None))[1]
                rej_rows.append((step, key, j.idem_key, batch_id, digest, now))
                detail = None if j.detail is None else self._redact(_to_json(j.detail))
                dead_rows.append(
                    (step, j.source_key, j.idem_key, j.status, self._redact(j.reason), detail, self.run_id, now)
                )
            self._write_results(cur, done_rows)
            cur.executemany(
                "INSERT INTO records (step, source_key, idem_key, state, batch_id, content_hash, updated_at) "
                "VALUES (?, ?, ?, 'rejected', ?, ?, ?) ON CONFLICT (step, source_key) DO UPDATE SET "
                "state = 'rejected', batch_id = excluded.batch_id, updated_at = excluded.updated_at",
                rej_rows,
            )
            cur.executemany(
                "INSERT INTO dead_letters (step, source_key, idem_key, status, reason, detail, run_id, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                dead_rows,
            )
            # records the call said nothing about stay *sent* (in doubt), visibly
            cur.executemany(
                "INSERT INTO records (step, source_key, idem_key, state, batch_id, content_hash, updated_at) "
                "VALUES (?, ?, ?, 'sent', ?, ?, ?) ON CONFLICT (step, source_key) DO UPDATE SET "
                "state = 'sent', batch_id = excluded.batch_id, updated_at = excluded.updated_at",
                [(step, sk, ik, batch_id, h, now) for sk, (ik, h) in sent.items()],
            )
            cur.execute(
                "UPDATE batches SET state = 'done', done_at = ?, keys = NULL, done_count = ? "
                "WHERE step = ? AND batch_id = ?",
                (now, len(done_rows), step, batch_id),
            )
        return len(sent)

    def _write_results(self, cur: sqlite3.Cursor, done_rows: list[tuple[Any, ...]]) -> None:
        """Done records into the ledger (the crosswalk is the ledger's view of their target ids)."""
        cur.executemany(
            "INSERT INTO records (step, source_key, idem_key, state, batch_id, target_id, action, "
            "content_hash, updated_at) VALUES (?, ?, ?, 'done', ?, ?, ?, ?, ?) "
            "ON CONFLICT (step, source_key) DO UPDATE SET "
            "state = 'done', batch_id = excluded.batch_id, target_id = coalesce(excluded.target_id, "
            "records.target_id), action = excluded.action, content_hash = coalesce(excluded.content_hash, "
            "records.content_hash), updated_at = excluded.updated_at",
            done_rows,
        )

    # -- reads for resume ---------------------------------------------------------------------------

    def pages_done(self, step: str) -> set[str]:
        return {r[0] for r in self._read("SELECT page_key FROM pages WHERE step = ?", (step,))}

    def keys_in_state(self, step: str, *states: Literal["sent", "done", "rejected"]) -> set[str]:
        """Idempotency keys of ``step``'s records in these states; *sent* = in a batch sent but not done."""
        marks = ", ".join("?" for _ in states)
        sql = f"SELECT idem_key FROM records WHERE step = ? AND state IN ({marks})"
        keys = {r[0] for r in self._read(sql, (step, *states))}
        if "sent" in states:
            for (blob,) in self._read("SELECT keys FROM batches WHERE step = ? AND state = 'sent'", (step,)):
                keys.update(ik for ik, _, _ in orjson.loads(blob or "[]"))
        return keys

    def settled_keys(self, step: str) -> set[str]:
        """Idempotency keys of the step's records that need no write: done or rejected."""
        return self.keys_in_state(step, "done", "rejected")

    def done_hashes(self, step: str) -> dict[str, str | None]:
        """Done records' content hashes (for a delta run: an unchanged hash needs no write)."""
        rows = self._read(
            "SELECT idem_key, content_hash FROM records WHERE step = ? AND state = 'done'", (step,)
        )
        return {r[0]: r[1] for r in rows}

    def crosswalk(self, step: str) -> dict[str, str]:
        """The step's whole crosswalk, source key → target id."""
        rows = self._read("SELECT source_key, target_id FROM crosswalk WHERE step = ?", (step,))
        return {r[0]: r[1] for r in rows}

    def dead_letters(self, step: str | None = None) -> list[DeadLetter]:
        sql = "SELECT step, source_key, idem_key, status, reason, detail, run_id, at FROM dead_letters"
        args: tuple[str, ...] = ()
        if step is not None:
            sql += " WHERE step = ?"
            args = (step,)
        out = []
        for s, sk, ik, status, reason, detail, run_id, at in self._read(sql + " ORDER BY id", args):
            out.append(
                DeadLetter(
                    s, sk, ik, status, reason, None if detail is None else json.loads(detail), run_id, at
                )
            )
        return out

    def step_counts(self) -> dict[str, LedgerCounts]:
        """Per step: pages, batches and records by state, actions, dead letters (for ``migrator status``)."""
        acc: dict[str, dict[str, int]] = {}

        def put(step: str, field: str, n: int) -> None:
            acc.setdefault(step, {})[field] = acc.get(step, {}).get(field, 0) + int(n)

        for step, n in self._read("SELECT step, count(*) FROM pages GROUP BY step"):
            put(step, "pages_done", n)
        for step, state, n in self._read("SELECT step, state, count(*) FROM batches GROUP BY step, state"):
            put(step, f"batches_{state}", n)
        for step, state, action, n in self._read(
            "SELECT step, state, action, count(*) FROM records GROUP BY step, state, action"
        ):
            put(step, f"records_{state}", n)
            if state == "done" and action is not None:
                put(step, action, n)
        for step, blob in self._read("SELECT step, keys FROM batches WHERE state = 'sent'"):
            put(step, "records_sent", len(orjson.loads(blob or "[]")))
        for step, n in self._read("SELECT step, count(*) FROM dead_letters GROUP BY step"):
            put(step, "dead_letters", n)
        return {step: LedgerCounts(**fields) for step, fields in sorted(acc.items())}

    # -- reads for reports --------------------------------------------------------------------------

    def save_run_stats(self, run_id: int, stats: Mapping[str, Any]) -> None:
        """Keep a run's statistics (a JSON object; see ``docs/reports.md`` for its shape), replacing any
        saved before for that run. Text in it goes through ``redact`` like every reason."""
        text = self._redact(_to_json(stats))
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO run_stats (run_id, saved_at, stats) VALUES (?, ?, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET saved_at = excluded.saved_at, stats = excluded.stats",
                (run_id, self._clock(), text),
            )

    def run_stats(self) -> dict[int, dict[str, Any]]:
        """Every saved run's statistics, by run id (ascending)."""
        rows = self._read("SELECT run_id, stats FROM run_stats ORDER BY run_id")
        out: dict[int, dict[str, Any]] = {}
        for run_id, text in rows:
            value = json.loads(text)
            out[int(run_id)] = value if isinstance(value, dict) else {}
        return out

    def ledger_row_chunks(self, chunk: int = 5000) -> Iterator[list[LedgerRow]]:
        """Every record of the ledger in step and source key order, ``chunk`` rows at a time, in one pass
        (memory stays flat over millions of records)."""
        cur = self._conn.execute(
            "SELECT step, source_key, target_id, action, state = 'done' FROM records ORDER BY step, source_key"
        )
        try:
            while rows := cur.fetchmany(chunk):
                yield rows
        finally:
            cur.close()

    def open_rejections(self) -> list[DeadLetter]:
        """The latest dead letter of every record still *rejected* (one that a later run wrote is left out)."""
        rows = self._read(
            "SELECT d.step, d.source_key, d.idem_key, d.status, d.reason, d.detail, d.run_id, d.at "
            "FROM dead_letters d JOIN records r ON r.step = d.step AND r.source_key = d.source_key "
            "WHERE r.state = 'rejected' AND d.id = "
            "(SELECT max(d2.id) FROM dead_letters d2 WHERE d2.step = d.step AND d2.source_key = d.source_key) "
            "ORDER BY d.step, d.source_key"
        )
        return [
            DeadLetter(s, sk, ik, status, reason, None if detail is None else json.loads(detail), run_id, at)
            for s, sk, ik, status, reason, detail, run_id, at in rows
        ]

    def batch_completions(self) -> list[tuple[str, float, int]]:
        """``(step, done_at, records done)`` per finished batch, in time order (for throughput charts)."""
        rows = self._read(
            "SELECT b.step, b.done_at, coalesce(b.done_count, (SELECT count(*) FROM records r "
            "WHERE r.step = b.step AND r.batch_id = b.batch_id AND r.state = 'done')) FROM batches b "
            "WHERE b.state = 'done' AND b.done_at IS NOT NULL ORDER BY b.done_at"
        )
        return [(str(s), float(t), int(n)) for s, t, n in rows]

    # -- checks -------------------------------------------------------------------------------------

    def integrity_check(self) -> list[str]:
        """Problems found (empty when sound): SQLite's own check, then the ledger's invariants."""
        problems: list[str] = []
        try:
            result = [r[0] for r in self._read("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as e:
            return [f"sqlite: {e}"]
        if result != ["ok"]:
            problems.extend(f"sqlite: {line}" for line in result)
            return problems
        checks: tuple[tuple[str, str], ...] = (
            (
                "records still sent in a batch marked done (the response said nothing about them)",
                "SELECT count(*) FROM records r JOIN batches b ON b.step = r.step AND b.batch_id = r.batch_id "
                "WHERE r.state = 'sent' AND b.state = 'done'",
            ),
            (
                "records sent in a batch the journal does not know",
                "SELECT count(*) FROM records r WHERE r.state = 'sent' AND NOT EXISTS "
                "(SELECT 1 FROM batches b WHERE b.step = r.step AND b.batch_id = r.batch_id)",
            ),
            (
                "done records without an action",
                "SELECT count(*) FROM records WHERE state = 'done' AND action IS NULL",
            ),
            (
                "rejected records without a dead letter",
                "SELECT count(*) FROM records r WHERE r.state = 'rejected' AND NOT EXISTS "
                "(SELECT 1 FROM dead_letters d WHERE d.idem_key = r.idem_key)",
            ),
            (
                "batches marked done without a done time",
                "SELECT count(*) FROM batches WHERE state = 'done' AND done_at IS NULL",
            ),
            (
                "idempotency keys shared by more than one record",
                "SELECT count(*) FROM (SELECT idem_key FROM records GROUP BY idem_key HAVING count(*) > 1)",
            ),
        )
        for label, sql in checks:
            n = self._read(sql)[0][0]
            if n:
                problems.append(f"ledger: {n} {label}")
        return problems


def _to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
