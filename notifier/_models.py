"""Message, result and delivery-report models shared by every provider."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from ._errors import InvalidMessage
from ._phone import mask_phone, normalize_phone

__all__ = [
    "Attempt",
    "DeliveryReport",
    "DeliveryStatus",
    "Encoding",
    "SendResult",
    "SendStatus",
    "Sms",
    "new_client_ref",
]

_MAX_CLIENT_REF = 64

# Control characters a body may contain: the line breaks, the tab and the form
# feed, which GSM 03.38 encodes as the page break.
_ALLOWED_CONTROLS = frozenset("\t\n\r\f")

# Surrogates, and the control characters (category Cc) other than those above.
_FORBIDDEN_IN_BODY = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

# Characters with the Unicode property Default_Ignorable_Code_Point that are
# not in category Cf: fillers and selectors that render as nothing.
_IGNORABLE_OUTSIDE_CF = frozenset(
    [
        0x034F,  # combining grapheme joiner
        0x115F,  # Hangul choseong filler
        0x1160,  # Hangul jungseong filler
        0x17B4,  # Khmer vowel inherent aq
        0x17B5,  # Khmer vowel inherent aa
        0x180B,  # Mongolian free variation selectors one to three
        0x180C,
        0x180D,
        0x180F,  # Mongolian free variation selector four
        0x3164,  # Hangul filler
        0xFFA0,  # halfwidth Hangul filler
        *range(0xFE00, 0xFE10),  # variation selectors 1 to 16
        *range(0xE0100, 0xE01F0),  # variation selectors 17 to 256
    ]
)

# The region from the validation context of the running Sms.model_validate*
# call. pydantic runs Sms's custom __init__ for those calls, and that __init__
# validates again without the context, so the region travels here instead.
_CONTEXT_REGION: ContextVar[str | None] = ContextVar("notifier_sms_region", default=None)


@contextmanager
def _region_from_context(context: Any) -> Iterator[None]:
    region = context.get("region") if isinstance(context, Mapping) else None
    token = _CONTEXT_REGION.set(region if isinstance(region, str) else None)
    try:
        yield
    finally:
        _CONTEXT_REGION.reset(token)


class Encoding(str, Enum):
    """Character encoding of an SMS on the air."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"

    # str() and format() give the value on every Python version. Python 3.11
    # changed format() of a str-mixed Enum to return "Encoding.GSM7".
    def __str__(self) -> str:
        return self.value


class SendStatus(str, Enum):
    """Normalized state of a message right after the provider responded."""

    QUEUED = "queued"  # the provider accepted it and will hand it to the operator
    SENT = "sent"  # the provider handed it to the operator
    DELIVERED = "delivered"  # the handset confirmed delivery
    FAILED = "failed"  # the provider reported it will not be delivered
    UNKNOWN = "unknown"  # the provider's response gave no status

    def __str__(self) -> str:
        return self.value


class DeliveryStatus(str, Enum):
    """Normalized state carried by a delivery report.

    The order of the members is the order a message moves in: a report never
    moves a message from a final state back to ``accepted``.
    """

    ACCEPTED = "accepted"  # not final: the operator accepted the message
    DELIVERED = "delivered"  # final
    UNDELIVERED = "undelivered"  # final: the operator gave up
    EXPIRED = "expired"  # final: validity period ran out
    REJECTED = "rejected"  # final: the operator or provider rejected it
    UNKNOWN = "unknown"  # the provider's status could not be mapped

    def __str__(self) -> str:
        return self.value

    @property
    def is_final(self) -> bool:
        """True when no later report can change this state."""
        return self in _FINAL_DELIVERY_STATES


_FINAL_DELIVERY_STATES = frozenset(
    {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.UNDELIVERED,
        DeliveryStatus.EXPIRED,
        DeliveryStatus.REJECTED,
    }
)


def _describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "message"
        text = error["msg"].removeprefix("Value error, ")
        problems.append(text if text.startswith("Sms.") else f"Sms.{location}: {text}")
    return "; ".join(problems)


