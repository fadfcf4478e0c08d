"""Field statistics of a sample: fill rates over every record, nested fields, id-like and status-like
fields' distinct values, secrets masked, long values cut."""

from __future__ import annotations

from migrator.fieldstats import field_stats, is_id_like, shown


def test_fill_rates_count_every_record_and_nested_fields_are_walked() -> None:
    records = [
        {"id": 1, "email": "a@x", "address": {"city": "Leeds"}, "groups": [{"id": 7}, {"id": 8}]},
        {"id": 2, "email": "", "address": {"city": None}, "groups": []},
        {"id": 3, "groups": [{"id": 7}]},
    ]
    stats = {s.name: s for s in field_stats(records, max_values=2)}
    assert (stats["email"].filled, stats["email"].records) == (1, 3)
    assert stats["address.city"].filled == 1 and stats["address.city"].types == ("string",)
    assert stats["groups[].id"].filled == 2
    assert stats["groups[].id"].values == (("7", 2), ("8", 1))
    assert stats["id"].unique and stats["id"].values == ()  # a value per record: a key, not a set of ids


def test_secrets_are_masked_and_long_values_cut() -> None:
    stats = {s.name: s for s in field_stats([{"apiKey": "k-123456", "note": "y" * 90}], max_len=10)}
    assert stats["apiKey"].examples == ("***",) and not stats["apiKey"].id_like
    assert stats["note"].examples == ("yyyyyyyyy…",)
    assert shown(True, 10) == "true" and shown([1, 2], 10) == "[1, 2]"


def test_id_like_names() -> None:
    assert all(
        is_id_like(n) for n in ("id", "OrganisationID", "clientStatusId", "role_id", "roles", "userType")
    )
    assert not any(is_id_like(n) for n in ("paid", "valid", "name", "email"))
