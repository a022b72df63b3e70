"""CircuitBreaker and the Circuit state machine, driven by a controllable clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from notifier import (
    AuthenticationError,
    CircuitBreaker,
    CircuitOpen,
    CircuitState,
    ConfigurationError,
    DeliveryUnknown,
    Failover,
    InvalidMessage,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
    Sms,
)
from notifier._circuit import Circuit
from tests.core.test_routing import (
    UZ_NUMBER,
    ScriptedProvider,
    make_provider,
    next_ref,
    unavailable,
)


class FakeClock:
    """A monotonic clock that moves only when the test advances it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def eskiz() -> ScriptedProvider:
    return make_provider("eskiz")


def breaker_for(
    provider: ScriptedProvider, clock: FakeClock, threshold: int = 3, reset: float = 30.0
) -> CircuitBreaker:
    return CircuitBreaker(provider, failure_threshold=threshold, reset_timeout=reset, clock=clock)


def state_of(breaker: CircuitBreaker) -> CircuitState:
    # A function call, so mypy does not narrow the property between checks.
    return breaker.state


def new_sms() -> Sms:
    return Sms(UZ_NUMBER, "Hisobingiz to'ldirildi", client_ref=next_ref())


async def fail_times(breaker: CircuitBreaker, provider: ScriptedProvider, times: int) -> None:
    provider.fail_next(*[unavailable(provider.name) for _ in range(times)])
    for _ in range(times):
        with pytest.raises(ProviderUnavailable):
            await breaker.send(new_sms())


async def open_circuit(breaker: CircuitBreaker, provider: ScriptedProvider) -> None:
    await fail_times(breaker, provider, breaker.circuit.failure_threshold)
    assert state_of(breaker) is CircuitState.OPEN


