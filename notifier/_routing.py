"""Routing policies: providers that send each message through other providers.

A routing policy is a ``Provider``, so policies nest and ``AsyncNotifier``
accepts one wherever it accepts a vendor provider::

    Failover([eskiz, twilio])                         # Eskiz first, Twilio when it fails
    ByCountry({"UZ": eskiz}, default=twilio)          # Uzbek numbers through Eskiz
    Weighted({eskiz: 90, twilio: 10})                 # 10 % of messages to Twilio
    ByCountry({"UZ": Failover([eskiz, twilio])}, default=twilio)

Every policy records each provider it tried in ``SendResult.attempts``, and
in ``NotifierError.provider_attempts`` when it raises. ``CircuitBreaker``
guards one provider; ``Failover`` wraps each of its vendor providers in one
by default. ``provider_health`` reads the breakers of a policy tree, and
``build_policy_from_env`` builds a policy from ``NOTIFIER_ROUTING*``
variables.
"""

from __future__ import annotations

import abc
import bisect
import hashlib
import logging
import math
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import phonenumbers

from ._circuit import Circuit, CircuitState, Clock, Permit
from ._errors import (
    AuthenticationError,
    CircuitOpen,
    ConfigurationError,
    DeliveryUnknown,
    InvalidMessage,
    NotifierClosed,
    NotifierError,
    ProviderError,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
    UnsupportedFeature,
)
from ._models import Attempt, SendResult, Sms
from ._phone import phone_region
from ._provider import BatchOutcome, Capabilities, Provider

__all__ = [
    "DEFAULT_FAILURE_TYPES",
    "ByCountry",
    "CircuitBreaker",
    "Failover",
    "NoRouteError",
    "ProviderHealth",
    "RoutingPolicy",
    "SendingHook",
    "Weighted",
    "build_policy_from_env",
    "provider_health",
]

logger = logging.getLogger("notifier")

SendingHook = Callable[[Sms, str], None]
"""Called with the message and the vendor provider's name just before that provider sends it."""

BreakerFactory = Callable[[Provider], Provider]

