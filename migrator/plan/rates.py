"""Rate budgets written as ``"<count>/<unit>"``: ``"5000/hour"``, ``"20/second"``, ``"300/minute"``."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["RATE_FORM", "Rate", "parse_rate"]

_UNITS: dict[str, float] = {
    "second": 1.0,
    "sec": 1.0,
    "s": 1.0,
    "minute": 60.0,
    "min": 60.0,
    "m": 60.0,
    "hour": 3600.0,
    "h": 3600.0,
    "day": 86400.0,
    "d": 86400.0,
}
_CANONICAL = {1.0: "second", 60.0: "minute", 3600.0: "hour", 86400.0: "day"}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([a-z]+)\s*$")

RATE_FORM = 'expected "<count>/<second|minute|hour|day>", e.g. "5000/hour" or "20/second"'


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` requests per ``per_seconds`` seconds."""

    count: float
    per_seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.per_seconds

    def scaled(self, factor: float) -> Rate:
        """This rate times ``factor`` (a reserve of 0.2 gives ``scaled(0.8)``)."""
        return Rate(self.count * factor, self.per_seconds)

    def __str__(self) -> str:
        unit = _CANONICAL.get(self.per_seconds)
        count = f"{self.count:g}"
        return f"{count}/{unit}" if unit else f"{count}/{self.per_seconds:g}s"


def parse_rate(text: str) -> Rate:
    """Parse ``"<count>/<unit>"``; raises ``ValueError`` with the expected form."""
    m = _RATE.match(text.lower())
    if m is None or m.group(2) not in _UNITS:
        raise ValueError(f"{RATE_FORM}; got {text!r}")
    count = float(m.group(1))
    if count <= 0:
        raise ValueError(f"a rate must be more than 0 requests; got {text!r}")
    return Rate(count, _UNITS[m.group(2)])
