"""A target list that may leave records out (aNewSpring ``getUsers``, inactive users): read whole only once it
shows an inactive user; otherwise a user a write names that it did not list is read by itself, once per step,
one call for every view of the step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
import pytest

from migrator.connectors.anewspring.users import ANewSpringUserDetails
from migrator.connectors.base import OpenListing, Request, Response
from migrator.runtime.dryrun import DRY_RUN_ID
from migrator.runtime.failures import StepFailed
from migrator.runtime.unlisted import Unlisted


@dataclass
class _Limits:
    concurrency: int = 4


@dataclass
class _Target:
    """Answers ``getUser/{id}`` from ``users`` (404 for any other id) and counts every path asked."""

    users: Mapping[str, dict[str, Any]]
    status: int = 200
    asked: list[str] = field(default_factory=list)
    limits: _Limits = field(default_factory=_Limits)

    async def send(self, request: Request) -> Response:
        self.asked.append(request.path)
        ref = request.path.rsplit("/", 1)[-1]
        if ref not in self.users:
            return Response(404, b'{"error": "no such user"}')
        return Response(self.status, orjson.dumps(self.users[ref]))


def _listed(*users: dict[str, Any]) -> ANewSpringUserDetails:
    reader = ANewSpringUserDetails(100, "users")
    reader.decode_page(Response(200, orjson.dumps({"users": list(users)})))
    return reader


def test_the_user_list_is_whole_once_it_shows_an_inactive_user() -> None:
    active = {"id": "E1", "uid": "u1", "active": True}
    assert isinstance(_listed(active), OpenListing)
    assert _listed(active).lists_all is False
    assert _listed(active, {"id": "E2", "uid": "u2", "active": False}).lists_all is True
    unlisted = Unlisted(_Target({}), "users", "user")  # type: ignore[arg-type]
    unlisted.watch(_listed(active, {"id": "E2", "uid": "u2", "active": False}), lambda record: None)
    assert not unlisted  # nothing left to read


def test_a_user_the_list_left_out_is_read_once_for_every_view() -> None:
    target = _Target({"E9": {"id": "E9", "uid": "u9", "firstName": "Left", "active": False}})
    unlisted = Unlisted(target, "users", "user")  # type: ignore[arg-type]
    seen: list[list[Mapping[str, Any]]] = [[], []]
    for view in seen:  # the step's current values and a dry run's index
        unlisted.watch(_listed({"id": "E1", "uid": "u1", "active": True}), view.append)
    assert unlisted
    records = [{"userID": "E1"}, {"userID": "E9"}, {"userID": "E9"}, {"userID": "E5"}, {"userID": DRY_RUN_ID}]
    anyio.run(unlisted.read, records)
    anyio.run(unlisted.read, [{"userID": "E9"}, {"userID": "E5"}])  # a later batch: asked already
    # listed E1 and the stand-in are not asked; E9 and E5 once each, whatever the views
    assert sorted(target.asked) == ["/getUser/E5", "/getUser/E9"]
    assert [[dict(r) for r in view] for view in seen] == [[{"id": "E9", "uid": "u9", "firstName": "Left",
                                                            "active": False}]] * 2  # fmt: skip


def test_a_refused_read_of_a_left_out_user_stops_the_step_naming_the_call() -> None:
    unlisted = Unlisted(_Target({"E9": {}}, status=403), "users", "user")  # type: ignore[arg-type]
    unlisted.watch(_listed(), lambda record: None)
    with pytest.raises(StepFailed, match=r"GET /getUser/E9 answered 403"):
        anyio.run(unlisted.read, [{"userID": "E9"}])
