"""OneFile users: read through the paged search, created with ``POST /User`` and updated with
``POST /User/{ID}``, one user per call.

Reads: ``POST /User/Search/{page}/{size}`` with the step's filter as the body (e.g. ``{OrganisationID,
Role}``); pages from 1 asked with at most ``USER_PAGE_SIZE`` rows, no totals, read up to an empty page (a
204; ``paging``). A create answers the new ID as a bare integer; the mandatory fields of the user's role
(``roles``) are checked before sending. A create in doubt is looked up by MISID with the unpaged search, or by
Email with the first page of the paged search narrowed by organisation, role and name (the unpaged one
answers no Email), and the found user's value compared with the one sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from migrator.connectors.base import Page, Request, Response, RowResult, WriteItem
from migrator.connectors.onefile.answers import bare_id, refused, rejected, rows
from migrator.connectors.onefile.paging import UserSearchPages
from migrator.connectors.onefile.roles import missing_mandatory
from migrator.connectors.onefile.spec import USER_CREATE, USER_PAGE_SIZE, USER_READ, USER_SEARCH, USER_UPDATE
from migrator.connectors.onefile.values import normalise, same
from migrator.protocol.pagination import PageRequest, Paginator

__all__ = ["OneFileUserCreate", "OneFileUserReader", "OneFileUserUpdate"]

#: the one field the unpaged user search filters on
_SEARCHED = "MISID"


class OneFileUserReader:
    """``POST /User/Search/{page}/{size}`` with the step's filter as the body, from page 1 to an empty one."""

    def __init__(self, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        self.key_field = USER_READ.key
        self.path = USER_READ.endpoint.path.split("/{", 1)[0]  # the page number and size follow
        self.body = dict(filters)
        self.page_size = min(page_size, USER_PAGE_SIZE)
        self.step = step

    def paginator(self) -> Paginator:
        key = USER_READ.key
        return UserSearchPages(page_size=self.page_size, step=self.step, record_key=lambda r: str(r.get(key)))

    def page_request(self, page: PageRequest) -> Request:
        return Request("POST", self.path + page.path_suffix, USER_READ.endpoint.budget_key, json=self.body)

    def decode_page(self, response: Response) -> Page:
        return Page(rows(response))


class _UserWriter:
    """One user per call. ``match``: the field that finds the user (the step's, else MISID when the user has
    one, else Email: the create's match keys in order)."""

    def __init__(self, match: str | None) -> None:
        self.match = match
        self.match_fields: tuple[str, ...] = (match,) if match else ()

    def _key(self, user: Mapping[str, Any]) -> str:
        keys = USER_CREATE.match_keys
        return self.match or next((k for k in keys if k in user), keys[-1])

    def _prepared(self, item: WriteItem, user: dict[str, Any]) -> WriteItem:
        key = self._key(user)
        match_value = str(user[key]) if user.get(key) is not None else None
        return WriteItem(item.idem_key, item.source_key, user, match_value)


class OneFileUserCreate(_UserWriter):
    """``POST /User`` → the new ID as a bare integer; create-only, looked up by its match key when in doubt."""

    mode = "create"
    idempotent = False
    max_batch = USER_CREATE.max_batch

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        user, problems = normalise(item.payload)
        for name, msgs in missing_mandatory(user).items():
            problems.setdefault(name, []).extend(msgs)
        email = user.get("Email")
        if isinstance(email, str) and "@" not in email:
            problems.setdefault("Email", []).append(f"not an email address: {email!r}")
        if problems:
            return rejected(item, problems)
        return self._prepared(item, user)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        endpoint = USER_CREATE.endpoint
        return [(Request("POST", endpoint.path, endpoint.budget_key, json=it.payload), [it]) for it in items]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        if response.status in (200, 201):
            return [RowResult(item.idem_key, ok=True, target_id=bare_id(response), action="created")]
        return [refused(item, response, "user")]

    def lookup_request(self, item: WriteItem) -> Request | None:
        """In doubt: search the organisation for the user by MISID (unpaged search) or by Email (the paged
        search, which carries Email, narrowed by role and name)."""
        user = item.payload
        key = self._key(user)
        if user.get(key) is None:
            return None
        if key == _SEARCHED:
            body = {k: user[k] for k in ("OrganisationID",) if k in user}
            body[key] = str(user[key])
            if "Role" in user:
                body["Role"] = user["Role"]
            return Request("POST", USER_SEARCH.path, USER_SEARCH.budget_key, json=body)
        body = {k: user[k] for k in ("OrganisationID", "Role", "FirstName", "LastName") if k in user}
        path = USER_READ.endpoint.path.format(pageNumber=1, pageSize=USER_PAGE_SIZE)
        return Request("POST", path, USER_READ.endpoint.budget_key, json=body)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        """The one user found whose match value is the one sent (the searches also answer other users)."""
        if response.status != 200:
            return None
        key = self._key(item.payload)
        sent = item.payload.get(key)
        found = [r for r in rows(response) if same(r.get(key), sent)]
        target = found[0].get(USER_READ.key) if len(found) == 1 else None
        return None if target is None else str(target)


class OneFileUserUpdate(_UserWriter):
    """``POST /User/{ID}``: a partial update of the user at its OneFile ``ID``."""

    mode = "update"
    idempotent = True
    max_batch = USER_UPDATE.max_batch
    id_field = USER_READ.key

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        user, problems = normalise(item.payload)
        if self.id_field not in user and self.id_field not in problems:
            problems["ID"] = ["an update needs the OneFile user ID (map ID, e.g. through a crosswalk)"]
        elif len(user) < 2 and not problems:
            problems["row"] = ["nothing to update: every mapped field is empty"]
        if problems:
            return rejected(item, problems)
        return self._prepared(item, user)

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        endpoint = USER_UPDATE.endpoint
        out: list[tuple[Request, list[WriteItem]]] = []
        for it in items:
            body = {k: v for k, v in it.payload.items() if k != self.id_field}
            path = endpoint.path.replace("{id}", str(it.payload[self.id_field]))
            out.append((Request("POST", path, endpoint.budget_key, json=body), [it]))
        return out

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        user_id = item.payload[self.id_field]
        if response.status == 200:
            return [RowResult(item.idem_key, ok=True, target_id=str(user_id), action="updated")]
        if response.status == 201:
            return [RowResult(item.idem_key, ok=True, target_id=bare_id(response), action="created")]
        if response.status == 404:
            return [
                rejected(
                    item,
                    {"ID": [f"no OneFile user {user_id}"]},
                    404,
                    f"OneFile has no user {user_id} (HTTP 404); check the crosswalk of ID",
                )
            ]
        return [refused(item, response, "user")]
