"""A local stand-in for the Eskiz.uz SMS API, for tests and demos.

``EskizSimulator`` serves the Eskiz endpoints on a free loopback port in a
background thread: real HS256 tokens with a controllable clock, sending and
batch sending with trial-account, moderation and balance rules, message
progress with delivery callbacks, and injectable faults::

    from notifier_eskiz.simulator import EskizSimulator

    with EskizSimulator(token_ttl=3600, seed=1) as sim:
        sim.fail_next(503, path="/message/sms/send")
        ...  # point a client at sim.base_url with sim.email and sim.password
        assert sim.stats.sends == 1

``create_app()`` returns the bare ASGI application; ``run()`` serves it in
the foreground for ``notifier eskiz simulator``. Requires the
``notifier-eskiz[simulator]`` extra.
"""

from __future__ import annotations

from ._app import create_app
from ._callbacks import callback_payload, is_loopback_host
from ._clock import TASHKENT, SimulatorClock
from ._config import (
    DEFAULT_EMAIL,
    DEFAULT_PASSWORD,
    TRIAL_NICK,
    TRIAL_TEXTS,
    Outcome,
    SimulatorConfig,
)
from ._faults import ScriptedFault
from ._messages import CallbackEvent, StoredMessage, Template
from ._simulator import ASGI_BASE_URL, EskizSimulator, run
from ._state import Account, SimulatorState
from ._stats import SimulatorStats

__all__ = [
    "ASGI_BASE_URL",
    "DEFAULT_EMAIL",
    "DEFAULT_PASSWORD",
    "TASHKENT",
    "TRIAL_NICK",
    "TRIAL_TEXTS",
    "Account",
    "CallbackEvent",
    "EskizSimulator",
    "Outcome",
    "ScriptedFault",
    "SimulatorClock",
    "SimulatorConfig",
    "SimulatorState",
    "SimulatorStats",
    "StoredMessage",
    "Template",
    "callback_payload",
    "create_app",
    "is_loopback_host",
    "run",
]
