"""The journal: every effect of a run, in SQLite, so that a resumed run creates nothing twice.

The only module that speaks SQL, and one idea however long: the schema, its migrations and every statement on it
are kept together, so a change of the schema is a change of this one file (the files it lives in — links
refused, the storage probe, the writer lock — are ``migrator.journal_files``). One file per plan (default
``.migrator/<plan name>.sqlite``; the caller passes the path), in WAL mode with ``synchronous=NORMAL``: a commit
survives a crash of the process (kill -9); a power cut may lose the last commits, never consistency. The file
and every file beside it are created readable by the owner only (0600).

Writes happen per page and per batch, one transaction each, never per record:

- ``mark_batch_sent(step, batch_id, records)`` before the write request (each record *sent*, in doubt, with the
  payload it was sent with when the caller gives one);
- ``mark_batch_done(step, batch_id, results, rejected)`` after it (ledger *done* with target id and action —
  the crosswalk is the ledger's view of target ids —, dead letters for the rejected);
- ``mark_pages_done(step, page_keys)`` once pages' records are all in done batches (the runtime decides when).

Reads for a run: :meth:`Journal.pages_done`, :meth:`Journal.settled_keys` (done or rejected records),
:meth:`Journal.keys_in_state` (e.g. *sent*: in doubt), :meth:`Journal.sent_payloads` (what the records in doubt
were sent with), :meth:`Journal.done_hashes` (delta runs), :meth:`Journal.crosswalk` (a whole step as a dict,
for fast mapping), :meth:`Journal.check_plan` (has the plan changed since the last run?) and
:meth:`Journal.tenant_changes` (does this run reach the accounts the journal was started with?). For
``migrator status``: :meth:`Journal.step_counts`, :meth:`Journal.dead_letters`, :meth:`Journal.runs`. For tests
and audits: :meth:`Journal.integrity_check`.

Reads for ``migrator trace`` (one record, every run): :meth:`Journal.find_records` (by source key,
idempotency key or target id, exactly), :meth:`Journal.record_batches` (the batches that carried it, with its
payload), :meth:`Journal.record_attempts` (the calls and lookups that concerned it) and
:meth:`Journal.record_dead_letters`; the write side is :meth:`Journal.record_attempt`, one row per try of a
write call or lookup, with the answer's text only where the caller keeps it (``runtime.ledger`` decides:
failures, refusals, lookups that matter, the first success of a batch), redacted and then cut to
:data:`RESPONSE_EXCERPT`.

Reads for reports: :meth:`Journal.ledger_row_chunks` (the whole ledger in one pass, for ``success.csv`` and
``crosswalk.csv``), with who each record is — picked from its payload when its batch is marked sent, kept in its
ledger row when the batch is done —: :meth:`Journal.identified_ledger_chunks` (the ledger pass with them),
:meth:`Journal.kept_identities`, and :meth:`Journal.index_linked` / :meth:`Journal.forget_linked` (the linked
steps' records by target id, in the connection's temporary storage, for one report);
:meth:`Journal.open_rejections` (the latest dead letter of each record still rejected),
:meth:`Journal.batch_completions` (throughput), and :meth:`Journal.save_run_stats` / :meth:`Journal.run_stats`
(a JSON object per run: the runner's summary).

For ``migrator undo``: :meth:`Journal.save_pre_images` (before an updating batch is marked sent, or with it:
``mark_batch_sent(…, pre_images)``: what its records held on the target before the run, one row per batch),
:meth:`Journal.run_effects` (what a run wrote, with those images), :meth:`Journal.runs_that_wrote_after`,
and the undo's own progress, :meth:`Journal.mark_undo` (a reversal *sent* before its calls, *done* or *failed*
after) and :meth:`Journal.undo_marks`.

In doubt: a record is in doubt from the moment a batch carrying it is marked sent until a batch sent *later*
settles it (done or rejected). Every batch gets a sequence number when it is marked sent, and every ledger row
keeps the number of the batch that last wrote it, so a batch left *sent* by a killed run stops counting once
its records are settled by other batches (a resumed run with another batch size builds other batches), and a
done record sent again (a delta run) is in doubt until its new batch is done. ``finish_run`` drops the sent
batches nothing is in doubt in any more, with the payloads they kept.

Schema versions: 1 (the ledger), 2 (adds ``run_stats``), 3 (a sent batch's records in one row), 4 (the
crosswalk is a view of the ledger's target ids, not a second table written per record), 5 (batch sequence
numbers, and the payloads a batch was sent with), 6 (the ``attempts`` of write calls and lookups; a done batch
keeps its records and their payloads), 7 (``pre_images``: the target's values of the records a run updates, as
they were before it wrote; ``undo_actions``: what ``migrator undo`` did, for its resume), 8 (who each record is,
in its ledger row), 9 (the ledger's checks without ``IN`` lists, which cost SQLite a temporary table per row
written, the same rules; ``batch_images``: a batch's pre-images in one row). Opening an older
journal upgrades it in place, in one transaction (``_MIGRATIONS``); a newer one is refused.

Writers and readers: :meth:`Journal.open` opens a *writer* (``migrator run``): it holds the journal's lock, an
``flock`` on ``<journal>-lock``, until :meth:`Journal.close`, so a second writer of the same journal is refused
with the holder's pid and start time; the kernel releases the lock when its process ends, however it ends
(kill -9 too), so no lock outlives its run. ``read_only=True`` opens a *reader* (``status``, ``report``,
``verify``): no lock, nothing written, and it works while a run holds the lock (an older schema is first
upgraded by a writer).

Files: a new journal is built beside its path (``<journal>-new``) and moved into place only once its schema and
meta (plan name, salt) are in the main file, so a journal file never depends on its ``-wal`` for what it is. A
writer marks the journal *open* in its meta, checkpointed into the main file, before it returns (so before any
write is sent), and *closed* at :meth:`Journal.close` after copying the whole WAL into the main file. A journal
marked open whose ``-wal`` is missing or empty lost the commits that file held (deleted, or the journal was
copied without it): it is refused, as is a file that holds no schema or no meta, instead of starting an empty
journal that would create every record again. No symbolic link is followed: a link at the journal's path or
at any file beside it (``-wal``, ``-shm``, ``-journal``, ``-lock``, ``-probe``, ``-new``) is refused.

Tenants: :meth:`Journal.bind_tenants` keeps, per connection, the platform, the location (base URL without
credentials, or folder) and a keyed BLAKE2b hash of what names the account (its key or user name) under a
random salt of this journal — never the credential, and no hash that could be compared across journals.
:meth:`Journal.tenant_changes` tells a run that reaches other accounts (another customer's env file).

Threading: calls are synchronous and short. Measured on the 2-core development VM with 500-record batches:
``mark_batch_sent`` and ``mark_batch_done`` ≈ 5 ms together. The engine calls them on its event loop, between
two awaits (a worker thread cost more CPU in GIL hand-offs than the writes themselves). The connection is
opened with ``check_same_thread=False`` and every call holds a lock, so calls from different threads are
serialised.

The ledger is keyed by (step, source key) — for one plan that is the same as keying it by idempotency key,
which is a hash of (plan, step, source key) and is stored in every row — because source keys arrive roughly
in order, so a batch touches a few neighbouring B-tree pages instead of one random page per record (hash keys
made batch writes about six times slower).

Secrets: the journal stores source keys, target ids, idempotency keys, reasons, the payloads records were sent
with (mapped record values, never a connection's credential; of a record refused before any request, only the
fields that say who it is) and excerpts of answers. Callers pass text that is
already redacted; ``redact`` (a ``str → str`` hook) is applied once more to every reason, detail, request and
answer stored (an answer before it is cut, so a secret at the cut is masked whole).

Storage: before anything else, a writer writes (and syncs, and removes) a 1 MiB probe file beside the
journal, so that a full disk, a file-size limit or a folder that cannot be written fails the run at once,
with a ``JournalError`` naming the folder — before any request reaches a platform — instead of after records
were written to a target but not journaled.

Errors: a file that is not a journal (corrupt, empty, or another program's database), a journal of another
plan, a journal in use by another run, one that lost its WAL, a link, and a journal written by a newer
migrator raise :class:`~migrator.errors.JournalError` saying what to do.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple

import orjson

from migrator.connectors.base import Action
from migrator.errors import JournalError
from migrator.identity import Kept, Picker, kept_of
from migrator.journal_files import (
    WriterLock,
    beside,
    make_sqlite_files_private,
    probe_storage,
    refuse_links,
    remove_files,
    storage_refused,
    wal_is_missing,
)
from migrator.logging import Redactor

__all__ = [
    "RESPONSE_EXCERPT",
    "RESPONSE_READ",
    "SCHEMA_VERSION",
    "Attempt",
    "DeadLetter",
    "IdentifiedRow",
    "Journal",
    "KeptIdentity",
    "LedgerCounts",
    "LedgerRow",
    "PlanCheck",
    "PreImage",
    "Rejection",
    "RunEffect",
    "SentRecord",
    "Tenant",
    "TracedAttempt",
    "TracedBatch",
    "TracedRecord",
    "UndoMark",
    "WriteResult",
    "default_journal_path",
]

SCHEMA_VERSION: Final = 9
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
    seq      INTEGER,
    payloads TEXT,
    PRIMARY KEY (step, batch_id)
) WITHOUT ROWID;
CREATE INDEX batches_state ON batches (step, state);
CREATE INDEX batches_seq ON batches (seq);
CREATE TABLE records (
    step         TEXT NOT NULL,
    source_key   TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state = 'sent' OR state = 'done' OR state = 'rejected'),
    batch_id     TEXT,
    target_id    TEXT,
    action       TEXT CHECK (action IS NULL OR action = 'created' OR action = 'updated'
                      OR action = 'unchanged'),
    content_hash TEXT,
    updated_at   REAL NOT NULL,
    seq          INTEGER,
    name         TEXT,
    email        TEXT,
    number       TEXT,
    links        TEXT,
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
CREATE TABLE attempts (
    id        INTEGER PRIMARY KEY,
    step      TEXT NOT NULL,
    batch_id  TEXT,
    keys      TEXT,
    try       INTEGER NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('write', 'lookup')),
    request   TEXT NOT NULL,
    status    INTEGER,
    outcome   TEXT NOT NULL,
    target_id TEXT,
    response  TEXT,
    run_id    INTEGER,
    at        REAL NOT NULL
);
CREATE INDEX attempts_batch ON attempts (step, batch_id);
CREATE TABLE pre_images (
    run_id      INTEGER NOT NULL,
    step        TEXT NOT NULL,
    source_key  TEXT NOT NULL,
    target_id   TEXT,
    match_value TEXT,
    image       TEXT,
    PRIMARY KEY (run_id, step, source_key)
) WITHOUT ROWID;
CREATE TABLE batch_images (
    seq    INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    step   TEXT NOT NULL,
    images TEXT NOT NULL
);
CREATE TABLE undo_actions (
    run_id     INTEGER NOT NULL,
    step       TEXT NOT NULL,
    target_id  TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('remove', 'restore')),
    state      TEXT NOT NULL CHECK (state IN ('sent', 'done', 'failed')),
    reason     TEXT,
    at         REAL NOT NULL,
    PRIMARY KEY (run_id, step, target_id)
) WITHOUT ROWID;
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
    # batches are numbered in the order they were sent (sent_at, then the key: the best an older journal
    # knows), and ledger rows take the number of the batch that wrote them; a sent batch keeps its records'
    # payloads until done
    5: """
