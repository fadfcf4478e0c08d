"""Who each record is, for the reports' CSVs: picked from the payloads the journal keeps with its batches, kept
in the journal for the report, and turned into each row's ``name, email, number, linked_to`` cells.

No SQL here (the journal's read methods) and no per-record structure that spans the journal:

- :func:`keep_identities` — one pass over the batches that kept payloads (:meth:`Journal.keep_identities`):
  each step's payloads go through the step's :class:`~migrator.identity.Picker` (which fields give a name, an
  e-mail, a number is decided once per field name, not per record) and every text picked through ``redact``,
  once per batch (texts joined); the journal keeps the rows in SQLite's temporary storage, on disk, and
  indexes the referenced steps' identities by target id.
- :func:`chunk_cells` — the cells of a chunk of ledger rows (:meth:`Journal.identified_ledger_chunks`): a row
  that links nothing is its own identity; the links of the chunk are resolved with one read of the linked
  identities (:meth:`Journal.kept_identities`).
- :func:`kept_who` — the cells of given records (the still rejected ones, for ``errors.csv``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, cast

import orjson

from migrator.identity import Identity, Linked, Picker, Seen, identity_cells
from migrator.journal import IdentityRow, Journal, KeptIdentity

__all__ = ["Cells", "chunk_cells", "keep_identities", "kept_who"]

#: a record's identity cells (name, email, number, linked to) from its step and what the journal kept of it
Cells = Callable[[str, KeptIdentity], tuple[str, str, str, str]]
#: a record as its step's :class:`~migrator.identity.Picker` picks it: step, source key, name, e-mail, number,
#: the records it links (None: none)
Picked = tuple[str, str, str, str, str, tuple[Linked, ...] | None]
#: joins a batch's texts for one pass of the redactor (a character no name, e-mail or id holds)
_JOIN: Final = "\x1f"


def keep_identities(
    journal: Journal, references: Mapping[str, Mapping[str, str]], redact: Callable[[str], str]
) -> None:
    """Keep in ``journal`` (for this report) who each sent record is, from the latest payload it was sent
    with; ``references``: step → (field → the step whose target id that field holds). Every text picked goes
    through ``redact``, once per batch."""
    pickers: dict[str, Picker] = {}

    def pick(step: str, batch: list[tuple[str, Any]]) -> list[IdentityRow]:
        picker = pickers.get(step)
        if picker is None:
            picker = pickers[step] = Picker(references.get(step, {}))
        cells = picker.cells
        return _redacted([(step, key, *cells(p)) for key, p in batch if p.__class__ is dict], redact)

    journal.keep_identities(pick, sorted({s for refs in references.values() for s in refs.values()}))


def _redacted(rows: list[Picked], redact: Callable[[str], str]) -> list[IdentityRow]:
    """A batch's rows with every text masked as ``redact`` masks it and their links as text: one call of
    ``redact`` for the whole batch, and the rows rebuilt only when it masked something or a row links."""
    texts = _JOIN.join([f"{r[2]}{_JOIN}{r[3]}{_JOIN}{r[4]}" for r in rows])
    values = [link.value for r in rows if r[5] is not None for link in r[5]]
    masked = redact(texts)
    if masked == texts and not values:
        return cast(list[IdentityRow], rows)  # no row links anything: every links cell is None already
    parts = iter(masked.split(_JOIN))
    linked = iter(redact(_JOIN.join(values)).split(_JOIN)) if values else iter(())
    return [
        (step, key, next(parts), next(parts), next(parts), None if links is None else _dumps(links, linked))
        for step, key, _, _, _, links in rows
    ]


def _dumps(links: Sequence[Linked], values: Iterator[str]) -> str:
    """Links as the journal keeps them for the report, each value the next of ``values`` (masked)."""
    return orjson.dumps([[link.field, next(values)] for link in links]).decode()


def _links(text: str) -> tuple[Linked, ...]:
    return tuple(Linked(str(f), str(v)) for f, v in orjson.loads(text))


def chunk_cells(
    journal: Journal, references: Mapping[str, Mapping[str, str]], linking: Iterable[tuple[str, str]]
) -> Cells:
    """The cells of a chunk of records from what the journal kept of them; ``linking``: the step and links of
    each of the chunk's records that links others — the records they link are read from the journal once,
    here, for the whole chunk."""
    wanted: list[tuple[str, str]] = []
    for step, links in linking:
        refs = references.get(step, {})
        wanted += [(refs[link.field], link.value) for link in _links(links) if link.field in refs]
    linked: dict[str, dict[str, Identity]] = {}
    for (step, target), (name, email, number, _) in journal.kept_identities(wanted, by_target=True).items():
        linked.setdefault(step, {})[target] = Identity(name, email, number)
    none: dict[str, str] = {}

    def cells(step: str, identity: KeptIdentity) -> tuple[str, str, str, str]:
        name, email, number, links = identity
        if links is None:
            return name, email, number, ""
        return identity_cells(
            Seen(Identity(name, email, number), _links(links)), references.get(step, none), linked
        )

    return cells


def kept_who(
    journal: Journal, references: Mapping[str, Mapping[str, str]], keys: Sequence[tuple[str, str]]
) -> Callable[[str, str], tuple[str, str, str, str]]:
    """The cells of the records ``keys`` (step, source key), by step and source key (empty cells for a
    record the journal kept no identity of)."""
    kept = journal.kept_identities(keys)
    linking = [(step, links) for (step, _), (*_, links) in kept.items() if links is not None]
    cells = chunk_cells(journal, references, linking)
    empty = ("", "", "", "")

    def who(step: str, key: str) -> tuple[str, str, str, str]:
        identity = kept.get((step, key))
        return empty if identity is None else cells(step, identity)

    return who
