"""Routing policies: providers that send each message through other providers.

A routing policy is a ``Provider``, so policies nest and ``AsyncNotifier``
accepts one wherever it accepts a vendor provider::

    Failover([eskiz, twilio])                         # Eskiz first, Twilio when it fails
    ByCountry({"UZ": eskiz}, default=twilio)          # Uzbek numbers through Eskiz
    Weighted({eskiz: 90, twilio: 10})                 # 10 % of messages to Twilio
    ByCountry({"UZ": Failover([eskiz, twilio])}, default=twilio)

Every policy records each provider it tried in ``SendResult.attempts``, and
in ``NotifierError.provider_attempts`` when it raises. ``CircuitBreaker``
(in ``notifier._circuit``) guards one provider. ``Failover`` wraps each of
its vendor providers in one by default. The base class is in
``notifier._policy``, ``provider_health`` in ``notifier._health``, and
``build_policy_from_env`` in ``notifier._routing_env``.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence

import phonenumbers

from ._circuit import CircuitBreaker
from ._errors import (
    AuthenticationError,
    CircuitOpen,
    ConfigurationError,
    DeliveryUnknown,
    InvalidMessage,
    NotifierError,
    ProviderError,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
)
from ._models import SendResult, Sms
from ._phone import phone_region
from ._policy import (
    NoRouteError,
    RoutingPolicy,
    _AttemptLog,
    _check_provider,
    _combine_capabilities,
    _dispatch,
    _dispatch_batch,
    _union_countries,
    _unique,
)
from ._provider import BatchOutcome, Provider

__all__ = ["BreakerFactory", "ByCountry", "Failover", "Weighted"]

logger = logging.getLogger("notifier")

BreakerFactory = Callable[[Provider], Provider]


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
      moderation, balance). Set ``fail_over_on_rejection=True`` to let the
      next vendor judge it too.
    - ``ConfigurationError`` (``NoRouteError`` included), ``InvalidMessage``,
      ``UnsupportedFeature``, ``NotifierClosed``: the set-up or the message
      must be fixed, and skipping to another provider would hide that.
    - ``CancelledError`` is never caught.

    Every attempt gets the same ``Sms`` object, so the ``client_ref`` is the
    same at every vendor. A provider whose ``capabilities.countries`` does
    not cover the number's region is skipped without an attempt. When none
    covers it, ``NoRouteError`` is raised. When every provider fails, the
    last provider's error is raised with its own type, and its
    ``provider_attempts`` lists each provider tried.

    ``breaker`` wraps each vendor provider, but not nested policies or
    providers that already are a ``CircuitBreaker``. It defaults to
    ``CircuitBreaker`` with its default settings. Pass for example
    ``breaker=lambda p: CircuitBreaker(p, failure_threshold=3)`` to change
    it, or ``None`` to disable it.
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
                f"Failover() takes a list of providers, got {type(providers).__name__}. "
                "Pass for example Failover([eskiz, twilio])."
            )
        if not providers:
            raise ConfigurationError(
                "Failover() got an empty list of providers. Pass at least one provider."
            )
        checked = [
            _check_provider(provider, f"Failover() provider #{index + 1}")
            for index, provider in enumerate(providers)
        ]
        if len(_unique(checked)) != len(checked):
            names = ", ".join(provider.name for provider in checked)
            raise ConfigurationError(
                f"Failover() got the same provider instance more than once ({names}). "
                "List each provider once."
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
        # bad at every vendor, whatever the value of fail_over_on_rejection.
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
                f"No provider in {self.name} delivers to region {region or 'unknown'}. "
                "Add a provider that covers it, or check the providers' countries.",
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
        # The circuit logged a warning when it opened, so one line per skipped
        # message would only repeat it for every send.
        logger.debug(
            "Skipping provider %s for client_ref %s because its circuit is open. Trying %s.",
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
    maps E.164 prefixes (``"+99890"``) to providers. The longest matching
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
                "ByCountry() got no routes, no prefixes and no default. Pass for example "
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
                f"(routes: {known}) and no default. Add a route for it or pass default=.",
                region=region,
                policy=self.name,
            )
        if not target.capabilities.covers(region):
            raise NoRouteError(
                f"{self.name} routes region {region or 'unknown'} to {target.name}, "
                "which does not deliver there. Route that region to another provider.",
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
                f"ByCountry() route {key!r} is not an ISO 3166 alpha-2 region. "
                "Use a code such as 'UZ', or put an E.164 prefix such as '+99890' in prefixes=."
            )
        if region in checked:
            raise ConfigurationError(
                f"ByCountry() got region {region!r} twice. Give each region one route."
            )
        target = _check_provider(provider, f"ByCountry() route {region!r}")
        if not target.capabilities.covers(region):
            covered = ", ".join(sorted(target.capabilities.countries or ()))
            raise ConfigurationError(
                f"ByCountry() routes region {region!r} to {target.name}, which does not "
                f"deliver there (it covers {covered}). Route the region to another provider."
            )
        checked[region] = target
    return checked


def _check_prefix_routes(prefixes: Mapping[str, Provider]) -> dict[str, Provider]:
    checked: dict[str, Provider] = {}
    for key, provider in prefixes.items():
        prefix = key.strip() if isinstance(key, str) else ""
        if not _PREFIX.fullmatch(prefix):
            raise ConfigurationError(
                f"ByCountry() prefix {key!r} is not an E.164 prefix. Write '+' and the "
                "leading digits of the number, such as '+99890'."
            )
        if prefix in checked:
            raise ConfigurationError(
                f"ByCountry() got prefix {prefix!r} twice. Give each prefix one route."
            )
        checked[prefix] = _check_provider(provider, f"ByCountry() prefix {prefix!r}")
    return checked


def _prefix_regions(prefix: str) -> set[str]:
    """Return the regions whose country calling code starts ``prefix``.

    For a prefix too short to contain a calling code, return every region.
    """
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
    through Eskiz. Weights are non-negative numbers. Only their ratio
    matters, and a weight of 0 sends nothing to that provider.

    The choice is sticky by default. It is derived from a hash of the
    message's ``client_ref`` (salted with ``seed``), so a message resent with
    the same ``client_ref`` goes to the same provider, whose duplicate check
    can then recognise it. With ``sticky=False`` each message draws from
    ``random.Random(seed)``. Providers whose ``capabilities.countries`` do
    not cover the number's region are left out of the draw.

    ``Weighted`` never retries on another provider. To retry, wrap it, e.g.
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
                f"{region or 'unknown'}. Give a provider that covers it a weight above 0.",
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
        """Return a number in [0, 1), from the client_ref's hash when sticky, else random."""
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
            "Weighted() got no providers. Pass for example Weighted({eskiz: 90, twilio: 10})."
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
                f"got {weight!r}. Pass for example 90."
            )
        pairs.append((provider, float(weight)))
    if len(_unique([provider for provider, _ in pairs])) != len(pairs):
        raise ConfigurationError(
            "Weighted() got the same provider instance more than once; give each provider "
            "one weight."
        )
    if not any(weight > 0 for _, weight in pairs):
        raise ConfigurationError(
            "Weighted() needs at least one weight above 0, got only zeros. "
            "Give the provider that should carry the traffic a positive weight."
        )
    return pairs
