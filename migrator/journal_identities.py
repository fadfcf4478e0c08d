"""Who each sent record is, read from the payloads the journal keeps with its batches (for the reports' CSVs).

A read-only query on the journal, kept beside it (``migrator.journal`` holds the schema and every statement
that writes): :func:`sent_identities` reads the ``batches`` table once, in sequence order, and keeps of each
record only its :class:`~migrator.identity.Seen` (name, e-mail, number, the ids it links) from the latest
batch that carried it with a payload. Records no batch carried with a payload (refused before any request:
the mapping or the target's rules rejected them) have none. Memory: a few short strings per record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

import orjson

from migrator.identity import Identity, Linked, Picker, Seen
from migrator.journal import Journal

__all__ = ["linked_identities", "sent_identities"]


def sent_identities(
    journal: Journal, references: Mapping[str, Mapping[str, str]], redact: Callable[[str], str]
) -> dict[str, dict[str, Seen]]:
    """Step → source key → what the record was last sent as; ``references``: step → (field → the step whose
    target id that field holds). Every text picked goes through ``redact``, once per batch (texts joined)."""
    out: dict[str, dict[str, Seen]] = {}
    pickers: dict[str, Picker] = {}
    cur = journal._conn.execute(
        "SELECT step, keys, payloads FROM batches WHERE payloads IS NOT NULL ORDER BY seq"
    )
    try:
        while rows := cur.fetchmany(200):
            for step, keys, payloads in rows:
                pick = pickers.get(step)
                if pick is None:
                    pick = pickers[step] = Picker(references.get(step, {}))
                batch = {
                    entry[1]: pick(payload)
                    for entry, payload in zip(orjson.loads(keys), orjson.loads(payloads), strict=True)
                    if isinstance(payload, dict)
                }
                out.setdefault(step, {}).update(_redacted(batch, redact))
    finally:
        cur.close()
    return out


#: joins a batch's texts for one pass of the redactor (a character no name, e-mail or id holds)
_JOIN: Final = "\x1f"


def _redacted(batch: dict[str, Seen], redact: Callable[[str], str]) -> dict[str, Seen]:
    """``batch`` with every text masked as ``redact`` masks it: one call for the whole batch, and the records
    rebuilt only when it masked something."""
    texts = [t for seen in batch.values() for t in (*seen.identity, *(link.value for link in seen.links))]
    joined = _JOIN.join(texts)
    masked = redact(joined)
    if masked == joined:
        return batch
    parts = iter(masked.split(_JOIN))
    return {
        key: Seen(
            Identity(next(parts), next(parts), next(parts)),
            tuple(Linked(link.field, next(parts)) for link in seen.links),
        )
        for key, seen in batch.items()
    }


def linked_identities(
    journal: Journal, seen: Mapping[str, Mapping[str, Seen]], references: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, Identity]]:
    """Each referenced step's identities by target id (its crosswalk: one read per step)."""
    out: dict[str, dict[str, Identity]] = {}
    for step in {s for refs in references.values() for s in refs.values()}:
        own = seen.get(step, {})
        out[step] = {
            target: found.identity
            for key, target in journal.crosswalk(step).items()
            if (found := own.get(key)) is not None
        }
    return out
