"""Phone-number normalization and masking.

Numbers are parsed with ``phonenumbers`` (Google's libphonenumber metadata)
and kept in E.164 form (``+998901234567``). A number written without a
country code is resolved with a default region, ``UZ`` unless configured.
"""

from __future__ import annotations

import os

import phonenumbers

from ._errors import ConfigurationError, InvalidMessage

__all__ = ["DEFAULT_REGION", "mask_phone", "normalize_phone", "phone_region"]

DEFAULT_REGION = "UZ"
"""Region used for national numbers when neither the caller nor the environment names one."""

_REGION_ENV = "NOTIFIER_DEFAULT_REGION"


def _default_region() -> str:
    return os.environ.get(_REGION_ENV, DEFAULT_REGION).strip().upper() or DEFAULT_REGION


def mask_phone(number: str) -> str:
    """Mask a phone number for logs and error messages.

    A full-length number keeps its first three and last four digits
    (``+998901234567`` becomes ``+998*****4567``). A number of fewer than ten
    digits keeps only its first three, so most of a short or mistyped number
    is never shown. Separators are dropped.
    """
    digits = "".join(c for c in number if c.isdigit())
    plus = "+" if number.lstrip().startswith("+") else ""
    if len(digits) >= 10:
        return f"{plus}{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"
    if len(digits) > 3:
        return f"{plus}{digits[:3]}{'*' * (len(digits) - 3)}"
    return "*" * max(len(number), 1)


def _too_long_for_region(national: str, region: str) -> bool:
    try:
        parsed = phonenumbers.parse(national, region)
    except phonenumbers.NumberParseException:
        return False
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    return bool(reason == phonenumbers.ValidationResult.TOO_LONG)


def normalize_phone(raw: str, region: str | None = None) -> str:
    """Parse ``raw`` and return it in E.164 form.

    ``region`` (ISO 3166 alpha-2) resolves numbers written without a country
    code; it defaults to ``NOTIFIER_DEFAULT_REGION`` or ``UZ``. Digits-only
    input that already starts with the region's country code, such as
    ``998901234567``, is read as international. Other digits-only input is
    read as international (``79161234567``) only when it is too long to be a
    national number of the region.

    Raises:
        InvalidMessage: the input is not a valid, dialable number. The message
            shows the number masked, never in full.
        ConfigurationError: the region is not an ISO 3166 alpha-2 code that
            ``phonenumbers`` supports.
    """
    if not isinstance(raw, str):
        raise InvalidMessage(
            f"Phone number must be a string, got {type(raw).__name__}; "
            "pass it as text such as '+998901234567'."
        )
    text = raw.strip()
    if not text:
        raise InvalidMessage("Phone number is empty; pass a number such as '+998901234567'.")
    resolved_region = (region or _default_region()).upper()
    if resolved_region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigurationError(
            f"Unknown phone region {resolved_region!r}; pass an ISO 3166 alpha-2 code "
            f"such as 'UZ' or 'GB' as the region or in {_REGION_ENV}."
        )

    candidates = [text]
    digits_only = "".join(c for c in text if c.isdigit())
    if not text.startswith("+") and digits_only == text.replace(" ", "").replace("-", ""):
        # "998901234567" is how Eskiz and most Uzbek systems store numbers, so
        # digits without "+" that start with the region's country code are
        # read as international first. Other digits are read as international
        # only when they are too long to be a national number: "95 752 16 08"
        # is a number in Uzbekistan although "+957521608" is valid in Myanmar,
        # and a mistyped national number must not reach another country.
        international = "+" + digits_only
        country_code = str(phonenumbers.country_code_for_region(resolved_region))
        if digits_only.startswith(country_code):
            candidates.insert(0, international)
        elif _too_long_for_region(text, resolved_region):
            candidates.append(international)

    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, resolved_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)

    raise InvalidMessage(
        f"Phone number {mask_phone(text)!r} is not a valid number for region "
        f"{resolved_region}; check its length and country code, or write it in "
        "international form starting with '+'."
    )


def phone_region(e164: str) -> str | None:
    """Return the ISO alpha-2 region of an E.164 number, or ``None`` if unknown."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    region: str | None = phonenumbers.region_code_for_number(parsed)
    return region
