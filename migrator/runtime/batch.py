"""A batch on its way from the map stage to a write worker."""

from __future__ import annotations

from dataclasses import dataclass, field

from migrator.connectors.base import WriteItem
from migrator.runtime.write_path import WritePath

__all__ = ["Batch"]


@dataclass
class Batch:
    """Records for one writer (``path``), each with the page it was read from and its content hash."""

    path: WritePath
    items: list[WriteItem] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
