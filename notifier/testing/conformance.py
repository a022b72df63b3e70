"""A conformance suite that every notifier provider should pass.

A plugin author subclasses ``ProviderConformance`` in a test module, gives it
a ``provider_factory`` fixture that builds a fresh provider wired to a fake
server, and overrides the ``stage_*`` hooks that set that server up to fail.
pytest then runs every check of the suite against the provider::

    import contextlib

    import httpx
    import pytest

    from acme_sms import AcmeProvider
    from acme_sms.simulator import AcmeSimulator
    from notifier.testing.conformance import ProviderConformance


    class TestAcmeConformance(ProviderConformance):
        @pytest.fixture
        def provider_factory(self):
            with AcmeSimulator() as simulator:
                # A test and its fixtures share one instance of the class,
                # so the hooks below reach the simulator through self.
                self.simulator = simulator

                def build(**options):
                    options.setdefault("timeout", httpx.Timeout(5.0, read=0.5))
                    return AcmeProvider(
                        api_key=simulator.api_key, base_url=simulator.base_url, **options
                    )

                yield build

        def secrets(self):
            return [self.simulator.api_key]

        def stage_unavailable(self, provider):
            self.simulator.fail_next(503, times=provider.retry_policy.attempts)

        @contextlib.contextmanager
        def stage_rejection(self, provider):
            self.simulator.balance = 0
            try:
                yield
            finally:
                self.simulator.balance = 1000

The checks:

- ``send()`` returns a valid ``SendResult``: its ``client_ref`` is the
  message's, and its segments and encoding agree with ``count_segments``.
- Every failure raises the expected ``NotifierError`` subclass from
  ``send()``, and the provider keeps working afterwards.
- A ``DeliveryUnknown`` is never sent again, neither by the provider nor
  by ``Failover``.
- Through ``AsyncNotifier`` every ``send()`` finishes exactly one
  ``notifier.send`` span, and no span stays open, on success, on failure
  and on cancellation.
- No registered secret, JWT, full recipient number or message body appears
  in a log record, a span or an error message.
- A send cancelled mid-flight leaves no task running and the provider
  usable.
- ``aclose()`` is idempotent, a send after it raises ``NotifierClosed``
  without reaching the vendor, and an ``httpx.AsyncClient`` passed in by the
  user stays open. A send that ``aclose()`` interrupts after its request
  reached the vendor raises ``DeliveryUnknown`` with its ``client_ref``,
  never ``NotifierClosed``, which would invite a duplicate resend.
- ``send_batch()``, when the provider has a batch endpoint, returns one
  outcome per message in input order.
- ``check_credentials()``, when the provider has one, returns ``None``
  without sending a message, and raises ``NotifierClosed`` after
  ``aclose()``.

Requirements: pytest and pytest-asyncio. Every test and async fixture here
carries its own asyncio marker, so the suite runs in pytest-asyncio's strict
mode as well as with ``asyncio_mode = "auto"``. The span checks need
``opentelemetry-sdk`` and are skipped without it. Retry waits made through
``notifier``'s retry policy are instant while the suite runs
(``instant_retries()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import httpx
import phonenumbers
import pytest
from opentelemetry import trace

from .._errors import (
    AuthenticationError,
    DeliveryUnknown,
    NotifierClosed,
    NotifierError,
    ProviderError,
    ProviderUnavailable,
    RejectedError,
    UnsupportedFeature,
)
from .._models import Attempt, SendResult, SendStatus, Sms
from .._notifier import AsyncNotifier
from .._plugins import new_plugin_manager
from .._provider import Capabilities, Provider
from .._retry import instant_retries
from .._routing import Failover
from .._segments import count_segments
from .._telemetry import SEND_SPAN_NAME
from ._fake import FakeProvider

try:
    import pytest_asyncio
except ImportError as exc:  # pragma: no cover - depends on the user's environment
    raise ImportError(
        "notifier.testing.conformance needs pytest-asyncio; install it with "
        "'pip install pytest-asyncio'."
    ) from exc

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["FAILURES", "Failure", "ProviderConformance", "ProviderFactory", "Staging"]

_T = TypeVar("_T")

ProviderFactory = Callable[..., Provider]
"""Builds a fresh provider wired to the fake server; keyword options are passed on."""

Staging = AbstractContextManager[Any] | None
"""Return type of a ``stage_*`` hook.

