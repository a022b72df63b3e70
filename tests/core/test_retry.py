"""Tests of the retry policy and the retry loop in notifier._retry."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import tenacity

from notifier import (
    ConfigurationError,
    ProviderUnavailable,
    RateLimitedError,
    RetryPolicy,
    instant_retries,
)
from notifier._retry import RetryableFailure, parse_retry_after, retry_call


def _unavailable() -> ProviderUnavailable:
    return ProviderUnavailable("The vendor failed with HTTP 503.", provider="demo", status_code=503)


def _failure(
    retry_after: float | None = None, cause: BaseException | None = None
) -> RetryableFailure:
    return RetryableFailure(_unavailable(), reason="HTTP 503", retry_after=retry_after, cause=cause)


class TestRetryPolicy:
    def test_defaults(self) -> None:
        policy = RetryPolicy()
        assert policy.attempts == 3
        assert policy.retry_statuses == frozenset({500, 502, 503})
        assert policy.resend_on_timeout is False
        assert policy.deadline == 30.0

    @pytest.mark.parametrize(
        ("kwargs", "fragment"),
        [
            ({"attempts": 0}, "attempts"),
            ({"attempts": 2.5}, "attempts"),
            ({"initial_backoff": -1.0}, "initial_backoff"),
            ({"max_retry_after": float("inf")}, "max_retry_after"),
            ({"multiplier": 0.5}, "multiplier"),
            ({"retry_statuses": {503, 1000}}, "1000"),
        ],
        ids=[
            "zero-attempts",
            "float-attempts",
            "negative-backoff",
            "infinite-cap",
            "shrinking-multiplier",
            "invalid-status",
        ],
    )
    def test_invalid_values_rejected(self, kwargs: dict[str, object], fragment: str) -> None:
        with pytest.raises(ConfigurationError, match=fragment):
            RetryPolicy(**kwargs)  # type: ignore[arg-type]

    def test_statuses_stored_frozen(self) -> None:
        policy = RetryPolicy(retry_statuses={500, 503})  # type: ignore[arg-type]
        assert isinstance(policy.retry_statuses, frozenset)
        assert hash(policy) == hash(RetryPolicy(retry_statuses=frozenset({503, 500})))

    def test_backoff_grows_within_jitter(self) -> None:
        policy = RetryPolicy(initial_backoff=1.0, multiplier=2.0, jitter=0.5, max_backoff=100)
        for _ in range(50):
            assert 1.0 <= policy.backoff(1) <= 1.5
            assert 2.0 <= policy.backoff(2) <= 2.5
            assert 4.0 <= policy.backoff(3) <= 4.5

    def test_backoff_capped(self) -> None:
        policy = RetryPolicy(initial_backoff=1.0, multiplier=10.0, max_backoff=3.0)
        assert policy.backoff(5) == 3.0

    def test_disabled_makes_one_attempt(self) -> None:
        assert RetryPolicy.disabled().attempts == 1

    def test_with_statuses_copies(self) -> None:
        policy = RetryPolicy(attempts=5).with_statuses([503])
        assert policy.attempts == 5
        assert policy.retry_statuses == frozenset({503})


class TestParseRetryAfter:
    def test_seconds(self) -> None:
        assert parse_retry_after("2") == 2.0
        assert parse_retry_after(" 1.5 ") == 1.5

    def test_http_date(self) -> None:
        now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
        header = format_datetime(now + timedelta(seconds=30), usegmt=True)
        assert parse_retry_after(header, now=now) == 30.0

    def test_past_date_is_zero(self) -> None:
        assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0

    @pytest.mark.parametrize("value", [None, "", "soon", "-3", "nan"])
    def test_unreadable_is_none(self, value: str | None) -> None:
        assert parse_retry_after(value) is None


class TestRetryCall:
    async def test_success_after_failures(self) -> None:
        calls: list[int] = []

        async def operation(attempt: int) -> str:
            calls.append(attempt)
            if attempt < 3:
                raise _failure()
            return "accepted"

        with instant_retries() as waits:
            assert await retry_call(operation, RetryPolicy()) == "accepted"
        assert calls == [1, 2, 3]
        assert len(waits) == 2

    async def test_exhaustion_raises_library_error(self) -> None:
        cause = OSError("connection reset")

        async def operation(attempt: int) -> str:
            raise _failure(cause=cause)

        with instant_retries(), pytest.raises(ProviderUnavailable) as caught:
            await retry_call(operation, RetryPolicy(attempts=4))
        assert caught.value.attempts == 4
        assert caught.value.__cause__ is cause
        assert not isinstance(caught.value, tenacity.RetryError)

    async def test_other_errors_not_retried(self) -> None:
        calls: list[int] = []

        async def operation(attempt: int) -> str:
            calls.append(attempt)
            raise RateLimitedError("Too many requests.", provider="demo")

        with instant_retries(), pytest.raises(RateLimitedError):
            await retry_call(operation, RetryPolicy())
        assert calls == [1]

    async def test_cancellation_not_retried(self) -> None:
        calls: list[int] = []

        async def operation(attempt: int) -> str:
            calls.append(attempt)
            raise asyncio.CancelledError

        with instant_retries(), pytest.raises(asyncio.CancelledError):
            await retry_call(operation, RetryPolicy())
        assert calls == [1]

    async def test_cancel_during_wait_stops(self) -> None:
        calls: list[int] = []
        first_failed = asyncio.Event()

        async def operation(attempt: int) -> str:
            calls.append(attempt)
            first_failed.set()
            raise _failure(retry_after=30)

        task = asyncio.create_task(retry_call(operation, RetryPolicy(deadline=None)))
        await first_failed.wait()
        await asyncio.sleep(0.01)  # let the loop enter its 30 s wait
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=2)
        assert calls == [1]

    async def test_retry_after_honoured(self) -> None:
        attempts: list[int] = []

        async def operation(attempt: int) -> str:
            attempts.append(attempt)
            if attempt == 1:
                raise _failure(retry_after=2.0)
            return "accepted"

        policy = RetryPolicy(max_retry_after=10)
        with instant_retries() as waits:
            await retry_call(operation, policy)
        assert len(waits) == 1
        assert waits[0] >= 2.0
        assert waits[0] <= policy.max_retry_after

    async def test_retry_after_over_cap_stops(self) -> None:
        calls: list[int] = []

        async def operation(attempt: int) -> str:
            calls.append(attempt)
            raise _failure(retry_after=120.0)

        with instant_retries() as waits, pytest.raises(ProviderUnavailable) as caught:
            await retry_call(operation, RetryPolicy(max_retry_after=60))
        assert calls == [1]
        assert waits == []
        assert caught.value.attempts == 1

    async def test_backoff_without_header(self) -> None:
        async def operation(attempt: int) -> str:
            raise _failure()

        policy = RetryPolicy(attempts=3, initial_backoff=0.5, multiplier=2, jitter=0.25)
        with instant_retries() as waits, pytest.raises(ProviderUnavailable):
            await retry_call(operation, policy)
        assert len(waits) == 2
        assert 0.5 <= waits[0] <= 0.75
        assert 1.0 <= waits[1] <= 1.25

    async def test_deadline_stops_retries(self) -> None:
        calls: list[int] = []

        async def operation(attempt: int) -> str:
            calls.append(attempt)
            raise _failure(retry_after=5.0)

        policy = RetryPolicy(attempts=10, deadline=12.0)
        with instant_retries() as waits, pytest.raises(ProviderUnavailable):
            await retry_call(operation, policy)
        # The waits are instant, so only the planned waits count: 5 + 5 fit
        # in 12 s and a third 5 s wait would not.
        assert waits == [5.0, 5.0]
        assert calls == [1, 2, 3]

    async def test_on_retry_reports_each_retry(self) -> None:
        seen: list[tuple[int, str, float]] = []

        async def operation(attempt: int) -> str:
            if attempt < 3:
                raise _failure(retry_after=1.0)
            return "accepted"

        def on_retry(attempt: int, failure: RetryableFailure, wait: float) -> None:
            seen.append((attempt, failure.reason, wait))

        with instant_retries():
            await retry_call(operation, RetryPolicy(), on_retry=on_retry)
        assert seen == [(1, "HTTP 503", 1.0), (2, "HTTP 503", 1.0)]

    def test_instant_retries_covers_other_threads(self) -> None:
        outcome: list[str] = []

        async def operation(attempt: int) -> str:
            if attempt == 1:
                raise _failure(retry_after=50.0)
            return "accepted"

        def run_in_thread() -> None:
            outcome.append(asyncio.run(retry_call(operation, RetryPolicy(deadline=None))))

        with instant_retries() as waits:
            thread = threading.Thread(target=run_in_thread)
            thread.start()
            thread.join(timeout=5)
        assert outcome == ["accepted"]
        assert waits == [50.0]
