"""In-memory record tables shared by every emulator: records, write counters and the duplicate counter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Record = dict[str, Any]


def _norm(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().casefold()
    return text or None


class Table:
    """One entity of one tenant: ``id → record`` plus counters for ``/_sandbox/stats``.

    ``natural_keys`` names the fields whose (case-folded, trimmed) values identify a real-world record
    (email, employee number, external id, group name). ``duplicates()`` counts records that share a
    non-empty natural key value with an earlier record — on a target tenant it must stay 0.

    Seeding uses ``load()``, which does not count as a create; API handlers use ``create()`` and
    ``update()``.
    """

    def __init__(self, entity: str, natural_keys: tuple[str, ...] = (), *, first_id: int = 1) -> None:
        self.entity = entity
        self.natural_keys = natural_keys
        self.records: dict[Any, Record] = {}
        self.creates = 0
        self.updates = 0
        self._next_id = first_id

    # ids -------------------------------------------------------------------------------------------
    def next_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    # writes ----------------------------------------------------------------------------------------
    def load(self, record_id: Any, record: Record) -> Record:
        """Seed a record (not counted as an API create)."""
        self.records[record_id] = record
        if isinstance(record_id, int) and record_id >= self._next_id:
            self._next_id = record_id + 1
        return record

    def create(self, record_id: Any, record: Record) -> Record:
        self.load(record_id, record)
        self.creates += 1
        return record

    def update(self, record_id: Any, changes: Record) -> Record:
        record = self.records[record_id]
        record.update(changes)
        self.updates += 1
        return record

    def delete(self, record_id: Any) -> Record | None:
        return self.records.pop(record_id, None)

    # reads -----------------------------------------------------------------------------------------
    def get(self, record_id: Any) -> Record | None:
        return self.records.get(record_id)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records.values())

    def find(self, predicate: Callable[[Record], bool]) -> list[Record]:
        return [r for r in self.records.values() if predicate(r)]

    def find_by(self, field: str, value: Any) -> list[Record]:
        """Records whose ``field`` equals ``value`` case-insensitively (strings) or exactly (others)."""
        want = _norm(value)
        if want is None:
            return []
        return [r for r in self.records.values() if _norm(r.get(field)) == want]

    def duplicates(self) -> int:
        """Records sharing a natural key value with an earlier record (each such record counted once)."""
        dup_ids: set[Any] = set()
        for field in self.natural_keys:
            seen: set[str] = set()
            for record_id, record in self.records.items():
                key = _norm(record.get(field))
                if key is None:
                    continue
                if key in seen:
                    dup_ids.add(record_id)
                else:
                    seen.add(key)
        return len(dup_ids)

    def stats(self) -> dict[str, int]:
        return {
            "count": len(self.records),
            "creates": self.creates,
            "updates": self.updates,
            "duplicates": self.duplicates(),
        }
