"""OneFile lists read whole, in one request: the unpaged searches of classrooms, placements and organisations
(the step's filter is the body: ``{OrganisationID}``, ``{CustomerID}``) and ``GET /Customer``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migrator.connectors.base import Page, Request, Response
from migrator.connectors.onefile.answers import rows
from migrator.connectors.spec import ReadSpec
from migrator.protocol.pagination import PageRequest, Paginator, make_paginator

__all__ = ["OneFileReader"]


class OneFileReader:
    """One request answers the whole list: a search (``POST``, body = the filter) or ``GET /Customer``."""

    def __init__(self, read: ReadSpec, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        self.endpoint = read.endpoint
        self.key_field = read.key
        self.body = dict(filters)
        self.page_size = page_size
        self.step = step

    def paginator(self) -> Paginator:
        return make_paginator("unpaged", page_size=1, step=self.step)

    def page_request(self, page: PageRequest) -> Request:
        if self.endpoint.method == "GET":
            return Request("GET", self.endpoint.path, self.endpoint.budget_key)
        return Request("POST", self.endpoint.path, self.endpoint.budget_key, json=self.body)

    def decode_page(self, response: Response) -> Page:
        return Page(rows(response))
