"""The base of every routing policy, and the attempt log that policies share.

A routing policy is a ``Provider`` that sends each message through other
providers. ``RoutingPolicy.send`` records each vendor provider tried in
``SendResult.attempts``, and in ``NotifierError.provider_attempts`` when it
raises. The policies themselves are in ``notifier._routing`` (``Failover``,
``ByCountry``, ``Weighted``) and ``notifier._circuit`` (``CircuitBreaker``).
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ._errors import (
    ConfigurationError,
    NotifierClosed,
    NotifierError,
    ProviderError,
    UnsupportedFeature,
)
from ._models import Attempt, SendResult, Sms
from ._provider import BatchOutcome, Capabilities, Provider

__all__ = ["NoRouteError", "RoutingPolicy", "SendingHook"]

logger = logging.getLogger("notifier")

SendingHook = Callable[[Sms, str], None]
"""Called with the message and the vendor provider's name just before that provider sends it."""


class NoRouteError(ConfigurationError):
    """A routing policy has no provider for the recipient's region.

    ``region`` is the ISO alpha-2 region of the number, or ``None`` when it
    could not be determined. The message names the region and the policy,
    never the number.
    """

    def __init__(self, message: str, *, region: str | None, policy: str) -> None:
        super().__init__(message)
        self.region = region
        self.policy = policy


# --- the attempt log shared by every policy that handles one message ---


@dataclass
class _AttemptLog:
    """Attempts made for one message across a tree of policies, and the hook to call."""

    hook: SendingHook | None
    attempts: list[Attempt] = field(default_factory=list)

    def notify_sending(self, message: Sms, provider: str) -> None:
        if self.hook is None:
            return
        try:
            self.hook(message, provider)
        except Exception:
            # Observers must not stop a send.
            logger.error(
                "Sending hook failed for provider %s, client_ref %s. Sending anyway.",
                provider,
                message.client_ref,
                exc_info=True,
            )

    def record(
        self,
        provider: str,
        started_at: datetime,
        started: float,
        error: BaseException | None,
    ) -> None:
        self.attempts.append(
            Attempt(
                provider=provider,
                outcome="sent" if error is None else type(error).__name__,
                error=None if error is None else str(error),
                started_at=started_at,
                elapsed=time.perf_counter() - started,
            )
        )


def _now() -> tuple[datetime, float]:
    return datetime.now(timezone.utc), time.perf_counter()


async def _dispatch(provider: Provider, message: Sms, log: _AttemptLog) -> SendResult:
    """Send ``message`` through ``provider``, recording an attempt when it is a vendor.

    A nested policy is entered directly, so it shares the log of the outermost one.
    """
    if isinstance(provider, RoutingPolicy):
        provider._check_open()
        return await provider._route(message, log)

    log.notify_sending(message, provider.name)
    started_at, started = _now()
    try:
        result = await provider.send(message)
    except Exception as error:
        log.record(provider.name, started_at, started, error)
        raise
    log.record(provider.name, started_at, started, None)
    return result


async def _dispatch_batch(
    provider: Provider, messages: list[Sms], logs: list[_AttemptLog]
) -> list[BatchOutcome]:
    """Send a batch through ``provider``, recording one attempt per message."""
    if isinstance(provider, RoutingPolicy):
        provider._check_open()
        return await provider._route_batch(messages, logs)

    for message, log in zip(messages, logs, strict=True):
        log.notify_sending(message, provider.name)
    started_at, started = _now()
    try:
        outcomes = await provider.send_batch(messages)
    except Exception as error:
        for log in logs:
            log.record(provider.name, started_at, started, error)
        raise
    if len(outcomes) != len(messages):
        raise ProviderError(
            f"Provider {provider.name!r} returned {len(outcomes)} outcomes for a batch of "
            f"{len(messages)} messages. This is a bug in the provider. Check each message's "
            "status by client_ref before resending.",
            provider=provider.name,
        )
    for outcome, log in zip(outcomes, logs, strict=True):
        failure = outcome if isinstance(outcome, ProviderError) else None
        log.record(provider.name, started_at, started, failure)
    return outcomes


# --- the base class ---


