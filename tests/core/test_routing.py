"""Routing policies: Failover, ByCountry, Weighted, batches, health and the env builder."""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
from collections.abc import Sequence
from typing import ClassVar

import pluggy
import pytest

from notifier import (
    AsyncNotifier,
    AuthenticationError,
    ByCountry,
    Capabilities,
    CircuitBreaker,
    CircuitOpen,
    CircuitState,
    ConfigurationError,
    DeliveryUnknown,
    Failover,
    InvalidMessage,
    NoRouteError,
    NotifierClosed,
    NotifierError,
    Provider,
    ProviderError,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
    RoutingPolicy,
    SendResult,
    SendStatus,
    Sms,
    UnsupportedFeature,
    Weighted,
    hookimpl,
    provider_health,
)
from notifier._models import Encoding
from notifier._plugins import new_plugin_manager
from notifier._provider import BatchOutcome
from notifier._routing_env import build_policy_from_env
from notifier.testing import FakeProvider

UZ_NUMBER = "+998900000001"
UZ_OTHER_NUMBER = "+998950000002"
GB_NUMBER = "+447400123456"
US_NUMBER = "+12015550123"

Outcome = BaseException | None  # None: accept the message

_REF_NUMBERS = itertools.count()


def next_ref() -> str:
    """Return a client_ref without long digit runs.

    A generated hex ref can contain 11 or more digits in a row, which the
    session's leak audit reads as a phone number in the log lines that name
    the ref.
    """
    return f"ref-{next(_REF_NUMBERS)}"


class ScriptedProvider(Provider):
    """A vendor stand-in whose outcomes are scripted per call.

    Each ``send`` records the message object it got, then takes the next
    scripted outcome: ``None`` accepts the message, an exception is raised.
    With no script left it accepts. ``gate``, when set, is awaited before
    the outcome is applied, so a test can hold a send in flight.
    """

    name: ClassVar[str] = "scripted"

    def __init__(self) -> None:
        self.received: list[Sms] = []
        self.batches: list[list[Sms]] = []
        self.script: collections.deque[Outcome] = collections.deque()
        self.batch_script: collections.deque[Outcome | list[Outcome]] = collections.deque()
        self.gate: asyncio.Event | None = None
        self._arrived = asyncio.Event()
        self.close_calls = 0
        self.closed = False

    def fail_next(self, *outcomes: Outcome) -> None:
        self.script.extend(outcomes)

    async def wait_for_calls(self, count: int) -> None:
        """Wait until ``count`` sends have started; fails after 2 s as a hang guard."""

        async def arrivals() -> None:
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(arrivals(), timeout=2)

    def _result(self, message: Sms) -> SendResult:
        return SendResult(
            provider=self.name,
            message_id=f"{self.name}-{len(self.received)}",
            client_ref=message.client_ref,
            status=SendStatus.QUEUED,
            segments=1,
            encoding=Encoding.GSM7,
        )

    async def send(self, message: Sms) -> SendResult:
        if self.closed:
            raise NotifierClosed(f"{self.name} is closed")
        self.received.append(message)
        self._arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        outcome = self.script.popleft() if self.script else None
        if outcome is not None:
            raise outcome
        return self._result(message)

    async def send_batch(self, messages: Sequence[Sms]) -> list[BatchOutcome]:
        if not self.capabilities.batch:
            return await super().send_batch(messages)
        self.batches.append(list(messages))
        self.received.extend(messages)
        scripted = self.batch_script.popleft() if self.batch_script else None
        if isinstance(scripted, BaseException):
            raise scripted
        per_message = scripted or [None] * len(messages)
        return [
            self._result(message) if outcome is None else outcome  # type: ignore[misc]
            for message, outcome in zip(messages, per_message, strict=True)
        ]

    async def aclose(self) -> None:
        self.close_calls += 1
        self.closed = True


def make_provider(
    name: str, *, countries: set[str] | None = None, batch: bool = False
) -> ScriptedProvider:
    """Build a ScriptedProvider subclass instance with its own name and capabilities."""
    capabilities = Capabilities(
        batch=batch,
        max_batch_size=500 if batch else None,
        countries=frozenset(countries) if countries is not None else None,
    )
    cls = type(
        f"{name.title()}Provider",
        (ScriptedProvider,),
        {"name": name, "capabilities": capabilities},
    )
    provider: ScriptedProvider = cls()
    return provider


def unavailable(name: str) -> ProviderUnavailable:
    return ProviderUnavailable("HTTP 503 from the vendor", provider=name, status_code=503)


@pytest.fixture
def eskiz() -> ScriptedProvider:
    return make_provider("eskiz", countries={"UZ"})


@pytest.fixture
def twilio() -> ScriptedProvider:
    return make_provider("twilio")


@pytest.fixture
def sms() -> Sms:
    return Sms(UZ_NUMBER, "Kod: 4512. Uni hech kimga aytmang.", client_ref=next_ref())


# --- Failover ---


