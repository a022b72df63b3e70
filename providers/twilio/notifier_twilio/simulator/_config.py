"""Settings of the Twilio simulator.

Behaviour that Twilio documents is fixed. Behaviour it does not document is a
setting here, and its docstring starts with "Guess:" so tests can flip it.
"""

from __future__ import annotations

import dataclasses
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "DEFAULT_MESSAGING_SERVICE_SID",
    "DEFAULT_SENDER",
    "MAGIC_RECIPIENT_ERRORS",
    "MAGIC_SENDER_ERRORS",
    "SAMPLE_OUTCOMES",
    "FinalStatus",
    "SimulatorConfig",
    "build_config",
    "error_message",
    "new_sid",
]

FinalStatus = Literal["delivered", "undelivered", "failed"]
"""The final status a simulated message reaches."""

_FINAL_STATUSES: frozenset[str] = frozenset({"delivered", "undelivered", "failed"})

# A run of this many digits in a SID would look like a phone number to log
# scanners; SIDs are drawn again until they have none.
_DIGIT_RUN = re.compile(r"\d{8,}")


def new_sid(prefix: str) -> str:
    """Return a random Twilio-style SID: ``prefix`` and 32 lowercase hex digits."""
    while True:
        candidate = secrets.token_hex(16)
        if not _DIGIT_RUN.search(candidate):
            return prefix + candidate


DEFAULT_SENDER = "+15005550006"
"""The sender every simulated account owns; Twilio's test credentials use the same number."""

DEFAULT_MESSAGING_SERVICE_SID = "MGfeedfacecafebabedeadbeefabadcafe"
"""The Messaging Service every simulated account has."""

MAGIC_RECIPIENT_ERRORS: Mapping[str, int] = MappingProxyType(
    {
        "+15005550001": 21211,  # invalid number
        "+15005550002": 21612,  # Twilio cannot route to it
        "+15005550003": 21408,  # no permission for the region
        "+15005550004": 21610,  # the recipient blocked the sender (replied STOP)
        "+15005550009": 21614,  # cannot receive SMS
    }
)
"""Recipients whose create request fails at once, with the Twilio error code.

Twilio's test credentials respond to these "magic" recipient numbers with
the same errors.
"""

MAGIC_SENDER_ERRORS: Mapping[str, int] = MappingProxyType(
    {
        "+15005550001": 21212,  # invalid From number
        "+15005550007": 21606,  # not owned by the account
        "+15005550008": 21611,  # the sender's queue is full
    }
)
"""Senders whose create request fails at once, with the Twilio error code."""

SAMPLE_OUTCOMES: Mapping[str, tuple[str, int | None]] = MappingProxyType(
    {
        "+998900000091": ("undelivered", 30003),  # unreachable handset
        "+998900000092": ("undelivered", 30005),  # unknown handset
        "+998900000093": ("failed", 30007),  # filtered by the carrier
        "+998900000094": ("failed", 30036),  # validity period expired
    }
)
"""Recipients accepted at once whose message ends undelivered or failed.

Fake Uzbek numbers from the range the samples and tests use.
"""

_ERROR_MESSAGES: Mapping[int, str] = MappingProxyType(
    {
        20003: "Authenticate",
        20004: "Method not allowed",
        20403: "The account lacks permission to access the Twilio API",
        20404: "The requested resource {path} was not found",
        20429: "Too Many Requests",
        20500: "An internal server error has occurred",
        20503: "Service is unavailable. Please try again",
        21211: "The 'To' number {to} is not a valid phone number.",
        21212: "The 'From' number {from_} is not a valid phone number, shortcode, "
        "or alphanumeric sender ID.",
        21408: "Permission to send an SMS has not been enabled for the region "
        "indicated by the 'To' number: {to}.",
        21602: "Message body is required.",
        21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
        21604: "A 'To' phone number is required.",
        21606: "The 'From' phone number provided ({from_}) is not a valid message-capable "
        "Twilio phone number for this destination/account.",
        21609: "Invalid 'StatusCallback'.",
        21610: "Attempt to send to unsubscribed recipient",
        21611: "This 'From' number has exceeded the maximum number of queued messages",
        21612: "The 'To' phone number: {to}, is not currently reachable using the 'From' "
        "phone number: {from_} via SMS.",
        21614: "'To' number {to} is not a valid mobile number",
        21617: "The concatenated message body exceeds the 1600 character limit.",
        21701: "The Messaging Service does not exist",
        21705: "The Messaging Service is invalid",
        30003: "Unreachable destination handset",
        30005: "Unknown destination handset",
        30007: "Message filtered",
        30036: "Validity Period Expired",
    }
)