``None`` means the hook set the server up for the next send. A context
manager is entered around that send and exited afterwards, for a set-up that
must be undone."""

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


@dataclass(frozen=True)
class Failure:
    """One way a send can fail, the hook that stages it and the error it must raise."""

    name: str
    error: type[ProviderError]
    hook: str

    def __str__(self) -> str:
        return self.name


FAILURES: tuple[Failure, ...] = (
    Failure("unavailable", ProviderUnavailable, "stage_unavailable"),
    Failure("timeout", DeliveryUnknown, "stage_timeout"),
    Failure("rejection", RejectedError, "stage_rejection"),
    Failure("auth_failure", AuthenticationError, "stage_auth_failure"),
)
"""The failures every provider is checked against, in the order the tests run them."""

_TIMEOUT = next(failure for failure in FAILURES if failure.error is DeliveryUnknown)


def _failure_id(failure: Failure | None) -> str:
    return "success" if failure is None else failure.name


def _not_staged(suite: object, hook: str, what: str) -> None:
    pytest.skip(
        f"{type(suite).__name__} does not override {hook}(), so the suite cannot make "
        f"the provider's fake server {what}; override it to run this check."
    )


# --- spans ---------------------------------------------------------------------------


class _SpanRecorder:
    """Spans started and finished in this process while a check records them.

    An SDK span processor feeds it. Outside the span checks it keeps
    nothing, so the rest of a test session does not pile spans up here.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = False
        self._started: list[Any] = []
        self._finished: list[ReadableSpan] = []

    def start(self) -> None:
        with self._lock:
            self._active = True
            self._started.clear()
            self._finished.clear()

    def stop(self) -> None:
        with self._lock:
            self._active = False
            self._started.clear()
            self._finished.clear()

    def reset(self) -> None:
        """Forget the spans recorded so far and keep recording."""
        with self._lock:
            self._started.clear()
            self._finished.clear()

    def on_start(self, span: Any) -> None:
        with self._lock:
            if self._active:
                self._started.append(span)

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            if self._active:
                self._finished.append(span)

    @property
    def finished(self) -> list[ReadableSpan]:
        with self._lock:
            return list(self._finished)

    def send_spans(self) -> list[ReadableSpan]:
        """Finished ``notifier.send`` spans."""
        return [span for span in self.finished if span.name == SEND_SPAN_NAME]

    def open_spans(self) -> list[str]:
        """Names of spans that were started and never ended."""
        with self._lock:
            ended = {span.context.span_id for span in self._finished if span.context}
            return [span.name for span in self._started if span.context.span_id not in ended]


_recorder: _SpanRecorder | None = None
_recorder_lock = threading.Lock()


def _span_recorder() -> _SpanRecorder:
    """Return the process-wide recorder, installing it on the SDK tracer provider once."""
    global _recorder
    try:
        from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    except ImportError:
        pytest.skip("opentelemetry-sdk is not installed; install it to run the span checks.")

    with _recorder_lock:
        if _recorder is not None:
            return _recorder
        current = trace.get_tracer_provider()
        if isinstance(current, trace.ProxyTracerProvider):
            # No tracer provider was set yet: set one, which only records.
            current = TracerProvider()
            trace.set_tracer_provider(current)
        if not isinstance(current, TracerProvider):
            pytest.skip(
                f"The global tracer provider is a {type(current).__name__}, not the "
                "OpenTelemetry SDK's TracerProvider, so the suite cannot record spans."
            )
        recorder = _SpanRecorder()

        class _Processor(SpanProcessor):
            def on_start(self, span: Any, parent_context: Any = None) -> None:
                recorder.on_start(span)

            def on_end(self, span: ReadableSpan) -> None:
                recorder.on_end(span)

        current.add_span_processor(_Processor())
        _recorder = recorder
        return recorder


def _span_text(span: ReadableSpan) -> str:
    parts = [span.name]
    parts += [f"{key}={value!s}" for key, value in (span.attributes or {}).items()]
    for event in span.events:
        parts.append(event.name)
        parts += [f"{key}={value!s}" for key, value in (event.attributes or {}).items()]
    if span.status.description:
        parts.append(span.status.description)
    return " ".join(parts)


# --- logs ----------------------------------------------------------------------------


class _LogCapture(logging.Handler):
    """Keep the text of every record logged from one thread."""

    def __init__(self, thread_id: int) -> None:
        super().__init__(level=logging.DEBUG)
        self._thread_id = thread_id
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # Fake servers usually run in their own threads and may log test data
        # freely; the provider runs on the test's event loop thread.
        if record.thread != self._thread_id:
            return
        try:
            text = record.getMessage()
        except Exception:  # a malformed record must not break the check
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += " | " + _exception_text(record.exc_info[1])
        self.texts.append(f"{record.name}: {text}")


