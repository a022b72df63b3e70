"""Parse Twilio message status callbacks into ``DeliveryReport`` objects.

Twilio POSTs a form-encoded request to the message's StatusCallback URL on
every status change after the first. The request is signed (see
``_signature``), so the receiver must know the exact URL Twilio requested.
Behind a proxy that rewrites the scheme, host or port, rebuild the public URL
before calling the parser. The ``notifier_client_ref`` query parameter that
``TwilioProvider`` adds when sending gives the report its ``client_ref``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr

from notifier import (
    AuthenticationError,
    ConfigurationError,
    DeliveryReport,
    InvalidMessage,
    NotifierError,
    normalize_phone,
)

from ._error_codes import describe_code
from ._signature import SIGNATURE_HEADER, signature_matches
from ._status import delivery_status_for
from ._wire import CLIENT_REF_PARAM, StatusCallbackForm

__all__ = ["parse_status_callback"]

logger = logging.getLogger("notifier.twilio")

_FORM_TYPE = "application/x-www-form-urlencoded"
_MAX_BODY = 64 * 1024  # bytes, far above the size of any status callback


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _client_ref_from(url: str | None) -> str | None:
    if not url:
        return None
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if name == CLIENT_REF_PARAM and value:
            return value
    return None


def _decode_form(body: bytes, content_type: str) -> list[tuple[str, str]]:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != _FORM_TYPE:
        raise InvalidMessage(
            f"Twilio status callbacks are {_FORM_TYPE}, got {media_type or 'no content type'!r}; "
            "pass the request's Content-Type header and its raw body."
        )
    if len(body) > _MAX_BODY:
        raise InvalidMessage(
            f"Status callback body is {len(body)} bytes, more than the {_MAX_BODY} a Twilio "
            "callback can be; this request did not come from Twilio."
        )
    try:
        text = body.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError):
        raise InvalidMessage(
            "Status callback body is not a valid UTF-8 form; pass the raw request body."
        ) from None


def parse_status_callback(
    body: bytes,
    content_type: str,
    headers: Mapping[str, str] | None,
    url: str | None,
    *,
    auth_token: SecretStr | str | None,
    verify_signature: bool = True,
    provider: str = "twilio",
) -> list[DeliveryReport]:
    """Check the signature of one status callback and return its delivery report.

    Args:
        body: the raw request body.
        content_type: the request's ``Content-Type`` header.
        headers: the request headers; ``X-Twilio-Signature`` is looked up
            case-insensitively.
        url: the full URL Twilio requested, query string included.
        auth_token: the account's auth token, the key Twilio signs with.
        verify_signature: check ``X-Twilio-Signature``. Turn it off only
            where something in front of the application has checked it.
        provider: the provider name written into the report.

    Raises:
        AuthenticationError: the signature is missing or does not match.
        ConfigurationError: the signature must be checked but no auth token
            or no URL was given.
        InvalidMessage: the body is not a Twilio status callback.
    """
    params = _decode_form(body, content_type)

    if verify_signature:
        _verify(params, headers, url, auth_token=auth_token, provider=provider)

    try:
        form = StatusCallbackForm.model_validate(dict(params))
    except ValueError:
        raise InvalidMessage("Status callback fields are malformed.") from None
    if not form.sid or not form.status:
        raise InvalidMessage(
            "Status callback has no MessageSid or MessageStatus; "
            "this request is not a Twilio message status callback."
        )

    to: str | None = None
    if form.to:
        try:
            to = normalize_phone(form.to)
        except NotifierError:
            to = None  # a channel address such as "whatsapp:+…"; kept only in raw

    segments: int | None = None
    if form.num_segments and form.num_segments.isdigit():
        segments = int(form.num_segments)

    error_code = form.error_code.strip() if form.error_code else None
    if error_code in ("", "0"):
        error_code = None

    report = DeliveryReport(
        provider=provider,
        message_id=form.sid,
        client_ref=_client_ref_from(url),
        status=delivery_status_for(form.status, error_code),
        provider_status=form.status,
        # RawDlrDoneDate has minute precision and no time zone (the zone
        # varies by carrier), so it cannot become an aware datetime; it
        # stays in ``raw``.
        occurred_at=None,
        to=to,
        segments=segments,
        error_code=error_code,
        raw=dict(params),
    )
    logger.debug(
        "Twilio status callback for %s: %s%s",
        report.message_id,
        report.provider_status,
        f" (error {error_code}: {describe_code(error_code) or 'unknown code'})"
        if error_code
        else "",
    )
    return [report]


def _verify(
    params: list[tuple[str, str]],
    headers: Mapping[str, str] | None,
    url: str | None,
    *,
    auth_token: SecretStr | str | None,
    provider: str,
) -> None:
    token = auth_token.get_secret_value() if isinstance(auth_token, SecretStr) else auth_token
    if not token:
        raise ConfigurationError(
            "Checking a Twilio status callback needs the account's auth token, which Twilio "
            "signs callbacks with; set TWILIO_AUTH_TOKEN (an API key pair cannot check them)."
        )
    if not url:
        raise ConfigurationError(
            "Checking a Twilio status callback needs the full URL Twilio requested; pass url= "
            "with scheme, host, path and query string."
        )
    signature = _header(headers, SIGNATURE_HEADER)
    if not signature:
        raise AuthenticationError(
            f"Status callback has no {SIGNATURE_HEADER} header; reject the request, "
            "it did not come from Twilio.",
            provider=provider,
        )
    if not signature_matches(token, url, params, signature):
        raise AuthenticationError(
            f"Status callback {SIGNATURE_HEADER} does not match; reject the request. If it did "
            "come from Twilio, check that url= is exactly the public URL Twilio requested "
            "(scheme, host, port, query string) and that the auth token is current.",
            provider=provider,
        )
