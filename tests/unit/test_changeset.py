"""The change set: its figures compared with a run's within the plan's tolerance, and its JSON (pure)."""

from __future__ import annotations

import pytest

from migrator.changeset import (
    ChangeSet,
    Invalid,
    SampleChange,
    StepChange,
    Tolerance,
    decode_change_set,
    differences,
    encode_change_set,
)
from migrator.changeset_html import render_html


def _set(digest: str = "h1", **users: int) -> ChangeSet:
    figures = {"read": 100, "created": 10, "updated": 5, "unchanged": 80, "rejected": 5, **users}
    return ChangeSet("p", digest, 0.0, {"users": StepChange(**figures)})


def test_the_same_counts_hold_exactly() -> None:
    assert differences(_set(), _set(), Tolerance.of(None)) == []


def test_another_plan_hash_is_refused_whatever_the_counts() -> None:
    (problem,) = differences(_set("h1"), _set("h2"), Tolerance.of("100%"))
    assert "the plan changed" in problem and "h1" in problem and "h2" in problem


def test_a_count_beyond_the_tolerance_is_named_with_both_figures() -> None:
    (problem,) = differences(_set(), _set(rejected=7), Tolerance.of(1))
    assert problem == "step users: 7 records rejected, approved 5 (tolerance 1: 1 records)"
    assert differences(_set(), _set(rejected=6), Tolerance.of(1)) == []


def test_a_percentage_is_of_the_step_records_as_approved() -> None:
    assert differences(_set(), _set(unchanged=82), Tolerance.of("2%")) == []
    assert len(differences(_set(), _set(unchanged=83), Tolerance.of("2%"))) == 1


def test_creates_and_updates_are_compared_apart() -> None:
    # a run tells a merge's creates from its updates by the target's values it read, as the preview does
    assert differences(_set(), _set(created=15, updated=0), Tolerance.of(None)) == [
        "step users: 15 records created, approved 10 (tolerance 0: 0 records)",
        "step users: 0 records updated, approved 5 (tolerance 0: 0 records)",
    ]
    assert differences(_set(), _set(created=11, updated=4), Tolerance.of(1)) == []


def test_a_step_missing_on_either_side_is_named() -> None:
    other = ChangeSet("p", "h1", 0.0, {"groups": StepChange()})
    assert sorted(differences(_set(), other, Tolerance.of(None))) == [
        "step groups: not in the approved change set",
        "step users: not run now",
    ]


def test_a_bad_tolerance_says_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="percentage"):
        Tolerance.of("lots")


def test_the_json_round_trips_and_a_foreign_file_is_refused() -> None:
    found = _set()
    assert decode_change_set(encode_change_set(found), "c.json") == found
    with pytest.raises(ValueError, match=r"c\.json is not a change set"):
        decode_change_set(b'{"plan": 1}', "c.json")


def test_the_html_escapes_every_value() -> None:
    step = StepChange(
        samples=[SampleChange("<k>", "updated", {"<b>": ("<i>x</i>", "<script>y</script>")})],
        invalid=[Invalid("<k2>", "suspect", "<img src=x>")],
    )
    page = render_html(ChangeSet("<p>", "h", 0.0, {"<s>": step}))
    assert "<script>" not in page and "<img" not in page and "<i>" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x&gt;" in page
