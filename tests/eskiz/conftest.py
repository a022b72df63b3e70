"""Fixtures for the Eskiz provider tests: a simulator on loopback and providers bound to it.

Each test gets its own simulator (starting one takes about 50 ms), so the
counters in ``sim.stats`` belong to that test alone. The simulator's e-mail
and password are registered with the leak audit, which fails the run if
either shows up in a log record or a span.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from notifier import instant_retries
from notifier._http import TransportName
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import EskizSimulator
from tests._audit import LeakAudit

ProviderFactory = Callable[..., EskizProvider]

UZ_PHONE = "+998900000011"
"""A fake Uzbek number in the 90 000 00 xx range."""

TRIAL_TEXT = "Bu Eskiz dan test"
"""One of the three texts a trial account may send; any text works on the default account."""


@pytest.fixture
def instant() -> Iterator[list[float]]:
    """Make retry waits instant; yields the waits that would have been slept."""
    with instant_retries() as waits:
        yield waits


@pytest.fixture
def sim_options() -> dict[str, Any]:
    """Options for the ``sim`` fixture; override in a test module or with parametrize."""
    return {}


@pytest.fixture
def sim(sim_options: dict[str, Any], leak_audit: LeakAudit) -> Iterator[EskizSimulator]:
    """A running Eskiz simulator on 127.0.0.1 whose callbacks stay off."""
    with EskizSimulator(**sim_options) as simulator:
        leak_audit.secret(simulator.email)
        leak_audit.secret(simulator.password)
        yield simulator


@pytest.fixture(params=["httpx", "aiohttp"])
def transport(request: pytest.FixtureRequest) -> TransportName:
    """Each transport the provider supports; tests using it run once per transport."""
    name: TransportName = request.param
    return name


@pytest.fixture
async def make_provider(sim: EskizSimulator) -> AsyncIterator[ProviderFactory]:
    """Build providers bound to ``sim``; every one is closed after the test."""
    made: list[EskizProvider] = []

    def factory(**options: Any) -> EskizProvider:
        settings: dict[str, Any] = {
            "email": sim.email,
            "password": sim.password,
            "base_url": sim.base_url,
            **options,
        }
        provider = EskizProvider(**settings)
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        await provider.aclose()


@pytest.fixture
def provider(make_provider: ProviderFactory, transport: TransportName) -> EskizProvider:
    """A provider bound to ``sim`` on each transport in turn."""
    return make_provider(transport=transport)
