"""Request and event counters of one simulator, safe to read from any thread."""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["SimulatorStats"]

_COUNTERS = (
    "logins",
    "login_failures",
    "refreshes",
    "sends",
    "rejected_sends",
    "faults",
    "drops",
    "callbacks_sent",
    "callbacks_failed",
    "callbacks_refused",
)


class SimulatorStats:
    """Counters of what the simulator saw and did since start or ``reset()``.

    Attributes (each an ``int``):
        logins: tokens issued by ``POST /auth/login``.
        login_failures: logins rejected for wrong or missing credentials.
        refreshes: tokens issued by ``PATCH /auth/refresh``.
        sends: messages accepted; a batch of 3 counts 3.
        rejected_sends: send requests that the endpoint rejected with an error
            (validation, trial text, moderation, balance, batch limit).
        faults: requests answered with an injected error status.
        drops: connections closed without a response.
        callbacks_sent: delivery callbacks the receiver answered with 2xx.
        callbacks_failed: callbacks that failed (error status or network error).
        callbacks_refused: callbacks not sent because the host is not loopback.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._requests: Counter[str] = Counter()

    def increment(self, name: str, amount: int = 1) -> None:
        if name not in _COUNTERS:
            raise KeyError(f"unknown simulator counter {name!r}")
        with self._lock:
            self._counts[name] += amount

    def count_request(self, path: str) -> None:
        with self._lock:
            self._requests[path] += 1

    @property
    def requests(self) -> Counter[str]:
        """Requests per path without the ``/api`` prefix, faulted and dropped ones included.

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
            return {name: self._counts[name] for name in _COUNTERS}

    def _read(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    @property
    def logins(self) -> int:
        return self._read("logins")

    @property
    def login_failures(self) -> int:
        return self._read("login_failures")

    @property
    def refreshes(self) -> int:
        return self._read("refreshes")

    @property
    def sends(self) -> int:
        return self._read("sends")

    @property
    def rejected_sends(self) -> int:
        return self._read("rejected_sends")

    @property
    def faults(self) -> int:
        return self._read("faults")

    @property
    def drops(self) -> int:
        return self._read("drops")

    @property
    def callbacks_sent(self) -> int:
        return self._read("callbacks_sent")

    @property
    def callbacks_failed(self) -> int:
        return self._read("callbacks_failed")

    @property
    def callbacks_refused(self) -> int:
        return self._read("callbacks_refused")

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}={value}" for name, value in self.snapshot().items())
        return f"SimulatorStats({counts})"
