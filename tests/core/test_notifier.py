"""Tests of AsyncNotifier: sending, send_many, lifecycle, observers and logging."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import anyio
import pluggy
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from notifier import (
    AsyncNotifier,
    Attempt,
    AuthenticationError,
    ConfigurationError,
    DeliveryUnknown,
    Encoding,
    Failover,
    InvalidMessage,
    NotifierClosed,
    NotifierError,
    ProviderError,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
    SendResult,
    SendStatus,
    Sms,
    UnsupportedFeature,
    hookimpl,
)
from notifier._plugins import new_plugin_manager
from notifier._provider import BatchOutcome
from notifier.testing import FakeProvider

OK_NUMBER = "+998900000010"
OTHER_NUMBER = "+998900000011"


class Recorder:
    """An observer plugin that records every hook call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, object]] = []

    @hookimpl
    def notifier_sending(self, message: Sms, provider: str) -> None:
        self.calls.append(("sending", message.client_ref, provider))

    @hookimpl
    def notifier_sent(self, message: Sms, result: SendResult) -> None:
        self.calls.append(("sent", message.client_ref, result.message_id))

    @hookimpl
    def notifier_failed(self, message: Sms, error: NotifierError) -> None:
        self.calls.append(("failed", message.client_ref, type(error).__name__))


@pytest.fixture
def manager() -> pluggy.PluginManager:
    return new_plugin_manager()


@pytest.fixture
def recorder(manager: pluggy.PluginManager) -> Recorder:
    plugin = Recorder()
    manager.register(plugin, name="recorder")
    return plugin


class ProviderWithAttempts(FakeProvider):
    """A fake that records its own attempts, as a provider with retries would."""

    async def send(self, message: Sms) -> SendResult:
        result = await super().send(message)
        attempt = Attempt(
            provider="fake",
            outcome="sent",
            started_at=datetime(2024, 5, 1, tzinfo=timezone.utc),
            elapsed=0.5,
        )
        return result.model_copy(update={"attempts": (attempt, attempt)})


class BuggyProvider(FakeProvider):
    """A provider that breaks its contract by raising a foreign exception."""

    async def send(self, message: Sms) -> SendResult:
        raise KeyError(message.to)


class WrongResultProvider(FakeProvider):
    async def send(self, message: Sms) -> SendResult:
        return {"status": "ok"}  # type: ignore[return-value]


class TestSend:
    async def test_result_has_attempt_and_elapsed(self) -> None:
        fake = FakeProvider()
        async with AsyncNotifier(fake) as notifier:
            result = await notifier.send(Sms(OK_NUMBER, "Salom, dunyo!"))

        assert result.provider == "fake"
        assert result.status is SendStatus.QUEUED
        assert result.message_id == "fake-1"
        assert result.segments == 1
        assert result.encoding is Encoding.GSM7
        assert len(result.attempts) == 1
        assert result.attempts[0].provider == "fake"
        assert result.attempts[0].outcome == "sent"
        assert result.attempts[0].elapsed == result.elapsed
        assert result.elapsed > 0
        assert fake.outbox[0].body == "Salom, dunyo!"

    async def test_client_ref_reaches_provider_unchanged(self) -> None:
        fake = FakeProvider()
        async with AsyncNotifier(fake) as notifier:
            result = await notifier.send(Sms(OK_NUMBER, "Kod: 4512", client_ref="order-77"))
        assert result.client_ref == "order-77"
        assert fake.outbox[0].client_ref == "order-77"

    async def test_provider_attempts_are_kept(self) -> None:
        async with AsyncNotifier(ProviderWithAttempts()) as notifier:
            result = await notifier.send(Sms(OK_NUMBER, "Salom"))
        assert len(result.attempts) == 2
        assert result.attempts[0].elapsed == 0.5

    @pytest.mark.parametrize(
        ("number", "error_type"),
        [
            pytest.param(FakeProvider.REJECTED_NUMBER, RejectedError, id="rejected"),
            pytest.param(FakeProvider.UNAVAILABLE_NUMBER, ProviderUnavailable, id="unavailable"),
            pytest.param(FakeProvider.UNKNOWN_NUMBER, DeliveryUnknown, id="unknown"),
            pytest.param(FakeProvider.RATE_LIMITED_NUMBER, RateLimitedError, id="rate-limited"),
            pytest.param(FakeProvider.AUTH_FAILED_NUMBER, AuthenticationError, id="auth"),
        ],
    )
    async def test_provider_errors_are_raised_typed(
        self, number: str, error_type: type[ProviderError]
    ) -> None:
        async with AsyncNotifier(FakeProvider()) as notifier:
            message = Sms(number, "Salom")
            with pytest.raises(error_type) as caught:
                await notifier.send(message)
        assert caught.value.client_ref == message.client_ref

    async def test_non_sms_raises_type_error(self) -> None:
        async with AsyncNotifier(FakeProvider()) as notifier:
            with pytest.raises(TypeError, match="send\\(\\) takes an Sms, got dict"):
                await notifier.send({"to": OK_NUMBER, "body": "x"})  # type: ignore[arg-type]

    async def test_foreign_exception_becomes_provider_error(self) -> None:
        async with AsyncNotifier(BuggyProvider()) as notifier:
            with pytest.raises(ProviderError) as caught:
                await notifier.send(Sms(OK_NUMBER, "Salom"))
        error = caught.value
        assert type(error) is ProviderError
        assert isinstance(error.__cause__, KeyError)
        assert "KeyError" in str(error)
        assert "900000010" not in str(error)

    async def test_wrong_result_type_is_provider_error(self) -> None:
        async with AsyncNotifier(WrongResultProvider()) as notifier:
            with pytest.raises(ProviderError, match="returned dict instead of a SendResult"):
                await notifier.send(Sms(OK_NUMBER, "Salom"))

    async def test_build_sms_uses_default_region(self) -> None:
        notifier = AsyncNotifier(FakeProvider(), default_region="kz")
        assert notifier.default_region == "KZ"
        message = notifier.build_sms("701 234 5678", "Salem!", sender="4546")
        assert message.to == "+77012345678"
        assert message.sender == "4546"
        await notifier.aclose()

    def test_unknown_default_region_is_rejected(self) -> None:
        with pytest.raises(ConfigurationError, match="'XX'"):
            AsyncNotifier(FakeProvider(), default_region="XX")

    def test_two_asyncio_runs_share_one_notifier(self) -> None:
        fake = FakeProvider()
        notifier = AsyncNotifier(fake)
        first = asyncio.run(notifier.send(Sms(OK_NUMBER, "birinchi")))
        second = asyncio.run(notifier.send(Sms(OK_NUMBER, "ikkinchi")))
        outcomes = asyncio.run(notifier.send_many([Sms(OK_NUMBER, "uchinchi")]))
        asyncio.run(notifier.aclose())

        assert first.message_id == "fake-1"
        assert second.message_id == "fake-2"
        assert isinstance(outcomes[0], SendResult)
        assert fake.closed


