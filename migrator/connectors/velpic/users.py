"""Velpic users: the rules a user record must meet, the bulk import and the one-by-one create and update.

- ``POST /bulkUserImport`` with a ``mergeType`` (``VelpicBulkUsers``: ``email``, ``empNo`` or ``userName``,
  a merge, so a resend is safe; ``VelpicBulkCreate``: ``none``, which always creates). Rows are checked before
  sending, so one bad row does not sink a batch of 500, and ``roles`` must be sent: the import resets a merged
  user's omitted roles to TRAINEE. A merged row goes whole (``WHOLE_ROW``): what the plan does not map is sent
  with the target's own values (what the import does to the other fields a row leaves out is not said). The
  answer is "an array of users", in no documented order: each answered
  user is matched to the record sent with the same merge field, never by position. The groups a merged
  user's answer no longer lists are added back (``memberships``).
- ``POST /user`` (``VelpicUserCreate``): create-only. A create in doubt is looked up with ``GET /user``
  filtered by the step's match key (``USER_FILTERS``: ``emailAddress``, ``empId`` or ``q``), active or not, in
  one page of the largest size the list serves; the found user's field must equal the one sent.
- ``PUT /user/{userId}`` (``VelpicUserUpdate``): a full replacement at the payload's ``id``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

import msgspec

from migrator.connectors.base import Request, Response, RowResult, SettingError, WriteItem
from migrator.connectors.velpic.calls import (
    ONE_PAGE,
    error_text,
    listed,
    more_than_a_page,
    one_written,
    rejected,
    request,
)
from migrator.connectors.velpic.lists import list_spec
from migrator.connectors.velpic.memberships import KEPT, answered_groups, restore_requests
from migrator.connectors.velpic.spec import MERGE_FIELDS, USER_FILTERS, VELPIC

__all__ = [
    "MERGE_TYPES",
    "VALID_ROLES",
    "WHOLE_ROW",
    "VelpicBulkCreate",
    "VelpicBulkUsers",
    "VelpicUserCreate",
    "VelpicUserUpdate",
    "VelpicUserWriter",
    "bulk_writer",
    "normalise_user",
    "plainly_valid",
    "validate_user",
]

_USER = VELPIC.entities["user"]
_BULK, _CREATE, _UPDATE = _USER.writes["bulk"], _USER.writes["create"], _USER.writes["update"]
_LIST = list_spec("user").endpoint

VALID_ROLES = frozenset({3, 4, 5, 6, 7, 8})
#: every ``mergeType`` the import takes: ``none`` (always create) and the merges the spec accepts
MERGE_TYPES = ("none", *_BULK.match_keys)
#: the match key of a one-by-one user write when the step names none
_DEFAULT_MATCH = "emailAddress"
#: the fields of a merged row sent whole: the import's documented row (its example body) that the user list
#: returns in the same form. ``roles`` is not among them: every row must map it (the import resets it), and the
#: list answers it in another form (the document's list example: ``roles: [Object]``); nor are ``groups`` and
#: ``groupsSupervised``, absent from the import's example: what a merge drops of them is added back instead
#: (``memberships``)
WHOLE_ROW = (
    "emailAddress",
    "employeeNumber",
    "firstName",
    "lastName",
    "mobileNumber",
    "phoneNumber",
    "timeZone",
    "userName",
)
_ROW = re.compile(r"users\[(\d+)\]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# -- the rules ------------------------------------------------------------------------------------------------
def _ids(value: Any) -> list[dict[str, int]]:
    """``5``, ``"5"``, ``[5, 6]`` or ``[{"id": 5}]`` → ``[{"id": 5}, …]`` (None and "" dropped)."""
    items = value if isinstance(value, list) else [value]
    out: list[dict[str, int]] = []
    for item in items:
        raw = item.get("id") if isinstance(item, dict) else item
        if raw is None or raw == "":
            continue
        try:
            out.append({"id": int(raw)})
        except (TypeError, ValueError, OverflowError):
            out.append({"id": raw})  # not a whole number: ``validate_user`` rejects the record
    return out


def normalise_user(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Group references as ``[{id}]``, ``employeeNumber`` as text, ``roles`` as a list, each role once."""
    user = dict(payload)
    for name in ("groups", "groupsSupervised"):
        if name in user:
            user[name] = _ids(user[name])
    if "employeeNumber" in user and user["employeeNumber"] is not None:
        user["employeeNumber"] = str(user["employeeNumber"])
    if "roles" in user:
        roles = user["roles"] if isinstance(user["roles"], list) else [user["roles"]]
        user["roles"] = [r for i, r in enumerate(roles) if r not in roles[:i]]  # 7 OWNER → 3 twice: once
    return user


