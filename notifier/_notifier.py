"""``AsyncNotifier``: the engine every send goes through.

The notifier owns what is the same for every vendor: the ``notifier.send``
span, the metrics, the observer hooks, the log line, and filling in the
attempts and elapsed time of a result. The provider owns the HTTP requests,
credentials, retries and the vendor's wire format.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import anyio
import pluggy
from typing_extensions import Self

from . import _telemetry
from ._errors import (
    ConfigurationError,
    DeliveryUnknown,
    InvalidMessage,
    NotifierClosed,
    NotifierError,
    ProviderError,
    UnsupportedFeature,
)
from ._models import Attempt, SendResult, Sms
from ._plugins import call_observers, get_plugin_manager, load_plugins, provider_classes
from ._policy import RoutingPolicy
from ._provider import BatchOutcome, Provider
from ._provider_env import build_providers, close_unused
from ._routing import Failover
from ._routing_env import build_policy_from_env
from ._settings import NotifierSettings, check_region, read_environ

__all__ = ["DEFAULT_CLOSE_TIMEOUT", "AsyncNotifier", "ProviderInput"]

logger = logging.getLogger("notifier")

ProviderInput = Provider | Sequence[Provider]
"""Type of the ``provider`` argument: a provider, a routing policy, or a list to fail over."""


DEFAULT_CLOSE_TIMEOUT = 10.0
"""Seconds ``aclose()`` waits for sends in flight by default.

As long as the default HTTP timeout of the providers, so a request that is
already written gets its response or its own read timeout.
"""

# Seconds aclose() waits for the sends it cancelled to unwind. Cancelled
# sends stop at their next await, so this only bounds a misbehaving provider.
_UNWIND_TIMEOUT = 5.0


class _State(enum.Enum):
    OPEN = "open"  # sends are accepted
    CLOSING = "closing"  # aclose() runs; new sends raise NotifierClosed, sends in flight go on
    CLOSED = "closed"  # aclose() finished; every send raises NotifierClosed


class _InFlight:
    """One send or batch call in flight, which ``aclose()`` cancels after its close timeout."""

    __slots__ = ("scope",)

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()


def check_close_timeout(value: float, name: str) -> float:
    """Return ``value`` as seconds if it is a finite number >= 0, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}.")
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"{name} must be a finite number of seconds >= 0, got {value!r}; "
            "use 0 to cancel sends in flight at once."
        )
    return float(value)


# How many open notifiers use each provider. A provider is closed when the
# last notifier using it closes, so two notifiers may share one provider (and
# its token and connection pool) and close in any order. A threading lock,
# because notifiers on different threads may share a provider object.
_provider_users: weakref.WeakKeyDictionary[Provider, int] = weakref.WeakKeyDictionary()
_provider_users_lock = threading.Lock()


def _reset_lock_after_fork() -> None:
    # Another thread may have held the lock at fork time. The child has only
    # the forking thread, so nothing would ever release the copied lock.
    global _provider_users_lock
    _provider_users_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_reset_lock_after_fork)


def _retain(provider: Provider) -> None:
    with _provider_users_lock:
        _provider_users[provider] = _provider_users.get(provider, 0) + 1


def _release(provider: Provider) -> bool:
    """Drop one user of ``provider``; return whether it was the last one."""
    with _provider_users_lock:
        remaining = _provider_users.get(provider, 1) - 1
        if remaining > 0:
            _provider_users[provider] = remaining
            return False
        _provider_users.pop(provider, None)
        return True


def _as_provider(provider: ProviderInput) -> Provider:
    if isinstance(provider, Provider):
        return provider
    if isinstance(provider, (str, bytes)) or not isinstance(provider, Sequence):
        raise TypeError(
            f"AsyncNotifier() takes a Provider or a list of providers, got "
            f"{type(provider).__name__}; pass for example EskizProvider(...)."
        )
    providers = list(provider)
    if not providers:
        raise ConfigurationError(
            "AsyncNotifier() got an empty list of providers; pass at least one provider."
        )
    for position, item in enumerate(providers):
        if not isinstance(item, Provider):
            raise TypeError(
                f"Provider list entry {position} is a {type(item).__name__}, not a Provider; "
                "pass provider instances such as EskizProvider(...)."
            )
    return Failover(providers)


