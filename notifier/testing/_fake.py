"""``FakeProvider``: a provider that records messages instead of sending them."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar

import anyio
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from typing_extensions import Self

from .._errors import (
    AuthenticationError,
    ConfigurationError,
    DeliveryUnknown,
    InvalidMessage,
    NotifierClosed,
    NotifierError,
    ProviderError,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
)
from .._models import DeliveryReport, DeliveryStatus, SendResult, SendStatus, Sms
from .._phone import mask_phone, normalize_phone
from .._provider import BatchOutcome, Capabilities, Provider
from .._segments import count_segments

__all__ = ["FakeProvider", "FakeSettings"]

ErrorSpec = NotifierError | type[NotifierError]

# Errors that concern a whole request rather than one message: a batch that
# meets one of them raises it instead of returning an outcome per message.
_REQUEST_ERRORS = (AuthenticationError, NotifierClosed)


class FakeSettings(BaseSettings):
    """Settings of ``FakeProvider.from_env()``.

    Read from ``NOTIFIER_FAKE_BATCH_SIZE`` and ``NOTIFIER_FAKE_DELAY`` (seconds).
    """

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_FAKE_", env_file=".env", extra="ignore")

    batch_size: int | None = None
    delay: float = 0.0


class FakeProvider(Provider):
    """A provider that records every message in ``outbox`` and sends nothing.

    Use it in tests of code that sends through notifier::

        fake = FakeProvider()
        async with AsyncNotifier(fake) as notifier:
            await notifier.send(Sms("+998900000010", "Salom!"))
        assert fake.outbox[0].body == "Salom!"

    Accepted messages are appended to ``outbox`` and their results to
    ``sent``; failed ones go to ``failed`` with their error. ``fail_next()``
    scripts failures for the next sends. These recipient numbers always fail
    with the error named, so code under test can meet every error type
    through the real send path:

    ==================  ======================  ===============================
    Number              Error                   Notes
    ==================  ======================  ===============================
    ``+998900000001``   ``RejectedError``       status 400, as for a blacklist
    ``+998900000002``   ``ProviderUnavailable`` status 503, after 3 attempts
    ``+998900000003``   ``DeliveryUnknown``     status 504, carries client_ref
    ``+998900000004``   ``RateLimitedError``    status 429, ``retry_after=1.0``
    ``+998900000005``   ``AuthenticationError`` status 401
    ==================  ======================  ===============================

    The numbers are also class attributes (``FakeProvider.REJECTED_NUMBER``,
    ...). Any other valid number is accepted with status ``queued``.

    ``batch_size`` switches on ``send_batch()`` with that many messages per
    request, so ``send_many()`` takes the batch path. ``delay`` (seconds) is
    awaited before each response, to test timeouts and cancellation.
    ``parse_delivery_report()`` reads the JSON written by
    ``delivery_report_body()``, so callback receivers can be tested too.
    ``check_credentials()`` counts its calls in ``credential_checks`` and
    raises ``AuthenticationError`` while ``credentials_valid`` is false.
    """

    name = "fake"
    capabilities = Capabilities(unicode=True, batch=False, delivery_reports=True)
    settings_class: ClassVar[type[BaseSettings] | None] = FakeSettings

    REJECTED_NUMBER = "+998900000001"
    UNAVAILABLE_NUMBER = "+998900000002"
    UNKNOWN_NUMBER = "+998900000003"
    RATE_LIMITED_NUMBER = "+998900000004"
    AUTH_FAILED_NUMBER = "+998900000005"

    def __init__(self, *, batch_size: int | None = None, delay: float = 0.0) -> None:
        if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
            raise ConfigurationError(
                f"FakeProvider batch_size must be a positive integer or None, got {batch_size!r}."
            )
        if delay < 0:
            raise ConfigurationError(f"FakeProvider delay must be >= 0 seconds, got {delay!r}.")
        if batch_size is not None:
            # ``capabilities`` is a class attribute on Provider; a batching
            # fake overrides it on the instance only.
            self.__dict__["capabilities"] = Capabilities(
                unicode=True, batch=True, max_batch_size=batch_size, delivery_reports=True
            )
        self.batch_size = batch_size
        self.delay = delay
        self.outbox: list[Sms] = []
        self.sent: list[SendResult] = []
        self.failed: list[tuple[Sms, NotifierError]] = []
        self.batches: list[list[Sms]] = []
        self.credentials_valid = True
        self.credential_checks = 0
        self.closed = False
        self._scripted: deque[ErrorSpec] = deque()
        self._counter = 0

    def __repr__(self) -> str:
        return f"<FakeProvider outbox={len(self.outbox)} closed={self.closed}>"

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """Build the fake from ``NOTIFIER_FAKE_*`` variables; keywords override them."""
        try:
            settings = FakeSettings(**overrides)
        except ValidationError as exc:
            fields = ", ".join(
                "NOTIFIER_FAKE_" + ".".join(str(part) for part in error["loc"]).upper()
                for error in exc.errors(include_input=False)
            )
            raise ConfigurationError(f"Invalid fake provider settings: {fields}.") from None
        return cls(batch_size=settings.batch_size, delay=settings.delay)

    def fail_next(self, error: ErrorSpec, times: int = 1) -> None:
        """Make the next ``times`` messages fail with ``error``.

        ``error`` is an exception instance, raised as is, or a ``NotifierError``
        subclass, instantiated with ``provider="fake"`` and the message's
        ``client_ref``. Scripted failures are used before the magic numbers
        are looked at, one per message, in the order they were scripted.
        """
        if isinstance(times, bool) or times < 1:
            raise ValueError(f"fail_next() times must be a positive integer, got {times!r}.")
        if not (
            isinstance(error, NotifierError)
            or (isinstance(error, type) and issubclass(error, NotifierError))
        ):
            raise TypeError(
                f"fail_next() takes a NotifierError instance or subclass, got {error!r}."
            )
        self._scripted.extend([error] * times)

    def reset(self) -> None:
        """Forget every recorded message, credential check and scripted failure."""
        self.outbox.clear()
        self.sent.clear()
        self.failed.clear()
        self.batches.clear()
        self.credential_checks = 0
        self._scripted.clear()

    async def send(self, message: Sms) -> SendResult:
        """Record ``message`` and return a ``queued`` result, or raise the scripted error."""
        self._check_open()
        if self.delay:
            await anyio.sleep(self.delay)
        self._check_open()
        outcome = self._outcome_for(message)
        if isinstance(outcome, NotifierError):
            raise outcome
        return outcome

    async def send_batch(self, messages: Sequence[Sms]) -> list[BatchOutcome]:
        """Return an outcome for each message as ``send()`` would, in one request.

        A scripted ``AuthenticationError``, ``NotifierClosed`` or other error
        that is not a ``ProviderError`` fails the whole request and is raised,
        as a vendor's whole-request failure would be. Raises ``UnsupportedFeature`` unless the
        fake was built with ``batch_size``.
        """
        if self.batch_size is None:
            return await super().send_batch(messages)
        self._check_open()
        if len(messages) > self.batch_size:
            raise InvalidMessage(
                f"Batch of {len(messages)} messages exceeds the fake's batch_size "
                f"{self.batch_size}; split it into smaller batches."
            )
        if self.delay:
            await anyio.sleep(self.delay)
        self._check_open()
        self.batches.append(list(messages))
        outcomes: list[BatchOutcome] = []
        for message in messages:
            outcome = self._outcome_for(message)
            if isinstance(outcome, _REQUEST_ERRORS):
                raise outcome
            if isinstance(outcome, ProviderError):
                outcomes.append(outcome)
            elif isinstance(outcome, NotifierError):
                raise outcome
            else:
                outcomes.append(outcome)
        return outcomes

    async def check_credentials(self) -> None:
        """Count the check; raise ``AuthenticationError`` if ``credentials_valid`` is false.

        Records no message and takes no failure scripted with ``fail_next()``.
        """
        self._check_open()
        if self.delay:
            await anyio.sleep(self.delay)
        self._check_open()
        self.credential_checks += 1
        if not self.credentials_valid:
            raise AuthenticationError(
                "The fake provider rejected the credentials because its credentials_valid "
                "attribute is False.",
                provider=self.name,
                status_code=401,
            )

    async def aclose(self) -> None:
        """Mark the fake closed; later sends raise ``NotifierClosed``."""
        self.closed = True

    def _check_open(self) -> None:
        if self.closed:
            raise NotifierClosed("The fake provider is closed; create a new one to send again.")

    def _outcome_for(self, message: Sms) -> SendResult | NotifierError:
        error = self._scripted_error(message) or self._magic_error(message)
        if error is not None:
            self.failed.append((message, error))
            return error
        self._counter += 1
        info = count_segments(message.body)
        result = SendResult(
            provider=self.name,
            message_id=f"fake-{self._counter}",
            client_ref=message.client_ref,
            status=SendStatus.QUEUED,
            segments=info.parts,
            encoding=info.encoding,
            raw={"id": f"fake-{self._counter}", "status": "queued"},
        )
        self.outbox.append(message)
        self.sent.append(result)
        return result

    def _scripted_error(self, message: Sms) -> NotifierError | None:
        if not self._scripted:
            return None
        spec = self._scripted.popleft()
        if isinstance(spec, NotifierError):
            return spec
        if issubclass(spec, ProviderError):
            return spec(
                f"Scripted {spec.__name__} from the fake provider",
                provider=self.name,
                client_ref=message.client_ref,
            )
        return spec(f"Scripted {spec.__name__} from the fake provider")

    def _magic_error(self, message: Sms) -> ProviderError | None:
        masked = mask_phone(message.to)
        ref = message.client_ref
        if message.to == self.REJECTED_NUMBER:
            return RejectedError(
                f"The fake provider rejected the message to {masked}: number is blacklisted.",
                provider=self.name,
                status_code=400,
                client_ref=ref,
            )
        if message.to == self.UNAVAILABLE_NUMBER:
            return ProviderUnavailable(
                "The fake provider responded 503 Service Unavailable.",
                provider=self.name,
                status_code=503,
                client_ref=ref,
                attempts=3,
            )
        if message.to == self.UNKNOWN_NUMBER:
            return DeliveryUnknown(
                "The fake provider responded 504 Gateway Timeout; the message may have "
                "been sent. Check its status before resending.",
                provider=self.name,
                status_code=504,
                client_ref=ref,
            )
        if message.to == self.RATE_LIMITED_NUMBER:
            return RateLimitedError(
                "The fake provider responded 429 Too Many Requests.",
                provider=self.name,
                retry_after=1.0,
                client_ref=ref,
            )
        if message.to == self.AUTH_FAILED_NUMBER:
            return AuthenticationError(
                "The fake provider rejected the credentials.",
                provider=self.name,
                status_code=401,
                client_ref=ref,
            )
        return None

    @staticmethod
    def delivery_report_body(
        result: SendResult,
        status: DeliveryStatus | str = DeliveryStatus.DELIVERED,
        *,
        to: str | None = None,
        error_code: str | None = None,
        occurred_at: datetime | None = None,
    ) -> bytes:
        """Build the JSON callback body the fake "posts" for ``result``.

        Feed it to ``parse_delivery_report()`` (content type
        ``application/json``) or to a receiver under test.
        """
        status_word = status.value if isinstance(status, DeliveryStatus) else str(status)
        when = occurred_at or datetime.now(timezone.utc)
        payload = {
            "message_id": result.message_id,
            "client_ref": result.client_ref,
            "status": status_word,
            "to": to,
            "error_code": error_code,
            "occurred_at": when.isoformat(),
        }
        return json.dumps(payload).encode()

    def parse_delivery_report(
        self,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> list[DeliveryReport]:
        """Parse the fake's JSON callback: one report object or a list of them.

        Each object has ``message_id``, ``client_ref`` and ``status``, a
        ``DeliveryStatus`` value. Other status words map to ``unknown``.
        ``to``, ``error_code`` and ``occurred_at`` (ISO 8601 with a zone) are
        optional. Raises ``InvalidMessage`` for anything else.
        """
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise InvalidMessage(
                f"Fake delivery report has content type {content_type!r}; "
                "expected 'application/json'."
            )
        try:
            payload = json.loads(body)
        except json.JSONDecodeError as exc:
            raise InvalidMessage(f"Fake delivery report is not valid JSON: {exc.msg}.") from None
        except UnicodeDecodeError:
            raise InvalidMessage("Fake delivery report is not UTF-8 text.") from None
        items = payload if isinstance(payload, list) else [payload]
        return [self._parse_report_item(position, item) for position, item in enumerate(items)]

    def _parse_report_item(self, position: int, item: object) -> DeliveryReport:
        if not isinstance(item, dict) or not isinstance(item.get("status"), str):
            raise InvalidMessage(
                f"Fake delivery report entry {position} is not an object with a 'status' string."
            )
        word = item["status"]
        try:
            status = DeliveryStatus(word.lower())
        except ValueError:
            status = DeliveryStatus.UNKNOWN
        occurred_at = None
        if item.get("occurred_at"):
            try:
                occurred_at = datetime.fromisoformat(str(item["occurred_at"]))
            except ValueError:
                raise InvalidMessage(
                    f"Fake delivery report entry {position} has an invalid occurred_at; "
                    "use ISO 8601 with a time zone."
                ) from None
            if occurred_at.tzinfo is None:
                raise InvalidMessage(
                    f"Fake delivery report entry {position} has occurred_at without a time "
                    "zone; add one such as '+05:00'."
                )
        to = item.get("to")
        return DeliveryReport(
            provider=self.name,
            message_id=_optional_str(item.get("message_id")),
            client_ref=_optional_str(item.get("client_ref")),
            status=status,
            provider_status=word,
            occurred_at=occurred_at,
            to=normalize_phone(to) if isinstance(to, str) and to else None,
            error_code=_optional_str(item.get("error_code")),
            raw=item,
        )


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)