DEFAULT_FAILURE_TYPES: tuple[type[NotifierError], ...] = (
    ProviderUnavailable,
    RateLimitedError,
    DeliveryUnknown,
)
"""Errors a ``CircuitBreaker`` counts as failures of its provider by default."""


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
                "Sending hook failed for provider %s, client_ref %s; sending anyway",
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
            f"{len(messages)} messages; this is a bug in the provider. Check each message's "
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
    before each vendor provider is asked to send, so an observer gets one
    call per attempt, failover included. A provider skipped by an open
    circuit is recorded as an attempt but not passed to the hook, because it
    is never asked to send. ``AsyncNotifier`` passes its
    ``notifier_sending`` relay this way.
    """

    _name: str
    _capabilities: Capabilities

    def __init__(self) -> None:
        self._closed = False

    # Provider declares ``name`` and ``capabilities`` as class variables
    # because a vendor's are fixed; a policy's depend on its children.
    @property
    def name(self) -> str:  # type: ignore[override]
        """The policy's name with its children's, e.g. ``"failover(eskiz,twilio)"``."""
        return self._name

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        """What every route can do; ``countries`` is the union of the routes' regions."""
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
            f"Routing policy {self.name!r} does not route batches; send the messages one by one.",
            provider=self.name,
            feature="batch",
        )

    async def send(self, message: Sms, *, hook: SendingHook | None = None) -> SendResult:
        """Route one message; ``hook`` observes each vendor attempt (see the class docstring)."""
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
        """Route a batch; available only when every route has a batch endpoint.

        Each ``SendResult`` carries the attempts made for its message. An
        error in the list is the error of the last provider tried for that
        message.
        """
        self._check_open()
        if not self.capabilities.batch:
            raise UnsupportedFeature(
                f"Routing policy {self.name!r} cannot send batches because not every "
                "provider it routes to has a batch endpoint; use AsyncNotifier.send_many(), "
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
                f"Routing policy {self.name!r} is closed; build a new one to send again."
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
            f"{where} must be a notifier Provider, got {type(value).__name__}; "
            "pass a provider instance such as EskizProvider(...)."
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
    """Capabilities every child has; ``countries`` is the children's union unless given."""
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


# --- circuit breaker ---


class CircuitBreaker(RoutingPolicy):
    """Stop sending to a provider that keeps failing, and probe it again later.

    Counts consecutive failures of ``provider``. After ``failure_threshold``
    of them the circuit opens: ``send`` raises ``CircuitOpen`` (a
    ``ProviderUnavailable``, so ``Failover`` moves on) without touching the
    provider. ``reset_timeout`` seconds later, measured with ``clock``, one
    request is let through as a probe; callers that arrive while it is in
    flight get ``CircuitOpen``. The probe's success closes the circuit; its
    failure opens it for another ``reset_timeout``.

    Failures are the errors in ``failure_types``: by default
    ``ProviderUnavailable``, ``RateLimitedError`` and ``DeliveryUnknown``. A
    ``DeliveryUnknown`` counts because a timeout is a sign of trouble, but
    ``Failover`` still never resends after it. A sent message and a
    ``RejectedError`` reset the count, because a rejection shows that the
    vendor processed the request. Any other outcome, such as ``AuthenticationError``,
    ``InvalidMessage`` or cancellation, leaves the count unchanged.

    The breaker takes the name and capabilities of its provider, so
    ``SendResult.provider`` and attempt records show the vendor.
    """

    def __init__(
        self,
        provider: Provider,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        clock: Clock = time.monotonic,
        failure_types: tuple[type[BaseException], ...] = DEFAULT_FAILURE_TYPES,
    ) -> None:
        super().__init__()
        self.provider = _check_provider(provider, "CircuitBreaker(provider)")
        self.circuit = Circuit(
            self.provider.name,
            failure_threshold=failure_threshold,
            reset_timeout=reset_timeout,
            clock=clock,
        )
        self.failure_types = failure_types
        self._name = self.provider.name
        self._capabilities = self.provider.capabilities

    @property
    def children(self) -> tuple[Provider, ...]:
        return (self.provider,)

    @property
    def state(self) -> CircuitState:
        """The circuit's state; see ``Circuit.state``."""
        return self.circuit.state

    def reset(self) -> None:
        """Close the circuit and clear its failure count."""
        self.circuit.reset()

    async def _route(self, message: Sms, log: _AttemptLog) -> SendResult:
        started_at, started = _now()
        try:
            permit = self.circuit.acquire(message.client_ref)
        except CircuitOpen as error:
            log.record(self.name, started_at, started, error)
            raise

        try:
            result = await _dispatch(self.provider, message, log)
        except BaseException as error:
            self._settle_error(permit, error)
            raise
        self.circuit.record_success(permit)
        return result

    async def _route_batch(
        self, messages: list[Sms], logs: list[_AttemptLog]
    ) -> list[BatchOutcome]:
        started_at, started = _now()
        client_ref = messages[0].client_ref if len(messages) == 1 else None
        try:
            permit = self.circuit.acquire(client_ref)
        except CircuitOpen as error:
            for log in logs:
                log.record(self.name, started_at, started, error)
            raise

        try:
            outcomes = await _dispatch_batch(self.provider, messages, logs)
        except BaseException as error:
            self._settle_error(permit, error)
            raise
        # One batch request counts as one outcome: healthy if the vendor
        # accepted or judged any message, failed if every message failed.
        if any(isinstance(outcome, (SendResult, RejectedError)) for outcome in outcomes):
            self.circuit.record_success(permit)
        elif outcomes and all(isinstance(outcome, self.failure_types) for outcome in outcomes):
            self.circuit.record_failure(permit)
        else:
            self.circuit.release(permit)
        return outcomes

    def _settle_error(self, permit: Permit, error: BaseException) -> None:
        if isinstance(error, self.failure_types):
            self.circuit.record_failure(permit)
        elif isinstance(error, RejectedError):
            self.circuit.record_success(permit)
        else:
            self.circuit.release(permit)


# --- failover ---


def _default_breaker(provider: Provider) -> Provider:
    return CircuitBreaker(provider)


class Failover(RoutingPolicy):
    """Try providers in order until one accepts the message.

    ``Failover`` moves to the next provider only when the error proves the
    message was not accepted: ``ProviderUnavailable`` (including
    ``CircuitOpen``), ``RateLimitedError`` and ``AuthenticationError``, and
    ``RejectedError`` when ``fail_over_on_rejection`` is true. Any other
    error is raised at once:

    - ``DeliveryUnknown``: the first provider may have sent the SMS, and a
      second one would send it again.
    - ``RejectedError`` by default: the vendor judged the message (blacklist,
      moderation, balance); set ``fail_over_on_rejection=True`` to let the
      next vendor judge it too.
    - ``ConfigurationError`` (``NoRouteError`` included), ``InvalidMessage``,
      ``UnsupportedFeature``, ``NotifierClosed``: the set-up or the message
      must be fixed; skipping to another provider would hide that.
    - ``CancelledError`` is never caught.

    Every attempt gets the same ``Sms`` object, so the ``client_ref`` is the
    same at every vendor. A provider whose ``capabilities.countries`` does
    not cover the number's region is skipped without an attempt; when none
    covers it, ``NoRouteError`` is raised. When every provider fails, the
    last provider's error is raised with its own type, and its
    ``provider_attempts`` lists each provider tried.

    ``breaker`` wraps each vendor provider (not nested policies, and not
    providers that already are a ``CircuitBreaker``): ``CircuitBreaker``
    with its defaults unless given, e.g.
    ``breaker=lambda p: CircuitBreaker(p, failure_threshold=3)``; ``None``
    disables it.
    """

    def __init__(
        self,
        providers: Sequence[Provider],
        *,
        fail_over_on_rejection: bool = False,
        breaker: BreakerFactory | None = _default_breaker,
    ) -> None:
        super().__init__()
        if isinstance(providers, Provider) or not isinstance(providers, Sequence):
            raise ConfigurationError(
                f"Failover() takes a list of providers, got {type(providers).__name__}; "
                "pass for example Failover([eskiz, twilio])."
            )
        if not providers:
            raise ConfigurationError(
                "Failover() got an empty list of providers; pass at least one provider."
            )
        checked = [
            _check_provider(provider, f"Failover() provider #{index + 1}")
            for index, provider in enumerate(providers)
        ]
        if len(_unique(checked)) != len(checked):
            names = ", ".join(provider.name for provider in checked)
            raise ConfigurationError(
                f"Failover() got the same provider instance more than once ({names}); "
                "list each provider once."
            )
        self.fail_over_on_rejection = fail_over_on_rejection
        self._children = tuple(
            provider
            if breaker is None or isinstance(provider, RoutingPolicy)
            else breaker(provider)
            for provider in checked
        )
        self._name = f"failover({','.join(child.name for child in self._children)})"
        self._capabilities = _combine_capabilities(self._children)

    @property
    def children(self) -> tuple[Provider, ...]:
        return self._children

    def should_fail_over(self, error: BaseException) -> bool:
        """Return True when ``error`` proves the message was not accepted by this provider."""
        # InvalidMessage comes first: a vendor error may be both InvalidMessage
        # and RejectedError (Twilio's invalid recipient), and a bad number is
        # bad at every vendor, whatever fail_over_on_rejection says.
        if isinstance(error, (DeliveryUnknown, InvalidMessage)):
            return False
        if isinstance(error, RejectedError):
            return self.fail_over_on_rejection
        return isinstance(error, (ProviderUnavailable, RateLimitedError, AuthenticationError))

    def _candidates(self, message: Sms) -> list[Provider]:
        region = phone_region(message.to)
        candidates = [child for child in self._children if child.capabilities.covers(region)]
        if not candidates:
            raise NoRouteError(
                f"No provider in {self.name} delivers to region {region or 'unknown'}; "
                "add a provider that covers it, or check the providers' countries.",
                region=region,
                policy=self.name,
            )
        return candidates

    async def _route(self, message: Sms, log: _AttemptLog) -> SendResult:
        candidates = self._candidates(message)
        last_error: NotifierError | None = None
        for index, child in enumerate(candidates):
            try:
                return await _dispatch(child, message, log)
            except NotifierError as error:
                if not self.should_fail_over(error):
                    raise
                last_error = error
                if index + 1 < len(candidates):
                    _log_failover(child, error, candidates[index + 1], message.client_ref)
        assert last_error is not None
        raise last_error

    async def _route_batch(
        self, messages: list[Sms], logs: list[_AttemptLog]
    ) -> list[BatchOutcome]:
        candidates = [self._candidates(message) for message in messages]
        outcomes: list[BatchOutcome | None] = [None] * len(messages)
        last_errors: dict[int, ProviderError] = {}
        for child in self._children:
            indices = [
                i for i in range(len(messages)) if outcomes[i] is None and child in candidates[i]
            ]
            if not indices:
                continue
            try:
                answers = await _dispatch_batch(
                    child, [messages[i] for i in indices], [logs[i] for i in indices]
                )
            except ProviderError as error:
                # NOTE: an error that is not a ProviderError (NotifierClosed,
                # ConfigurationError) is raised even when an earlier provider
                # already accepted part of the batch. The caller then loses
                # the results of those accepted messages.
                answers = [error] * len(indices)
            for i, answer in zip(indices, answers, strict=True):
                if isinstance(answer, ProviderError) and self.should_fail_over(answer):
                    last_errors[i] = answer
                else:
                    outcomes[i] = answer
        # Every message had at least one candidate, so it has either an
        # outcome or a last error.
        return [
            outcome if outcome is not None else last_errors[i] for i, outcome in enumerate(outcomes)
        ]


def _log_failover(
    failed: Provider, error: NotifierError, following: Provider, client_ref: str
) -> None:
    if isinstance(error, CircuitOpen):
        # The circuit logged a warning when it opened; one line per skipped
        # message would repeat it for every send.
        logger.debug(
            "Skipping provider %s for client_ref %s: circuit open; trying %s",
            failed.name,
            client_ref,
            following.name,
        )
        return
    logger.warning(
        "Provider %s failed for client_ref %s with %s: %s; failing over to %s",
        failed.name,
        client_ref,
        type(error).__name__,
        error,
        following.name,
    )


# --- routing by country ---

_PREFIX = re.compile(r"\+[1-9]\d{0,14}")


class ByCountry(RoutingPolicy):
    """Route each message by the recipient's region or number prefix.

    ``routes`` maps ISO alpha-2 regions (``"UZ"``) to providers. ``prefixes``
    maps E.164 prefixes (``"+99890"``) to providers; the longest matching
    prefix wins over the region, and the region wins over ``default``. A
    message with no route and no default raises ``NoRouteError``, which
    names the region but not the number. So does a message whose route
    leads to a provider that does not cover the region
    (``capabilities.countries``).

    For a route that falls back to another vendor, nest a policy:
    ``ByCountry({"UZ": Failover([eskiz, twilio])}, default=twilio)``.
    """

    def __init__(
        self,
        routes: Mapping[str, Provider] | None = None,
        *,
        default: Provider | None = None,
        prefixes: Mapping[str, Provider] | None = None,
    ) -> None:
        super().__init__()
        self.routes = _check_region_routes(routes or {})
        self.prefixes = _check_prefix_routes(prefixes or {})
        self.default = None if default is None else _check_provider(default, "ByCountry(default)")
        if not self.routes and not self.prefixes and self.default is None:
            raise ConfigurationError(
                "ByCountry() got no routes, no prefixes and no default; pass for example "
                'ByCountry({"UZ": eskiz}, default=twilio).'
            )
        # Longest prefix first, so the first match is the most specific rule.
        self._prefix_order = sorted(self.prefixes, key=len, reverse=True)
        self._children = _unique(
            [*self.prefixes.values(), *self.routes.values()]
            + ([self.default] if self.default is not None else [])
        )
        self._name = f"by-country({','.join(child.name for child in self._children)})"
        self._capabilities = _combine_capabilities(self._children, self._covered_regions())

    @property
    def children(self) -> tuple[Provider, ...]:
        return self._children

    def route_for(self, message: Sms) -> Provider:
        """Return the provider that ``message`` goes to, or raise ``NoRouteError``."""
        region = phone_region(message.to)
        target = self._match_prefix(message.to)
        if target is None and region is not None:
            target = self.routes.get(region)
        if target is None:
            target = self.default
        if target is None:
            known = ", ".join(sorted(self.routes)) or "none"
            raise NoRouteError(
                f"{self.name} has no route for region {region or 'unknown'} "
                f"(routes: {known}) and no default; add a route for it or pass default=.",
                region=region,
                policy=self.name,
            )
        if not target.capabilities.covers(region):
            raise NoRouteError(
                f"{self.name} routes region {region or 'unknown'} to {target.name}, "
                "which does not deliver there; route that region to another provider.",
                region=region,
                policy=self.name,
            )
        return target

    async def _route(self, message: Sms, log: _AttemptLog) -> SendResult:
        return await _dispatch(self.route_for(message), message, log)

    async def _route_batch(
        self, messages: list[Sms], logs: list[_AttemptLog]
    ) -> list[BatchOutcome]:
        return await _send_grouped(
            [self.route_for(message) for message in messages], messages, logs
        )

    def _match_prefix(self, number: str) -> Provider | None:
        for prefix in self._prefix_order:
            if number.startswith(prefix):
                return self.prefixes[prefix]
        return None

    def _covered_regions(self) -> frozenset[str] | None:
        if self.default is not None:
            return _union_countries([child.capabilities for child in self._children])
        regions = set(self.routes)
        for prefix, provider in self.prefixes.items():
            prefix_regions = _prefix_regions(prefix)
            if provider.capabilities.countries is not None:
                prefix_regions &= provider.capabilities.countries
            regions |= prefix_regions
        return frozenset(regions)


def _check_region_routes(routes: Mapping[str, Provider]) -> dict[str, Provider]:
    checked: dict[str, Provider] = {}
    for key, provider in routes.items():
        region = key.strip().upper() if isinstance(key, str) else ""
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigurationError(
                f"ByCountry() route {key!r} is not an ISO 3166 alpha-2 region; "
                "use a code such as 'UZ', or put an E.164 prefix such as '+99890' in prefixes=."
            )
        if region in checked:
            raise ConfigurationError(
                f"ByCountry() got region {region!r} twice; give each region one route."
            )
        target = _check_provider(provider, f"ByCountry() route {region!r}")
        if not target.capabilities.covers(region):
            covered = ", ".join(sorted(target.capabilities.countries or ()))
            raise ConfigurationError(
                f"ByCountry() routes region {region!r} to {target.name}, which does not "
                f"deliver there (it covers {covered}); route the region to another provider."
            )
        checked[region] = target
    return checked


def _check_prefix_routes(prefixes: Mapping[str, Provider]) -> dict[str, Provider]:
    checked: dict[str, Provider] = {}
    for key, provider in prefixes.items():
        prefix = key.strip() if isinstance(key, str) else ""
        if not _PREFIX.fullmatch(prefix):
            raise ConfigurationError(
                f"ByCountry() prefix {key!r} is not an E.164 prefix; write '+' and the "
                "leading digits of the number, such as '+99890'."
            )
        if prefix in checked:
            raise ConfigurationError(
                f"ByCountry() got prefix {prefix!r} twice; give each prefix one route."
            )
        checked[prefix] = _check_provider(provider, f"ByCountry() prefix {prefix!r}")
    return checked


def _prefix_regions(prefix: str) -> set[str]:
    """Regions whose country calling code starts ``prefix``, or every region for a short prefix."""
    digits = prefix[1:]
    for length in (1, 2, 3):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:length]))
        if regions and len(digits) >= length:
            return set(regions)
    return set(phonenumbers.SUPPORTED_REGIONS)


