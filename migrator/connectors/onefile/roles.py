"""OneFile user roles and the fields ``POST /User`` requires of each (documented): a learner needs its
assessor, classroom and placement, employers and observers their placement. Pure rules, checked before
sending, so a user OneFile would refuse is a dead letter that says why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MANDATORY", "ROLES", "missing_mandatory"]

ROLES: Mapping[int, str] = {
    1: "Learner",
    4: "Trainee Assessor",
    5: "Assessor",
    10: "IV / IQA",
    40: "Employer",
    45: "Observer",
}
_BASE = ("OrganisationID", "FirstName", "LastName", "Email", "Role")
#: Mandatory fields of ``POST /User`` per role (documented); roles not listed take the base five.
MANDATORY: Mapping[int, tuple[str, ...]] = {
    1: (*_BASE, "DefaultAssessorID", "ClassroomID", "PlacementID"),
    40: (*_BASE, "PlacementID"),
    45: (*_BASE, "PlacementID"),
}


def missing_mandatory(user: Mapping[str, Any]) -> dict[str, list[str]]:
    """What ``POST /User`` would refuse for the user's role, by field (empty when the user can be created)."""
    role = user.get("Role")
    if role is None:
        return {"Role": ["Role is required: " + ", ".join(f"{k} {v}" for k, v in ROLES.items())]}
    if role not in ROLES:
        return {
            "Role": [
                f"unknown OneFile role {role!r}; expected " + ", ".join(f"{k} {v}" for k, v in ROLES.items())
            ]
        }
    need = MANDATORY.get(role, _BASE)
    missing = [f for f in need if f not in user]
    if not missing:
        return {}
    title = f"a OneFile {ROLES[role]} (Role {role})"
    extra = [f for f in need if f not in _BASE]
    needs = f"{title} needs {', '.join(extra)}" if extra else f"{title} needs {', '.join(need)}"
    message = f"{needs}; missing: {', '.join(missing)}"
    return {f: [message] for f in missing}