class RoutingPolicy(Provider):
    """Base class of providers that send each message through other providers.

    Subclasses set ``_name`` and ``_capabilities`` in ``__init__`` and
    implement ``children`` and ``_route`` (and ``_route_batch`` when they
    support batches). ``send`` records every vendor provider tried, in
    order, in ``SendResult.attempts`` and, when it raises, in the error's
    ``provider_attempts``.

    ``send(message, hook=...)`` calls ``hook(message, provider_name)`` just
    before each vendor provider's ``send`` call, so an observer gets one
    call per attempt, failover included. A provider skipped by an open
    circuit is recorded as an attempt but not passed to the hook, because
    its ``send`` is never called. ``AsyncNotifier`` passes its
    ``notifier_sending`` relay this way.
    """

    _name: str
    _capabilities: Capabilities

    def __init__(self) -> None:
        self._closed = False

    # Provider declares ``name`` and ``capabilities`` as class variables
    # because a vendor's are fixed, but a policy's depend on its children.
    @property
    def name(self) -> str:  # type: ignore[override]
        """The policy's name with its children's, e.g. ``"failover(eskiz,twilio)"``."""
        return self._name

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        """Capabilities every route has, with ``countries`` the union of the routes' regions."""
        return self._capabilities

    @property
    @abc.abstractmethod
    def children(self) -> tuple[Provider, ...]:
        """The providers this policy routes to, each once, in routing order."""

    @abc.abstractmethod
    async def _route(self, message: Sms, log: _AttemptLog) -> SendResult:
        """Send ``message`` through the children with ``_dispatch``."""

    async def _route_batch(
        self, messages: list[Sms], logs: list[_AttemptLog]
    ) -> list[BatchOutcome]:
        raise UnsupportedFeature(
            f"Routing policy {self.name!r} does not route batches. Send the messages one by one.",
            provider=self.name,
            feature="batch",
        )

    async def send(self, message: Sms, *, hook: SendingHook | None = None) -> SendResult:
        """Route one message, calling ``hook`` before each vendor attempt (see the class doc)."""
        self._check_open()
        log = _AttemptLog(hook)
        try:
            result = await self._route(message, log)
        except NotifierError as error:
            error.provider_attempts = tuple(log.attempts)
            raise
        return result.model_copy(update={"attempts": tuple(log.attempts)})

    async def send_batch(
        self, messages: Sequence[Sms], *, hook: SendingHook | None = None
    ) -> list[BatchOutcome]:
        """Route a batch, which works only when every route has a batch endpoint.

        Each ``SendResult`` carries the attempts made for its message. An
        error in the list is the error of the last provider tried for that
        message.
        """
        self._check_open()
        if not self.capabilities.batch:
            raise UnsupportedFeature(
                f"Routing policy {self.name!r} cannot send batches because not every "
                "provider it routes to has a batch endpoint. Use AsyncNotifier.send_many(), "
                "which falls back to concurrent sends.",
                provider=self.name,
                feature="batch",
            )
        batch = list(messages)
        logs = [_AttemptLog(hook) for _ in batch]
        outcomes = await self._route_batch(batch, logs)
        return [
            outcome.model_copy(update={"attempts": tuple(log.attempts)})
            if isinstance(outcome, SendResult)
            else outcome
            for outcome, log in zip(outcomes, logs, strict=True)
        ]

    async def aclose(self) -> None:
        """Close every provider in the tree once, even when it appears under several routes.

        The first error raised by a provider's ``aclose`` is re-raised after
        the others were closed.
        """
        if self._closed:
            return
        first_error: Exception | None = None
        for node in _walk_unique(self):
            if isinstance(node, RoutingPolicy):
                node._closed = True
                continue
            try:
                await node.aclose()
            except Exception as error:
                logger.error("Closing provider %s failed: %s", node.name, error)
                if first_error is None:
                    first_error = error
        if first_error is not None:
            raise first_error

    def _check_open(self) -> None:
        if self._closed:
            raise NotifierClosed(
                f"Routing policy {self.name!r} is closed. Build a new one to send again."
            )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def _walk_unique(root: Provider) -> Iterator[Provider]:
    """Yield every provider in the tree under ``root`` once, parents before children."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, RoutingPolicy):
            stack.extend(reversed(node.children))


def _check_provider(value: object, where: str) -> Provider:
    if not isinstance(value, Provider):
        raise ConfigurationError(
            f"{where} must be a notifier Provider, got {type(value).__name__}. "
            "Pass a provider instance such as EskizProvider(...)."
        )
    return value


def _unique(providers: Sequence[Provider]) -> tuple[Provider, ...]:
    seen: set[int] = set()
    result = []
    for provider in providers:
        if id(provider) not in seen:
            seen.add(id(provider))
            result.append(provider)
    return tuple(result)


def _combine_capabilities(
    children: Sequence[Provider], countries: frozenset[str] | bool | None = True
) -> Capabilities:
    """Return the capabilities every child has.

    ``countries`` is the union of the children's regions unless given.
    """
    caps = [child.capabilities for child in children]
    batch = all(cap.batch for cap in caps)
    sizes = [cap.max_batch_size for cap in caps if cap.max_batch_size is not None]
    if countries is True:
        countries = _union_countries(caps)
    return Capabilities(
        unicode=all(cap.unicode for cap in caps),
        batch=batch,
        max_batch_size=min(sizes) if batch and sizes else None,
        delivery_reports=all(cap.delivery_reports for cap in caps),
        countries=countries if isinstance(countries, frozenset) else None,
    )


def _union_countries(caps: Sequence[Capabilities]) -> frozenset[str] | None:
    regions: set[str] = set()
    for cap in caps:
        if cap.countries is None:
            return None
        regions |= cap.countries
    return frozenset(regions)