async def _send_grouped(
    targets: list[Provider], messages: list[Sms], logs: list[_AttemptLog]
) -> list[BatchOutcome]:
    """Send each message to its target, one batch per target, and keep the input order."""
    groups: dict[int, tuple[Provider, list[int]]] = {}
    for index, target in enumerate(targets):
        groups.setdefault(id(target), (target, []))[1].append(index)

    outcomes: list[BatchOutcome | None] = [None] * len(messages)
    for target, indices in groups.values():
        try:
            answers = await _dispatch_batch(
                target, [messages[i] for i in indices], [logs[i] for i in indices]
            )
        except ProviderError as error:
            # Other groups may already be accepted, so the error becomes each
            # message's outcome instead of hiding their results.
            answers = [error] * len(indices)
        for i, answer in zip(indices, answers, strict=True):
            outcomes[i] = answer
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


# --- weighted split ---

_Weights = Mapping[Provider, float] | Sequence[tuple[Provider, float]]


class Weighted(RoutingPolicy):
    """Split traffic between providers by weight, e.g. for a gradual migration.

    ``Weighted({eskiz: 90, twilio: 10})`` sends about 90 % of messages
    through Eskiz. Weights are non-negative numbers; only their ratio
    matters, and a weight of 0 sends nothing to that provider.

    The choice is sticky by default: it is derived from a hash of the
    message's ``client_ref`` (salted with ``seed``), so a message resent with
    the same ``client_ref`` goes to the same provider, whose duplicate check
    can then recognise it. With ``sticky=False`` each message draws from
    ``random.Random(seed)``. Providers whose ``capabilities.countries`` do
    not cover the number's region are left out of the draw.

    ``Weighted`` never retries on another provider; wrap it for that, e.g.
    ``Failover([Weighted({eskiz: 90, twilio: 10}), twilio])``.
    """

    def __init__(self, weights: _Weights, *, seed: int | None = None, sticky: bool = True) -> None:
        super().__init__()
        pairs = _check_weights(weights)
        self.weights: dict[Provider, float] = dict(pairs)
        self.seed = seed
        self.sticky = sticky
        self._pairs = pairs
        # blake2b keys are limited to 64 bytes, so the seed is hashed to a fixed-size key.
        self._salt = b"" if seed is None else hashlib.sha256(str(seed).encode()).digest()
        self._random = random.Random(seed)  # noqa: S311 - traffic split, not security
        self._children = tuple(provider for provider, _ in pairs)
        self._name = "weighted({})".format(
            ",".join(f"{provider.name}:{weight:g}" for provider, weight in pairs)
        )
        active = [provider for provider, weight in pairs if weight > 0]
        self._capabilities = _combine_capabilities(
            self._children, _union_countries([provider.capabilities for provider in active])
        )

    @property
    def children(self) -> tuple[Provider, ...]:
        return self._children

    def choose(self, message: Sms) -> Provider:
        """Return the provider ``message`` goes to, or raise ``NoRouteError``."""
        region = phone_region(message.to)
        candidates = [
            (provider, weight)
            for provider, weight in self._pairs
            if weight > 0 and provider.capabilities.covers(region)
        ]
        if not candidates:
            raise NoRouteError(
                f"No provider with a positive weight in {self.name} delivers to region "
                f"{region or 'unknown'}; give a provider that covers it a weight above 0.",
                region=region,
                policy=self.name,
            )
        cumulative = []
        total = 0.0
        for _, weight in candidates:
            total += weight
            cumulative.append(total)
        point = self._draw(message.client_ref) * total
        index = min(bisect.bisect_right(cumulative, point), len(candidates) - 1)
        return candidates[index][0]

    def _draw(self, client_ref: str) -> float:
        """Return a number in [0, 1): from the client_ref's hash when sticky, else random."""
        if not self.sticky:
            return self._random.random()
        digest = hashlib.blake2b(client_ref.encode(), digest_size=8, key=self._salt).digest()
        return int.from_bytes(digest, "big") / 2**64

    async def _route(self, message: Sms, log: _AttemptLog) -> SendResult:
        return await _dispatch(self.choose(message), message, log)

    async def _route_batch(
        self, messages: list[Sms], logs: list[_AttemptLog]
    ) -> list[BatchOutcome]:
        return await _send_grouped([self.choose(message) for message in messages], messages, logs)


