"""The sample messages and the closed-loop measurement every setup shares.

Standard library only: it runs inside the peer environments too.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BODY",
    "SENDER",
    "Measurement",
    "percentile",
    "phone_digits",
    "phone_e164",
    "run_closed_loop",
    "run_paced",
]

BODY = "Buyurtmangiz #1042 qabul qilindi. Tasdiqlash kodi: 4512"
"""One GSM-7 part in Uzbek Latin, so every setup sends the same single-part text."""

SENDER = "4546"
"""The sender name every Eskiz account may use, the simulator's included."""


def phone_digits(index: int) -> str:
    """Return a fake Uzbek mobile number, digits only: 998 90 000 00 xx."""
    return f"9989000000{index % 100:02d}"


def phone_e164(index: int) -> str:
    return "+" + phone_digits(index)


def percentile(values: Sequence[float], share: float) -> float:
    """Return the nearest-rank percentile of ``values`` (``share`` from 0 to 1), NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Measurement:
    """Counts, latencies and CPU time of one timed phase, in seconds."""

    sent: int = 0
    failed: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)
    """The message of the first error of each type, cut to 300 characters."""
    stopped_by_time_limit: bool = False
    untimed_sent: int = 0
    """Messages accepted outside the timed phase (a priming send), for accounting."""
    cpu_seconds: float = 0.0
    """CPU time of the whole client process (every thread) during the timed phase."""

    def record_error(self, exc: BaseException) -> None:
        name = type(exc).__name__
        self.failed += 1
        self.errors[name] += 1
        self.error_examples.setdefault(name, (str(exc) or repr(exc))[:300])

    @property
    def per_second(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_message(self) -> float:
        handled = self.sent + self.failed
        return self.cpu_seconds / handled * 1e6 if handled else math.nan

    def summary(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "seconds": round(self.seconds, 4),
            "per_second": round(self.per_second, 1),
            "p50_ms": round(percentile(self.latencies, 0.50) * 1000, 3),
            "p99_ms": round(percentile(self.latencies, 0.99) * 1000, 3),
            "errors": dict(self.errors.most_common(5)),
            "error_examples": self.error_examples,
            "stopped_by_time_limit": self.stopped_by_time_limit,
            "untimed_sent": self.untimed_sent,
            "cpu_seconds": round(self.cpu_seconds, 4),
            "cpu_us_per_message": round(self.cpu_us_per_message, 1),
        }


async def run_closed_loop(
    send: Callable[[int], Awaitable[Any]],
    *,
    count: int,
    concurrency: int,
    time_limit: float,
    first_index: int = 0,
) -> Measurement:
    """Call ``send(i)`` for ``count`` indexes with ``concurrency`` calls in flight.

    Each of ``concurrency`` workers starts its next call as soon as its last
    one returns. A call that raises counts as failed, under its exception's
    type name. Workers start no new call after ``time_limit`` seconds, so the
    phase ends by itself even against a server that has stopped responding.
    A call already in flight then finishes or fails by the client's own
    timeout.
    """
    if count < 1 or concurrency < 1:
        raise ValueError(f"count and concurrency must be >= 1, got {count} and {concurrency}")
    result = Measurement()
    next_index = first_index
    end_index = first_index + count
    start = time.perf_counter()
    cpu_start = time.process_time()
    deadline = start + time_limit

    async def worker() -> None:
        nonlocal next_index
        while next_index < end_index:
            if time.perf_counter() >= deadline:
                result.stopped_by_time_limit = True
                return
            # Taking the index never awaits, so no two workers share one.
            index = next_index
            next_index += 1
            began = time.perf_counter()
            try:
                await send(index)
            except Exception as exc:
                result.record_error(exc)
            else:
                result.sent += 1
                result.latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    result.seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - cpu_start
    return result


async def run_paced(
    send: Callable[[int], Awaitable[Any]],
    *,
    rate: float,
    duration: float,
    concurrency: int,
    time_limit: float,
) -> Measurement:
    """Call ``send(i)`` at a steady ``rate`` per second for ``duration`` seconds.

    Call ``i`` is due ``i / rate`` seconds after the start. At most
    ``concurrency`` calls are in flight, so a client slower than ``rate``
    falls behind its schedule instead of piling up calls. No call starts
    after ``time_limit`` seconds.
    """
    if rate <= 0 or duration <= 0 or concurrency < 1:
        raise ValueError(
            f"rate and duration must be > 0 and concurrency >= 1, "
            f"got {rate}, {duration} and {concurrency}"
        )
    result = Measurement()
    total = max(1, int(rate * duration))
    next_index = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    deadline = start + time_limit

    async def worker() -> None:
        nonlocal next_index
        while next_index < total:
            index = next_index
            next_index += 1
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.perf_counter() >= deadline:
                result.stopped_by_time_limit = True
                return
            began = time.perf_counter()
            try:
                await send(index)
            except Exception as exc:
                result.record_error(exc)
            else:
                result.sent += 1
                result.latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - cpu_start
    return result
