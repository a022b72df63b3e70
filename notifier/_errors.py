"""The exception tree of notifier.

Every error a provider, a routing policy or the notifier raises is one of
these, and nothing else except ``asyncio.CancelledError`` escapes ``send()``::

    NotifierError
    ├── ConfigurationError        settings or plugins are wrong; never swallowed by routing
    ├── InvalidMessage            (also ValueError) bad number, empty body, ...
    ├── UnsupportedFeature        the provider cannot express what was requested
    ├── NotifierClosed            the notifier or provider was closed
    └── ProviderError             the vendor or the network failed
        ├── AuthenticationError   credentials rejected, or a 401 that a new token did not cure
        ├── RejectedError         the vendor rejected this message: moderation, blacklist, balance
        ├── RateLimitedError      429, with ``retry_after`` in seconds when the vendor sent one
        ├── ProviderUnavailable   5xx or network failure after retries, and nothing was accepted
        │   └── CircuitOpen       a circuit breaker stopped the request before it was sent
        └── DeliveryUnknown       the request may have been processed (read timeout, 504, close)

Messages name the value that failed and what to do next. They never contain a
secret, a token, a message body or a full phone number: callers pass
``masked`` numbers and redacted response summaries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models import Attempt

__all__ = [
    "AuthenticationError",
    "CircuitOpen",
    "ConfigurationError",
    "DeliveryUnknown",
    "InvalidMessage",
    "NotifierClosed",
    "NotifierError",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimitedError",
    "RejectedError",
    "UnsupportedFeature",
]


class NotifierError(Exception):
    """Base class of every error raised by notifier and its providers."""

    provider_attempts: tuple[Attempt, ...] = ()
    """Each provider a routing policy tried before raising this error, in order.

    Empty when the error did not pass through a routing policy.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's default rebuilds the error as cls(*args), which fails
        # for subclasses with required keyword-only arguments. Restoring the
        # attributes directly keeps pickle (multiprocessing, task queues) and
        # copy.copy working for every subclass.
        return (_rebuild_error, (type(self), self.args, self.__dict__))


def _rebuild_error(
    cls: type[NotifierError], args: tuple[Any, ...], state: dict[str, Any]
) -> NotifierError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigurationError(NotifierError):
    """Invalid settings, missing credentials, or a plugin that cannot be loaded.

    Routing policies never fail over on this error: a misconfigured provider
    must be fixed, not silently skipped.
    """


class InvalidMessage(NotifierError, ValueError):
    """The message cannot be sent as given: an invalid number, an empty body, ...

    Raised before any request is made.
    """


class UnsupportedFeature(NotifierError):
    """The provider cannot carry out what the message or call requests."""

    def __init__(self, message: str, *, provider: str, feature: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.feature = feature


class NotifierClosed(NotifierError):
    """The notifier or provider was closed. Create a new one to send again.

    A send that raises it was not sent. A send that a close interrupted
    after its request may have gone out raises ``DeliveryUnknown`` instead.
    """


class ProviderError(NotifierError):
    """The vendor or the network failed to carry the message.

    Attributes:
        provider: the provider's name, for example ``"eskiz"``.
        status_code: the HTTP status of the last response, when there was one.
        response_summary: a short, redacted excerpt of the vendor's response.
        client_ref: the caller's id of the message concerned, when known.
        attempts: how many HTTP attempts were made for this operation.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        response_summary: str | None = None,
        client_ref: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.response_summary = response_summary
        self.client_ref = client_ref
        self.attempts = attempts

    def __str__(self) -> str:
        parts = [self.message]
        details = [f"provider={self.provider}"]
        if self.status_code is not None:
            details.append(f"status={self.status_code}")
        if self.attempts != 1:
            details.append(f"attempts={self.attempts}")
        if self.client_ref is not None:
            details.append(f"client_ref={self.client_ref}")
        parts.append(f"({', '.join(details)})")
        if self.response_summary:
            parts.append(f"response: {self.response_summary}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, "
            f"status_code={self.status_code!r}, client_ref={self.client_ref!r}, "
            f"attempts={self.attempts!r})"
        )


class AuthenticationError(ProviderError):
    """The vendor rejected the credentials, or a fresh token was rejected too."""


class RejectedError(ProviderError):
    """The vendor rejected this message: moderation, blacklist, balance, sender.

    Sending the same message again will fail the same way.
    """


class RateLimitedError(ProviderError):
    """The vendor responded with HTTP 429.

    ``retry_after`` is the wait in seconds the vendor requested, or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        retry_after: float | None = None,
        status_code: int | None = 429,
        response_summary: str | None = None,
        client_ref: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            status_code=status_code,
            response_summary=response_summary,
            client_ref=client_ref,
            attempts=attempts,
        )
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """A 5xx or a network failure after retries. The vendor did not accept the message."""


class CircuitOpen(ProviderUnavailable):
    """The provider's circuit breaker is open, so no request was made.

    ``retry_at`` is the ``time.monotonic()`` value after which a probe is allowed.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        retry_at: float,
        client_ref: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider, client_ref=client_ref, attempts=0)
        self.retry_at = retry_at


class DeliveryUnknown(ProviderError):
    """The request may have been processed, so it was not sent again.

    Raised on a read timeout after the request was written, on a 504, and
    when closing the notifier or provider cut off a send in flight.
    Check the status with ``client_ref`` before resending, or the recipient
    may receive the message twice.
    """
