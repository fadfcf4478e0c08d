"""The population generator: deterministic, realistic, dirty on request; field names the emulators rely on."""

from __future__ import annotations

import dataclasses
import re
from datetime import date

from migrator.sandbox.generator import Course, Enrollment, Org, Person, generate

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_same_seed_same_population_other_seed_other_people() -> None:
    a, b, c = (
        generate(seed=4, scale=300, dirty=0.2),
        generate(seed=4, scale=300, dirty=0.2),
        generate(seed=5, scale=300),
    )
    assert a == b
    assert [p.email for p in a.people] != [p.email for p in c.people]


def test_field_names_are_stable() -> None:
    """The emulators read these fields: renaming one breaks them."""
    names = {
        cls.__name__: [f.name for f in dataclasses.fields(cls)] for cls in (Person, Org, Course, Enrollment)
    }
    assert names == {
        "Person": [
            "idx", "first_name", "last_name", "email", "employee_number", "username", "phone", "mobile",
            "dob", "job_title", "org", "role", "active", "created",
        ],
        "Org": ["idx", "name", "code", "email", "town", "postcode", "parent"],
        "Course": ["idx", "name", "code", "duration_ms"],
        "Enrollment": ["idx", "person", "course", "status", "start_date", "completed_date"],
    }  # fmt: skip


def test_clean_population_is_valid_and_consistent() -> None:
    pop = generate(seed=2, scale=2000)
    assert len(pop.people) == 2000
    emails = [p.email for p in pop.people]
    assert None not in emails and len(set(emails)) == 2000
    assert len({p.employee_number for p in pop.people}) == 2000
    assert all(p.first_name == p.first_name.strip() for p in pop.people)
    for person in pop.people:
        assert person.dob is not None
        date.fromisoformat(person.dob)
        assert ISO.match(person.created)
        assert 0 <= person.org < len(pop.orgs)
    assert any("'" in p.last_name for p in pop.people)  # O'Brien, D'Arcy
    assert any(not p.first_name.isascii() for p in pop.people)  # accents
    learners = {p.idx for p in pop.people if p.role == "learner"}
    assert {e.person for e in pop.enrollments} == learners
    for enrollment in pop.enrollments:
        assert 0 <= enrollment.course < len(pop.courses)
        assert ISO.match(enrollment.start_date)
        assert (enrollment.completed_date is not None) == (enrollment.status == "completed")
        if enrollment.completed_date:
            assert enrollment.completed_date > enrollment.start_date
    assert all(pop.people[i].role == "assessor" for ids in pop.supervisors.values() for i in ids)


def test_dirty_population_has_every_defect() -> None:
    pop = generate(seed=3, scale=4000, dirty=0.2)
    emails = [p.email for p in pop.people if p.email is not None]
    missing = sum(p.email is None for p in pop.people)
    duplicates = len(emails) - len({e.casefold() for e in emails})
    invalid_dates = sum(p.dob is not None and p.dob.endswith("-02-31") for p in pop.people)
    whitespace = sum(p.first_name != p.first_name.strip() for p in pop.people)
    defects = missing + duplicates + invalid_dates + whitespace
    assert min(missing, duplicates, invalid_dates, whitespace) > 0
    assert 0.1 * 4000 < defects < 0.3 * 4000  # about the asked fraction


def test_scale_zero_and_small() -> None:
    assert generate(scale=0).people == []
    assert len(generate(scale=0).orgs) == 3
    assert len(generate(scale=1).people) == 1
