"""Stored messages, their status names and the delivery-report events they raise.

A message moves ``NEW`` → ``ACCEPTED`` → a final state. Eskiz reports two
vocabularies: a message-level ``status`` in ``status_by_id`` and the lists,
and a part-level ``dlr_state`` that delivery callbacks carry.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACCEPTED",
    "NEW",
    "PART_STATES",
    "CallbackEvent",
    "StoredMessage",
    "Template",
]

NEW = "NEW"
ACCEPTED = "ACCEPTED"

PART_STATES = {
    "new": "NEW",
    "accepted": "ACCEPTED",
    "delivered": "DELIVRD",
    "undelivered": "UNDELIV",
    "expired": "EXPIRED",
    "rejected": "REJECTD",
}
"""Part-level state (``dlr_state``, callback ``status``) for each stage and outcome."""


@dataclass(frozen=True)
class StoredMessage:
    """Snapshot of one message the simulator accepted.

    ``to`` is digits with the country code first, as Eskiz stores it. Times
    are POSIX timestamps on the simulator clock.
    """

    id: int  # Eskiz's numeric SMS id
    request_id: str  # UUID of the send request; a batch shares one
    account_id: int
    to: str
    text: str
    nick: str | None  # sender name; None for send-global
    international: bool  # sent through send-global
    country_code: str  # ISO alpha-2, "UZ" for local sends
    dispatch_id: int | None
    user_sms_id: str | None
    callback_url: str | None
    parts: int
    encoding: int  # 0 = GSM 03.38, 8 = UCS-2
    price: int  # UZS per part
    total_price: int
    is_ad: bool
    outcome: str  # the final state this message is headed for
    status: str  # message-level: NEW, ACCEPTED, DELIVERED, ...
    dlr_state: str  # part-level: NEW, ACCEPTED, DELIVRD, UNDELIV, ...
    created_at: float
    accept_at: float  # when it becomes ACCEPTED if nothing moves it earlier
    final_at: float  # when it reaches its outcome if nothing moves it earlier
    accepted_at: float | None = None
    finished_at: float | None = None
    history: tuple[tuple[str, float], ...] = ()  # (part-level state, time) in order

    @property
    def is_final(self) -> bool:
        """Whether the message reached its outcome."""
        return self.finished_at is not None

    @property
    def updated_at(self) -> float:
        return self.finished_at or self.accepted_at or self.created_at


@dataclass(frozen=True)
class CallbackEvent:
    """A status change to report to a message's ``callback_url``."""

    message: StoredMessage  # the message right after the change
    status: str  # part-level state, as callbacks carry it
    at: float


@dataclass(frozen=True)
class Template:
    """A message template submitted for moderation."""

    id: int
    account_id: int
    text: str
    status: str  # "moderation" until approved or rejected
    created_at: float
