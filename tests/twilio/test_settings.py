"""TwilioProvider.from_env() and the TWILIO_* settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from notifier import AsyncNotifier, ConfigurationError, RetryPolicy
from notifier._plugins import new_plugin_manager
from notifier_twilio import DEFAULT_BASE_URL, TwilioProvider, TwilioSettings
from notifier_twilio.simulator import TwilioSimulator
from tests._audit import LeakAudit
from tests.twilio.support import sms

ACCOUNT = "AC" + "ab" * 16
TOKEN = "0123456789abcdef0123456789abcdef"

_VARIABLES = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_SENDER",
    "TWILIO_FROM",
    "TWILIO_MESSAGING_SERVICE_SID",
    "TWILIO_API_KEY_SID",
    "TWILIO_API_KEY_SECRET",
    "TWILIO_BASE_URL",
    "TWILIO_STATUS_CALLBACK",
    "TWILIO_TIMEOUT",
    "TWILIO_TRANSPORT",
    "NOTIFIER_PROVIDER",
)


@pytest.fixture(autouse=True)
def clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, leak_audit: LeakAudit
) -> None:
    """Run each test in an empty directory, so no developer's .env is read."""
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    leak_audit.secret(TOKEN)


def read_settings() -> TwilioSettings:
    return TwilioSettings()  # type: ignore[call-arg]  # account_sid comes from the environment


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"TWILIO_{name.upper()}", value)


class TestSettings:
    def test_reads_every_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        set_env(
            monkeypatch,
            account_sid=ACCOUNT,
            auth_token=TOKEN,
            sender="+15005550006",
            messaging_service_sid="MG" + "cd" * 16,
            api_key_sid="SK" + "ef" * 16,
            api_key_secret="key-secret",
            base_url="http://127.0.0.1:9",
            status_callback="https://app.invalid/twilio/status",
            timeout="2.5",
            transport="aiohttp",
        )

        settings = read_settings()

        assert settings.account_sid == ACCOUNT
        assert isinstance(settings.auth_token, SecretStr)
        assert settings.auth_token.get_secret_value() == TOKEN
        assert settings.sender == "+15005550006"
        assert settings.messaging_service_sid == "MG" + "cd" * 16
        assert settings.api_key_sid == "SK" + "ef" * 16
        assert isinstance(settings.api_key_secret, SecretStr)
        assert settings.base_url == "http://127.0.0.1:9"
        assert settings.status_callback == "https://app.invalid/twilio/status"
        assert settings.timeout == 2.5
        assert settings.transport == "aiohttp"

    def test_defaults(self, monkeypatch: pytest.MonkeyPatch) -> None:
        set_env(monkeypatch, account_sid=ACCOUNT, auth_token=TOKEN)

        settings = read_settings()

        assert settings.base_url == DEFAULT_BASE_URL
        assert settings.sender is None
        assert settings.transport == "httpx"

    def test_twilio_from_is_the_sender(self, monkeypatch: pytest.MonkeyPatch) -> None:
        set_env(monkeypatch, account_sid=ACCOUNT, auth_token=TOKEN, **{"from": "+15005550006"})

        assert read_settings().sender == "+15005550006"

    def test_sender_and_from_must_agree(self, monkeypatch: pytest.MonkeyPatch) -> None:
        set_env(
            monkeypatch,
            account_sid=ACCOUNT,
            auth_token=TOKEN,
            sender="+15005550006",
            **{"from": "NOTIFIER"},
        )

        with pytest.raises(ValidationError, match="TWILIO_FROM"):
            read_settings()

    def test_blank_values_are_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        set_env(monkeypatch, account_sid=ACCOUNT, auth_token=TOKEN, sender="", status_callback="")

        settings = read_settings()

        assert settings.sender is None
        assert settings.status_callback is None

    def test_reads_dotenv(self, tmp_path: Path) -> None:
        (tmp_path / ".env").write_text(
            f"TWILIO_ACCOUNT_SID={ACCOUNT}\nTWILIO_AUTH_TOKEN={TOKEN}\nTWILIO_FROM=NOTIFIER\n"
        )

        settings = read_settings()

        assert settings.account_sid == ACCOUNT
        assert settings.sender == "NOTIFIER"

    def test_repr_hides_secrets(self, monkeypatch: pytest.MonkeyPatch) -> None:
        set_env(monkeypatch, account_sid=ACCOUNT, auth_token=TOKEN, api_key_secret="key-secret")

        text = repr(read_settings())

        assert TOKEN not in text
        assert "key-secret" not in text


