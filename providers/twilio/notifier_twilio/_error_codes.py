"""Twilio REST error responses and the library errors they become.

Twilio responds to a failed request with a JSON body such as::

    {"code": 21211, "message": "The 'To' number +15005550001 is not a valid phone number.",
     "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}

``code`` is Twilio's error code (its error dictionary lists each one) and
``status`` repeats the HTTP status. The ``message`` often contains the phone
number concerned, so it is redacted before it reaches an exception, a log
line or a span.

The table below maps the codes a Messages request can return. A code missing
from it is mapped by its HTTP status alone: 401 and 403 are authentication
errors, 429 is a rate limit, 5xx means Twilio is unavailable, and any other
4xx is a rejection of this request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from notifier import (
    AuthenticationError,
    InvalidMessage,
    ProviderError,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
    mask_phone,
)
from notifier._http import remove_echoes

__all__ = [
    "ErrorKind",
    "MessageNotFound",
    "TwilioErrorBody",
    "TwilioInvalidRecipient",
    "classify",
    "describe_code",
    "error_for_response",
    "parse_error_body",
    "redact",
    "summarize",
    "twilio_error_code",
]

_MAX_SUMMARY = 300

# A phone number written with optional "+", spaces, dots, dashes or brackets:
# at least 7 digits in total. A run that touches a letter, a digit or "/" is
# part of an id or a path (an "SM…" sid, "/2010-04-01/") and is left alone.
_PHONE_LIKE = re.compile(r"(?<![\w/+])\+?\d(?:[\s().-]?\d){6,16}(?![\w/])")


class TwilioInvalidRecipient(InvalidMessage, RejectedError):
    """Twilio found the recipient's number unusable: invalid, or unable to receive SMS.

    It is an ``InvalidMessage``, because the number the caller passed is at
    fault and no other provider will do better, and a ``RejectedError``,
    because Twilio made the decision after the request was sent and the
    error carries the HTTP status and Twilio's redacted response.
    """


class MessageNotFound(RejectedError):
    """Twilio has no message with this SID in the account (HTTP 404, error 20404).

    ``message_id`` is the SID that was looked up.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        message_id: str,
        status_code: int | None = 404,
        response_summary: str | None = None,
        client_ref: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            status_code=status_code,
            response_summary=response_summary,
            client_ref=client_ref,
            attempts=attempts,
        )
        self.message_id = message_id


class ErrorKind(Enum):
    """The consequence of a Twilio error for the caller."""

    AUTHENTICATION = "authentication"  # credentials or account state
    INVALID_RECIPIENT = "invalid_recipient"  # the caller's "To" number
    REJECTED = "rejected"  # this message will not be sent; resending fails the same way
    RATE_LIMITED = "rate_limited"  # too many requests; safe to retry later
    UNAVAILABLE = "unavailable"  # Twilio failed; nothing was accepted
    NOT_FOUND = "not_found"  # the requested resource does not exist


@dataclass(frozen=True)
class _CodeInfo:
    kind: ErrorKind
    summary: str  # what the code means, in Twilio's terms
    fix: str  # what the caller should do


