"""Redaction of vendor responses before they reach errors and logs.

A vendor's error response can contain the caller's token, e-mail address,
the recipient's number and the message text. ``summarize_response`` turns a
response into the short excerpt kept in ``ProviderError.response_summary``,
with all of those removed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from ._phone import mask_phone

__all__ = ["redact_text", "remove_echoes", "summarize_response"]

_SUMMARY_LIMIT = 300  # characters of a response kept in an error message

# Keys whose values never appear in a response summary, compared lower-case.
_SECRET_KEYS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth_token",
        "authorization",
        "email",
        "password",
        "refresh_token",
        "secret",
        "token",
    }
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 9 to 15 digits with an optional "+": long enough to be a phone number.
_PHONE_LIKE = re.compile(r"(?<![\w.])\+?\d{9,15}(?![\w.])")
_WHITESPACE = re.compile(r"\s+")

_REDACTED = "[redacted]"
_MIN_ECHO_PIECE = 10  # characters of a sensitive text that count as an echo anywhere
_MIN_ECHO_END = 4  # characters of a start or end that count as an echo next to an ellipsis
_ELLIPSIS = re.compile(r" ?(?:\.\.\.|…) ?")


def redact_text(text: str, *, limit: int = _SUMMARY_LIMIT, sensitive: Iterable[str] = ()) -> str:
    """Remove tokens, e-mail addresses, phone numbers and echoes from ``text`` and shorten it.

    Echoes of the texts in ``sensitive`` are removed as ``remove_echoes``
    does. Whitespace runs become one space; text longer than ``limit``
    characters is cut and ends with ``…``. Meant for error messages and
    logs, never for data sent anywhere.
    """
    text = remove_echoes(text, sensitive)
    text = _JWT.sub("[token]", text)
    text = _EMAIL.sub("[email]", text)
    text = _PHONE_LIKE.sub(lambda match: mask_phone(match.group()), text)
    text = _WHITESPACE.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def remove_echoes(text: str, sensitive: Iterable[str]) -> str:
    """Replace each echo of a text in ``sensitive`` with ``[redacted]``.

    Vendors echo the message text in error responses, whole or cut short.
    An echo is any of these, in ``text`` as given, with its whitespace runs
    collapsed, or JSON-escaped:

    - the whole text;
    - any piece of it of at least 10 characters;
    - a start of at least 4 characters followed by an ellipsis (``...`` or
      ``…``), or an end of at least 4 characters after one.

    Whitespace runs in the result become one space. A piece of a sensitive
    text that matches unrelated words of the response is removed too: the
    summary errs on the side of hiding text.
    """
    variants = _echo_variants(sensitive)
    if not variants:
        return _WHITESPACE.sub(" ", text)
    text = _WHITESPACE.sub(" ", text)
    # Longest first, so a text that contains another is removed whole.
    for value in variants:
        text = text.replace(value, _REDACTED)
    text = _remove_pieces(text, variants)
    return _remove_cut_ends(text, variants)


def _echo_variants(sensitive: Iterable[str]) -> list[str]:
    variants: set[str] = set()
    for value in sensitive:
        if not value:
            continue
        collapsed = _WHITESPACE.sub(" ", value)
        variants.update(
            (
                value,
                collapsed,
                json.dumps(value, ensure_ascii=False)[1:-1],
                json.dumps(value, ensure_ascii=True)[1:-1],
            )
        )
    variants.discard("")
    return sorted(variants, key=len, reverse=True)


def _remove_pieces(text: str, variants: list[str]) -> str:
    """Replace each run of ``text`` made of ``_MIN_ECHO_PIECE``-character pieces of a variant."""
    size = _MIN_ECHO_PIECE
    if len(text) < size:
        return text
    # Index the text by its pieces of `size` characters, then look up every
    # piece of every variant, so the work grows with the sum of the lengths.
    starts_of: dict[str, list[int]] = {}
    for start in range(len(text) - size + 1):
        starts_of.setdefault(text[start : start + size], []).append(start)
    hidden = bytearray(len(text))
    for value in variants:
        for offset in range(len(value) - size + 1):
            for start in starts_of.pop(value[offset : offset + size], ()):
                hidden[start : start + size] = b"\x01" * size
    if not any(hidden):
        return text
    parts: list[str] = []
    kept_from = 0
    for run in re.finditer(rb"\x01+", hidden):
        parts.append(text[kept_from : run.start()])
        parts.append(_REDACTED)
        kept_from = run.end()
    parts.append(text[kept_from:])
    return "".join(parts)


def _remove_cut_ends(text: str, variants: list[str]) -> str:
    """Replace a start of a variant before an ellipsis and an end of one after it."""
    starts = {
        value[:length]
        for value in variants
        for length in range(_MIN_ECHO_END, min(len(value), _MIN_ECHO_PIECE) + 1)
    }
    ends = {
        value[-length:]
        for value in variants
        for length in range(_MIN_ECHO_END, min(len(value), _MIN_ECHO_PIECE) + 1)
    }
    parts: list[str] = []
    kept_from = 0
    for ellipsis in _ELLIPSIS.finditer(text):
        before = text[kept_from : ellipsis.start()]
        for length in range(min(len(before), _MIN_ECHO_PIECE), _MIN_ECHO_END - 1, -1):
            if before[-length:] in starts:
                before = before[:-length] + _REDACTED
                break
        parts.append(before)
        parts.append(ellipsis.group())
        kept_from = ellipsis.end()
        after = text[kept_from : kept_from + _MIN_ECHO_PIECE]
        for length in range(len(after), _MIN_ECHO_END - 1, -1):
            if after[:length] in ends:
                parts.append(_REDACTED)
                kept_from += length
                break
    parts.append(text[kept_from:])
    return "".join(parts)


def _redact_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key: _REDACTED if str(key).lower() in _SECRET_KEYS else _redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redact_value(item) for item in value]
    return value


def summarize_response(response: httpx.Response, sensitive: Iterable[str] = ()) -> str:
    """Return a short, redacted excerpt of ``response`` for an error message.

    JSON bodies lose the values of secret keys (``token``, ``password``,
    ``email``, ...). Every body loses JWTs, e-mail addresses, phone numbers
    and every echo of a text in ``sensitive``, and is cut to a few hundred
    characters. The message body is the usual sensitive text, because
    vendors echo it whole or cut short (see ``remove_echoes``).
    """
    try:
        raw = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return ""
    if not raw.strip():
        return ""
    try:
        parsed = json.loads(raw)
    except ValueError:
        text = raw
    else:
        text = json.dumps(_redact_value(parsed), ensure_ascii=False, separators=(",", ":"))
    return redact_text(text, sensitive=sensitive)
