"""What a step writes to the journal: pages done, batches sent and done, dead letters, pre-images (for
``migrator undo``), and every write call and lookup it made (for ``migrator trace``).

The stages write through a ``StepLedger`` chosen once when the step is built: ``JournalLedger`` for a run, and
``DiscardLedger`` for a dry run, which reads the journal (to know what a run would skip) but writes nothing
to it: the dead letters it would have written are kept in memory, each with the payload its record would
have been sent with (what identifies it, when it was refused before), for the dry run's report.

Calls and lookups are kept within bounds: one row per try of a call, naming its batch (and its records, when
the call carries only part of the batch), with the answer's text kept only where it explains something — a
call that failed, was refused or refused a record, a lookup of a record in doubt or one that found the record,
and the first successful answer of each batch — so a step of N records written without trouble keeps one
answer per batch, not one per record or per try.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from migrator.connectors.base import Request, Response, RowResult, WriteItem
from migrator.errors import ConnectorError, RateLimitedError, TransientError
from migrator.journal import (
    RESPONSE_READ,
    Attempt,
    DeadLetter,
    Journal,
    PreImage,
    Rejection,
    SentRecord,
    WriteResult,
)
from migrator.logging import Redactor

__all__ = ["DiscardLedger", "HeldDeadLetter", "JournalLedger", "StepLedger", "outcome_of"]

#: masks the values under sensitive keys (``token``, ``password``, …) of an answer's JSON, and bearer tokens;
#: the journal then masks every secret the run knows, in every form
_SENSITIVE = Redactor()


class StepLedger(Protocol):
    def pages_done(self, page_keys: Sequence[str]) -> None:
        """These pages are settled: a resumed run does not read them again."""

    def pre_images(self, images: Sequence[PreImage]) -> None:
        """What the records of a batch about to be sent held on the target before the run (for an undo): kept
        with the batch, by the ``batch_sent`` that follows (nothing is sent before it)."""

    def batch_sent(self, batch_id: str, records: Sequence[SentRecord]) -> None:
        """The batch's records are about to be sent (in doubt until ``batch_done``)."""

    def batch_done(
        self, batch_id: str, results: Sequence[WriteResult], rejections: Sequence[Rejection]
    ) -> None:
        """The batch's outcome: records written (with their target ids) and dead letters."""

    def attempted(
        self,
        items: Sequence[WriteItem],
        request: Request,
        answer: Response | Exception,
        rows: Sequence[RowResult] | None = None,
    ) -> None:
        """One try of a write call for ``items``: its answer (or the error it ended with) and, when the answer
        was read, its per-record ``rows`` (a ``Response`` without rows could not be read)."""

    def looked_up(
        self,
        item: WriteItem,
        request: Request,
        answer: Response | Exception,
        target_id: str | None,
        *,
        in_doubt: bool,
    ) -> None:
        """One lookup of ``item`` on the target and what it found; ``in_doubt``: the record's create may have
        happened (an answer lost, or a run killed after sending it)."""


@dataclass(slots=True)
class _Sending:
    """A batch between ``batch_sent`` and ``batch_done``: its records, the tries of each of its calls, and
    whether a successful answer of it was kept yet."""

    keys: frozenset[str]
    tries: Counter[tuple[str, ...]] = field(default_factory=Counter)
    answer_kept: bool = False


