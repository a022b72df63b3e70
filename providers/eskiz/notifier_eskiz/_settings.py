"""Settings of the Eskiz provider, read from ``ESKIZ_*`` variables and ``.env``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_SENDER", "EskizSettings"]

DEFAULT_BASE_URL = "https://notify.eskiz.uz/api"
"""The production Eskiz API."""

DEFAULT_SENDER = "4546"
"""The sender name every Eskiz account may use, trial accounts included."""


class EskizSettings(BaseSettings):
    """Configuration of ``EskizProvider.from_env()``.

    Each field reads the variable ``ESKIZ_<FIELD>`` (``ESKIZ_EMAIL``,
    ``ESKIZ_PASSWORD``, ...) from the environment or from ``.env``; the
    environment wins.
    """

    model_config = SettingsConfigDict(
        env_prefix="ESKIZ_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    email: str = Field(repr=False)
    """The e-mail address of the Eskiz account."""
    password: SecretStr
    """The API secret from the Eskiz cabinet (not the password of the web login)."""
    sender: str = DEFAULT_SENDER
    """The sender name (``from``) used when a message names none."""
    base_url: str = DEFAULT_BASE_URL
    callback_url: str | None = None
    """The URL Eskiz posts delivery reports to when a message names none of its own."""
    transport: Literal["httpx", "aiohttp"] = "httpx"
    timeout: float = Field(default=10.0, gt=0)
    """Seconds allowed for connecting, sending and reading one HTTP request."""
    batch_size: int = Field(default=500, ge=1)
    """The maximum number of messages sent in one ``send-batch`` request."""
