"""aNewSpring users: read with ``getUsers`` (every user at once: ``id, uid, name, login, email, active``) and,
when the map reads any other field, ``getUser/{id}`` per user as well (a nested read, by external ID only:
users without one stop it, see ``addressable``, but a read of the target, which leaves them out); written one
per call,
addressed by the external ``userID`` in the path: ``addOrUpdateUser`` (the idempotent upsert), ``addUser``
(create-only: in doubt, ``userExists`` is asked first) and ``updateUser``. The other mapped fields are the form
(``role`` repeated for several roles)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from migrator.connectors.anewspring.answers import exists, refused
from migrator.connectors.anewspring.calls import command, external_ids, fill, path_params, query
from migrator.connectors.anewspring.lists import ANewSpringList
from migrator.connectors.anewspring.spec import (
    USER_CREATE,
    USER_DETAILS,
    USER_EXISTS,
    USER_READ,
    USER_UPDATE,
    USER_UPSERT,
)
from migrator.connectors.base import Action, Page, Request, Response, RowResult, WriteItem
from migrator.connectors.spec import WriteSpec

__all__ = [
    "LIST_FIELDS",
    "USER_LIST_KEY",
    "ANewSpringPerUser",
    "ANewSpringUserCreate",
    "ANewSpringUserDetails",
    "ANewSpringUserUpdate",
    "ANewSpringUserUpsert",
    "addressable",
    "user_reader",
    "user_ref",
]

#: The fields ``getUsers`` answers; any other mapped field needs ``getUser/{id}`` per user.
LIST_FIELDS = frozenset({"id", "uid", "name", "login", "email", "active"})
#: the key the ``getUsers`` answer lists the users under
USER_LIST_KEY = "users"


def user_ref(user: Mapping[str, Any]) -> str | None:
    """How to address a listed user: its external ID (the document's only way; users created in the UI have
    none until ``initializeId`` gives them one)."""
    value = user.get("id")
    return None if value in (None, "") else str(value)


def addressable(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``users`` when every one has an external ID, the only way the calls made per user can address it; else a
    ``ValueError`` naming them and what to do (their details would otherwise be left out unseen)."""
    missing = [str(u.get("login") or u.get("uid")) for u in users if user_ref(u) is None]
    if not missing:
        return users
    named = ", ".join(repr(m) for m in missing[:2]) + (
        f" and {len(missing) - 2} more" if len(missing) > 2 else ""
    )
    raise ValueError(
        f"{len(missing)} aNewSpring users have no external ID ({named}) and cannot be read one by one: give "
        "each an ID (initializeId/{login}/{userID}) and run again"
    )


