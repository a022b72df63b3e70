"""Request and event counters of one simulator, safe to read from any thread."""

from __future__ import annotations

from notifier.testing._simulator_stats import SimulatorCounters

__all__ = ["SimulatorStats"]

_COUNTERS = (
    "sends",
    "rejected_sends",
    "fetches",
    "auth_failures",
    "faults",
    "drops",
    "callbacks_sent",
    "callbacks_failed",
    "callbacks_refused",
)


class SimulatorStats(SimulatorCounters):
    """Counters of what the simulator saw and did since start or ``reset()``.

    Attributes (each an ``int``):
        sends: messages accepted (response 201).
        rejected_sends: create requests rejected with a Twilio error code
            (validation, magic numbers, unknown sender or service).
        fetches: Message resources returned by ``GET …/Messages/{Sid}.json``.
        auth_failures: requests rejected with 401 for missing or wrong credentials.
        faults: requests that got an injected error status (5xx, 429).
        drops: connections closed without a response.
        callbacks_sent: status callbacks the receiver accepted with a 2xx response.
        callbacks_failed: callbacks that failed (error status or network error).
        callbacks_refused: callbacks not sent because the host is not loopback.

    Requests are counted by URL path; unauthenticated ones are included.
    """

    counter_names = _COUNTERS

    @property
    def sends(self) -> int:
        return self._read("sends")

    @property
    def rejected_sends(self) -> int:
        return self._read("rejected_sends")

    @property
    def fetches(self) -> int:
        return self._read("fetches")

    @property
    def auth_failures(self) -> int:
        return self._read("auth_failures")

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
