"""Scripted and random faults of the simulator's API endpoints."""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

from ._config import SimulatorConfig

__all__ = ["Fault", "FaultPlan", "Operation"]

Operation = Literal["create", "fetch", "account", "any"]
"""The kind of API request a scripted fault applies to; ``"any"`` means every kind."""


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


class FaultPlan:
    """The fault decisions for each request, safe to use from any thread.

    Scripted faults (``fail_next``, ``drop_next``) apply first, in the order
    they were added; random faults from the configuration apply after them.
    """

    def __init__(self, seed: int | None) -> None:
        self._lock = threading.Lock()
        self._scripted: deque[_Scripted] = deque()
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not cryptography

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._random = random.Random(seed)  # noqa: S311 - fault injection, not cryptography

    def add(self, fault: Fault, times: int, operation: Operation) -> None:
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times!r}")
        with self._lock:
            self._scripted.append(_Scripted(fault, times, operation))

    def clear(self) -> None:
        with self._lock:
            self._scripted.clear()

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
