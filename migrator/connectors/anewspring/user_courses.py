"""The courses of each aNewSpring user, read per user (a nested read under ``getUsers``): ``getSubscriptions``
and ``getResults`` both answer ``{"courses": […]}`` for the user in the path, addressed by external ID."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migrator.connectors.anewspring.answers import json_list
from migrator.connectors.anewspring.calls import fill, path_params
from migrator.connectors.anewspring.users import ANewSpringPerUser, user_ref
from migrator.connectors.base import Request, Response
from migrator.connectors.spec import ReadSpec

__all__ = ["COURSE_LIST_KEY", "ANewSpringUserCourses"]

#: the key both calls list the user's courses under
COURSE_LIST_KEY = "courses"


class ANewSpringUserCourses(ANewSpringPerUser):
    """``read`` (``…/{userID}``) per user, with the query ``params``: one record per listed course, with
    ``userID``/``userUID`` of the user, ``courseID`` (the course's external ID) and the read's key
    ``<user uid>|<course id or uid>`` (stable: the same user and course give the same key on every run)."""

    def __init__(
        self, read: ReadSpec, page_size: int, step: str, params: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(page_size, step)
        self.child_endpoint = read.endpoint
        self.key_field = read.key
        self.params = params

    def children(self, parent: Mapping[str, Any]) -> Request | None:
        ref = user_ref(parent)
        if ref is None:
            return None
        endpoint = self.child_endpoint
        (name,) = path_params(endpoint.path)
        return Request("GET", fill(endpoint.path, {name: ref}), endpoint.budget_key, params=self.params)

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        user_key = parent.get("uid") or parent.get("id")
        for course in json_list(response, COURSE_LIST_KEY):
            course_key = course.get("id") or course.get("uid")
            out.append(
                {
                    **course,
                    self.key_field: f"{user_key}|{course_key}",
                    "userID": parent.get("id"),
                    "userUID": parent.get("uid"),
                    "courseID": course.get("id"),
                }
            )
        return out