def plainly_valid(user: Mapping[str, Any], *, require_roles: bool) -> bool:
    """The common case in one pass, without building anything: the names and the email are there and well
    formed, roles (when present) a non-empty list of distinct valid role ids, and nothing for
    ``normalise_user`` to do (no group references, ``employeeNumber`` already text or absent). True implies
    ``normalise_user(user) == user`` and ``validate_user(user) == {}``; False means: normalise and validate in
    full."""
    first, last, email = user.get("firstName"), user.get("lastName"), user.get("emailAddress")
    if type(first) is not str or type(last) is not str or type(email) is not str:
        return False
    # an address the pattern takes as it is, it takes stripped (it holds no space inside); one with spaces
    # around it goes the full way
    if not first.strip() or not last.strip() or not _EMAIL.match(email):
        return False
    if "groups" in user or "groupsSupervised" in user:
        return False
    number = user.get("employeeNumber")
    if number is not None and type(number) is not str:
        return False
    roles = user.get("roles")
    if roles is None:
        return not require_roles and "roles" not in user
    if type(roles) is not list or not roles:
        return False
    if len(roles) == 1:  # the usual case: one role, nothing to compare it with
        return type(roles[0]) is int and roles[0] in VALID_ROLES
    if not all(type(r) is int and r in VALID_ROLES for r in roles):
        return False
    return len(set(roles)) == len(roles)


def validate_user(user: Mapping[str, Any], *, require_roles: bool) -> dict[str, list[str]]:
    """Problems Velpic would refuse (or silently mishandle), by field. Empty when the row is fine."""
    problems: dict[str, list[str]] = {}
    for name in ("firstName", "lastName", "emailAddress"):
        value = user.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.setdefault(name, []).append(f"{name} is required")
    email = user.get("emailAddress")
    if isinstance(email, str) and email.strip() and not _EMAIL.match(email.strip()):
        problems.setdefault("emailAddress", []).append(f"not an email address: {email!r}")
    for name in ("groups", "groupsSupervised"):
        refs = user.get(name)
        bad = [g.get("id") for g in refs if isinstance(g, dict)] if isinstance(refs, list) else [refs]
        bad = [ref for ref in bad if isinstance(ref, bool) or not isinstance(ref, int)]
        if refs is not None and bad:
            problems.setdefault(name, []).append(f"not a Velpic group id: {bad[0]!r}")
    roles = user.get("roles")
    if roles is None:
        if require_roles:
            problems.setdefault("roles", []).append(
                "roles must be sent: bulkUserImport resets a merged user's roles to TRAINEE when omitted"
            )
    else:
        bad = [r for r in roles if not isinstance(r, int) or isinstance(r, bool) or r not in VALID_ROLES]
        if bad or not roles:
            problems.setdefault("roles", []).append(
                f"roles must be a non-empty list of 3 ADMIN, 4 EDITOR, 5 SUPERVISOR, 6 TRAINEE, 7 OWNER, "
                f"8 INSTRUCTOR; got {roles!r}"
            )
    return problems


# -- the in-doubt lookup --------------------------------------------------------------------------------------
def _lookup_user(field: str, item: WriteItem) -> Request | None:
    """``GET /user`` filtered by ``field``'s list filter (active or not); None when ``field`` has no filter or
    the record no value for it."""
    name = USER_FILTERS.get(field)
    value = item.payload.get(field)
    if name is None or value is None or value == "":
        return None
    return request(_LIST, params=((name, str(value)), ("activeValue", "all"), *ONE_PAGE))


def _found_user(field: str, response: Response, item: WriteItem) -> str | None:
    """The id of the listed user whose ``field`` equals the record's (``q`` also lists partial matches); None
    when the list holds none. A list longer than its one page that does not show the user cannot tell: an
    error, not a guess that would create the user twice."""
    want = item.payload.get(field)
    users, complete = listed(response)
    for user in users:
        if user.get(field) == want and user.get("id") is not None:
            return str(user["id"])
    if not complete:
        raise more_than_a_page(
            f"GET /user filtered by {field} = {want!r}",
            "the user in doubt is not on that page, so the step cannot tell whether it was created; match "
            "on a field that finds fewer users (emailAddress or employeeNumber)",
            response,
        )
    return None


# -- bulkUserImport -------------------------------------------------------------------------------------------
class _Imported(msgspec.Struct):
    """What is read of each answered user: its id and the fields a merge can match on (msgspec skips the rest
    of the user without building it)."""

    id: int | str
    emailAddress: str | None = None
    employeeNumber: str | int | None = None
    userName: str | None = None


_IMPORTED = msgspec.json.Decoder(list[_Imported])