class TestFromEnv:
    async def test_sends_through_simulator(
        self, monkeypatch: pytest.MonkeyPatch, sim: TwilioSimulator
    ) -> None:
        set_env(
            monkeypatch,
            account_sid=sim.account_sid,
            auth_token=sim.auth_token,
            sender=sim.sender,
            base_url=sim.base_url,
        )

        async with TwilioProvider.from_env() as provider:
            result = await provider.send(sms())

        assert result.message_id in sim.messages

    async def test_api_key_from_env(
        self, monkeypatch: pytest.MonkeyPatch, sim: TwilioSimulator
    ) -> None:
        set_env(
            monkeypatch,
            account_sid=sim.account_sid,
            api_key_sid=sim.api_key_sid,
            api_key_secret=sim.api_key_secret,
            messaging_service_sid=sim.messaging_service_sid,
            base_url=sim.base_url,
        )

        async with TwilioProvider.from_env() as provider:
            result = await provider.send(sms())

        assert provider.uses_api_key
        assert sim.messages[result.message_id or ""].messaging_service_sid == (
            sim.messaging_service_sid
        )

    def test_overrides_win(self, monkeypatch: pytest.MonkeyPatch) -> None:
        set_env(monkeypatch, account_sid=ACCOUNT, auth_token=TOKEN, sender="+15005550006")

        provider = TwilioProvider.from_env(sender="NOTIFIER", base_url="http://127.0.0.1:9")

        assert provider.sender == "NOTIFIER"
        assert provider.base_url == "http://127.0.0.1:9"

    def test_unknown_argument(self, monkeypatch: pytest.MonkeyPatch) -> None:
        set_env(monkeypatch, account_sid=ACCOUNT, auth_token=TOKEN)

        with pytest.raises(TypeError, match="sendr"):
            TwilioProvider.from_env(sendr="NOTIFIER")

    def test_options_without_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        set_env(monkeypatch, account_sid=ACCOUNT, auth_token=TOKEN)

        provider = TwilioProvider.from_env(retry=RetryPolicy(attempts=1))

        assert provider.retry_policy.attempts == 1

    def test_missing_account_sid(self) -> None:
        with pytest.raises(ConfigurationError, match="TWILIO_ACCOUNT_SID is not set"):
            TwilioProvider.from_env()

    def test_conflicting_sender_names_both_variables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        set_env(
            monkeypatch,
            account_sid=ACCOUNT,
            auth_token=TOKEN,
            sender="+15005550006",
            **{"from": "NOTIFIER"},
        )

        with pytest.raises(ConfigurationError, match="TWILIO_SENDER and TWILIO_FROM"):
            TwilioProvider.from_env()

    def test_invalid_timeout_names_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        set_env(monkeypatch, account_sid=ACCOUNT, auth_token=TOKEN, timeout="-1")

        with pytest.raises(ConfigurationError, match="TWILIO_TIMEOUT"):
            TwilioProvider.from_env()

    async def test_notifier_from_env(
        self, monkeypatch: pytest.MonkeyPatch, sim: TwilioSimulator
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "twilio")
        set_env(
            monkeypatch,
            account_sid=sim.account_sid,
            auth_token=sim.auth_token,
            sender=sim.sender,
            base_url=sim.base_url,
        )

        async with AsyncNotifier.from_env(plugins=new_plugin_manager()) as notifier:
            result = await notifier.send(sms())

        assert result.provider == "twilio"
        assert sim.stats.sends == 1

    def test_notifier_from_env_names_missing_variable(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "twilio")

        with pytest.raises(ConfigurationError, match="TWILIO_ACCOUNT_SID"):
            AsyncNotifier.from_env(plugins=new_plugin_manager())

    def test_notifier_from_env_rejects_bad_sid(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NOTIFIER_PROVIDER", "twilio")
        set_env(monkeypatch, account_sid="ACnope", auth_token=TOKEN)

        with pytest.raises(ConfigurationError, match="TWILIO_ACCOUNT_SID") as caught:
            AsyncNotifier.from_env(plugins=new_plugin_manager())

        assert TOKEN not in str(caught.value)
