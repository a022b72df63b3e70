"""A local Twilio Messages API for tests and demos (extra ``notifier-twilio[simulator]``).

``TwilioSimulator`` serves the endpoints ``TwilioProvider`` uses on a free
loopback port, with the same authentication, validation, error codes and
status callbacks as Twilio, plus injectable faults: random or scripted 5xx
and 429 responses, latency and dropped connections. It sends status callbacks
only to loopback hosts.
"""

from __future__ import annotations

from ._callbacks import CallbackRecord
from ._config import (
    DEFAULT_MESSAGING_SERVICE_SID,
    DEFAULT_SENDER,
    MAGIC_RECIPIENT_ERRORS,
    MAGIC_SENDER_ERRORS,
    SAMPLE_OUTCOMES,
    SimulatorConfig,
)
from ._server import TwilioSimulator
from ._stats import SimulatorStats
from ._store import SimulatedMessage, StatusChange

__all__ = [
    "DEFAULT_MESSAGING_SERVICE_SID",
    "DEFAULT_SENDER",
    "MAGIC_RECIPIENT_ERRORS",
    "MAGIC_SENDER_ERRORS",
    "SAMPLE_OUTCOMES",
    "CallbackRecord",
    "SimulatedMessage",
    "SimulatorConfig",
    "SimulatorStats",
    "StatusChange",
    "TwilioSimulator",
]