@contextlib.contextmanager
def _captured_logs() -> Iterator[_LogCapture]:
    """Capture every record logged from this thread, at every level, while the block runs.

    Every logger with a level above DEBUG, the root included, is set to
    DEBUG for the block, so a leak at DEBUG is found even where the
    application logs only warnings. Loggers that do not propagate to the
    root are not captured.
    """
    handler = _LogCapture(threading.get_ident())
    root = logging.getLogger()
    loggers = [root] + [
        logger
        # A copy: other threads may create loggers meanwhile.
        for logger in list(logging.root.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]
    previous = {logger: logger.level for logger in loggers if logger.level > logging.DEBUG}
    for logger in previous:
        logger.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for logger, level in previous.items():
            logger.setLevel(level)


def _exception_text(error: BaseException) -> str:
    """Return ``str`` and ``repr`` of ``error`` and of every exception in its chain."""
    texts = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return " | ".join(texts)


# --- the suite -----------------------------------------------------------------------


class ProviderConformance:
    """Test suite that checks a provider against the contract of ``notifier.Provider``.

    Subclass it in a test module under a name pytest collects
    (``TestAcme...``) and provide a ``provider_factory`` fixture. It returns
    a callable that builds a new provider wired to your fake server on each
    call and passes its keyword arguments on to the provider. The fixture
    may live in the class, the module or a ``conftest.py``.

    Override the hooks your fake server can serve. A check whose hook is not
    overridden is skipped with a reason that names the hook.

    - ``stage_unavailable``, ``stage_timeout``, ``stage_rejection``,
      ``stage_auth_failure``: make the next send fail in that way.
    - ``stage_slow``: delay the response to the next send by a few seconds,
      for the cancellation and close checks.
    - ``send_request_count``: how many send requests the server received.
    - ``vendor_client_ref``: the caller's id the server stored for a message.
    - ``secrets``: credentials that must never show up in logs, spans or errors.

    The class attributes below tune the messages and the time limits.
    """

    recipient: ClassVar[str] = "+998900000010"
    """The number every check sends to; a fake number in the Uzbek 90 000 00 xx range."""

    body: ClassVar[str] = "Salom! Buyurtmangiz #4512 tayyor, uni bugun olib keting."
    """The text of the messages whose body must never be logged."""

    hang_timeout: ClassVar[float] = 10.0
    """Seconds a send, a close or leftover tasks may take before the check fails as a hang."""

    cancel_after: ClassVar[float] = 0.1
    """Seconds a staged slow send runs before the cancellation and close checks act."""

    http_client_option: ClassVar[str | None] = "http_client"
    """Keyword that passes an ``httpx.AsyncClient`` to ``provider_factory``.

    Set it to ``None`` when the provider does not speak HTTP through httpx;
    the borrowed-client check is then skipped.
    """

    # --- hooks ---------------------------------------------------------------------

    def secrets(self) -> Iterable[str]:
        """Return the credentials that must never appear in logs, spans or errors.

        Include passwords, API keys, tokens and derived values such as an
        encoded ``Authorization`` header. JWTs are found without being listed.
        """
        return ()

    def stage_unavailable(self, provider: Provider) -> Staging:
        """Make the next send fail with ``ProviderUnavailable``, every retry included.

        For an HTTP vendor, respond with 503 to every attempt of the next send.
        """
        _not_staged(self, "stage_unavailable", "respond with 503 to every attempt of a send")
        return None

    def stage_timeout(self, provider: Provider) -> Staging:
        """Make the next send end in ``DeliveryUnknown``.

        For an HTTP vendor, process the request but delay the response
        beyond the provider's read timeout. Let ``provider_factory`` set that
        timeout well under a second to keep the suite fast.
        """
        _not_staged(self, "stage_timeout", "respond to a send after the provider's read timeout")
        return None

    def stage_rejection(self, provider: Provider) -> Staging:
        """Make the vendor reject the next message with ``RejectedError``.

        For example a balance of zero, a blocked recipient or a failed
        moderation, whatever the fake server can stage.
        """
        _not_staged(self, "stage_rejection", "reject a message")
        return None

    def stage_auth_failure(self, provider: Provider) -> Staging:
        """Make the vendor reject the credentials, so the send raises ``AuthenticationError``."""
        _not_staged(self, "stage_auth_failure", "reject the credentials")
        return None

    def stage_slow(self, provider: Provider) -> Staging:
        """Delay the response to the next send by a few seconds (at least ``2 * cancel_after``).

        The cancellation and close checks start a send, wait
        ``cancel_after`` seconds, and then act while the send still waits
        for its response.
        """
        _not_staged(self, "stage_slow", "delay the response to a send")
        return None

    def send_request_count(self, provider: Provider) -> int | None:
        """Return how many send requests the fake server received, failed ones included.

        ``None`` (the default) means the server cannot tell, and the checks
        that count requests are skipped.
        """
        return None

    def vendor_client_ref(self, provider: Provider, result: SendResult) -> str | None:
        """Return the caller's id the fake server stored for the message of ``result``.

        Vendors with a field for it (Eskiz's ``user_sms_id``) store
        ``Sms.client_ref`` there. The default skips the check, for vendors
        without such a field.
        """
        _not_staged(self, "vendor_client_ref", "report the client_ref it received")
        return None

    # --- fixtures ------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _conformance_instant_retries(self) -> Iterator[list[float]]:
        with instant_retries() as waits:
            yield waits

    @pytest.fixture
    def conformance_spans(self) -> Iterator[_SpanRecorder]:
        """Record the spans of this test; skips without the OpenTelemetry SDK."""
        recorder = _span_recorder()
        recorder.start()
        yield recorder
        recorder.stop()

    @pytest_asyncio.fixture
    async def conformance_provider(
        self, provider_factory: ProviderFactory
    ) -> AsyncIterator[Provider]:
        """Build a fresh provider with ``provider_factory`` and close it after the test."""
        provider = provider_factory()
        yield provider
        await provider.aclose()

    # --- helpers -------------------------------------------------------------------

    def message(self, *, body: str | None = None, client_ref: str | None = None) -> Sms:
        """Build a message to ``recipient``; ``client_ref`` is generated when omitted."""
        fields: dict[str, Any] = {}
        if client_ref is not None:
            fields["client_ref"] = client_ref
        return Sms(self.recipient, self.body if body is None else body, **fields)

    def notifier(self, provider: Provider) -> AsyncNotifier:
        """Build an ``AsyncNotifier`` over ``provider`` with no observer plugins."""
        return AsyncNotifier(provider, plugins=new_plugin_manager())

    async def bounded(self, awaitable: Awaitable[_T], what: str = "send()") -> _T:
        """Await ``awaitable``, failing the test if it takes over ``hang_timeout`` seconds."""
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task}, timeout=self.hang_timeout)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            pytest.fail(f"{what} did not finish within {self.hang_timeout} s: it hangs.")
        return task.result()

    async def outcome(self, awaitable: Awaitable[_T]) -> _T | Exception:
        """Await a bounded send and return its result, or the exception it raised."""
        try:
            return await self.bounded(awaitable)
        except Exception as error:
            return error

    @contextlib.contextmanager
    def staged(self, hook: str, provider: Provider) -> Iterator[None]:
        """Call the ``stage_*`` hook named ``hook`` and keep its set-up for the block."""
        staging = getattr(self, hook)(provider)
        if staging is None:
            yield
            return
        if not isinstance(staging, AbstractContextManager):
            raise TypeError(
                f"{type(self).__name__}.{hook}() returned {type(staging).__name__}; "
                "return None or a context manager that undoes the set-up on exit."
            )
        with staging:
            yield

    async def send_ok(self, provider: Provider, message: Sms | None = None) -> SendResult:
        """Send through ``provider`` and fail the test unless it returns a ``SendResult``."""
        sent = message or self.message()
        outcome = await self.outcome(provider.send(sent))
        if isinstance(outcome, Exception):
            pytest.fail(
                f"A plain send through {provider.name!r} failed with "
                f"{type(outcome).__qualname__}: {outcome}"
            )
        assert isinstance(outcome, SendResult), (
            f"send() returned {type(outcome).__qualname__}, not a SendResult"
        )
        return outcome

    def assert_typed_error(
        self, provider: Provider, error: object, expected: type[NotifierError]
    ) -> None:
        """Assert that ``error`` is the ``expected`` notifier error, raised by ``provider``."""
        assert isinstance(error, BaseException), (
            f"send() returned {type(error).__qualname__} where {expected.__name__} "
            "was expected to be raised"
        )
        assert isinstance(error, NotifierError), (
            f"send() raised {type(error).__qualname__}, which is not a NotifierError; "
            "providers must map every failure to the notifier error tree"
        )
        assert isinstance(error, expected), (
            f"send() raised {type(error).__qualname__}, expected {expected.__name__}: {error}"
        )
        if isinstance(error, ProviderError):
            assert error.provider == provider.name, (
                f"the error names provider {error.provider!r}, expected {provider.name!r}"
            )

    def find_leaks(self, text: str, message: Sms) -> list[str]:
        """Describe each secret, JWT, full recipient number or body found in ``text``.

        The descriptions never repeat the secret itself.
        """
        leaks = []
        for index, secret in enumerate(self._secret_values()):
            if secret and secret in text:
                leaks.append(f"secret #{index + 1} of secrets()")
        if _JWT.search(text):
            leaks.append("a JWT")
        digits = message.to.lstrip("+")
        if digits in text:
            leaks.append("the full recipient number")
        national = _national_number(message.to)
        if national and national in text and "the full recipient number" not in leaks:
            leaks.append("the recipient's national number")
        if message.body in text:
            leaks.append("the message body")
        return leaks

    def assert_no_leaks(self, where: str, texts: Iterable[str], message: Sms) -> None:
        """Fail with one line per text of ``texts`` that contains a leak.

        The excerpt shown with each line has the leaked values replaced, so
        the test report does not repeat them.
        """
        problems = []
        for text in texts:
            leaks = self.find_leaks(text, message)
            if leaks:
                problems.append(f"{', '.join(leaks)} in {where}: {self._redacted(text, message)}")
        assert not problems, "\n".join(problems)

    def _secret_values(self) -> list[str]:
        return [secret for secret in self.secrets() if secret]

    def _redacted(self, text: str, message: Sms, limit: int = 200) -> str:
        for secret in self._secret_values():
            text = text.replace(secret, "[secret]")
        text = _JWT.sub("[jwt]", text)
        text = text.replace(message.body, "[body]")
        text = text.replace(message.to.lstrip("+"), "[number]")
        national = _national_number(message.to)
        if national:
            text = text.replace(national, "[number]")
        return text if len(text) <= limit else text[: limit - 1] + "…"

    # --- identity and results --------------------------------------------------------

    @pytest.mark.asyncio
    async def test_identity_and_capabilities(self, conformance_provider: Provider) -> None:
        provider = conformance_provider
        assert isinstance(provider, Provider)
        assert isinstance(provider.name, str)
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", provider.name), (
            f"provider name {provider.name!r} must be lower-case letters, digits, '-' and "
            "'_', as entry-point names and delivery-report routes are"
        )
        capabilities = provider.capabilities
        assert isinstance(capabilities, Capabilities)
        if capabilities.max_batch_size is not None:
            assert capabilities.batch, "max_batch_size is set but batch is False"
            assert capabilities.max_batch_size >= 1
        if capabilities.countries is not None:
            assert all(re.fullmatch(r"[A-Z]{2}", code) for code in capabilities.countries), (
                f"countries must be ISO alpha-2 codes, got {sorted(capabilities.countries)}"
            )

    @pytest.mark.asyncio
    async def test_repr_hides_secrets(self, conformance_provider: Provider) -> None:
        self.assert_no_leaks("repr(provider)", [repr(conformance_provider)], self.message())

    @pytest.mark.parametrize(
        "body",
        [
            "Salom! Buyurtmangiz #4512 tayyor.",
            "O\u02bbzbekiston bo\u02bbylab yetkazib berish bepul.",  # U+02BB forces UCS-2
            "Hurmatli mijoz, buyurtmangiz tayyor. " * 5,
            "Ҳурматли мижоз, буюртмангиз тайёр. Уни эртага соат 18:00 гача олиб кетинг.",
        ],
        ids=["gsm7", "ucs2-latin", "gsm7-parts", "ucs2-cyrillic-parts"],
    )
    @pytest.mark.asyncio
    async def test_send_result_fields(self, conformance_provider: Provider, body: str) -> None:
        provider = conformance_provider
        message = self.message(body=body)
        result = await self.send_ok(provider, message)
        expected = count_segments(body)

        assert result.provider == provider.name
        assert result.client_ref == message.client_ref
        assert result.segments == expected.parts, (
            f"segments={result.segments}, but count_segments() counts {expected.parts}"
        )
        assert result.encoding is expected.encoding
        assert isinstance(result.status, SendStatus)
        assert result.message_id is None or (
            isinstance(result.message_id, str) and result.message_id
        ), "message_id must be a non-empty string or None"
        assert result.elapsed >= 0
        assert all(isinstance(attempt, Attempt) for attempt in result.attempts)

    @pytest.mark.asyncio
    async def test_client_ref_kept(self, conformance_provider: Provider) -> None:
        message = self.message(client_ref="conformance-ref-0001")
        result = await self.send_ok(conformance_provider, message)
        assert result.client_ref == "conformance-ref-0001"

    @pytest.mark.asyncio
    async def test_client_ref_reaches_vendor(self, conformance_provider: Provider) -> None:
        message = self.message(client_ref="conformance-ref-0002")
        result = await self.send_ok(conformance_provider, message)
        assert self.vendor_client_ref(conformance_provider, result) == "conformance-ref-0002"

    @pytest.mark.asyncio
    async def test_concurrent_sends_keep_client_refs(self, conformance_provider: Provider) -> None:
        messages = [self.message(client_ref=f"conformance-many-{index:02}") for index in range(20)]
        results = await self.bounded(
            asyncio.gather(*(conformance_provider.send(message) for message in messages)),
            "20 concurrent sends",
        )
        assert [result.client_ref for result in results] == [
            message.client_ref for message in messages
        ]

    @pytest.mark.asyncio
    async def test_send_batch_outcomes_in_order(self, conformance_provider: Provider) -> None:
        provider = conformance_provider
        if not provider.capabilities.batch:
            pytest.skip(f"{provider.name!r} has no batch endpoint (capabilities.batch is False)")
        count = min(3, provider.capabilities.max_batch_size or 3)
        messages = [self.message(client_ref=f"conformance-batch-{index}") for index in range(count)]
        outcomes = await self.bounded(provider.send_batch(messages), "send_batch()")
        assert len(outcomes) == len(messages)
        for message, outcome in zip(messages, outcomes, strict=True):
            assert isinstance(outcome, SendResult), f"batch entry failed: {outcome!r}"
            assert outcome.client_ref == message.client_ref
            assert outcome.segments == count_segments(message.body).parts

    # --- credential check ----------------------------------------------------------------

    async def _check_credentials_or_skip(self, provider: Provider) -> object:
        """Return what ``check_credentials()`` returned or raised; skip if it is unsupported."""
        outcome = await self.outcome(provider.check_credentials())
        if isinstance(outcome, UnsupportedFeature):
            pytest.skip(f"{provider.name!r} has no check_credentials() ({outcome})")
        return outcome

    @pytest.mark.asyncio
    async def test_check_credentials_sends_nothing(self, conformance_provider: Provider) -> None:
        provider = conformance_provider
        before = self.send_request_count(provider)

        outcome = await self._check_credentials_or_skip(provider)

        assert outcome is None, f"check_credentials() failed or returned a value: {outcome!r}"
        if before is not None:
            assert self.send_request_count(provider) == before, (
                "check_credentials() made a send request"
            )

    @pytest.mark.asyncio
    async def test_check_credentials_after_aclose(self, conformance_provider: Provider) -> None:
        provider = conformance_provider
        await self.bounded(provider.aclose(), "aclose()")

        outcome = await self._check_credentials_or_skip(provider)

        self.assert_typed_error(provider, outcome, NotifierClosed)

    # --- failures ----------------------------------------------------------------------

    @pytest.mark.parametrize("failure", FAILURES, ids=str)
    @pytest.mark.asyncio
    async def test_failure_raises_typed_error(
        self, conformance_provider: Provider, failure: Failure
    ) -> None:
        provider = conformance_provider
        await self.send_ok(provider)  # connect and authenticate before staging
        message = self.message()
        with self.staged(failure.hook, provider):
            error = await self.outcome(provider.send(message))

        self.assert_typed_error(provider, error, failure.error)
        assert isinstance(error, ProviderError)
        if failure.error is DeliveryUnknown:
            assert error.client_ref == message.client_ref, (
                "DeliveryUnknown must carry the client_ref so the caller can look the message up"
            )
        self.assert_no_leaks("the error and its causes", [_exception_text(error)], message)

        await self.send_ok(provider)  # the provider still works after the failure

    @pytest.mark.asyncio
    async def test_delivery_unknown_not_resent(self, conformance_provider: Provider) -> None:
        provider = conformance_provider
        await self.send_ok(provider)
        before = self.send_request_count(provider)
        if before is None:
            pytest.skip(f"{type(self).__name__}.send_request_count() returns None")
        with self.staged(_TIMEOUT.hook, provider):
            error = await self.outcome(provider.send(self.message()))
        self.assert_typed_error(provider, error, DeliveryUnknown)
        after = self.send_request_count(provider)
        assert after == before + 1, (
            f"the server received {after - before if after is not None else '?'} send "
            "requests for one message that ended in DeliveryUnknown; it must receive exactly 1"
        )

    @pytest.mark.asyncio
    async def test_delivery_unknown_no_failover(self, conformance_provider: Provider) -> None:
        provider = conformance_provider
        await self.send_ok(provider)
        backup = FakeProvider()
        notifier = self.notifier(Failover([provider, backup]))
        try:
            with self.staged(_TIMEOUT.hook, provider):
                error = await self.outcome(notifier.send(self.message()))
        finally:
            await self.bounded(notifier.aclose(), "AsyncNotifier.aclose()")
        self.assert_typed_error(provider, error, DeliveryUnknown)
        assert backup.outbox == [], "Failover resent a message that ended in DeliveryUnknown"

    # --- spans, logs and secrets -----------------------------------------------------

    @pytest.mark.parametrize("failure", [None, *FAILURES], ids=_failure_id)
    @pytest.mark.asyncio
    async def test_one_send_span_per_send(
        self,
        conformance_provider: Provider,
        conformance_spans: _SpanRecorder,
        failure: Failure | None,
    ) -> None:
        provider = conformance_provider
        recorder = conformance_spans
        notifier = self.notifier(provider)
        await self.send_ok(provider)
        recorder.reset()
        message = self.message()
        if failure is None:
            outcome = await self.outcome(notifier.send(message))
            assert isinstance(outcome, SendResult), f"send() failed: {outcome!r}"
        else:
            with self.staged(failure.hook, provider):
                outcome = await self.outcome(notifier.send(message))
            self.assert_typed_error(provider, outcome, failure.error)

        _assert_one_send_span(recorder, None if failure is None else failure.error.__name__)
        await self.bounded(notifier.aclose(), "AsyncNotifier.aclose()")

    @pytest.mark.parametrize("failure", [None, *FAILURES], ids=_failure_id)
    @pytest.mark.asyncio
    async def test_logs_and_spans_hide_secrets(
        self,
        conformance_provider: Provider,
        conformance_spans: _SpanRecorder,
        failure: Failure | None,
    ) -> None:
        provider = conformance_provider
        recorder = conformance_spans
        notifier = self.notifier(provider)
        recorder.reset()
        message = self.message()
        with _captured_logs() as logs:
            # The first send of the test logs in where the vendor needs it.
            await self.bounded(notifier.send(self.message()))
            if failure is None:
                outcome = await self.outcome(notifier.send(message))
            else:
                with self.staged(failure.hook, provider):
                    outcome = await self.outcome(notifier.send(message))
            await self.bounded(notifier.aclose(), "AsyncNotifier.aclose()")

        texts = list(logs.texts)
        if isinstance(outcome, BaseException):
            texts.append(_exception_text(outcome))
        self.assert_no_leaks("logs and errors", texts, message)
        self.assert_no_leaks("spans", [_span_text(span) for span in recorder.finished], message)

    # --- cancellation ----------------------------------------------------------------

    async def _start_slow_send(self, send: Awaitable[object]) -> asyncio.Task[object]:
        task: asyncio.Task[object] = asyncio.ensure_future(send)
        await asyncio.sleep(self.cancel_after)
        if task.done():
            pytest.fail(
                f"The send staged by stage_slow() finished within {self.cancel_after} s, "
                "so it could not be interrupted; make stage_slow() delay the response longer."
            )
        return task

    async def _assert_no_new_tasks(self, before: set[asyncio.Task[Any]]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.hang_timeout
        while True:
            running = [task for task in asyncio.all_tasks() - before if not task.done()]
            if not running:
                return
            if loop.time() > deadline:
                names = ", ".join(sorted(task.get_name() for task in running))
                pytest.fail(
                    f"{len(running)} task(s) started by the send still run "
                    f"{self.hang_timeout} s after it was cancelled: {names}"
                )
            await asyncio.sleep(0.01)

    @pytest.mark.asyncio
    async def test_cancelled_send_leaves_provider_usable(
        self, conformance_provider: Provider
    ) -> None:
        provider = conformance_provider
        await self.send_ok(provider)
        before = asyncio.all_tasks()
        with self.staged("stage_slow", provider):
            task = await self._start_slow_send(provider.send(self.message()))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await self.bounded(task, "the cancelled send")
        await self._assert_no_new_tasks(before)

        message = self.message(client_ref="conformance-after-cancel")
        result = await self.send_ok(provider, message)
        assert result.client_ref == message.client_ref

    @pytest.mark.asyncio
    async def test_cancelled_send_ends_spans(
        self, conformance_provider: Provider, conformance_spans: _SpanRecorder
    ) -> None:
        provider = conformance_provider
        recorder = conformance_spans
        notifier = self.notifier(provider)
        await self.send_ok(provider)
        recorder.reset()
        with self.staged("stage_slow", provider):
            task = await self._start_slow_send(notifier.send(self.message()))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await self.bounded(task, "the cancelled send")

        _assert_one_send_span(recorder, "CancelledError")
        await self.bounded(notifier.aclose(), "AsyncNotifier.aclose()")

    # --- closing -----------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_aclose_is_idempotent(self, conformance_provider: Provider) -> None:
        await self.send_ok(conformance_provider)
        await self.bounded(conformance_provider.aclose(), "aclose()")
        await self.bounded(conformance_provider.aclose(), "a second aclose()")

    @pytest.mark.asyncio
    async def test_send_after_aclose_raises_closed(self, conformance_provider: Provider) -> None:
        provider = conformance_provider
        await self.send_ok(provider)
        await self.bounded(provider.aclose(), "aclose()")
        before = self.send_request_count(provider)

        error = await self.outcome(provider.send(self.message()))

        self.assert_typed_error(provider, error, NotifierClosed)
        if before is not None:
            assert self.send_request_count(provider) == before, (
                "a send after aclose() reached the server"
            )

    @pytest.mark.asyncio
    async def test_aclose_during_send(self, conformance_provider: Provider) -> None:
        provider = conformance_provider
        await self.send_ok(provider)
        before = self.send_request_count(provider)
        message = self.message()
        with self.staged("stage_slow", provider):
            task = await self._start_slow_send(provider.send(message))
            await self.bounded(provider.aclose(), "aclose() during a send")
            outcome = await self.outcome(task)
        after = self.send_request_count(provider)
        # The send in flight may still finish, but it must not hang or leak
        # an error from outside the notifier tree.
        if isinstance(outcome, SendResult):
            return
        reached = before is not None and after is not None and after > before
        if reached or isinstance(outcome, DeliveryUnknown):
            # The vendor may have accepted the message: a NotifierClosed
            # would tell the caller it is safe to send it again.
            self.assert_typed_error(provider, outcome, DeliveryUnknown)
            assert isinstance(outcome, DeliveryUnknown)
            assert outcome.client_ref == message.client_ref, (
                f"DeliveryUnknown carries client_ref {outcome.client_ref!r}, "
                f"expected {message.client_ref!r}"
            )
        else:
            self.assert_typed_error(provider, outcome, NotifierClosed)

    @pytest.mark.asyncio
    async def test_borrowed_http_client_stays_open(self, provider_factory: ProviderFactory) -> None:
        option = self.http_client_option
        if option is None:
            pytest.skip(f"{type(self).__name__}.http_client_option is None")
        async with httpx.AsyncClient(trust_env=False) as client:
            provider = provider_factory(**{option: client})
            try:
                await self.send_ok(provider)
            finally:
                await self.bounded(provider.aclose(), "aclose()")
            assert not client.is_closed, "aclose() closed the httpx.AsyncClient the user passed in"

            again = provider_factory(**{option: client})
            try:
                await self.send_ok(again)
            finally:
                await self.bounded(again.aclose(), "aclose()")


def _assert_one_send_span(recorder: _SpanRecorder, error_type: str | None) -> None:
    spans = recorder.send_spans()
    assert len(spans) == 1, f"expected 1 finished {SEND_SPAN_NAME} span, found {len(spans)}"
    open_spans = recorder.open_spans()
    assert not open_spans, f"spans were started and never ended: {open_spans}"
    attributes = spans[0].attributes or {}
    if error_type is None:
        assert spans[0].status.status_code is not trace.StatusCode.ERROR
        assert "error.type" not in attributes
    else:
        assert spans[0].status.status_code is trace.StatusCode.ERROR
        assert attributes.get("error.type") == error_type
    client_spans = [span for span in recorder.finished if span.kind is trace.SpanKind.CLIENT]
    for span in client_spans:
        assert span.parent is not None, f"CLIENT span {span.name!r} has no parent span"


def _national_number(number: str) -> str | None:
    """Return the national significant number of an E.164 ``number``, when it is long."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    national = str(parsed.national_number)
    # Short national numbers would match unrelated digit runs.
    return national if len(national) >= 8 else None
