"""The error tree: hierarchy, attributes, text, pickling."""

from __future__ import annotations

import copy
import pickle

import pytest

import notifier
from notifier import (
    AuthenticationError,
    CircuitOpen,
    ConfigurationError,
    DeliveryUnknown,
    InvalidMessage,
    NotifierClosed,
    NotifierError,
    ProviderError,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
    UnsupportedFeature,
)


@pytest.mark.parametrize(
    ("error_class", "parent"),
    [
        (ConfigurationError, NotifierError),
        (InvalidMessage, NotifierError),
        (InvalidMessage, ValueError),
        (UnsupportedFeature, NotifierError),
        (NotifierClosed, NotifierError),
        (ProviderError, NotifierError),
        (AuthenticationError, ProviderError),
        (RejectedError, ProviderError),
        (RateLimitedError, ProviderError),
        (ProviderUnavailable, ProviderError),
        (CircuitOpen, ProviderUnavailable),
        (DeliveryUnknown, ProviderError),
    ],
)
def test_error_hierarchy(error_class: type[Exception], parent: type[Exception]) -> None:
    assert issubclass(error_class, parent)


def test_configuration_error_not_provider_error() -> None:
    # Routing fails over on ProviderError; a configuration error must not be caught there.
    assert not issubclass(ConfigurationError, ProviderError)


def test_every_error_exported() -> None:
    for name in [
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
    ]:
        assert name in notifier.__all__
        assert issubclass(getattr(notifier, name), NotifierError)


def test_provider_error_attributes() -> None:
    error = ProviderError(
        "Eskiz rejected the request",
        provider="eskiz",
        status_code=400,
        response_summary='{"status":"error","message":"from is required"}',
        client_ref="a1",
        attempts=2,
    )

    assert error.message == "Eskiz rejected the request"
    assert error.provider == "eskiz"
    assert error.status_code == 400
    assert error.response_summary == '{"status":"error","message":"from is required"}'
    assert error.client_ref == "a1"
    assert error.attempts == 2


def test_provider_error_str_has_details() -> None:
    error = ProviderError(
        "Eskiz rejected the request",
        provider="eskiz",
        status_code=400,
        response_summary="from is required",
        client_ref="a1",
        attempts=2,
    )

    assert str(error) == (
        "Eskiz rejected the request (provider=eskiz, status=400, attempts=2, client_ref=a1) "
        "response: from is required"
    )


def test_provider_error_str_minimal() -> None:
    error = ProviderError("Connection refused", provider="eskiz")

    assert str(error) == "Connection refused (provider=eskiz)"


def test_provider_error_repr() -> None:
    error = DeliveryUnknown("Read timed out", provider="eskiz", client_ref="a1", status_code=504)

    assert repr(error) == (
        "DeliveryUnknown('Read timed out', provider='eskiz', status_code=504, "
        "client_ref='a1', attempts=1)"
    )


def test_delivery_unknown_names_client_ref() -> None:
    error = DeliveryUnknown(
        "Read timed out after the request was sent", provider="eskiz", client_ref="a1"
    )

    assert "client_ref=a1" in str(error)


def test_rate_limited_defaults() -> None:
    error = RateLimitedError("Too many requests", provider="eskiz", retry_after=2.0)

    assert error.status_code == 429
    assert error.retry_after == 2.0
    assert "status=429" in str(error)
    assert RateLimitedError("x", provider="eskiz").retry_after is None


def test_circuit_open_attributes() -> None:
    error = CircuitOpen("Circuit open", provider="eskiz", retry_at=123.5, client_ref="a1")

    assert error.retry_at == 123.5
    assert error.attempts == 0
    assert error.status_code is None
    assert "attempts=0" in str(error)


def test_unsupported_feature_attributes() -> None:
    error = UnsupportedFeature("No batch endpoint", provider="fake", feature="batch")

    assert error.provider == "fake"
    assert error.feature == "batch"
    assert str(error) == "No batch endpoint"


def _examples() -> list[NotifierError]:
    return [
        ConfigurationError("ESKIZ_EMAIL is missing"),
        InvalidMessage("Sms.body is empty"),
        NotifierClosed("closed"),
        UnsupportedFeature("No batch endpoint", provider="fake", feature="batch"),
        ProviderError("failed", provider="eskiz", status_code=500, client_ref="a1", attempts=3),
        AuthenticationError("bad credentials", provider="eskiz", status_code=401),
        RejectedError("moderation", provider="eskiz", status_code=400, response_summary="x"),
        RateLimitedError("slow down", provider="eskiz", retry_after=2.0),
        ProviderUnavailable("503", provider="eskiz", status_code=503, attempts=3),
        CircuitOpen("open", provider="eskiz", retry_at=10.0),
        DeliveryUnknown("timeout", provider="eskiz", client_ref="a1"),
    ]


@pytest.mark.parametrize("error", _examples(), ids=lambda error: type(error).__name__)
def test_error_pickles(error: NotifierError) -> None:
    restored = pickle.loads(pickle.dumps(error))  # noqa: S301 -- our own object

    assert type(restored) is type(error)
    assert restored.args == error.args
    assert vars(restored) == vars(error)
    assert str(restored) == str(error)


@pytest.mark.parametrize("error", _examples(), ids=lambda error: type(error).__name__)
def test_error_copies(error: NotifierError) -> None:
    assert str(copy.copy(error)) == str(error)
    assert vars(copy.deepcopy(error)) == vars(error)