class TestOpening:
    async def test_opens_exactly_at_threshold(
        self, eskiz: ScriptedProvider, clock: FakeClock
    ) -> None:
        breaker = breaker_for(eskiz, clock, threshold=3)

        await fail_times(breaker, eskiz, 2)
        assert state_of(breaker) is CircuitState.CLOSED
        assert breaker.circuit.consecutive_failures == 2

        await fail_times(breaker, eskiz, 1)
        assert state_of(breaker) is CircuitState.OPEN
        assert breaker.circuit.consecutive_failures == 3

    async def test_no_traffic_while_open(self, eskiz: ScriptedProvider, clock: FakeClock) -> None:
        breaker = breaker_for(eskiz, clock, threshold=2, reset=30)
        await open_circuit(breaker, eskiz)
        clock.advance(29.9)
        message = new_sms()

        with pytest.raises(CircuitOpen) as caught:
            await breaker.send(message)

        assert len(eskiz.received) == 2
        assert caught.value.retry_at == pytest.approx(1030.0)
        assert caught.value.client_ref == message.client_ref
        assert caught.value.provider == "eskiz"
        assert isinstance(caught.value, ProviderUnavailable)
        assert [a.outcome for a in caught.value.provider_attempts] == ["CircuitOpen"]

    async def test_success_resets_count(self, eskiz: ScriptedProvider, clock: FakeClock) -> None:
        breaker = breaker_for(eskiz, clock, threshold=3)

        await fail_times(breaker, eskiz, 2)
        await breaker.send(new_sms())
        await fail_times(breaker, eskiz, 2)

        assert state_of(breaker) is CircuitState.CLOSED
        assert breaker.circuit.consecutive_failures == 2

    @pytest.mark.parametrize(
        "error",
        [
            RateLimitedError("HTTP 429", provider="eskiz"),
            DeliveryUnknown("read timed out", provider="eskiz"),
            ProviderUnavailable("HTTP 502", provider="eskiz", status_code=502),
        ],
        ids=["rate-limited", "delivery-unknown", "unavailable"],
    )
    async def test_counted_errors(
        self, eskiz: ScriptedProvider, clock: FakeClock, error: Exception
    ) -> None:
        breaker = breaker_for(eskiz, clock, threshold=1)
        eskiz.fail_next(error)

        with pytest.raises(type(error)):
            await breaker.send(new_sms())

        assert state_of(breaker) is CircuitState.OPEN

    async def test_rejection_resets_count(self, eskiz: ScriptedProvider, clock: FakeClock) -> None:
        breaker = breaker_for(eskiz, clock, threshold=3)
        await fail_times(breaker, eskiz, 2)
        eskiz.fail_next(RejectedError("insufficient balance", provider="eskiz"))

        with pytest.raises(RejectedError):
            await breaker.send(new_sms())

        assert breaker.circuit.consecutive_failures == 0

    @pytest.mark.parametrize(
        "error",
        [
            AuthenticationError("password rejected", provider="eskiz"),
            InvalidMessage("Sms.body is empty"),
        ],
        ids=["authentication", "invalid-message"],
    )
    async def test_neutral_errors_keep_count(
        self, eskiz: ScriptedProvider, clock: FakeClock, error: Exception
    ) -> None:
        breaker = breaker_for(eskiz, clock, threshold=3)
        await fail_times(breaker, eskiz, 2)
        eskiz.fail_next(error)

        with pytest.raises(type(error)):
            await breaker.send(new_sms())

        assert breaker.circuit.consecutive_failures == 2
        assert state_of(breaker) is CircuitState.CLOSED

    async def test_custom_failure_types(self, eskiz: ScriptedProvider, clock: FakeClock) -> None:
        breaker = CircuitBreaker(
            eskiz,
            failure_threshold=1,
            clock=clock,
            failure_types=(ProviderUnavailable, AuthenticationError),
        )
        eskiz.fail_next(AuthenticationError("password rejected", provider="eskiz"))

        with pytest.raises(AuthenticationError):
            await breaker.send(new_sms())

        assert state_of(breaker) is CircuitState.OPEN

    async def test_late_success_does_not_close(
        self, eskiz: ScriptedProvider, clock: FakeClock
    ) -> None:
        breaker = breaker_for(eskiz, clock, threshold=1)
        eskiz.gate = asyncio.Event()
        first = asyncio.create_task(breaker.send(new_sms()))
        second = asyncio.create_task(breaker.send(new_sms()))
        await eskiz.wait_for_calls(2)
        # Both were admitted while the circuit was closed. The first to
        # finish fails and opens it; the second succeeds afterwards.
        eskiz.fail_next(unavailable("eskiz"))

        eskiz.gate.set()
        results = await asyncio.gather(first, second, return_exceptions=True)

        assert sum(isinstance(r, ProviderUnavailable) for r in results) == 1
        assert state_of(breaker) is CircuitState.OPEN