class TestProviderArgument:
    async def test_list_is_wrapped_in_failover(self) -> None:
        first, second = FakeProvider(), FakeProvider()
        first.fail_next(ProviderUnavailable)
        async with AsyncNotifier([first, second]) as notifier:
            assert isinstance(notifier.provider, Failover)
            result = await notifier.send(Sms(OK_NUMBER, "Salom"))
        assert [attempt.outcome for attempt in result.attempts] == [
            "ProviderUnavailable",
            "sent",
        ]
        assert second.outbox
        assert first.closed
        assert second.closed

    def test_empty_list_is_rejected(self) -> None:
        with pytest.raises(ConfigurationError, match="empty list"):
            AsyncNotifier([])

    def test_non_provider_in_list_is_rejected(self) -> None:
        with pytest.raises(TypeError, match="entry 1 is a str"):
            AsyncNotifier([FakeProvider(), "eskiz"])  # type: ignore[list-item]

    def test_string_is_rejected(self) -> None:
        with pytest.raises(TypeError, match="got str"):
            AsyncNotifier("eskiz")  # type: ignore[arg-type]


class TestLifecycle:
    async def test_send_after_aclose_raises_closed(self) -> None:
        notifier = AsyncNotifier(FakeProvider())
        await notifier.aclose()
        assert notifier.closed
        with pytest.raises(NotifierClosed, match="closed"):
            await notifier.send(Sms(OK_NUMBER, "Salom"))
        with pytest.raises(NotifierClosed):
            await notifier.send_many([Sms(OK_NUMBER, "Salom")])

    async def test_aclose_is_idempotent_and_closes_provider(self) -> None:
        fake = FakeProvider()
        notifier = AsyncNotifier(fake)
        await notifier.aclose()
        await notifier.aclose()
        assert fake.closed

    async def test_entering_closed_notifier_raises(self) -> None:
        notifier = AsyncNotifier(FakeProvider())
        await notifier.aclose()
        with pytest.raises(NotifierClosed):
            async with notifier:
                pass

    async def test_shared_provider_closes_with_last_notifier(self) -> None:
        fake = FakeProvider()
        first = AsyncNotifier(fake)
        second = AsyncNotifier(fake)
        await first.send(Sms(OK_NUMBER, "birinchi"))
        await second.send(Sms(OK_NUMBER, "ikkinchi"))
        assert [message.body for message in fake.outbox] == ["birinchi", "ikkinchi"]

        await first.aclose()
        assert not fake.closed
        result = await second.send(Sms(OK_NUMBER, "uchinchi"))
        assert result.message_id == "fake-3"

        await second.aclose()
        assert fake.closed

    async def test_repr_names_provider_and_state(self) -> None:
        notifier = AsyncNotifier(FakeProvider())
        assert repr(notifier) == "<AsyncNotifier provider='fake' state=open>"
        await notifier.aclose()
        assert repr(notifier) == "<AsyncNotifier provider='fake' state=closed>"