def error_message(code: int, **values: str) -> str:
    """Return Twilio's message for ``code`` with the request's values filled in."""
    template = _ERROR_MESSAGES.get(code, f"Error {code}")
    try:
        return template.format(**values)
    except KeyError:
        return template


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class SimulatorConfig:
    """Every setting of one simulator instance; times are in seconds."""

    # --- The account the simulator serves ---
    account_sid: str = field(default_factory=lambda: new_sid("AC"))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    api_key_sid: str = field(default_factory=lambda: new_sid("SK"))
    api_key_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    senders: tuple[str, ...] = (DEFAULT_SENDER, "NOTIFIER")
    """Values of ``From`` the account owns: E.164 numbers, short codes, alphanumeric IDs."""
    messaging_service_sids: tuple[str, ...] = (DEFAULT_MESSAGING_SERVICE_SID,)
    recipient_errors: Mapping[str, int] = field(default_factory=lambda: MAGIC_RECIPIENT_ERRORS)
    """Create-time error code by ``To`` number (E.164)."""
    sender_errors: Mapping[str, int] = field(default_factory=lambda: MAGIC_SENDER_ERRORS)
    """Create-time error code by ``From`` value."""
    balance: str = "20.00"
    """The account balance the Balance resource reports, in ``currency``."""
    currency: str = "USD"
    account_mismatch_status: int = 401
    """Guess: the status for valid credentials used on another account's path
    (the response carries error 20003)."""

    # --- Message progress and status callbacks ---
    auto_progress: bool = True
    """Whether messages move on by themselves; when off, only ``advance()`` and
    ``settle()`` move them."""
    step_delay: float = 0.05
    """Time between two status changes of a message."""
    outcome: FinalStatus = "delivered"
    """Final status of every message that no rule decides."""
    outcome_error_code: int | None = None
    """Error code of that final status when it is ``undelivered`` or ``failed``."""
    outcome_rules: Mapping[str, tuple[str, int | None]] = field(
        default_factory=lambda: SAMPLE_OUTCOMES
    )
    """Final status and error code by ``To`` number (E.164)."""
    callback_timeout: float = 2.0
    callback_duplicates: bool = False
    """Send every status callback twice, to test idempotent receivers."""
    raw_dlr_done_date: bool = True
    """Add ``RawDlrDoneDate`` to ``delivered`` and ``undelivered`` callbacks."""

    # --- Faults ---
    seed: int | None = None
    """Seed of the random generator behind ``fail_rate``, ``rate_limit_rate`` and ``drop_rate``."""
    fail_rate: float = 0.0
    """Share of API requests that get ``fail_status`` as the response."""
    fail_status: int = 503
    fail_retry_after: float | str | None = None
    """``Retry-After`` sent with random failures; ``None`` sends no header."""
    rate_limit_rate: float = 0.0
    """Share of API requests that get 429 with error 20429 as the response."""
    rate_limit_retry_after: float | str | None = 1
    """Guess: ``Retry-After`` sent with a 429; Twilio does not document that it sends one."""
    latency: float | tuple[float, float] = 0.0
    """Delay before each API response: a fixed time or a ``(min, max)`` range.
    A create request is processed before the delay, so a client that times
    out has still sent its message."""
    drop_rate: float = 0.0
    """Share of API requests whose connection is closed without a response."""
    tick_interval: float = 0.02
    """How often the background server applies due status changes."""

    def __post_init__(self) -> None:
        for name in ("fail_rate", "rate_limit_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0.0 and 1.0, got {value!r}")
        for name in ("step_delay", "callback_timeout"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
        if self.tick_interval <= 0:
            raise ValueError(f"tick_interval must be positive, got {self.tick_interval!r}")
        if not self.account_sid.startswith("AC"):
            raise ValueError(f"account_sid must start with 'AC', got {self.account_sid[:2]!r}")
        if not self.api_key_sid.startswith("SK"):
            raise ValueError(f"api_key_sid must start with 'SK', got {self.api_key_sid[:2]!r}")
        if not self.auth_token or not self.api_key_secret:
            raise ValueError("auth_token and api_key_secret must not be empty")
        if self.outcome not in _FINAL_STATUSES:
            raise ValueError(
                f"outcome must be one of {sorted(_FINAL_STATUSES)}, got {self.outcome!r}"
            )
        for number, (status, _code) in self.outcome_rules.items():
            if status not in _FINAL_STATUSES:
                raise ValueError(
                    f"outcome_rules[{number!r}] must end in one of {sorted(_FINAL_STATUSES)}, "
                    f"got {status!r}"
                )
        if not 100 <= self.fail_status <= 599:
            raise ValueError(f"fail_status must be an HTTP status, got {self.fail_status!r}")
        low, high = self.latency_range
        if not 0 <= low <= high:
            raise ValueError(f"latency must be >= 0 or a (min, max) range, got {self.latency!r}")

    @property
    def latency_range(self) -> tuple[float, float]:
        """The latency setting as a ``(min, max)`` range."""
        if isinstance(self.latency, tuple):
            return (float(self.latency[0]), float(self.latency[1]))
        return (float(self.latency), float(self.latency))


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(SimulatorConfig))


def build_config(config: SimulatorConfig | None, options: Mapping[str, Any]) -> SimulatorConfig:
    """Return ``config`` (or the defaults) with ``options`` applied.

    Raises:
        TypeError: an option name is not a ``SimulatorConfig`` field.
    """
    unknown = sorted(set(options) - _FIELD_NAMES)
    if unknown:
        raise TypeError(
            f"Unknown simulator option(s) {', '.join(unknown)}; "
            f"valid options are the SimulatorConfig fields: {', '.join(sorted(_FIELD_NAMES))}"
        )
    normalized = dict(options)
    for name in ("senders", "messaging_service_sids"):
        if name in normalized:
            normalized[name] = tuple(normalized[name])
    for name in ("recipient_errors", "sender_errors"):
        if name in normalized:
            normalized[name] = _frozen(normalized[name])
    if "outcome_rules" in normalized:
        normalized["outcome_rules"] = _frozen(
            {number: (rule[0], rule[1]) for number, rule in normalized["outcome_rules"].items()}
        )
    if isinstance(normalized.get("latency"), list):
        normalized["latency"] = tuple(normalized["latency"])
    return dataclasses.replace(config or SimulatorConfig(), **normalized)