def _check_weights(weights: _Weights) -> list[tuple[Provider, float]]:
    items = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
    if not items:
        raise ConfigurationError(
            "Weighted() got no providers; pass for example Weighted({eskiz: 90, twilio: 10})."
        )
    pairs: list[tuple[Provider, float]] = []
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise ConfigurationError(
                f"Weighted() entries must be (provider, weight) pairs, got {item!r}."
            )
        provider = _check_provider(item[0], "Weighted() provider")
        weight = item[1]
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not math.isfinite(weight)
            or weight < 0
        ):
            raise ConfigurationError(
                f"Weighted() weight for {provider.name} must be a number of 0 or more, "
                f"got {weight!r}; pass for example 90."
            )
        pairs.append((provider, float(weight)))
    if len(_unique([provider for provider, _ in pairs])) != len(pairs):
        raise ConfigurationError(
            "Weighted() got the same provider instance more than once; give each provider "
            "one weight."
        )
    if not any(weight > 0 for _, weight in pairs):
        raise ConfigurationError(
            "Weighted() needs at least one weight above 0, got only zeros; "
            "give the provider that should carry the traffic a positive weight."
        )
    return pairs


# --- health ---


@dataclass(frozen=True)
class ProviderHealth:
    """Circuit state of one vendor provider inside a routing tree.

    ``path`` names the policies above the provider, outermost first.
    ``state`` is ``None`` when no circuit breaker guards the provider, and
    the other circuit fields are then zero or ``None``. ``opened_at`` is the
    UTC time the circuit last opened, and ``retry_in`` the seconds until a
    probe is allowed. Both are ``None`` while the circuit is closed.
    """

    provider: str
    path: tuple[str, ...]
    state: CircuitState | None
    consecutive_failures: int = 0
    failure_threshold: int | None = None
    opened_at: datetime | None = None
    retry_in: float | None = None

    @property
    def available(self) -> bool:
        """Whether the next message may be sent to the provider."""
        return self.state is not CircuitState.OPEN