class JournalLedger:
    """Writes one step's effects to the journal, one transaction per call (a batch's pre-images go in its
    ``batch_sent``'s)."""

    def __init__(self, journal: Journal, step: str) -> None:
        self.journal = journal
        self.step = step
        self._sending: dict[str, _Sending] = {}
        self._batch_of: dict[str, str] = {}  # idempotency key → the batch carrying it now
        self._loose_tries: Counter[tuple[str, ...]] = Counter()  # lookups before their batch was sent
        self._images: list[PreImage] = []  # the pre-images of the batch about to be marked sent

    def pages_done(self, page_keys: Sequence[str]) -> None:
        self.journal.mark_pages_done(self.step, page_keys)

    def pre_images(self, images: Sequence[PreImage]) -> None:
        self._images.extend(images)  # journaled in the transaction that marks their batch sent

    def batch_sent(self, batch_id: str, records: Sequence[SentRecord]) -> None:
        images, self._images = self._images, []
        self.journal.mark_batch_sent(self.step, batch_id, records, images)
        keys = frozenset([r.idem_key for r in records])
        self._sending[batch_id] = _Sending(keys)
        self._batch_of.update(dict.fromkeys(keys, batch_id))
        if self._loose_tries:  # the lookups made before the batch was sent: counted from 1 again within it
            for key in keys:
                self._loose_tries.pop(("lookup", key), None)

    def batch_done(
        self, batch_id: str, results: Sequence[WriteResult], rejections: Sequence[Rejection]
    ) -> None:
        self.journal.mark_batch_done(self.step, batch_id, results, rejections)
        sending = self._sending.pop(batch_id, None)
        for key in sending.keys if sending is not None else ():
            if self._batch_of.get(key) == batch_id:
                del self._batch_of[key]

    def attempted(
        self,
        items: Sequence[WriteItem],
        request: Request,
        answer: Response | Exception,
        rows: Sequence[RowResult] | None = None,
    ) -> None:
        keys = tuple([it.idem_key for it in items])
        batch_id = self._batch_of.get(keys[0]) if keys else None
        sending = self._sending.get(batch_id) if batch_id is not None else None
        named = None if sending is not None and sending.keys == frozenset(keys) else keys
        tries = sending.tries if sending is not None else self._loose_tries
        tries[("write", *keys)] += 1
        status, outcome = outcome_of(answer, read=rows is not None)
        success = outcome == "answered" and status is not None and status < 300
        success = success and all(row.ok for row in rows or ())
        keep = not success or (sending is not None and not sending.answer_kept)
        if success and sending is not None:
            sending.answer_kept = True
        self.journal.record_attempt(
            self.step,
            Attempt(
                "write",
                batch_id,
                named,
                tries[("write", *keys)],
                f"{request.method} {request.path}",
                status,
                outcome,
                response=_answer_text(answer) if keep else None,
            ),
        )

    def looked_up(
        self,
        item: WriteItem,
        request: Request,
        answer: Response | Exception,
        target_id: str | None,
        *,
        in_doubt: bool,
    ) -> None:
        batch_id = self._batch_of.get(item.idem_key)
        sending = self._sending.get(batch_id) if batch_id is not None else None
        tries = sending.tries if sending is not None else self._loose_tries
        tries[("lookup", item.idem_key)] += 1
        status, outcome = outcome_of(answer, read=True)
        if outcome == "answered":
            outcome = "not found" if target_id is None else "found"
        keep = in_doubt or outcome != "not found"
        self.journal.record_attempt(
            self.step,
            Attempt(
                "lookup",
                batch_id,
                (item.idem_key,),
                tries[("lookup", item.idem_key)],
                f"{request.method} {request.path}",
                status,
                outcome,
                target_id,
                _answer_text(answer) if keep else None,
            ),
        )


def outcome_of(answer: Response | Exception, *, read: bool) -> tuple[int | None, str]:
    """The status of a call's answer and what became of the call: ``answered`` (``unreadable`` when the
    answer could not be read), ``rate limited``, ``server error`` (a 5xx), ``lost`` (no answer: a reset, a
    timeout, a connection dropped before the answer) or ``refused`` (the credentials, or a permanent error)."""
    if isinstance(answer, Response):
        return answer.status, "answered" if read else "unreadable"
    if isinstance(answer, RateLimitedError):
        return answer.status, "rate limited"
    if isinstance(answer, TransientError):
        return answer.status, "lost" if answer.status is None else "server error"
    if isinstance(answer, ConnectorError):
        return answer.status, "refused"
    return None, "unreadable"


def _answer_text(answer: Response | Exception) -> str:
    """An answer's text as the journal keeps it (before it masks the run's secrets and cuts it): its body with
    the values under sensitive keys and bearer tokens masked; an error's message (its body excerpt is already
    redacted)."""
    if not isinstance(answer, Response):
        return str(answer)
    return _SENSITIVE.json_text(answer.body, RESPONSE_READ)


@dataclass(frozen=True, slots=True)
class HeldDeadLetter(DeadLetter):
    """A dead letter a dry run keeps in memory, with what the record would have been sent with (its payload,
    or what identifies it when it was refused before: ``SentRecord.payload``), for the identity columns of
    the dry run's ``errors.csv``."""

    payload: Mapping[str, Any] | None = None


class DiscardLedger:
    """A dry run's ledger: nothing reaches the journal; the records a run would reject are appended to
    ``rejected`` (with their reasons: each a :class:`HeldDeadLetter`), for the dry run's report."""

    def __init__(self, step: str, rejected: list[DeadLetter]) -> None:
        self.step = step
        self.rejected = rejected
        self._payloads: dict[str, dict[str, Mapping[str, Any]]] = {}  # batch → idempotency key → payload

    def pages_done(self, page_keys: Sequence[str]) -> None:
        return None

    def pre_images(self, images: Sequence[PreImage]) -> None:
        return None

    def batch_sent(self, batch_id: str, records: Sequence[SentRecord]) -> None:
        self._payloads[batch_id] = {r.idem_key: r.payload for r in records if r.payload is not None}

    def batch_done(
        self, batch_id: str, results: Sequence[WriteResult], rejections: Sequence[Rejection]
    ) -> None:
        at = time.time()
        payloads = self._payloads.pop(batch_id, {})
        self.rejected.extend(
            HeldDeadLetter(
                self.step,
                r.source_key,
                r.idem_key,
                r.status,
                r.reason,
                r.detail,
                None,
                at,
                payloads.get(r.idem_key),
            )
            for r in rejections
        )

    def attempted(
        self,
        items: Sequence[WriteItem],
        request: Request,
        answer: Response | Exception,
        rows: Sequence[RowResult] | None = None,
    ) -> None:
        return None

    def looked_up(
        self,
        item: WriteItem,
        request: Request,
        answer: Response | Exception,
        target_id: str | None,
        *,
        in_doubt: bool,
    ) -> None:
        return None
