"""``TWILIO_*`` settings, read from the environment and ``.env``."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier import ConfigurationError
from notifier._http import TransportName

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "ENV_PREFIX",
    "TwilioSettings",
    "configuration_error",
]

ENV_PREFIX = "TWILIO_"

DEFAULT_BASE_URL = "https://api.twilio.com"
"""Twilio's production REST API root; the API version is part of each path."""

DEFAULT_TIMEOUT = 10.0
"""Seconds allowed for connecting, writing, reading and waiting for a pooled connection."""


class TwilioSettings(BaseSettings):
    """Settings of ``TwilioProvider``, one ``TWILIO_*`` variable each.

    Attributes:
        account_sid: ``TWILIO_ACCOUNT_SID``, ``AC`` and 32 hex digits.
        auth_token: ``TWILIO_AUTH_TOKEN``. Signs status callbacks, and
            authenticates requests unless an API key pair is set.
        sender: ``TWILIO_SENDER`` (or ``TWILIO_FROM``): the default ``From``,
            an E.164 number, a short code or an alphanumeric sender ID.
        messaging_service_sid: ``TWILIO_MESSAGING_SERVICE_SID``, ``MG`` and 32
            hex digits; Twilio picks the sender from the service's pool.
        api_key_sid: ``TWILIO_API_KEY_SID``, ``SK`` and 32 hex digits.
        api_key_secret: ``TWILIO_API_KEY_SECRET``.
        base_url: ``TWILIO_BASE_URL``, the REST API root.
        status_callback: ``TWILIO_STATUS_CALLBACK``, the default URL Twilio
            posts status changes to.
        timeout: ``TWILIO_TIMEOUT`` in seconds.
        transport: ``TWILIO_TRANSPORT``, ``httpx`` or ``aiohttp``.

    Environment variables take precedence over the ``.env`` file, and
    keyword arguments over both.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    account_sid: str
    auth_token: SecretStr | None = None
    sender: str | None = None
    from_: str | None = Field(default=None, validation_alias="TWILIO_FROM", repr=False)
    """``TWILIO_FROM``, the name Twilio's own samples use for ``TWILIO_SENDER``."""
    messaging_service_sid: str | None = None
    api_key_sid: str | None = None
    api_key_secret: SecretStr | None = None
    base_url: str = DEFAULT_BASE_URL
    status_callback: str | None = None
    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0)
    transport: TransportName = "httpx"

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        # ``TWILIO_SENDER=`` in a .env file means "not set", not "an empty sender".
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != ""}
        return data

    @model_validator(mode="after")
    def _merge_from(self) -> TwilioSettings:
        if self.from_ and self.sender and self.from_ != self.sender:
            raise ValueError(
                "TWILIO_SENDER and TWILIO_FROM are both set and differ; set only one of them"
            )
        if self.sender is None and self.from_:
            self.sender = self.from_
        return self


def configuration_error(error: ValidationError) -> ConfigurationError:
    """Describe a settings ``ValidationError`` by variable name, never showing a value."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        location = str(item["loc"][0]) if item["loc"] else ""
        if not location:
            variable = "TWILIO_* settings"
        elif location.upper().startswith(ENV_PREFIX):  # a field read under its own alias
            variable = location.upper()
        else:
            variable = f"{ENV_PREFIX}{location}".upper()
        if item["type"] == "missing":
            problems.append(f"{variable} is not set")
        else:
            problems.append(f"{variable}: {str(item['msg']).removeprefix('Value error, ')}")
    return ConfigurationError(
        f"Invalid twilio settings: {'; '.join(problems)}. Set them in the environment or .env."
    )
