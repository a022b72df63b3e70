"""The Twilio wire format: request forms, the Message resource, status callbacks.

Twilio's REST API version 2010-04-01 takes form-encoded requests with
CamelCase field names (``To``, ``From``, ``Body``). With the ``.json`` suffix
on the path, it responds with JSON in snake_case (``sid``,
``num_segments``). Numbers inside the resource are strings (``"num_segments":
"1"``) and dates are RFC 2822 (``"Thu, 24 Aug 2023 05:01:45 +0000"``).
"""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from notifier import mask_phone

__all__ = [
    "API_VERSION",
    "CLIENT_REF_PARAM",
    "MAX_BODY_LENGTH",
    "MessageResource",
    "StatusCallbackForm",
    "account_path",
    "balance_path",
    "body_length",
    "is_account_sid",
    "is_message_sid",
    "message_path",
    "messages_path",
    "parse_twilio_date",
    "with_client_ref",
]

API_VERSION = "2010-04-01"

CLIENT_REF_PARAM = "notifier_client_ref"
"""Query parameter added to the StatusCallback URL to carry ``Sms.client_ref``.

Twilio has no field for a caller's id on a message, but it calls the
StatusCallback URL exactly as given, query string included, so the id comes
back with every status callback.
"""

MAX_BODY_LENGTH = 1600
"""Twilio's limit for one message body (error 21617), in UTF-16 code units."""

_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")


def account_path(account_sid: str) -> str:
    """Return the path of the Account resource."""
    return f"/{API_VERSION}/Accounts/{account_sid}.json"


def balance_path(account_sid: str) -> str:
    """Return the path of the account's Balance resource."""
    return f"/{API_VERSION}/Accounts/{account_sid}/Balance.json"


def messages_path(account_sid: str) -> str:
    """Return the path that creates messages."""
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"


def message_path(account_sid: str, message_sid: str) -> str:
    """Return the path of one Message resource."""
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message_sid}.json"


def is_account_sid(value: str) -> bool:
    """Return whether ``value`` is an Account SID: ``AC`` and 32 hex digits."""
    return bool(_ACCOUNT_SID.match(value))


def is_message_sid(value: str) -> bool:
    """Return whether ``value`` is a Message SID: ``SM`` or ``MM`` and 32 hex digits."""
    return bool(_MESSAGE_SID.match(value))


def body_length(body: str) -> int:
    """Return the length of ``body`` in UTF-16 code units, the unit of Twilio's limit.

    An emoji outside the Basic Multilingual Plane counts twice.
    """
    return len(body.encode("utf-16-le")) // 2


def with_client_ref(url: str, client_ref: str) -> str:
    """Return ``url`` with ``client_ref`` set as its ``notifier_client_ref`` query parameter.

    Other query parameters keep their order; an existing
    ``notifier_client_ref`` is replaced.
    """
    parts = urlsplit(url)
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name != CLIENT_REF_PARAM
    ]
    query.append((CLIENT_REF_PARAM, client_ref))
    return urlunsplit(parts._replace(query=urlencode(query)))


def parse_twilio_date(value: str | None) -> datetime | None:
    """Parse an RFC 2822 date from a Message resource; ``None`` when absent or malformed."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else None


def _optional_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


class MessageResource(BaseModel):
    """A Twilio Message resource as returned by create and fetch.

    Only the fields this library reads are typed; the whole JSON object stays
    available in ``SendResult.raw``. ``to`` and ``from_`` are full numbers:
    mask them before logging.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    sid: str
    status: str
    account_sid: str | None = None
    to: str | None = None
    from_: str | None = Field(default=None, alias="from")
    messaging_service_sid: str | None = None
    num_segments: int | None = None
    error_code: int | None = None
    error_message: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    date_sent: datetime | None = None
    direction: str | None = None
    price: str | None = None
    price_unit: str | None = None

    @field_validator("num_segments", "error_code", mode="before")
    @classmethod
    def _parse_int(cls, value: Any) -> int | None:
        return _optional_int(value)

    @field_validator("date_created", "date_updated", "date_sent", mode="before")
    @classmethod
    def _parse_date(cls, value: Any) -> datetime | None:
        if isinstance(value, datetime):
            return value
        return parse_twilio_date(value if isinstance(value, str) else None)

    def __repr_args__(self) -> Any:
        # The repr can end up in logs: show the numbers masked.
        for name, value in super().__repr_args__():
            if name in ("to", "from_") and isinstance(value, str) and value.startswith("+"):
                yield name, mask_phone(value)
            else:
                yield name, value


class StatusCallbackForm(BaseModel):
    """The form fields of a Twilio message status callback.

    Twilio sends ``MessageSid`` and ``MessageStatus`` and, for older
    integrations, the same values again as ``SmsSid`` and ``SmsStatus``.
    ``ErrorCode`` comes with ``failed`` and ``undelivered``;
    ``RawDlrDoneDate`` (``YYMMDDhhmm``, in a time zone that varies by
    carrier) comes with some ``delivered`` and ``undelivered`` reports.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    message_sid: str | None = Field(default=None, alias="MessageSid")
    sms_sid: str | None = Field(default=None, alias="SmsSid")
    message_status: str | None = Field(default=None, alias="MessageStatus")
    sms_status: str | None = Field(default=None, alias="SmsStatus")
    account_sid: str | None = Field(default=None, alias="AccountSid")
    messaging_service_sid: str | None = Field(default=None, alias="MessagingServiceSid")
    to: str | None = Field(default=None, alias="To")
    from_: str | None = Field(default=None, alias="From")
    error_code: str | None = Field(default=None, alias="ErrorCode")
    raw_dlr_done_date: str | None = Field(default=None, alias="RawDlrDoneDate")
    num_segments: str | None = Field(default=None, alias="NumSegments")

    @property
    def sid(self) -> str | None:
        """The message SID, from ``MessageSid`` or else ``SmsSid``."""
        return self.message_sid or self.sms_sid

    @property
    def status(self) -> str | None:
        """The status word, from ``MessageStatus`` or else ``SmsStatus``."""
        return self.message_status or self.sms_status
