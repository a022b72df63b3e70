"""``provider_health``: the circuit state of every vendor provider in a routing tree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ._circuit import CircuitBreaker, CircuitState
from ._policy import RoutingPolicy
from ._provider import Provider

__all__ = ["ProviderHealth", "provider_health"]


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