def _code_point(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} {name}" if name else f"U+{ord(char):04X}"


def _is_invisible(char: str) -> bool:
    return (
        char.isspace() or unicodedata.category(char) == "Cf" or ord(char) in _IGNORABLE_OUTSIDE_CF
    )


def _body_problem(body: str) -> str | None:
    """Return why no provider can send ``body``, or ``None`` when it can.

    The message names the character and its index but never the text itself.
    """
    found = _FORBIDDEN_IN_BODY.search(body)
    if found is not None:
        char, index = found.group(), found.start()
        if unicodedata.category(char) == "Cs":
            # A surrogate cannot be encoded as UTF-8 or UCS-2, so the provider
            # would fail with UnicodeEncodeError while building the request.
            return (
                f"Sms.body contains the surrogate {_code_point(char)} at index {index}, "
                "which no SMS encoding can carry. It usually comes from bytes decoded with "
                "errors='surrogateescape' or from a broken \\u escape. Decode the source "
                "text strictly and fix the bytes it rejects."
            )
        return (
            f"Sms.body contains the control character {_code_point(char)} at index {index}; "
            "remove it. The only control characters allowed are \\n, \\r, \\t and "
            "\\f (the page break)."
        )
    if not all(_is_invisible(char) for char in body):
        return None
    first = next((i for i, char in enumerate(body) if not char.isspace()), None)
    if first is None:
        return "Sms.body is empty or only whitespace. Pass the text to send."
    return (
        "Sms.body has no visible character: it contains only whitespace and invisible "
        f"characters, the first of them {_code_point(body[first])} at index {first}. "
        "Pass the text to send."
    )


def new_client_ref() -> str:
    """Return a fresh client reference: 32 lowercase hex characters."""
    return uuid.uuid4().hex


