"""aNewSpring lists read whole: one GET answers every record (``getUsers`` → ``{"users": […]}``,
``getTemplates`` → ``{"templates": […]}``); the API has no paging."""

from __future__ import annotations

from migrator.connectors.anewspring.answers import json_list
from migrator.connectors.base import Page, Request, Response
from migrator.connectors.spec import ReadSpec
from migrator.protocol.pagination import PageRequest, Paginator, make_paginator

__all__ = ["ANewSpringList"]


class ANewSpringList:
    """One GET of ``read`` answers the whole list, under ``list_key``."""

    def __init__(self, read: ReadSpec, list_key: str, page_size: int, step: str) -> None:
        self.endpoint = read.endpoint
        self.list_key = list_key
        self.key_field = read.key
        self.page_size = page_size
        self.step = step

    def paginator(self) -> Paginator:
        return make_paginator("unpaged", page_size=1, step=self.step)

    def page_request(self, page: PageRequest) -> Request:
        return Request("GET", self.endpoint.path, self.endpoint.budget_key)

    def decode_page(self, response: Response) -> Page:
        return Page(json_list(response, self.list_key))
