"""Sandbox time: real time compressed by a time scale, and movable forward by the control API.

Every time-dependent behaviour of the emulators (token lifetimes, rate-limit windows, session expiry)
reads ``Clock.now()``; latency and stalls are real time. ``advance()`` lets a test expire a token without
sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class Clock:
    """Sandbox seconds since the epoch: ``start + (monotonic() - t0) * time_scale + offset``."""

    def __init__(
        self,
        time_scale: float = 1.0,
        *,
        start: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.time_scale = time_scale
        self._monotonic = monotonic
        self._t0 = monotonic()
        self._start = time.time() if start is None else start
        self._offset = 0.0

    def now(self) -> float:
        return self._start + (self._monotonic() - self._t0) * self.time_scale + self._offset

    def advance(self, seconds: float) -> None:
        """Jump sandbox time forward (tests: expire a token at once)."""
        self._offset += seconds

    def to_real(self, sandbox_seconds: float) -> float:
        """Real seconds that ``sandbox_seconds`` of sandbox time take."""
        return sandbox_seconds / self.time_scale

    def retry_after(self, sandbox_seconds: float) -> int:
        """A ``Retry-After`` value in whole real seconds, at least 1."""
        return max(1, math.ceil(self.to_real(sandbox_seconds)))