class TestHalfOpen:
    async def test_half_open_after_reset_timeout(
        self, eskiz: ScriptedProvider, clock: FakeClock
    ) -> None:
        breaker = breaker_for(eskiz, clock, threshold=2, reset=30)
        await open_circuit(breaker, eskiz)

        clock.advance(30)

        assert state_of(breaker) is CircuitState.HALF_OPEN
        result = await breaker.send(new_sms())
        assert result.provider == "eskiz"
        assert state_of(breaker) is CircuitState.CLOSED
        assert breaker.circuit.consecutive_failures == 0

    async def test_single_probe_under_concurrency(
        self, eskiz: ScriptedProvider, clock: FakeClock
    ) -> None:
        breaker = breaker_for(eskiz, clock, threshold=1)
        await open_circuit(breaker, eskiz)
        clock.advance(30)
        eskiz.gate = asyncio.Event()

        probe = asyncio.create_task(breaker.send(new_sms()))
        await eskiz.wait_for_calls(2)
        others = await asyncio.gather(
            *(breaker.send(new_sms()) for _ in range(10)), return_exceptions=True
        )

        assert all(isinstance(outcome, CircuitOpen) for outcome in others)
        assert "probe request is still in flight" in str(others[0])
        assert len(eskiz.received) == 2
        eskiz.gate.set()
        await asyncio.wait_for(probe, timeout=2)
        assert state_of(breaker) is CircuitState.CLOSED
        eskiz.gate = None
        await asyncio.gather(*(breaker.send(new_sms()) for _ in range(5)))
        assert len(eskiz.received) == 7

    async def test_probe_failure_reopens(self, eskiz: ScriptedProvider, clock: FakeClock) -> None:
        breaker = breaker_for(eskiz, clock, threshold=2, reset=30)
        await open_circuit(breaker, eskiz)
        clock.advance(31)

        await fail_times(breaker, eskiz, 1)

        assert state_of(breaker) is CircuitState.OPEN
        assert breaker.circuit.retry_at == pytest.approx(clock.now + 30)
        assert breaker.circuit.consecutive_failures == 3
        with pytest.raises(CircuitOpen):
            await breaker.send(new_sms())
        assert len(eskiz.received) == 3

    async def test_cancelled_probe_frees_slot(
        self, eskiz: ScriptedProvider, clock: FakeClock
    ) -> None:
        breaker = breaker_for(eskiz, clock, threshold=1)
        await open_circuit(breaker, eskiz)
        clock.advance(30)
        eskiz.gate = asyncio.Event()
        probe = asyncio.create_task(breaker.send(new_sms()))
        await eskiz.wait_for_calls(2)

        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        eskiz.gate = None

        assert state_of(breaker) is CircuitState.HALF_OPEN
        await breaker.send(new_sms())
        assert state_of(breaker) is CircuitState.CLOSED

    async def test_neutral_probe_frees_slot(
        self, eskiz: ScriptedProvider, clock: FakeClock
    ) -> None:
        breaker = breaker_for(eskiz, clock, threshold=1)
        await open_circuit(breaker, eskiz)
        clock.advance(30)
        eskiz.fail_next(AuthenticationError("password rejected", provider="eskiz"))

        with pytest.raises(AuthenticationError):
            await breaker.send(new_sms())

        assert state_of(breaker) is CircuitState.HALF_OPEN
        await breaker.send(new_sms())
        assert state_of(breaker) is CircuitState.CLOSED

    async def test_reset_closes(self, eskiz: ScriptedProvider, clock: FakeClock) -> None:
        breaker = breaker_for(eskiz, clock, threshold=1)
        await open_circuit(breaker, eskiz)

        breaker.reset()

        assert state_of(breaker) is CircuitState.CLOSED
        assert breaker.circuit.consecutive_failures == 0
        await breaker.send(new_sms())


class TestFailoverWithBreaker:
    async def test_eskiz_down_twilio_takes_over(self, clock: FakeClock) -> None:
        eskiz = make_provider("eskiz")
        twilio = make_provider("twilio")
        policy = Failover(
            [eskiz, twilio],
            breaker=lambda p: CircuitBreaker(p, failure_threshold=3, reset_timeout=60, clock=clock),
        )
        eskiz.fail_next(*[unavailable("eskiz") for _ in range(3)])

        results = [await policy.send(new_sms()) for _ in range(10)]

        assert [r.provider for r in results] == ["twilio"] * 10
        assert len(eskiz.received) == 3
        assert [a.outcome for a in results[-1].attempts] == ["CircuitOpen", "sent"]

        clock.advance(60)
        recovered = await policy.send(new_sms())

        assert recovered.provider == "eskiz"
        assert len(eskiz.received) == 4
        assert len(twilio.received) == 10


