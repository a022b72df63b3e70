"""Fixtures of the Twilio tests: a running simulator and a provider pointed at it."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator

import pytest

from notifier_twilio import TwilioProvider
from notifier_twilio.simulator import TwilioSimulator
from tests._audit import LeakAudit


@pytest.fixture(scope="module")
def shared_simulator() -> Iterator[TwilioSimulator]:
    """One running simulator per test module; starting and stopping one takes about 0.2 s."""
    with TwilioSimulator(auto_progress=False, seed=7) as simulator:
        yield simulator


@pytest.fixture
def sim(shared_simulator: TwilioSimulator, leak_audit: LeakAudit) -> Iterator[TwilioSimulator]:
    """The module's simulator, reset, with messages that move only on ``advance()``.

    Its secrets, and the basic-auth header values built from them, are
    registered with the leak audit.
    """
    simulator = shared_simulator
    simulator.reset()
    for secret in (simulator.auth_token, simulator.api_key_secret):
        leak_audit.secret(secret)
    for user, password in (
        (simulator.account_sid, simulator.auth_token),
        (simulator.api_key_sid, simulator.api_key_secret),
    ):
        leak_audit.secret(base64.b64encode(f"{user}:{password}".encode()).decode())
    yield simulator
    simulator.reset()


@pytest.fixture
async def provider(sim: TwilioSimulator) -> AsyncIterator[TwilioProvider]:
    """A provider authenticated with the account SID and auth token, sending from the sender."""
    async with TwilioProvider(
        account_sid=sim.account_sid,
        auth_token=sim.auth_token,
        sender=sim.sender,
        base_url=sim.base_url,
    ) as twilio:
        yield twilio
