"""Circuit breakers: the ``Circuit`` state machine and the ``CircuitBreaker`` policy.

A ``Circuit`` counts consecutive failures of one provider and decides whether
the next request may reach it. It deals in permits and outcomes only, not in
messages: ``CircuitBreaker``, the routing policy that guards one provider,
acquires a permit before each send and records the outcome afterwards.

State is changed under a ``threading.Lock`` that is never held across an
``await``, so one circuit may be read by a metrics exporter thread and used
by notifiers on different event loops at the same time.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from importlib.metadata import PackageNotFoundError, version

from opentelemetry import metrics

from ._errors import (
    CircuitOpen,
    ConfigurationError,
    DeliveryUnknown,
    NotifierError,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
)
from ._models import SendResult, Sms
from ._policy import (
    RoutingPolicy,
    _AttemptLog,
    _check_provider,
    _dispatch,
    _dispatch_batch,
    _now,
)
from ._provider import BatchOutcome, Provider

__all__ = [
    "DEFAULT_FAILURE_TYPES",
    "Circuit",
    "CircuitBreaker",
    "CircuitSnapshot",
    "CircuitState",
    "Permit",
]

logger = logging.getLogger("notifier")

Clock = Callable[[], float]


class CircuitState(str, Enum):
    """State of a circuit breaker."""

    CLOSED = "closed"  # requests pass; consecutive failures are counted
    OPEN = "open"  # requests fail fast with CircuitOpen until reset_timeout has passed
    HALF_OPEN = "half_open"  # one probe request may pass; its outcome closes or reopens

    def __str__(self) -> str:
        # The value on every Python version, as for the other public enums.
        return self.value

    @property
    def gauge_value(self) -> int:
        """The value reported by the ``notifier.circuit.state`` gauge."""
        return _GAUGE_VALUES[self]


_GAUGE_VALUES = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


@dataclass(frozen=True)
class Permit:
    """Admission of one request, returned by ``Circuit.acquire``.

    ``probe`` is true for the single request let through in the half-open
    state. ``generation`` is the number of state changes the circuit had
    made when the request was admitted. An outcome that arrives after a
    later change is ignored, so a slow request admitted while the circuit
    was closed cannot close it again after it opened.
    """

    probe: bool
    generation: int


@dataclass(frozen=True)
class CircuitSnapshot:
    """A consistent reading of a circuit for health reports.

    ``opened_at`` is the wall-clock time (UTC) the circuit last opened, and
    ``retry_in`` the seconds left until a probe is allowed. Both are ``None``
    while the circuit is closed.
    """

    state: CircuitState
    consecutive_failures: int
    failure_threshold: int
    opened_at: datetime | None
    retry_in: float | None


class Circuit:
    """Consecutive-failure counter and open/half-open/closed state of one provider.

    The circuit opens when ``failure_threshold`` failures in a row were
    recorded. While open, ``acquire`` raises ``CircuitOpen``. After
    ``reset_timeout`` seconds (measured with ``clock``) the next request is
    let through as a probe, while every other request still gets
    ``CircuitOpen``. The probe's success closes the circuit, and its failure
    opens it for another ``reset_timeout``.
    """

    def __init__(
        self,
        provider: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        clock: Clock,
    ) -> None:
        _check_threshold(failure_threshold)
        _check_reset_timeout(reset_timeout)
        self.provider = provider
        self.failure_threshold = failure_threshold
        self.reset_timeout = float(reset_timeout)
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._generation = 0
        self._failures = 0
        self._probe_in_flight = False
        self._opened_at: float | None = None  # clock value
        self._opened_at_wall: datetime | None = None
        _circuit_metrics().register(self)

    @property
    def state(self) -> CircuitState:
        """The current state.

        An open circuit whose ``reset_timeout`` has passed reads as
        ``HALF_OPEN``, because the next request will be let through as a
        probe. The stored state changes when that request arrives.
        """
        with self._lock:
            return self._effective_state()

    @property
    def consecutive_failures(self) -> int:
        """Failures recorded since the last success or reset."""
        with self._lock:
            return self._failures

    @property
    def retry_at(self) -> float | None:
        """The ``clock`` value after which a probe is allowed; ``None`` unless open."""
        with self._lock:
            return self._retry_at()

    def snapshot(self) -> CircuitSnapshot:
        """Read state, failure count and timing under one lock."""
        with self._lock:
            state = self._effective_state()
            retry_at = self._retry_at()
            retry_in = None if retry_at is None else max(0.0, retry_at - self._clock())
            return CircuitSnapshot(
                state=state,
                consecutive_failures=self._failures,
                failure_threshold=self.failure_threshold,
                opened_at=self._opened_at_wall if state is not CircuitState.CLOSED else None,
                retry_in=retry_in,
            )

    def acquire(self, client_ref: str | None = None) -> Permit:
        """Admit one request, or raise ``CircuitOpen`` without touching the provider.

        Every permit must be settled with exactly one of ``record_success``,
        ``record_failure`` or ``release``; a probe that is never settled
        keeps every later request out.
        """
        with self._lock:
            if self._state is CircuitState.CLOSED:
                return Permit(probe=False, generation=self._generation)

            now = self._clock()
            if self._state is CircuitState.OPEN:
                retry_at = self._retry_at()
                assert retry_at is not None
                if now < retry_at:
                    raise CircuitOpen(
                        f"Circuit for provider {self.provider!r} is open after "
                        f"{self._failures} consecutive failures; no request was sent. "
                        f"A probe is allowed in {retry_at - now:.1f} s.",
                        provider=self.provider,
                        retry_at=retry_at,
                        client_ref=client_ref,
                    )
                self._change_state(CircuitState.HALF_OPEN)

            if self._probe_in_flight:
                raise CircuitOpen(
                    f"Circuit for provider {self.provider!r} is half-open and its probe "
                    "request is still in flight; no request was sent. Retry when the "
                    "probe has finished.",
                    provider=self.provider,
                    retry_at=now,
                    client_ref=client_ref,
                )
            self._probe_in_flight = True
            return Permit(probe=True, generation=self._generation)

    def record_success(self, permit: Permit) -> None:
        """Settle a permit whose request reached a working provider; closes a half-open circuit."""
        with self._lock:
            self._settle_probe(permit)
            if permit.generation != self._generation:
                return
            self._failures = 0
            if self._state is not CircuitState.CLOSED:
                self._change_state(CircuitState.CLOSED)

    def record_failure(self, permit: Permit) -> None:
        """Settle a permit whose request failed; opens the circuit at the threshold."""
        with self._lock:
            self._settle_probe(permit)
            if permit.generation != self._generation:
                return
            self._failures += 1
            if self._state is CircuitState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._open()

    def release(self, permit: Permit) -> None:
        """Settle a permit whose outcome does not show whether the provider is healthy.

        Used for cancellation and for errors such as ``InvalidMessage``: the
        failure count is unchanged, and a half-open circuit lets the next
        request through as a new probe.
        """
        with self._lock:
            self._settle_probe(permit)

    def reset(self) -> None:
        """Close the circuit and clear the failure count, whatever the state."""
        with self._lock:
            self._failures = 0
            self._probe_in_flight = False
            if self._state is not CircuitState.CLOSED:
                self._change_state(CircuitState.CLOSED)

    # The helpers below expect self._lock to be held.

    def _effective_state(self) -> CircuitState:
        if self._state is CircuitState.OPEN:
            retry_at = self._retry_at()
            if retry_at is not None and self._clock() >= retry_at:
                return CircuitState.HALF_OPEN
        return self._state

    def _retry_at(self) -> float | None:
        if self._state is CircuitState.CLOSED or self._opened_at is None:
            return None
        return self._opened_at + self.reset_timeout

    def _settle_probe(self, permit: Permit) -> None:
        if permit.probe and permit.generation == self._generation:
            self._probe_in_flight = False

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._opened_at_wall = datetime.now(timezone.utc)
        self._change_state(CircuitState.OPEN)

    def _change_state(self, new_state: CircuitState) -> None:
        old_state = self._state
        self._state = new_state
        self._generation += 1
        self._probe_in_flight = False
        _circuit_metrics().transitions.add(
            1,
            {"notifier.provider": self.provider, "notifier.circuit.state": new_state.value},
        )
        if new_state is CircuitState.OPEN:
            logger.warning(
                "Circuit for provider %s opened (was %s) after %d consecutive failures; "
                "requests fail fast for %.1f s",
                self.provider,
                old_state.value,
                self._failures,
                self.reset_timeout,
            )
        elif new_state is CircuitState.HALF_OPEN:
            logger.info("Circuit for provider %s is half-open; sending one probe", self.provider)
        else:
            logger.info("Circuit for provider %s closed (was %s)", self.provider, old_state.value)


def _check_threshold(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"Circuit breaker failure_threshold must be a whole number of at least 1, "
            f"got {value!r}; pass for example failure_threshold=5."
        )


def _check_reset_timeout(value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError(
            f"Circuit breaker reset_timeout must be a positive number of seconds, "
            f"got {value!r}; pass for example reset_timeout=30.0."
        )


DEFAULT_FAILURE_TYPES: tuple[type[NotifierError], ...] = (
    ProviderUnavailable,
    RateLimitedError,
    DeliveryUnknown,
)
"""Errors a ``CircuitBreaker`` counts as failures of its provider by default."""


# --- circuit breaker ---


class CircuitBreaker(RoutingPolicy):
    """Stop sending to a provider that keeps failing, and probe it again later.

    Counts consecutive failures of ``provider``. After ``failure_threshold``
    of them the circuit opens: ``send`` raises ``CircuitOpen`` (a
    ``ProviderUnavailable``, so ``Failover`` moves on) without touching the
    provider. ``reset_timeout`` seconds later, measured with ``clock``, one
    request is let through as a probe; callers that arrive while it is in
    flight get ``CircuitOpen``. The probe's success closes the circuit; its
    failure opens it for another ``reset_timeout``.

    Failures are the errors in ``failure_types``: by default
    ``ProviderUnavailable``, ``RateLimitedError`` and ``DeliveryUnknown``. A
    ``DeliveryUnknown`` counts because a timeout is a sign of trouble, but
    ``Failover`` still never resends after it. A sent message and a
    ``RejectedError`` reset the count, because a rejection shows that the
    vendor processed the request. Any other outcome, such as ``AuthenticationError``,
    ``InvalidMessage`` or cancellation, leaves the count unchanged.

    The breaker takes the name and capabilities of its provider, so
    ``SendResult.provider`` and attempt records show the vendor.
    """

    def __init__(
        self,
        provider: Provider,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        clock: Clock = time.monotonic,
        failure_types: tuple[type[BaseException], ...] = DEFAULT_FAILURE_TYPES,
    ) -> None:
        super().__init__()
        self.provider = _check_provider(provider, "CircuitBreaker(provider)")
        self.circuit = Circuit(
            self.provider.name,
            failure_threshold=failure_threshold,
            reset_timeout=reset_timeout,
            clock=clock,
        )
        self.failure_types = failure_types
        self._name = self.provider.name
        self._capabilities = self.provider.capabilities

    @property
    def children(self) -> tuple[Provider, ...]:
        return (self.provider,)

    @property
    def state(self) -> CircuitState:
        """The circuit's state; see ``Circuit.state``."""
        return self.circuit.state

    def reset(self) -> None:
        """Close the circuit and clear its failure count."""
        self.circuit.reset()

    async def _route(self, message: Sms, log: _AttemptLog) -> SendResult:
        started_at, started = _now()
        try:
            permit = self.circuit.acquire(message.client_ref)
        except CircuitOpen as error:
            log.record(self.name, started_at, started, error)
            raise

        try:
            result = await _dispatch(self.provider, message, log)
        except BaseException as error:
            self._settle_error(permit, error)
            raise
        self.circuit.record_success(permit)
        return result

    async def _route_batch(
        self, messages: list[Sms], logs: list[_AttemptLog]
    ) -> list[BatchOutcome]:
        started_at, started = _now()
        client_ref = messages[0].client_ref if len(messages) == 1 else None
        try:
            permit = self.circuit.acquire(client_ref)
        except CircuitOpen as error:
            for log in logs:
                log.record(self.name, started_at, started, error)
            raise

        try:
            outcomes = await _dispatch_batch(self.provider, messages, logs)
        except BaseException as error:
            self._settle_error(permit, error)
            raise
        # One batch request counts as one outcome: healthy if the vendor
        # accepted or judged any message, failed if every message failed.
        if any(isinstance(outcome, (SendResult, RejectedError)) for outcome in outcomes):
            self.circuit.record_success(permit)
        elif outcomes and all(isinstance(outcome, self.failure_types) for outcome in outcomes):
            self.circuit.record_failure(permit)
        else:
            self.circuit.release(permit)
        return outcomes

    def _settle_error(self, permit: Permit, error: BaseException) -> None:
        if isinstance(error, self.failure_types):
            self.circuit.record_failure(permit)
        elif isinstance(error, RejectedError):
            self.circuit.record_success(permit)
        else:
            self.circuit.release(permit)


