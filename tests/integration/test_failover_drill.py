"""Failover drills: Eskiz down, Eskiz slow, and routing by country.

Both vendors are real providers talking HTTP to their simulators on
loopback ports. The Eskiz circuit breaker reads a clock that moves only when
a test advances it, and retry waits are instant, so a drill of a thousand
messages takes a few seconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from notifier import (
    AsyncNotifier,
    ByCountry,
    CircuitBreaker,
    CircuitState,
    DeliveryUnknown,
    Failover,
    NotifierError,
    SendResult,
    Sms,
    instant_retries,
    provider_health,
)
from notifier._plugins import new_plugin_manager
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import EskizSimulator
from notifier_twilio import TwilioProvider
from notifier_twilio.simulator import TwilioSimulator
from tests._audit import LeakAudit

MESSAGES = 1000
FAILURE_THRESHOLD = 5
RESET_TIMEOUT = 30.0  # seconds on the breaker's clock
LOGIN_PATH = "/auth/login"
SEND_PATH = "/message/sms/send"

UZ_NUMBER = "+998900000020"
GB_NUMBER = "+447400123456"


class ManualClock:
    """A monotonic clock for the circuit breaker that moves only on ``advance()``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def state_of(breaker: CircuitBreaker) -> CircuitState:
    # A call, not the attribute: mypy would keep the state narrowed by an
    # earlier assert across the clock change.
    return breaker.state


def uzbek_message(index: int) -> Sms:
    """Build message ``index`` of the drill: Latin and Cyrillic Uzbek in turn, fake numbers."""
    to = f"+99890000{index:04}"
    if index % 2:
        body = f"Hurmatli mijoz, {index}-buyurtmangiz qabul qilindi. Rahmat!"
    else:
        body = f"Ҳурматли мижоз, {index}-буюртмангиз қабул қилинди. Раҳмат!"
    return Sms(to, body, client_ref=f"drill-{index:04}")


@pytest.fixture
def instant() -> Iterator[list[float]]:
    with instant_retries() as waits:
        yield waits


@pytest.fixture
def twilio_sim(leak_audit: LeakAudit) -> Iterator[TwilioSimulator]:
    with TwilioSimulator(auto_progress=False, seed=3) as simulator:
        leak_audit.secret(simulator.auth_token)
        yield simulator


@pytest.fixture
async def twilio(twilio_sim: TwilioSimulator) -> AsyncIterator[TwilioProvider]:
    provider = TwilioProvider(
        account_sid=twilio_sim.account_sid,
        auth_token=twilio_sim.auth_token,
        sender=twilio_sim.sender,
        base_url=twilio_sim.base_url,
    )
    yield provider
    await provider.aclose()


def eskiz_for(
    sim: EskizSimulator, leak_audit: LeakAudit, read_timeout: float = 5.0
) -> EskizProvider:
    leak_audit.secret(sim.password)
    return EskizProvider(
        email=sim.email,
        password=sim.password,
        base_url=sim.base_url,
        timeout=httpx.Timeout(5.0, read=read_timeout),
    )