class TestObservability:
    async def test_transitions_logged(
        self, eskiz: ScriptedProvider, clock: FakeClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        breaker = breaker_for(eskiz, clock, threshold=1)

        with caplog.at_level(logging.INFO, logger="notifier"):
            await open_circuit(breaker, eskiz)
            clock.advance(30)
            await breaker.send(new_sms())

        transitions = [
            (record.levelno, record.getMessage())
            for record in caplog.records
            if record.getMessage().startswith("Circuit")
        ]
        assert [level for level, _ in transitions] == [
            logging.WARNING,
            logging.INFO,
            logging.INFO,
        ]
        assert "opened" in transitions[0][1]
        assert "half-open" in transitions[1][1]
        assert "closed" in transitions[2][1]

    async def test_metrics(self, clock: FakeClock, metric_reader: InMemoryMetricReader) -> None:
        provider = make_provider("metered-eskiz")
        breaker = breaker_for(provider, clock, threshold=1)

        await open_circuit(breaker, provider)

        points = dict(collect_points(metric_reader, "metered-eskiz"))
        assert points[("notifier.circuit.state", None)] == 2
        assert points[("notifier.circuit.transitions", "open")] == 1

        clock.advance(30)
        await breaker.send(new_sms())

        points = dict(collect_points(metric_reader, "metered-eskiz"))
        assert points[("notifier.circuit.state", None)] == 0
        assert points[("notifier.circuit.transitions", "half_open")] == 1
        assert points[("notifier.circuit.transitions", "closed")] == 1


def collect_points(
    reader: InMemoryMetricReader, provider: str
) -> Iterator[tuple[tuple[str, str | None], float]]:
    """Yield ((metric name, circuit state attribute), value) for one provider."""
    data = reader.get_metrics_data()
    assert data is not None
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if not metric.name.startswith("notifier.circuit."):
                    continue
                for point in metric.data.data_points:
                    assert isinstance(point, NumberDataPoint)
                    attributes = dict(point.attributes or {})
                    if attributes.get("notifier.provider") != provider:
                        continue
                    state = attributes.get("notifier.circuit.state")
                    yield (metric.name, None if state is None else str(state)), point.value


class TestValidation:
    @pytest.mark.parametrize("threshold", [0, -1, 2.5, True, "5"])
    def test_bad_threshold(self, eskiz: ScriptedProvider, threshold: object) -> None:
        with pytest.raises(ConfigurationError, match="failure_threshold"):
            CircuitBreaker(eskiz, failure_threshold=threshold)  # type: ignore[arg-type]

    @pytest.mark.parametrize("reset", [0, -5, float("inf"), float("nan"), "30"])
    def test_bad_reset_timeout(self, eskiz: ScriptedProvider, reset: object) -> None:
        with pytest.raises(ConfigurationError, match="reset_timeout"):
            CircuitBreaker(eskiz, reset_timeout=reset)  # type: ignore[arg-type]

    def test_takes_provider_name_and_capabilities(self, eskiz: ScriptedProvider) -> None:
        breaker = CircuitBreaker(eskiz)

        assert breaker.name == "eskiz"
        assert breaker.capabilities is eskiz.capabilities
        assert breaker.children == (eskiz,)


class TestCircuitDirectly:
    def test_unsettled_probe_blocks(self, clock: FakeClock) -> None:
        circuit = Circuit("direct", failure_threshold=1, reset_timeout=5, clock=clock)
        circuit.record_failure(circuit.acquire())
        clock.advance(5)

        probe = circuit.acquire()

        assert probe.probe is True
        with pytest.raises(CircuitOpen):
            circuit.acquire()
        circuit.release(probe)
        assert circuit.acquire().probe is True

    def test_snapshot(self, clock: FakeClock) -> None:
        circuit = Circuit("direct", failure_threshold=2, reset_timeout=10, clock=clock)
        circuit.record_failure(circuit.acquire())

        closed = circuit.snapshot()
        circuit.record_failure(circuit.acquire())
        clock.advance(4)
        opened = circuit.snapshot()

        assert closed.state is CircuitState.CLOSED
        assert closed.consecutive_failures == 1
        assert closed.opened_at is None
        assert closed.retry_in is None
        assert opened.state is CircuitState.OPEN
        assert opened.retry_in == pytest.approx(6.0)
        assert opened.opened_at is not None


def test_circuit_state_prints_value() -> None:
    assert str(CircuitState.HALF_OPEN) == "half_open"
    assert f"{CircuitState.OPEN}" == "open"
