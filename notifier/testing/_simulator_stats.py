"""Thread-safe counters shared by the vendor simulators.

A simulator serves requests on its own thread while tests read its counters
from theirs, so every read and write takes one lock. Each simulator
subclasses ``SimulatorCounters``, names its counters in ``counter_names`` and
adds one typed property per counter.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import ClassVar

__all__ = ["SimulatorCounters"]


class SimulatorCounters:
    """Named event counters plus a request count per URL path."""

    counter_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._requests: Counter[str] = Counter()

    def increment(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the counter ``name``; raises ``KeyError`` for an unknown name."""
        if name not in self.counter_names:
            raise KeyError(f"unknown simulator counter {name!r}")
        with self._lock:
            self._counts[name] += amount

    def count_request(self, path: str) -> None:
        with self._lock:
            self._requests[path] += 1

    @property
    def requests(self) -> Counter[str]:
        """Requests per path, faulted and dropped ones included.

        A copy: later requests do not change it. Paths never requested read as 0.
        """
        with self._lock:
            return Counter(self._requests)

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self._counts.clear()
            self._requests.clear()

    def snapshot(self) -> dict[str, int]:
        """Return every counter by name, all read at one moment."""
        with self._lock:
            return {name: self._counts[name] for name in self.counter_names}

    def _read(self, name: str) -> int:
        with self._lock:
            return self._counts[name]