def provider_health(provider: Provider) -> list[ProviderHealth]:
    """Report the circuit state of every vendor provider under ``provider``.

    Walks nested policies depth first, in routing order. A provider that
    appears under several routes is reported once per breaker that guards
    it, or once if none does. A breaker around a whole policy is reported
    under the policy's name before the providers inside it.
    """
    report: list[ProviderHealth] = []
    seen: set[tuple[int, int]] = set()
    _collect_health(provider, (), None, report, seen)
    return report


def _collect_health(
    node: Provider,
    path: tuple[str, ...],
    breaker: CircuitBreaker | None,
    report: list[ProviderHealth],
    seen: set[tuple[int, int]],
) -> None:
    if isinstance(node, CircuitBreaker):
        _collect_health(node.provider, path, node, report, seen)
        return

    key = (id(node), id(breaker))
    is_policy = isinstance(node, RoutingPolicy)
    if key not in seen and (breaker is not None or not is_policy):
        seen.add(key)
        report.append(_health_entry(node.name, path, breaker))
    if isinstance(node, RoutingPolicy):
        for child in node.children:
            _collect_health(child, (*path, node.name), None, report, seen)


def _health_entry(
    name: str, path: tuple[str, ...], breaker: CircuitBreaker | None
) -> ProviderHealth:
    if breaker is None:
        return ProviderHealth(provider=name, path=path, state=None)
    snapshot = breaker.circuit.snapshot()
    return ProviderHealth(
        provider=name,
        path=path,
        state=snapshot.state,
        consecutive_failures=snapshot.consecutive_failures,
        failure_threshold=snapshot.failure_threshold,
        opened_at=snapshot.opened_at,
        retry_in=snapshot.retry_in,
    )


