"""Retry policy and the retry loop shared by every HTTP provider.

A provider runs each operation through ``retry_call``. The operation raises
``RetryableFailure`` to request another attempt, and any other exception ends
the loop at once. When the attempts or the deadline run out, the library error
carried by the last ``RetryableFailure`` is raised, chained to its cause, so
``tenacity.RetryError`` never reaches the caller. ``asyncio.CancelledError``
is never retried.

Waits go through a module-level sleep function, so ``instant_retries()`` can
make every wait instant in tests and record what would have been slept.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TypeVar

import tenacity

from ._errors import ConfigurationError, ProviderError

__all__ = [
    "RetryPolicy",
    "RetryableFailure",
    "instant_retries",
    "parse_retry_after",
    "retry_call",
]

_T = TypeVar("_T")

_logger = logging.getLogger("notifier")

# Lists that receive the wait of every retry while instant_retries() is active.
# A plain module global, not a context variable, so that the block also covers
# sends that would not see a context variable set inside it. Those are sends on
# threads started without the caller's context (threading.Thread does not copy
# it) and sends in tasks created before the block. The blocking Notifier is not
# such a case, because each of its calls runs in a copy of the caller's context.
_instant_recorders: list[list[float]] = []


async def _sleep(seconds: float) -> None:
    """Sleep between attempts, or only record the wait inside ``instant_retries()``."""
    if _instant_recorders:
        for recorder in _instant_recorders:
            recorder.append(seconds)
        await asyncio.sleep(0)  # still let other tasks run, as a real wait would
        return
    await asyncio.sleep(seconds)


@contextlib.contextmanager
def instant_retries() -> Iterator[list[float]]:
    """Make every retry wait instant while the block runs.

    Yields a list that receives the wait, in seconds, that each retry would
    have slept, in order. Works for sends made from any thread, including the
    event-loop thread of the blocking ``Notifier``::

        with instant_retries() as waits:
            await notifier.send(message)
        assert waits == [] or waits[0] >= 0.5
    """
    waits: list[float] = []
    _instant_recorders.append(waits)
    try:
        yield waits
    finally:
        _instant_recorders.remove(waits)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header into seconds to wait.

    Accepts delay-seconds (``"2"``, also ``"1.5"``) and an HTTP-date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``). A date in the past gives ``0.0``.
    Returns ``None`` for a missing or unreadable value.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are always GMT
        when = when.replace(tzinfo=timezone.utc)
    reference = now or datetime.now(timezone.utc)
    return max(0.0, (when - reference).total_seconds())


def _check_non_negative(name: str, value: float | None) -> None:
    if value is not None and (not math.isfinite(value) or value < 0):
        raise ConfigurationError(
            f"RetryPolicy.{name} must be a finite number of seconds >= 0, got {value!r}."
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings a provider applies to one operation.

    Attributes:
        attempts: the maximum number of attempts, the first one included.
            ``1`` disables retries.
        initial_backoff: the wait in seconds before the second attempt,
            before jitter.
        max_backoff: the maximum backoff wait in seconds, jitter included.
        multiplier: the factor the backoff grows by after each retry.
        jitter: a random extra wait, uniform in ``[0, jitter]`` seconds, added
            to each backoff so that many clients do not retry in step.
        deadline: seconds from the first attempt after which no new attempt
            starts, or ``None`` for no limit. A retry whose wait would end
            after the deadline is not made. An attempt already running is
            bounded by the HTTP timeout, not by the deadline.
        retry_statuses: HTTP statuses that mean the request was not processed
            and may be sent again.
        max_retry_after: the maximum ``Retry-After`` wait honoured, in
            seconds. When the server requests a longer wait, no retry is made
            and the last error is raised at once (a ``RateLimitedError``
            carries the requested wait as ``retry_after``).
        resend_on_timeout: resend a non-idempotent request (such as a send)
            after a read timeout, a dropped connection or a 504. Off by
            default, because the first request may already have been
            processed and the recipient would get the message twice.
    """

    attempts: int = 3
    initial_backoff: float = 0.5
    max_backoff: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.5
    deadline: float | None = 30.0
    retry_statuses: frozenset[int] = field(default_factory=lambda: frozenset({500, 502, 503}))
    max_retry_after: float = 60.0
    resend_on_timeout: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise ConfigurationError(
                f"RetryPolicy.attempts must be an integer >= 1, got {self.attempts!r}."
            )
        if self.attempts < 1:
            raise ConfigurationError(
                f"RetryPolicy.attempts must be >= 1, got {self.attempts}. Use 1 to disable retries."
            )
        for name in ("initial_backoff", "max_backoff", "jitter", "deadline", "max_retry_after"):
            _check_non_negative(name, getattr(self, name))
        if not math.isfinite(self.multiplier) or self.multiplier < 1:
            raise ConfigurationError(
                f"RetryPolicy.multiplier must be >= 1, got {self.multiplier!r}."
            )
        statuses = frozenset(self.retry_statuses)
        invalid = sorted(s for s in statuses if not 100 <= s <= 599)
        if invalid:
            raise ConfigurationError(
                f"RetryPolicy.retry_statuses contains invalid HTTP statuses {invalid}."
            )
        # A set or list given by the caller is stored frozen, so the policy stays hashable.
        object.__setattr__(self, "retry_statuses", statuses)

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """Return a policy that makes exactly one attempt."""
        return cls(attempts=1)

    def backoff(self, retry_number: int) -> float:
        """Return the jittered wait in seconds before retry ``retry_number`` (1 = first retry)."""
        base = self.initial_backoff * self.multiplier ** max(retry_number - 1, 0)
        jittered = base + random.uniform(0, self.jitter)  # noqa: S311 - jitter, not cryptography
        return min(jittered, self.max_backoff)

    def with_statuses(self, statuses: Iterable[int]) -> RetryPolicy:
        """Return a copy that retries ``statuses`` instead of the current set."""
        return RetryPolicy(
            attempts=self.attempts,
            initial_backoff=self.initial_backoff,
            max_backoff=self.max_backoff,
            multiplier=self.multiplier,
            jitter=self.jitter,
            deadline=self.deadline,
            retry_statuses=frozenset(statuses),
            max_retry_after=self.max_retry_after,
            resend_on_timeout=self.resend_on_timeout,
        )