# Codes a Messages request (create or fetch) can return, from Twilio's error
# dictionary. Codes in the 30000 range usually arrive later, in a status
# callback's ErrorCode, but Twilio can also return some of them at once.
_CODES: dict[int, _CodeInfo] = {
    10001: _CodeInfo(
        ErrorKind.AUTHENTICATION,
        "account is not active",
        "reactivate the Twilio account or use another one",
    ),
    20003: _CodeInfo(
        ErrorKind.AUTHENTICATION,
        "authentication failed",
        "check TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN, or the API key pair",
    ),
    20005: _CodeInfo(
        ErrorKind.AUTHENTICATION,
        "account is not active",
        "reactivate the Twilio account or use another one",
    ),
    20403: _CodeInfo(
        ErrorKind.AUTHENTICATION,
        "the account may not use the API",
        "the account may be suspended or closed; check it in the Twilio Console",
    ),
    20404: _CodeInfo(
        ErrorKind.NOT_FOUND,
        "resource not found",
        "check the message SID, the account SID and TWILIO_BASE_URL",
    ),
    20429: _CodeInfo(
        ErrorKind.RATE_LIMITED,
        "too many concurrent requests",
        "send fewer requests at once; a request rejected with 429 was not processed",
    ),
    20500: _CodeInfo(ErrorKind.UNAVAILABLE, "Twilio internal error", "try again later"),
    20503: _CodeInfo(ErrorKind.UNAVAILABLE, "Twilio service unavailable", "try again later"),
    21211: _CodeInfo(
        ErrorKind.INVALID_RECIPIENT,
        "invalid 'To' phone number",
        "check the recipient's number",
    ),
    21212: _CodeInfo(
        ErrorKind.REJECTED,
        "invalid 'From' number",
        "set TWILIO_SENDER (or Sms.sender) to a number, short code or sender ID of this account",
    ),
    21408: _CodeInfo(
        ErrorKind.REJECTED,
        "sending to this region is not enabled",
        "enable the destination country in the SMS geographic permissions of the Twilio console",
    ),
    21602: _CodeInfo(ErrorKind.REJECTED, "message body is required", "pass a non-empty body"),
    21603: _CodeInfo(
        ErrorKind.REJECTED,
        "'From' or 'MessagingServiceSid' is required",
        "set TWILIO_SENDER or TWILIO_MESSAGING_SERVICE_SID",
    ),
    21604: _CodeInfo(
        ErrorKind.INVALID_RECIPIENT, "'To' phone number is required", "pass a recipient"
    ),
    21606: _CodeInfo(
        ErrorKind.REJECTED,
        "'From' is not an SMS-capable number of this account",
        "use a sender that belongs to this account and can send SMS to this destination",
    ),
    21608: _CodeInfo(
        ErrorKind.REJECTED,
        "trial accounts may send only to verified numbers",
        "verify the recipient in the Twilio console or upgrade the account",
    ),
    21609: _CodeInfo(
        ErrorKind.REJECTED,
        "invalid StatusCallback URL",
        "set TWILIO_STATUS_CALLBACK (or Sms.callback_url) to a public http(s) URL",
    ),
    21610: _CodeInfo(
        ErrorKind.REJECTED,
        "the recipient has unsubscribed from this sender",
        "do not resend; the recipient must reply START to receive messages again",
    ),
    21611: _CodeInfo(
        ErrorKind.RATE_LIMITED,
        "the sender's queue of messages is full",
        "send more slowly or spread messages over more senders",
    ),
    21612: _CodeInfo(
        ErrorKind.REJECTED,
        "Twilio cannot route to this number from this sender",
        "use a sender that can reach this destination",
    ),
    21614: _CodeInfo(
        ErrorKind.INVALID_RECIPIENT,
        "'To' number cannot receive SMS",
        "check that the recipient's number is a mobile number",
    ),
    21617: _CodeInfo(
        ErrorKind.REJECTED,
        "message body exceeds 1600 characters",
        "shorten the body",
    ),
    21701: _CodeInfo(
        ErrorKind.REJECTED,
        "the Messaging Service does not exist",
        "check TWILIO_MESSAGING_SERVICE_SID",
    ),
    21705: _CodeInfo(
        ErrorKind.REJECTED,
        "the MessagingServiceSid is not a valid SID",
        "set TWILIO_MESSAGING_SERVICE_SID to the service's SID, 'MG' and 32 hex digits",
    ),
    30001: _CodeInfo(ErrorKind.RATE_LIMITED, "queue overflow", "send more slowly"),
    30002: _CodeInfo(ErrorKind.AUTHENTICATION, "account suspended", "contact Twilio support"),
    30003: _CodeInfo(ErrorKind.REJECTED, "unreachable destination handset", "try again later"),
    30004: _CodeInfo(ErrorKind.REJECTED, "message blocked", "do not resend to this recipient"),
    30005: _CodeInfo(
        ErrorKind.REJECTED,
        "unknown destination handset",
        "check the recipient's number",
    ),
    30006: _CodeInfo(
        ErrorKind.REJECTED,
        "landline or unreachable carrier",
        "check that the recipient's number is a mobile number",
    ),
    30007: _CodeInfo(
        ErrorKind.REJECTED,
        "message filtered by the carrier",
        "review the text against the carrier's content rules and register the sender",
    ),
    30008: _CodeInfo(ErrorKind.REJECTED, "unknown error", "try again later"),
    30036: _CodeInfo(
        ErrorKind.REJECTED,
        "validity period expired",
        "send with a longer validity period or at a lower rate",
    ),
}


@dataclass(frozen=True)
class TwilioErrorBody:
    """The fields of a Twilio error response; each is ``None`` when absent or malformed."""

    code: int | None = None
    message: str | None = None
    more_info: str | None = None
    status: int | None = None


def parse_error_body(content: bytes) -> TwilioErrorBody:
    """Read a Twilio error response, tolerating non-JSON bodies from proxies."""
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return TwilioErrorBody()
    if not isinstance(data, dict):
        return TwilioErrorBody()

    def _int(value: object) -> int | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return None

    def _str(value: object) -> str | None:
        return value if isinstance(value, str) and value else None

    return TwilioErrorBody(
        code=_int(data.get("code")),
        message=_str(data.get("message")),
        more_info=_str(data.get("more_info")),
        status=_int(data.get("status")),
    )


def redact(text: str) -> str:
    """Mask every phone number in ``text`` with ``mask_phone``."""
    return _PHONE_LIKE.sub(lambda match: mask_phone(match.group(0)), text)


