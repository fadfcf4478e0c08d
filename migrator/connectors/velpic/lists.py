"""Velpic's paged lists (``GET /user``, ``/group``, ``/lesson``, ``/ilt_session``): ``startIndex`` +
``maxResults``, and ``meta.totalResultCount``, so the pages after the first are read concurrently."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migrator.connectors.base import EngineSupportError, Page, Request, Response
from migrator.connectors.spec import ReadSpec
from migrator.connectors.velpic.calls import request
from migrator.connectors.velpic.spec import VELPIC
from migrator.protocol.pagination import PageRequest, Paginator, make_paginator

__all__ = ["VelpicReader", "list_spec", "param"]


def param(value: Any) -> str:
    """A filter value as a query parameter: ``true``/``false``, a list comma-separated, else its text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def list_spec(entity: str) -> ReadSpec:
    """The list ``entity`` is read from, as the spec declares it."""
    read = VELPIC.entities[entity].read
    if read is None:
        raise EngineSupportError(f"the Velpic connector cannot read {entity!r} yet")
    return read


class VelpicReader:
    """Reads ``entity``'s list (endpoint and key field from the spec) with ``filters`` as query parameters."""

    def __init__(self, entity: str, filters: Mapping[str, Any], page_size: int, step: str) -> None:
        read = list_spec(entity)
        self.endpoint = read.endpoint
        self.key_field = read.key
        self.filters = tuple((k, param(v)) for k, v in filters.items())
        self.page_size = page_size
        self.step = step

    def paginator(self) -> Paginator:
        return make_paginator("velpic_offset", page_size=self.page_size, step=self.step)

    def page_request(self, page: PageRequest) -> Request:
        return request(self.endpoint, params=self.filters + page.params)

    def decode_page(self, response: Response) -> Page:
        body = response.json() or {}
        meta = body.get("meta") or {}
        total = meta.get("totalResultCount")
        return Page(list(body.get("results") or []), total if isinstance(total, int) else None)
