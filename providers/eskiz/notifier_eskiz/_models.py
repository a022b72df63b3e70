"""Typed responses of the Eskiz API.

Every model keeps fields it does not know (``extra="allow"``), so a field
Eskiz adds later is still reachable through ``model_extra``. Reprs mask phone
numbers and leave out message texts and e-mail addresses, because reprs end
up in logs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from notifier import DeliveryStatus, mask_phone

__all__ = [
    "EskizMessage",
    "EskizTemplate",
    "EskizUser",
    "GlobalPrice",
    "LocalPrice",
    "MessagePart",
    "MonthlyTotal",
    "NormalizedText",
    "Prices",
    "SpecialCharacter",
    "StatusTotal",
    "TemplateSubmission",
    "TextCheck",
    "TextCheckInfo",
    "TextRecommendation",
    "delivery_status",
]

_STATUS_MAP: dict[str, DeliveryStatus] = {
    # Part level (dlr_state, delivery callbacks).
    "DELIVRD": DeliveryStatus.DELIVERED,
    "UNDELIV": DeliveryStatus.UNDELIVERED,
    "UNDELIVERABLE": DeliveryStatus.UNDELIVERED,
    "EXPIRED": DeliveryStatus.EXPIRED,
    "REJECTD": DeliveryStatus.REJECTED,
    "ACCEPTED": DeliveryStatus.ACCEPTED,
    "ENROUTE": DeliveryStatus.ACCEPTED,
    "NEW": DeliveryStatus.ACCEPTED,
    "STORED": DeliveryStatus.ACCEPTED,
    # Message level (status_by_id, message lists).
    "DELIVERED": DeliveryStatus.DELIVERED,
    "REJECTED": DeliveryStatus.REJECTED,
    "UNDELIVERED": DeliveryStatus.UNDELIVERED,
    # Some parts arrived and some did not: the message as a whole was not delivered.
    "PARTDELIVERED": DeliveryStatus.UNDELIVERED,
}


def delivery_status(eskiz_status: str | None) -> DeliveryStatus:
    """Map an Eskiz status word of either vocabulary to a ``DeliveryStatus``.

    Part-level words (``DELIVRD``, ``UNDELIV``, ``REJECTD``, ...) and
    message-level words (``DELIVERED``, ``REJECTED``, ...) are both
    understood, in any case. ``DELETED``, ``UNKNOWN`` and words Eskiz may add
    later map to ``DeliveryStatus.UNKNOWN``.
    """
    if not eskiz_status:
        return DeliveryStatus.UNKNOWN
    return _STATUS_MAP.get(eskiz_status.strip().upper(), DeliveryStatus.UNKNOWN)


class _EskizModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


class MessagePart(_EskizModel):
    """One SMS part of a message, as ``status_by_id`` reports it."""

    dlr_state: str | None = None
    accepted: bool | None = None
    part_index: int | None = None
    accept_time: str | None = None  # Tashkent local time, "YYYY-MM-DD HH:MM:SS"
    dlr_time: str | None = None  # Tashkent local time, "YYYY-MM-DD HH:MM:SS"
    accept_status: int | None = None


class EskizMessage(_EskizModel):
    """One message as ``status_by_id`` and the message lists return it.

    ``status`` is Eskiz's message-level word (``NEW``, ``ACCEPTED``,
    ``DELIVERED``, ``REJECTED``, ...); ``delivery_status`` is its normalized
    form. ``encoding`` is 0 for GSM 03.38, 1 for ASCII, 8 for UCS-2.
    ``price`` is per part, in UZS.
    """

    id: int
    request_id: str | None = None
    user_id: int | None = None
    country_id: int | None = None
    dispatch_id: int | None = None
    user_sms_id: str | None = None
    price: int | None = None
    total_price: int | None = None
    is_ad: bool | None = None
    nick: str | None = None
    to: str | None = None  # digits, country code first, without "+"
    message: str | None = Field(default=None, repr=False)
    encoding: int | None = None
    parts_count: int | None = None
    parts: dict[str, MessagePart] = Field(default_factory=dict)
    status: str | None = None
    smsc_data: dict[str, Any] | list[Any] | None = Field(default=None, repr=False)
    sent_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def delivery_status(self) -> DeliveryStatus:
        """The normalized state of the message."""
        return delivery_status(self.status)

    @property
    def client_ref(self) -> str | None:
        """The ``client_ref`` of the ``Sms`` this message was sent from, when it had one."""
        return self.user_sms_id

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name == "to" and isinstance(value, str):
                yield name, mask_phone(value)
            else:
                yield name, value


class StatusTotal(_EskizModel):
    """How many messages are in one status."""

    status: str
    total: int


class MonthlyTotal(_EskizModel):
    """SMS parts ("packets") in one status during one month."""

    status: str
    month: str  # English month abbreviation, e.g. "Nov"
    packets: int


class EskizUser(_EskizModel):
    """The account the provider logs in to. The repr leaves out the e-mail address."""

    id: int
    name: str | None = None
    email: str | None = Field(default=None, repr=False)
    password: str | None = Field(default=None, repr=False)  # Eskiz always sends ""
    role: str | None = None  # "user", or "test" for a trial account
    status: str | None = None
    is_vip: bool | None = None
    balance: int | None = None  # UZS
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_trial(self) -> bool:
        """Whether this is a trial account, which may send only Eskiz's three test texts."""
        return self.role == "test"


class EskizTemplate(_EskizModel):
    """A message template submitted for moderation.

    ``template`` is empty until moderation approves the text;
    ``original_text`` is the text as submitted.
    """

    id: int
    template: str | None = None
    original_text: str | None = None
    status: str | None = None  # "moderation" while waiting


class TemplateSubmission(_EskizModel):
    """Eskiz's response to a template submission."""

    template: str


class TextCheckInfo(_EskizModel):
    """Price and admissibility of a text on one SMS center."""

    smsc: int | None = None
    is_ad: bool | None = None
    price: int | None = None  # UZS for the whole text
    is_error: bool | None = None
    error: str | None = None


class TextCheck(_EskizModel):
    """The verdict of ``POST /message/sms/check`` on a text: parts, price, admissibility."""

    info: list[TextCheckInfo] = Field(default_factory=list)
    forbidden: bool | None = None
    can_send: bool | None = None
    bytes_count: int | None = None
    chars_count: int | None = None
    parts_count: int | None = None


class SpecialCharacter(_EskizModel):
    """A character the normalizer flags, with its position in the text."""

    position: int
    code: str  # e.g. "0x20AC"
    char: str


class TextRecommendation(_EskizModel):
    """A replacement the normalizer suggests."""

    from_: str = Field(alias="from")
    to: str


class NormalizedText(_EskizModel):
    """The normalizer's response: flagged characters, suggestions and the rewritten text."""

    special_characters: list[SpecialCharacter] = Field(default_factory=list)
    recommendations: list[TextRecommendation] = Field(default_factory=list)
    message: str


class GlobalPrice(_EskizModel):
    """The price of one SMS part to one foreign country, in UZS."""

    code: str  # ISO alpha-2, lower case
    name: str | None = None
    prefix: str | None = None
    status: str | None = None
    price: int


class LocalPrice(_EskizModel):
    """The price of one SMS part on one Uzbek operator, in UZS."""

    smsc_id: int | None = None
    name: str | None = None
    price: int
    ad_price: int | None = None


class Prices(_EskizModel):
    """Eskiz's price list."""

    global_: list[GlobalPrice] = Field(default_factory=list, alias="global")
    local: list[LocalPrice] = Field(default_factory=list)