class StartedProvider(FakeProvider):
    """A fake whose sends take ``delay`` seconds; counts started sends and the outbox at close."""

    def __init__(self, *, delay: float, batch_size: int | None = None) -> None:
        super().__init__(delay=delay, batch_size=batch_size)
        self.started = 0
        self.outbox_at_close: int | None = None

    async def send(self, message: Sms) -> SendResult:
        self.started += 1
        return await super().send(message)

    async def send_batch(self, messages: Sequence[Sms]) -> list[BatchOutcome]:
        self.started += len(messages)
        return await super().send_batch(messages)

    async def aclose(self) -> None:
        self.outbox_at_close = len(self.outbox)
        await super().aclose()


class CancellationAsClosed(FakeProvider):
    """A provider that reports its own cancellation as NotifierClosed, as a closed client would."""

    async def send(self, message: Sms) -> SendResult:
        try:
            await anyio.sleep(30)
        except anyio.get_cancelled_exc_class():
            raise NotifierClosed("The client was closed under the request.") from None
        return await super().send(message)


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` every 5 ms; fail after 5 s, naming ``what`` was awaited."""
    deadline = time.monotonic() + 5.0
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after 5 s waiting for {what}")
        await asyncio.sleep(0.005)


def uz_messages(count: int) -> list[Sms]:
    return [
        Sms(f"+9989000001{index:02d}", f"Buyurtma #{index} tayyor", client_ref=f"order-{index}")
        for index in range(count)
    ]


class TestGracefulClose:
    async def test_sends_in_flight_finish_before_close(self) -> None:
        fake = StartedProvider(delay=0.2)
        notifier = AsyncNotifier(fake, close_timeout=10)
        messages = uz_messages(5)
        tasks = [asyncio.create_task(notifier.send(message)) for message in messages]
        await wait_until(lambda: fake.started == 5, "5 sends started")

        with anyio.fail_after(5):
            await notifier.aclose()

        results = [task.result() for task in tasks]
        assert [result.client_ref for result in results] == [m.client_ref for m in messages]
        assert all(isinstance(result, SendResult) for result in results)
        assert fake.outbox_at_close == 5  # the provider closed after the sends finished
        assert fake.closed

    async def test_sends_past_timeout_raise_delivery_unknown(
        self, spans: InMemorySpanExporter
    ) -> None:
        fake = StartedProvider(delay=30)
        notifier = AsyncNotifier(fake, close_timeout=0.05)
        messages = uz_messages(3)
        tasks = [asyncio.create_task(notifier.send(message)) for message in messages]
        await wait_until(lambda: fake.started == 3, "3 sends started")

        with anyio.fail_after(5):
            await notifier.aclose()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)

        for message, outcome in zip(messages, outcomes, strict=True):
            assert isinstance(outcome, DeliveryUnknown)
            assert outcome.client_ref == message.client_ref
            assert outcome.provider == "fake"
            assert "may already have accepted it" in str(outcome)
            assert "check its status by client_ref" in str(outcome)
            assert "0.05 s" in str(outcome)
        assert fake.closed
        send_spans = [span for span in spans.get_finished_spans() if span.name == "notifier.send"]
        assert len(send_spans) == 3
        assert {(span.attributes or {}).get("error.type") for span in send_spans} == {
            "DeliveryUnknown"
        }

    async def test_timeout_argument_overrides_default(self) -> None:
        fake = StartedProvider(delay=30)
        notifier = AsyncNotifier(fake)
        assert notifier.close_timeout == 10.0
        task = asyncio.create_task(notifier.send(Sms(OK_NUMBER, "Salom")))
        await wait_until(lambda: fake.started == 1, "the send started")

        with anyio.fail_after(5):
            await notifier.aclose(timeout=0)

        with pytest.raises(DeliveryUnknown, match="close timeout of 0 s"):
            await task
        assert notifier.close_timeout == 10.0

    async def test_new_sends_during_close_raise_closed(self) -> None:
        fake = StartedProvider(delay=0.3)
        notifier = AsyncNotifier(fake, close_timeout=10)
        in_flight = asyncio.create_task(notifier.send(Sms(OK_NUMBER, "birinchi")))
        await wait_until(lambda: fake.started == 1, "the send started")
        closing = asyncio.create_task(notifier.aclose())
        await wait_until(lambda: notifier.closed, "aclose() started")

        assert repr(notifier) == "<AsyncNotifier provider='fake' state=closing>"
        with pytest.raises(NotifierClosed, match="closing, so nothing was sent"):
            await notifier.send(Sms(OK_NUMBER, "ikkinchi"))
        with pytest.raises(NotifierClosed):
            await notifier.send_many([Sms(OK_NUMBER, "uchinchi")])
        assert not fake.closed

        with anyio.fail_after(5):
            await closing
        assert isinstance(in_flight.result(), SendResult)
        with pytest.raises(NotifierClosed, match="closed, so nothing was sent"):
            await notifier.send(Sms(OK_NUMBER, "to'rtinchi"))
        assert [message.body for message in fake.outbox] == ["birinchi"]

    async def test_second_aclose_waits_for_first(self) -> None:
        fake = StartedProvider(delay=0.2)
        notifier = AsyncNotifier(fake, close_timeout=10)
        task = asyncio.create_task(notifier.send(Sms(OK_NUMBER, "Salom")))
        await wait_until(lambda: fake.started == 1, "the send started")
        first = asyncio.create_task(notifier.aclose())
        await wait_until(lambda: notifier.closed, "aclose() started")

        with anyio.fail_after(5):
            await notifier.aclose()

        assert fake.closed
        assert isinstance(task.result(), SendResult)
        await first

    async def test_caller_cancellation_stays_cancellation(self) -> None:
        fake = StartedProvider(delay=30)
        notifier = AsyncNotifier(fake, close_timeout=10)
        task = asyncio.create_task(notifier.send(Sms(OK_NUMBER, "Salom")))
        await wait_until(lambda: fake.started == 1, "the send started")
        closing = asyncio.create_task(notifier.aclose())
        await wait_until(lambda: notifier.closed, "aclose() started")

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # With nothing left in flight, aclose() does not wait out its timeout.
        with anyio.fail_after(5):
            await closing
        assert fake.closed

    async def test_cancelled_aclose_still_closes(self) -> None:
        fake = StartedProvider(delay=30)
        notifier = AsyncNotifier(fake, close_timeout=30)
        send = asyncio.create_task(notifier.send(Sms(OK_NUMBER, "Salom", client_ref="ref-7")))
        await wait_until(lambda: fake.started == 1, "the send started")
        closing = asyncio.create_task(notifier.aclose())
        await wait_until(lambda: notifier.closed, "aclose() started")

        closing.cancel()
        with anyio.fail_after(5):
            with pytest.raises(asyncio.CancelledError):
                await closing
            with pytest.raises(DeliveryUnknown) as caught:
                await send
        assert caught.value.client_ref == "ref-7"
        assert fake.closed

    async def test_caller_continues_after_delivery_unknown(self) -> None:
        fake = StartedProvider(delay=30)
        notifier = AsyncNotifier(fake, close_timeout=0)

        async def send_then_continue() -> str:
            with contextlib.suppress(DeliveryUnknown):
                await notifier.send(Sms(OK_NUMBER, "Salom"))
            # No cancellation of the close may be left pending on this task.
            await asyncio.sleep(0.01)
            return "continued"

        task = asyncio.create_task(send_then_continue())
        await wait_until(lambda: fake.started == 1, "the send started")
        with anyio.fail_after(5):
            await notifier.aclose()
            assert await task == "continued"

    async def test_cancellation_reported_as_closed_becomes_unknown(self) -> None:
        notifier = AsyncNotifier(CancellationAsClosed(), close_timeout=0)
        task = asyncio.create_task(notifier.send(Sms(OK_NUMBER, "Salom", client_ref="ref-8")))
        await asyncio.sleep(0.01)
        with anyio.fail_after(5):
            await notifier.aclose()
            with pytest.raises(DeliveryUnknown) as caught:
                await task
        assert caught.value.client_ref == "ref-8"
        assert isinstance(caught.value.__cause__, NotifierClosed)

    async def test_observers_see_delivery_unknown(
        self, manager: pluggy.PluginManager, recorder: Recorder
    ) -> None:
        fake = StartedProvider(delay=30)
        notifier = AsyncNotifier(fake, plugins=manager, close_timeout=0)
        message = Sms(OK_NUMBER, "Salom")
        task = asyncio.create_task(notifier.send(message))
        await wait_until(lambda: fake.started == 1, "the send started")
        await notifier.aclose()
        with pytest.raises(DeliveryUnknown):
            await task
        assert recorder.calls == [
            ("sending", message.client_ref, "fake"),
            ("failed", message.client_ref, "DeliveryUnknown"),
        ]

    async def test_shared_provider_waits_for_own_sends(self) -> None:
        fake = StartedProvider(delay=0.3)
        first = AsyncNotifier(fake, close_timeout=0)
        second = AsyncNotifier(fake)
        own = asyncio.create_task(first.send(Sms(OK_NUMBER, "birinchi")))
        other = asyncio.create_task(second.send(Sms(OK_NUMBER, "ikkinchi")))
        await wait_until(lambda: fake.started == 2, "both sends started")

        await first.aclose()

        with pytest.raises(DeliveryUnknown):
            await own
        assert not fake.closed
        assert isinstance(await other, SendResult)
        await second.aclose()
        assert fake.closed

    @pytest.mark.parametrize("close_timeout", [10.0, 0.0], ids=["finishes", "cancelled"])
    async def test_send_many_during_close(self, close_timeout: float) -> None:
        fake = StartedProvider(delay=0.2)
        notifier = AsyncNotifier(fake, close_timeout=close_timeout)
        messages = uz_messages(6)
        many = asyncio.create_task(notifier.send_many(messages, concurrency=2))
        await wait_until(lambda: fake.started == 2, "two sends started")

        with anyio.fail_after(5):
            await notifier.aclose()
            outcomes = await many

        if close_timeout:
            assert all(isinstance(outcome, SendResult) for outcome in outcomes[:2])
            assert len(fake.outbox) == 2
        else:
            for message, outcome in zip(messages[:2], outcomes[:2], strict=True):
                assert isinstance(outcome, DeliveryUnknown)
                assert outcome.client_ref == message.client_ref
            assert fake.outbox == []
        for outcome in outcomes[2:]:
            assert isinstance(outcome, NotifierClosed)
            assert "nothing was sent" in str(outcome)

    @pytest.mark.parametrize("close_timeout", [10.0, 0.0], ids=["finishes", "cancelled"])
    async def test_send_many_batches_during_close(self, close_timeout: float) -> None:
        fake = StartedProvider(delay=0.2, batch_size=2)
        notifier = AsyncNotifier(fake, close_timeout=close_timeout)
        messages = uz_messages(6)
        many = asyncio.create_task(notifier.send_many(messages))
        await wait_until(lambda: fake.started == 2, "the first batch started")

        with anyio.fail_after(5):
            await notifier.aclose()
            outcomes = await many

        first_batch = outcomes[:2]
        if close_timeout:
            assert all(isinstance(outcome, SendResult) for outcome in first_batch)
            assert len(fake.outbox) == 2
        else:
            for message, outcome in zip(messages[:2], first_batch, strict=True):
                assert isinstance(outcome, DeliveryUnknown)
                assert outcome.client_ref == message.client_ref
            assert fake.outbox == []
        assert all(isinstance(outcome, NotifierClosed) for outcome in outcomes[2:])
        assert len(fake.batches) <= 1

    @pytest.mark.parametrize("value", [-1, math.nan, math.inf, True, "5"])
    async def test_invalid_timeouts_rejected(self, value: object) -> None:
        with pytest.raises(ValueError, match="close_timeout must be"):
            AsyncNotifier(FakeProvider(), close_timeout=value)  # type: ignore[arg-type]
        notifier = AsyncNotifier(FakeProvider())
        with pytest.raises(ValueError, match="timeout must be"):
            await notifier.aclose(timeout=value)  # type: ignore[arg-type]
        assert not notifier.closed
        await notifier.aclose()

    def test_from_env_passes_close_timeout(self, tmp_path: Path) -> None:
        env_file = tmp_path / "settings.env"
        env_file.write_text("NOTIFIER_PROVIDER=fake\n")
        notifier = AsyncNotifier.from_env(env_file, plugins=new_plugin_manager(), close_timeout=2.5)
        assert notifier.close_timeout == 2.5
        asyncio.run(notifier.aclose())


class TestObservers:
    async def test_hooks_called_on_success(
        self, manager: pluggy.PluginManager, recorder: Recorder
    ) -> None:
        async with AsyncNotifier(FakeProvider(), plugins=manager) as notifier:
            message = Sms(OK_NUMBER, "Salom")
            await notifier.send(message)
        assert recorder.calls == [
            ("sending", message.client_ref, "fake"),
            ("sent", message.client_ref, "fake-1"),
        ]

    async def test_hooks_called_on_failure(
        self, manager: pluggy.PluginManager, recorder: Recorder
    ) -> None:
        async with AsyncNotifier(FakeProvider(), plugins=manager) as notifier:
            message = Sms(FakeProvider.REJECTED_NUMBER, "Salom")
            with pytest.raises(RejectedError):
                await notifier.send(message)
        assert recorder.calls == [
            ("sending", message.client_ref, "fake"),
            ("failed", message.client_ref, "RejectedError"),
        ]

    async def test_policy_reports_each_attempt(
        self, manager: pluggy.PluginManager, recorder: Recorder
    ) -> None:
        first, second = FakeProvider(), FakeProvider()
        first.fail_next(ProviderUnavailable)
        async with AsyncNotifier([first, second], plugins=manager) as notifier:
            message = Sms(OK_NUMBER, "Salom")
            await notifier.send(message)
        sending = [call for call in recorder.calls if call[0] == "sending"]
        assert len(sending) == 2
        assert [call[0] for call in recorder.calls][-1] == "sent"

    async def test_failing_observer_is_logged_and_ignored(
        self,
        manager: pluggy.PluginManager,
        recorder: Recorder,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        class Broken:
            @hookimpl
            def notifier_sent(self, message: Sms, result: SendResult) -> None:
                raise RuntimeError("observer broke")

        manager.register(Broken(), name="broken-audit")
        caplog.set_level(logging.ERROR, logger="notifier")
        async with AsyncNotifier(FakeProvider(), plugins=manager) as notifier:
            result = await notifier.send(Sms(OK_NUMBER, "Salom"))

        assert result.status is SendStatus.QUEUED
        errors = [record for record in caplog.records if record.levelno == logging.ERROR]
        assert len(errors) == 1
        assert "'broken-audit'" in errors[0].getMessage()
        assert "notifier_sent" in errors[0].getMessage()
        # The other observer still ran.
        assert [call[0] for call in recorder.calls] == ["sending", "sent"]

    async def test_observer_may_take_fewer_arguments(self, manager: pluggy.PluginManager) -> None:
        seen: list[str] = []

        class OnlyProvider:
            @hookimpl
            def notifier_sending(self, provider: str) -> None:
                seen.append(provider)

        manager.register(OnlyProvider(), name="only-provider")
        async with AsyncNotifier(FakeProvider(), plugins=manager) as notifier:
            await notifier.send(Sms(OK_NUMBER, "Salom"))
        assert seen == ["fake"]

    async def test_wrapper_on_observer_hook_is_skipped(
        self, manager: pluggy.PluginManager, recorder: Recorder
    ) -> None:
        class Wrapper:
            @hookimpl(wrapper=True)
            def notifier_sent(self, message: Sms, result: SendResult):  # type: ignore[no-untyped-def]
                raise AssertionError("a wrapper must not be called as an observer")
                yield

        manager.register(Wrapper(), name="wrapper")
        async with AsyncNotifier(FakeProvider(), plugins=manager) as notifier:
            await notifier.send(Sms(OK_NUMBER, "Salom"))
        assert [call[0] for call in recorder.calls] == ["sending", "sent"]


class CountingProvider(FakeProvider):
    """A fake that measures how many sends run at once."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.in_flight = 0
        self.max_in_flight = 0

    async def send(self, message: Sms) -> SendResult:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await anyio.sleep(0.001)
            return await super().send(message)
        finally:
            self.in_flight -= 1


class TestSendMany:
    async def test_outcomes_in_input_order(self) -> None:
        fake = FakeProvider()
        messages = [
            Sms(OK_NUMBER, "birinchi"),
            Sms(FakeProvider.REJECTED_NUMBER, "ikkinchi"),
            Sms(OTHER_NUMBER, "uchinchi"),
            Sms(FakeProvider.UNAVAILABLE_NUMBER, "to'rtinchi"),
        ]
        async with AsyncNotifier(fake) as notifier:
            outcomes = await notifier.send_many(messages, concurrency=2)

        assert [type(outcome).__name__ for outcome in outcomes] == [
            "SendResult",
            "RejectedError",
            "SendResult",
            "ProviderUnavailable",
        ]
        for message, outcome in zip(messages, outcomes, strict=True):
            assert isinstance(outcome, (SendResult, ProviderError))
            assert outcome.client_ref == message.client_ref

    async def test_concurrency_is_bounded(self) -> None:
        provider = CountingProvider()
        messages = [Sms(OK_NUMBER, f"xabar {i}") for i in range(30)]
        async with AsyncNotifier(provider) as notifier:
            outcomes = await notifier.send_many(messages, concurrency=4)
        assert all(isinstance(outcome, SendResult) for outcome in outcomes)
        assert provider.max_in_flight == 4

    @pytest.mark.parametrize("concurrency", [0, -1, 1.5, True])
    async def test_invalid_concurrency_is_rejected(self, concurrency: object) -> None:
        async with AsyncNotifier(FakeProvider()) as notifier:
            with pytest.raises(ValueError, match="positive integer"):
                await notifier.send_many([], concurrency=concurrency)  # type: ignore[arg-type]

    async def test_empty_input_gives_empty_list(self) -> None:
        async with AsyncNotifier(FakeProvider(batch_size=5)) as notifier:
            assert await notifier.send_many([]) == []

    async def test_non_sms_entry_becomes_invalid_message(self) -> None:
        async with AsyncNotifier(FakeProvider()) as notifier:
            outcomes = await notifier.send_many(
                [Sms(OK_NUMBER, "Salom"), "not a message"]  # type: ignore[list-item]
            )
        assert isinstance(outcomes[0], SendResult)
        assert isinstance(outcomes[1], InvalidMessage)
        assert "entry 1 is a str" in str(outcomes[1])

    async def test_batch_provider_gets_chunks(
        self, manager: pluggy.PluginManager, recorder: Recorder
    ) -> None:
        fake = FakeProvider(batch_size=3)
        messages = [Sms(OK_NUMBER, f"xabar {i}") for i in range(7)]
        messages[4] = Sms(FakeProvider.REJECTED_NUMBER, "rad etiladi")
        async with AsyncNotifier(fake, plugins=manager) as notifier:
            outcomes = await notifier.send_many(messages)

        assert [len(batch) for batch in fake.batches] == [3, 3, 1]
        assert [message for batch in fake.batches for message in batch] == messages
        assert isinstance(outcomes[4], RejectedError)
        for index in (0, 1, 2, 3, 5, 6):
            outcome = outcomes[index]
            assert isinstance(outcome, SendResult)
            assert outcome.client_ref == messages[index].client_ref
            assert len(outcome.attempts) == 1
        kinds = [call[0] for call in recorder.calls]
        assert kinds.count("sending") == 7
        assert kinds.count("sent") == 6
        assert kinds.count("failed") == 1

    async def test_batches_go_one_at_a_time(self) -> None:
        class SlowBatches(FakeProvider):
            in_flight = 0
            max_in_flight = 0

            async def send_batch(self, messages: Sequence[Sms]) -> list[SendResult | ProviderError]:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    await anyio.sleep(0.001)
                    return await super().send_batch(messages)
                finally:
                    self.in_flight -= 1

        provider = SlowBatches(batch_size=2)
        async with AsyncNotifier(provider) as notifier:
            outcomes = await notifier.send_many(
                [Sms(OK_NUMBER, f"xabar {i}") for i in range(9)], concurrency=8
            )
        assert all(isinstance(outcome, SendResult) for outcome in outcomes)
        assert len(provider.batches) == 5
        assert provider.max_in_flight == 1

    async def test_whole_batch_error_fills_its_chunk(self) -> None:
        fake = FakeProvider(batch_size=2)
        fake.fail_next(AuthenticationError)
        messages = [Sms(OK_NUMBER, f"xabar {i}") for i in range(4)]
        async with AsyncNotifier(fake) as notifier:
            outcomes = await notifier.send_many(messages)

        assert isinstance(outcomes[0], AuthenticationError)
        assert isinstance(outcomes[1], AuthenticationError)
        assert isinstance(outcomes[2], SendResult)
        assert isinstance(outcomes[3], SendResult)

    async def test_wrong_batch_length_is_provider_error(self) -> None:
        class ShortBatch(FakeProvider):
            async def send_batch(self, messages: Sequence[Sms]) -> list[SendResult | ProviderError]:
                outcomes = await super().send_batch(messages)
                return outcomes[:-1]

        async with AsyncNotifier(ShortBatch(batch_size=5)) as notifier:
            outcomes = await notifier.send_many([Sms(OK_NUMBER, "a"), Sms(OK_NUMBER, "b")])
        assert all(type(outcome) is ProviderError for outcome in outcomes)
        assert "bug in the provider" in str(outcomes[0])


class TestSendManyBatchSwitch:
    async def test_default_batches_when_provider_can(self) -> None:
        fake = FakeProvider(batch_size=4)
        messages = [Sms(OK_NUMBER, f"xabar {i}") for i in range(6)]
        async with AsyncNotifier(fake) as notifier:
            outcomes = await notifier.send_many(messages, batch=None)
        assert all(isinstance(outcome, SendResult) for outcome in outcomes)
        assert [len(batch) for batch in fake.batches] == [4, 2]

    async def test_false_sends_one_by_one(
        self, manager: pluggy.PluginManager, recorder: Recorder
    ) -> None:
        provider = CountingProvider(batch_size=4)
        messages = [Sms(OK_NUMBER, f"xabar {i}") for i in range(12)]
        messages[5] = Sms(FakeProvider.REJECTED_NUMBER, "rad etiladi")
        async with AsyncNotifier(provider, plugins=manager) as notifier:
            outcomes = await notifier.send_many(messages, concurrency=3, batch=False)

        assert provider.batches == []
        assert provider.outbox == [m for m in messages if m.to == OK_NUMBER]
        assert provider.max_in_flight == 3
        assert isinstance(outcomes[5], RejectedError)
        for index, (message, outcome) in enumerate(zip(messages, outcomes, strict=True)):
            if index == 5:
                continue
            assert isinstance(outcome, SendResult)
            assert outcome.client_ref == message.client_ref
        kinds = [call[0] for call in recorder.calls]
        assert kinds.count("sending") == 12
        assert kinds.count("sent") == 11
        assert kinds.count("failed") == 1

    async def test_false_on_single_provider_is_plain_sends(self) -> None:
        fake = FakeProvider()
        async with AsyncNotifier(fake) as notifier:
            outcomes = await notifier.send_many([Sms(OK_NUMBER, "Salom")], batch=False)
        assert isinstance(outcomes[0], SendResult)
        assert len(fake.outbox) == 1

    async def test_true_uses_batch_endpoint(self) -> None:
        fake = FakeProvider(batch_size=3)
        messages = [Sms(OK_NUMBER, f"xabar {i}") for i in range(5)]
        async with AsyncNotifier(fake) as notifier:
            outcomes = await notifier.send_many(messages, concurrency=1, batch=True)
        assert all(isinstance(outcome, SendResult) for outcome in outcomes)
        assert [len(batch) for batch in fake.batches] == [3, 2]

    async def test_true_without_endpoint_raises_before_sending(self) -> None:
        fake = FakeProvider()
        async with AsyncNotifier(fake) as notifier:
            with pytest.raises(UnsupportedFeature) as caught:
                await notifier.send_many([Sms(OK_NUMBER, "Salom")], batch=True)
        assert caught.value.provider == "fake"
        assert caught.value.feature == "batch"
        assert "'fake'" in str(caught.value)
        assert "batch=False" in str(caught.value)
        assert fake.outbox == []

    async def test_true_names_policy_without_endpoint(self) -> None:
        policy = Failover([FakeProvider(batch_size=5), FakeProvider()], breaker=None)
        async with AsyncNotifier(policy) as notifier:
            with pytest.raises(UnsupportedFeature) as caught:
                await notifier.send_many([Sms(OK_NUMBER, "Salom")], batch=True)
        assert caught.value.provider == "failover(fake,fake)"

    async def test_true_with_empty_input_still_checks(self) -> None:
        async with AsyncNotifier(FakeProvider()) as notifier:
            with pytest.raises(UnsupportedFeature):
                await notifier.send_many([], batch=True)

    async def test_policy_with_batching_children_batches_or_not(self) -> None:
        first = FakeProvider(batch_size=5)
        second = FakeProvider(batch_size=5)
        messages = [Sms(OK_NUMBER, f"xabar {i}") for i in range(3)]
        async with AsyncNotifier([first, second]) as notifier:
            batched = await notifier.send_many(messages)
            single = await notifier.send_many(messages, batch=False)
        assert all(isinstance(outcome, SendResult) for outcome in batched + single)
        assert [len(batch) for batch in first.batches] == [3]
        assert len(first.outbox) == 6
        assert second.outbox == []

    @pytest.mark.parametrize("batch", ["yes", 1, 0])
    async def test_invalid_batch_is_rejected(self, batch: object) -> None:
        async with AsyncNotifier(FakeProvider(batch_size=2)) as notifier:
            with pytest.raises(TypeError, match="batch must be True, False or None"):
                await notifier.send_many([], batch=batch)  # type: ignore[arg-type]

    async def test_closed_notifier_raises_closed_first(self) -> None:
        notifier = AsyncNotifier(FakeProvider())
        await notifier.aclose()
        with pytest.raises(NotifierClosed):
            await notifier.send_many([Sms(OK_NUMBER, "Salom")], batch=True)


class TestLogging:
    async def test_one_info_line_per_send(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG, logger="notifier")
        async with AsyncNotifier(FakeProvider()) as notifier:
            result = await notifier.send(Sms(OK_NUMBER, "Maxfiy kod: 4512"))

        info = [record for record in caplog.records if record.levelno == logging.INFO]
        assert len(info) == 1
        line = info[0].getMessage()
        assert "+998*****0010" in line
        assert "fake" in line
        assert "status=queued" in line
        assert result.client_ref in line
        every_line = "\n".join(record.getMessage() for record in caplog.records)
        assert "900000010" not in every_line
        assert "Maxfiy kod" not in every_line
        assert "fake-1" in every_line  # the message id is logged at DEBUG

    async def test_failure_logs_one_info_line(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO, logger="notifier")
        async with AsyncNotifier(FakeProvider()) as notifier:
            message = Sms(FakeProvider.RATE_LIMITED_NUMBER, "Salom")
            with pytest.raises(RateLimitedError):
                await notifier.send(message)

        info = [record for record in caplog.records if record.levelno == logging.INFO]
        assert len(info) == 1
        line = info[0].getMessage()
        assert "failed" in line
        assert "status=RateLimitedError" in line
        assert message.client_ref in line
        assert "+998*****0004" in line
