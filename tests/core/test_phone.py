"""Phone-number normalization, regions and masking."""

from __future__ import annotations

import re

import pytest

from notifier import ConfigurationError, InvalidMessage, Sms, mask_phone, normalize_phone
from notifier._phone import phone_region

UZ_NUMBER = "+998901234567"


@pytest.mark.parametrize(
    "raw",
    [
        "+998 90 123-45-67",
        "998901234567",
        "90 123 45 67",
        "+998901234567",
        "+998 (90) 123 45 67",
        "998 90 123 45 67",
        "901234567",
        "(90) 123-45-67",
        "  +998901234567  ",
    ],
)
def test_uzbek_forms_normalize_alike(raw: str) -> None:
    assert normalize_phone(raw, "UZ") == UZ_NUMBER


def test_default_region_is_uzbekistan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_DEFAULT_REGION", raising=False)

    assert normalize_phone("90 123 45 67") == UZ_NUMBER
    assert Sms("90 123 45 67", "Salom").to == UZ_NUMBER


@pytest.mark.parametrize(
    "national",
    ["957521608", "986184744", "880816465", "508867842", "672327138", "690423679"],
)
def test_uzbek_national_not_read_as_foreign(national: str) -> None:
    # Each of these digit strings is also a valid number abroad when a "+" is
    # put in front (Myanmar, Iran, Bangladesh, ...).
    assert normalize_phone(national, "UZ") == "+998" + national


def test_mistyped_national_not_sent_abroad() -> None:
    # "611635979" is not a valid Uzbek number; "+611635979" would be Australian.
    with pytest.raises(InvalidMessage):
        normalize_phone("611635979", "UZ")


def test_long_digits_read_as_international() -> None:
    assert normalize_phone("79161234567", "UZ") == "+79161234567"


def test_short_number_rejected_with_masked_value() -> None:
    with pytest.raises(InvalidMessage) as caught:
        normalize_phone("+99890123", "UZ")

    message = str(caught.value)
    assert "not a valid number" in message
    assert "+998*****" in message
    assert "99890123" not in message
    assert "international form" in message


def test_short_number_rejected_by_sms() -> None:
    with pytest.raises(InvalidMessage) as caught:
        Sms("+99890123", "Kod: 4512")

    message = str(caught.value)
    assert message.startswith("Sms.to:")
    assert "not a valid number" in message
    assert "99890123" not in message
    assert "4512" not in message


@pytest.mark.parametrize(
    "raw",
    [
        "+998 90 123 45 6",
        "+998 90 123 45 678",
        "998 90 123 45 67 89",
        "+1 555",
        "not a number",
        "12",
        "+",
    ],
)
def test_invalid_numbers_rejected(raw: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        normalize_phone(raw, "UZ")

    digits = re.sub(r"\D", "", raw)
    message = str(caught.value)
    if len(digits) > 4:
        assert digits not in message
    assert "region UZ" in message


@pytest.mark.parametrize("raw", ["", "   "])
def test_empty_number_rejected(raw: str) -> None:
    with pytest.raises(InvalidMessage, match="empty"):
        normalize_phone(raw)


def test_non_string_number_rejected() -> None:
    with pytest.raises(InvalidMessage, match="must be a string, got int"):
        normalize_phone(998901234567)  # type: ignore[arg-type]


def test_sms_non_string_number_rejected() -> None:
    with pytest.raises(InvalidMessage, match=r"Sms\.to must be a string"):
        Sms(to=998901234567, body="Salom")


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("07911 123456", "GB", "+447911123456"),
        ("07911 123456", "gb", "+447911123456"),
        ("447911123456", "GB", "+447911123456"),
        ("(202) 555-0123", "US", "+12025550123"),
        ("8 (912) 345-67-89", "RU", "+79123456789"),
        ("+998 90 123 45 67", "GB", UZ_NUMBER),
    ],
)
def test_other_regions(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


def test_sms_region_from_validation_context() -> None:
    message = Sms.model_validate({"to": "07911 123456", "body": "Hello"}, context={"region": "GB"})

    assert message.to == "+447911123456"


def test_sms_json_region_from_validation_context() -> None:
    message = Sms.model_validate_json(
        '{"to": "07911 123456", "body": "Hello"}', context={"region": "GB"}
    )

    assert message.to == "+447911123456"


def test_sms_context_region_does_not_leak() -> None:
    Sms.model_validate({"to": "07911 123456", "body": "Hello"}, context={"region": "GB"})

    with pytest.raises(InvalidMessage, match="region UZ"):
        Sms("07911 123456", "Hello")


def test_sms_without_context_uses_default_region() -> None:
    with pytest.raises(InvalidMessage, match="region UZ"):
        Sms.model_validate({"to": "07911 123456", "body": "Hello"})


def test_region_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_DEFAULT_REGION", "gb")

    assert normalize_phone("07911 123456") == "+447911123456"
    assert Sms("07911 123456", "Hello").to == "+447911123456"
    assert normalize_phone("90 123 45 67", "UZ") == UZ_NUMBER


def test_blank_environment_region_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_DEFAULT_REGION", "  ")

    assert normalize_phone("90 123 45 67") == UZ_NUMBER


def test_context_region_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_DEFAULT_REGION", "US")

    message = Sms.model_validate({"to": "90 123 45 67", "body": "Salom"}, context={"region": "UZ"})

    assert message.to == UZ_NUMBER


@pytest.mark.parametrize("region", ["XX", "UZB", "998"])
def test_unknown_region_is_configuration_error(region: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        normalize_phone("90 123 45 67", region)

    assert repr(region) in str(caught.value)
    assert "NOTIFIER_DEFAULT_REGION" in str(caught.value)


def test_unknown_environment_region_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_DEFAULT_REGION", "UZBEKISTAN")

    with pytest.raises(ConfigurationError, match="'UZBEKISTAN'"):
        Sms("90 123 45 67", "Salom")


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+998901234567", "+998*****4567"),
        ("998901234567", "998*****4567"),
        ("+998 90 123-45-67", "+998*****4567"),
        ("+447911123456", "+447*****3456"),
        ("+12025550123", "+120****0123"),
        ("0901234567", "090***4567"),
        ("+99890123", "+998*****"),
        ("901234", "901***"),
        ("123", "***"),
        ("", "*"),
    ],
)
def test_mask_phone(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


def test_mask_never_shows_most_digits() -> None:
    for number in ["+998901234567", "+447911123456", "+12025550123"]:
        digits = re.sub(r"\D", "", mask_phone(number))
        assert len(digits) <= 7


@pytest.mark.parametrize(
    ("number", "region"),
    [
        (UZ_NUMBER, "UZ"),
        ("+447400123456", "GB"),
        ("+12025550123", "US"),
        ("not a number", None),
    ],
)
def test_phone_region(number: str, region: str | None) -> None:
    assert phone_region(number) == region
