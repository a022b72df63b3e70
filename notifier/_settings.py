"""Settings of the notifier itself, read from ``NOTIFIER_*`` variables and ``.env``.

Each provider reads its own settings (``ESKIZ_*``, ``TWILIO_*``, ...) through
its ``settings_class``. This module only chooses which providers to build and
how to route between them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import phonenumbers
from dotenv import dotenv_values
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._errors import ConfigurationError
from ._plugins import parse_names

__all__ = [
    "ENV_PREFIX",
    "NotifierSettings",
    "check_region",
    "read_environ",
    "settings_error",
    "settings_values",
]

ENV_PREFIX = "NOTIFIER_"

RoutingName = Literal["failover", "by-country", "weighted"]


def check_region(value: str) -> str:
    """Return ``value`` upper-cased if phonenumbers supports it as a region, else raise."""
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigurationError(
            f"Region {value!r} is not an ISO 3166 alpha-2 region code known to "
            "phonenumbers; use a code such as 'UZ' or 'KZ'."
        )
    return region


class NotifierSettings(BaseSettings):
    """Settings that choose the providers and the routing between them.

    Attributes:
        provider: comma-separated provider names (their entry-point names),
            e.g. ``eskiz`` or ``eskiz,twilio``. ``NOTIFIER_PROVIDER``.
        routing: how several providers share the traffic: ``failover`` (the
            default when several are named), ``by-country`` or ``weighted``.
            ``NOTIFIER_ROUTING``.
        default_region: region for numbers written without a country code.
            ``NOTIFIER_DEFAULT_REGION``, ``UZ`` by default.
        disable_plugins: comma-separated plugin names never to load.
            ``NOTIFIER_DISABLE_PLUGINS``.

    Environment variables take precedence over the ``.env`` file.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    provider: str = ""
    routing: RoutingName | None = None
    default_region: str = "UZ"
    disable_plugins: str = Field(default="")

    @field_validator("default_region")
    @classmethod
    def _check_default_region(cls, value: str) -> str:
        try:
            return check_region(value)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("routing", mode="before")
    @classmethod
    def _normalize_routing(cls, value: object) -> object:
        if isinstance(value, str):
            # "by_country" is accepted as well, as the routing module does.
            return value.strip().lower().replace("_", "-") or None
        return value

    @property
    def provider_names(self) -> tuple[str, ...]:
        """The configured provider names, in order, lower-cased."""
        return parse_names(self.provider)

    @property
    def disabled_plugins(self) -> tuple[str, ...]:
        """The plugin names to block, lower-cased."""
        return parse_names(self.disable_plugins)

    @classmethod
    def load(cls, env_file: str | Path | None = ".env") -> NotifierSettings:
        """Read the settings from the environment and ``env_file``.

        ``env_file=None`` reads the environment only. A missing file is not
        an error. Invalid values raise ``ConfigurationError`` naming the
        variable.
        """
        try:
            return cls(_env_file=env_file)  # type: ignore[call-arg]
        except ValidationError as exc:
            raise settings_error(exc, ENV_PREFIX, "notifier") from None


def settings_error(error: ValidationError, env_prefix: str, owner: str) -> ConfigurationError:
    """Convert a settings ``ValidationError`` into a ``ConfigurationError``.

    The message names each variable and the problem but never the value, so
    a secret set in the wrong variable is not shown either.
    """
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in item["loc"])
        variable = f"{env_prefix}{field}".upper()
        if item["type"] == "missing":
            problems.append(f"{variable} is not set")
        else:
            message = str(item["msg"]).removeprefix("Value error, ").rstrip(".")
            problems.append(f"{variable}: {message}")
    return ConfigurationError(
        f"Invalid {owner} settings: {'; '.join(problems)}. Set them in the environment or .env."
    )


def read_environ(env_file: str | Path | None = ".env") -> dict[str, str]:
    """Return the variables of ``env_file`` overlaid with ``os.environ``.

    This is the view pydantic-settings has of the configuration: a variable
    set in the environment wins over the same name in the file.
    """
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update(
            (key, value) for key, value in dotenv_values(env_file).items() if value is not None
        )
    values.update(os.environ)
    return values


def settings_values(settings: BaseSettings) -> Mapping[str, Any]:
    """Return the validated field values of ``settings`` without serialising secrets."""
    return {name: getattr(settings, name) for name in type(settings).model_fields}