class ANewSpringPerUser(ANewSpringList):
    """``getUsers``, then one call per user (``children``), addressed by the user's external ID: a user
    without one stops the read with what to do (``addressable``), or, ``partial`` (the engine's read of the
    target, whose writes address users by that ID too), is left out.

    An ``OpenListing``: whether ``getUsers`` lists inactive users is not documented, so the list is known whole
    only once it shows an inactive one (``lists_all``); a record written for the user ``userID`` belongs to
    that user (``parent_of``), whose calls answer whether or not the list held it (``listed``)."""

    def __init__(self, page_size: int, step: str) -> None:
        super().__init__(USER_READ, USER_LIST_KEY, page_size, step)
        self.partial = False
        self.lists_all = False
        self._listed: set[str] = set()

    def decode_page(self, response: Response) -> Page:
        users = super().decode_page(response).records
        self.lists_all = self.lists_all or any(u.get("active") in (False, "false") for u in users)
        self._listed.update(ref for u in users if (ref := user_ref(u)) is not None)
        if self.partial:
            return Page([u for u in users if user_ref(u) is not None])
        return Page(addressable(users))

    @staticmethod
    def parent_of(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The user ``record`` (as written: ``userID``, the external ID) belongs to, named as listed."""
        ref = record.get("userID")
        return None if ref in (None, "") else {"id": str(ref)}

    def listed(self, parent: Mapping[str, Any]) -> bool:
        return user_ref(parent) in self._listed


class ANewSpringUserDetails(ANewSpringPerUser):
    """``getUsers``, then ``getUser/{id}`` per user: the listed row merged with the user's details."""

    def children(self, parent: Mapping[str, Any]) -> Request | None:
        ref = user_ref(parent)
        if ref is None:
            return None
        (name,) = path_params(USER_DETAILS.path)
        return Request("GET", fill(USER_DETAILS.path, {name: ref}), USER_DETAILS.budget_key)

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError(f"getUser answered {response.text(80)!r} where a user object was expected")
        return [{**parent, **body}]


def user_reader(page_size: int, step: str, fields: Collection[str]) -> ANewSpringList:
    """``getUsers`` alone when the map reads only its fields, else with ``getUser/{id}`` per user."""
    top = {f.split(".")[0] for f in fields}
    if top - LIST_FIELDS:
        return ANewSpringUserDetails(page_size, step)
    return ANewSpringList(USER_READ, USER_LIST_KEY, page_size, step)


class _UserWriter:
    """One user per call to ``write``'s endpoint, addressed by the external ID in its path (``user_field``:
    ``userID``, the one match field)."""

    idempotent = True
    #: what a 200 did (``addOrUpdateUser`` does not say whether it created or updated: counted as updated)
    action: Action = "updated"
    #: why a 409 refused the call, when this call can say
    conflict = ""
    #: how ``getUsers`` / ``getUser`` name what the calls write (``ListedOtherwise``): the external ID is
    #: ``id`` there, and it names a user as the calls' answers do
    listed_names: Mapping[str, str] = MappingProxyType({"userID": "id", "role": "roles"})
    listed_id = "id"

    def __init__(self, write: WriteSpec) -> None:
        self.write = write
        self.max_batch = write.max_batch
        (self.user_field,) = path_params(write.endpoint.path)
        self.match_fields: tuple[str, ...] = (self.user_field,)
        self.call = write.endpoint.path.split("/")[1]

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        ids = external_ids(item, self.match_fields)
        if isinstance(ids, RowResult):
            return ids
        payload = {k: v for k, v in item.payload.items() if v is not None}
        payload.update(ids)
        return WriteItem(item.idem_key, item.source_key, payload, ids[self.user_field])

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [(command(self.write.endpoint, it.payload), [it]) for it in items]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        item = items[0]
        user_id = str(item.payload[self.user_field])
        if response.status == 200:
            return [RowResult(item.idem_key, ok=True, target_id=user_id, action=self.action)]
        hint = ""
        if response.status == 409:
            hint = self.conflict
        elif response.status == 404:
            hint = f"no aNewSpring user with ID {user_id!r}"
        return [refused(item, response, self.call, hint)]


class ANewSpringUserUpsert(_UserWriter):
    """``addOrUpdateUser/{userID}``: creates or updates on the external ID."""

    mode = "upsert"

    def __init__(self) -> None:
        super().__init__(USER_UPSERT)


class ANewSpringUserCreate(_UserWriter):
    """``addUser/{userID}``: create-only; 409 = the ID or login exists. In doubt, ``userExists`` is asked."""

    mode = "create"
    idempotent = False
    action: Action = "created"
    conflict = 'the user ID or login exists already; write with mode = "upsert" to update existing users'

    def __init__(self) -> None:
        super().__init__(USER_CREATE)

    def lookup_request(self, item: WriteItem) -> Request | None:
        if item.payload.get(self.user_field) in (None, ""):
            return None
        return query(USER_EXISTS, item.payload)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        """The user's external ID when ``userExists`` says it is there (the call is exact)."""
        return str(item.payload[self.user_field]) if exists(response) else None


class ANewSpringUserUpdate(_UserWriter):
    """``updateUser/{userID}``: only the parameters sent change; ``id_field`` is the path's ``userID``."""

    mode = "update"

    def __init__(self) -> None:
        super().__init__(USER_UPDATE)
        self.id_field = self.user_field
