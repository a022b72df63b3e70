"""OpenTelemetry spans and metrics recorded by the notifier around each send.

Only ``opentelemetry-api`` is imported. Without an SDK (or without a tracer
and meter provider set) the API hands out no-op tracers and instruments, so
nothing is recorded and nothing is allocated per send beyond the no-op calls.

Names and attributes follow the OpenTelemetry messaging conventions where one
fits (``messaging.system``, ``messaging.operation.name``,
``messaging.message.id``, ``error.type``) plus ``notifier.*`` attributes of
our own. No attribute, event or status description ever carries a phone
number, a message body, a token or an e-mail address.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from ._errors import NotifierError
from ._models import SendResult, Sms

__all__ = [
    "BATCH_SPAN_NAME",
    "INSTRUMENTATION_NAME",
    "SEND_SPAN_NAME",
    "batch_span",
    "error_type",
    "mark_failed",
    "mark_sent",
    "record_failed",
    "record_sent",
    "send_span",
]

INSTRUMENTATION_NAME = "notifier"
SEND_SPAN_NAME = "notifier.send"
BATCH_SPAN_NAME = "notifier.send_batch"

try:
    _VERSION = version("notifier-core")
except PackageNotFoundError:  # a source tree that was never installed
    _VERSION = "0.0.0"

# Proxies: they start delegating as soon as the application sets a tracer or
# meter provider, even when that happens after this module is imported.
_tracer = trace.get_tracer(INSTRUMENTATION_NAME, _VERSION)
_meter = metrics.get_meter(INSTRUMENTATION_NAME, _VERSION)

_sent_counter = _meter.create_counter(
    "notifier.messages.sent",
    unit="{message}",
    description="Messages a provider accepted.",
)
_failed_counter = _meter.create_counter(
    "notifier.messages.failed",
    unit="{message}",
    description="Messages that failed, by error.type.",
)
_duration = _meter.create_histogram(
    "notifier.send.duration",
    unit="s",
    description="Time from the start of send() to the provider's result or error.",
)


def error_type(error: BaseException) -> str:
    """Return the ``error.type`` value for ``error``: its class name, e.g. ``"RejectedError"``."""
    return type(error).__qualname__


@contextmanager
def send_span(provider: str, message: Sms) -> Iterator[Span]:
    """Open the ``notifier.send`` span as the current span, ending it on every path.

    The span is a PRODUCER span: it stands for handing one message to a
    messaging system, and the provider's HTTP CLIENT spans nest under it
    because it is current while the provider runs. Its parent is whatever
    span is current in the caller's context.
    """
    attributes: dict[str, str | int] = {
        "messaging.system": provider,
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "notifier.provider": provider,
        "notifier.client_ref": message.client_ref,
    }
    # Exceptions are recorded by mark_failed(), not by the SDK: the SDK's
    # exception event carries a stack trace, and the caller's source lines in
    # it may contain phone numbers or message text.
    with _tracer.start_as_current_span(
        SEND_SPAN_NAME,
        kind=SpanKind.PRODUCER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


@contextmanager
def batch_span(provider: str, count: int) -> Iterator[Span]:
    """Open the span of one batch request carrying ``count`` messages."""
    attributes: dict[str, str | int] = {
        "messaging.system": provider,
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.batch.message_count": count,
        "notifier.provider": provider,
    }
    with _tracer.start_as_current_span(
        BATCH_SPAN_NAME,
        kind=SpanKind.PRODUCER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def mark_sent(span: Span, result: SendResult) -> None:
    """Set the attributes of an accepted message on its send span."""
    if not span.is_recording():
        return
    span.set_attribute("messaging.system", result.provider)
    span.set_attribute("notifier.provider", result.provider)
    if result.message_id is not None:
        span.set_attribute("messaging.message.id", result.message_id)
    span.set_attribute("notifier.segments", result.segments)
    span.set_attribute("notifier.encoding", result.encoding.value)
    span.set_attribute("notifier.attempts", len(result.attempts))


def mark_failed(
    span: Span,
    error: BaseException,
    *,
    attempts: int | None = None,
    provider: str | None = None,
) -> None:
    """Set ERROR status, ``error.type`` and an exception event without a stack trace.

    ``provider`` is the provider that failed, when it differs from the
    routing policy the span started with. The description is
    ``str(error)``: notifier errors never contain a secret or a full phone
    number, and other exceptions are described by type only.
    """
    if not span.is_recording():
        return
    kind = error_type(error)
    description = str(error) if isinstance(error, NotifierError) else kind
    span.set_attribute("error.type", kind)
    if attempts is not None:
        span.set_attribute("notifier.attempts", attempts)
    if provider is not None:
        span.set_attribute("messaging.system", provider)
        span.set_attribute("notifier.provider", provider)
    span.add_event("exception", {"exception.type": kind, "exception.message": description})
    span.set_status(Status(StatusCode.ERROR, description))


def _metric_attributes(provider: str) -> dict[str, str]:
    return {"messaging.system": provider, "notifier.provider": provider}


def record_sent(provider: str, duration: float) -> None:
    """Count one accepted message and record its send duration in seconds."""
    attributes = _metric_attributes(provider)
    _sent_counter.add(1, attributes)
    _duration.record(duration, attributes)


def record_failed(provider: str, error: BaseException, duration: float) -> None:
    """Count one failed message under its ``error.type`` and record the duration."""
    attributes: Mapping[str, str] = {
        **_metric_attributes(provider),
        "error.type": error_type(error),
    }
    _failed_counter.add(1, attributes)
    _duration.record(duration, attributes)