ALTER TABLE batches ADD COLUMN seq INTEGER;
ALTER TABLE batches ADD COLUMN payloads TEXT;
ALTER TABLE records ADD COLUMN seq INTEGER;
UPDATE batches SET seq = o.n FROM (SELECT step, batch_id, row_number() OVER (ORDER BY sent_at, step, batch_id)
    AS n FROM batches) AS o WHERE o.step = batches.step AND o.batch_id = batches.batch_id;
UPDATE records SET seq = (SELECT b.seq FROM batches b WHERE b.step = records.step
    AND b.batch_id = records.batch_id);
CREATE INDEX IF NOT EXISTS batches_seq ON batches (seq)
""",
    # every call and lookup a write made (``record_attempt``), for ``migrator trace``; a done batch keeps its
    # records and their payloads from now on (older done batches kept none)
    6: """
CREATE TABLE IF NOT EXISTS attempts (
    id        INTEGER PRIMARY KEY,
    step      TEXT NOT NULL,
    batch_id  TEXT,
    keys      TEXT,
    try       INTEGER NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('write', 'lookup')),
    request   TEXT NOT NULL,
    status    INTEGER,
    outcome   TEXT NOT NULL,
    target_id TEXT,
    response  TEXT,
    run_id    INTEGER,
    at        REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_batch ON attempts (step, batch_id)
""",
    # what a run's updates overwrote (the values before it), and the progress of an undo
    7: """
CREATE TABLE IF NOT EXISTS pre_images (
    run_id      INTEGER NOT NULL,
    step        TEXT NOT NULL,
    source_key  TEXT NOT NULL,
    target_id   TEXT,
    match_value TEXT,
    image       TEXT,
    PRIMARY KEY (run_id, step, source_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS undo_actions (
    run_id     INTEGER NOT NULL,
    step       TEXT NOT NULL,
    target_id  TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('remove', 'restore')),
    state      TEXT NOT NULL CHECK (state IN ('sent', 'done', 'failed')),
    reason     TEXT,
    at         REAL NOT NULL,
    PRIMARY KEY (run_id, step, target_id)
) WITHOUT ROWID;
""",
    # who each record is (name, e-mail, number, links: ``migrator.identity.kept_of``), kept in its ledger row
    # from the payload it was last sent with, for the reports' identity columns; an older journal's records
    # get theirs from the payloads its batches kept (``_name_records``)
    8: """
ALTER TABLE records ADD COLUMN name TEXT;
ALTER TABLE records ADD COLUMN email TEXT;
ALTER TABLE records ADD COLUMN number TEXT;
ALTER TABLE records ADD COLUMN links TEXT
""",
    # the ledger's checks say the same as before with ``=`` and ``OR`` instead of ``IN (…)``: SQLite built a
    # temporary table for an IN list at every row written (about 10 µs per record, half the cost of a done
    # row); SQLite cannot change a table's checks, so the table is copied into a new one, every row kept.
    # The pre-images of a batch are kept in one row (``batch_images``) from now on, not one row per record;
    # those ``pre_images`` holds stay where they are, and are read with them
    9: """
DROP VIEW IF EXISTS crosswalk;
CREATE TABLE records_v9 (
    step         TEXT NOT NULL,
    source_key   TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state = 'sent' OR state = 'done' OR state = 'rejected'),
    batch_id     TEXT,
    target_id    TEXT,
    action       TEXT CHECK (action IS NULL OR action = 'created' OR action = 'updated'
                      OR action = 'unchanged'),
    content_hash TEXT,
    updated_at   REAL NOT NULL,
    seq          INTEGER,
    name         TEXT,
    email        TEXT,
    number       TEXT,
    links        TEXT,
    PRIMARY KEY (step, source_key)
) WITHOUT ROWID;
INSERT INTO records_v9 (step, source_key, idem_key, state, batch_id, target_id, action, content_hash,
    updated_at, seq, name, email, number, links)
    SELECT step, source_key, idem_key, state, batch_id, target_id, action, content_hash, updated_at, seq, name,
    email, number, links FROM records;