@pytest.mark.slow
async def test_eskiz_down_fails_over_to_twilio(
    instant: list[float],
    leak_audit: LeakAudit,
    twilio_sim: TwilioSimulator,
    twilio: TwilioProvider,
) -> None:
    clock = ManualClock()
    with EskizSimulator(fail_rate=1.0, seed=3) as eskiz_sim:
        eskiz = eskiz_for(eskiz_sim, leak_audit)
        attempts_per_send = eskiz.retry_policy.attempts
        breaker = CircuitBreaker(
            eskiz,
            failure_threshold=FAILURE_THRESHOLD,
            reset_timeout=RESET_TIMEOUT,
            clock=clock,
        )
        messages = [uzbek_message(index) for index in range(MESSAGES)]
        notifier = AsyncNotifier(Failover([breaker, twilio]), plugins=new_plugin_manager())
        results: list[SendResult | NotifierError] = []

        # Phase 1, one at a time: every send tries Eskiz, whose login fails
        # on each retry, until the circuit opens at the threshold.
        for index in range(FAILURE_THRESHOLD):
            assert state_of(breaker) is CircuitState.CLOSED, f"circuit opened at send {index}"
            results.append(await notifier.send(messages[index]))
        assert state_of(breaker) is CircuitState.OPEN
        requests_when_opened = sum(eskiz_sim.stats.requests.values())
        assert requests_when_opened == FAILURE_THRESHOLD * attempts_per_send
        assert eskiz_sim.stats.requests[LOGIN_PATH] == requests_when_opened
        assert eskiz_sim.stats.requests[SEND_PATH] == 0

        # Phase 2, concurrently: the open circuit keeps every send away from Eskiz.
        bulk = messages[FAILURE_THRESHOLD : MESSAGES - 1]
        results += await notifier.send_many(bulk, concurrency=16)
        assert sum(eskiz_sim.stats.requests.values()) == requests_when_opened
        assert state_of(breaker) is CircuitState.OPEN

        # Phase 3: after the reset timeout one probe reaches Eskiz, fails,
        # and opens the circuit again; the message still goes out via Twilio.
        clock.advance(RESET_TIMEOUT)
        assert state_of(breaker) is CircuitState.HALF_OPEN
        results.append(await notifier.send(messages[-1]))
        assert state_of(breaker) is CircuitState.OPEN
        probe_requests = sum(eskiz_sim.stats.requests.values()) - requests_when_opened
        assert probe_requests == attempts_per_send

        health = {entry.provider: entry for entry in provider_health(notifier.provider)}
        await notifier.aclose()

    assert twilio_sim.stats.sends == MESSAGES
    assert eskiz_sim.stats.sends == 0
    assert health["eskiz"].state is CircuitState.OPEN
    assert health["twilio"].state is CircuitState.CLOSED

    assert all(isinstance(result, SendResult) for result in results), [
        result for result in results if not isinstance(result, SendResult)
    ][:3]
    sent = [result for result in results if isinstance(result, SendResult)]
    assert [result.client_ref for result in sent] == [message.client_ref for message in messages]
    assert {result.provider for result in sent} == {"twilio"}

    # Each result lists Eskiz's failure before Twilio's success.
    eskiz_outcomes = [result.attempts[0].outcome for result in sent]
    assert all(result.attempts[0].provider == "eskiz" for result in sent)
    assert all(result.attempts[-1].provider == "twilio" for result in sent)
    assert eskiz_outcomes[:FAILURE_THRESHOLD] == ["ProviderUnavailable"] * FAILURE_THRESHOLD
    assert set(eskiz_outcomes[FAILURE_THRESHOLD:-1]) == {"CircuitOpen"}
    assert eskiz_outcomes[-1] == "ProviderUnavailable"


async def test_eskiz_timeout_does_not_fail_over(
    instant: list[float],
    leak_audit: LeakAudit,
    twilio_sim: TwilioSimulator,
    twilio: TwilioProvider,
) -> None:
    with EskizSimulator(seed=4) as eskiz_sim:
        eskiz = eskiz_for(eskiz_sim, leak_audit, read_timeout=0.5)
        notifier = AsyncNotifier(Failover([eskiz, twilio]), plugins=new_plugin_manager())
        # The simulator stores the message at once and delays only the
        # response, so the send did reach Eskiz.
        eskiz_sim.delay_next(1.0, path=SEND_PATH)
        message = uzbek_message(7)

        with pytest.raises(DeliveryUnknown) as caught:
            await notifier.send(message)
        await notifier.aclose()

    error = caught.value
    assert error.provider == "eskiz"
    assert error.client_ref == message.client_ref
    assert [attempt.provider for attempt in error.provider_attempts] == ["eskiz"]
    assert error.provider_attempts[0].outcome == "DeliveryUnknown"
    assert eskiz_sim.stats.requests[SEND_PATH] == 1
    assert eskiz_sim.stats.sends == 1
    assert twilio_sim.stats.sends == 0
    assert sum(twilio_sim.stats.requests.values()) == 0


async def test_by_country_routes_each_vendor(
    instant: list[float],
    leak_audit: LeakAudit,
    twilio_sim: TwilioSimulator,
    twilio: TwilioProvider,
) -> None:
    with EskizSimulator(seed=5) as eskiz_sim:
        eskiz = eskiz_for(eskiz_sim, leak_audit)
        notifier = AsyncNotifier(
            ByCountry({"UZ": eskiz}, default=twilio), plugins=new_plugin_manager()
        )

        uzbek = await notifier.send(Sms(UZ_NUMBER, "Buyurtmangiz jo'natildi, ertaga yetkaziladi."))
        assert eskiz_sim.stats.sends == 1
        assert twilio_sim.stats.sends == 0

        british = await notifier.send(Sms(GB_NUMBER, "Your order is on its way."))
        assert eskiz_sim.stats.sends == 1
        assert twilio_sim.stats.sends == 1
        await notifier.aclose()

    assert uzbek.provider == "eskiz"
    assert british.provider == "twilio"
    assert [message.to for message in eskiz_sim.messages] == [UZ_NUMBER.lstrip("+")]
    assert [message.to for message in twilio_sim.messages.values()] == [GB_NUMBER]