def _key(value: Any) -> str | None:
    """A merge field's value as sent (``normalise_user`` sends ``employeeNumber`` as text) and as answered,
    compared exactly; None when there is none."""
    return None if value is None or value == "" else str(value)


def _answered_rows(items: Sequence[WriteItem], users: Sequence[_Imported], field: str) -> list[RowResult]:
    """Each record's result from the import's answered ``users``, matched by the merge ``field``, exactly as
    sent: the document promises no order. A record is written when exactly one answered user carries its value
    and no other record of the call was sent with it; a one-record call's one user is that record's, whatever
    it carries. Any other record is ``pending`` (it goes again alone: the merge makes that safe), never given
    another record's user.

    The answer does not say which users the import created and which it merged into: a written record is
    ``created`` here, and the write stage tells the two apart by the step's read of the target's users
    (``migrator.runtime.write``)."""
    if len(items) == 1 and len(users) == 1:
        return [RowResult(items[0].idem_key, True, str(users[0].id), "created")]
    values = [_key(it.payload.get(field)) for it in items]
    repeated = {v for v, n in Counter(values).items() if n > 1} if len(set(values)) < len(values) else set()
    answered: dict[str | None, _Imported] = {}  # value → the one user answered with it
    twice: set[str | None] = set()  # values answered for several users
    for value, user in zip(map(_key, map(attrgetter(field), users)), users, strict=True):
        if value in answered:
            twice.add(value)
        else:
            answered[value] = user
    rows: list[RowResult] = []
    for it, value in zip(items, values, strict=True):
        one = answered.get(value) if value is not None else None
        if one is not None and value not in twice and value not in repeated:
            rows.append(RowResult(it.idem_key, True, str(one.id), "created"))
        else:
            found = 0 if one is None else sum(1 for u in users if _key(getattr(u, field)) == value)
            reason = (
                f"bulkUserImport answered {found} users with {field} {value!r} for {values.count(value)} "
                "record(s) sent with it"
            )
            rows.append(RowResult(it.idem_key, ok=False, action="pending", reason=reason))
    return rows


class _BulkImport:
    """``POST /bulkUserImport`` with ``mergeType``: rows checked before sending, results matched back by the
    merge field (``_answered_rows``); a refusal that names ``users[n]`` (the n-th row sent) rejects that row
    and sends the others again."""

    mode = "bulk"
    max_batch = _BULK.max_batch

    def __init__(self, merge: str, match_field: str) -> None:
        self.merge = merge
        self.match_fields: tuple[str, ...] = (match_field,)

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        if plainly_valid(item.payload, require_roles=True) and self._keyed(item.payload):
            return item
        user = normalise_user(item.payload)
        problems = validate_user(user, require_roles=True)
        if not self._keyed(user):
            field = self.match_fields[0]
            problems.setdefault(field, []).append(
                f"{field} is required: the import merges on it (mergeType {self.merge}), and a user without "
                "it would be created again at every send"
            )
        if problems:
            return rejected(item, problems)
        return WriteItem(item.idem_key, item.source_key, user, item.match_value)

    def _keyed(self, user: Mapping[str, Any]) -> bool:
        """Whether ``user`` carries a value of the merge field (``none`` merges on nothing)."""
        return self.merge == "none" or _key(user.get(self.match_fields[0])) is not None

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        body = {"users": [it.payload for it in items], "mergeType": self.merge}
        return [(request(_BULK.endpoint, json=body), list(items))]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        if response.status == 200:
            try:  # only the id and the merge fields are read
                users = _IMPORTED.decode(response.body)
            except msgspec.ValidationError as error:
                raise ValueError(
                    f"bulkUserImport answered something else than a list of users: {error}"
                ) from None
            return self.matched(_answered_rows(items, users, self.match_fields[0]))
        text = error_text(response)
        match = _ROW.search(text)
        if response.status == 400 and match and int(match.group(1)) < len(items):
            bad = int(match.group(1))
            # the import is all-or-nothing: reject the named row, the rest are written again
            return [
                rejected(it, {"row": [text]}, 400)
                if i == bad
                else RowResult(it.idem_key, ok=False, action="pending", reason="resend")
                for i, it in enumerate(items)
            ]
        if response.status == 400 and len(items) == 1:
            return [rejected(items[0], {"row": [text]}, 400)]
        return [RowResult(it.idem_key, ok=False, action="pending", reason="split") for it in items]

    def matched(self, rows: list[RowResult]) -> list[RowResult]:
        """The results of an answer matched back: as they are for a merge (a record left ``pending`` is sent
        again)."""
        return rows


