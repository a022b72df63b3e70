"""Message, result and delivery-report models."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from enum import Enum

import pydantic
import pytest

from notifier import (
    Attempt,
    DeliveryReport,
    DeliveryStatus,
    Encoding,
    InvalidMessage,
    ReportOutcome,
    SendResult,
    SendStatus,
    Sms,
    new_client_ref,
)

NUMBER = "+998900000017"
BODY = "Tasdiqlash kodi: 4512. Uni hech kimga aytmang."


def test_sms_positional_and_keyword() -> None:
    positional = Sms(NUMBER, BODY, client_ref="a1")
    keyword = Sms(to=NUMBER, body=BODY, client_ref="a1")

    assert positional == keyword
    assert positional.to == NUMBER
    assert positional.body == BODY


def test_sms_argument_given_twice() -> None:
    with pytest.raises(TypeError, match="multiple values for argument 'to'"):
        Sms(NUMBER, BODY, to=NUMBER)


def test_sms_optional_fields_default() -> None:
    message = Sms(NUMBER, BODY)

    assert message.sender is None
    assert message.callback_url is None
    assert message.metadata == {}


def test_sms_repr_masks_number_and_hides_body() -> None:
    message = Sms(NUMBER, BODY, sender="4546")

    for text in (repr(message), str(message)):
        assert NUMBER not in text
        assert NUMBER[1:] not in text
        assert "+998*****0017" in text
        assert "4512" not in text
        assert f"<{len(BODY)} characters>" in text
        assert "4546" in text


def test_sms_is_frozen() -> None:
    message = Sms(NUMBER, BODY)

    with pytest.raises(pydantic.ValidationError):
        message.body = "other"
    assert message.body == BODY


def test_sms_equal_messages_compare_equal() -> None:
    first = Sms(NUMBER, BODY, client_ref="ref-1")
    second = Sms("+998 90 000 00 17", BODY, client_ref="ref-1")

    assert first == second


def test_client_ref_generated_as_hex() -> None:
    message = Sms(NUMBER, BODY)

    assert re.fullmatch(r"[0-9a-f]{32}", message.client_ref)


def test_client_ref_unique_per_message() -> None:
    refs = {Sms(NUMBER, BODY).client_ref for _ in range(100)}

    assert len(refs) == 100


def test_client_ref_stable_on_one_message() -> None:
    message = Sms(NUMBER, BODY)

    assert message.client_ref == message.client_ref
    assert message.model_copy().client_ref == message.client_ref
    assert Sms.model_validate(message.model_dump()).client_ref == message.client_ref


def test_client_ref_kept_when_given() -> None:
    assert Sms(NUMBER, BODY, client_ref="order-1042").client_ref == "order-1042"


def test_new_client_ref_format() -> None:
    first = new_client_ref()

    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert new_client_ref() != first


@pytest.mark.parametrize(
    "client_ref",
    ["", "a" * 65, "line\nbreak", "tab\there"],
    ids=["empty", "too-long", "newline", "tab"],
)
def test_invalid_client_ref_rejected(client_ref: str) -> None:
    with pytest.raises(InvalidMessage, match=r"Sms\.client_ref must be 1 to 64 printable"):
        Sms(NUMBER, BODY, client_ref=client_ref)


def test_client_ref_of_64_characters_accepted() -> None:
    assert Sms(NUMBER, BODY, client_ref="a" * 64).client_ref == "a" * 64


@pytest.mark.parametrize("body", ["", " ", "\n\t "])
def test_blank_body_rejected(body: str) -> None:
    with pytest.raises(InvalidMessage, match=r"Sms\.body is empty or only whitespace"):
        Sms(NUMBER, body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("\ud800 yolgʻiz surrogat", "surrogate U+D800 at index 0"),  # noqa: RUF001
        ("Kod: 45\udc8012", "surrogate U+DC80 at index 7"),
    ],
    ids=["high-surrogate", "surrogateescape-byte"],
)
def test_body_with_surrogate_rejected(body: str, expected: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        Sms(NUMBER, body)

    message = str(caught.value)
    assert expected in message
    assert "Decode the source text strictly" in message
    assert "surrogat " not in message
    assert "4512" not in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Kod\x004512", "U+0000 at index 3"),
        ("\x1b[31mKod: 4512", "U+001B at index 0"),
        ("Kod: 4512\x7f", "U+007F at index 9"),
        ("Kod:\x854512", "U+0085 at index 4"),
        ("Kod\x0b4512", "U+000B at index 3"),
    ],
    ids=["nul", "escape", "delete", "c1-next-line", "vertical-tab"],
)
def test_body_with_control_character_rejected(body: str, expected: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        Sms(NUMBER, body)

    message = str(caught.value)
    assert f"Sms.body contains the control character {expected}" in message
    assert "allowed are \\n, \\r, \\t and \\f" in message
    assert "4512" not in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("\u200b", "U+200B ZERO WIDTH SPACE at index 0"),
        (" \ufeff\u2060\n", "U+FEFF ZERO WIDTH NO-BREAK SPACE at index 1"),
        ("\u00ad", "U+00AD SOFT HYPHEN at index 0"),
        ("\u3164\u3164", "U+3164 HANGUL FILLER at index 0"),
        ("\ufe0f", "U+FE0F VARIATION SELECTOR-16 at index 0"),
    ],
    ids=["zero-width-space", "bom-and-word-joiner", "soft-hyphen", "hangul-filler", "selector"],
)
def test_body_without_visible_character_rejected(body: str, expected: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        Sms(NUMBER, body)

    message = str(caught.value)
    assert message.startswith("Sms.body has no visible character")
    assert expected in message
    assert "Pass the text to send" in message


def test_body_check_applies_to_model_validate() -> None:
    with pytest.raises(InvalidMessage, match=r"control character U\+0000 at index 1"):
        Sms.model_validate({"to": NUMBER, "body": "a\x00b"})


@pytest.mark.parametrize(
    "body",
    [
        "  Kod: 4512\n",
        "Qator\r\nkeyingi\tqator",
        "Birinchi sahifa\fikkinchi sahifa",
        "Tasdiq\u200bkodi",
        "Oila: \U0001f468\u200d\U0001f469\u200d\U0001f467",
        "\u200fسلام",  # noqa: RUF001
        "Салом, \u00adдўстим!",  # noqa: RUF001
    ],
    ids=[
        "edge-spaces",
        "line-breaks-and-tab",
        "page-break",
        "zero-width-inside",
        "zwj-emoji",
        "rtl-mark",
        "soft-hyphen-inside",
    ],
)
def test_valid_body_kept_unchanged(body: str) -> None:
    assert Sms(NUMBER, body).body == body


def test_blank_sender_rejected() -> None:
    with pytest.raises(InvalidMessage, match=r"Sms\.sender is blank"):
        Sms(NUMBER, BODY, sender=" ")


def test_invalid_message_is_value_error() -> None:
    with pytest.raises(ValueError, match=r"Sms\.body"):
        Sms(NUMBER, "")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"to": NUMBER, "body": BODY, "priority": "high"}, "Sms.priority: Extra inputs"),
        ({"to": NUMBER, "body": 4512}, "Sms.body: Input should be a valid string"),
        ({"body": BODY}, "Sms.to: Field required"),
        ({"to": NUMBER, "body": BODY, "metadata": {"order": 1}}, "Sms.metadata.order"),
        ({"to": "+99890000", "body": BODY, "sender": " "}, "Sms.sender is blank"),
    ],
    ids=["extra-field", "body-not-string", "missing-to", "metadata-not-string", "two-errors"],
)
def test_invalid_message_not_pydantic_error(data: dict[str, object], expected: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        Sms.model_validate(data)

    message = str(caught.value)
    assert not isinstance(caught.value, pydantic.ValidationError)
    assert caught.value.__cause__ is None
    assert expected in message
    assert NUMBER[1:] not in message
    assert "4512" not in message
    assert "hech kimga" not in message


def test_constructor_error_hides_number_and_body() -> None:
    with pytest.raises(InvalidMessage) as caught:
        Sms(NUMBER, BODY, priority="high")

    message = str(caught.value)
    assert "Sms.priority" in message
    assert NUMBER[1:] not in message
    assert "4512" not in message


def test_json_error_hides_number_and_body() -> None:
    document = f'{{"to": "{NUMBER}", "body": "{BODY}", "priority": "high"}}'

    with pytest.raises(InvalidMessage) as caught:
        Sms.model_validate_json(document)

    message = str(caught.value)
    assert "Sms.priority" in message
    assert NUMBER[1:] not in message
    assert "4512" not in message


def test_json_round_trip() -> None:
    message = Sms(NUMBER, BODY, sender="4546", metadata={"order": "1042"})

    assert Sms.model_validate_json(message.model_dump_json()) == message


def test_delivery_status_order() -> None:
    assert list(DeliveryStatus) == [
        DeliveryStatus.ACCEPTED,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.UNDELIVERED,
        DeliveryStatus.EXPIRED,
        DeliveryStatus.REJECTED,
        DeliveryStatus.UNKNOWN,
    ]


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (DeliveryStatus.ACCEPTED, False),
        (DeliveryStatus.DELIVERED, True),
        (DeliveryStatus.UNDELIVERED, True),
        (DeliveryStatus.EXPIRED, True),
        (DeliveryStatus.REJECTED, True),
        (DeliveryStatus.UNKNOWN, False),
    ],
)
def test_delivery_status_is_final(status: DeliveryStatus, final: bool) -> None:
    assert status.is_final is final


def test_status_enums_are_strings() -> None:
    assert DeliveryStatus("delivered") is DeliveryStatus.DELIVERED
    assert SendStatus("queued") is SendStatus.QUEUED
    assert Encoding("ucs2") is Encoding.UCS2
    assert isinstance(DeliveryStatus.DELIVERED, str)
    assert DeliveryStatus.DELIVERED.value == "delivered"


@pytest.mark.parametrize(
    "member",
    [*SendStatus, *DeliveryStatus, *Encoding, *ReportOutcome],
    ids=lambda member: f"{type(member).__name__}.{member.name}",
)
def test_enum_str_and_format_give_value(member: Enum) -> None:
    assert str(member) == member.value
    assert f"{member}" == member.value
    assert format(member, ">10") == f"{member.value:>10}"


def test_delivery_report_repr_masks_number() -> None:
    report = DeliveryReport(
        provider="eskiz",
        message_id="4385062",
        client_ref="a1",
        status=DeliveryStatus.DELIVERED,
        provider_status="DELIVRD",
        occurred_at=datetime(2021, 4, 1, 19, 39, 36, tzinfo=timezone.utc),
        to=NUMBER,
        raw={"phone_number": NUMBER[1:]},
    )

    text = repr(report)
    assert NUMBER[1:] not in text
    assert "+998*****0017" in text
    assert "raw" not in text
    assert report.to == NUMBER


def test_delivery_report_without_number() -> None:
    report = DeliveryReport(
        provider="eskiz",
        message_id=None,
        client_ref="a1",
        status=DeliveryStatus.ACCEPTED,
        provider_status="ACCEPTED",
    )

    assert "to=None" in repr(report)


def test_send_result_repr_hides_raw() -> None:
    attempt = Attempt(
        provider="eskiz",
        outcome="sent",
        started_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        elapsed=0.25,
    )
    result = SendResult(
        provider="eskiz",
        message_id="b6a7d6b2-1c55-4c59-9a6b-4c3f4d2f0e11",
        client_ref="a1",
        status=SendStatus.QUEUED,
        segments=1,
        encoding=Encoding.GSM7,
        attempts=(attempt,),
        raw={"to": NUMBER[1:]},
    )

    assert "raw" not in repr(result)
    assert NUMBER[1:] not in repr(result)
    assert result.attempts[0].outcome == "sent"
    assert result.raw["to"] == NUMBER[1:]


def test_send_result_is_frozen() -> None:
    result = SendResult(
        provider="eskiz",
        message_id=None,
        client_ref="a1",
        status=SendStatus.UNKNOWN,
        segments=1,
        encoding=Encoding.UCS2,
    )

    with pytest.raises(pydantic.ValidationError):
        result.status = SendStatus.SENT
