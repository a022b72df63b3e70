"""notifier's own setups: ``EskizProvider`` behind ``AsyncNotifier``.

Every send builds its ``Sms`` (phone number validation included) and goes
through ``AsyncNotifier.send``, as an application's code would. Telemetry
runs with the no-op OpenTelemetry API, as in an application without an SDK.
"""

from __future__ import annotations

import time
from importlib.metadata import version
from typing import Any

from notifier import AsyncNotifier, SendResult, Sms
from notifier_eskiz import EskizProvider

from .client import Job
from .guard import require_loopback_url
from .workload import BODY, Measurement, phone_e164

__all__ = ["NotifierAiohttp", "NotifierBatch", "NotifierHttpx"]

_TIMEOUT = 30.0  # seconds


class _NotifierSetup:
    transport = "httpx"

    def __init__(self, job: Job) -> None:
        self._provider = EskizProvider(
            email=job.email,
            password=job.password,
            base_url=require_loopback_url(job.base_url),
            transport=self.transport,  # type: ignore[arg-type]
            timeout=_TIMEOUT,
        )
        require_loopback_url(self._provider.base_url, label="provider URL")
        self._notifier = AsyncNotifier(self._provider)

    async def start(self) -> None:
        pass

    async def send(self, index: int) -> None:
        await self._notifier.send(Sms(to=phone_e164(index), body=BODY))

    async def close(self) -> None:
        await self._notifier.aclose()

    def describe(self) -> dict[str, Any]:
        described = {
            "library": "notifier-eskiz",
            "version": version("notifier-eskiz"),
            "transport": self.transport,
            "httpx": version("httpx"),
        }
        if self.transport == "aiohttp":
            described["aiohttp"] = version("aiohttp")
            described["httpx-aiohttp"] = version("httpx-aiohttp")
        return described


class NotifierHttpx(_NotifierSetup):
    transport = "httpx"


class NotifierAiohttp(_NotifierSetup):
    transport = "aiohttp"


class NotifierBatch(_NotifierSetup):
    """``AsyncNotifier.send_many`` over Eskiz's ``send-batch``, 500 messages a request.

    ``send_many`` sends one batch request after another; ``concurrency`` is
    passed on and applies only to providers without a batch endpoint.

    The timed phase covers building the ``Sms`` list and the whole
    ``send_many`` call. Each message's latency is the time until the
    response to its batch request arrived.
    """

    async def send_all(self, count: int, concurrency: int) -> Measurement:
        # One login before the clock starts, as the other setups' warm-up does.
        await self._notifier.send(Sms(to=phone_e164(0), body=BODY))
        result = Measurement()
        start = time.perf_counter()
        cpu_start = time.process_time()
        messages = [Sms(to=phone_e164(index), body=BODY) for index in range(1, count + 1)]
        outcomes = await self._notifier.send_many(messages, concurrency=concurrency)
        result.seconds = time.perf_counter() - start
        result.cpu_seconds = time.process_time() - cpu_start
        for outcome in outcomes:
            if isinstance(outcome, SendResult):
                result.sent += 1
                result.latencies.append(outcome.elapsed)
            else:
                result.record_error(outcome)
        result.untimed_sent = 1  # the priming send
        return result

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "batch_size": self._provider.batch_size}
