"""Request and event counters of one simulator, safe to read from any thread."""

from __future__ import annotations

from notifier.testing._simulator_stats import SimulatorCounters

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


class SimulatorStats(SimulatorCounters):
    """Counters of what the simulator saw and did since start or ``reset()``.

    Attributes (each an ``int``):
        logins: tokens issued by ``POST /auth/login``.
        login_failures: logins rejected for wrong or missing credentials.
        refreshes: tokens issued by ``PATCH /auth/refresh``.
        sends: messages accepted; a batch of 3 counts 3.
        rejected_sends: send requests that the endpoint rejected with an error
            (validation, trial text, moderation, balance, batch limit).
        faults: requests that got an injected error status.
        drops: connections closed without a response.
        callbacks_sent: delivery callbacks the receiver answered with 2xx.
        callbacks_failed: callbacks that failed (error status or network error).
        callbacks_refused: callbacks not sent because the host is not loopback.

    Requests are counted by path without the ``/api`` prefix.
    """

    counter_names = _COUNTERS

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
