"""Simulator time: wall-clock time plus an offset that tests move forward."""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timedelta, timezone

__all__ = ["TASHKENT", "SimulatorClock", "format_iso", "format_tashkent"]

TASHKENT = timezone(timedelta(hours=5), "Asia/Tashkent")
"""Uzbekistan time: UTC+5 all year, without daylight saving time."""


class SimulatorClock:
    """The clock behind token expiry and message progress.

    ``advance()`` moves it forward without sleeping, so a test can expire a
    30-day token or finish every pending message at once. It never moves back.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Current simulator time as a POSIX timestamp in seconds."""
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` and return the new time."""
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"the clock only moves forward: seconds must be >= 0, got {seconds!r}")
        with self._lock:
            self._offset += seconds
        return self.now()

    @property
    def offset(self) -> float:
        """Seconds the clock has been moved ahead of wall-clock time."""
        with self._lock:
            return self._offset


def format_tashkent(timestamp: float) -> str:
    """Format a timestamp as Tashkent local time without a zone, as Eskiz callbacks do."""
    return datetime.fromtimestamp(timestamp, TASHKENT).strftime("%Y-%m-%d %H:%M:%S")


def format_iso(timestamp: float) -> str:
    """Format a timestamp the way Laravel 7 and later serialize dates: UTC, microseconds, ``Z``."""
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
