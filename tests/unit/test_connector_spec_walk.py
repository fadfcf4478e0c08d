"""accessplanit (v2, v1), OneFile and aNewSpring against their own spec: every read and write the spec
declares has a reader or writer that implements the engine's Protocols, and every create-only write can find
a record in doubt by each match key the spec accepts (the lookup's decoder compares the found value with the
one sent where the platform's search is not exact). Pure: no sockets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from migrator.connectors.base import (
    ChangesReader,
    IdWriter,
    LookupWriter,
    NestedReader,
    PagedReader,
    RequestWriter,
    Response,
    WriteItem,
    Writer,
)
from migrator.connectors.catalog import CATALOG
from migrator.connectors.registry import make_auth, make_reader, make_writer
from migrator.connectors.spec import ANY_FIELD, EntitySpec
from migrator.errors import PermanentError

PLATFORMS = ("accessplanit", "accessplanit_v1", "onefile", "anewspring")
#: match keys tried for an entity whose fields are not known (any field accepted), compound key included
REPRESENTATIVE = ("ID", "Name", "ExternalID", "UserID,CourseDateID")
CREDENTIALS = {
    "accessplanit": {"username": "u", "password": "p"},
    "accessplanit_v1": {"api_key": "k"},
    "onefile": {"customer_token": "t"},
    "anewspring": {"api_key": "k"},
}
#: reads of a nested entity that follow the links on their parent's pages in pages of their own (accessplanit
#: v1: a company's groups are paged like a feed), rather than one request per parent
FOLLOWS_LINKS = {("accessplanit_v1", "companygroup")}
#: platforms whose lookup compares the match values exactly (the others as the platform holds them: trimmed,
#: case-insensitively)
EXACT = {"accessplanit", "accessplanit_v1"}


def _matches(entity: EntitySpec, keys: tuple[str, ...]) -> Iterator[str]:
    for key in keys:
        if key == ANY_FIELD:
            yield from sorted(entity.fields) if entity.fields is not None else REPRESENTATIVE
        else:
            yield key


def _writes() -> Iterator[tuple[str, str, str, str | None]]:
    for platform in PLATFORMS:
        for name, entity in CATALOG[platform].entities.items():
            for mode, write in entity.writes.items():
                yield from ((platform, name, mode, m) for m in _matches(entity, write.match_keys))
                if not write.match_required:
                    yield platform, name, mode, None


def _creates() -> Iterator[Any]:
    for platform, entity, mode, match in _writes():
        if mode == "create" and match is not None and (platform, entity) != ("anewspring", "group_member"):
            yield pytest.param(platform, entity, match, id=f"{platform}-{entity}-{match}")


def _reads() -> Iterator[tuple[str, str]]:
    for platform in PLATFORMS:
        for name, entity in CATALOG[platform].entities.items():
            if entity.read is not None:
                yield platform, name


WRITES = list(_writes())


@pytest.mark.parametrize("platform", PLATFORMS)
def test_auth_refuses_only_with_401(platform: str) -> None:
    auth = make_auth(platform, CREDENTIALS[platform])
    for status in (200, 400, 403, 404, 429, 500):
        assert auth.refused(Response(status, b'{"Message": "Authorization has been denied"}')) is False


@pytest.mark.parametrize(("platform", "entity"), list(_reads()))
def test_every_declared_read_has_a_paged_reader_keyed_as_declared(platform: str, entity: str) -> None:
    read = CATALOG[platform].entities[entity].read
    assert read is not None
    reader = make_reader(platform, entity, dict.fromkeys(read.required_filters, 1), 7, "s")
    assert isinstance(reader, PagedReader)
    assert (reader.key_field, reader.page_size) == (read.key, 7)
    assert isinstance(reader, NestedReader) == (
        read.parent is not None and (platform, entity) not in FOLLOWS_LINKS
    )
    assert isinstance(reader, ChangesReader) == (platform == "accessplanit")
    pages_from = CATALOG[platform].entities[read.parent].read if read.parent else read
    assert pages_from is not None
    request = reader.page_request(reader.paginator().start())
    assert request.endpoint == pages_from.endpoint.budget_key


@pytest.mark.parametrize(("platform", "entity", "mode", "match"), WRITES, ids=[str(w) for w in WRITES])
def test_every_declared_write_has_a_writer_that_says_what_it_can_do(
    platform: str, entity: str, mode: str, match: str | None
) -> None:
    write = CATALOG[platform].entities[entity].writes[mode]
    writer = make_writer(platform, entity, mode, match)
    assert isinstance(writer, Writer) and isinstance(writer, RequestWriter)
    assert (writer.mode, writer.max_batch) == (mode, write.max_batch)
    assert isinstance(writer.match_fields, tuple)
    if match is not None and platform != "anewspring":  # aNewSpring finds by the external IDs in its paths
        assert writer.match_fields == tuple(match.split(","))
    assert isinstance(writer, LookupWriter) == (not writer.idempotent)
    # a OneFile status change is read before it is written: a second archive's answer is not documented
    not_creates = (("anewspring", "group_member"), ("onefile", "user_status"))
    assert writer.idempotent == ((mode != "create") != ((platform, entity) in not_creates))
    assert isinstance(writer, IdWriter) == (mode == "update")
    if isinstance(writer, IdWriter):
        fields = CATALOG[platform].entities[entity].fields
        assert writer.id_field != "id" and (fields is None or writer.id_field in fields)


def _found(platform: str, key: str, item: WriteItem, fields: tuple[str, ...]) -> tuple[Response, str]:
    """The answer of the platform's lookup call when it finds the record (its match values as the target holds
    them: as sent where the lookup compares exactly, else trimmed and cased otherwise), and the target id it
    gives. Where the platform's search may find near misses, another record comes first."""
    if platform == "anewspring":
        return Response(200, orjson.dumps({"result": True})), "/".join(item.payload[f] for f in fields)
    held = {
        f: str(item.payload[f]) if platform in EXACT else f" {str(item.payload[f]).lower()}" for f in fields
    }
    near = {key: "7", **dict.fromkeys(fields, "someone else")}
    if platform in EXACT:
        near = {key: "7", **{f: str(item.payload[f]).upper() for f in fields}}  # eq may ignore case
    record = {**held, key: item.payload.get(key, "8")}
    target = str(record[key])
    if platform == "accessplanit":
        return Response(200, orjson.dumps({"results": [near, record]})), target
    return Response(200, orjson.dumps([near, record])), target


