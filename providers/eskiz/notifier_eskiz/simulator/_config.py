"""Settings of the Eskiz simulator.

Every behaviour of the real service that no source confirms is a setting
here, with the default the simulator assumes. The docstring of each such
field starts with "Guess:". Tests can flip it to check a client against
both behaviours.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from notifier import mask_phone

__all__ = [
    "DEFAULT_EMAIL",
    "DEFAULT_PASSWORD",
    "TRIAL_NICK",
    "TRIAL_TEXTS",
    "Outcome",
    "SimulatorConfig",
    "build_config",
]

DEFAULT_EMAIL = "simulator@notifier.test"
# A fixed credential of a server that only listens on loopback; it protects
# nothing and is printed by the command line on start.
DEFAULT_PASSWORD = "simulator-secret"  # noqa: S105

TRIAL_NICK = "4546"
"""The sender name every Eskiz account, trial accounts included, may use."""

TRIAL_TEXTS = ("Это тест от Eskiz", "Bu Eskiz dan test", "This is test from Eskiz")
"""The only texts a trial account (role ``"test"``) may send."""

Outcome = Literal["delivered", "undelivered", "expired", "rejected"]
"""The final state a simulated message reaches."""

_OUTCOMES: frozenset[str] = frozenset({"delivered", "undelivered", "expired", "rejected"})

THIRTY_DAYS = 30 * 24 * 3600


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class SimulatorConfig:
    """Every setting of one simulator instance; times are in seconds."""

    # --- The account the simulator serves ---
    email: str = DEFAULT_EMAIL
    password: str = field(default=DEFAULT_PASSWORD, repr=False)
    role: Literal["user", "test"] = "user"
    """``"test"`` makes a trial account that may send only ``TRIAL_TEXTS``."""
    balance: int = 1_000_000
    """Starting balance in UZS."""
    nicks: tuple[str, ...] = (TRIAL_NICK,)
    """Sender names the account may put in ``from``."""
    account_name: str = "Simulator"

    # --- Tokens ---
    token_ttl: float = THIRTY_DAYS
    """Token lifetime; the real service issues tokens for 30 days."""
    refresh_expired: bool = False
    """Guess: whether ``PATCH /auth/refresh`` accepts an expired token."""
    refresh_revokes_old: bool = False
    """Guess: whether a refresh revokes the token it was called with."""
    invalidate_enabled: bool = True
    """Guess: whether ``DELETE /auth/invalidate`` exists (it revokes the token)."""
    expired_token_body: Mapping[str, Any] = field(
        default_factory=lambda: _frozen({"status": "token-invalid", "message": "Expired token"})
    )
    """Guess: the 401 body for an expired or revoked token (seen on the live server in 2022)."""
    invalid_token_body: Mapping[str, Any] = field(
        default_factory=lambda: _frozen({"status": "token-invalid", "message": "Token is invalid"})
    )
    """Guess: the 401 body for a malformed token, a foreign signature or no token at all."""
    bad_credentials_status: int = 401
    """Guess: the status for a wrong e-mail or password; 400 uses the older Russian message."""

    # --- Request validation ---
    validation_status: int = 400
    """Guess: the status for a missing or invalid field (400 or 422)."""
    from_required: bool = False
    """Guess: whether ``from`` is required; when absent, the first nick is used."""
    send_requires_uz: bool = True
    """Guess: whether ``send`` and ``send-batch`` accept only 12-digit numbers starting with 998."""
    batch_limit: int = 500
    """Guess: the maximum number of messages in one ``send-batch`` request."""
    send_status_text: str = "waiting"
    """The ``status`` in a send response. The real service also returns ``"Waiting"``."""
    uuid_lookup_days: float = 30
    """How long ``status_by_id`` finds a message by its request UUID."""

    # --- Moderation and billing ---
    moderation: bool = False
    """Whether a paid account's texts must match an approved template."""
    template_auto_approve_after: float | None = None
    """Approve submitted templates this long after submission; ``None`` waits for
    ``approve_template()``."""
    approved_template_status: str = "approved"
    """Guess: the ``status`` of an approved template in ``GET /user/templates``."""
    billing: bool = True
    """Whether sends cost money; when off, the balance never changes or runs out."""
    price_per_part: int = 50
    """Price of one local SMS part in UZS."""
    insufficient_balance_status: int = 400
    """Guess: the status when the balance does not cover a send."""

    # --- Message progress and delivery reports ---
    auto_progress: bool = True
    """Whether messages move on by themselves; when off, only ``advance()``,
    ``tick()`` and ``settle()`` move them."""
    accept_delay: float = 0.1
    """Time from a send to ``ACCEPTED``."""
    final_delay: float = 0.3
    """Time from a send to the final state."""
    outcome: Outcome = "delivered"
    """Final state of every message that no rule or ratio decides."""
    outcome_ratios: Mapping[str, float] | None = None
    """Weights of the final states, e.g. ``{"delivered": 0.9, "undelivered": 0.1}``."""
    outcome_rules: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    """Final state by phone number (digits, country code first); wins over the ratios."""
    failed_status_names: Mapping[str, str] = field(
        default_factory=lambda: _frozen(
            {"undelivered": "UNDELIV", "expired": "EXPIRED", "rejected": "REJECTED"}
        )
    )
    """Guess: the message-level ``status`` of each failed outcome in reports."""
    callback_format: Literal["json", "form"] = "json"
    """Guess: the encoding of delivery callbacks."""
    callback_duplicates: bool = False
    """Send every delivery callback twice, to test idempotent receivers."""
    callback_timeout: float = 2.0
    callback_retries: int = 0
    """Guess: how often a failed callback is sent again."""

    # --- Faults ---
    seed: int | None = None
    """Seed of the random generator behind every random fault and ratio."""
    fail_rate: float = 0.0
    """Share of requests (login included) that get a ``fail_status`` response."""
    fail_status: int = 503
    fail_retry_after: float | str | None = None
    """``Retry-After`` value sent with random failures; ``None`` sends no header."""
    rate_limit_rate: float = 0.0
    """Share of requests that get a 429 response."""
    rate_limit_retry_after: float | str | None = 1
    latency: float | tuple[float, float] = 0.0
    """Delay before each response starts: a fixed time or a ``(min, max)`` range."""
    drop_rate: float = 0.0
    """Share of requests whose connection is closed without a response."""
    login_fail_rate: float = 0.0
    """Share of login requests that get a ``login_fail_status`` response."""
    login_fail_status: int = 500
    not_found_style: Literal["json", "nginx"] = "json"
    """Body of 404 responses: a JSON error, or the HTML page nginx serves."""
    tick_interval: float = 0.05
    """How often the background server applies due status changes and sends callbacks."""

    def __post_init__(self) -> None:
        self._check_rates()
        self._check_times()
        self._check_account()
        self._check_outcomes()

    def _check_rates(self) -> None:
        for name in ("fail_rate", "rate_limit_rate", "drop_rate", "login_fail_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0.0 and 1.0, got {value!r}")
        if self.batch_limit < 1:
            raise ValueError(f"batch_limit must be at least 1, got {self.batch_limit!r}")
        if self.callback_retries < 0:
            raise ValueError(f"callback_retries must be >= 0, got {self.callback_retries!r}")

    def _check_times(self) -> None:
        for name in ("accept_delay", "final_delay", "callback_timeout", "uuid_lookup_days"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
        if self.final_delay < self.accept_delay:
            raise ValueError(
                f"final_delay ({self.final_delay!r}) must not be shorter than "
                f"accept_delay ({self.accept_delay!r}): a message is accepted before it ends"
            )
        if not self.token_ttl > 0:
            raise ValueError(
                f"token_ttl must be a positive number of seconds, got {self.token_ttl!r}"
            )
        if self.tick_interval <= 0:
            raise ValueError(f"tick_interval must be positive, got {self.tick_interval!r}")
        low, high = self.latency_range
        if not 0 <= low <= high:
            raise ValueError(f"latency must be >= 0 or a (min, max) range, got {self.latency!r}")

    def _check_account(self) -> None:
        if self.role not in ("user", "test"):
            raise ValueError(f"role must be 'user' or 'test', got {self.role!r}")
        if not self.nicks:
            raise ValueError("nicks must name at least one sender, e.g. ('4546',)")

    def _check_outcomes(self) -> None:
        expected = sorted(_OUTCOMES)
        if self.outcome not in _OUTCOMES:
            raise ValueError(f"outcome must be one of {expected}, got {self.outcome!r}")
        for phone, outcome in self.outcome_rules.items():
            if outcome not in _OUTCOMES:
                raise ValueError(
                    f"outcome_rules[{mask_phone(phone)!r}] must be one of {expected}, "
                    f"got {outcome!r}"
                )
        if self.outcome_ratios is None:
            return
        unknown = set(self.outcome_ratios) - _OUTCOMES
        if unknown:
            raise ValueError(
                f"outcome_ratios has unknown outcomes {sorted(unknown)}; use {expected}"
            )
        weights = list(self.outcome_ratios.values())
        if any(weight < 0 for weight in weights) or not any(weight > 0 for weight in weights):
            raise ValueError("outcome_ratios needs weights >= 0 and at least one above 0")

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
    if "nicks" in normalized:
        normalized["nicks"] = tuple(normalized["nicks"])
    for name in (
        "outcome_rules",
        "failed_status_names",
        "expired_token_body",
        "invalid_token_body",
    ):
        if name in normalized:
            normalized[name] = _frozen(normalized[name])
    if normalized.get("outcome_ratios") is not None:
        normalized["outcome_ratios"] = _frozen(normalized["outcome_ratios"])
    if "latency" in normalized and isinstance(normalized["latency"], list):
        normalized["latency"] = tuple(normalized["latency"])
    return dataclasses.replace(config or SimulatorConfig(), **normalized)
