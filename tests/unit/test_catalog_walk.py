"""Every write the catalog accepts has a writer: each (platform, entity, mode, match key) that
``connectors.catalog.CATALOG`` declares builds one through the registry, and a create-only writer with a match
key can look a record up by it (so a create whose outcome is in doubt is found before it is sent again).

The lookup is asked of the record as the runtime holds it: prepared by the writer (which may derive what it
looks up by, accessplanit's ``$filter``), or as mapped when ``prepare`` rejects a record that holds nothing
but its match field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.connectors.base import LookupWriter, WriteItem, Writer
from migrator.connectors.catalog import CATALOG
from migrator.connectors.registry import make_writer
from migrator.connectors.spec import ANY_FIELD, EntitySpec

#: match keys tried for an entity whose fields are not known (any field accepted)
REPRESENTATIVE_FIELDS = ("id", "ExternalID", "email")
#: the entity name used for a platform whose entities are open (files: any file name, in a directory)
OPEN_ENTITY = "learners"


def _match_keys(entity: EntitySpec, keys: tuple[str, ...]) -> Iterator[str]:
    for key in keys:
        if key == ANY_FIELD:
            yield from sorted(entity.fields) if entity.fields is not None else REPRESENTATIVE_FIELDS
        else:
            yield key


def _accepted_writes() -> Iterator[tuple[str, str, str, str | None]]:
    for platform, spec in CATALOG.items():
        for name, entity in spec.entities.items():
            for mode, write in entity.writes.items():
                for match in _match_keys(entity, write.match_keys):
                    yield platform, name, mode, match
                if not write.match_required:
                    yield platform, name, mode, None


WRITES = [
    pytest.param(*write, id=f"{write[0]}-{write[1]}-{write[2]}-{write[3]}") for write in _accepted_writes()
]


@pytest.mark.parametrize(("platform", "entity", "mode", "match"), WRITES)
def test_every_accepted_write_has_a_writer_that_can_find_an_in_doubt_create(
    platform: str, entity: str, mode: str, match: str | None, tmp_path: Path
) -> None:
    if CATALOG[platform].open_entities:
        writer = make_writer(platform, OPEN_ENTITY, mode, match, folder=tmp_path)
    else:
        writer = make_writer(platform, entity, mode, match)

    assert isinstance(writer, Writer), f"{type(writer).__name__} lacks part of the Writer protocol"
    if writer.idempotent or match is None:
        return
    assert isinstance(writer, LookupWriter), "a create-only writer with a match key must look records up"
    assert writer.match_fields, f"match {match!r} names no payload field"
    item = WriteItem("k", "s", dict.fromkeys(writer.match_fields, "value"))
    prepared = writer.prepare(item)
    assert writer.lookup_request(prepared if isinstance(prepared, WriteItem) else item) is not None
