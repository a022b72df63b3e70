# Uzbek sample text is written with the modifier letter U+02BB on purpose.
# ruff: noqa: RUF001
"""TwilioProvider against the simulator over real loopback sockets."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from notifier import (
    AsyncNotifier,
    AuthenticationError,
    ConfigurationError,
    DeliveryStatus,
    DeliveryUnknown,
    Encoding,
    InvalidMessage,
    Notifier,
    NotifierClosed,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
    RetryPolicy,
    SendResult,
    SendStatus,
    instant_retries,
)
from notifier._http import TransportName
from notifier._plugins import new_plugin_manager
from notifier_twilio import (
    CLIENT_REF_PARAM,
    MessageNotFound,
    TwilioInvalidRecipient,
    TwilioProvider,
    twilio_error_code,
)
from notifier_twilio.simulator import TwilioSimulator
from tests._audit import LeakAudit, find_leaks
from tests.twilio.support import PHONE, sms, wait_until

CREATE_ROUTE = "/2010-04-01/Accounts/{AccountSid}/Messages.json"


def create_path(sim: TwilioSimulator) -> str:
    return f"/2010-04-01/Accounts/{sim.account_sid}/Messages.json"


def sid_of(result: SendResult) -> str:
    assert result.message_id is not None
    return result.message_id


def make_provider(sim: TwilioSimulator, **overrides: Any) -> TwilioProvider:
    settings: dict[str, Any] = {
        "account_sid": sim.account_sid,
        "auth_token": sim.auth_token,
        "sender": sim.sender,
        "base_url": sim.base_url,
    }
    settings.update(overrides)
    return TwilioProvider(**settings)


@pytest.fixture(params=["httpx", "aiohttp"])
async def any_transport(
    request: pytest.FixtureRequest, sim: TwilioSimulator
) -> AsyncIterator[TwilioProvider]:
    """A provider on each transport; behaviour must be the same on both."""
    transport: TransportName = request.param
    async with make_provider(sim, transport=transport) as twilio:
        yield twilio


class TestSend:
    async def test_accepted_message(self, sim: TwilioSimulator, provider: TwilioProvider) -> None:
        message = sms(PHONE, "Kodingiz: 4512")

        result = await provider.send(message)

        assert result.provider == "twilio"
        assert result.message_id in sim.messages
        assert result.client_ref == message.client_ref
        assert result.status is SendStatus.QUEUED
        assert result.segments == 1
        assert result.encoding is Encoding.GSM7
        assert result.raw["sid"] == result.message_id
        assert result.elapsed > 0
        stored = sim.messages[sid_of(result)]
        assert stored.to == PHONE
        assert stored.from_ == sim.sender
        assert stored.body == "Kodingiz: 4512"
        assert sim.stats.sends == 1

    async def test_body_is_sent_unchanged(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        body = "Oʻzbekiston — салом! " * 8  # UCS-2, three parts, not trimmed

        result = await provider.send(sms(PHONE, body))

        assert sim.messages[sid_of(result)].body == body
        assert result.encoding is Encoding.UCS2
        assert result.segments == 3

    async def test_every_transport(
        self, sim: TwilioSimulator, any_transport: TwilioProvider
    ) -> None:
        result = await any_transport.send(sms(PHONE, "Salom"))

        assert result.message_id in sim.messages

    async def test_api_key_authentication(self, sim: TwilioSimulator) -> None:
        async with make_provider(
            sim, auth_token=None, api_key_sid=sim.api_key_sid, api_key_secret=sim.api_key_secret
        ) as twilio:
            result = await twilio.send(sms(PHONE, "Salom"))

        assert twilio.uses_api_key
        assert result.message_id in sim.messages

    async def test_api_key_wins_over_auth_token(self, sim: TwilioSimulator) -> None:
        async with make_provider(
            sim,
            auth_token="0" * 32,  # wrong, so only the API key can succeed
            api_key_sid=sim.api_key_sid,
            api_key_secret=sim.api_key_secret,
        ) as twilio:
            result = await twilio.send(sms(PHONE, "Salom"))

        assert result.message_id in sim.messages

    async def test_messaging_service(self, sim: TwilioSimulator) -> None:
        async with make_provider(
            sim, sender=None, messaging_service_sid=sim.messaging_service_sid
        ) as twilio:
            result = await twilio.send(sms(PHONE, "Salom"))

        stored = sim.messages[sid_of(result)]
        assert stored.messaging_service_sid == sim.messaging_service_sid
        assert stored.from_ is None
        assert result.status is SendStatus.QUEUED
        assert result.raw["status"] == "accepted"

    async def test_message_sender_wins(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        result = await provider.send(sms(PHONE, "Salom", sender="NOTIFIER"))

        assert sim.messages[sid_of(result)].from_ == "NOTIFIER"

    async def test_status_callback_carries_client_ref(self, sim: TwilioSimulator) -> None:
        async with make_provider(
            sim, status_callback="https://app.invalid/twilio/status?tenant=7"
        ) as twilio:
            message = sms(PHONE, "Salom", client_ref="buyurtma-42")
            result = await twilio.send(message)

        assert sim.messages[sid_of(result)].status_callback == (
            f"https://app.invalid/twilio/status?tenant=7&{CLIENT_REF_PARAM}=buyurtma-42"
        )

    async def test_message_callback_url_wins(self, sim: TwilioSimulator) -> None:
        async with make_provider(sim, status_callback="https://app.invalid/default") as twilio:
            result = await twilio.send(
                sms(PHONE, "Salom", callback_url="https://app.invalid/this-one", client_ref="r1")
            )

        callback = sim.messages[sid_of(result)].status_callback
        assert callback == f"https://app.invalid/this-one?{CLIENT_REF_PARAM}=r1"

    async def test_no_callback_without_url(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        result = await provider.send(sms(PHONE, "Salom"))

        assert sim.messages[sid_of(result)].status_callback is None

    async def test_concurrent_sends(self, sim: TwilioSimulator, provider: TwilioProvider) -> None:
        messages = [sms(f"+9989000000{n:02d}", f"Xabar {n}") for n in range(20)]

        results = await asyncio.gather(*(provider.send(m) for m in messages))

        assert len({r.message_id for r in results}) == 20
        assert [r.client_ref for r in results] == [m.client_ref for m in messages]
        assert sim.stats.sends == 20


class TestValidationBeforeSending:
    async def test_body_over_1600_units(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        with pytest.raises(InvalidMessage, match="1601 UTF-16 code units"):
            await provider.send(sms(PHONE, "x" * 1601))

        assert sim.stats.requests[create_path(sim)] == 0

    async def test_emoji_count_twice(self, sim: TwilioSimulator, provider: TwilioProvider) -> None:
        with pytest.raises(InvalidMessage, match="1602"):
            await provider.send(sms(PHONE, "😀" * 801))

    async def test_body_of_exactly_1600_is_sent(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        result = await provider.send(sms(PHONE, "x" * 1600))

        assert len(sim.messages[sid_of(result)].body) == 1600

    async def test_no_sender_configured(self, sim: TwilioSimulator) -> None:
        async with make_provider(sim, sender=None) as twilio:
            with pytest.raises(ConfigurationError, match="TWILIO_SENDER"):
                await twilio.send(sms(PHONE, "Salom"))

        assert sim.stats.requests[create_path(sim)] == 0

    async def test_invalid_message_sender(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        with pytest.raises(InvalidMessage, match=r"Sms\.sender"):
            await provider.send(sms(PHONE, "Salom", sender="far too long sender"))

    async def test_callback_url_not_http(self, provider: TwilioProvider) -> None:
        with pytest.raises(InvalidMessage, match="http"):
            await provider.send(sms(PHONE, "Salom", callback_url="ftp://app.invalid/cb"))


class TestErrorMapping:
    @pytest.mark.parametrize(
        ("to", "error_type", "code"),
        [
            ("+15005550001", TwilioInvalidRecipient, 21211),
            ("+15005550009", TwilioInvalidRecipient, 21614),
            ("+15005550002", RejectedError, 21612),
            ("+15005550003", RejectedError, 21408),
            ("+15005550004", RejectedError, 21610),
        ],
    )
    async def test_recipient_errors(
        self,
        sim: TwilioSimulator,
        provider: TwilioProvider,
        to: str,
        error_type: type[Exception],
        code: int,
    ) -> None:
        message = sms(to, "Salom")

        with pytest.raises(error_type) as caught:
            await provider.send(message)

        error = caught.value
        assert type(error) is error_type
        assert twilio_error_code(error) == code
        assert isinstance(error, RejectedError)
        assert error.status_code == 400
        assert error.client_ref == message.client_ref
        assert to not in str(error)
        assert message.masked_to in str(error)
        assert sim.stats.requests[create_path(sim)] == 1

    async def test_invalid_recipient_is_invalid_message(self, provider: TwilioProvider) -> None:
        with pytest.raises(InvalidMessage):
            await provider.send(sms("+15005550001", "Salom"))

    @pytest.mark.parametrize(("sender", "code"), [("+15005550007", 21606), ("+15005550008", 21611)])
    async def test_sender_errors(self, sim: TwilioSimulator, sender: str, code: int) -> None:
        async with make_provider(sim, sender=sender) as twilio:
            with pytest.raises((RejectedError, RateLimitedError)) as caught:
                await twilio.send(sms(PHONE, "Salom"))

        assert twilio_error_code(caught.value) == code

    async def test_unknown_messaging_service(self, sim: TwilioSimulator) -> None:
        async with make_provider(sim, sender=None, messaging_service_sid="MG" + "0" * 32) as twilio:
            with pytest.raises(RejectedError, match="TWILIO_MESSAGING_SERVICE_SID") as caught:
                await twilio.send(sms(PHONE, "Salom"))

        assert twilio_error_code(caught.value) == 21701

    async def test_wrong_auth_token(self, sim: TwilioSimulator) -> None:
        async with make_provider(sim, auth_token="0" * 32) as twilio:
            with pytest.raises(AuthenticationError, match="20003") as caught:
                await twilio.send(sms(PHONE, "Salom"))

        assert caught.value.status_code == 401
        assert sim.stats.requests[create_path(sim)] == 1
        assert sim.stats.auth_failures == 1

    async def test_wrong_api_key_secret(self, sim: TwilioSimulator) -> None:
        async with make_provider(
            sim, api_key_sid=sim.api_key_sid, api_key_secret="not-the-secret"
        ) as twilio:
            with pytest.raises(AuthenticationError):
                await twilio.send(sms(PHONE, "Salom"))

    async def test_other_account_path(self, sim: TwilioSimulator) -> None:
        async with make_provider(sim, account_sid="AC" + "0" * 32) as twilio:
            with pytest.raises(AuthenticationError):
                await twilio.send(sms(PHONE, "Salom"))

    async def test_error_messages_and_summaries_hide_numbers(
        self, provider: TwilioProvider
    ) -> None:
        with pytest.raises(RejectedError) as caught:
            await provider.send(sms("+15005550003", "Salom"))

        assert find_leaks(str(caught.value), []) == []
        assert find_leaks(repr(caught.value), []) == []


class TestInjectedStatuses:
    """fail_next() without a code gives the error a real Twilio response would give."""

    async def test_401_is_authentication_error(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        sim.fail_next(401, operation="create")

        with instant_retries(), pytest.raises(AuthenticationError) as caught:
            await provider.send(sms(PHONE, "Salom"))

        assert twilio_error_code(caught.value) == 20003
        assert sim.stats.requests[create_path(sim)] == 1

    async def test_403_is_authentication_error(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        sim.fail_next(403, operation="create")

        with instant_retries(), pytest.raises(AuthenticationError) as caught:
            await provider.send(sms(PHONE, "Salom"))

        assert twilio_error_code(caught.value) == 20403
        assert "suspended or closed" in caught.value.message

    async def test_400_without_code_is_rejected(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        sim.fail_next(400, operation="create")

        with instant_retries(), pytest.raises(RejectedError) as caught:
            await provider.send(sms(PHONE, "Salom"))

        assert twilio_error_code(caught.value) is None
        assert sim.stats.requests[create_path(sim)] == 1


class TestRetries:
    async def test_503_then_success(
        self, sim: TwilioSimulator, any_transport: TwilioProvider
    ) -> None:
        sim.fail_next(503, operation="create")

        with instant_retries() as waits:
            result = await any_transport.send(sms(PHONE, "Salom"))

        assert result.message_id in sim.messages
        assert sim.stats.requests[create_path(sim)] == 2
        assert sim.stats.sends == 1
        assert len(waits) == 1

    async def test_503_three_times(self, sim: TwilioSimulator, provider: TwilioProvider) -> None:
        sim.fail_next(503, times=3, operation="create")
        message = sms(PHONE, "Salom")

        with instant_retries(), pytest.raises(ProviderUnavailable) as caught:
            await provider.send(message)

        error = caught.value
        assert error.status_code == 503
        assert error.attempts == 3
        assert error.client_ref == message.client_ref
        assert isinstance(error.__cause__, httpx.HTTPStatusError)
        assert "20503" in (error.response_summary or "")
        assert sim.stats.requests[create_path(sim)] == 3
        assert sim.stats.sends == 0

    async def test_429_retry_after_is_honoured(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        sim.fail_next(429, retry_after=2, operation="create")

        with instant_retries() as waits:
            await provider.send(sms(PHONE, "Salom"))

        assert waits == [2.0]
        assert sim.stats.requests[create_path(sim)] == 2

    async def test_429_until_attempts_run_out(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        sim.fail_next(429, times=3, retry_after=1, operation="create")

        with instant_retries(), pytest.raises(RateLimitedError) as caught:
            await provider.send(sms(PHONE, "Salom"))

        assert caught.value.retry_after == 1.0
        assert caught.value.attempts == 3

    async def test_429_retry_after_as_http_date(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        when = datetime.now(timezone.utc) + timedelta(seconds=3)
        sim.fail_next(429, retry_after=format_datetime(when, usegmt=True), operation="create")

        with instant_retries() as waits:
            await provider.send(sms(PHONE, "Salom"))

        # The date has whole seconds, so up to one second of the three is cut off.
        assert len(waits) == 1
        assert 1.5 <= waits[0] <= 3.0

    async def test_400_is_not_retried(self, sim: TwilioSimulator, provider: TwilioProvider) -> None:
        with instant_retries() as waits, pytest.raises(RejectedError):
            await provider.send(sms("+15005550004", "Salom"))

        assert waits == []
        assert sim.stats.requests[create_path(sim)] == 1

    async def test_connection_refused_is_retried(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        # Nothing listens on the port now, so every connection is refused.
        twilio = TwilioProvider(
            account_sid="AC" + "ab" * 16,
            auth_token="0" * 32,
            sender="+15005550006",
            base_url=f"http://127.0.0.1:{port}",
        )
        with instant_retries() as waits, pytest.raises(ProviderUnavailable) as caught:
            await twilio.send(sms(PHONE, "Salom"))
        await twilio.aclose()

        assert caught.value.attempts == 3
        assert len(waits) == 2
        assert isinstance(caught.value.__cause__, httpx.ConnectError)

    async def test_fetch_retries_a_dropped_connection(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        result = await provider.send(sms(PHONE, "Salom"))
        sim.drop_next(operation="fetch")

        with instant_retries():
            resource = await provider.fetch_message(result.message_id or "")

        assert resource.sid == result.message_id
        assert sim.stats.drops == 1


class TestDeliveryUnknown:
    async def test_read_timeout_sends_once(self, sim: TwilioSimulator, transport: str) -> None:
        sim.configure(latency=1.0)
        message = sms(PHONE, "Salom")
        async with make_provider(sim, timeout=0.2, transport=transport) as twilio:
            with instant_retries() as waits, pytest.raises(DeliveryUnknown) as caught:
                await twilio.send(message)

        assert caught.value.client_ref == message.client_ref
        assert sim.stats.requests[create_path(sim)] == 1
        assert waits == []
        # The simulator processed the request before the delay: the message
        # exists, which is why the provider must not send it again.
        assert sim.stats.sends == 1

    @pytest.mark.parametrize("after_processing", [False, True], ids=["before", "after"])
    async def test_dropped_connection_sends_once(
        self, sim: TwilioSimulator, any_transport: TwilioProvider, after_processing: bool
    ) -> None:
        sim.drop_next(after_processing=after_processing, operation="create")
        message = sms(PHONE, "Salom")

        with instant_retries(), pytest.raises(DeliveryUnknown) as caught:
            await any_transport.send(message)

        assert caught.value.client_ref == message.client_ref
        assert sim.stats.requests[create_path(sim)] == 1
        assert sim.stats.sends == (1 if after_processing else 0)

    async def test_504_sends_once(self, sim: TwilioSimulator, provider: TwilioProvider) -> None:
        sim.fail_next(504, operation="create")

        with instant_retries(), pytest.raises(DeliveryUnknown) as caught:
            await provider.send(sms(PHONE, "Salom"))

        assert caught.value.status_code == 504
        assert sim.stats.requests[create_path(sim)] == 1

    async def test_resend_on_timeout_is_opt_in(self, sim: TwilioSimulator) -> None:
        sim.fail_next(504, operation="create")
        async with make_provider(sim, retry=RetryPolicy(resend_on_timeout=True)) as twilio:
            with instant_retries():
                result = await twilio.send(sms(PHONE, "Salom"))

        assert result.message_id in sim.messages
        assert sim.stats.requests[create_path(sim)] == 2


@pytest.fixture(params=["httpx", "aiohttp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestStatus:
    async def test_get_status_follows_progress(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        message = sms(PHONE, "Salom")
        result = await provider.send(message)
        sid = result.message_id or ""

        queued = await provider.get_status(sid)
        await sim.asettle()
        delivered = await provider.get_status(sid)

        assert queued.status is DeliveryStatus.ACCEPTED
        assert queued.provider_status == "queued"
        assert delivered.status is DeliveryStatus.DELIVERED
        assert delivered.client_ref == message.client_ref
        assert delivered.to == PHONE
        assert delivered.occurred_at is not None
        assert delivered.occurred_at.tzinfo is not None
        assert sim.stats.fetches == 2

    async def test_failed_message_has_error_code(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        result = await provider.send(sms("+998900000093", "Salom"))
        await sim.asettle()

        report = await provider.get_status(result.message_id or "")

        assert report.status is DeliveryStatus.REJECTED
        assert report.provider_status == "failed"
        assert report.error_code == "30007"

    async def test_message_from_another_process_has_no_client_ref(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        result = await provider.send(sms(PHONE, "Salom"))
        async with make_provider(sim) as other:
            report = await other.get_status(result.message_id or "")

        assert report.client_ref is None

    async def test_unknown_sid(self, sim: TwilioSimulator, provider: TwilioProvider) -> None:
        sid = "SM" + "0" * 32

        with pytest.raises(MessageNotFound) as caught:
            await provider.fetch_message(sid)

        assert isinstance(caught.value, RejectedError)
        assert caught.value.status_code == 404
        assert caught.value.message_id == sid
        assert twilio_error_code(caught.value) == 20404
        assert sid in str(caught.value)

    @pytest.mark.parametrize("sid", ["", "123", "SM123", "AC" + "0" * 32])
    async def test_malformed_sid(
        self, sim: TwilioSimulator, provider: TwilioProvider, sid: str
    ) -> None:
        with pytest.raises(InvalidMessage, match="Message SID"):
            await provider.fetch_message(sid)

        assert sum(sim.stats.requests.values()) == 0


class TestAccount:
    async def test_check_credentials(self, sim: TwilioSimulator, provider: TwilioProvider) -> None:
        await provider.check_credentials()

        assert sim.stats.requests[f"/2010-04-01/Accounts/{sim.account_sid}.json"] == 1

    async def test_check_credentials_with_wrong_key(self, sim: TwilioSimulator) -> None:
        async with make_provider(sim, api_key_sid=sim.api_key_sid, api_key_secret="x") as twilio:
            with pytest.raises(AuthenticationError):
                await twilio.check_credentials()

    async def test_balance(self, sim: TwilioSimulator, provider: TwilioProvider) -> None:
        sim.configure(balance="12.34", currency="EUR")

        assert await provider.balance() == "12.34 EUR"

    async def test_balance_retried_after_503(
        self, sim: TwilioSimulator, provider: TwilioProvider
    ) -> None:
        sim.fail_next(503, operation="account")

        with instant_retries():
            assert await provider.balance() == "20.00 USD"


class TestLifecycle:
    async def test_cancelled_send_ends_its_span(
        self, sim: TwilioSimulator, provider: TwilioProvider, spans: InMemorySpanExporter
    ) -> None:
        sim.configure(latency=2.0)
        task = asyncio.create_task(provider.send(sms(PHONE, "Salom")))
        assert await asyncio.to_thread(wait_until, lambda: sim.stats.sends == 1)

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        [client_span] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
        assert client_span.attributes is not None
        assert client_span.attributes["error.type"] == "CancelledError"
        # The provider stays usable after a cancelled send.
        sim.configure(latency=0.0)
        assert (await provider.send(sms(PHONE, "Salom"))).message_id in sim.messages

    def test_blocking_notifier_from_threads(self, sim: TwilioSimulator) -> None:
        messages = [sms(PHONE, f"Xabar {n}") for n in range(10)]
        with (
            Notifier(make_provider(sim), plugins=new_plugin_manager()) as notifier,
            ThreadPoolExecutor(max_workers=5) as pool,
        ):
            results = list(pool.map(notifier.send, messages))

        assert len({result.message_id for result in results}) == 10
        assert sim.stats.sends == 10

    async def test_send_after_close(self, sim: TwilioSimulator) -> None:
        twilio = make_provider(sim)
        await twilio.aclose()

        with pytest.raises(NotifierClosed):
            await twilio.send(sms(PHONE, "Salom"))

    async def test_borrowed_client_stays_open(self, sim: TwilioSimulator) -> None:
        async with httpx.AsyncClient() as client:
            twilio = make_provider(sim, http_client=client)
            await twilio.send(sms(PHONE, "Salom"))
            await twilio.aclose()

            assert not client.is_closed

    async def test_usable_after_error(self, sim: TwilioSimulator, provider: TwilioProvider) -> None:
        with pytest.raises(RejectedError):
            await provider.send(sms("+15005550004", "Salom"))

        result = await provider.send(sms(PHONE, "Salom"))

        assert result.message_id in sim.messages

    def test_two_event_loops_in_a_row(self, sim: TwilioSimulator) -> None:
        twilio = make_provider(sim)

        first = asyncio.run(twilio.send(sms(PHONE, "Birinchi")))
        second = asyncio.run(twilio.send(sms(PHONE, "Ikkinchi")))
        asyncio.run(twilio.aclose())

        assert first.message_id != second.message_id
        assert sim.stats.sends == 2


class TestConstruction:
    @pytest.mark.parametrize(
        ("overrides", "fragment"),
        [
            ({"account_sid": "ACshort"}, "TWILIO_ACCOUNT_SID"),
            ({"auth_token": None}, "needs credentials"),
            ({"auth_token": ""}, "needs credentials"),
            ({"api_key_sid": "SK" + "a" * 32}, "both TWILIO_API_KEY_SID"),
            ({"api_key_secret": "s"}, "both TWILIO_API_KEY_SID"),
            ({"api_key_sid": "XX" + "a" * 32, "api_key_secret": "s"}, "'SK'"),
            ({"messaging_service_sid": "MG123"}, "TWILIO_MESSAGING_SERVICE_SID"),
            ({"sender": "+99890"}, "E.164"),
            ({"sender": "!!"}, "not a Twilio sender"),
            ({"status_callback": "/relative/path"}, "TWILIO_STATUS_CALLBACK"),
            ({"status_callback": "https:///no-host"}, "TWILIO_STATUS_CALLBACK"),
            ({"base_url": "ftp://api.invalid"}, "base_url"),
            ({"transport": "curl"}, "transport"),
        ],
    )
    def test_invalid_settings(self, overrides: dict[str, Any], fragment: str) -> None:
        settings: dict[str, Any] = {
            "account_sid": "AC" + "ab" * 16,
            "auth_token": "t" * 32,
            "sender": "+15005550006",
            "base_url": "http://127.0.0.1:9",
        }
        settings.update(overrides)

        with pytest.raises(ConfigurationError, match=fragment):
            TwilioProvider(**settings)

    def test_errors_never_show_secrets(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            TwilioProvider(
                account_sid="AC" + "ab" * 16,
                api_key_sid="SK" + "a" * 32,
                api_key_secret=None,
                auth_token=None,
            )
        assert "t" * 32 not in str(caught.value)

    @pytest.mark.parametrize(
        ("sender", "expected"),
        [("+1 500 555 0006", "+15005550006"), ("NOTIFIER", "NOTIFIER"), ("12345", "12345")],
    )
    def test_sender_forms(self, sender: str, expected: str) -> None:
        twilio = TwilioProvider(
            account_sid="AC" + "ab" * 16,
            auth_token="t" * 32,
            sender=sender,
            base_url="http://127.0.0.1:9",
        )

        assert twilio.sender == expected

    def test_repr_has_no_secret(self, leak_audit: LeakAudit) -> None:
        token = "f" * 32
        twilio = TwilioProvider(
            account_sid="AC" + "ab" * 16,
            auth_token=token,
            base_url="http://127.0.0.1:9",
        )

        assert token not in repr(twilio)
        assert token not in repr(twilio._auth)

    def test_capabilities(self) -> None:
        assert TwilioProvider.capabilities.delivery_reports
        assert not TwilioProvider.capabilities.batch
        assert TwilioProvider.capabilities.unicode


class TestTelemetry:
    async def test_client_span_per_attempt(
        self, sim: TwilioSimulator, provider: TwilioProvider, spans: InMemorySpanExporter
    ) -> None:
        sim.fail_next(503, operation="create")

        with instant_retries():
            await provider.send(sms(PHONE, "Salom"))

        client_spans = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
        assert [s.name for s in client_spans] == [f"POST {CREATE_ROUTE}"] * 2
        first, second = client_spans
        assert first.attributes is not None
        assert second.attributes is not None
        assert first.attributes["http.response.status_code"] == 503
        assert second.attributes["http.response.status_code"] == 201
        assert second.attributes["http.request.resend_count"] == 1
        assert second.attributes["server.address"] == "127.0.0.1"
        assert first.instrumentation_scope is not None
        assert first.instrumentation_scope.name == "notifier.twilio"

    async def test_spans_nest_under_send_span(
        self, sim: TwilioSimulator, provider: TwilioProvider, spans: InMemorySpanExporter
    ) -> None:
        async with AsyncNotifier(provider, plugins=new_plugin_manager()) as notifier:
            result = await notifier.send(sms(PHONE, "Salom"))

        finished = spans.get_finished_spans()
        [send_span] = [s for s in finished if s.name == "notifier.send"]
        [client_span] = [s for s in finished if s.kind is SpanKind.CLIENT]
        assert client_span.parent is not None
        assert send_span.context is not None
        assert client_span.parent.span_id == send_span.context.span_id
        assert send_span.attributes is not None
        assert send_span.attributes["messaging.message.id"] == result.message_id

    async def test_spans_carry_no_account_sid_or_numbers(
        self, sim: TwilioSimulator, provider: TwilioProvider, spans: InMemorySpanExporter
    ) -> None:
        with pytest.raises(RejectedError):
            await provider.send(sms("+15005550004", "Salom"))

        for span in spans.get_finished_spans():
            text = " ".join(f"{k}={v!s}" for k, v in (span.attributes or {}).items())
            text += " " + span.name + " " + (span.status.description or "")
            assert sim.account_sid not in text
            assert find_leaks(text, [sim.auth_token]) == []


class TestLogging:
    async def test_no_secret_or_number_in_logs(
        self,
        sim: TwilioSimulator,
        caplog: pytest.LogCaptureFixture,
        leak_audit: LeakAudit,
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="notifier")
        async with make_provider(
            sim, api_key_sid=sim.api_key_sid, api_key_secret=sim.api_key_secret
        ) as twilio:
            with instant_retries():
                sim.fail_next(503, operation="create")
                await twilio.send(sms(PHONE, "Maxfiy kod: 4512"))
                for number in ("+15005550001", "+15005550004"):
                    with pytest.raises(RejectedError):
                        await twilio.send(sms(number, "Maxfiy kod: 4512"))
            await sim.asettle()

        text = "\n".join(record.getMessage() for record in caplog.records)
        assert caplog.records, "the provider and the simulator log at DEBUG and INFO"
        assert find_leaks(text, sorted(leak_audit.secrets)) == []
        assert "Maxfiy kod" not in text
        assert "+998*****0001" in text