class _CircuitMetrics:
    """The circuit instruments on the ``notifier`` meter, shared by every circuit."""

    def __init__(self) -> None:
        meter = metrics.get_meter("notifier", _package_version())
        self.transitions = meter.create_counter(
            "notifier.circuit.transitions",
            unit="{transition}",
            description="Circuit breaker state changes, by provider and new state.",
        )
        self._circuits: weakref.WeakSet[Circuit] = weakref.WeakSet()
        self._lock = threading.Lock()
        meter.create_observable_gauge(
            "notifier.circuit.state",
            callbacks=[self._observe],
            unit="1",
            description="Circuit breaker state per provider: 0 closed, 1 half-open, 2 open.",
        )

    def register(self, circuit: Circuit) -> None:
        with self._lock:
            self._circuits.add(circuit)

    def _observe(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        with self._lock:
            circuits = list(self._circuits)
        return [
            metrics.Observation(circuit.state.gauge_value, {"notifier.provider": circuit.provider})
            for circuit in circuits
        ]


_metrics: _CircuitMetrics | None = None
_metrics_lock = threading.Lock()


def _circuit_metrics() -> _CircuitMetrics:
    # Created on first use, not at import, so importing notifier registers
    # no instruments.
    global _metrics
    with _metrics_lock:
        if _metrics is None:
            _metrics = _CircuitMetrics()
        return _metrics


def _package_version() -> str:
    try:
        return version("notifier-core")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"