class TestFailover:
    async def test_first_provider_sends(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider, sms: Sms
    ) -> None:
        result = await Failover([eskiz, twilio]).send(sms)

        assert result.provider == "eskiz"
        assert len(eskiz.received) == 1
        assert twilio.received == []
        assert [a.provider for a in result.attempts] == ["eskiz"]
        assert result.attempts[0].outcome == "sent"

    @pytest.mark.parametrize(
        "error",
        [
            ProviderUnavailable("HTTP 503", provider="eskiz", status_code=503),
            RateLimitedError("HTTP 429", provider="eskiz", retry_after=2.0),
            AuthenticationError("credentials rejected", provider="eskiz", status_code=401),
            CircuitOpen("circuit open", provider="eskiz", retry_at=10.0),
        ],
        ids=["unavailable", "rate-limited", "authentication", "circuit-open"],
    )
    async def test_fails_over_when_not_accepted(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider, sms: Sms, error: ProviderError
    ) -> None:
        eskiz.fail_next(error)

        result = await Failover([eskiz, twilio], breaker=None).send(sms)

        assert result.provider == "twilio"
        assert [a.provider for a in result.attempts] == ["eskiz", "twilio"]
        assert result.attempts[0].outcome == type(error).__name__
        assert result.attempts[0].error == str(error)
        assert result.attempts[1].outcome == "sent"
        assert result.attempts[1].error is None

    async def test_never_after_delivery_unknown(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider, sms: Sms
    ) -> None:
        eskiz.fail_next(
            DeliveryUnknown("read timed out", provider="eskiz", client_ref=sms.client_ref)
        )

        with pytest.raises(DeliveryUnknown) as caught:
            await Failover([eskiz, twilio]).send(sms)

        assert twilio.received == []
        assert caught.value.client_ref == sms.client_ref
        assert [a.outcome for a in caught.value.provider_attempts] == ["DeliveryUnknown"]

    async def test_delivery_unknown_after_failover(self, eskiz: ScriptedProvider, sms: Sms) -> None:
        twilio = make_provider("twilio")
        backup = make_provider("backup")
        eskiz.fail_next(unavailable("eskiz"))
        twilio.fail_next(DeliveryUnknown("HTTP 504", provider="twilio", status_code=504))

        with pytest.raises(DeliveryUnknown):
            await Failover([eskiz, twilio, backup]).send(sms)

        assert backup.received == []

    async def test_rejection_stops_by_default(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider, sms: Sms
    ) -> None:
        eskiz.fail_next(RejectedError("number is blacklisted", provider="eskiz"))

        with pytest.raises(RejectedError):
            await Failover([eskiz, twilio]).send(sms)

        assert twilio.received == []

    async def test_rejection_fails_over_when_enabled(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider, sms: Sms
    ) -> None:
        eskiz.fail_next(RejectedError("text failed moderation", provider="eskiz"))

        policy = Failover([eskiz, twilio], fail_over_on_rejection=True)
        result = await policy.send(sms)

        assert result.provider == "twilio"
        assert [a.outcome for a in result.attempts] == ["RejectedError", "sent"]

    async def test_invalid_recipient_never_fails_over(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider, sms: Sms
    ) -> None:
        class InvalidRecipient(InvalidMessage, RejectedError):
            pass

        eskiz.fail_next(InvalidRecipient("recipient is not a mobile number", provider="eskiz"))

        policy = Failover([eskiz, twilio], fail_over_on_rejection=True)
        with pytest.raises(InvalidRecipient):
            await policy.send(sms)

        assert twilio.received == []

    @pytest.mark.parametrize(
        "error",
        [
            ConfigurationError("ESKIZ_EMAIL is missing"),
            InvalidMessage("Sms.body is empty"),
            NotifierClosed("provider is closed"),
            UnsupportedFeature("no sender support", provider="eskiz", feature="sender"),
            ProviderError("unclassified vendor error", provider="eskiz"),
        ],
        ids=["configuration", "invalid-message", "closed", "unsupported", "plain-provider-error"],
    )
    async def test_no_failover_on_other_errors(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider, sms: Sms, error: NotifierError
    ) -> None:
        eskiz.fail_next(error)

        with pytest.raises(type(error)) as caught:
            await Failover([eskiz, twilio]).send(sms)

        assert caught.value is error
        assert twilio.received == []

    async def test_cancellation_is_not_failed_over(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider, sms: Sms
    ) -> None:
        eskiz.gate = asyncio.Event()
        task = asyncio.create_task(Failover([eskiz, twilio]).send(sms))
        await eskiz.wait_for_calls(1)

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert twilio.received == []

    async def test_same_message_to_every_attempt(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider, sms: Sms
    ) -> None:
        eskiz.fail_next(unavailable("eskiz"))

        result = await Failover([eskiz, twilio]).send(sms)

        assert eskiz.received[0] is sms
        assert twilio.received[0] is sms
        assert result.client_ref == sms.client_ref

    async def test_all_fail_raises_last_error(self, sms: Sms) -> None:
        eskiz = make_provider("eskiz")
        twilio = make_provider("twilio")
        eskiz.fail_next(AuthenticationError("password rejected", provider="eskiz"))
        last = unavailable("twilio")
        twilio.fail_next(last)

        with pytest.raises(ProviderUnavailable) as caught:
            await Failover([eskiz, twilio]).send(sms)

        assert caught.value is last
        attempts = caught.value.provider_attempts
        assert [a.provider for a in attempts] == ["eskiz", "twilio"]
        assert [a.outcome for a in attempts] == ["AuthenticationError", "ProviderUnavailable"]
        assert "password rejected" in (attempts[0].error or "")
        assert all(a.elapsed >= 0 for a in attempts)
        assert attempts[0].started_at <= attempts[1].started_at

    async def test_failover_is_logged(
        self,
        eskiz: ScriptedProvider,
        twilio: ScriptedProvider,
        sms: Sms,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        eskiz.fail_next(unavailable("eskiz"))

        with caplog.at_level(logging.WARNING, logger="notifier"):
            await Failover([eskiz, twilio]).send(sms)

        messages = [record.getMessage() for record in caplog.records]
        assert any("failing over to twilio" in text for text in messages)
        assert any(sms.client_ref in text for text in messages)
        assert not any("000001" in text for text in messages)

    async def test_hook_sees_each_vendor_attempt(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider, sms: Sms
    ) -> None:
        eskiz.fail_next(unavailable("eskiz"))
        calls: list[tuple[str, str]] = []

        await Failover([eskiz, twilio]).send(
            sms, hook=lambda message, provider: calls.append((message.client_ref, provider))
        )

        assert calls == [(sms.client_ref, "eskiz"), (sms.client_ref, "twilio")]

    async def test_hook_error_does_not_stop_send(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider, sms: Sms
    ) -> None:
        def broken_hook(message: Sms, provider: str) -> None:
            raise RuntimeError("audit plugin is down")

        result = await Failover([eskiz, twilio]).send(sms, hook=broken_hook)

        assert result.provider == "eskiz"

    async def test_open_circuit_skips_provider(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        policy = Failover([eskiz, twilio], breaker=lambda p: CircuitBreaker(p, failure_threshold=2))
        eskiz.fail_next(unavailable("eskiz"), unavailable("eskiz"))
        for _ in range(2):
            await policy.send(Sms(UZ_NUMBER, "Salom", client_ref=next_ref()))
        calls: list[str] = []

        result = await policy.send(
            Sms(UZ_NUMBER, "Salom", client_ref=next_ref()),
            hook=lambda message, provider: calls.append(provider),
        )

        assert len(eskiz.received) == 2
        assert result.provider == "twilio"
        assert [a.outcome for a in result.attempts] == ["CircuitOpen", "sent"]
        assert calls == ["twilio"]

    async def test_wraps_vendors_in_breakers(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        inner = ByCountry({"UZ": eskiz}, default=twilio)
        guarded = CircuitBreaker(twilio)

        policy = Failover([inner, guarded, make_provider("backup")])

        assert policy.children[0] is inner
        assert policy.children[1] is guarded
        assert isinstance(policy.children[2], CircuitBreaker)

    async def test_breaker_none_keeps_providers(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        policy = Failover([eskiz, twilio], breaker=None)

        assert policy.children == (eskiz, twilio)

    async def test_name_and_capabilities(self, eskiz: ScriptedProvider) -> None:
        kazakh = make_provider("kazakh", countries={"KZ"}, batch=True)

        policy = Failover([eskiz, kazakh])

        assert policy.name == "failover(eskiz,kazakh)"
        assert policy.capabilities.countries == frozenset({"UZ", "KZ"})
        assert policy.capabilities.batch is False
        assert "failover(eskiz,kazakh)" in repr(policy)

    async def test_countries_none_when_any_child_global(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        assert Failover([eskiz, twilio]).capabilities.countries is None

    async def test_skips_provider_not_covering_region(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        result = await Failover([eskiz, twilio]).send(
            Sms(GB_NUMBER, "Hello", client_ref=next_ref())
        )

        assert eskiz.received == []
        assert [a.provider for a in result.attempts] == ["twilio"]

    async def test_no_provider_for_region(self, eskiz: ScriptedProvider) -> None:
        with pytest.raises(NoRouteError) as caught:
            await Failover([eskiz]).send(Sms(GB_NUMBER, "Hello", client_ref=next_ref()))

        assert caught.value.region == "GB"
        assert "GB" in str(caught.value)
        assert "400123456" not in str(caught.value)

    @pytest.mark.parametrize(
        ("providers", "fragment"),
        [
            ([], "empty list"),
            (["eskiz"], "must be a notifier Provider"),
        ],
    )
    async def test_invalid_arguments(self, providers: list[object], fragment: str) -> None:
        with pytest.raises(ConfigurationError, match=fragment):
            Failover(providers)  # type: ignore[arg-type]

    async def test_single_provider_not_a_list(self, eskiz: ScriptedProvider) -> None:
        with pytest.raises(ConfigurationError, match="takes a list"):
            Failover(eskiz)  # type: ignore[arg-type]

    async def test_duplicate_provider(self, eskiz: ScriptedProvider) -> None:
        with pytest.raises(ConfigurationError, match="more than once"):
            Failover([eskiz, eskiz])

    async def test_nested_policy_attempts(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider, sms: Sms
    ) -> None:
        eskiz.fail_next(unavailable("eskiz"))
        backup = make_provider("backup")
        policy = Failover([ByCountry({"UZ": eskiz}, default=twilio), backup])

        result = await policy.send(sms)

        assert result.provider == "backup"
        assert [a.provider for a in result.attempts] == ["eskiz", "backup"]


# --- closing ---


class TestClose:
    async def test_closes_each_provider_once(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        policy = Failover([ByCountry({"UZ": eskiz}, default=twilio), twilio])

        await policy.aclose()
        await policy.aclose()

        assert eskiz.close_calls == 1
        assert twilio.close_calls == 1

    async def test_send_after_close(self, eskiz: ScriptedProvider, sms: Sms) -> None:
        inner = ByCountry({"UZ": eskiz})
        policy = Failover([inner])
        await policy.aclose()

        with pytest.raises(NotifierClosed, match="closed"):
            await policy.send(sms)
        with pytest.raises(NotifierClosed):
            await inner.send(sms)

    async def test_close_error_closes_the_rest(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        async def failing_close() -> None:
            raise ProviderUnavailable("connection reset while closing", provider="eskiz")

        eskiz.aclose = failing_close  # type: ignore[method-assign]

        with pytest.raises(ProviderUnavailable):
            await Failover([eskiz, twilio]).aclose()

        assert twilio.close_calls == 1

    async def test_async_context_manager(self, eskiz: ScriptedProvider) -> None:
        async with Failover([eskiz]) as policy:
            assert isinstance(policy, RoutingPolicy)

        assert eskiz.close_calls == 1


# --- ByCountry ---


class TestByCountry:
    async def test_routes_by_region(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        policy = ByCountry({"UZ": eskiz}, default=twilio)

        uzbek = await policy.send(Sms(UZ_NUMBER, "Buyurtmangiz yo'lda", client_ref=next_ref()))
        british = await policy.send(
            Sms(GB_NUMBER, "Your order is on its way", client_ref=next_ref())
        )

        assert uzbek.provider == "eskiz"
        assert british.provider == "twilio"
        assert [a.provider for a in british.attempts] == ["twilio"]

    async def test_longest_prefix_wins(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        beeline = make_provider("beeline", countries={"UZ"})
        policy = ByCountry(
            {"UZ": eskiz},
            default=twilio,
            prefixes={"+998": twilio, "+99890": beeline},
        )

        assert policy.route_for(Sms(UZ_NUMBER, "x", client_ref=next_ref())) is beeline
        assert policy.route_for(Sms(UZ_OTHER_NUMBER, "x", client_ref=next_ref())) is twilio
        assert policy.route_for(Sms(GB_NUMBER, "x", client_ref=next_ref())) is twilio

    async def test_no_route_names_region(self, eskiz: ScriptedProvider) -> None:
        policy = ByCountry({"UZ": eskiz})

        with pytest.raises(NoRouteError) as caught:
            await policy.send(Sms(US_NUMBER, "Hello", client_ref=next_ref()))

        assert isinstance(caught.value, ConfigurationError)
        assert caught.value.region == "US"
        assert "region US" in str(caught.value)
        assert "5550123" not in str(caught.value)
        assert eskiz.received == []

    async def test_region_keys_are_normalized(self, eskiz: ScriptedProvider) -> None:
        policy = ByCountry({" uz ": eskiz})

        assert policy.routes == {"UZ": eskiz}

    @pytest.mark.parametrize("region", ["XX", "Uzbekistan", "998", ""])
    async def test_unknown_region_rejected(self, eskiz: ScriptedProvider, region: str) -> None:
        with pytest.raises(ConfigurationError, match="not an ISO 3166"):
            ByCountry({region: eskiz})

    @pytest.mark.parametrize("prefix", ["99890", "+", "+0998", "+99 890"])
    async def test_bad_prefix_rejected(self, eskiz: ScriptedProvider, prefix: str) -> None:
        with pytest.raises(ConfigurationError, match=r"not an E\.164 prefix"):
            ByCountry(prefixes={prefix: eskiz})

    async def test_route_to_provider_without_coverage(self, eskiz: ScriptedProvider) -> None:
        with pytest.raises(ConfigurationError, match="does not deliver there"):
            ByCountry({"GB": eskiz})

    async def test_default_without_coverage(self, eskiz: ScriptedProvider) -> None:
        policy = ByCountry(default=eskiz)

        with pytest.raises(NoRouteError, match="does not deliver there"):
            await policy.send(Sms(GB_NUMBER, "Hello", client_ref=next_ref()))

    async def test_empty_policy_rejected(self) -> None:
        with pytest.raises(ConfigurationError, match="no routes"):
            ByCountry()

    async def test_name_and_coverage(self, eskiz: ScriptedProvider) -> None:
        kazakh = make_provider("kazakh")
        policy = ByCountry({"UZ": eskiz}, prefixes={"+7701": kazakh})

        assert policy.name == "by-country(kazakh,eskiz)"
        assert policy.capabilities.countries == frozenset({"UZ", "KZ", "RU"})

    async def test_coverage_with_default(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        assert ByCountry({"UZ": eskiz}, default=twilio).capabilities.countries is None

    async def test_failover_inside_route(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        policy = ByCountry({"UZ": Failover([eskiz, twilio])}, default=twilio)
        eskiz.fail_next(unavailable("eskiz"))

        result = await policy.send(Sms(UZ_NUMBER, "Salom", client_ref=next_ref()))

        assert result.provider == "twilio"
        assert [a.provider for a in result.attempts] == ["eskiz", "twilio"]


# --- Weighted ---


def numbered_messages(count: int) -> list[Sms]:
    return [Sms(UZ_NUMBER, "Salom", client_ref=f"order-{i}") for i in range(count)]


class TestWeighted:
    async def test_distribution_within_tolerance(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        policy = Weighted({eskiz: 90, twilio: 10})
        messages = numbered_messages(10_000)

        counts = collections.Counter(policy.choose(message).name for message in messages)

        # 10,000 draws at p = 0.1 have a standard deviation of 30 messages;
        # the bound is over 6 of them.
        assert 800 <= counts["twilio"] <= 1200
        assert counts["eskiz"] + counts["twilio"] == 10_000

    async def test_sticky_by_client_ref(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        first = Weighted({eskiz: 50, twilio: 50})
        second = Weighted([(eskiz, 50), (twilio, 50)])
        messages = numbered_messages(200)

        choices = [first.choose(message) for message in messages]

        assert [first.choose(message) for message in messages] == choices
        assert [second.choose(message) for message in messages] == choices
        resent = [Sms(UZ_OTHER_NUMBER, "Qayta", client_ref=m.client_ref) for m in messages]
        assert [first.choose(message) for message in resent] == choices

    async def test_large_seed_accepted(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        policy = Weighted({eskiz: 50, twilio: 50}, seed=10**100)

        assert policy.choose(numbered_messages(1)[0]) in (eskiz, twilio)

    async def test_seed_changes_assignment(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        messages = numbered_messages(200)
        plain = Weighted({eskiz: 50, twilio: 50})
        salted = Weighted({eskiz: 50, twilio: 50}, seed=7)

        assert [plain.choose(m) for m in messages] != [salted.choose(m) for m in messages]

    async def test_random_mode_reproducible_with_seed(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        message = Sms(UZ_NUMBER, "Salom", client_ref="same-ref")
        first = Weighted({eskiz: 50, twilio: 50}, sticky=False, seed=3)
        second = Weighted({eskiz: 50, twilio: 50}, sticky=False, seed=3)

        picks = [first.choose(message) for _ in range(100)]

        assert picks == [second.choose(message) for _ in range(100)]
        assert {p.name for p in picks} == {"eskiz", "twilio"}

    async def test_zero_weight_gets_nothing(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        policy = Weighted({eskiz: 1, twilio: 0})

        picks = {policy.choose(message).name for message in numbered_messages(500)}

        assert picks == {"eskiz"}
        assert policy.children == (eskiz, twilio)

    async def test_skips_provider_not_covering_region(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        policy = Weighted({eskiz: 99, twilio: 1})
        messages = [Sms(GB_NUMBER, "Hello", client_ref=f"gb-{i}") for i in range(50)]

        assert {policy.choose(message).name for message in messages} == {"twilio"}

    async def test_no_provider_for_region(self, eskiz: ScriptedProvider) -> None:
        with pytest.raises(NoRouteError, match="region GB"):
            await Weighted({eskiz: 1}).send(Sms(GB_NUMBER, "Hello", client_ref=next_ref()))

    async def test_send_records_attempt(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider, sms: Sms
    ) -> None:
        policy = Weighted({eskiz: 1, twilio: 1})
        expected = policy.choose(sms)

        result = await policy.send(sms)

        assert result.provider == expected.name
        assert [a.provider for a in result.attempts] == [expected.name]

    async def test_failover_behind_split(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        split = Weighted({eskiz: 90, twilio: 10})
        policy = Failover([split, eskiz])
        message = next(m for m in numbered_messages(100) if split.choose(m) is twilio)
        twilio.fail_next(unavailable("twilio"))

        result = await policy.send(message)

        assert result.provider == "eskiz"
        assert [a.provider for a in result.attempts] == ["twilio", "eskiz"]
        await policy.aclose()
        assert eskiz.close_calls == 1

    async def test_name(self, eskiz: ScriptedProvider, twilio: ScriptedProvider) -> None:
        assert Weighted({eskiz: 90, twilio: 10}).name == "weighted(eskiz:90,twilio:10)"
        assert Weighted({eskiz: 0.5, twilio: 1.5}).name == "weighted(eskiz:0.5,twilio:1.5)"

    @pytest.mark.parametrize(
        ("weight", "fragment"),
        [(-1, "0 or more"), (float("nan"), "0 or more"), ("90", "0 or more"), (True, "0 or more")],
    )
    async def test_invalid_weight(
        self, eskiz: ScriptedProvider, weight: object, fragment: str
    ) -> None:
        with pytest.raises(ConfigurationError, match=fragment):
            Weighted({eskiz: weight})  # type: ignore[dict-item]

    async def test_all_zero_rejected(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        with pytest.raises(ConfigurationError, match="at least one weight above 0"):
            Weighted({eskiz: 0, twilio: 0})

    async def test_duplicate_rejected(self, eskiz: ScriptedProvider) -> None:
        with pytest.raises(ConfigurationError, match="more than once"):
            Weighted([(eskiz, 1), (eskiz, 2)])

    async def test_empty_rejected(self) -> None:
        with pytest.raises(ConfigurationError, match="no providers"):
            Weighted({})


# --- batches ---


class TestBatch:
    async def test_unsupported_unless_every_route_batches(
        self, eskiz: ScriptedProvider, sms: Sms
    ) -> None:
        policy = Failover([eskiz, make_provider("bulk", batch=True)])

        with pytest.raises(UnsupportedFeature, match="batch"):
            await policy.send_batch([sms])

    async def test_capability_when_every_route_batches(self) -> None:
        first = make_provider("first", batch=True)
        second = make_provider("second", batch=True)

        caps = Failover([first, second]).capabilities

        assert caps.batch is True
        assert caps.max_batch_size == 500

    async def test_failover_batch_per_message(self) -> None:
        first = make_provider("first", batch=True)
        second = make_provider("second", batch=True)
        messages = numbered_messages(3)
        first.batch_script.append(
            [None, unavailable("first"), DeliveryUnknown("timed out", provider="first")]
        )

        outcomes = await Failover([first, second]).send_batch(messages)

        assert isinstance(outcomes[0], SendResult)
        assert outcomes[0].provider == "first"
        assert isinstance(outcomes[1], SendResult)
        assert outcomes[1].provider == "second"
        assert [a.provider for a in outcomes[1].attempts] == ["first", "second"]
        assert isinstance(outcomes[2], DeliveryUnknown)
        assert second.batches == [[messages[1]]]

    async def test_failover_batch_whole_request_error(self) -> None:
        first = make_provider("first", batch=True)
        second = make_provider("second", batch=True)
        first.batch_script.append(unavailable("first"))
        messages = numbered_messages(2)

        outcomes = await Failover([first, second]).send_batch(messages)

        assert all(isinstance(o, SendResult) and o.provider == "second" for o in outcomes)
        assert second.batches == [messages]

    async def test_failover_batch_all_fail(self) -> None:
        first = make_provider("first", batch=True)
        second = make_provider("second", batch=True)
        first.batch_script.append(unavailable("first"))
        last = unavailable("second")
        second.batch_script.append(last)

        outcomes = await Failover([first, second]).send_batch(numbered_messages(2))

        assert outcomes == [last, last]

    async def test_by_country_batch_keeps_order(self) -> None:
        uz = make_provider("uz", countries={"UZ"}, batch=True)
        world = make_provider("world", batch=True)
        messages = [
            Sms(UZ_NUMBER, "Salom", client_ref="a"),
            Sms(GB_NUMBER, "Hello", client_ref="b"),
            Sms(UZ_OTHER_NUMBER, "Salom", client_ref="c"),
        ]
        hooked: list[str] = []

        outcomes = await ByCountry({"UZ": uz}, default=world).send_batch(
            messages, hook=lambda message, provider: hooked.append(provider)
        )

        assert [o.provider for o in outcomes if isinstance(o, SendResult)] == [
            "uz",
            "world",
            "uz",
        ]
        assert [o.client_ref for o in outcomes if isinstance(o, SendResult)] == ["a", "b", "c"]
        assert uz.batches == [[messages[0], messages[2]]]
        assert sorted(hooked) == ["uz", "uz", "world"]

    async def test_by_country_batch_group_error(self) -> None:
        uz = make_provider("uz", countries={"UZ"}, batch=True)
        world = make_provider("world", batch=True)
        error = unavailable("uz")
        uz.batch_script.append(error)
        messages = [
            Sms(UZ_NUMBER, "Salom", client_ref=next_ref()),
            Sms(GB_NUMBER, "Hello", client_ref=next_ref()),
        ]

        outcomes = await ByCountry({"UZ": uz}, default=world).send_batch(messages)

        assert outcomes[0] is error
        assert isinstance(outcomes[1], SendResult)

    async def test_batch_no_route_raises_before_sending(self) -> None:
        uz = make_provider("uz", countries={"UZ"}, batch=True)
        messages = [
            Sms(UZ_NUMBER, "Salom", client_ref=next_ref()),
            Sms(GB_NUMBER, "Hello", client_ref=next_ref()),
        ]

        with pytest.raises(NoRouteError):
            await ByCountry({"UZ": uz}).send_batch(messages)

        assert uz.batches == []

    async def test_weighted_batch(self) -> None:
        first = make_provider("first", batch=True)
        second = make_provider("second", batch=True)
        policy = Weighted({first: 1, second: 1})
        messages = numbered_messages(20)

        outcomes = await policy.send_batch(messages)

        expected = [policy.choose(message).name for message in messages]
        assert [o.provider for o in outcomes if isinstance(o, SendResult)] == expected

    async def test_breaker_counts_failed_batch(self) -> None:
        bulk = make_provider("bulk", batch=True)
        breaker = CircuitBreaker(bulk, failure_threshold=1)
        bulk.batch_script.append([unavailable("bulk"), unavailable("bulk")])

        await breaker.send_batch(numbered_messages(2))

        assert breaker.state is CircuitState.OPEN
        with pytest.raises(CircuitOpen):
            await breaker.send_batch(numbered_messages(2))
        assert len(bulk.batches) == 1


# --- health ---


class TestHealth:
    async def test_walks_nested_policies(
        self, eskiz: ScriptedProvider, twilio: ScriptedProvider
    ) -> None:
        backup = make_provider("backup")
        policy = ByCountry({"UZ": Failover([eskiz, twilio])}, default=backup)

        report = provider_health(policy)

        assert [(h.provider, h.path) for h in report] == [
            ("eskiz", ("by-country(failover(eskiz,twilio),backup)", "failover(eskiz,twilio)")),
            ("twilio", ("by-country(failover(eskiz,twilio),backup)", "failover(eskiz,twilio)")),
            ("backup", ("by-country(failover(eskiz,twilio),backup)",)),
        ]
        assert [h.state for h in report] == [CircuitState.CLOSED, CircuitState.CLOSED, None]
        assert all(h.available for h in report)

    async def test_reports_open_circuit(self, eskiz: ScriptedProvider, sms: Sms) -> None:
        now = [100.0]
        policy = Failover(
            [eskiz],
            breaker=lambda p: CircuitBreaker(
                p, failure_threshold=1, reset_timeout=30, clock=lambda: now[0]
            ),
        )
        eskiz.fail_next(unavailable("eskiz"))
        with pytest.raises(ProviderUnavailable):
            await policy.send(sms)
        now[0] += 10

        (health,) = provider_health(policy)

        assert health.state is CircuitState.OPEN
        assert health.consecutive_failures == 1
        assert health.failure_threshold == 1
        assert health.retry_in == pytest.approx(20.0)
        assert health.opened_at is not None
        assert health.available is False

    async def test_single_vendor(self, eskiz: ScriptedProvider) -> None:
        (health,) = provider_health(eskiz)

        assert health.provider == "eskiz"
        assert health.path == ()
        assert health.state is None


# --- environment ---


def env_providers() -> list[Provider]:
    return [make_provider("eskiz", countries={"UZ"}), make_provider("twilio")]


class TestBuildFromEnv:
    async def test_default_is_failover_with_breakers(self) -> None:
        providers = env_providers()

        policy = build_policy_from_env(providers, {})

        assert isinstance(policy, Failover)
        assert policy.name == "failover(eskiz,twilio)"
        assert all(isinstance(child, CircuitBreaker) for child in policy.children)
        breaker = policy.children[0]
        assert isinstance(breaker, CircuitBreaker)
        assert breaker.circuit.failure_threshold == 5
        assert breaker.circuit.reset_timeout == 30.0

    async def test_circuit_settings(self) -> None:
        env = {"NOTIFIER_CIRCUIT_THRESHOLD": "3", "NOTIFIER_CIRCUIT_RESET": "12.5"}

        policy = build_policy_from_env(env_providers(), env)

        breaker = policy.children[0]  # type: ignore[attr-defined]
        assert isinstance(breaker, CircuitBreaker)
        assert breaker.circuit.failure_threshold == 3
        assert breaker.circuit.reset_timeout == 12.5

    async def test_threshold_zero_disables_breakers(self) -> None:
        providers = env_providers()

        policy = build_policy_from_env(providers, {"NOTIFIER_CIRCUIT_THRESHOLD": "0"})

        assert isinstance(policy, Failover)
        assert policy.children == tuple(providers)

    async def test_by_country(self) -> None:
        env = {
            "NOTIFIER_ROUTING": "by-country",
            "NOTIFIER_ROUTING_COUNTRIES": "UZ:eskiz, +4474:twilio, default:twilio",
        }

        policy = build_policy_from_env(env_providers(), env)

        assert isinstance(policy, ByCountry)
        assert policy.route_for(Sms(UZ_NUMBER, "x", client_ref=next_ref())).name == "eskiz"
        assert policy.route_for(Sms(GB_NUMBER, "x", client_ref=next_ref())).name == "twilio"
        assert set(policy.prefixes) == {"+4474"}
        assert not any(isinstance(child, CircuitBreaker) for child in policy.children)

    async def test_by_country_with_breakers(self) -> None:
        env = {
            "NOTIFIER_ROUTING": "BY_COUNTRY",
            "NOTIFIER_ROUTING_COUNTRIES": "UZ:eskiz,default:twilio,+99890:eskiz",
            "NOTIFIER_CIRCUIT_THRESHOLD": "2",
        }

        policy = build_policy_from_env(env_providers(), env)

        assert isinstance(policy, ByCountry)
        assert all(isinstance(child, CircuitBreaker) for child in policy.children)
        # One breaker per provider, shared by its region and prefix routes.
        assert policy.routes["UZ"] is policy.prefixes["+99890"]

    async def test_weighted(self) -> None:
        env = {"NOTIFIER_ROUTING": "weighted", "NOTIFIER_ROUTING_WEIGHTS": "eskiz:90,twilio:10"}

        policy = build_policy_from_env(env_providers(), env)

        assert isinstance(policy, Weighted)
        assert policy.name == "weighted(eskiz:90,twilio:10)"
        assert policy.sticky is True

    @pytest.mark.parametrize(
        ("env", "fragments"),
        [
            (
                {"NOTIFIER_ROUTING": "round-robin"},
                ["NOTIFIER_ROUTING", "'round-robin'", "failover, by-country, weighted"],
            ),
            (
                {"NOTIFIER_ROUTING": "by-country"},
                ["NOTIFIER_ROUTING_COUNTRIES", "UZ:eskiz,default:twilio"],
            ),
            (
                {"NOTIFIER_ROUTING": "by-country", "NOTIFIER_ROUTING_COUNTRIES": "UZ=eskiz"},
                ["NOTIFIER_ROUTING_COUNTRIES", "'UZ=eskiz'", "KEY:VALUE"],
            ),
            (
                {
                    "NOTIFIER_ROUTING": "by-country",
                    "NOTIFIER_ROUTING_COUNTRIES": "UZ:eskiz,default:twillio",
                },
                ["NOTIFIER_ROUTING_COUNTRIES", "'twillio'", "NOTIFIER_PROVIDER"],
            ),
            (
                {"NOTIFIER_ROUTING": "by-country", "NOTIFIER_ROUTING_COUNTRIES": "UZ:eskiz"},
                ["NOTIFIER_ROUTING_COUNTRIES", "no role to twilio"],
            ),
            (
                {
                    "NOTIFIER_ROUTING": "by-country",
                    "NOTIFIER_ROUTING_COUNTRIES": "UZB:eskiz,default:twilio",
                },
                ["NOTIFIER_ROUTING_COUNTRIES", "'UZB'", "ISO 3166"],
            ),
            (
                {
                    "NOTIFIER_ROUTING": "by-country",
                    "NOTIFIER_ROUTING_COUNTRIES": "+0998:eskiz,default:twilio",
                },
                ["NOTIFIER_ROUTING_COUNTRIES", "'+0998'", "E.164 prefix"],
            ),
            (
                {
                    "NOTIFIER_ROUTING": "by-country",
                    "NOTIFIER_ROUTING_COUNTRIES": "GB:eskiz,default:twilio",
                },
                ["NOTIFIER_ROUTING_COUNTRIES", "'GB:eskiz,default:twilio'", "does not deliver"],
            ),
            (
                {
                    "NOTIFIER_ROUTING": "by-country",
                    "NOTIFIER_ROUTING_COUNTRIES": "UZ:eskiz,uz:twilio",
                },
                ["NOTIFIER_ROUTING_COUNTRIES", "twice"],
            ),
            (
                {"NOTIFIER_ROUTING": "weighted", "NOTIFIER_ROUTING_WEIGHTS": "eskiz:90,twilio:x"},
                ["NOTIFIER_ROUTING_WEIGHTS", "'x'", "0 or more"],
            ),
            (
                {"NOTIFIER_ROUTING": "weighted", "NOTIFIER_ROUTING_WEIGHTS": "eskiz:0,twilio:0"},
                ["NOTIFIER_ROUTING_WEIGHTS", "at least one weight above 0"],
            ),
            (
                {"NOTIFIER_ROUTING": "weighted"},
                ["NOTIFIER_ROUTING_WEIGHTS", "eskiz:90,twilio:10"],
            ),
            (
                {"NOTIFIER_ROUTING_WEIGHTS": "eskiz:90,twilio:10"},
                ["NOTIFIER_ROUTING_WEIGHTS", "NOTIFIER_ROUTING=weighted"],
            ),
            (
                {"NOTIFIER_CIRCUIT_THRESHOLD": "five"},
                ["NOTIFIER_CIRCUIT_THRESHOLD", "'five'", "e.g. 5"],
            ),
            (
                {"NOTIFIER_CIRCUIT_THRESHOLD": "-1"},
                ["NOTIFIER_CIRCUIT_THRESHOLD", "'-1'"],
            ),
            (
                {"NOTIFIER_CIRCUIT_RESET": "0"},
                ["NOTIFIER_CIRCUIT_RESET", "'0'", "positive number of seconds"],
            ),
            (
                {"NOTIFIER_CIRCUIT_RESET": "30s"},
                ["NOTIFIER_CIRCUIT_RESET", "'30s'"],
            ),
        ],
        ids=[
            "unknown-mode",
            "countries-missing",
            "countries-malformed",
            "countries-unknown-provider",
            "countries-unused-provider",
            "countries-bad-region",
            "countries-bad-prefix",
            "countries-uncovered-region",
            "countries-duplicate",
            "weights-not-a-number",
            "weights-all-zero",
            "weights-missing",
            "weights-without-mode",
            "threshold-not-a-number",
            "threshold-negative",
            "reset-zero",
            "reset-with-unit",
        ],
    )
    async def test_invalid_values(self, env: dict[str, str], fragments: list[str]) -> None:
        with pytest.raises(ConfigurationError) as caught:
            build_policy_from_env(env_providers(), env)

        for fragment in fragments:
            assert fragment in str(caught.value)

    async def test_duplicate_provider_names(self) -> None:
        providers = [make_provider("eskiz"), make_provider("eskiz")]

        with pytest.raises(ConfigurationError, match="listed twice"):
            build_policy_from_env(providers, {})

    async def test_no_providers(self) -> None:
        with pytest.raises(ConfigurationError, match="NOTIFIER_PROVIDER"):
            build_policy_from_env([], {})


# --- through AsyncNotifier, with the shipped fake provider ---


class SendingRecorder:
    """An observer plugin that records the sending, sent and failed hooks."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def notifier_sending(self, message: Sms, provider: str) -> None:
        self.calls.append(("sending", provider))

    @hookimpl
    def notifier_sent(self, message: Sms, result: SendResult) -> None:
        self.calls.append(("sent", result.provider))

    @hookimpl
    def notifier_failed(self, message: Sms, error: NotifierError) -> None:
        self.calls.append(("failed", type(error).__name__))


@pytest.fixture
def recorder_manager() -> tuple[SendingRecorder, pluggy.PluginManager]:
    manager = new_plugin_manager()
    recorder = SendingRecorder()
    manager.register(recorder, name="recorder")
    return recorder, manager


class TestThroughNotifier:
    async def test_list_fails_over(
        self, recorder_manager: tuple[SendingRecorder, pluggy.PluginManager]
    ) -> None:
        recorder, manager = recorder_manager
        primary, backup = FakeProvider(), FakeProvider()
        primary.fail_next(ProviderUnavailable)

        async with AsyncNotifier([primary, backup], plugins=manager) as notifier:
            assert isinstance(notifier.provider, Failover)
            result = await notifier.send(Sms("+998900000010", "Salom!", client_ref=next_ref()))

        assert primary.outbox == []
        assert len(backup.outbox) == 1
        assert [a.outcome for a in result.attempts] == ["ProviderUnavailable", "sent"]
        assert recorder.calls == [("sending", "fake"), ("sending", "fake"), ("sent", "fake")]
        assert primary.closed
        assert backup.closed

    async def test_delivery_unknown_not_resent(
        self, recorder_manager: tuple[SendingRecorder, pluggy.PluginManager]
    ) -> None:
        recorder, manager = recorder_manager
        primary, backup = FakeProvider(), FakeProvider()
        message = Sms(FakeProvider.UNKNOWN_NUMBER, "Kod: 4512", client_ref=next_ref())

        async with AsyncNotifier(Failover([primary, backup]), plugins=manager) as notifier:
            with pytest.raises(DeliveryUnknown) as caught:
                await notifier.send(message)

        assert backup.outbox == []
        assert caught.value.client_ref == message.client_ref
        assert [a.outcome for a in caught.value.provider_attempts] == ["DeliveryUnknown"]
        assert recorder.calls == [("sending", "fake"), ("failed", "DeliveryUnknown")]