class Sms(BaseModel):
    """One SMS to one recipient.

    ``to`` is validated and normalized to E.164. A national number is resolved
    with the region passed in the validation context
    (``Sms.model_validate(data, context={"region": "GB"})``), else with
    ``NOTIFIER_DEFAULT_REGION``, else ``UZ``. ``body`` is kept exactly as given:
    it is never trimmed, cut or transliterated. A body that no provider can
    send raises ``InvalidMessage``: one with no visible character, a control
    character other than ``\\n``, ``\\r``, ``\\t`` and ``\\f``, or a lone
    surrogate. ``client_ref`` is the caller's id for the message, and one is
    generated when absent. It stays the same across retries and failover so
    the vendor can recognise a resend.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)

    to: str
    body: str
    sender: str | None = None
    callback_url: str | None = None
    client_ref: str = Field(default_factory=new_client_ref)
    metadata: Mapping[str, str] = Field(default_factory=dict)

    def __init__(self, to: str | None = None, body: str | None = None, /, **data: Any) -> None:
        # Both Sms(to, body) and Sms(to=..., body=...) are accepted.
        for name, positional in (("to", to), ("body", body)):
            if positional is None:
                continue
            if name in data:
                raise TypeError(f"Sms() got multiple values for argument {name!r}")
            data[name] = positional
        try:
            super().__init__(**data)
        except ValidationError as exc:
            # pydantic's own message repeats the input, which would put the
            # full phone number and the body into logs, so rebuild it without them.
            raise InvalidMessage(_describe_validation_error(exc)) from None

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        **kwargs: Any,
    ) -> Sms:
        """Validate ``obj`` into an ``Sms``, raising ``InvalidMessage`` on invalid input."""
        try:
            with _region_from_context(context):
                return super().model_validate(
                    obj, strict=strict, from_attributes=from_attributes, context=context, **kwargs
                )
        except ValidationError as exc:
            raise InvalidMessage(_describe_validation_error(exc)) from None

    @classmethod
    def model_validate_json(
        cls,
        json_data: str | bytes | bytearray,
        *,
        strict: bool | None = None,
        context: Any | None = None,
        **kwargs: Any,
    ) -> Sms:
        """Validate a JSON document into an ``Sms``, raising ``InvalidMessage`` on invalid input.

        pydantic's own error would repeat the whole document, body and number
        included.
        """
        try:
            with _region_from_context(context):
                return super().model_validate_json(
                    json_data, strict=strict, context=context, **kwargs
                )
        except ValidationError as exc:
            raise InvalidMessage(_describe_validation_error(exc)) from None

    @field_validator("to", mode="before")
    @classmethod
    def _normalize_to(cls, value: object, info: ValidationInfo) -> str:
        region = _CONTEXT_REGION.get()
        if isinstance(info.context, Mapping) and isinstance(info.context.get("region"), str):
            region = info.context["region"]
        if not isinstance(value, str):
            raise InvalidMessage(
                f"Sms.to must be a string, got {type(value).__name__}. "
                "Pass the number as text such as '+998901234567'."
            )
        return normalize_phone(value, region)

    @field_validator("body")
    @classmethod
    def _check_body(cls, value: str) -> str:
        problem = _body_problem(value)
        if problem is not None:
            raise InvalidMessage(problem)
        return value

    @field_validator("sender")
    @classmethod
    def _check_sender(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise InvalidMessage(
                "Sms.sender is blank. Omit it to use the provider's default sender."
            )
        return value

    @field_validator("client_ref")
    @classmethod
    def _check_client_ref(cls, value: str) -> str:
        if not value or len(value) > _MAX_CLIENT_REF or not value.isprintable():
            raise InvalidMessage(
                f"Sms.client_ref must be 1 to {_MAX_CLIENT_REF} printable characters, "
                f"got {len(value)} characters. Use a shorter id such as a UUID hex."
            )
        return value

    @property
    def masked_to(self) -> str:
        """The recipient with its middle digits masked, for logs and errors."""
        return mask_phone(self.to)

    def __repr_args__(self) -> Any:
        # The repr ends up in logs and tracebacks, so it masks the number and
        # shows only the size of the body.
        for name, value in super().__repr_args__():
            if name == "to":
                yield name, self.masked_to
            elif name == "body":
                yield name, f"<{len(self.body)} characters>"
            else:
                yield name, value


class Attempt(BaseModel):
    """One provider tried for a message, with its outcome."""

    model_config = ConfigDict(frozen=True)

    provider: str
    outcome: str  # "sent", or the name of the error class raised, e.g. "ProviderUnavailable"
    error: str | None = None  # the error's message, already free of secrets
    started_at: datetime
    elapsed: float  # seconds


class SendResult(BaseModel):
    """The provider's response to one accepted message."""

    model_config = ConfigDict(frozen=True)

    provider: str
    message_id: str | None  # the vendor's id for the message or request
    client_ref: str
    status: SendStatus
    segments: int
    encoding: Encoding
    attempts: tuple[Attempt, ...] = ()
    elapsed: float = 0.0  # seconds from the start of send() to the response
    raw: Mapping[str, Any] = Field(default_factory=dict, repr=False)


class DeliveryReport(BaseModel):
    """A provider-neutral delivery report, parsed from a vendor callback.

    ``to`` is E.164 when the vendor sent the number, and the repr masks it.
    ``occurred_at`` is timezone-aware (vendors that send local time without a
    zone are converted by their parser).
    """

    model_config = ConfigDict(frozen=True)

    provider: str
    message_id: str | None
    client_ref: str | None
    status: DeliveryStatus
    provider_status: str  # the vendor's own status word, e.g. "DELIVRD"
    occurred_at: datetime | None = None
    to: str | None = None
    segments: int | None = None
    error_code: str | None = None
    raw: Mapping[str, Any] = Field(default_factory=dict, repr=False)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name == "to" and isinstance(value, str):
                yield name, mask_phone(value)
            else:
                yield name, value
