"""Text rules: parts and encoding, trial texts, moderation and normalization."""

from __future__ import annotations

import math

from notifier import Encoding, count_segments

from ._config import TRIAL_TEXTS
from ._state import Account, SimulatorState

__all__ = [
    "ENCODING_GSM7",
    "ENCODING_UCS2",
    "encode_text",
    "normalize_text",
    "text_refusal",
]

ENCODING_GSM7 = 0  # Eskiz's code for GSM 03.38
ENCODING_UCS2 = 8  # Eskiz's code for UCS-2

_UCS2_SINGLE = 70
_UCS2_MULTI = 67

# Replacements the normalizer recommends, so a text fits GSM-7. Uzbek Latin
# written with modifier letters or typographic quotes is the common case.
RECOMMENDATIONS = {
    "\u02bb": "'",  # modifier letter turned comma, as in O\u02bbzbekiston
    "\u02bc": "'",  # modifier letter apostrophe
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "`": "'",
    "\u20ac": "EU",
    "\u2116": "N",
}

# Russian, like the service's own business error messages.
TRIAL_REFUSAL = "Для тестового аккаунта разрешены только тексты: " + ", ".join(
    f"«{text}»" for text in TRIAL_TEXTS
)
MODERATION_REFUSAL = (
    "Этот текст не прошёл модерацию: отправьте его шаблоном (POST /user/template) "  # noqa: RUF001
    "и дождитесь одобрения"
)


def encode_text(text: str, *, force_unicode: bool = False) -> tuple[int, int]:
    """Return the part count and Eskiz encoding code of ``text``.

    ``force_unicode`` counts a GSM-7 text as UCS-2, as ``send-global`` does
    with ``unicode=1``.
    """
    info = count_segments(text)
    if info.encoding is Encoding.UCS2:
        return info.parts, ENCODING_UCS2
    if not force_unicode:
        return info.parts, ENCODING_GSM7
    code_units = len(text.encode("utf-16-le")) // 2
    parts = 1 if code_units <= _UCS2_SINGLE else math.ceil(code_units / _UCS2_MULTI)
    return parts, ENCODING_UCS2


def text_refusal(state: SimulatorState, account: Account, text: str) -> str | None:
    """Return why the account may not send ``text``, or None when it may."""
    if account.role == "test":
        return None if text in TRIAL_TEXTS else TRIAL_REFUSAL
    if state.config.moderation and not state.text_is_approved(account.id, text):
        return MODERATION_REFUSAL
    return None


def special_characters(text: str) -> list[tuple[int, str]]:
    """Return ``(position, character)`` for each character outside the GSM-7 basic alphabet.

    Extension-table characters such as ``€`` are included because they cost
    two septets. Positions count code points from 0.
    """
    found = []
    for position, char in enumerate(text):
        info = count_segments(char)
        if info.encoding is Encoding.UCS2 or info.length > 1:
            found.append((position, char))
    return found


def normalize_text(text: str) -> str:
    """Apply every recommended replacement to ``text``."""
    return "".join(RECOMMENDATIONS.get(char, char) for char in text)
