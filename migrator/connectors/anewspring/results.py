"""aNewSpring results: ``getResults/{userID}`` per user (a nested read), one record per course the user has a
result in. Sent with ``asStudent=false``: with ``asStudent=true`` the answer holds only what the learner is
allowed to see, and the default is not documented, so it is never left to it. Read only: aNewSpring's API
documents no call that writes a course result.

The names of a result's fields are not documented either. The dates are read under the names of the public
client code (``startDate``, ``lastTrainingCompletedDate``) or, where the answer has none of those, under the
``…DateTime`` names ``getSubscriptions`` gives its dates (``startDateTime``, ``lastTrainingCompletedDateTime``):
each record carries the first names (``RESULT_DATES``) whichever the platform answers. A result under other
names still has no completed date, and a plan that maps it rejects that completion, naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migrator.connectors.anewspring.spec import RESULT_READ
from migrator.connectors.anewspring.user_courses import ANewSpringUserCourses
from migrator.connectors.base import Response

__all__ = ["RESULT_DATES", "ANewSpringResults", "with_result_dates"]

#: every result, not only those the learner may see
_ALL_RESULTS = (("asStudent", "false"),)
#: a result's date → the other name it may be answered under
RESULT_DATES: Mapping[str, str] = {
    "startDate": "startDateTime",
    "lastTrainingCompletedDate": "lastTrainingCompletedDateTime",
}


def with_result_dates(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with each of ``RESULT_DATES`` it lacks taken from its other name, when it has that."""
    for name, other in RESULT_DATES.items():
        if result.get(name) is None and result.get(other) is not None:
            result[name] = result[other]
    return result


class ANewSpringResults(ANewSpringUserCourses):
    """``getResults/{userID}?asStudent=false`` per user: the user's result per course, as listed (the
    completion date and score fields are the platform's own, the dates also under ``RESULT_DATES``' names),
    keyed ``<user uid>|<course id or uid>``."""

    def __init__(self, page_size: int, step: str) -> None:
        super().__init__(RESULT_READ, page_size, step, _ALL_RESULTS)

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [with_result_dates(result) for result in super().decode_children(response, parent)]
