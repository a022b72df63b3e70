"""Twilio message statuses and how they map to notifier's statuses.

Twilio's Message resource (API version 2010-04-01) has one ``status`` field
for the whole life of a message. An outbound message created without a
Messaging Service starts ``queued``. With a Messaging Service it starts
``accepted`` (or ``scheduled`` when sent later) and then becomes ``queued``.
From there it moves through ``sending`` and ``sent`` to a final
``delivered``, ``undelivered`` or ``failed``. ``read`` follows ``delivered`` on channels
with read receipts, and ``canceled`` ends a scheduled message that was
cancelled. ``receiving`` and ``received`` belong to inbound messages.
"""

from __future__ import annotations

from enum import Enum

from notifier import DeliveryStatus, SendStatus

__all__ = [
    "EXPIRED_ERROR_CODES",
    "TwilioStatus",
    "delivery_status_for",
    "send_status_for",
]


class TwilioStatus(str, Enum):
    """The values of a Twilio Message resource's ``status``."""

    ACCEPTED = "accepted"  # a Messaging Service accepted it and will pick a sender
    SCHEDULED = "scheduled"  # a Messaging Service keeps it until its send time
    QUEUED = "queued"  # waiting in Twilio's queue for its sender
    SENDING = "sending"  # being handed to the carrier
    SENT = "sent"  # the carrier accepted it; no handset receipt yet
    DELIVERED = "delivered"  # final: the carrier reported delivery to the handset
    READ = "read"  # final: the recipient opened it (channels with read receipts)
    UNDELIVERED = "undelivered"  # final: the carrier reported it could not deliver
    FAILED = "failed"  # final: Twilio could not send it at all
    CANCELED = "canceled"  # final: a scheduled message was cancelled before sending
    PARTIALLY_DELIVERED = "partially_delivered"  # some parts of a multi-part message arrived
    RECEIVING = "receiving"  # inbound only
    RECEIVED = "received"  # inbound only

    # str() and format() give the value on every Python version. Python 3.11
    # changed format() of a str-mixed Enum to return "TwilioStatus.SENT".
    def __str__(self) -> str:
        return self.value


# Error 30036 ("Validity Period Expired"): the message waited in Twilio's queue
# longer than its ValidityPeriod, so Twilio never sent it.
EXPIRED_ERROR_CODES = frozenset({"30036"})

_SEND_STATUS = {
    TwilioStatus.ACCEPTED: SendStatus.QUEUED,
    TwilioStatus.SCHEDULED: SendStatus.QUEUED,
    TwilioStatus.QUEUED: SendStatus.QUEUED,
    TwilioStatus.SENDING: SendStatus.QUEUED,
    TwilioStatus.SENT: SendStatus.SENT,
    TwilioStatus.DELIVERED: SendStatus.DELIVERED,
    TwilioStatus.READ: SendStatus.DELIVERED,
    TwilioStatus.UNDELIVERED: SendStatus.FAILED,
    TwilioStatus.FAILED: SendStatus.FAILED,
    TwilioStatus.CANCELED: SendStatus.FAILED,
}

_DELIVERY_STATUS = {
    TwilioStatus.ACCEPTED: DeliveryStatus.ACCEPTED,
    TwilioStatus.SCHEDULED: DeliveryStatus.ACCEPTED,
    TwilioStatus.QUEUED: DeliveryStatus.ACCEPTED,
    TwilioStatus.SENDING: DeliveryStatus.ACCEPTED,
    TwilioStatus.SENT: DeliveryStatus.ACCEPTED,
    TwilioStatus.DELIVERED: DeliveryStatus.DELIVERED,
    TwilioStatus.READ: DeliveryStatus.DELIVERED,
    TwilioStatus.UNDELIVERED: DeliveryStatus.UNDELIVERED,
    # "failed" means Twilio itself did not pass the message on (filtered,
    # blocked, queue overflow, account problems), so the provider rejected it.
    TwilioStatus.FAILED: DeliveryStatus.REJECTED,
    # Cancelled by the account before sending: final and never delivered.
    TwilioStatus.CANCELED: DeliveryStatus.REJECTED,
}


def _parse(status: str) -> TwilioStatus | None:
    try:
        return TwilioStatus(status.strip().lower())
    except ValueError:
        return None


def send_status_for(status: str) -> SendStatus:
    """Map the ``status`` of a Message resource just created to a ``SendStatus``.

    Unknown words, the inbound statuses and ``partially_delivered`` map to
    ``SendStatus.UNKNOWN``.
    """
    parsed = _parse(status)
    if parsed is None:
        return SendStatus.UNKNOWN
    return _SEND_STATUS.get(parsed, SendStatus.UNKNOWN)


def delivery_status_for(status: str, error_code: str | None = None) -> DeliveryStatus:
    """Map a Twilio status and its error code to a ``DeliveryStatus``.

    ``undelivered`` or ``failed`` with error 30036 (validity period expired)
    becomes ``EXPIRED``. ``partially_delivered``, the inbound statuses and
    unknown words become ``UNKNOWN``, because Twilio documents no rule on whether a later
    report will follow them.
    """
    parsed = _parse(status)
    if parsed is None:
        return DeliveryStatus.UNKNOWN
    mapped = _DELIVERY_STATUS.get(parsed, DeliveryStatus.UNKNOWN)
    if mapped in (DeliveryStatus.UNDELIVERED, DeliveryStatus.REJECTED) and (
        error_code is not None and error_code.strip() in EXPIRED_ERROR_CODES
    ):
        return DeliveryStatus.EXPIRED
    return mapped
