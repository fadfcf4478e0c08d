"""Which mapped source paths no record carried: a typo'd or absent field the plan maps, found while reading.

Validation cannot know a source's fields; the records can. :class:`FieldPresence` watches the paths a step's
map and where read (``CompiledMap.source_uses``) and stops looking at a path once one record has it, so a plan
whose fields are all there costs a check per path on the first record. A path still unseen after the step read
at least one record is named, with the map key that reads it and a "did you mean" from the keys the first
records carried where the path stopped (:meth:`FieldPresence.warnings`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from migrator.plan.decode import did_you_mean

__all__ = ["FieldPresence"]

#: how many records lend their keys to the "did you mean" of a path they lack
_SAMPLE = 100


class FieldPresence:
    """The source paths of ``uses`` (``(map key, dotted path)`` pairs) not yet seen in any record."""

    def __init__(self, uses: Iterable[tuple[str, str]]) -> None:
        self._uses = tuple(uses)
        self._unseen: dict[str, tuple[str, ...]] = {path: tuple(path.split(".")) for _, path in self._uses}
        #: per unseen path, the dotted keys present where it stopped resolving
        self._nearby: dict[str, set[str]] = {path: set() for path in self._unseen}
        self._looked = 0
        self._records = 0

    def see(self, records: list[dict[str, Any]]) -> None:
        """Look at one page of records."""
        self._records += len(records)
        unseen = self._unseen
        for record in records:
            if not unseen:
                return
            sample = self._looked < _SAMPLE
            self._looked += 1
            for path, parts in list(unseen.items()):
                if _carries(record, parts, self._nearby[path] if sample else None):
                    del unseen[path]

    def warnings(self) -> list[str]:
        """One line per map key whose source path no record carried (none before any record was read)."""
        if not self._records:
            return []
        return [
            f"map.{key}: no record carried source field {path!r} ({self._records:,} read)"
            + did_you_mean(path, self._nearby[path])
            for key, path in self._uses
            if path in self._unseen
        ]


def _carries(record: Any, parts: tuple[str, ...], nearby: set[str] | None) -> bool:
    """Whether ``record`` has the path (its value may be null; a null or empty list on the way counts, as
    nothing tells otherwise); if not, ``nearby`` gets the keys that were there where the path stopped."""
    values: list[Any] = [record]
    for depth, part in enumerate(parts):
        found: list[Any] = []
        for value in values:
            if value is None or value == []:  # nothing below to look at: the path may well be right
                return True
            if isinstance(value, Mapping):
                if part in value:
                    found.append(value[part])
                elif nearby is not None:
                    prefix = "".join(f"{p}." for p in parts[:depth])
                    nearby.update(f"{prefix}{k}" for k in value)
            elif isinstance(value, list):
                if part.isdigit():
                    found.extend(value[int(part) : int(part) + 1])
                else:
                    found.extend(v[part] for v in value if isinstance(v, Mapping) and part in v)
        if not found:
            return False
        values = found
    return True
