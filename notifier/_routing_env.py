"""``build_policy_from_env``: the routing policy that ``NOTIFIER_ROUTING*`` variables describe."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import phonenumbers

from ._circuit import CircuitBreaker
from ._errors import ConfigurationError
from ._provider import Provider
from ._routing import _PREFIX, BreakerFactory, ByCountry, Failover, Weighted

__all__ = [
    "COUNTRIES_ENV",
    "RESET_ENV",
    "ROUTING_ENV",
    "THRESHOLD_ENV",
    "WEIGHTS_ENV",
    "build_policy_from_env",
]


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
