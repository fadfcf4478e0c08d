"""The bulk writer's one-pass check (``plainly_valid``) never disagrees with the full normalise + validate (and
the merge field's presence, which the bulk writer adds)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.connectors.base import RowResult, WriteItem
from migrator.connectors.velpic.users import VelpicBulkUsers, normalise_user, plainly_valid, validate_user

_emails = ["x@y.z", "a@b", "not an email", "ann@example.com ", "a@b.c\n", "\ta@b.c", "a b@c.d"]
_text = st.sampled_from(["Ann", "  ", "", " Bo ", *_emails])
_role = st.one_of(st.integers(0, 9), st.booleans(), st.just(6.0))
_value = st.one_of(st.none(), _text, st.integers(-1, 9), st.booleans(), st.lists(_role, max_size=3))
_users = st.dictionaries(
    st.sampled_from(
        ["firstName", "lastName", "emailAddress", "employeeNumber", "roles", "groups", "groupsSupervised", "x"]
    ),
    _value,
)


@settings(max_examples=600, deadline=None)
@given(_users, st.booleans())
def test_plainly_valid_implies_the_full_check_passes_unchanged(
    user: dict[str, Any], require_roles: bool
) -> None:
    if plainly_valid(user, require_roles=require_roles):
        assert normalise_user(user) == user
        assert validate_user(user, require_roles=require_roles) == {}


@settings(max_examples=300, deadline=None)
@given(_users)
def test_prepare_gives_what_the_full_check_gives(user: dict[str, Any]) -> None:
    prepared = VelpicBulkUsers("empNo").prepare(WriteItem("k", "1", user))
    normalised = normalise_user(user)
    problems = validate_user(normalised, require_roles=True)
    if normalised.get("employeeNumber") in (None, ""):
        problems.setdefault("employeeNumber", []).append(
            "employeeNumber is required: the import merges on it (mergeType empNo), and a user without it "
            "would be created again at every send"
        )
    if problems:
        assert isinstance(prepared, RowResult) and not prepared.ok
        assert dict(prepared.fields) == problems
    else:
        assert isinstance(prepared, WriteItem) and prepared.payload == normalised


def test_the_common_row_takes_the_one_pass_check() -> None:
    row = {"firstName": "Ann", "lastName": "Lee", "emailAddress": "ann@example.com", "employeeNumber": "7"}
    assert plainly_valid({**row, "roles": [6]}, require_roles=True)
    assert not plainly_valid(row, require_roles=True)  # roles must be sent to the bulk import
    assert not plainly_valid({**row, "roles": [6], "employeeNumber": 7}, require_roles=True)  # 7 → "7" first
    assert not plainly_valid({**row, "roles": [True]}, require_roles=True)
    assert not plainly_valid({**row, "roles": [6], "groups": [1]}, require_roles=True)