class AsyncNotifier:
    """Send messages through a provider, with tracing, metrics and observer hooks.

    ``provider`` is one provider, a routing policy, or a list of providers,
    which is wrapped in ``Failover`` (each provider tried in order until one
    accepts the message)::

        async with AsyncNotifier(EskizProvider.from_env()) as notifier:
            result = await notifier.send(Sms("+998901234567", "Kod: 4512"))

    Closing the notifier closes its provider. A provider given to several
    notifiers is closed when the last of them closes, so notifiers may share
    one provider, and with it one token and one connection pool. ``aclose()``
    first lets the sends in flight finish, for up to ``close_timeout``
    seconds; see ``aclose()``.

    Args:
        provider: a ``Provider``, a routing policy, or a list of providers.
        default_region: region used by ``build_sms()`` for numbers written
            without a country code.
        plugins: the plugin manager whose observer hooks are called; the
            process-wide one from ``get_plugin_manager()`` by default. Plugins
            installed as entry points are registered on it by
            ``load_plugins()`` or ``from_env()``, never implicitly.
        close_timeout: seconds ``aclose()`` waits for sends in flight
            before it cancels them; 10 by default.

    Each ``send()`` makes exactly one ``notifier.send`` span of kind PRODUCER
    (the provider's HTTP spans are its children), adds to the
    ``notifier.messages.sent`` or ``notifier.messages.failed`` counter and
    the ``notifier.send.duration`` histogram, and logs one INFO line.
    """

    def __init__(
        self,
        provider: ProviderInput,
        *,
        default_region: str = "UZ",
        plugins: pluggy.PluginManager | None = None,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    ) -> None:
        self._default_region = check_region(default_region)
        self._close_timeout = check_close_timeout(close_timeout, "close_timeout")
        self._provider = _as_provider(provider)
        self._plugins = plugins if plugins is not None else get_plugin_manager()
        self._state = _State.OPEN
        self._in_flight: set[_InFlight] = set()
        # Set when the last call in flight ends, while aclose() waits for that.
        self._idle: anyio.Event | None = None
        # Set when aclose() has finished, for a second aclose() that waits on it.
        self._closed_event: anyio.Event | None = None
        self._grace = self._close_timeout  # of the aclose() that runs, for its errors
        _retain(self._provider)

    def __repr__(self) -> str:
        return f"<AsyncNotifier provider={self._provider.name!r} state={self._state.value}>"

    @property
    def provider(self) -> Provider:
        """The provider or routing policy every message goes through."""
        return self._provider

    @property
    def default_region(self) -> str:
        """The region ``build_sms()`` resolves national numbers with."""
        return self._default_region

    @property
    def plugins(self) -> pluggy.PluginManager:
        """The plugin manager whose observer hooks this notifier calls."""
        return self._plugins

    @property
    def close_timeout(self) -> float:
        """Seconds ``aclose()`` waits for sends in flight before it cancels them."""
        return self._close_timeout

    @property
    def closed(self) -> bool:
        """Whether ``aclose()`` was called; true while it still waits for sends in flight."""
        return self._state is not _State.OPEN

    @classmethod
    def from_env(
        cls,
        env_file: str | Path | None = ".env",
        *,
        plugins: pluggy.PluginManager | None = None,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    ) -> Self:
        """Build a notifier from ``NOTIFIER_*`` variables and ``env_file``.

        Loads the installed plugins, builds each provider named in
        ``NOTIFIER_PROVIDER`` with its own ``from_env()``, and when several
        are named, routes between them as ``NOTIFIER_ROUTING`` sets
        (``failover`` by default). ``env_file=None`` reads the environment only.
        When a provider or the routing policy fails to build, the providers
        already built are closed before the error is raised. ``close_timeout``
        is passed to the constructor.

        Raises:
            ConfigurationError: ``NOTIFIER_PROVIDER`` is missing or names a
                provider that is not installed, a configured plugin is broken,
                or a provider's settings are missing or invalid.
        """
        check_close_timeout(close_timeout, "close_timeout")
        settings = NotifierSettings.load(env_file)
        manager = plugins if plugins is not None else get_plugin_manager()
        names = settings.provider_names
        load_plugins(manager, disabled=settings.disabled_plugins, required=names)
        classes = provider_classes(manager, required=names)
        installed = ", ".join(sorted(classes)) or "none"
        if not names:
            raise ConfigurationError(
                "NOTIFIER_PROVIDER is not set; set it to the provider to use, such as "
                f"'eskiz', or to several separated by commas. Installed providers: {installed}."
            )
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ConfigurationError(
                f"NOTIFIER_PROVIDER names {duplicates[0]!r} more than once; "
                "list each provider once."
            )
        missing = [name for name in names if name not in classes]
        if missing:
            raise ConfigurationError(
                f"NOTIFIER_PROVIDER names {missing[0]!r}, which is not installed. "
                f"Installed providers: {installed}. Install its package, e.g. "
                f"'pip install notifier-{missing[0]}'."
            )

        providers = build_providers([classes[name] for name in names], env_file)
        try:
            if len(providers) == 1:
                if settings.routing not in (None, "failover"):
                    logger.debug(
                        "NOTIFIER_ROUTING=%s has no effect with one provider", settings.routing
                    )
                provider: Provider = providers[0]
            else:
                environ = read_environ(env_file)
                environ["NOTIFIER_ROUTING"] = settings.routing or "failover"
                provider = build_policy_from_env(providers, environ)
            return cls(
                provider,
                default_region=settings.default_region,
                plugins=manager,
                close_timeout=close_timeout,
            )
        except BaseException:
            # An invalid routing variable: the providers are built but unused.
            close_unused(providers)
            raise

    def build_sms(self, to: str, body: str, **fields: Any) -> Sms:
        """Build an ``Sms``, resolving a national number with ``default_region``.

        Other ``Sms`` fields (``sender``, ``client_ref``, ...) are passed as
        keyword arguments. Raises ``InvalidMessage`` like ``Sms()`` does.
        """
        return Sms.model_validate(
            {"to": to, "body": body, **fields}, context={"region": self._default_region}
        )

    def _check_open(self) -> None:
        if self._state is not _State.OPEN:
            raise self._closed_error()

    def _closed_error(self) -> NotifierClosed:
        return NotifierClosed(
            f"This notifier is {self._state.value}, so nothing was sent; "
            "create a new one to send again."
        )

    async def send(self, message: Sms) -> SendResult:
        """Send one message and return the provider's result.

        Raises:
            InvalidMessage: the message cannot be sent as given.
            ProviderError: the provider failed, and the subclass names the cause
                (``RejectedError``, ``RateLimitedError``, ``DeliveryUnknown``, ...).
                ``DeliveryUnknown`` also when ``aclose()`` cancelled the send
                after its close timeout.
            NotifierClosed: the notifier was closed or closing before the
                send started, or the provider was closed and nothing was sent.
            TypeError: ``message`` is not an ``Sms``.
        """
        if not isinstance(message, Sms):
            raise TypeError(
                f"send() takes an Sms, got {type(message).__name__}; "
                "build one with Sms(to, body) or notifier.build_sms(to, body)."
            )
        provider = self._provider
        started_at = datetime.now(timezone.utc)
        start = time.perf_counter()
        logger.debug(
            "Sending SMS to %s via %s: client_ref=%s, %d characters",
            message.masked_to,
            provider.name,
            message.client_ref,
            len(message.body),
        )
        with _telemetry.send_span(provider.name, message) as span:
            called = False
            try:
                self._check_open()
                called = True
                result = await self._call_in_flight(provider, message)
            except NotifierError as error:
                elapsed = time.perf_counter() - start
                attempts = len(error.provider_attempts) or (1 if called else 0)
                failed_provider = _failed_provider(provider, error)
                _telemetry.mark_failed(span, error, attempts=attempts, provider=failed_provider)
                _telemetry.record_failed(failed_provider, error, elapsed)
                self._log_failure(failed_provider, message, error, elapsed)
                call_observers(self._plugins, "notifier_failed", message=message, error=error)
                raise
            except BaseException as error:
                # Cancellation (or KeyboardInterrupt): the message may or may
                # not have reached the provider, so it is counted as failed.
                elapsed = time.perf_counter() - start
                _telemetry.mark_failed(span, error)
                _telemetry.record_failed(provider.name, error, elapsed)
                logger.info(
                    "SMS to %s via %s was interrupted: status=%s, client_ref=%s",
                    message.masked_to,
                    provider.name,
                    _telemetry.error_type(error),
                    message.client_ref,
                )
                raise

            elapsed = time.perf_counter() - start
            result = _complete(result, started_at, elapsed)
            _telemetry.mark_sent(span, result)
        _telemetry.record_sent(result.provider, elapsed)
        self._log_success(message, result)
        call_observers(self._plugins, "notifier_sent", message=message, result=result)
        return result

    def _report_sending(self, message: Sms, provider: str) -> None:
        call_observers(self._plugins, "notifier_sending", message=message, provider=provider)

    def _start_in_flight(self) -> _InFlight:
        call = _InFlight()
        self._in_flight.add(call)
        return call

    def _end_in_flight(self, call: _InFlight) -> None:
        self._in_flight.discard(call)
        if not self._in_flight and self._idle is not None:
            self._idle.set()

    async def _call_in_flight(self, provider: Provider, message: Sms) -> SendResult:
        """Call the provider under a cancel scope that ``aclose()`` may cancel."""
        call = self._start_in_flight()
        try:
            with call.scope:
                try:
                    return await self._call_provider(provider, message)
                except NotifierClosed as error:
                    # A provider that met the cancellation as a closed client.
                    if not call.scope.cancel_called:
                        raise
                    raise self._cancelled_by_close(provider, message.client_ref) from error
            # Reached only when aclose() cancelled the scope; a caller's own
            # cancellation is not caught by it and propagates.
            raise self._cancelled_by_close(provider, message.client_ref)
        finally:
            self._end_in_flight(call)

    def _cancelled_by_close(self, provider: Provider, client_ref: str | None) -> DeliveryUnknown:
        return DeliveryUnknown(
            "The notifier was closed while this message was in flight, and the send did "
            f"not finish within the close timeout of {self._grace:g} s, so it was cancelled. "
            f"Provider {provider.name!r} may already have accepted it: check its status by "
            "client_ref (a delivery report or the provider's status lookup) before "
            "resending, or the recipient may get it twice.",
            provider=provider.name,
            client_ref=client_ref,
        )

    async def _call_provider(self, provider: Provider, message: Sms) -> SendResult:
        try:
            if isinstance(provider, RoutingPolicy):
                # The policy reports each vendor it tries, failover included.
                result = await provider.send(message, hook=self._report_sending)
            else:
                self._report_sending(message, provider.name)
                result = await provider.send(message)
        except NotifierError:
            raise
        except Exception as exc:
            raise _unexpected_error(provider, exc, message.client_ref) from exc
        if not isinstance(result, SendResult):
            raise ProviderError(
                f"Provider {provider.name!r} returned {type(result).__name__} instead of a "
                "SendResult; this is a bug in the provider.",
                provider=provider.name,
                client_ref=message.client_ref,
            )
        return result

    def _log_success(self, message: Sms, result: SendResult) -> None:
        logger.info(
            "Sent SMS to %s via %s: status=%s, client_ref=%s",
            message.masked_to,
            result.provider,
            result.status.value,
            result.client_ref,
        )
        logger.debug(
            "SMS %s details: message_id=%s, segments=%d, encoding=%s, attempts=%d, elapsed=%.3fs",
            result.client_ref,
            result.message_id,
            result.segments,
            result.encoding.value,
            len(result.attempts),
            result.elapsed,
        )

    def _log_failure(
        self, provider: str, message: Sms, error: NotifierError, elapsed: float
    ) -> None:
        logger.info(
            "SMS to %s via %s failed: status=%s, client_ref=%s",
            message.masked_to,
            provider,
            _telemetry.error_type(error),
            message.client_ref,
        )
        logger.debug("SMS %s failed after %.3fs: %s", message.client_ref, elapsed, error)

    async def send_many(
        self,
        messages: Iterable[Sms],
        *,
        concurrency: int = 16,
        batch: bool | None = None,
    ) -> list[SendResult | NotifierError]:
        """Send many messages; return one result or error per message, in input order.

        A failed message gets its ``NotifierError`` as its entry instead of
        raising. ``batch`` chooses how the messages go out:

        - ``None`` (the default): through the provider's batch endpoint when
          it has one (``capabilities.batch``), otherwise one ``send()`` per
          message.
        - ``False``: one ``send()`` per message even when the provider has a
          batch endpoint, for example to keep per-message retries and
          failover, or to spread requests over time.
        - ``True``: through the batch endpoint; a provider without one raises
          ``UnsupportedFeature`` before anything is sent.

        On the batch path ``send_batch()`` is called once per
        ``capabilities.max_batch_size`` messages (once for all of them when
        the provider sets no maximum), one call after another, and
        ``concurrency`` does not apply. An error raised for a whole call
        (authentication, for example) becomes the entry of every message in
        that call. Otherwise each message goes through ``send()``, at most
        ``concurrency`` at a time.

        Each ``send_batch()`` call makes one ``notifier.send_batch`` span.
        Without batching each message makes its own ``notifier.send`` span.

        When ``aclose()`` starts during the call, the messages not yet handed
        to the provider get ``NotifierClosed`` (nothing was sent), and those
        still in flight after the close timeout get ``DeliveryUnknown``.

        Raises:
            NotifierClosed: the notifier was closed before the call.
            UnsupportedFeature: ``batch=True`` and the provider has no batch
                endpoint.
            ValueError: ``concurrency`` is not a positive integer.
            TypeError: ``batch`` is not ``True``, ``False`` or ``None``.
        """
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(
                f"send_many() concurrency must be a positive integer, got {concurrency!r}."
            )
        if batch is not None and not isinstance(batch, bool):
            raise TypeError(
                f"send_many() batch must be True, False or None, got {batch!r}; None uses "
                "the provider's batch endpoint when it has one."
            )
        items = list(messages)
        self._check_open()
        provider = self._provider
        use_batch = provider.capabilities.batch if batch is None else batch
        if use_batch and not provider.capabilities.batch:
            raise UnsupportedFeature(
                f"send_many(batch=True) needs a batch endpoint, but provider "
                f"{provider.name!r} has none; pass batch=None or batch=False to send "
                "one request per message.",
                provider=provider.name,
                feature="batch",
            )

        outcomes: list[SendResult | NotifierError | None] = [None] * len(items)
        to_send: list[int] = []
        for index, item in enumerate(items):
            if isinstance(item, Sms):
                to_send.append(index)
            else:
                outcomes[index] = InvalidMessage(
                    f"send_many() entry {index} is a {type(item).__name__}, not an Sms; "
                    "build each message with Sms(to, body)."
                )

        if use_batch:
            # One send_batch() call per max_batch_size messages, one after
            # another: an error raised for a call then fails only that call's
            # messages, never messages an earlier call already handed over,
            # and the vendor sees one batch request at a time.
            size = provider.capabilities.max_batch_size or len(to_send) or 1
            for first in range(0, len(to_send), size):
                chunk = to_send[first : first + size]
                if self._state is not _State.OPEN:
                    # aclose() started: later chunks are new sends, not sends in flight.
                    for index in chunk:
                        outcomes[index] = self._closed_error()
                    continue
                chunk_outcomes = await self._send_batch(provider, [items[i] for i in chunk])
                for index, outcome in zip(chunk, chunk_outcomes, strict=True):
                    outcomes[index] = outcome
            return cast("list[SendResult | NotifierError]", outcomes)

        pending = iter(to_send)

        async def work() -> None:
            # Workers share one iterator; next() never awaits, so no two
            # workers take the same message.
            for index in pending:
                outcomes[index] = await self._send_or_error(items[index])

        async with anyio.create_task_group() as group:
            for _ in range(min(concurrency, len(to_send))):
                group.start_soon(work)
        return cast("list[SendResult | NotifierError]", outcomes)

    async def _send_or_error(self, message: Sms) -> SendResult | NotifierError:
        try:
            return await self.send(message)
        except NotifierError as error:
            return error

    async def _send_batch(
        self, provider: Provider, messages: list[Sms]
    ) -> list[SendResult | NotifierError]:
        started_at = datetime.now(timezone.utc)
        start = time.perf_counter()
        with _telemetry.batch_span(provider.name, len(messages)) as span:
            raw: Sequence[SendResult | NotifierError]
            try:
                raw = await self._call_batch_in_flight(provider, messages)
            except NotifierError as error:
                _telemetry.mark_failed(span, error)
                raw = [error] * len(messages)
            except BaseException as error:
                _telemetry.mark_failed(span, error)
                elapsed = time.perf_counter() - start
                for _message in messages:
                    _telemetry.record_failed(provider.name, error, elapsed)
                raise
            elapsed = time.perf_counter() - start

            outcomes: list[SendResult | NotifierError] = []
            for message, outcome in zip(messages, raw, strict=True):
                if isinstance(outcome, SendResult):
                    outcome = _complete(outcome, started_at, elapsed)
                    _telemetry.record_sent(outcome.provider, elapsed)
                    logger.debug(
                        "Sent SMS to %s via %s in a batch: status=%s, client_ref=%s",
                        message.masked_to,
                        outcome.provider,
                        outcome.status.value,
                        outcome.client_ref,
                    )
                    call_observers(self._plugins, "notifier_sent", message=message, result=outcome)
                else:
                    _telemetry.record_failed(provider.name, outcome, elapsed)
                    logger.debug(
                        "SMS to %s via %s failed in a batch: status=%s, client_ref=%s",
                        message.masked_to,
                        provider.name,
                        _telemetry.error_type(outcome),
                        message.client_ref,
                    )
                    call_observers(self._plugins, "notifier_failed", message=message, error=outcome)
                outcomes.append(outcome)

            failed = sum(1 for outcome in outcomes if not isinstance(outcome, SendResult))
            if span.is_recording():
                span.set_attribute("notifier.batch.failed_count", failed)
            if failed == len(outcomes) and isinstance(outcomes[0], NotifierError):
                _telemetry.mark_failed(span, outcomes[0])
        logger.info(
            "Sent batch of %d SMS via %s: %d accepted, %d failed",
            len(messages),
            provider.name,
            len(messages) - failed,
            failed,
        )
        return outcomes

    async def _call_batch_in_flight(
        self, provider: Provider, messages: list[Sms]
    ) -> list[BatchOutcome]:
        """Call the provider's batch endpoint under a cancel scope that ``aclose()`` may cancel."""
        call = self._start_in_flight()
        try:
            with call.scope:
                try:
                    return await self._call_batch(provider, messages)
                except NotifierClosed:
                    if not call.scope.cancel_called:
                        raise
            # aclose() cancelled the call: each message may have been accepted.
            return [self._cancelled_by_close(provider, message.client_ref) for message in messages]
        finally:
            self._end_in_flight(call)

    async def _call_batch(self, provider: Provider, messages: list[Sms]) -> list[BatchOutcome]:
        try:
            if isinstance(provider, RoutingPolicy):
                raw = await provider.send_batch(messages, hook=self._report_sending)
            else:
                for message in messages:
                    self._report_sending(message, provider.name)
                raw = await provider.send_batch(messages)
        except NotifierError:
            raise
        except Exception as exc:
            raise _unexpected_error(provider, exc, None) from exc
        raw = list(raw)
        if len(raw) != len(messages) or not all(
            isinstance(outcome, (SendResult, NotifierError)) for outcome in raw
        ):
            raise ProviderError(
                f"Provider {provider.name!r} returned a batch of {len(messages)} messages "
                f"as {len(raw)} entries that are not all results or errors; this is a "
                "bug in the provider.",
                provider=provider.name,
            )
        return raw

    # ASYNC109: ``timeout`` is how long sends in flight may still run before
    # aclose() cancels them and completes. It is not a deadline for aclose()
    # itself, which anyio.fail_after() would set.
    async def aclose(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Close the notifier, and its provider unless another open notifier uses it.

        Closing takes three steps:

        1. New sends raise ``NotifierClosed`` at once; nothing is sent for them.
        2. Sends already in flight go on, for up to ``timeout`` seconds
           (``close_timeout`` when ``None``), and return their result or
           error as usual.
        3. Sends still in flight after that are cancelled. Each raises
           ``DeliveryUnknown`` with its message's ``client_ref``, because the
           provider may already have accepted the message; check its status
           before resending. Then the provider is closed.

        Idempotent: a second call waits until the first one has finished.
        When the task running ``aclose()`` is cancelled, the sends in flight
        are cancelled and the provider is closed before the cancellation
        propagates.

        Raises:
            ValueError: ``timeout`` is not a finite number of seconds >= 0.
        """
        grace = self._close_timeout if timeout is None else check_close_timeout(timeout, "timeout")
        if self._state is _State.CLOSED:
            return
        if self._state is _State.CLOSING:
            assert self._closed_event is not None
            await self._closed_event.wait()
            return
        self._state = _State.CLOSING
        self._grace = grace
        self._closed_event = anyio.Event()
        try:
            if self._in_flight:
                logger.info(
                    "Closing the notifier: waiting up to %g s for %d send(s) in flight",
                    grace,
                    len(self._in_flight),
                )
                self._idle = anyio.Event()
                with anyio.move_on_after(grace):
                    await self._idle.wait()
        finally:
            with anyio.CancelScope(shield=True):
                await self._cancel_in_flight(grace)
                self._state = _State.CLOSED
                try:
                    if _release(self._provider):
                        await self._provider.aclose()
                finally:
                    self._closed_event.set()

    async def _cancel_in_flight(self, grace: float) -> None:
        """Cancel the calls still in flight and wait, within a bound, until they have unwound."""
        if not self._in_flight:
            return
        logger.warning(
            "Closing the notifier: cancelling %d send(s) still in flight after %g s; "
            "each raises DeliveryUnknown",
            len(self._in_flight),
            grace,
        )
        self._idle = anyio.Event()
        # NOTE: cancel scopes are not thread-safe, so this assumes the sends
        # run on the event loop of aclose(). Notifier runs both on its loop
        # thread; an AsyncNotifier shared across event loops is not supported.
        for call in list(self._in_flight):
            call.scope.cancel()
        with anyio.move_on_after(_UNWIND_TIMEOUT):
            await self._idle.wait()
        if self._in_flight:
            logger.warning(
                "Closing the notifier: %d cancelled send(s) still ran after %g s; "
                "closing the provider under them",
                len(self._in_flight),
                _UNWIND_TIMEOUT,
            )

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _failed_provider(provider: Provider, error: NotifierError) -> str:
    """Return the name of the provider that failed: the last one a policy tried, if any."""
    if error.provider_attempts:
        return error.provider_attempts[-1].provider
    return provider.name


def _complete(result: SendResult, started_at: datetime, elapsed: float) -> SendResult:
    """Fill ``elapsed``, and one ``Attempt`` when the provider recorded none."""
    attempts = result.attempts or (
        Attempt(provider=result.provider, outcome="sent", started_at=started_at, elapsed=elapsed),
    )
    return result.model_copy(update={"attempts": attempts, "elapsed": elapsed})


def _unexpected_error(
    provider: Provider, error: Exception, client_ref: str | None
) -> ProviderError:
    # Only the type is shown: the text of an arbitrary exception may contain
    # the number or a credential. The original stays attached as __cause__.
    kind = type(error).__qualname__
    logger.error(
        "Provider %r raised %s, which is not a notifier error; this is a bug in the provider",
        provider.name,
        kind,
    )
    return ProviderError(
        f"Provider {provider.name!r} raised {kind}, which is not a notifier error; "
        "see the exception's __cause__ and report it to the provider's authors.",
        provider=provider.name,
        client_ref=client_ref,
    )
