"""aNewSpring results: ``getResults/{userID}`` per user (a nested read), one record per course the user has a
result in. Sent with ``asStudent=false``: with ``asStudent=true`` the answer holds only what the learner is
allowed to see, and the default is not documented, so it is never left to it. Read only: aNewSpring's API
documents no call that writes a course result."""

from __future__ import annotations

from migrator.connectors.anewspring.spec import RESULT_READ
from migrator.connectors.anewspring.user_courses import ANewSpringUserCourses

__all__ = ["ANewSpringResults"]

#: every result, not only those the learner may see
_ALL_RESULTS = (("asStudent", "false"),)


class ANewSpringResults(ANewSpringUserCourses):
    """``getResults/{userID}?asStudent=false`` per user: the user's result per course, as listed (the
    completion date and score fields are the platform's own), keyed ``<user uid>|<course id or uid>``."""

    def __init__(self, page_size: int, step: str) -> None:
        super().__init__(RESULT_READ, page_size, step, _ALL_RESULTS)
