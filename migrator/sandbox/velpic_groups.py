"""Velpic emulator: groups — list, get, create, update, members and supervisors, inactivate."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from migrator.sandbox.store import Record
from migrator.sandbox.velpic_format import (
    bad_request,
    conflict,
    empty_ok,
    group_get_not_found,
    group_not_found,
    int_list,
    json_response,
    page,
    path_id,
    read_object,
)
from migrator.sandbox.velpic_state import VelpicTenant

HIDDEN = ("active",)


def group_out(rec: Record) -> Record:
    """The documented group shape (the internal ``active`` flag left out)."""
    return {k: v for k, v in rec.items() if k not in HIDDEN}


def _paged(t: VelpicTenant, request: web.Request, items: list[Any]) -> web.StreamResponse:
    start, max_results = t.paging(request.query)
    results = page(items, start, max_results)
    return json_response({"results": results, "meta": t.meta(len(items), start, len(results))})


def _group_or_842(t: VelpicTenant, request: web.Request) -> Record:
    gid = path_id(request, "groupId")
    rec = t.groups.records.get(gid) if gid is not None else None
    if rec is None:
        raise group_not_found(request.match_info["groupId"])
    return rec


def _text(body: Record, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{name} is required (a non-empty string).")
    return value


def _parent(t: VelpicTenant, body: Record, own_id: int | None = None) -> int | None:
    parent = body.get("parentId")
    if parent is None:
        return None
    if not isinstance(parent, int) or isinstance(parent, bool) or parent not in t.groups.records:
        raise bad_request(f"parentId {parent!r} is not a group of this account.")
    if parent == own_id:
        raise bad_request("A group cannot be its own parent.")
    return parent


def _check_name(t: VelpicTenant, name: str, own_id: int | None = None) -> None:
    if t.opt("duplicate_group_name", "allow") != "reject":
        return
    key = name.strip().casefold()
    for rec in t.groups:
        if rec["id"] != own_id and rec["name"].strip().casefold() == key:
            raise conflict(f"A group named {name!r} already exists (id {rec['id']}).")


# -- handlers -------------------------------------------------------------------------------------------------
async def list_groups(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    needle = (request.query.get("q") or "").casefold()
    with_inactive = t.flag("list_inactive_groups", False)
    items = [
        group_out(g)
        for g in t.groups
        if (with_inactive or g["active"]) and (not needle or needle in g["name"].casefold())
    ]
    return _paged(t, request, items)


async def get_group(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    gid = path_id(request, "groupId")
    rec = t.groups.records.get(gid) if gid is not None else None
    if rec is None:
        raise group_get_not_found(t.opt("group_get_not_found_code", 842))
    return json_response(group_out(rec))


async def create_group(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    body = await read_object(request)
    name, description = _text(body, "name"), _text(body, "description")
    parent = _parent(t, body)
    _check_name(t, name)
    rec = t.create_group(name, description, parent)
    t.members[rec["id"]] = {}
    t.supervisors[rec["id"]] = {}
    return json_response(group_out(rec))


async def update_group(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    gid = path_id(request, "groupId")
    rec = t.groups.records.get(gid) if gid is not None else None
    if rec is None:
        raise group_get_not_found(t.opt("group_get_not_found_code", 842))
    body = await read_object(request)
    changes: Record = {"name": _text(body, "name"), "description": _text(body, "description")}
    if "parentId" in body:
        changes["parentId"] = _parent(t, body, rec["id"])
    _check_name(t, changes["name"], rec["id"])
    t.groups.update(rec["id"], changes)
    return json_response(group_out(rec))


async def list_members(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    rec = _group_or_842(t, request)
    users = t.users.records
    return _paged(t, request, [users[uid] for uid in sorted(t.members.get(rec["id"], ()))])


async def list_supervisors(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    rec = _group_or_842(t, request)
    users = t.users.records
    return _paged(t, request, [users[uid] for uid in sorted(t.supervisors.get(rec["id"], ()))])


async def _change(t: VelpicTenant, request: web.Request, *, supervised: bool, add: bool) -> web.StreamResponse:
    group = _group_or_842(t, request)
    body = await read_object(request)
    ids = int_list(body.get("userIds"), "userIds")
    unknown = [uid for uid in ids if uid not in t.users.records]
    if unknown:
        raise bad_request(f"userIds: no user with id {', '.join(map(str, unknown))} in this account.")
    for uid in ids:
        user = t.users.records[uid]
        if add:
            t.add_membership(group["id"], user, supervised=supervised)
        else:
            t.remove_membership(group["id"], user, supervised=supervised)
    t.groups.updates += 1
    return empty_ok()


async def add_members(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    return await _change(t, request, supervised=False, add=True)


async def remove_members(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    return await _change(t, request, supervised=False, add=False)


async def add_supervisors(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    return await _change(t, request, supervised=True, add=True)


async def remove_supervisors(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    return await _change(t, request, supervised=True, add=False)


async def inactivate_group(t: VelpicTenant, request: web.Request) -> web.StreamResponse:
    rec = _group_or_842(t, request)
    t.groups.update(rec["id"], {"active": False})
    return empty_ok()
