"""The provider conformance suite run against ``TwilioProvider`` and the Twilio simulator.

One simulator on a loopback port serves the whole module. So every check
counts requests as differences, and each staged fault is cleared when its
check ends.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from notifier import Provider, SendResult
from notifier.testing.conformance import ProviderConformance, ProviderFactory, Staging
from notifier_twilio import TwilioProvider
from notifier_twilio.simulator import TwilioSimulator
from tests._audit import LeakAudit

READ_TIMEOUT = 0.5
"""Read timeout of the providers under test, in seconds; the timeout check waits this long."""

STATUS_CALLBACK = "http://127.0.0.1:9/twilio/status"
"""A loopback callback URL; messages never progress here, so nothing is posted to it."""


@pytest.fixture(scope="module")
def twilio_sim() -> Iterator[TwilioSimulator]:
    with TwilioSimulator(auto_progress=False, seed=11) as simulator:
        yield simulator


class TestTwilioConformance(ProviderConformance):
    @pytest.fixture
    def provider_factory(
        self, twilio_sim: TwilioSimulator, leak_audit: LeakAudit
    ) -> Iterator[ProviderFactory]:
        self.sim = twilio_sim
        for secret in self.secrets():
            leak_audit.secret(secret)

        def build(**options: Any) -> TwilioProvider:
            settings: dict[str, Any] = {
                "account_sid": twilio_sim.account_sid,
                "auth_token": twilio_sim.auth_token,
                "sender": twilio_sim.sender,
                "base_url": twilio_sim.base_url,
                "timeout": httpx.Timeout(5.0, read=READ_TIMEOUT),
                "status_callback": STATUS_CALLBACK,
            }
            return TwilioProvider(**settings, **options)

        yield build
        twilio_sim.configure(latency=0.0)
        twilio_sim.reset()

    def secrets(self) -> Iterable[str]:
        basic = f"{self.sim.account_sid}:{self.sim.auth_token}".encode()
        return [self.sim.auth_token, self.sim.api_key_secret, base64.b64encode(basic).decode()]

    @contextlib.contextmanager
    def _latency(self, seconds: float) -> Iterator[None]:
        # Latency delays every response while it is set. A create request is
        # processed before the delay, so a timed-out send still created a message.
        self.sim.configure(latency=seconds)
        try:
            yield
        finally:
            self.sim.configure(latency=0.0)

    @contextlib.contextmanager
    def _fault(self, status: int, code: int) -> Iterator[None]:
        self.sim.fail_next(status, times=10, code=code, operation="create")
        try:
            yield
        finally:
            self.sim.reset()

    def stage_unavailable(self, provider: Provider) -> Staging:
        return self._fault(503, 20503)

    def stage_timeout(self, provider: Provider) -> Staging:
        return self._latency(3 * READ_TIMEOUT)

    def stage_rejection(self, provider: Provider) -> Staging:
        return self._fault(400, 21610)  # the recipient unsubscribed from the sender

    def stage_auth_failure(self, provider: Provider) -> Staging:
        return self._fault(401, 20003)

    def stage_slow(self, provider: Provider) -> Staging:
        return self._latency(1.0)

    def send_request_count(self, provider: Provider) -> int:
        requests = self.sim.stats.requests
        return sum(count for path, count in requests.items() if path.endswith("/Messages.json"))

    def vendor_client_ref(self, provider: Provider, result: SendResult) -> str | None:
        # Twilio has no field for the caller's id; the provider carries it as
        # a query parameter of the StatusCallback URL it sends with the message.
        assert result.message_id is not None
        callback = self.sim.messages[result.message_id].status_callback
        assert callback is not None
        values = parse_qs(urlsplit(callback).query).get("notifier_client_ref")
        return values[0] if values else None
