"""The catalog: every platform's declaration (``connectors/<platform>/spec.py``), assembled in one mapping.

The plan validator, the task graph, ``explain`` and the generated plan reference read what a platform can do
from here; the connectors read the same declarations directly, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from migrator.connectors.accessplanit.spec import ACCESSPLANIT, ACCESSPLANIT_V1
from migrator.connectors.anewspring.spec import ANEWSPRING
from migrator.connectors.files.spec import FILES
from migrator.connectors.onefile.spec import ONEFILE
from migrator.connectors.spec import EntitySpec, PlatformSpec
from migrator.connectors.velpic.spec import VELPIC

__all__ = ["CATALOG", "entity_spec"]

CATALOG: Mapping[str, PlatformSpec] = MappingProxyType(
    {p.name: p for p in (VELPIC, ACCESSPLANIT, ACCESSPLANIT_V1, ONEFILE, ANEWSPRING, FILES)}
)


def entity_spec(platform: str, entity: str) -> EntitySpec | None:
    """The entity of a platform, or None; for ``files`` any entity name it does not declare maps to the
    template."""
    spec = CATALOG[platform]
    if spec.open_entities:
        return spec.entities.get(entity, spec.entities["*"])
    return spec.entities.get(entity)
