"""Scripted and random faults of the simulator's API endpoints."""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

from ._config import SimulatorConfig

__all__ = ["Fault", "FaultPlan", "Operation", "default_error_code"]

Operation = Literal["create", "fetch", "account", "any"]
"""The kind of API request a scripted fault applies to; ``"any"`` means every kind."""

# Twilio's generic error code for each HTTP status, from its error dictionary.
# 20003 is "Permission Denied" (bad credentials), and 20403 is "403 Forbidden"
# (the account may not use the API, as when it is suspended).
_GENERIC_CODES = {
    401: 20003,
    403: 20403,
    404: 20404,
    405: 20004,
    429: 20429,
    500: 20500,
    503: 20503,
}


def default_error_code(status: int) -> int | None:
    """Return the Twilio error code sent with an injected ``status`` when none is given.

    Other 5xx statuses get 20500. Other 4xx statuses get none, because
    Twilio has no generic code for them: the body's ``code`` is ``null``.
    """
    code = _GENERIC_CODES.get(status)
    if code is None and status >= 500:
        return 20500
    return code


@dataclass(frozen=True)
class Fault:
    """A fault applied to one request in place of its normal response.

    ``kind`` is ``"status"`` (respond with ``status``, Twilio error ``code``
    and an optional ``Retry-After``) or ``"drop"`` (close the connection
    without a response, before or after the request is processed).
    """

    kind: Literal["status", "drop"]
    status: int = 0
    code: int | None = None
    retry_after: float | str | None = None
    after_processing: bool = False


@dataclass
class _Scripted:
    fault: Fault
    remaining: int
    operation: Operation


@dataclass
class _ScriptedDelay:
    seconds: float
    remaining: int
    operation: Operation


class FaultPlan:
    """The fault decisions for each request, safe to use from any thread.

    Scripted faults (``fail_next``, ``drop_next``) apply first, in the order
    they were added; random faults from the configuration apply after them.
    Scripted delays (``delay_next``) are kept apart, so one request can get
    both a delay and a fault.
    """

    def __init__(self, seed: int | None) -> None:
        self._lock = threading.Lock()
        self._scripted: deque[_Scripted] = deque()
        self._delays: deque[_ScriptedDelay] = deque()
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not cryptography

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._random = random.Random(seed)  # noqa: S311 - fault injection, not cryptography

    def add(self, fault: Fault, times: int, operation: Operation) -> None:
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times!r}")
        with self._lock:
            self._scripted.append(_Scripted(fault, times, operation))

    def add_delay(self, seconds: float, times: int, operation: Operation) -> None:
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times!r}")
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
        with self._lock:
            self._delays.append(_ScriptedDelay(seconds, times, operation))

    def clear(self) -> None:
        with self._lock:
            self._scripted.clear()
            self._delays.clear()

    def take_delay(self, operation: Operation) -> float:
        """Return the scripted delay, in seconds, for one request of ``operation``."""
        with self._lock:
            for entry in self._delays:
                if entry.operation in ("any", operation):
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        self._delays.remove(entry)
                    return entry.seconds
            return 0.0

    def take(self, operation: Operation, config: SimulatorConfig) -> Fault | None:
        """Return the fault for one request of ``operation``, or ``None`` to process it normally."""
        with self._lock:
            for entry in self._scripted:
                if entry.operation in ("any", operation):
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        self._scripted.remove(entry)
                    return entry.fault
            roll = self._random.random
            if config.drop_rate and roll() < config.drop_rate:
                return Fault("drop")
            if config.fail_rate and roll() < config.fail_rate:
                return Fault(
                    "status", status=config.fail_status, retry_after=config.fail_retry_after
                )
            if config.rate_limit_rate and roll() < config.rate_limit_rate:
                return Fault(
                    "status", status=429, code=20429, retry_after=config.rate_limit_retry_after
                )
            return None

    def latency(self, config: SimulatorConfig) -> float:
        low, high = config.latency_range
        if low == high:
            return low
        with self._lock:
            return self._random.uniform(low, high)
