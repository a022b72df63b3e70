"""Parsing of the delivery callbacks Eskiz posts to a message's ``callback_url``.

A callback is one flat object whose values are all strings::

    {"request_id": "<uuid>", "message_id": "4385062", "user_sms_id": "a1",
     "country": "UZ", "phone_number": "998901234567", "sms_count": "1",
     "status": "DELIVRD", "status_date": "2021-04-02 00:39:36"}

Eskiz does not say whether it posts JSON or a form, so both are read.
``status_date`` is Tashkent local time (UTC+5) without a zone. Callbacks for
international messages carry no ``request_id`` and no ``user_sms_id``.
Callbacks are not signed: protect the receiving endpoint with a secret in
its URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

from notifier import DeliveryReport, InvalidMessage, normalize_phone

from ._models import delivery_status

__all__ = ["TASHKENT", "parse_delivery_report", "parse_tashkent_time"]

TASHKENT = timezone(timedelta(hours=5), "Asia/Tashkent")
"""Uzbekistan time: UTC+5 all year, without daylight saving since 1992."""

_PROVIDER = "eskiz"
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")


def parse_tashkent_time(value: str | None) -> datetime | None:
    """Parse an Eskiz local time such as ``"2021-04-02 00:39:36"`` into an aware datetime.

    Returns ``None`` for a missing or unreadable value, because a report
    without a readable time is still worth keeping.
    """
    if not value:
        return None
    text = value.strip()
    for pattern in _TIME_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=TASHKENT)
        except ValueError:
            continue
    return None


def _decode_fields(body: bytes, content_type: str) -> dict[str, str]:
    media_type = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidMessage(
            "The Eskiz callback body is not UTF-8 text; check that the request comes from Eskiz."
        ) from None
    stripped = text.strip()
    if not stripped:
        raise InvalidMessage("The Eskiz callback body is empty.")

    # The content type decides when it is a known one; otherwise the body's
    # first character does, since Eskiz's content type is undocumented.
    looks_like_json = media_type.endswith("json") or (
        media_type not in ("application/x-www-form-urlencoded", "multipart/form-data")
        and stripped.startswith("{")
    )
    if looks_like_json:
        try:
            data: Any = json.loads(stripped)
        except ValueError:
            raise InvalidMessage("The Eskiz callback body is not valid JSON.") from None
        if not isinstance(data, Mapping):
            raise InvalidMessage(
                f"The Eskiz callback body must be a JSON object, got {type(data).__name__}."
            )
        return {str(key): "" if value is None else str(value) for key, value in data.items()}
    if media_type == "multipart/form-data":
        raise InvalidMessage(
            "Eskiz callbacks sent as multipart/form-data are not supported; "
            "parse the form in your web framework and pass it urlencoded or as JSON."
        )
    return dict(parse_qsl(stripped, keep_blank_values=True))


def _optional(fields: Mapping[str, str], name: str) -> str | None:
    value = fields.get(name, "").strip()
    return value or None


def parse_delivery_report(
    body: bytes,
    content_type: str,
    headers: Mapping[str, str] | None = None,
    url: str | None = None,
) -> list[DeliveryReport]:
    """Parse one Eskiz delivery callback into a one-element list of reports.

    ``message_id`` is the request UUID (``request_id``), the same id
    ``EskizProvider.send`` returns; international callbacks have none, so
    for them it is Eskiz's numeric SMS id. ``client_ref`` comes from
    ``user_sms_id``. ``to`` is normalized to E.164, or ``None`` when the
    number cannot be read. ``headers`` and ``url`` are accepted for the
    provider interface; Eskiz does not sign its callbacks.

    Raises:
        InvalidMessage: the body is not an Eskiz callback (not JSON or a
            form, or without ``status``).
    """
    del headers, url  # Eskiz callbacks carry no signature to check
    fields = _decode_fields(body, content_type)
    status = _optional(fields, "status")
    if status is None:
        raise InvalidMessage(
            "The Eskiz callback has no 'status' field; check that the request comes from Eskiz."
        )

    to: str | None = None
    phone = _optional(fields, "phone_number")
    if phone is not None:
        try:
            to = normalize_phone(phone if phone.startswith("+") else f"+{phone}")
        except InvalidMessage:
            to = None

    segments: int | None = None
    count = _optional(fields, "sms_count")
    if count is not None and count.isdigit():
        segments = int(count)

    report = DeliveryReport(
        provider=_PROVIDER,
        message_id=_optional(fields, "request_id") or _optional(fields, "message_id"),
        client_ref=_optional(fields, "user_sms_id"),
        status=delivery_status(status),
        provider_status=status,
        occurred_at=parse_tashkent_time(_optional(fields, "status_date")),
        to=to,
        segments=segments,
        raw=fields,
    )
    return [report]
