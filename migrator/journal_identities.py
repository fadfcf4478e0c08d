"""Who each record is, for the reports' CSVs: the ``name, email, number, linked_to`` cells of a row, from what
the journal keeps in each ledger row (picked from the payload the record was last sent with when its batch was
journaled: :func:`migrator.identity.kept_of`).

No SQL here (the journal's read methods) and no per-record structure that spans the journal:

- :func:`index_linked` — for one report, the records other records link, by target id
  (:meth:`Journal.index_linked`).
- :func:`chunk_cells` — the cells of a chunk of ledger rows (:meth:`Journal.identified_ledger_chunks`): a row
  that links nothing is its own identity; the links of the chunk are resolved with one read of the linked
  identities (:meth:`Journal.kept_identities`).
- :func:`kept_who` — the cells of given records (the still rejected ones, for ``errors.csv``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from migrator.identity import Identity, Seen, identity_cells, links_of
from migrator.journal import Journal, KeptIdentity

__all__ = ["Cells", "chunk_cells", "index_linked", "kept_who"]

#: a record's identity cells (name, email, number, linked to) from its step and what the journal kept of it
Cells = Callable[[str, KeptIdentity], tuple[str, str, str, str]]


def index_linked(journal: Journal, references: Mapping[str, Mapping[str, str]]) -> None:
    """Index in ``journal`` (for this report) who the records of the steps that ``references`` (step → (field
    → the step whose target id that field holds)) point at are, by target id."""
    journal.index_linked(sorted({s for refs in references.values() for s in refs.values()}))


def chunk_cells(
    journal: Journal, references: Mapping[str, Mapping[str, str]], linking: Iterable[tuple[str, str]]
) -> Cells:
    """The cells of a chunk of records from what the journal kept of them; ``linking``: the step and links of
    each of the chunk's records that links others — the records they link are read from the journal once,
    here, for the whole chunk."""
    wanted: list[tuple[str, str]] = []
    for step, links in linking:
        refs = references.get(step, {})
        wanted += [(refs[link.field], link.value) for link in links_of(links) if link.field in refs]
    linked: dict[str, dict[str, Identity]] = {}
    for (step, target), (name, email, number, _) in journal.kept_identities(wanted, by_target=True).items():
        linked.setdefault(step, {})[target] = Identity(name, email, number)
    none: dict[str, str] = {}

    def cells(step: str, identity: KeptIdentity) -> tuple[str, str, str, str]:
        name, email, number, links = identity
        if links is None:
            return name, email, number, ""
        return identity_cells(
            Seen(Identity(name, email, number), links_of(links)), references.get(step, none), linked
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