# --- configuration from the environment ---

ROUTING_ENV = "NOTIFIER_ROUTING"
COUNTRIES_ENV = "NOTIFIER_ROUTING_COUNTRIES"
WEIGHTS_ENV = "NOTIFIER_ROUTING_WEIGHTS"
THRESHOLD_ENV = "NOTIFIER_CIRCUIT_THRESHOLD"
RESET_ENV = "NOTIFIER_CIRCUIT_RESET"

_MODES = ("failover", "by-country", "weighted")


def build_policy_from_env(providers: Sequence[Provider], environ: Mapping[str, str]) -> Provider:
    """Build the routing policy over ``providers`` that the environment describes.

    ``NOTIFIER_ROUTING`` is ``failover`` (the default: ``providers`` in the
    given order), ``by-country`` (with ``NOTIFIER_ROUTING_COUNTRIES``, e.g.
    ``UZ:eskiz,+99890:eskiz,default:twilio``) or ``weighted`` (with
    ``NOTIFIER_ROUTING_WEIGHTS``, e.g. ``eskiz:90,twilio:10``). Every
    provider must have a role in the policy.

    ``NOTIFIER_CIRCUIT_THRESHOLD`` (consecutive failures, default 5; 0 turns
    breakers off) and ``NOTIFIER_CIRCUIT_RESET`` (seconds, default 30) set
    the circuit breakers. ``failover`` always has breakers unless the
    threshold is 0; ``by-country`` and ``weighted`` get them only when one
    of the two variables is set.

    Raises:
        ConfigurationError: a variable is invalid; the message names the
            variable, its value and the fix.
    """
    by_name = _index_by_name(providers)
    mode = environ.get(ROUTING_ENV, "").strip().lower().replace("_", "-") or "failover"
    if mode not in _MODES:
        raise ConfigurationError(
            f"{ROUTING_ENV}={environ[ROUTING_ENV]!r} is not a routing mode; "
            f"set it to one of: {', '.join(_MODES)}."
        )
    breaker = _breaker_from_env(environ, explicit_only=mode != "failover")

    if mode == "failover":
        for name in (COUNTRIES_ENV, WEIGHTS_ENV):
            if environ.get(name, "").strip():
                raise ConfigurationError(
                    f"{name} is set but {ROUTING_ENV} is 'failover', which ignores it; set "
                    f"{ROUTING_ENV}={'by-country' if name == COUNTRIES_ENV else 'weighted'} "
                    f"or remove {name}."
                )
        return Failover(list(providers), breaker=breaker)

    guarded = {
        name: provider if breaker is None else breaker(provider)
        for name, provider in by_name.items()
    }
    if mode == "by-country":
        return _by_country_from_env(guarded, environ)
    return _weighted_from_env(guarded, environ)