class VelpicBulkUsers(_BulkImport):
    """The import merging on ``merge`` (one of the spec's bulk match keys): a resend updates, never
    duplicates.

    What a merge does to a field its row leaves out is documented for ``roles`` only (reset to TRAINEE), so a
    merged row goes whole (``WholeRecordWriter``): each of ``WHOLE_ROW`` the plan does not map is sent with the
    value of the user the step's one read of the target's current values holds (no read per record). A user
    the target does not hold is created as mapped.

    Nor is it said what a merge does to the groups and supervised groups a row leaves out, and the row sends
    none back (not in the import's documented row): a merged user's groups before (that read) and after (the
    answer) are compared, and what it lost is added back (``MembershipKeeper``, ``memberships``)."""

    idempotent = True
    record_fields = WHOLE_ROW
    kept_fields = KEPT

    def __init__(self, merge: str) -> None:
        super().__init__(merge, MERGE_FIELDS[merge])

    def answered(self, response: Response, items: Sequence[WriteItem]) -> dict[str, dict[str, Any] | None]:
        if response.status != 200:
            return {}
        return dict(answered_groups(response, items, self.match_fields[0]))

    def restores(
        self, users: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any] | None]]
    ) -> list[Request]:
        return restore_requests(users)


class VelpicBulkCreate(_BulkImport):
    """The import with ``mergeType`` ``none``: it always creates (the plan validator refuses it; only code
    asks for it). A row in doubt is looked up by its ``emailAddress``; so is every record of an answer that
    cannot be matched back whole, since sending one again would create it twice."""

    idempotent = False

    def __init__(self) -> None:
        super().__init__("none", "emailAddress")

    def matched(self, rows: list[RowResult]) -> list[RowResult]:
        lost = [row.reason for row in rows if row.action == "pending"]
        if lost:
            more = f" (and {len(lost) - 1} more records)" if len(lost) > 1 else ""
            raise ValueError(f"{lost[0]}{more}: they are looked up before any is sent again")
        return rows

    def lookup_request(self, item: WriteItem) -> Request | None:
        return _lookup_user("emailAddress", item)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        return _found_user("emailAddress", response, item)


def bulk_writer(match: str | None) -> VelpicBulkUsers | VelpicBulkCreate:
    """The import for the step's match key (``mergeType``; none given = ``none``)."""
    merge = match or "none"
    if merge not in MERGE_TYPES:
        raise SettingError("write.match", f"Velpic mergeType must be one of {', '.join(MERGE_TYPES)}")
    return VelpicBulkCreate() if merge == "none" else VelpicBulkUsers(merge)


# -- one user per call ----------------------------------------------------------------------------------------
class VelpicUserWriter:
    """What the one-by-one create and update share: the match field (the step's match key, by default
    ``emailAddress``) and the rules (``roles`` may be left out)."""

    def __init__(self, match: str | None = None) -> None:
        self.match_fields: tuple[str, ...] = (match or _DEFAULT_MATCH,)

    def problems(self, user: Mapping[str, Any]) -> dict[str, list[str]]:
        return validate_user(user, require_roles=False)

    def prepare(self, item: WriteItem) -> RowResult | WriteItem:
        user = normalise_user(item.payload)
        problems = self.problems(user)
        return rejected(item, problems) if problems else WriteItem(item.idem_key, item.source_key, user)


class VelpicUserCreate(VelpicUserWriter):
    """``POST /user``, one user per call; create-only, looked up by the match field when in doubt."""

    mode = "create"
    max_batch = _CREATE.max_batch
    idempotent = False

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [(request(_CREATE.endpoint, json=it.payload), [it]) for it in items]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        return [one_written(items[0], response, "created")]

    def lookup_request(self, item: WriteItem) -> Request | None:
        return _lookup_user(self.match_fields[0], item)

    def decode_lookup(self, response: Response, item: WriteItem) -> str | None:
        return _found_user(self.match_fields[0], response, item)


class VelpicUserUpdate(VelpicUserWriter):
    """``PUT /user/{userId}`` at the payload's ``id``, one user per call: a full replacement."""

    mode = "update"
    max_batch = _UPDATE.max_batch
    idempotent = True
    id_field = "id"

    def problems(self, user: Mapping[str, Any]) -> dict[str, list[str]]:
        problems = super().problems(user)
        if not user.get(self.id_field):
            problems.setdefault("id", []).append("update needs the target user id (map id through a crosswalk)")
        return problems

    def requests(self, items: Sequence[WriteItem]) -> list[tuple[Request, list[WriteItem]]]:
        return [(request(_UPDATE.endpoint, it.payload[self.id_field], json=it.payload), [it]) for it in items]

    def decode(self, response: Response, items: Sequence[WriteItem]) -> list[RowResult]:
        return [one_written(items[0], response, "updated")]