def _other(platform: str, key: str, item: WriteItem, fields: tuple[str, ...]) -> Response:
    """The answer when the target has no such record: a near miss (a search that is not exact), or none."""
    if platform == "anewspring":
        return Response(200, orjson.dumps({"result": False}))
    near = {key: "7", **dict.fromkeys(fields, "someone else")}
    if platform in EXACT:
        near = {key: "7", **{f: f" {str(item.payload[f]).lower()}" for f in fields}}
    if platform == "accessplanit":
        return Response(200, orjson.dumps({"results": [near]}))
    return Response(200, orjson.dumps([near]))


@pytest.mark.parametrize(("platform", "entity", "match"), list(_creates()))
def test_a_create_in_doubt_is_found_by_every_accepted_match_key(platform: str, entity: str, match: str) -> None:
    writer = make_writer(platform, entity, "create", match)
    assert isinstance(writer, LookupWriter)
    assert writer.match_fields
    item = WriteItem("k", "s", dict.fromkeys(writer.match_fields, "Value 1"))
    request = writer.lookup_request(item)
    assert request is not None and request.method in ("GET", "POST")
    read = CATALOG[platform].entities[entity].read
    key = read.key if read is not None else "ID"
    found, target_id = _found(platform, key, item, writer.match_fields)
    assert writer.decode_lookup(found, item) == target_id
    assert writer.decode_lookup(_other(platform, key, item, writer.match_fields), item) is None
    # a refused lookup is never a record found: "not found" or, where a resend could duplicate, a stop
    try:
        refused = writer.decode_lookup(Response(500, b"oops"), item)
    except PermanentError:
        refused = None
    assert refused is None
    assert writer.lookup_request(WriteItem("k", "s", {})) is None  # nothing to look up by