DROP TABLE records;
ALTER TABLE records_v9 RENAME TO records;
CREATE VIEW crosswalk AS SELECT step, source_key, target_id FROM records WHERE target_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS batch_images (
    seq    INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    step   TEXT NOT NULL,
    images TEXT NOT NULL
)
""",
}

#: a ledger row's identity columns as an upsert sets them: a record sent without a payload (its name None)
#: keeps who it was named as before
_NAMED: Final = (
    "name = coalesce(excluded.name, records.name), "
    "email = CASE WHEN excluded.name IS NULL THEN records.email ELSE excluded.email END, "
    "number = CASE WHEN excluded.name IS NULL THEN records.number ELSE excluded.number END, "
    "links = CASE WHEN excluded.name IS NULL THEN records.links ELSE excluded.links END"
)
#: the identity columns of a record sent without a payload
_NOBODY: Final = (None, None, None, None)
#: what ``mark_batch_done`` knows of a record its batch did not carry
_UNSENT: Final = (None, None, _NOBODY)

_INSERT_IMAGES: Final = "INSERT INTO batch_images (run_id, step, images) VALUES (?, ?, ?)"
#: the values of one done ledger row, as ``_upsert_done`` takes them, and the most rows one statement holds
_DONE_VALUES: Final = 13
_DONE_ROWS_MAX: Final = 500


@functools.lru_cache(maxsize=64)
def _upsert_done(rows: int) -> str:
    """The upsert of ``rows`` done ledger rows, :data:`_DONE_VALUES` values each (step, source key, idempotency
    key, batch, target id, action, content hash, time, sequence, name, e-mail, number, links)."""
    row = "(?, ?, ?, 'done', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    return (
        "INSERT INTO records (step, source_key, idem_key, state, batch_id, target_id, action, "
        "content_hash, updated_at, seq, name, email, number, links) "
        f"VALUES {', '.join([row] * rows)} "
        "ON CONFLICT (step, source_key) DO UPDATE SET "
        "state = 'done', batch_id = excluded.batch_id, target_id = coalesce(excluded.target_id, "
        "records.target_id), action = excluded.action, content_hash = coalesce(excluded.content_hash, "
        f"records.content_hash), updated_at = excluded.updated_at, seq = excluded.seq, {_NAMED}"
    )


#: what an upgrade statement says when an older build already made its change (tolerated, not an error)
_ALREADY_MIGRATED: Final = ("duplicate column", "use DROP VIEW", "already exists")


def default_journal_path(plan_name: str, base: str | os.PathLike[str] = ".") -> Path:
    """``<base>/.migrator/<plan name>.sqlite``."""
    return Path(base) / ".migrator" / f"{plan_name}.sqlite"


# -- values in and out ------------------------------------------------------------------------------


class SentRecord(NamedTuple):
    """A record of a batch about to be sent (``mark_batch_sent``), with its content hash for delta runs and,
    optionally, the payload it is sent with (or the part of it a lookup on the target needs: its match
    fields), kept with its batch: what :meth:`Journal.sent_payloads` gives for a record in doubt, and what
    ``migrator trace`` shows."""

    idem_key: str
    source_key: str
    content_hash: str | None = None
    payload: dict[str, Any] | None = None


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


class PreImage(NamedTuple):
    """A record an updating batch is about to write, as the target held it before the run: its target id and
    the values of the step's mapped fields there (``image``), or ``image`` None when the target did not hold
    the record (the write creates it). ``match_value`` is the value the record is found by (an upsert's)."""

    source_key: str
    target_id: str | None
    match_value: str | None
    image: dict[str, Any] | None


class RunEffect(NamedTuple):
    """What one run did to one record, for ``migrator undo``: the ledger's target id and action, and the
    record's pre-image when the run saved one (``pre_image_saved``; ``image`` None then: it was not on the
    target before)."""

    step: str
    source_key: str
    target_id: str | None
    action: str
    pre_image_saved: bool
    image: dict[str, Any] | None
    match_value: str | None


class UndoMark(NamedTuple):
    """One reversal of an undo as its journal keeps it: ``kind`` remove or restore; ``state`` sent (in doubt),
    done or failed (with its reason)."""

    step: str
    target_id: str
    kind: Literal["remove", "restore"]
    state: Literal["sent", "done", "failed"]
    reason: str | None = None


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


#: the longest answer excerpt the journal keeps of one call (characters, after redaction)
RESPONSE_EXCERPT: Final = 2048
#: how much of an answer is redacted before its excerpt is cut: a secret the cut would halve is masked whole
#: (one whose every form is shorter than the difference: 14 KiB, a 1,200-character secret percent-encoded)
RESPONSE_READ: Final = 16 * 1024


class Attempt(NamedTuple):
    """One call or lookup a write made (:meth:`Journal.record_attempt`).

    ``batch_id``: the batch it wrote (None for a lookup made before its batch was sent); ``keys``: the
    idempotency keys of its records when they are not the whole batch (None: all of it); ``attempt``: its try
    of the same call in this run (1, 2, …); ``request``: what was asked (``POST /path``); ``status``: the
    answer's status, if one came; ``outcome``: ``answered``, ``lost``, ``server error``, ``rate limited``,
    ``refused`` or ``unreadable`` for a write, ``found`` or ``not found`` for a lookup; ``target_id``: what a
    lookup found; ``response``: the answer's text when it is kept (redacted and cut to
    :data:`RESPONSE_EXCERPT` by the journal).
    """

    kind: Literal["write", "lookup"]
    batch_id: str | None
    keys: tuple[str, ...] | None
    attempt: int
    request: str
    status: int | None
    outcome: str
    target_id: str | None = None
    response: str | None = None


@dataclass(frozen=True, slots=True)
class TracedRecord:
    """A record's ledger row, as ``migrator trace`` shows it."""

    step: str
    source_key: str
    idem_key: str
    state: str
    batch_id: str | None
    target_id: str | None
    action: str | None
    content_hash: str | None
    updated_at: float


@dataclass(frozen=True, slots=True)
class TracedBatch:
    """A batch that carried a record: when it was sent (and done), by which run, and the payload the record
    was sent with in it (None when the journal kept none)."""

    batch_id: str
    state: str
    seq: int | None
    run_id: int | None
    sent_at: float
    done_at: float | None
    payload: Any


@dataclass(frozen=True, slots=True)
class TracedAttempt:
    """A kept :class:`Attempt`, with its run and time."""

    run_id: int | None
    at: float
    kind: str
    batch_id: str | None
    attempt: int
    request: str
    status: int | None
    outcome: str
    target_id: str | None
    response: str | None


#: One record of the ledger as the reports read it: ``(step, source key, target id, action, done)``; the target
#: id is ``None`` for a record not in the crosswalk, the action ``None`` until done, ``done`` is 1 or 0. A plain
#: tuple: reports read millions of them.
LedgerRow = tuple[str, str, str | None, str | None, int]
#: what :meth:`Journal.kept_identities` gives of a record: its name, e-mail, number and links
KeptIdentity = Kept
#: a ledger row followed by who its record is (Nones when it was never sent with a payload)
IdentifiedRow = tuple[str, str, str | None, str | None, int, str | None, str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class LedgerCounts:
    """What the ledger holds of one step: pages, batches and records by state, actions, dead letters."""

    pages_done: int = 0
    batches_sent: int = 0  # sent batches that carry records in doubt
    batches_done: int = 0
    records_sent: int = 0  # in doubt: sent, and not settled by a batch sent later
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


@dataclass(frozen=True, slots=True)
class Tenant:
    """The account a connection reaches: its platform, where it is (a base URL without credentials, or a
    folder) and what names the account there (its key or user name). ``identity`` is never stored, nor shown
    in a repr: the journal keeps a keyed hash of it."""

    platform: str
    location: str
    identity: str = field(repr=False)


_WHAT_TO_DO: Final = (
    "move it away, start over with --fresh, or give this run another journal with --journal PATH"
)


def _create_journal(path: Path, plan_name: str, clock: Callable[[], float]) -> None:
    """Build a new journal in ``<journal>-new`` (0600) and move it to ``path`` once its schema and meta are in
    the main file: a file at a journal's path always holds what it is, whatever happens to its ``-wal``."""
    new = beside(path, "-new")
    try:
        for leftover in (new, *(beside(new, s) for s in ("-journal", "-wal", "-shm"))):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        os.close(os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
        os.chmod(new, 0o600)  # whatever the umask
        conn = sqlite3.connect(new, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("plan_name", plan_name),
                    ("created", repr(clock())),
                    ("salt", os.urandom(16).hex()),
                    ("writer", "closed"),
                ],
            )
            conn.execute(f"PRAGMA application_id = {_APP_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")  # a rollback journal: the commit is in the main file, synced
            conn.execute("PRAGMA journal_mode = WAL")  # kept in the file's header
        finally:
            conn.close()
        fd = os.open(new, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(new, path)
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except (OSError, sqlite3.Error) as e:
        with contextlib.suppress(OSError):
            os.unlink(new)
        raise JournalError(f"cannot create the journal {path}: {e}. {_WHAT_TO_DO}.") from None


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """A connection to the journal. A reader of a journal on read-only storage whose WAL is empty (closed
    cleanly, or never written) opens it ``immutable``: SQLite would otherwise need to create its ``-shm``
    file there, and no writer can change a file on storage that takes no writes."""
    try:
        if read_only:
            uri = f"{path.absolute().as_uri()}?mode=ro"
            if wal_is_missing(path) and not os.access(path.parent, os.W_OK):
                uri += "&immutable=1"
            return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=10.0)
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    except sqlite3.Error as e:
        raise JournalError(f"cannot open the journal {path}: {e}. Check the path and its permissions.") from e


def _fingerprint(salt: str, identity: str) -> str:
    """A keyed hash of what names an account: not reversible, and unlike any other journal's (its own salt)."""
    return hashlib.blake2b(identity.encode(), key=bytes.fromhex(salt), digest_size=16).hexdigest()


@dataclass(slots=True)
class _Doubt:
    """One step's records in doubt: idempotency key → (source key, payload as sent or None); the sent batches
    read, and those that carry a record in doubt (the last batch each such record was sent in)."""

    records: dict[str, tuple[str, Any]]
    batches: list[str]
    live: set[str]


# -- the journal ------------------------------------------------------------------------------------


class _Names:
    """Who the records of each step are, picked from the payloads they are sent with (one
    :class:`~migrator.identity.Picker` per step, with the step's references), every text through ``redact``
    (the run's redactor; without one, one that knows no secret and masks bearer tokens)."""

    def __init__(
        self, references: Mapping[str, Mapping[str, str]], redact: Callable[[str], str] | None
    ) -> None:
        self.references = references
        self.redact = redact or Redactor().text
        self._pickers: dict[str, Picker] = {}

    def of(self, step: str, payloads: Sequence[Any]) -> list[Kept | None]:
        picker = self._pickers.get(step)
        if picker is None:
            picker = self._pickers[step] = Picker(self.references.get(step, {}))
        return kept_of(picker, payloads, self.redact)


def _name_records(conn: sqlite3.Connection, redact: Callable[[str], str] | None) -> None:
    """An upgrade to schema 8: each record named from the latest payload its batches kept (batches in sequence
    order), with the references of the newest run statistics that hold them."""
    references: dict[str, dict[str, str]] = {}
    for (text,) in conn.execute("SELECT stats FROM run_stats ORDER BY run_id DESC"):
        stats = json.loads(text)
        named = stats.get("references") if isinstance(stats, dict) else None
        if isinstance(named, dict):
            references = {
                str(k): {str(f): str(t) for f, t in v.items()} for k, v in named.items() if isinstance(v, dict)
            }
            break
    names = _Names(references, redact)
    cur = conn.execute("SELECT step, keys, payloads FROM batches WHERE payloads IS NOT NULL ORDER BY seq")
    while batches := cur.fetchmany(20):
        for step, keys, payloads in batches:
            entries = orjson.loads(keys or "[]")
            kept = names.of(step, orjson.loads(payloads))
            conn.executemany(
                "UPDATE records SET name = ?, email = ?, number = ?, links = ? "
                "WHERE step = ? AND source_key = ?",
                [(*who, step, e[1]) for e, who in zip(entries, kept, strict=True) if who is not None],
            )


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
        writer_lock: WriterLock | None,
        references: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._conn = conn
        self.path = path
        self.plan_name = plan_name
        self._clock = clock
        self._redact = redact or (lambda s: s)
        self._names = _Names(references or {}, redact)
        #: who the records of each batch between ``mark_batch_sent`` and ``mark_batch_done`` are
        self._sending: dict[tuple[str, str], list[Kept | None]] = {}
        self._lock = threading.Lock()
        self._checkpoint_lock = threading.Lock()
        self._checkpointer: sqlite3.Connection | None = None  # ``checkpoint``'s own connection
        self._writer_lock = writer_lock  # None for a reader
        self._closed = False
        self.run_id: int | None = None
        #: done ledger rows per upsert statement (``_write_results``)
        self._rows_per_statement = min(
            _DONE_ROWS_MAX, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _DONE_VALUES
        )

    # -- opening ------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        plan_name: str,
        *,
        fresh: bool = False,
        read_only: bool = False,
        clock: Callable[[], float] = time.time,
        redact: Callable[[str], str] | None = None,
        references: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Journal:
        """Open the journal of ``plan_name`` at ``path``: a writer, creating it (0600) if missing, or a reader.

        A writer takes the journal's lock (``JournalError`` naming the holder when another run has it), probes
        the storage, and marks the journal open before it returns. ``fresh=True`` deletes an existing journal
        first (``--fresh``), under the lock. ``read_only=True``: a reader, which takes no lock and writes
        nothing (an older schema is upgraded first, by a writer). Raises ``JournalError`` if the file is not a
        migrator journal, belongs to another plan, lost its WAL, is a link (or a file beside it is), or was
        written by a newer migrator.

        ``redact`` masks the secrets the run knows in what the journal keeps (reasons, answers, who each
        record is); ``references``: step → (payload field → the step whose target id it holds), the plan's, so
        that who a record is names the records it links (``migrator.identity``).
        """
        p = Path(path)
        refuse_links(p)
        if read_only:
            return cls._open_reader(p, plan_name, clock, redact)
        lock = WriterLock.acquire(p)
        try:
            probe_storage(p)
            if p.exists() and not os.access(p, os.W_OK):
                raise JournalError(
                    f"the journal {p} is a read-only file: a run records every batch in it, so nothing was "
                    f"sent. Make it writable (`chmod u+w {p}`), or give this run another journal with "
                    "--journal PATH."
                )
            if fresh:
                remove_files(p)
            if not p.exists():
                _create_journal(p, plan_name, clock)
            wal_missing = wal_is_missing(p)
            conn = _connect(p, read_only=False)
            try:
                version = cls._prepare(conn, p, plan_name, wal_missing=wal_missing)
                if version < SCHEMA_VERSION:
                    cls._migrate(conn, p, version, redact)
                cls._mark_open(conn, p)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            lock.release()
            raise
        make_sqlite_files_private(p)
        return cls(conn, p, plan_name, clock=clock, redact=redact, writer_lock=lock, references=references)

    @classmethod
    def _open_reader(
        cls, p: Path, plan_name: str, clock: Callable[[], float], redact: Callable[[str], str] | None
    ) -> Journal:
        wal_missing = wal_is_missing(p)
        conn = _connect(p, read_only=True)
        try:
            version = cls._prepare(conn, p, plan_name, wal_missing=wal_missing)
        except BaseException:
            conn.close()
            raise
        if version < SCHEMA_VERSION:
            conn.close()
            cls.open(p, plan_name, clock=clock).close()  # an upgrade writes: a writer makes it, under the lock
            return cls._open_reader(p, plan_name, clock, redact)
        make_sqlite_files_private(p)
        return cls(conn, p, plan_name, clock=clock, redact=redact, writer_lock=None)

    @staticmethod
    def _prepare(conn: sqlite3.Connection, p: Path, plan_name: str, *, wal_missing: bool) -> int:
        """Check that ``p`` is a sound journal of ``plan_name``; returns its schema version."""
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as e:
            if getattr(e, "sqlite_errorname", "").startswith("SQLITE_CANTOPEN"):
                raise JournalError(
                    f"cannot open the journal {p} ({e}): SQLite reads a journal through its {p.name}-shm file, "
                    f"which cannot be made in {p.parent} (read-only storage?). Nothing is wrong with the "
                    "journal: copy it with its -wal and -shm files to a writable folder and point --journal "
                    "at the copy, or make the folder writable again."
                ) from None
            raise JournalError(f"{p} is not a readable migrator journal ({e}): {_WHAT_TO_DO}.") from e
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"the journal {p} was written by a newer migrator (schema {version}; this one reads up to "
                f"{SCHEMA_VERSION}): upgrade migrator, or use another journal with --journal PATH."
            )
        if version == 0 and not tables:
            raise JournalError(
                f"{p} holds no journal (no schema, no plan): migrator never leaves a journal file empty, so "
                "its content was lost (a deleted -wal file?) or it is not a journal. If a run used it, check "
                "the target for what that run created before you start over with --fresh (a create-only step "
                "would create it again); otherwise delete it, or give this run another journal with --journal "
                "PATH."
            )
        if app_id != _APP_ID or version == 0:
            raise JournalError(f"{p} is an SQLite file but not a migrator journal: {_WHAT_TO_DO}.")
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA cache_size = -8192")  # 8 MiB of page cache: memory stays flat at millions
            meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        except sqlite3.DatabaseError as e:
            raise JournalError(f"{p} is not a readable migrator journal ({e}): {_WHAT_TO_DO}.") from e
        owner = meta.get("plan_name")
        if owner is None:
            raise JournalError(
                f"the journal {p} has lost its meta (the plan it belongs to): it is damaged, and what it says "
                "cannot be trusted. Check the target for what its runs created before you start over with "
                "--fresh (a create-only step would create it again), or give this run another journal with "
                "--journal PATH."
            )
        if owner != plan_name:
            raise JournalError(
                f"the journal {p} belongs to plan {owner!r}, not {plan_name!r}: give this plan its own journal "
                "with --journal PATH, or discard that one with --fresh."
            )
        if meta.get("writer") == "open" and wal_missing:
            raise JournalError(
                f"the journal {p} has lost its write-ahead log: {p.name}-wal is missing or empty, but a run "
                "had it open for writing (killed, or the journal was copied without its -wal). The records it "
                "wrote last are gone, and resuming would send them again. Put the -wal file back beside the "
                "journal if you have it (a copy of a journal takes its -wal and -shm files along). Otherwise "
                "check the target for what that run created, then start over with --fresh (a create-only step "
                "would create it again), or keep this file aside and use --journal PATH."
            )
        return int(version)

    @staticmethod
    def _migrate(conn: sqlite3.Connection, p: Path, version: int, redact: Callable[[str], str] | None) -> None:
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
            if version < 8:
                _name_records(conn, redact)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise JournalError(
                f"cannot upgrade the journal {p} from schema {version} to {SCHEMA_VERSION}: {e}. Check that "
                "the file is writable, or start over with --fresh."
            ) from e

    @staticmethod
    def _mark_open(conn: sqlite3.Connection, p: Path) -> None:
        """WAL mode, and the journal marked open for writing in its main file, before any write of the run."""
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = OFF")
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('writer', 'open') "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )
            busy = conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()[0]
        except sqlite3.Error as e:
            raise JournalError(f"cannot open the journal {p}: {e}. Check the path and its permissions.") from e
        if busy:
            raise JournalError(
                f"the journal {p} is kept busy by another program reading it (for more than 10 s): nothing was "
                "sent. Let that program finish (a `migrator report`, an SQLite browser), then run again."
            )

    def close(self) -> None:
        """Close the journal; a writer first copies the whole WAL into the main file, marks the journal closed
        and releases its lock. Closing twice is harmless."""
        with self._checkpoint_lock, self._lock:
            if self._closed:
                return
            self._closed = True
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
            if self._writer_lock is not None:
                with contextlib.suppress(sqlite3.Error):  # left open: the WAL keeps what it holds
                    self._conn.execute("UPDATE meta SET value = 'closed' WHERE key = 'writer'")
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            if self._writer_lock is not None:
                self._writer_lock.release()

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
        Returns SQLite's ``(busy, frames in the WAL, frames checkpointed)``; raises ``JournalStorageError``
        when the disk refuses the copy."""
        with self._checkpoint_lock:
            try:
                if self._checkpointer is None:
                    self._checkpointer = sqlite3.connect(
                        self.path, isolation_level=None, check_same_thread=False
                    )
                    self._checkpointer.execute("PRAGMA busy_timeout = 10000")
                row = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as e:
                # a reader's write is a mistake of the caller's, not the disk's
                refused = storage_refused(self.path, e) if self._writer_lock is not None else None
                if refused is None:
                    raise
                raise refused from None
            busy, frames, copied = row
            return int(busy), int(frames), int(copied)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction: all of it is visible after, or none of it. A write the disk refuses (full,
        read-only, an I/O error) rolls the transaction back and raises ``JournalStorageError``."""
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                try:
                    yield cur
                    cur.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            cur.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                # a reader's write is a mistake of the caller's, not the disk's
                refused = storage_refused(self.path, e) if self._writer_lock is not None else None
                if refused is None:
                    raise
                raise refused from None

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
        """Record the start of a run; returns its id (also kept as ``run_id`` and stamped on what it writes).
        A run still marked ``running`` ended without recording its end (killed, or its disk was full): it is
        marked ``unfinished`` (this run holds the writer lock, so that one is not alive)."""
        with self._tx() as cur:
            cur.execute("UPDATE runs SET status = 'unfinished' WHERE status = 'running'")
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
        superseded = [
            (step, batch)
            for (step,) in self._read("SELECT DISTINCT step FROM batches WHERE state = 'sent'")
            for doubt in (self._doubt(step),)
            for batch in doubt.batches
            if batch not in doubt.live
        ]
        with self._tx() as cur:
            cur.execute("UPDATE runs SET finished = ?, status = ? WHERE id = ?", (self._clock(), status, rid))
            # sent batches whose every record a later batch settled or carries: nothing is in doubt in them
            cur.executemany(
                "DELETE FROM batches WHERE step = ? AND batch_id = ? AND state = 'sent'", superseded
            )

    def runs(self) -> list[dict[str, Any]]:
        rows = self._read("SELECT id, started, finished, status, plan_hash, plan_name FROM runs ORDER BY id")
        keys = ("id", "started", "finished", "status", "plan_hash", "plan_name")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # -- tenants ------------------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def tenant_changes(self, tenants: Mapping[str, Tenant]) -> list[str]:
        """How the accounts ``tenants`` reach differ from those this journal was bound to, one line per
        connection (``connection target: other credentials``); empty when they are the same, and for a
        connection the journal was never bound to."""
        bound: dict[str, dict[str, str]] = orjson.loads(self._meta("tenants") or "{}")
        salt = self._meta("salt")
        changes: list[str] = []
        for name, tenant in sorted(tenants.items()):
            was = bound.get(name)
            if was is None or salt is None:
                continue
            if was["platform"] != tenant.platform:
                changes.append(f"connection {name}: platform {was['platform']} then, {tenant.platform} now")
            elif was["location"] != tenant.location:
                changes.append(f"connection {name}: {was['location']} then, {tenant.location} now")
            elif was["identity"] != _fingerprint(salt, tenant.identity):
                changes.append(f"connection {name}: other credentials (another account)")
        return changes

    def bind_tenants(self, tenants: Mapping[str, Tenant]) -> None:
        """Bind the journal to the accounts ``tenants`` reach (replacing what it held for those connections):
        platform, location and a keyed hash of the identity, under this journal's salt."""
        salt = self._meta("salt") or os.urandom(16).hex()
        bound: dict[str, dict[str, str]] = orjson.loads(self._meta("tenants") or "{}")
        for name, tenant in tenants.items():
            bound[name] = {
                "platform": tenant.platform,
                "location": tenant.location,
                "identity": _fingerprint(salt, tenant.identity),
            }
        with self._tx() as cur:
            cur.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [("salt", salt), ("tenants", orjson.dumps(bound, option=orjson.OPT_SORT_KEYS).decode())],
            )

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

    def mark_batch_sent(
        self,
        step: str,
        batch_id: str,
        records: Iterable[SentRecord],
        pre_images: Sequence[PreImage] = (),
    ) -> None:
        """Before the request: the batch is *sent*, with its records (one row, one transaction), and with the
        ``pre_images`` of its records when given (what :meth:`save_pre_images` keeps, in the same transaction).

        The batch row carries its records (idempotency key, source key, content hash) as one JSON value, and
        their payloads (when given) as another, so marking a batch sent costs one insert whatever its size; it
        takes the next sequence number. Its records are *sent* (in doubt) until a batch sent later settles
        them (:meth:`mark_batch_done` of this one, normally). A record already done (a delta run sending changed
        content) stays done with its target id, and is in doubt as well while the batch is. Who each record is
        (``migrator.identity.kept_of``) is picked from its payload here, and kept in its ledger row by
        :meth:`mark_batch_done` (a record sent without a payload keeps who it was).
        """
        sent = list(records)
        keys = orjson.dumps([[r.idem_key, str(r.source_key), r.content_hash] for r in sent]).decode()
        payloads = [r.payload for r in sent]
        kept = orjson.dumps(payloads, default=str).decode() if any(p is not None for p in payloads) else None
        names: list[Kept | None] = self._names.of(step, payloads) if kept is not None else [None] * len(sent)
        images = self._images_row(step, pre_images) if pre_images else None
        with self._tx() as cur:
            if images is not None:
                cur.execute(_INSERT_IMAGES, images)
            cur.execute(
                "INSERT INTO batches (step, batch_id, state, sent_at, run_id, keys, payloads, seq) "
                "VALUES (?, ?, 'sent', ?, ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM batches)) "
                "ON CONFLICT (step, batch_id) DO UPDATE SET state = 'sent', sent_at = excluded.sent_at, "
                "done_at = NULL, run_id = excluded.run_id, keys = excluded.keys, payloads = excluded.payloads, "
                "seq = excluded.seq",
                (step, batch_id, self._clock(), self.run_id, keys, kept),
            )
        self._sending[(step, batch_id)] = names

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
                "SELECT keys, seq FROM batches WHERE step = ? AND batch_id = ?", (step, batch_id)
            ).fetchone()
            if row is None:
                raise ValueError(
                    f"step {step!r}: batch {batch_id} was never marked sent; call mark_batch_sent before the "
                    "request and mark_batch_done after it"
                )
            entries = orjson.loads(row[0]) if row[0] else []
            names = self._sending.pop((step, batch_id), None) or self._names_of(cur, step, batch_id, entries)
            sent = {sk: (ik, h, who or _NOBODY) for (ik, sk, h), who in zip(entries, names, strict=True)}
            seq = row[1]
            done_rows: list[tuple[Any, ...]] = []
            for r in results:
                key = str(r.source_key)
                target = None if r.target_id is None else str(r.target_id)
                _, digest, who = sent.pop(key, _UNSENT)
                done_rows.append((step, key, r.idem_key, batch_id, target, r.action, digest, now, seq, *who))
            rej_rows: list[tuple[Any, ...]] = []
            dead_rows: list[tuple[Any, ...]] = []
            for j in rejected:
                key = str(j.source_key)
                _, digest, who = sent.pop(key, _UNSENT)
                rej_rows.append((step, key, j.idem_key, batch_id, digest, now, seq, *who))
                detail = None if j.detail is None else self._redact(_to_json(j.detail))
                dead_rows.append(
                    (step, j.source_key, j.idem_key, j.status, self._redact(j.reason), detail, self.run_id, now)
                )
            self._write_results(cur, done_rows)
            cur.executemany(
                "INSERT INTO records (step, source_key, idem_key, state, batch_id, content_hash, updated_at, "
                "seq, name, email, number, links) VALUES (?, ?, ?, 'rejected', ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (step, source_key) DO UPDATE SET state = 'rejected', "
                "batch_id = excluded.batch_id, "
                f"updated_at = excluded.updated_at, seq = excluded.seq, {_NAMED}",
                rej_rows,
            )
            cur.executemany(
                "INSERT INTO dead_letters (step, source_key, idem_key, status, reason, detail, run_id, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                dead_rows,
            )
            # records the call said nothing about stay *sent* (in doubt), visibly
            cur.executemany(
                "INSERT INTO records (step, source_key, idem_key, state, batch_id, content_hash, updated_at, "
                "seq, name, email, number, links) VALUES (?, ?, ?, 'sent', ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (step, source_key) DO UPDATE SET state = 'sent', batch_id = excluded.batch_id, "
                f"updated_at = excluded.updated_at, seq = excluded.seq, {_NAMED}",
                [(step, sk, ik, batch_id, h, now, seq, *who) for sk, (ik, h, who) in sent.items()],
            )
            cur.execute(
                "UPDATE batches SET state = 'done', done_at = ?, done_count = ? "
                "WHERE step = ? AND batch_id = ?",
                (now, len(done_rows), step, batch_id),
            )
        return len(sent)

    def _write_results(self, cur: sqlite3.Cursor, done_rows: list[tuple[Any, ...]]) -> None:
        """Done records into the ledger (the crosswalk is the ledger's view of their target ids), each with who
        it is (name, e-mail, number, links; Nones: what was kept before stands). A batch's rows go in one
        statement (up to :data:`_DONE_ROWS_MAX`, and what SQLite binds in one), each upserted in turn as
        ``executemany`` would, without its round of binding and stepping per row."""
        per = self._rows_per_statement
        for start in range(0, len(done_rows), per):
            rows = done_rows[start : start + per]
            cur.execute(_upsert_done(len(rows)), [value for row in rows for value in row])

    def _names_of(
        self, cur: sqlite3.Cursor, step: str, batch_id: str, entries: Sequence[Any]
    ) -> Sequence[Kept | None]:
        """Who the records of a batch another process marked sent are, from the payloads it kept."""
        row = cur.execute(
            "SELECT payloads FROM batches WHERE step = ? AND batch_id = ?", (step, batch_id)
        ).fetchone()
        return self._names.of(step, orjson.loads(row[0])) if row[0] else [None] * len(entries)

    # -- reads for resume ---------------------------------------------------------------------------

    def pages_done(self, step: str) -> set[str]:
        return {r[0] for r in self._read("SELECT page_key FROM pages WHERE step = ?", (step,))}

    def keys_in_state(self, step: str, *states: Literal["sent", "done", "rejected"]) -> set[str]:
        """Idempotency keys of ``step``'s records in these states; *sent* = in doubt: in a batch sent, and not
        settled by a batch sent after it."""
        others = [s for s in states if s != "sent"]
        keys: set[str] = set()
        if others:
            marks = ", ".join("?" for _ in others)
            sql = f"SELECT idem_key FROM records WHERE step = ? AND state IN ({marks})"
            keys.update(r[0] for r in self._read(sql, (step, *others)))
        if "sent" in states:
            keys.update(self._doubt(step).records)
        return keys

    def sent_payloads(self, step: str) -> dict[str, dict[str, Any]]:
        """The payloads ``step``'s records in doubt were last sent with, by idempotency key: what a create in
        doubt must be looked up with on the target (today's mapping, or the source, may give other values). A
        record in doubt sent without a payload (``SentRecord.payload`` None, or by a journal before schema 5)
        is left out."""
        return {ik: payload for ik, (_, payload) in self._doubt(step).records.items() if payload is not None}

    def _doubt(self, step: str) -> _Doubt:
        """The step's records in doubt, from its sent batches (the last batch a record was sent in gives its
        payload) and the ledger: a record of a batch is in doubt unless its ledger row is done or rejected by
        that batch or one sent later; a ledger row left *sent* by a done batch is in doubt too."""
        sent: dict[str, tuple[int, str, Any]] = {}  # idempotency key → (batch seq, source key, payload)
        carrier: dict[str, str] = {}
        batches: list[str] = []
        rows = self._read(
            "SELECT batch_id, coalesce(seq, 0), keys, payloads FROM batches WHERE step = ? AND state = 'sent' "
            "ORDER BY seq",
            (step,),
        )
        for batch, seq, blob, kept in rows:
            entries = orjson.loads(blob or "[]")
            payloads = orjson.loads(kept) if kept else [None] * len(entries)
            for (ik, sk, _), payload in zip(entries, payloads, strict=True):
                sent[ik] = (seq, sk, payload)
                carrier[ik] = batch
            batches.append(batch)
        settled = self._settled_seqs(step, [sk for _, sk, _ in sent.values()])
        records = {ik: (sk, payload) for ik, (seq, sk, payload) in sent.items() if settled.get(sk, -1) < seq}
        for ik, sk in self._read(
            "SELECT idem_key, source_key FROM records WHERE step = ? AND state = 'sent'", (step,)
        ):
            records.setdefault(ik, (sk, None))
        return _Doubt(records, batches, {carrier[ik] for ik in records if ik in carrier})

    def _settled_seqs(self, step: str, source_keys: Sequence[str]) -> dict[str, int]:
        """Source key → the sequence number of the batch that settled it (done or rejected), for these keys."""
        out: dict[str, int] = {}
        for i in range(0, len(source_keys), 500):
            chunk = source_keys[i : i + 500]
            marks = ", ".join("?" for _ in chunk)
            sql = (
                "SELECT source_key, coalesce(seq, 0) FROM records WHERE step = ? AND state != 'sent' "
                f"AND source_key IN ({marks})"
            )
            out.update((str(sk), int(seq)) for sk, seq in self._read(sql, (step, *chunk)))
        return out

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

        doubtful: set[str] = set()  # steps with a sent batch or a record left sent: counted from the records
        for step, n in self._read("SELECT step, count(*) FROM pages GROUP BY step"):
            put(step, "pages_done", n)
        for step, state, n in self._read("SELECT step, state, count(*) FROM batches GROUP BY step, state"):
            if state == "sent":
                doubtful.add(step)
            else:
                put(step, f"batches_{state}", n)
        for step, state, action, n in self._read(
            "SELECT step, state, action, count(*) FROM records GROUP BY step, state, action"
        ):
            if state == "sent":
                doubtful.add(step)
                continue
            put(step, f"records_{state}", n)
            if state == "done" and action is not None:
                put(step, action, n)
        for step in doubtful:
            doubt = self._doubt(step)
            put(step, "records_sent", len(doubt.records))
            put(step, "batches_sent", len(doubt.live))
        for step, n in self._read("SELECT step, count(*) FROM dead_letters GROUP BY step"):
            put(step, "dead_letters", n)
        return {step: LedgerCounts(**fields) for step, fields in sorted(acc.items())}

    # -- undo: pre-images and progress --------------------------------------------------------------

    def save_pre_images(self, step: str, images: Sequence[PreImage]) -> None:
        """Keep what the records of a batch held on the target before this run wrote them, one transaction,
        before the batch is marked sent (or in the transaction that marks it sent: :meth:`mark_batch_sent`):
        one row for the batch (``batch_images``: each record's source key, target id, match value and image
        as JSON text, in a JSON array), numbered in the order saved. The first image of a record in a run is
        the one read (a record sent again in the same run was read before the run as well)."""
        if not images:
            return
        row = self._images_row(step, images)
        with self._tx() as cur:
            cur.execute(_INSERT_IMAGES, row)

    def _images_row(self, step: str, images: Sequence[PreImage]) -> tuple[int, str, str]:
        """The ``batch_images`` row of a batch's pre-images."""
        run_id = self.run_id or 0  # 0: written outside a run (as batches are without one: no run to undo)
        rows = orjson.dumps(
            [
                [
                    str(i.source_key),
                    i.target_id,
                    i.match_value,
                    None if i.image is None else orjson.dumps(i.image, default=str).decode(),
                ]
                for i in images
            ]
        ).decode()
        return run_id, step, rows

    def run_effects(self, run_ids: Sequence[int]) -> list[RunEffect]:
        """Every record the runs ``run_ids`` (a load and the runs that resumed it) wrote last, done by a batch
        of one of them, with its earliest pre-image among them (what the target held before the first of them
        wrote it: the lowest run, and in it the first saved; a journal before schema 9 kept one image per
        record and run in ``pre_images``), in step and source key order."""
        marks = ", ".join("?" for _ in run_ids) or "NULL"
        rows = self._read(
            "WITH images AS ("
            "SELECT step, source_key, image, match_value, row_number() OVER (PARTITION BY step, source_key "
            "ORDER BY run_id, seq, place) AS nth FROM ("
            f"SELECT step, source_key, run_id, 0 AS seq, 0 AS place, image, match_value FROM pre_images "
            f"WHERE run_id IN ({marks}) UNION ALL "
            "SELECT b.step, j.value ->> 0, b.run_id, b.seq, j.key, j.value ->> 3, j.value ->> 2 "
            f"FROM batch_images b, json_each(b.images) j WHERE b.run_id IN ({marks}))) "
            "SELECT r.step, r.source_key, r.target_id, r.action, p.source_key IS NOT NULL, p.image, "
            "p.match_value FROM records r JOIN batches b ON b.step = r.step AND b.batch_id = r.batch_id "
            "LEFT JOIN images p ON p.nth = 1 AND p.step = r.step AND p.source_key = r.source_key "
            f"WHERE b.run_id IN ({marks}) AND r.state = 'done' ORDER BY r.step, r.source_key",
            (*run_ids, *run_ids, *run_ids),
        )
        return [
            RunEffect(
                str(step),
                str(sk),
                None if tid is None else str(tid),
                str(action),
                bool(saved),
                None if image is None else orjson.loads(image),
                None if mv is None else str(mv),
            )
            for step, sk, tid, action, saved, image, mv in rows
        ]

    def runs_that_wrote_after(self, run_id: int) -> list[int]:
        """The runs after ``run_id`` that sent a batch (their writes may have overwritten its effects)."""
        rows = self._read("SELECT DISTINCT run_id FROM batches WHERE run_id > ? ORDER BY run_id", (run_id,))
        return [int(r[0]) for r in rows]

    def undo_marks(self, run_id: int) -> dict[tuple[str, str], UndoMark]:
        """What an undo of ``run_id`` did so far, by (step, target id)."""
        rows = self._read(
            "SELECT step, target_id, kind, state, reason FROM undo_actions WHERE run_id = ?", (run_id,)
        )
        return {(str(s), str(t)): UndoMark(str(s), str(t), k, st, r) for s, t, k, st, r in rows}

    def mark_undo(self, run_id: int, marks: Sequence[UndoMark]) -> None:
        """Record reversals of an undo of ``run_id``, one transaction: *sent* before their calls, *done* or
        *failed* after. Reasons go through ``redact``."""
        if not marks:
            return
        now = self._clock()
        rows = [
            (
                run_id,
                m.step,
                m.target_id,
                m.kind,
                m.state,
                None if m.reason is None else self._redact(m.reason),
                now,
            )
            for m in marks
        ]
        with self._tx() as cur:
            cur.executemany(
                "INSERT INTO undo_actions (run_id, step, target_id, kind, state, reason, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, step, target_id) DO UPDATE SET "
                "kind = excluded.kind, state = excluded.state, reason = excluded.reason, at = excluded.at",
                rows,
            )

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

    def index_linked(self, steps: Iterable[str]) -> None:
        """For one report: who the records of ``steps`` (the steps other records link) are, by their target
        id, in this connection's temporary storage (on disk: memory stays flat over millions of records) until
        :meth:`forget_linked` or :meth:`close` (:meth:`kept_identities` ``by_target``)."""
        with self._lock:
            self._conn.execute("DROP TABLE IF EXISTS temp.report_linked")
            self._linked_table()
            self._conn.execute("BEGIN")
            try:
                for step in dict.fromkeys(steps):
                    self._conn.execute(
                        "INSERT OR REPLACE INTO temp.report_linked SELECT step, target_id, name, email, number "
                        "FROM records WHERE step = ? AND target_id IS NOT NULL AND name IS NOT NULL "
                        "ORDER BY source_key",
                        (step,),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise

    def _linked_table(self) -> None:
        self._conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS report_linked (step TEXT, target_id TEXT, name TEXT, email TEXT, "
            "number TEXT, PRIMARY KEY (step, target_id)) WITHOUT ROWID"
        )

    def identified_ledger_chunks(
        self, separator: str, chunk: int = 5000
    ) -> Iterator[list[tuple[str, int, str, str, str, str | None]]]:
        """:meth:`ledger_row_chunks` with who each record is, in the same one pass, each row's texts joined by
        ``separator`` in SQLite (fewer objects for a report that joins them anyway): ``(step, 1 when done + 2
        when it has a target id, source key + sep + target id, action, sep + name + sep + e-mail + sep +
        number + sep, links)``; a missing target id or action is empty text, and a record never sent with a
        payload (no name, e-mail or number kept) has four separators and no links."""
        cur = self._conn.execute(
            "SELECT step, (state = 'done') + 2 * (target_id IS NOT NULL), "
            "source_key || ?1 || coalesce(target_id, ''), coalesce(action, ''), "
            "iif(name IS NULL OR email IS NULL OR number IS NULL, ?1 || ?1 || ?1 || ?1, "
            "?1 || name || ?1 || email || ?1 || number || ?1), "
            "iif(name IS NULL OR email IS NULL OR number IS NULL, NULL, links) "
            "FROM records ORDER BY step, source_key",
            (separator,),
        )
        try:
            while rows := cur.fetchmany(chunk):
                yield rows
        finally:
            cur.close()

    def kept_identities(
        self, keys: Iterable[tuple[str, str]], *, by_target: bool = False
    ) -> dict[tuple[str, str], KeptIdentity]:
        """Who these records are, by (step, source key) — or, with ``by_target``, the records of the steps
        :meth:`index_linked` indexed, by (step, target id), without links; a record never sent with a payload
        is left out. One query per 500 records."""
        if by_target:
            table, column, links = "temp.report_linked", "target_id", "NULL"
        else:
            table, column, links = "records", "source_key", "i.links"
        wanted = list(dict.fromkeys(keys))
        out: dict[tuple[str, str], KeptIdentity] = {}
        with self._lock:
            self._linked_table()
            for start in range(0, len(wanted), 500):
                rows = self._conn.execute(
                    f"SELECT i.step, i.{column}, i.name, i.email, i.number, {links} FROM json_each(?) j "
                    f"JOIN {table} i ON i.step = j.value ->> 0 AND i.{column} = j.value ->> 1 "
                    "WHERE i.name IS NOT NULL",
                    (orjson.dumps(wanted[start : start + 500]).decode(),),
                ).fetchall()
                out.update(
                    ((step, key), (name, email, number, link)) for step, key, name, email, number, link in rows
                )
        return out

    def forget_linked(self) -> None:
        """Drop what :meth:`index_linked` kept (its temporary table and its disk space)."""
        with self._lock:
            self._conn.execute("DROP TABLE IF EXISTS temp.report_linked")

    def distinct_targets(self, steps: Sequence[str]) -> int:
        """How many distinct target ids the done records of ``steps`` hold (a record two steps write — a user,
        then its status — once); counted by SQLite, so memory stays flat over millions of records."""
        marks = ", ".join("?" for _ in steps) or "NULL"
        rows = self._read(
            f"SELECT count(DISTINCT target_id) FROM records WHERE state = 'done' AND target_id IS NOT NULL "
            f"AND step IN ({marks})",
            tuple(steps),
        )
        return int(rows[0][0])

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

    # -- trace: what happened to one record ---------------------------------------------------------

    def record_attempt(self, step: str, attempt: Attempt) -> None:
        """Keep one call or lookup of ``step`` (one transaction), stamped with this run and the time. What was
        asked and the answer's text go through ``redact``; the text is cut to :data:`RESPONSE_EXCERPT` after."""
        response = attempt.response
        if response is not None:
            response = self._redact(response[:RESPONSE_READ])[:RESPONSE_EXCERPT]
        keys = None if attempt.keys is None else orjson.dumps(list(attempt.keys)).decode()
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO attempts (step, batch_id, keys, try, kind, request, status, outcome, target_id, "
                "response, run_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    step,
                    attempt.batch_id,
                    keys,
                    attempt.attempt,
                    attempt.kind,
                    self._redact(attempt.request),
                    attempt.status,
                    attempt.outcome,
                    attempt.target_id,
                    response,
                    self.run_id,
                    self._clock(),
                ),
            )

    def find_records(self, key: str, step: str | None = None) -> list[TracedRecord]:
        """The records whose source key, idempotency key or target id is exactly ``key`` (of ``step`` only, when
        given), in step and source key order: their ledger rows, and a record that is only in a sent batch
        (sent by a run killed before its answer, never settled: it has no ledger row yet) as *sent*."""
        sql = (
            "SELECT step, source_key, idem_key, state, batch_id, target_id, action, content_hash, updated_at "
            "FROM records WHERE (source_key = ? OR idem_key = ? OR target_id = ?)"
        )
        args: tuple[str, ...] = (key, key, key)
        in_step = ""
        if step is not None:
            in_step = " AND step = ?"
            args = (*args, step)
        rows = [TracedRecord(*row) for row in self._read(sql + in_step, args)]
        found = {(r.step, r.source_key): r for r in rows}
        needle = orjson.dumps(key).decode()
        sent = self._read(
            "SELECT step, batch_id, sent_at, keys FROM batches WHERE state = 'sent' AND instr(keys, ?) > 0"
            + in_step,
            (needle, *args[3:]),
        )
        for s, batch_id, sent_at, keys in sent:
            for ik, sk, digest in orjson.loads(keys):
                if key in (ik, str(sk)) and (s, str(sk)) not in found:
                    record = TracedRecord(s, str(sk), ik, "sent", batch_id, None, None, digest, sent_at)
                    found[(s, str(sk))] = record
        return [found[k] for k in sorted(found)]

    def record_batches(self, step: str, idem_key: str) -> list[TracedBatch]:
        """The batches of ``step`` the journal still holds that carried the record ``idem_key``, in the order
        they were sent, each with the payload the record was sent with in it. (A batch left *sent* by a
        killed run, whose records later batches settled, is dropped at the end of a run.)"""
        needle = orjson.dumps(idem_key).decode()
        rows = self._read(
            "SELECT batch_id, state, seq, run_id, sent_at, done_at, keys, payloads FROM batches "
            "WHERE step = ? AND instr(keys, ?) > 0 ORDER BY seq",
            (step, needle),
        )
        out: list[TracedBatch] = []
        for batch_id, state, seq, run_id, sent_at, done_at, keys, kept in rows:
            entries = orjson.loads(keys)
            at = next((i for i, entry in enumerate(entries) if entry[0] == idem_key), None)
            if at is None:  # the key's text inside another value, not a record of the batch
                continue
            payload = orjson.loads(kept)[at] if kept else None
            out.append(TracedBatch(batch_id, state, seq, run_id, sent_at, done_at, payload))
        return out

    def record_attempts(self, step: str, idem_key: str, batch_ids: Iterable[str]) -> list[TracedAttempt]:
        """The calls and lookups of ``step`` that concerned the record ``idem_key``: those that named it, and
        those that wrote the whole of one of ``batch_ids`` (the batches that carried it), oldest first."""
        batches = sorted(set(batch_ids))
        needle = orjson.dumps(idem_key).decode()
        marks = ", ".join("?" for _ in batches)
        whole = f"(keys IS NULL AND batch_id IN ({marks})) OR " if batches else ""
        rows = self._read(
            "SELECT run_id, at, kind, batch_id, try, request, status, outcome, target_id, response, keys "
            f"FROM attempts WHERE step = ? AND ({whole}instr(keys, ?) > 0) ORDER BY id",
            (step, *batches, needle),
        )
        return [
            TracedAttempt(*row[:10])
            for row in rows
            if row[10] is None or idem_key in orjson.loads(row[10])  # exactly this key, not a longer one
        ]

    def record_dead_letters(self, step: str, idem_key: str) -> list[DeadLetter]:
        """Every dead letter of the record ``idem_key`` of ``step``, oldest first."""
        rows = self._read(
            "SELECT step, source_key, idem_key, status, reason, detail, run_id, at FROM dead_letters "
            "WHERE idem_key = ? AND step = ? ORDER BY id",
            (idem_key, step),
        )
        return [
            DeadLetter(s, sk, ik, status, reason, None if detail is None else json.loads(detail), run_id, at)
            for s, sk, ik, status, reason, detail, run_id, at in rows
        ]

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
