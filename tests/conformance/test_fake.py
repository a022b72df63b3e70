"""The provider conformance suite run against ``FakeProvider``.

The fake has no server. Scripted failures (``fail_next``) stage each error,
and its ``delay`` slows the response down for the cancellation and close checks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from notifier import (
    AuthenticationError,
    DeliveryUnknown,
    Provider,
    ProviderUnavailable,
    RejectedError,
    SendResult,
)
from notifier.testing import FakeProvider
from notifier.testing.conformance import ProviderConformance, ProviderFactory, Staging


def _fake(provider: Provider) -> FakeProvider:
    assert isinstance(provider, FakeProvider)
    return provider


class TestFakeConformance(ProviderConformance):
    http_client_option = None  # the fake speaks no HTTP

    @pytest.fixture
    def provider_factory(self) -> ProviderFactory:
        factory: Callable[..., FakeProvider] = FakeProvider
        return factory

    def stage_unavailable(self, provider: Provider) -> Staging:
        _fake(provider).fail_next(ProviderUnavailable)
        return None

    def stage_timeout(self, provider: Provider) -> Staging:
        _fake(provider).fail_next(DeliveryUnknown)
        return None

    def stage_rejection(self, provider: Provider) -> Staging:
        _fake(provider).fail_next(RejectedError)
        return None

    def stage_auth_failure(self, provider: Provider) -> Staging:
        _fake(provider).fail_next(AuthenticationError)
        return None

    @contextlib.contextmanager
    def stage_slow(self, provider: Provider) -> Iterator[None]:
        fake = _fake(provider)
        # aclose() does not interrupt the fake's wait, so the close check waits it out.
        fake.delay = 0.5
        try:
            yield
        finally:
            fake.delay = 0.0

    def send_request_count(self, provider: Provider) -> int:
        fake = _fake(provider)
        return len(fake.outbox) + len(fake.failed)

    def vendor_client_ref(self, provider: Provider, result: SendResult) -> str | None:
        fake = _fake(provider)
        for message, sent in zip(fake.outbox, fake.sent, strict=True):
            if sent.message_id == result.message_id:
                return message.client_ref
        return None


class TestBatchingFakeConformance(TestFakeConformance):
    """The same suite with the fake's batch endpoint switched on."""

    @pytest.fixture
    def provider_factory(self) -> ProviderFactory:
        def build(**options: Any) -> FakeProvider:
            return FakeProvider(batch_size=2, **options)

        return build