class RetryableFailure(Exception):
    """Raised by an attempt to request another one from ``retry_call``.

    Attributes:
        error: the library error to raise when no attempt is left.
        retry_after: the wait in seconds the server requested, or ``None`` to
            use the policy's backoff.
        reason: a short description for the retry log line, without secrets,
            such as ``"HTTP 503"`` or ``"ConnectError"``.
    """

    def __init__(
        self,
        error: ProviderError,
        *,
        reason: str,
        retry_after: float | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason
        self.retry_after = retry_after
        self.cause = cause


@dataclass
class _Plan:
    """The wait and stop decision for each retry of one ``retry_call``.

    tenacity evaluates its wait and stop strategies in an order that differs
    between releases, so both read the decision from here, computed once per
    attempt.
    """

    policy: RetryPolicy
    started: float = field(default_factory=time.monotonic)
    planned_waits: float = 0.0
    decisions: dict[int, tuple[float, bool]] = field(default_factory=dict)

    def decide(self, state: tenacity.RetryCallState) -> tuple[float, bool]:
        attempt = state.attempt_number
        if attempt in self.decisions:
            return self.decisions[attempt]
        failure = _failure_of(state)
        stop = attempt >= self.policy.attempts
        if failure is not None and failure.retry_after is not None:
            wait = max(failure.retry_after, 0.0)
            if wait > self.policy.max_retry_after:
                stop = True
        else:
            wait = self.policy.backoff(attempt)
        if self.policy.deadline is not None:
            # The planned waits count even when instant_retries() skipped them,
            # so the deadline acts the same in tests as in production.
            elapsed = max(time.monotonic() - self.started, self.planned_waits)
            if elapsed + wait > self.policy.deadline:
                stop = True
        if not stop:
            self.planned_waits += wait
        self.decisions[attempt] = (wait, stop)
        return wait, stop

    def wait(self, state: tenacity.RetryCallState) -> float:
        return self.decide(state)[0]

    def stop(self, state: tenacity.RetryCallState) -> bool:
        return self.decide(state)[1]


def _failure_of(state: tenacity.RetryCallState) -> RetryableFailure | None:
    outcome = state.outcome
    if outcome is None or not outcome.failed:
        return None
    exc = outcome.exception()
    return exc if isinstance(exc, RetryableFailure) else None


async def retry_call(
    operation: Callable[[int], Awaitable[_T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[int, RetryableFailure, float], None] | None = None,
) -> _T:
    """Run ``operation(attempt_number)`` under ``policy`` and return its result.

    ``attempt_number`` starts at 1. The operation raises ``RetryableFailure``
    for a failure that may be retried. Every other exception propagates
    unchanged, ``asyncio.CancelledError`` included. ``on_retry(attempt,
    failure, wait)`` is called before each wait, for logging and counters.

    Raises:
        ProviderError: the ``error`` of the last ``RetryableFailure`` when no
            attempt is left, with ``attempts`` set to the attempts made and
            ``__cause__`` set to the failure's cause.
    """
    plan = _Plan(policy)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        failure = _failure_of(state)
        if on_retry is not None and failure is not None:
            on_retry(state.attempt_number, failure, plan.wait(state))

    retrying = tenacity.AsyncRetrying(
        sleep=lambda seconds: _sleep(seconds),
        stop=plan.stop,
        wait=plan.wait,
        retry=tenacity.retry_if_exception_type(RetryableFailure),
        before_sleep=before_sleep,
        reraise=True,
    )
    attempt_number = 0

    async def run_attempt() -> _T:
        nonlocal attempt_number
        attempt_number += 1
        return await operation(attempt_number)

    try:
        return await retrying(run_attempt)
    except RetryableFailure as failure:
        error = failure.error
        error.attempts = attempt_number
        raise error from failure.cause
