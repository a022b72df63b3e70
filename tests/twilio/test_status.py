"""Mapping of Twilio message statuses to SendStatus and DeliveryStatus."""

from __future__ import annotations

import pytest

from notifier import DeliveryStatus, SendStatus
from notifier_twilio import TwilioStatus, delivery_status_for, send_status_for


@pytest.mark.parametrize(
    ("twilio", "expected"),
    [
        ("queued", SendStatus.QUEUED),
        ("accepted", SendStatus.QUEUED),
        ("scheduled", SendStatus.QUEUED),
        ("sending", SendStatus.QUEUED),
        ("sent", SendStatus.SENT),
        ("delivered", SendStatus.DELIVERED),
        ("read", SendStatus.DELIVERED),
        ("undelivered", SendStatus.FAILED),
        ("failed", SendStatus.FAILED),
        ("canceled", SendStatus.FAILED),
        ("receiving", SendStatus.UNKNOWN),
        ("received", SendStatus.UNKNOWN),
        ("partially_delivered", SendStatus.UNKNOWN),
        ("something-new", SendStatus.UNKNOWN),
    ],
)
def test_send_status(twilio: str, expected: SendStatus) -> None:
    assert send_status_for(twilio) is expected


@pytest.mark.parametrize(
    ("twilio", "error_code", "expected"),
    [
        ("accepted", None, DeliveryStatus.ACCEPTED),
        ("scheduled", None, DeliveryStatus.ACCEPTED),
        ("queued", None, DeliveryStatus.ACCEPTED),
        ("sending", None, DeliveryStatus.ACCEPTED),
        ("sent", None, DeliveryStatus.ACCEPTED),
        ("delivered", None, DeliveryStatus.DELIVERED),
        ("read", None, DeliveryStatus.DELIVERED),
        ("undelivered", "30003", DeliveryStatus.UNDELIVERED),
        ("failed", "30007", DeliveryStatus.REJECTED),
        ("failed", "30036", DeliveryStatus.EXPIRED),
        ("undelivered", "30036", DeliveryStatus.EXPIRED),
        ("canceled", None, DeliveryStatus.REJECTED),
        ("received", None, DeliveryStatus.UNKNOWN),
        ("partially_delivered", None, DeliveryStatus.UNKNOWN),
        ("something-new", None, DeliveryStatus.UNKNOWN),
    ],
)
def test_delivery_status(twilio: str, error_code: str | None, expected: DeliveryStatus) -> None:
    assert delivery_status_for(twilio, error_code) is expected


def test_expiry_code_does_not_change_delivered() -> None:
    assert delivery_status_for("delivered", "30036") is DeliveryStatus.DELIVERED


def test_status_words_are_case_insensitive() -> None:
    assert delivery_status_for(" Delivered ") is DeliveryStatus.DELIVERED
    assert send_status_for("QUEUED") is SendStatus.QUEUED


def test_every_twilio_status_has_a_mapping_decision() -> None:
    # A new member must be mapped on purpose: only the ones listed here may be UNKNOWN.
    unknown = {TwilioStatus.RECEIVING, TwilioStatus.RECEIVED, TwilioStatus.PARTIALLY_DELIVERED}
    for status in TwilioStatus:
        mapped = delivery_status_for(status.value)
        assert (mapped is DeliveryStatus.UNKNOWN) == (status in unknown), status


@pytest.mark.parametrize("status", list(TwilioStatus), ids=lambda status: status.name)
def test_status_prints_as_value(status: TwilioStatus) -> None:
    assert str(status) == status.value
    assert f"{status}" == status.value
