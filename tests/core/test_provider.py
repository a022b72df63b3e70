"""The defaults of the ``Provider`` base class for its optional operations."""

from __future__ import annotations

import pytest

from notifier import Provider, SendResult, Sms, UnsupportedFeature


class MinimalProvider(Provider):
    """A provider that implements only what the base class requires."""

    name = "minimal"

    async def send(self, message: Sms) -> SendResult:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class TestOptionalOperations:
    async def test_check_credentials_unsupported(self) -> None:
        with pytest.raises(UnsupportedFeature) as caught:
            await MinimalProvider().check_credentials()
        assert caught.value.provider == "minimal"
        assert caught.value.feature == "check_credentials"
        assert "'minimal' has no credential check" in str(caught.value)

    async def test_send_batch_unsupported(self) -> None:
        with pytest.raises(UnsupportedFeature) as caught:
            await MinimalProvider().send_batch([Sms("+998900000010", "Salom")])
        assert caught.value.feature == "batch"

    def test_parse_delivery_report_unsupported(self) -> None:
        with pytest.raises(UnsupportedFeature) as caught:
            MinimalProvider().parse_delivery_report(b"{}", "application/json")
        assert caught.value.feature == "delivery_reports"

    def test_from_env_not_implemented(self) -> None:
        with pytest.raises(NotImplementedError, match="MinimalProvider"):
            MinimalProvider.from_env()