def _index_by_name(providers: Sequence[Provider]) -> dict[str, Provider]:
    if not providers:
        raise ConfigurationError(
            "No providers to route between; set NOTIFIER_PROVIDER to one or more provider "
            "names, e.g. 'eskiz,twilio'."
        )
    by_name: dict[str, Provider] = {}
    for provider in providers:
        if provider.name in by_name:
            raise ConfigurationError(
                f"Provider {provider.name!r} is listed twice in NOTIFIER_PROVIDER; "
                "list each provider once."
            )
        by_name[provider.name] = provider
    return by_name


def _breaker_from_env(environ: Mapping[str, str], *, explicit_only: bool) -> BreakerFactory | None:
    raw_threshold = environ.get(THRESHOLD_ENV, "").strip()
    raw_reset = environ.get(RESET_ENV, "").strip()
    if explicit_only and not raw_threshold and not raw_reset:
        return None

    threshold = 5
    if raw_threshold:
        try:
            threshold = int(raw_threshold)
        except ValueError:
            threshold = -1
        if threshold < 0:
            raise ConfigurationError(
                f"{THRESHOLD_ENV}={raw_threshold!r} is not a whole number of 0 or more; set "
                "it to the number of consecutive failures that opens a circuit, e.g. 5, "
                "or 0 to turn circuit breakers off."
            )
    reset = 30.0
    if raw_reset:
        try:
            reset = float(raw_reset)
        except ValueError:
            reset = math.nan
        if not math.isfinite(reset) or reset <= 0:
            raise ConfigurationError(
                f"{RESET_ENV}={raw_reset!r} is not a positive number of seconds; set it to "
                "how long an open circuit waits before probing the provider, e.g. 30."
            )
    if threshold == 0:
        return None

    def make_breaker(provider: Provider) -> Provider:
        return CircuitBreaker(provider, failure_threshold=threshold, reset_timeout=reset)

    return make_breaker


