"""The provider conformance suite run against ``EskizProvider`` and the Eskiz simulator.

One simulator on a loopback port serves the whole module. So every check
counts requests as differences, and each staged fault is cleared when its
check ends. The suite runs once per transport.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest

from notifier import Provider, SendResult
from notifier._http import TransportName
from notifier.testing.conformance import ProviderConformance, ProviderFactory, Staging
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import EskizSimulator
from tests._audit import LeakAudit

SEND_PATH = "/message/sms/send"

READ_TIMEOUT = 0.5
"""Read timeout of the providers under test, in seconds; the timeout check waits this long."""


@pytest.fixture(scope="module")
def eskiz_sim() -> Iterator[EskizSimulator]:
    with EskizSimulator(seed=11) as simulator:
        yield simulator


class TestEskizConformance(ProviderConformance):
    @pytest.fixture(params=["httpx", "aiohttp"])
    def provider_factory(
        self,
        request: pytest.FixtureRequest,
        eskiz_sim: EskizSimulator,
        leak_audit: LeakAudit,
    ) -> Iterator[ProviderFactory]:
        transport: TransportName = request.param
        self.sim = eskiz_sim
        leak_audit.secret(eskiz_sim.password)
        leak_audit.secret(eskiz_sim.email)

        def build(**options: Any) -> EskizProvider:
            settings: dict[str, Any] = {
                "email": eskiz_sim.email,
                "password": eskiz_sim.password,
                "base_url": eskiz_sim.base_url,
                "timeout": httpx.Timeout(5.0, read=READ_TIMEOUT),
            }
            if "http_client" not in options:
                settings["transport"] = transport
            return EskizProvider(**settings, **options)

        yield build
        eskiz_sim.clear_faults()

    def secrets(self) -> Iterable[str]:
        return [self.sim.password, self.sim.email]

    @contextlib.contextmanager
    def _faults(self) -> Iterator[None]:
        try:
            yield
        finally:
            self.sim.clear_faults()

    def stage_unavailable(self, provider: Provider) -> Staging:
        self.sim.fail_next(503, times=10, path=SEND_PATH)
        return self._faults()

    def stage_timeout(self, provider: Provider) -> Staging:
        self.sim.delay_next(3 * READ_TIMEOUT, path=SEND_PATH)
        return self._faults()

    @contextlib.contextmanager
    def stage_rejection(self, provider: Provider) -> Iterator[None]:
        balance = self.sim.balance
        self.sim.set_balance(0)
        try:
            yield
        finally:
            self.sim.set_balance(balance)

    def stage_auth_failure(self, provider: Provider) -> Staging:
        # The simulator responds with 401 to every request, the login included,
        # so the replay after a fresh login fails too.
        self.sim.fail_next(401, times=10)
        return self._faults()

    def stage_slow(self, provider: Provider) -> Staging:
        self.sim.delay_next(1.0, path=SEND_PATH)
        return self._faults()

    def send_request_count(self, provider: Provider) -> int:
        return self.sim.stats.requests[SEND_PATH]

    def vendor_client_ref(self, provider: Provider, result: SendResult) -> str | None:
        for message in self.sim.messages:
            if message.request_id == result.message_id:
                return message.user_sms_id
        return None
