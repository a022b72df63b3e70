"""Sending through EskizProvider against the simulator: wire format, errors, retries, settings."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from notifier import (
    AuthenticationError,
    Capabilities,
    ConfigurationError,
    DeliveryUnknown,
    Encoding,
    InvalidMessage,
    NotifierClosed,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
    RetryPolicy,
    SendStatus,
    Sms,
    UnsupportedFeature,
)
from notifier._http import TransportName
from notifier_eskiz import DEFAULT_BASE_URL, EskizProvider, EskizSettings
from notifier_eskiz.simulator import TRIAL_TEXTS, EskizSimulator
from tests.eskiz.conftest import TRIAL_TEXT, UZ_PHONE, ProviderFactory

pytestmark = pytest.mark.usefixtures("instant")

SEND_PATH = "/message/sms/send"


class TestSend:
    async def test_local_send(self, sim: EskizSimulator, provider: EskizProvider) -> None:
        message = Sms(UZ_PHONE, "Buyurtmangiz tayyor. Kod: 4512", client_ref="order-4512")
        result = await provider.send(message)

        assert result.provider == "eskiz"
        assert result.client_ref == "order-4512"
        assert result.status is SendStatus.QUEUED
        assert result.segments == 1
        assert result.encoding is Encoding.GSM7
        (stored,) = sim.messages
        assert result.message_id == stored.request_id
        assert uuid.UUID(result.message_id or "")
        assert stored.to == "998900000011"
        assert stored.text == "Buyurtmangiz tayyor. Kod: 4512"
        assert stored.nick == "4546"
        assert stored.user_sms_id == "order-4512"
        assert stored.international is False

    async def test_cyrillic_two_parts(self, sim: EskizSimulator, provider: EskizProvider) -> None:
        body = "Ҳурматли мижоз, буюртмангиз тайёр. Уни эртага соат ўн бирдан кейин олиб кетинг!"
        assert len(body) > 70
        result = await provider.send(Sms(UZ_PHONE, body))
        assert result.encoding is Encoding.UCS2
        assert result.segments == 2
        (stored,) = sim.messages
        assert stored.parts == 2
        assert stored.encoding == 8
        assert stored.text == body

    async def test_modifier_letter_is_ucs2(self, provider: EskizProvider) -> None:
        # U+02BB (MODIFIER LETTER TURNED COMMA), used in Uzbek Latin, is not GSM-7.
        result = await provider.send(Sms(UZ_PHONE, "O\u02bbzbekiston"))
        assert result.encoding is Encoding.UCS2
        plain = await provider.send(Sms(UZ_PHONE, "O'zbekiston"))
        assert plain.encoding is Encoding.GSM7

    @pytest.mark.parametrize("sim_options", [{"nicks": ("4546", "MyShop")}])
    async def test_sender_and_callback(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        provider = make_provider(callback_url="http://127.0.0.1:9/eskiz/default")
        await provider.send(Sms(UZ_PHONE, "Salom", sender="MyShop"))
        await provider.send(Sms(UZ_PHONE, "Salom", callback_url="http://127.0.0.1:9/eskiz/own"))
        first, second = sim.messages
        assert first.nick == "MyShop"
        assert first.callback_url == "http://127.0.0.1:9/eskiz/default"
        assert second.nick == "4546"
        assert second.callback_url == "http://127.0.0.1:9/eskiz/own"

    async def test_foreign_number_uses_send_global(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        result = await provider.send(Sms("+77010000011", "Сәлем! Код: 4512"))
        assert result.status is SendStatus.QUEUED
        assert sim.stats.requests["/message/sms/send-global"] == 1
        assert sim.stats.requests[SEND_PATH] == 0
        (stored,) = sim.messages
        assert stored.international is True
        assert stored.country_code == "KZ"
        assert stored.encoding == 8  # unicode="1" because the text needs UCS-2

    async def test_foreign_sender_unsupported(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        with pytest.raises(UnsupportedFeature, match="sender") as caught:
            await provider.send(Sms("+77010000011", "Salem", sender="MyShop"))
        assert caught.value.feature == "sender"
        assert sim.stats.requests == {}

    async def test_non_geographic_number_rejected(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        with pytest.raises(InvalidMessage, match="country"):
            await provider.send(Sms("+80012345678", "Salom"))
        assert sim.stats.requests == {}

    async def test_user_sms_id_same_on_retries(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        sim.fail_next(503, times=2, path=SEND_PATH)
        result = await provider.send(Sms(UZ_PHONE, "Salom", client_ref="ref-retry"))
        assert result.client_ref == "ref-retry"
        assert sim.stats.requests[SEND_PATH] == 3
        (stored,) = sim.messages
        assert stored.user_sms_id == "ref-retry"


class TestRejections:
    @pytest.mark.parametrize("sim_options", [{"role": "test"}])
    async def test_trial_account_texts(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        provider = make_provider()
        for text in TRIAL_TEXTS:
            await provider.send(Sms(UZ_PHONE, text))
        with pytest.raises(RejectedError, match="trial") as caught:
            await provider.send(Sms(UZ_PHONE, "Buyurtmangiz tayyor"))
        assert caught.value.status_code == 400
        assert sim.stats.sends == 3
        assert sim.stats.requests[SEND_PATH] == 4

    @pytest.mark.parametrize("sim_options", [{"moderation": True}])
    async def test_moderation(self, sim: EskizSimulator, make_provider: ProviderFactory) -> None:
        provider = make_provider()
        text = "Hurmatli mijoz, buyurtmangiz tayyor"
        with pytest.raises(RejectedError, match="moderation"):
            await provider.send(Sms(UZ_PHONE, text))
        await provider.submit_template(text)
        sim.approve_template(text)
        result = await provider.send(Sms(UZ_PHONE, text))
        assert result.status is SendStatus.QUEUED

    @pytest.mark.parametrize(
        "sim_options",
        [{"insufficient_balance_status": 400}, {"insufficient_balance_status": 402}],
        ids=["400", "402"],
    )
    async def test_insufficient_balance(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        sim.set_balance(0)
        provider = make_provider()
        with pytest.raises(RejectedError, match="balance") as caught:
            await provider.send(Sms(UZ_PHONE, TRIAL_TEXT))
        assert caught.value.status_code == sim.config.insufficient_balance_status
        assert sim.stats.requests[SEND_PATH] == 1

    async def test_unapproved_sender(self, sim: EskizSimulator, provider: EskizProvider) -> None:
        with pytest.raises(RejectedError) as caught:
            await provider.send(Sms(UZ_PHONE, "Salom", sender="Unknown"))
        assert caught.value.status_code == 400
        assert sim.stats.requests[SEND_PATH] == 1
        assert "the sender name is not approved" in caught.value.message
        assert "nicks()" in caught.value.message
        assert "trial" not in caught.value.message

    async def test_unserved_country(self, sim: EskizSimulator, provider: EskizProvider) -> None:
        with pytest.raises(RejectedError) as caught:
            await provider.send(Sms("+33612345678", "Bonjour"))
        assert caught.value.status_code == 400
        assert "does not deliver to this country" in caught.value.message
        assert "trial" not in caught.value.message
        assert sim.stats.requests["/message/sms/send-global"] == 1

    async def test_unrecognised_rejection_hint(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        sim.fail_next(400, path=SEND_PATH)
        with pytest.raises(RejectedError) as caught:
            await provider.send(Sms(UZ_PHONE, "Salom"))
        assert "does not recognise" in caught.value.message
        assert "trial" not in caught.value.message
        assert "Bad Request" in (caught.value.response_summary or "")

    async def test_echoed_text_does_not_choose_hint(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        text = "Hisobingizdagi balance: 12 000 so'm. Moderator bilan bog'laning."
        sim.fail_next(400, path=SEND_PATH, body={"status": "error", "message": f"Text {text}"})
        with pytest.raises(RejectedError) as caught:
            await provider.send(Sms(UZ_PHONE, text))
        assert "does not recognise" in caught.value.message
        assert "balance is too low" not in caught.value.message
        assert "moderation" not in caught.value.message

    @pytest.mark.parametrize("status", [400, 422])
    async def test_validation_not_retried(
        self, sim: EskizSimulator, provider: EskizProvider, status: int
    ) -> None:
        body = {"status": "error", "message": "mobile_phone is required"}
        sim.fail_next(status, path=SEND_PATH, body=body)
        with pytest.raises(RejectedError) as caught:
            await provider.send(Sms(UZ_PHONE, "Salom"))
        assert caught.value.status_code == status
        assert "mobile_phone is required" in (caught.value.response_summary or "")
        assert "a field of the request is missing or invalid" in caught.value.message
        assert sim.stats.requests[SEND_PATH] == 1

    @pytest.mark.parametrize("marker", ["...", "…"])
    async def test_truncated_echo_of_text_redacted(
        self, sim: EskizSimulator, provider: EskizProvider, marker: str
    ) -> None:
        text = "Сизнинг тасдиқлаш кодингиз: 4512. Уни ҳеч кимга айтманг."
        body = {"status": "error", "message": f"Текст «{text[:40]}{marker}» не прошёл модерацию"}
        sim.fail_next(400, path=SEND_PATH, body=body)

        with pytest.raises(RejectedError) as caught:
            await provider.send(Sms(UZ_PHONE, text, client_ref="ref-echo"))

        summary = caught.value.response_summary or ""
        assert f"«[redacted]{marker}»" in summary
        assert text[:10] not in str(caught.value)
        assert "4512" not in str(caught.value)

    async def test_usable_after_error(self, sim: EskizSimulator, provider: EskizProvider) -> None:
        sim.fail_next(400, path=SEND_PATH)
        with pytest.raises(RejectedError):
            await provider.send(Sms(UZ_PHONE, "Salom"))
        result = await provider.send(Sms(UZ_PHONE, "Salom"))
        assert result.status is SendStatus.QUEUED
        assert sim.stats.logins == 1


class TestRetries:
    async def test_503_three_times(self, sim: EskizSimulator, provider: EskizProvider) -> None:
        sim.fail_next(503, times=3, path=SEND_PATH)
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.send(Sms(UZ_PHONE, "Salom", client_ref="ref-503"))
        assert caught.value.status_code == 503
        assert caught.value.attempts == 3
        assert caught.value.client_ref == "ref-503"
        assert isinstance(caught.value.__cause__, httpx.HTTPStatusError)
        assert sim.stats.requests[SEND_PATH] == 3
        assert sim.stats.sends == 0

    async def test_503_then_success(self, sim: EskizSimulator, provider: EskizProvider) -> None:
        sim.fail_next(503, path=SEND_PATH)
        await provider.send(Sms(UZ_PHONE, "Salom"))
        assert sim.stats.requests[SEND_PATH] == 2
        assert sim.stats.sends == 1
        assert provider.stats.retries == 1

    async def test_retry_after_seconds(
        self, sim: EskizSimulator, provider: EskizProvider, instant: list[float]
    ) -> None:
        sim.fail_next(429, path=SEND_PATH, retry_after=2)
        await provider.send(Sms(UZ_PHONE, "Salom"))
        assert len(instant) == 1
        assert instant[0] >= 2
        assert instant[0] <= provider.retry_policy.max_retry_after

    async def test_retry_after_http_date(
        self, sim: EskizSimulator, provider: EskizProvider, instant: list[float]
    ) -> None:
        when = datetime.now(timezone.utc) + timedelta(seconds=20)
        sim.fail_next(503, path=SEND_PATH, retry_after=format_datetime(when, usegmt=True))
        await provider.send(Sms(UZ_PHONE, "Salom"))
        assert len(instant) == 1
        assert 10 <= instant[0] <= 20

    async def test_rate_limited_after_retries(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        sim.fail_next(429, times=3, path=SEND_PATH, retry_after=1)
        with pytest.raises(RateLimitedError) as caught:
            await provider.send(Sms(UZ_PHONE, "Salom"))
        assert caught.value.retry_after == 1.0
        assert caught.value.attempts == 3

    async def test_504_is_delivery_unknown(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        sim.fail_next(504, path=SEND_PATH)
        with pytest.raises(DeliveryUnknown) as caught:
            await provider.send(Sms(UZ_PHONE, "Salom", client_ref="ref-504"))
        assert caught.value.client_ref == "ref-504"
        assert sim.stats.requests[SEND_PATH] == 1

    async def test_read_timeout_sends_once(
        self, sim: EskizSimulator, make_provider: ProviderFactory, transport: TransportName
    ) -> None:
        provider = make_provider(transport=transport, timeout=httpx.Timeout(5.0, read=0.3))
        sim.delay_next(1.0, path=SEND_PATH)
        with pytest.raises(DeliveryUnknown) as caught:
            await provider.send(Sms(UZ_PHONE, "Salom", client_ref="ref-timeout"))
        assert caught.value.client_ref == "ref-timeout"
        assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
        assert sim.stats.requests[SEND_PATH] == 1
        assert sim.stats.sends == 1  # Eskiz did accept it: a resend would duplicate it

    async def test_resend_on_timeout_opt_in(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        provider = make_provider(
            timeout=httpx.Timeout(5.0, read=0.3), retry=RetryPolicy(resend_on_timeout=True)
        )
        sim.delay_next(1.0, path=SEND_PATH)
        await provider.send(Sms(UZ_PHONE, "Salom"))
        assert sim.stats.requests[SEND_PATH] == 2

    async def test_dropped_after_processing(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        sim.drop_next(path=SEND_PATH, processed=True)
        with pytest.raises(DeliveryUnknown):
            await provider.send(Sms(UZ_PHONE, "Salom"))
        assert sim.stats.requests[SEND_PATH] == 1
        assert sim.stats.sends == 1

    async def test_dropped_read_retried(self, sim: EskizSimulator, provider: EskizProvider) -> None:
        await provider.balance()
        sim.reset_stats()
        sim.drop_next(path="/user/get-limit")
        assert await provider.balance() == sim.balance
        # httpx: our retry resends; aiohttp: aiohttp itself resends a GET once.
        assert sim.stats.requests["/user/get-limit"] == 2

    async def test_connect_error_retried(
        self, make_provider: ProviderFactory, transport: TransportName
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        provider = make_provider(transport=transport, base_url=f"http://127.0.0.1:{port}/api")
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.send(Sms(UZ_PHONE, "Salom"))
        assert caught.value.attempts == 3
        assert isinstance(caught.value.__cause__, httpx.ConnectError)


class TestCheckCredentials:
    async def test_accepted_with_one_login(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        assert await provider.check_credentials() is None
        requests = sim.stats.requests
        assert requests["/auth/login"] == 1
        assert requests["/auth/user"] == 1
        assert sum(requests.values()) == 2
        assert sim.stats.logins == 1
        assert sim.stats.sends == 0

    async def test_second_check_reuses_token(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        await provider.check_credentials()
        await provider.check_credentials()
        assert sim.stats.requests["/auth/login"] == 1
        assert sim.stats.requests["/auth/user"] == 2
        assert provider.stats.logins == 1

    async def test_wrong_password_one_login(
        self, sim: EskizSimulator, make_provider: ProviderFactory, transport: TransportName
    ) -> None:
        provider = make_provider(transport=transport, password="not-the-secret")

        with pytest.raises(AuthenticationError) as caught:
            await provider.check_credentials()

        assert caught.value.provider == "eskiz"
        assert "ESKIZ_PASSWORD" in str(caught.value)
        assert "not-the-secret" not in str(caught.value)
        assert sim.stats.requests["/auth/login"] == 1
        assert sim.stats.requests["/auth/user"] == 0
        assert sim.stats.login_failures == 1
        assert sim.stats.sends == 0

    async def test_expired_token_renewed(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        await provider.check_credentials()
        sim.expire_tokens()
        await provider.check_credentials()
        assert sim.stats.requests["/auth/user"] >= 2
        assert sim.stats.sends == 0

    async def test_server_error_is_not_authentication(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        sim.fail_next(503, times=3, path="/auth/user")
        with pytest.raises(ProviderUnavailable):
            await provider.check_credentials()
        assert sim.stats.requests["/auth/user"] == 3

    async def test_closed_provider_sends_nothing(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        await provider.aclose()
        with pytest.raises(NotifierClosed):
            await provider.check_credentials()
        assert sum(sim.stats.requests.values()) == 0


class TestLifecycle:
    async def test_borrowed_client_stays_open(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        async with httpx.AsyncClient() as client:
            provider = make_provider(http_client=client)
            await provider.send(Sms(UZ_PHONE, "Salom"))
            await provider.aclose()
            assert not client.is_closed
            response = await client.get(f"{sim.base_url}/nick/me")
            assert response.status_code == 401

    async def test_closed_provider(self, sim: EskizSimulator, provider: EskizProvider) -> None:
        await provider.send(Sms(UZ_PHONE, "Salom"))
        await provider.aclose()
        await provider.aclose()
        with pytest.raises(NotifierClosed, match="closed"):
            await provider.send(Sms(UZ_PHONE, "Salom"))
        with pytest.raises(NotifierClosed):
            await provider.balance()
        assert sim.stats.sends == 1

    async def test_close_during_send(self, sim: EskizSimulator, provider: EskizProvider) -> None:
        await provider.balance()
        sim.delay_next(0.5, path=SEND_PATH)
        task = asyncio.create_task(provider.send(Sms(UZ_PHONE, "Salom")))
        await asyncio.sleep(0.1)
        await provider.aclose()
        with pytest.raises((NotifierClosed, DeliveryUnknown)):
            await asyncio.wait_for(task, timeout=2)

    def test_identity(self) -> None:
        assert EskizProvider.name == "eskiz"
        capabilities = EskizProvider.capabilities
        assert isinstance(capabilities, Capabilities)
        assert capabilities.batch is True
        assert capabilities.max_batch_size == 500
        assert capabilities.delivery_reports is True
        assert capabilities.unicode is True
        assert capabilities.covers("KZ")
        assert EskizProvider.settings_class is EskizSettings


class TestConfiguration:
    @pytest.mark.parametrize(
        ("options", "fragment"),
        [
            ({"email": " "}, "ESKIZ_EMAIL"),
            ({"password": ""}, "ESKIZ_PASSWORD"),
            ({"sender": ""}, "ESKIZ_SENDER"),
            ({"batch_size": 0}, "batch_size"),
            ({"callback_url": "ftp://127.0.0.1/x"}, "callback_url"),
            ({"transport": "curl"}, "transport"),
        ],
        ids=["email", "password", "sender", "batch-size", "callback-url", "transport"],
    )
    def test_invalid_options(self, options: dict[str, object], fragment: str) -> None:
        settings: dict[str, object] = {
            "email": "shop@notifier.test",
            "password": "api-secret",
            "base_url": "http://127.0.0.1:9/api",
            **options,
        }
        with pytest.raises(ConfigurationError, match=fragment):
            EskizProvider(**settings)  # type: ignore[arg-type]

    def test_defaults(self) -> None:
        provider = EskizProvider(email="shop@notifier.test", password="api-secret")
        assert provider.base_url == DEFAULT_BASE_URL
        assert provider.sender == "4546"
        assert provider.batch_size == 500
        assert provider.transport == "httpx"

    def test_from_env(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sim: EskizSimulator
    ) -> None:
        monkeypatch.chdir(tmp_path)
        (tmp_path / ".env").write_text(
            f"ESKIZ_EMAIL={sim.email}\nESKIZ_PASSWORD={sim.password}\nESKIZ_SENDER=4546\n"
        )
        monkeypatch.setenv("ESKIZ_BASE_URL", sim.base_url)
        monkeypatch.setenv("ESKIZ_TRANSPORT", "aiohttp")
        monkeypatch.setenv("ESKIZ_TIMEOUT", "3.5")
        monkeypatch.setenv("ESKIZ_CALLBACK_URL", "http://127.0.0.1:9/eskiz/callback")
        policy = RetryPolicy(attempts=5)
        provider = EskizProvider.from_env(retry=policy, batch_size=100)

        assert provider.base_url == sim.base_url
        assert provider.transport == "aiohttp"
        assert provider.callback_url == "http://127.0.0.1:9/eskiz/callback"
        assert provider.retry_policy is policy
        assert provider.batch_size == 100

        async def send() -> None:
            async with provider:
                await provider.send(Sms(UZ_PHONE, "Salom"))

        asyncio.run(send())
        assert sim.stats.sends == 1

    def test_from_env_missing(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("ESKIZ_EMAIL", raising=False)
        monkeypatch.setenv("ESKIZ_PASSWORD", "very-secret-value")
        with pytest.raises(ConfigurationError, match="ESKIZ_EMAIL") as caught:
            EskizProvider.from_env()
        assert "very-secret-value" not in str(caught.value)

    def test_from_env_invalid_transport(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("ESKIZ_EMAIL", "shop@notifier.test")
        monkeypatch.setenv("ESKIZ_PASSWORD", "api-secret")
        monkeypatch.setenv("ESKIZ_TRANSPORT", "curl")
        with pytest.raises(ConfigurationError, match="ESKIZ_TRANSPORT"):
            EskizProvider.from_env()

    def test_repr_has_no_secrets(self) -> None:
        provider = EskizProvider(email="shop@notifier.test", password="api-secret")
        text = repr(provider)
        assert "api-secret" not in text
        assert "shop@notifier.test" not in text
        assert "notify.eskiz.uz" in text