def _parse_pairs(variable: str, raw: str, example: str) -> list[tuple[str, str]]:
    """Split ``"a:b, c:d"`` into pairs; an empty entry (trailing comma) is skipped."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for entry in raw.split(","):
        if not entry.strip():
            continue
        key, sep, value = entry.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ConfigurationError(
                f"{variable}={raw!r} has the entry {entry.strip()!r}, which is not KEY:VALUE; "
                f"write entries like {example!r}, separated by commas."
            )
        if key.lower() in seen:
            raise ConfigurationError(
                f"{variable}={raw!r} names {key!r} twice; give each key one entry."
            )
        seen.add(key.lower())
        pairs.append((key, value))
    if not pairs:
        raise ConfigurationError(
            f"{variable} is empty; set it to entries like {example!r}, separated by commas."
        )
    return pairs


def _lookup(variable: str, name: str, providers: Mapping[str, Provider]) -> Provider:
    try:
        return providers[name]
    except KeyError:
        raise ConfigurationError(
            f"{variable} names provider {name!r}, which is not in NOTIFIER_PROVIDER "
            f"({', '.join(providers)}); fix the name or add the provider to NOTIFIER_PROVIDER."
        ) from None


def _check_all_used(variable: str, used: set[str], providers: Mapping[str, Provider]) -> None:
    unused = [name for name in providers if name not in used]
    if unused:
        raise ConfigurationError(
            f"{variable} gives no role to {', '.join(unused)}, which NOTIFIER_PROVIDER lists; "
            "add it to the variable or remove it from NOTIFIER_PROVIDER."
        )


def _by_country_from_env(providers: Mapping[str, Provider], environ: Mapping[str, str]) -> Provider:
    example = "UZ:eskiz,default:twilio"
    raw = environ.get(COUNTRIES_ENV, "")
    if not raw.strip():
        raise ConfigurationError(
            f"{ROUTING_ENV}=by-country needs {COUNTRIES_ENV}; set it to entries like "
            f"{example!r} (a region or '+' prefix, or 'default', then a provider name)."
        )
    routes: dict[str, Provider] = {}
    prefixes: dict[str, Provider] = {}
    default: Provider | None = None
    used: set[str] = set()
    for key, name in _parse_pairs(COUNTRIES_ENV, raw, example):
        provider = _lookup(COUNTRIES_ENV, name, providers)
        used.add(name)
        if key.lower() == "default":
            default = provider
        elif key.startswith("+"):
            if not _PREFIX.fullmatch(key):
                raise ConfigurationError(
                    f"{COUNTRIES_ENV}={raw!r} has the prefix {key!r}, which is not an E.164 "
                    "prefix; write '+' and the leading digits of the number, such as +99890."
                )
            prefixes[key] = provider
        else:
            if key.upper() not in phonenumbers.SUPPORTED_REGIONS:
                raise ConfigurationError(
                    f"{COUNTRIES_ENV}={raw!r} has the region {key!r}, which is not an ISO 3166 "
                    "alpha-2 code; use a code such as UZ, a '+' prefix such as +99890, "
                    "or 'default'."
                )
            routes[key] = provider
    _check_all_used(COUNTRIES_ENV, used, providers)
    try:
        return ByCountry(routes, default=default, prefixes=prefixes)
    except ConfigurationError as error:
        raise ConfigurationError(f"{COUNTRIES_ENV}={raw!r} is invalid: {error}") from None


def _weighted_from_env(providers: Mapping[str, Provider], environ: Mapping[str, str]) -> Provider:
    example = "eskiz:90,twilio:10"
    raw = environ.get(WEIGHTS_ENV, "")
    if not raw.strip():
        raise ConfigurationError(
            f"{ROUTING_ENV}=weighted needs {WEIGHTS_ENV}; set it to entries like {example!r}."
        )
    pairs: list[tuple[Provider, float]] = []
    used: set[str] = set()
    for name, raw_weight in _parse_pairs(WEIGHTS_ENV, raw, example):
        provider = _lookup(WEIGHTS_ENV, name, providers)
        used.add(name)
        try:
            weight = float(raw_weight)
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight) or weight < 0:
            raise ConfigurationError(
                f"{WEIGHTS_ENV}={raw!r} gives {name} the weight {raw_weight!r}, which is not a "
                "number of 0 or more; use for example 90."
            )
        pairs.append((provider, weight))
    _check_all_used(WEIGHTS_ENV, used, providers)
    try:
        return Weighted(pairs)
    except ConfigurationError as error:
        raise ConfigurationError(f"{WEIGHTS_ENV}={raw!r} is invalid: {error}") from None