def _summary(body: TwilioErrorBody, fallback: bytes, sensitive: Iterable[str] = ()) -> str:
    if body.code is None and body.message is None:
        text = remove_echoes(fallback.decode("utf-8", errors="replace"), sensitive)
        return redact(" ".join(text.split()))[:_MAX_SUMMARY]
    parts = []
    if body.code is not None:
        parts.append(f"code {body.code}")
    if body.message:
        parts.append(redact(remove_echoes(body.message, sensitive)))
    summary = ": ".join(parts)
    if body.more_info:
        summary += f" ({body.more_info})"
    return summary[:_MAX_SUMMARY]


def describe_code(code: int | str | None) -> str | None:
    """Return a short description of a Twilio error code, or ``None`` for an unknown one."""
    if code is None:
        return None
    try:
        info = _CODES.get(int(code))
    except ValueError:
        return None
    return info.summary if info else None


def classify(status_code: int, code: int | None) -> ErrorKind:
    """Decide what an error response means from its Twilio code, else its HTTP status."""
    info = _CODES.get(code) if code is not None else None
    if info is not None:
        return info.kind
    if status_code in (401, 403):
        return ErrorKind.AUTHENTICATION
    if status_code == 404:
        return ErrorKind.NOT_FOUND
    if status_code == 429:
        return ErrorKind.RATE_LIMITED
    if status_code >= 500:
        return ErrorKind.UNAVAILABLE
    return ErrorKind.REJECTED


def error_for_response(
    status_code: int,
    content: bytes,
    *,
    provider: str,
    operation: str,
    client_ref: str | None = None,
    retry_after: float | None = None,
    attempts: int = 1,
    sensitive: Iterable[str] = (),
) -> ProviderError:
    """Build the library error for a Twilio error response.

    ``operation`` completes "Twilio rejected the request to …", for example
    ``"send the message to +998*****0001"``. Numbers in it must be masked.
    The Twilio error code, when the body has one, is stored on the error
    and read back with ``twilio_error_code()``. Each text in ``sensitive``
    (the message body, for one) is removed from the summary, also when Twilio
    echoes only part of it.
    """
    body = parse_error_body(content)
    kind = classify(status_code, body.code)
    info = _CODES.get(body.code) if body.code is not None else None
    summary = _summary(body, content, sensitive)
    meaning = info.summary if info else f"HTTP {status_code}"
    code_text = f"error {body.code}" if body.code is not None else f"HTTP {status_code}"
    fix = info.fix if info else _default_fix(kind)
    text = f"Twilio rejected the request to {operation}: {code_text} ({meaning}); {fix}."
    error: ProviderError
    if kind is ErrorKind.RATE_LIMITED:
        error = RateLimitedError(
            text,
            provider=provider,
            retry_after=retry_after,
            status_code=status_code,
            response_summary=summary,
            client_ref=client_ref,
            attempts=attempts,
        )
    else:
        error = _ERROR_CLASSES[kind](
            text,
            provider=provider,
            status_code=status_code,
            response_summary=summary,
            client_ref=client_ref,
            attempts=attempts,
        )
    error.twilio_code = body.code  # type: ignore[attr-defined]
    return error


def twilio_error_code(error: BaseException) -> int | None:
    """Return the Twilio error code behind a ``ProviderError``, or ``None``.

    Set on errors built from a Twilio error response (``21610`` for an
    unsubscribed recipient, for example), so a caller can act on one code
    without parsing the message. Errors the shared HTTP layer builds (429,
    5xx, timeouts) carry none.
    """
    code = getattr(error, "twilio_code", None)
    return code if isinstance(code, int) else None


def summarize(content: bytes, sensitive: Iterable[str] = ()) -> str:
    """Return the redacted one-line summary of a Twilio error response body."""
    return _summary(parse_error_body(content), content, sensitive)


_ERROR_CLASSES: dict[ErrorKind, type[ProviderError]] = {
    ErrorKind.AUTHENTICATION: AuthenticationError,
    ErrorKind.INVALID_RECIPIENT: TwilioInvalidRecipient,
    ErrorKind.REJECTED: RejectedError,
    ErrorKind.NOT_FOUND: RejectedError,
    ErrorKind.UNAVAILABLE: ProviderUnavailable,
}


def _default_fix(kind: ErrorKind) -> str:
    return {
        ErrorKind.AUTHENTICATION: "check the credentials and the account's permissions",
        ErrorKind.RATE_LIMITED: "send more slowly and try again later",
        ErrorKind.UNAVAILABLE: "try again later",
        ErrorKind.NOT_FOUND: "check the SID and TWILIO_BASE_URL",
        ErrorKind.REJECTED: "see the response summary for the cause",
        ErrorKind.INVALID_RECIPIENT: "check the recipient's number",
    }[kind]
