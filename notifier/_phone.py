"""Phone-number normalization and masking.

Numbers are parsed with ``phonenumbers`` (Google's libphonenumber metadata)
and kept in E.164 form (``+998901234567``). A number written without a
country code is resolved with a default region, ``UZ`` unless configured.
"""

from __future__ import annotations

import os

import phonenumbers

from ._errors import InvalidMessage

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


def normalize_phone(raw: str, region: str | None = None) -> str:
    """Parse ``raw`` and return it in E.164 form.

    ``region`` (ISO 3166 alpha-2) resolves numbers written without a country
    code; it defaults to ``NOTIFIER_DEFAULT_REGION`` or ``UZ``. Digits-only
    input that already starts with the region's country code, such as
    ``998901234567``, is read as international.

    Raises:
        InvalidMessage: the input is not a valid, dialable number. The message
            shows the number masked, never in full.
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

    candidates = [text]
    digits_only = "".join(c for c in text if c.isdigit())
    if not text.startswith("+") and digits_only == text.replace(" ", "").replace("-", ""):
        # "998901234567" is how Eskiz and most Uzbek systems store numbers:
        # try it as international first, then as a national number.
        candidates.insert(0, "+" + digits_only)

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
