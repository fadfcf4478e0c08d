"""aNewSpring companies: aNewSpring has no call that lists groups, so ``company`` yields the distinct
``company`` values of the users (read with ``getUser/{id}`` per user), one ``{"name": …}`` record each,
e.g. to become target groups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migrator.connectors.anewspring.spec import COMPANY_READ
from migrator.connectors.anewspring.users import ANewSpringUserDetails
from migrator.connectors.base import Response

__all__ = ["ANewSpringCompanies"]


class ANewSpringCompanies(ANewSpringUserDetails):
    """The distinct ``company`` values of the users, one ``{"name": …}`` record each, exactly as the users
    hold them (so ``company -> <step>`` finds them in the crosswalk). The reader lives for one read, so its
    memory of the names seen is per read."""

    def __init__(self, page_size: int, step: str) -> None:
        super().__init__(page_size, step)
        self.key_field = COMPANY_READ.key
        self._seen: set[str] = set()

    def decode_children(self, response: Response, parent: Mapping[str, Any]) -> list[dict[str, Any]]:
        (user,) = super().decode_children(response, parent)
        company = user.get("company")
        if not isinstance(company, str) or not company.strip() or company in self._seen:
            return []
        self._seen.add(company)
        return [{COMPANY_READ.key: company}]
