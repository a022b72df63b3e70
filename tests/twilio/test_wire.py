# Uzbek sample text is written with the modifier letter U+02BB on purpose.
# ruff: noqa: RUF001
"""The Twilio wire format: paths, the client_ref query parameter, the Message resource."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest

from notifier_twilio import CLIENT_REF_PARAM, MessageResource
from notifier_twilio._wire import (
    body_length,
    is_account_sid,
    is_message_sid,
    message_path,
    messages_path,
    parse_twilio_date,
    with_client_ref,
)

ACCOUNT = "AC" + "ab" * 16


def test_paths() -> None:
    assert messages_path(ACCOUNT) == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert (
        message_path(ACCOUNT, "SM" + "cd" * 16)
        == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/SM{'cd' * 16}.json"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(ACCOUNT, True), ("AC" + "ab" * 15, False), ("SK" + "ab" * 16, False), ("", False)],
)
def test_is_account_sid(value: str, expected: bool) -> None:
    assert is_account_sid(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("SM" + "cd" * 16, True), ("MM" + "cd" * 16, True), ("SMxyz", False), ("sid", False)],
)
def test_is_message_sid(value: str, expected: bool) -> None:
    assert is_message_sid(value) is expected


class TestWithClientRef:
    def test_adds_parameter(self) -> None:
        url = with_client_ref("https://app.invalid/twilio/status", "ref-1")

        assert url == f"https://app.invalid/twilio/status?{CLIENT_REF_PARAM}=ref-1"

    def test_keeps_other_parameters_in_order(self) -> None:
        url = with_client_ref("https://app.invalid/cb?secret=s3&tenant=7", "ref-1")

        assert parse_qsl(urlsplit(url).query) == [
            ("secret", "s3"),
            ("tenant", "7"),
            (CLIENT_REF_PARAM, "ref-1"),
        ]

    def test_replaces_an_existing_value(self) -> None:
        url = with_client_ref(f"https://app.invalid/cb?{CLIENT_REF_PARAM}=old", "new")

        assert parse_qsl(urlsplit(url).query) == [(CLIENT_REF_PARAM, "new")]

    def test_encodes_special_characters(self) -> None:
        url = with_client_ref("https://app.invalid/cb", "buyurtma 42/ä&x=1")

        assert "&x=1" not in url
        assert dict(parse_qsl(urlsplit(url).query))[CLIENT_REF_PARAM] == "buyurtma 42/ä&x=1"


@pytest.mark.parametrize(
    ("body", "length"),
    [("Salom", 5), ("Oʻzbekiston", 11), ("Kod 😀", 6), ("", 0)],
)
def test_body_length_counts_utf16_units(body: str, length: int) -> None:
    assert body_length(body) == length


RESOURCE_JSON: dict[str, object] = {
    "account_sid": ACCOUNT,
    "api_version": "2010-04-01",
    "body": "Salom",
    "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
    "date_sent": None,
    "date_updated": "Thu, 24 Aug 2023 05:01:46 +0000",
    "direction": "outbound-api",
    "error_code": None,
    "error_message": None,
    "from": "+15005550006",
    "messaging_service_sid": None,
    "num_media": "0",
    "num_segments": "2",
    "price": None,
    "price_unit": "USD",
    "sid": "SM" + "cd" * 16,
    "status": "queued",
    "to": "+998900000001",
}


class TestMessageResource:
    def test_parses_twilio_json(self) -> None:
        resource = MessageResource.model_validate(RESOURCE_JSON)

        assert resource.sid == "SM" + "cd" * 16
        assert resource.status == "queued"
        assert resource.from_ == "+15005550006"
        assert resource.num_segments == 2
        assert resource.date_created == datetime(2023, 8, 24, 5, 1, 45, tzinfo=timezone.utc)
        assert resource.date_sent is None

    def test_error_code_is_an_integer(self) -> None:
        resource = MessageResource.model_validate({**RESOURCE_JSON, "error_code": "30003"})

        assert resource.error_code == 30003

    def test_repr_masks_numbers(self) -> None:
        text = repr(MessageResource.model_validate(RESOURCE_JSON))

        assert "998900000001" not in text
        assert "+998*****0001" in text

    def test_sid_is_required(self) -> None:
        with pytest.raises(ValueError, match="sid"):
            MessageResource.model_validate({"status": "queued"})


@pytest.mark.parametrize("value", [None, "", "yesterday", "Thu, 24 Aug 2023 05:01:45"])
def test_twilio_date_without_zone_or_unreadable_is_none(value: str | None) -> None:
    assert parse_twilio_date(value) is None
