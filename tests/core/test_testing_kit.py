"""Tests of notifier.testing: FakeProvider, the assertions and the pytest plugin."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

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
    ProviderError,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
    SendResult,
    Sms,
    UnsupportedFeature,
)
from notifier._retry import RetryableFailure, RetryPolicy, retry_call
from notifier.testing import (
    FakeProvider,
    assert_nothing_sent,
    assert_sent,
    instant_retries,
)

OK_NUMBER = "+998900000010"


class TestFakeProvider:
    async def test_records_outbox_and_results(self) -> None:
        fake = FakeProvider()
        first = await fake.send(Sms(OK_NUMBER, "Salom"))
        second = await fake.send(Sms(OK_NUMBER, "Ўзбекистон"))

        assert [message.body for message in fake.outbox] == ["Salom", "Ўзбекистон"]
        assert fake.sent == [first, second]
        assert first.message_id == "fake-1"
        assert second.message_id == "fake-2"
        assert second.encoding is Encoding.UCS2
        assert first.raw == {"id": "fake-1", "status": "queued"}

    @pytest.mark.parametrize(
        ("number", "error_type", "status"),
        [
            pytest.param(FakeProvider.REJECTED_NUMBER, RejectedError, 400, id="rejected"),
            pytest.param(FakeProvider.UNAVAILABLE_NUMBER, ProviderUnavailable, 503, id="5xx"),
            pytest.param(FakeProvider.UNKNOWN_NUMBER, DeliveryUnknown, 504, id="unknown"),
            pytest.param(FakeProvider.RATE_LIMITED_NUMBER, RateLimitedError, 429, id="429"),
            pytest.param(FakeProvider.AUTH_FAILED_NUMBER, AuthenticationError, 401, id="auth"),
        ],
    )
    async def test_magic_numbers(
        self, number: str, error_type: type[ProviderError], status: int
    ) -> None:
        fake = FakeProvider()
        message = Sms(number.replace("+998", "").strip(), "Salom")
        with pytest.raises(error_type) as caught:
            await fake.send(message)
        error = caught.value
        assert type(error) is error_type
        assert error.status_code == status
        assert error.provider == "fake"
        assert error.client_ref == message.client_ref
        assert number[4:] not in str(error)
        assert fake.outbox == []
        assert fake.failed == [(message, error)]

    async def test_rate_limited_number_sets_retry_after(self) -> None:
        with pytest.raises(RateLimitedError) as caught:
            await FakeProvider().send(Sms(FakeProvider.RATE_LIMITED_NUMBER, "Salom"))
        assert caught.value.retry_after == 1.0

    async def test_fail_next_with_class_and_times(self) -> None:
        fake = FakeProvider()
        fake.fail_next(ProviderUnavailable, times=2)
        for _ in range(2):
            message = Sms(OK_NUMBER, "Salom")
            with pytest.raises(ProviderUnavailable) as caught:
                await fake.send(message)
            assert caught.value.client_ref == message.client_ref
            assert caught.value.provider == "fake"
        assert (await fake.send(Sms(OK_NUMBER, "Salom"))).message_id == "fake-1"

    async def test_fail_next_with_instance_in_order(self) -> None:
        fake = FakeProvider()
        rejected = RejectedError("Balance is too low", provider="fake", status_code=400)
        fake.fail_next(rejected)
        fake.fail_next(NotifierClosed)
        with pytest.raises(RejectedError) as caught:
            await fake.send(Sms(OK_NUMBER, "Salom"))
        assert caught.value is rejected
        with pytest.raises(NotifierClosed, match="Scripted NotifierClosed"):
            await fake.send(Sms(OK_NUMBER, "Salom"))

    def test_fail_next_rejects_bad_arguments(self) -> None:
        fake = FakeProvider()
        with pytest.raises(ValueError, match="positive integer, got 0"):
            fake.fail_next(RejectedError, times=0)
        with pytest.raises(TypeError, match="NotifierError"):
            fake.fail_next(ValueError)  # type: ignore[arg-type]

    async def test_reset_forgets_everything(self) -> None:
        fake = FakeProvider()
        await fake.send(Sms(OK_NUMBER, "Salom"))
        fake.fail_next(RejectedError)
        fake.reset()
        assert fake.outbox == []
        assert fake.sent == []
        assert isinstance(await fake.send(Sms(OK_NUMBER, "Salom")), SendResult)

    async def test_closed_fake_raises(self) -> None:
        fake = FakeProvider()
        await fake.aclose()
        await fake.aclose()
        with pytest.raises(NotifierClosed):
            await fake.send(Sms(OK_NUMBER, "Salom"))

    def test_invalid_constructor_arguments(self) -> None:
        with pytest.raises(ConfigurationError, match="batch_size"):
            FakeProvider(batch_size=0)
        with pytest.raises(ConfigurationError, match="delay"):
            FakeProvider(delay=-1)


class TestFakeCredentialCheck:
    async def test_accepts_and_counts(self) -> None:
        fake = FakeProvider()
        assert await fake.check_credentials() is None
        await fake.check_credentials()
        assert fake.credential_checks == 2
        assert fake.outbox == []
        assert fake.sent == []

    async def test_invalid_credentials_raise(self) -> None:
        fake = FakeProvider()
        fake.credentials_valid = False
        with pytest.raises(AuthenticationError) as caught:
            await fake.check_credentials()
        assert caught.value.provider == "fake"
        assert caught.value.status_code == 401
        assert "credentials_valid" in str(caught.value)
        assert fake.credential_checks == 1

    async def test_scripted_failure_stays_for_send(self) -> None:
        fake = FakeProvider()
        fake.fail_next(RejectedError)
        await fake.check_credentials()
        with pytest.raises(RejectedError):
            await fake.send(Sms(OK_NUMBER, "Salom"))

    async def test_closed_fake_raises_closed(self) -> None:
        fake = FakeProvider()
        await fake.aclose()
        with pytest.raises(NotifierClosed):
            await fake.check_credentials()
        assert fake.credential_checks == 0

    async def test_reset_clears_count(self) -> None:
        fake = FakeProvider()
        await fake.check_credentials()
        fake.reset()
        assert fake.credential_checks == 0


class TestFakeBatch:
    def test_batch_is_per_instance(self) -> None:
        batching = FakeProvider(batch_size=4)
        assert batching.capabilities.batch
        assert batching.capabilities.max_batch_size == 4
        assert not FakeProvider.capabilities.batch
        assert not FakeProvider().capabilities.batch

    async def test_send_batch_answers_per_message(self) -> None:
        fake = FakeProvider(batch_size=3)
        messages = [
            Sms(OK_NUMBER, "birinchi"),
            Sms(FakeProvider.REJECTED_NUMBER, "ikkinchi"),
            Sms(OK_NUMBER, "uchinchi"),
        ]
        outcomes = await fake.send_batch(messages)
        assert isinstance(outcomes[0], SendResult)
        assert isinstance(outcomes[1], RejectedError)
        assert isinstance(outcomes[2], SendResult)
        assert fake.batches == [messages]

    async def test_whole_request_error_is_raised(self) -> None:
        fake = FakeProvider(batch_size=3)
        fake.fail_next(AuthenticationError)
        with pytest.raises(AuthenticationError):
            await fake.send_batch([Sms(OK_NUMBER, "a"), Sms(OK_NUMBER, "b")])

    async def test_oversized_batch_is_rejected(self) -> None:
        fake = FakeProvider(batch_size=1)
        with pytest.raises(InvalidMessage, match="exceeds the fake's batch_size 1"):
            await fake.send_batch([Sms(OK_NUMBER, "a"), Sms(OK_NUMBER, "b")])

    async def test_batch_unsupported_without_batch_size(self) -> None:
        with pytest.raises(UnsupportedFeature) as caught:
            await FakeProvider().send_batch([Sms(OK_NUMBER, "a")])
        assert caught.value.feature == "batch"


class TestDeliveryReports:
    def test_round_trip(self) -> None:
        fake = FakeProvider()
        result = SendResult(
            provider="fake",
            message_id="fake-9",
            client_ref="order-9",
            status="queued",  # type: ignore[arg-type]
            segments=1,
            encoding=Encoding.GSM7,
        )
        when = datetime(2024, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=5)))
        body = FakeProvider.delivery_report_body(
            result, DeliveryStatus.UNDELIVERED, to=OK_NUMBER, error_code="X1", occurred_at=when
        )
        [report] = fake.parse_delivery_report(body, "application/json; charset=utf-8")

        assert report.provider == "fake"
        assert report.message_id == "fake-9"
        assert report.client_ref == "order-9"
        assert report.status is DeliveryStatus.UNDELIVERED
        assert report.provider_status == "undelivered"
        assert report.to == OK_NUMBER
        assert report.error_code == "X1"
        assert report.occurred_at == when

    def test_list_and_unknown_status(self) -> None:
        body = json.dumps(
            [
                {"message_id": "fake-1", "client_ref": "a", "status": "DELIVERED"},
                {"message_id": "fake-2", "client_ref": "b", "status": "lost-in-space"},
            ]
        ).encode()
        reports = FakeProvider().parse_delivery_report(body, "application/json")
        assert [report.status for report in reports] == [
            DeliveryStatus.DELIVERED,
            DeliveryStatus.UNKNOWN,
        ]
        assert reports[1].provider_status == "lost-in-space"

    @pytest.mark.parametrize(
        ("body", "content_type", "message"),
        [
            pytest.param(b"{}", "text/plain", "content type 'text/plain'", id="content-type"),
            pytest.param(b"{not json", "application/json", "not valid JSON", id="json"),
            pytest.param(b"\xff\xfe\x00", "application/json", "not", id="bytes"),
            pytest.param(b'{"id": 1}', "application/json", "'status' string", id="no-status"),
            pytest.param(
                b'{"status": "delivered", "occurred_at": "2024-05-01T09:30:00"}',
                "application/json",
                "without a time zone",
                id="naive-time",
            ),
            pytest.param(
                b'{"status": "delivered", "occurred_at": "yesterday"}',
                "application/json",
                "invalid occurred_at",
                id="bad-time",
            ),
        ],
    )
    def test_invalid_reports_raise(self, body: bytes, content_type: str, message: str) -> None:
        with pytest.raises(InvalidMessage, match=message):
            FakeProvider().parse_delivery_report(body, content_type)


class TestFromEnv:
    def test_reads_prefixed_variables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NOTIFIER_FAKE_BATCH_SIZE", "25")
        monkeypatch.setenv("NOTIFIER_FAKE_DELAY", "0.5")
        fake = FakeProvider.from_env()
        assert fake.batch_size == 25
        assert fake.delay == 0.5

    def test_keywords_override(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NOTIFIER_FAKE_BATCH_SIZE", "25")
        assert FakeProvider.from_env(batch_size=2).batch_size == 2

    def test_invalid_value_names_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NOTIFIER_FAKE_DELAY", "soon")
        with pytest.raises(ConfigurationError, match="NOTIFIER_FAKE_DELAY"):
            FakeProvider.from_env()


class TestAssertions:
    def test_assert_sent_matches_and_returns(self) -> None:
        outbox = [
            Sms(OK_NUMBER, "Kod: 1111"),
            Sms("+998900000011", "Kod: 2222", sender="4546"),
        ]
        found = assert_sent(outbox, to="90 000 00 11", contains="2222", sender="4546")
        assert found is outbox[1]
        assert assert_sent(outbox, contains="Kod", count=2) is outbox[1]

    def test_assert_sent_failure_masks_numbers(self) -> None:
        outbox = [Sms(OK_NUMBER, "Kod: 1111")]
        with pytest.raises(AssertionError) as caught:
            assert_sent(outbox, to="+998900000099")
        text = str(caught.value)
        assert "+998*****0099" in text
        assert "+998*****0010" in text
        assert "900000010" not in text

    def test_assert_sent_count_mismatch(self) -> None:
        outbox = [Sms(OK_NUMBER, "Kod: 1111")]
        with pytest.raises(AssertionError, match="expected 2 sent message"):
            assert_sent(outbox, contains="Kod", count=2)

    def test_assert_nothing_sent(self) -> None:
        assert_nothing_sent([])
        with pytest.raises(AssertionError, match="found 1"):
            assert_nothing_sent([Sms(OK_NUMBER, "Salom")])


class TestFixtures:
    async def test_notifier_fake(
        self, notifier_fake: AsyncNotifier, fake_provider: FakeProvider
    ) -> None:
        assert notifier_fake.provider is fake_provider
        await notifier_fake.send(Sms(OK_NUMBER, "Salom"))
        assert_sent(fake_provider.outbox, to=OK_NUMBER)

    def test_sync_notifier_fake(
        self, sync_notifier_fake: Notifier, fake_provider: FakeProvider
    ) -> None:
        sync_notifier_fake.send(Sms(OK_NUMBER, "Salom"))
        assert_sent(fake_provider.outbox, contains="Salom", count=1)

    async def test_instant_retries_fixture(self, notifier_instant_retries: list[float]) -> None:
        attempts: list[int] = []

        async def flaky(attempt: int) -> str:
            attempts.append(attempt)
            if attempt == 1:
                raise RetryableFailure(
                    ProviderUnavailable("503", provider="fake"), reason="HTTP 503", retry_after=20
                )
            return "ok"

        assert await retry_call(flaky, RetryPolicy()) == "ok"
        assert attempts == [1, 2]
        assert notifier_instant_retries == [20]

    def test_instant_retries_is_the_retry_module_one(self) -> None:
        from notifier import _retry

        assert instant_retries is _retry.instant_retries


def test_fake_is_registered_as_entry_point() -> None:
    [entry_point] = [
        entry_point
        for entry_point in importlib.metadata.entry_points(group="notifier")
        if entry_point.name == "fake"
    ]
    assert entry_point.value == "notifier.testing._plugin"


USER_TESTS = textwrap.dedent(
    """
    import asyncio

    from notifier import Sms
    from notifier.testing import assert_sent


    def test_sync(sync_notifier_fake, fake_provider):
        sync_notifier_fake.send(Sms("+998900000010", "Buyurtmangiz tayyor"))
        assert_sent(fake_provider.outbox, to="90 000 00 10", contains="tayyor")


    def test_async(notifier_fake, fake_provider):
        asyncio.run(notifier_fake.send(Sms("+998900000010", "Salom")))
        assert_sent(fake_provider.outbox, contains="Salom")


    def test_missing(fake_provider):
        assert_sent(fake_provider.outbox, to="+998900000099")
    """
)


def test_pytest_plugin_in_a_user_project(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = completed.stdout
    assert "1 failed, 2 passed" in output, output
    assert "no sent message matches to=+998*****0099" in output
