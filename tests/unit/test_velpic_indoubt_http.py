"""A Velpic user create whose answer was lost is found again by each match key, through real HTTP against the
sandbox's Velpic on loopback: the writer's own create and lookup requests are sent as built, the create's
answer is dropped, and the lookup finds the created user, not a near miss created before it. The sandbox also
answers a wrong AccessKey the way ``VelpicAuth.refused`` recognises."""

from __future__ import annotations

from typing import Any, cast

import pytest

from migrator.connectors.base import LookupWriter, Request, Response, WriteItem
from migrator.connectors.velpic import make_auth, make_writer
from migrator.connectors.velpic.spec import VELPIC
from migrator.sandbox.velpic import VelpicPlatform
from tests.sandbox.conftest import serve_platform

API = "/velpic/api/v2"
USER = {"firstName": "Ann", "lastName": "Lee", "emailAddress": "ann.lee@example.com", "roles": [6]}


async def _send(client: Any, key: str, request: Request) -> Response:
    async with client.request(
        request.method,
        API + request.path,
        params=list(request.params),
        json=request.json,
        headers=make_auth({"access_key": key}).headers(None),
    ) as answer:
        return Response(answer.status, await answer.read())


@pytest.mark.parametrize("match", VELPIC.entities["user"].writes["create"].match_keys)
async def test_a_lost_create_is_found_by_its_match_key_not_created_again(match: str) -> None:
    writer = make_writer("user", "create", match)
    assert isinstance(writer, LookupWriter)
    near = {**USER, "emailAddress": "ann.lee@example.co", "userName": "ann.lee.2", "employeeNumber": "E70"}
    mine = {**USER, "userName": "ann.lee", "employeeNumber": "E7"}
    async with serve_platform(VelpicPlatform, scale=20) as (client, platform):
        key = cast(VelpicPlatform, platform).access_key("target")
        items = []
        for n, payload in enumerate((near, mine)):
            item = writer.prepare(WriteItem(f"k{n}", f"s{n}", payload))
            assert isinstance(item, WriteItem)
            ((create, _),) = writer.requests([item])
            written = writer.decode(await _send(client, key, create), [item])[0]
            assert written.ok and written.target_id
            items.append((item, written.target_id))
        (_, near_id), (item, created_id) = items  # the create of ``mine`` is the one whose answer was lost
        lookup = writer.lookup_request(item)
        assert lookup is not None
        assert writer.decode_lookup(await _send(client, key, lookup), item) == created_id != near_id
        never = WriteItem("k9", "s9", {**mine, match: "zz-" + str(mine[match])})
        again = writer.lookup_request(never)
        assert again is not None
        assert writer.decode_lookup(await _send(client, key, again), never) is None


async def test_the_sandbox_refuses_a_wrong_access_key_as_velpic_does() -> None:
    auth = make_auth({"access_key": "not-a-key"})
    async with serve_platform(VelpicPlatform, scale=5) as (client, _):
        for path in ("/user", "/group", "/ilt_session"):
            async with client.get(API + path, headers=auth.headers(None)) as answer:
                assert auth.refused(Response(answer.status, await answer.read())), path
