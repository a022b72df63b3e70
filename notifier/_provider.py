"""The contract every provider implements.

A provider is written once, async. ``AsyncNotifier`` owns the send span, the
metrics and the observer hooks around ``send()``. A provider owns its HTTP
client, its credentials and the vendor's wire format, and raises only the
errors in ``notifier._errors``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic_settings import BaseSettings
from typing_extensions import Self

from ._errors import ProviderError, UnsupportedFeature
from ._models import DeliveryReport, SendResult, Sms

__all__ = ["BatchOutcome", "Capabilities", "Provider"]

BatchOutcome = SendResult | ProviderError
"""One entry of ``Provider.send_batch``'s result: a ``SendResult`` or that message's error."""


@dataclass(frozen=True)
class Capabilities:
    """Features a provider supports, for routing and for ``notifier providers``.

    Attributes:
        unicode: sends UCS-2 text (Cyrillic, Uzbek modifier letters, emoji).
        batch: implements ``send_batch`` natively, many messages per request.
        max_batch_size: maximum number of messages in one batch request.
        delivery_reports: posts delivery reports to a callback URL.
        countries: ISO alpha-2 regions it delivers to, or ``None`` for all.
    """

    unicode: bool = True
    batch: bool = False
    max_batch_size: int | None = None
    delivery_reports: bool = False
    countries: frozenset[str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def covers(self, region: str | None) -> bool:
        """Return whether the provider delivers to ``region`` (an ISO alpha-2 code)."""
        return self.countries is None or (region is not None and region in self.countries)


class Provider(abc.ABC):
    """Base class of every provider.

    Subclasses set ``name`` (the entry-point name, e.g. ``"eskiz"``),
    ``capabilities`` and ``settings_class`` (a pydantic-settings class with the
    vendor's env prefix and its secrets as ``SecretStr``), and implement
    ``send`` and ``aclose``. ``send_batch``, ``parse_delivery_report`` and
    ``check_credentials`` are optional, and their defaults raise
    ``UnsupportedFeature``.

    Several notifiers may share a provider instance, but only one event loop
    at a time may use it. The blocking ``Notifier`` guarantees that by running
    every call on its own loop thread.
    """

    # ``name`` and ``capabilities`` are usually class attributes. A provider
    # whose limits depend on its settings (a configured batch size, say)
    # assigns ``capabilities`` per instance in ``__init__``.
    name: str
    capabilities: Capabilities = Capabilities()
    settings_class: ClassVar[type[BaseSettings] | None] = None

    @abc.abstractmethod
    async def send(self, message: Sms) -> SendResult:
        """Send one message and return the provider's response.

        Raises only ``NotifierError`` subclasses (and ``CancelledError``).
        ``message.client_ref`` is passed to the vendor unchanged on every
        attempt where the vendor has a field for it.
        """

    async def send_batch(self, messages: Sequence[Sms]) -> list[BatchOutcome]:
        """Send many messages in as few requests as the vendor allows.

        Returns one entry per message, in input order: a ``SendResult`` or
        the ``ProviderError`` for that message. Errors that concern the whole
        request (authentication, closed provider) are raised instead.
        """
        raise UnsupportedFeature(
            f"Provider {self.name!r} has no batch endpoint. "
            "Use AsyncNotifier.send_many(), which falls back to concurrent sends.",
            provider=self.name,
            feature="batch",
        )

    def parse_delivery_report(
        self,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> list[DeliveryReport]:
        """Parse one vendor callback request into delivery reports.

        ``headers`` (lower-case names) and ``url`` (the full URL the vendor
        requested) are what vendors sign their callbacks with. Raises
        ``InvalidMessage`` for a body that is not a callback of this vendor,
        and ``AuthenticationError`` for a signature that does not match.
        """
        raise UnsupportedFeature(
            f"Provider {self.name!r} does not parse delivery reports.",
            provider=self.name,
            feature="delivery_reports",
        )

    async def check_credentials(self) -> None:
        """Verify the configured credentials with the vendor's cheapest authenticated call.

        Returns when the vendor accepted the credentials, and sends no
        message. ``notifier check`` calls it for each configured provider.

        Raises:
            AuthenticationError: the vendor rejected the credentials.
            ProviderError: the vendor failed or could not be reached, so the
                credentials were not verified.
            NotifierClosed: the provider was closed.
            UnsupportedFeature: the provider has no such call (the default).
        """
        raise UnsupportedFeature(
            f"Provider {self.name!r} has no credential check. Its settings were validated "
            "when it was built, and a send shows whether the vendor accepts them.",
            provider=self.name,
            feature="check_credentials",
        )

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release the provider's connections. Idempotent.

        An ``httpx.AsyncClient`` passed in by the user is left open. Calls
        made after ``aclose()`` raise ``NotifierClosed``.
        """

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """Build the provider from environment variables and ``.env``.

        Keyword arguments override individual settings.
        """
        raise NotImplementedError(f"{cls.__name__} does not read settings from the environment")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
