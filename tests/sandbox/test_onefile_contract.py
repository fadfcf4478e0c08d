"""The OneFile connector against the sandbox over real HTTP, whichever way the platform behaves where its
document leaves it open: the paged user search's largest page (switch ``max_page_size``) is not documented,
nor is the end of the list at a short page, so every user is read whatever the server's page size."""

from __future__ import annotations

from typing import Any

import pytest

from migrator.connectors import onefile
from migrator.sandbox.onefile import OneFilePlatform
from tests.sandbox.loopback import connection, read_all

API = "/onefile/api/v2.1"
ORG = 5740


def token(p: Any) -> dict[str, str]:
    return {"customer_token": p.customer_token("source")}


@pytest.mark.parametrize("cap", [100, 50, 0])
async def test_every_user_is_read_whatever_page_size_the_server_serves(cap: int) -> None:
    options = {"onefile.max_page_size": cap}
    async with connection(OneFilePlatform, "onefile", API, token, scale=260, options=options) as (
        transport,
        platform,
    ):
        reader = onefile.make_reader("user", {"OrganisationID": ORG}, 100, "users")
        got = [r["ID"] for r in await read_all(transport, reader)]
        expected = [u["ID"] for u in platform.table("source", "user") if u["OrganisationID"] == ORG]
        assert len(expected) > 200
        assert sorted(got) == sorted(expected) and len(got) == len(set(got))
