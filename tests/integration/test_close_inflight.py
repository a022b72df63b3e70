"""Closing with sends in flight, against the Eskiz simulator on loopback.

The simulator stores a message as soon as it reads the request and holds
back only the response (``delay_next``), so a send cut off by a close has
already been accepted. A closed notifier must then report
``DeliveryUnknown`` with the message's ``client_ref`` and never send it
again. Every test runs on both transports.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from notifier import (
    AsyncNotifier,
    DeliveryUnknown,
    Notifier,
    NotifierClosed,
    NotifierError,
    RetryPolicy,
    SendResult,
    Sms,
)
from notifier._http import TransportName
from notifier._plugins import new_plugin_manager
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import EskizSimulator
from tests._audit import LeakAudit

SEND_PATH = "/message/sms/send"
BATCH_PATH = "/message/sms/send-batch"
HANG_GUARD = 10.0  # seconds; a close or a send that takes longer fails the test as a hang


@pytest.fixture
def sim(leak_audit: LeakAudit) -> Iterator[EskizSimulator]:
    with EskizSimulator(auto_progress=False) as simulator:
        leak_audit.secret(simulator.email)
        leak_audit.secret(simulator.password)
        yield simulator


@pytest.fixture(params=["httpx", "aiohttp"])
def transport(request: pytest.FixtureRequest) -> TransportName:
    name: TransportName = request.param
    return name


@pytest.fixture
async def make_provider(
    sim: EskizSimulator, transport: TransportName
) -> AsyncIterator[Callable[..., EskizProvider]]:
    """Build providers bound to ``sim`` on ``transport``; each is closed after the test."""
    made: list[EskizProvider] = []

    def factory(**options: Any) -> EskizProvider:
        provider = EskizProvider(
            email=sim.email,
            password=sim.password,
            base_url=sim.base_url,
            transport=transport,
            **options,
        )
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        await provider.aclose()


def messages(count: int, prefix: str = "order") -> list[Sms]:
    return [
        Sms(f"+9989000002{index:02d}", f"Buyurtma #{index} yo'lda", client_ref=f"{prefix}-{index}")
        for index in range(count)
    ]


def stored_refs(sim: EskizSimulator) -> list[str]:
    """The ``user_sms_id`` of every message the simulator accepted, in order."""
    return [message.user_sms_id or "" for message in sim.messages]


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` every 5 ms; fail after ``HANG_GUARD`` seconds, naming ``what``."""
    deadline = time.monotonic() + HANG_GUARD
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {HANG_GUARD} s waiting for {what}")
        await asyncio.sleep(0.005)


async def wait_for_requests(sim: EskizSimulator, path: str, count: int) -> None:
    """Poll until the simulator has received ``count`` requests to ``path``."""
    await wait_until(lambda: sim.stats.requests[path] >= count, f"{count} {path} requests")


def send_spans(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in spans.get_finished_spans() if span.name == "notifier.send"]


def error_type(span: ReadableSpan) -> object:
    return (span.attributes or {}).get("error.type")


async def warm_up(notifier: AsyncNotifier) -> None:
    """Log in with one send, so the sends under test wait for nothing but the response."""
    await notifier.send(Sms("+998900000299", "Salom", client_ref="warm-up"))


class TestAsyncNotifierClose:
    async def test_sends_finish_within_timeout(
        self, sim: EskizSimulator, make_provider: Callable[..., EskizProvider]
    ) -> None:
        provider = make_provider()
        notifier = AsyncNotifier(provider, plugins=new_plugin_manager(), close_timeout=HANG_GUARD)
        await warm_up(notifier)
        batch = messages(5)
        sim.delay_next(0.3, times=5, path=SEND_PATH)
        tasks = [asyncio.create_task(notifier.send(message)) for message in batch]
        await wait_for_requests(sim, SEND_PATH, 6)

        with anyio.fail_after(HANG_GUARD):
            await notifier.aclose()

        for message, task in zip(batch, tasks, strict=True):
            result = task.result()
            assert isinstance(result, SendResult)
            assert result.client_ref == message.client_ref
        assert provider.closed
        assert sim.stats.sends == 6
        assert sim.stats.requests[SEND_PATH] == 6

    async def test_sends_past_timeout_are_delivery_unknown(
        self,
        sim: EskizSimulator,
        make_provider: Callable[..., EskizProvider],
        spans: InMemorySpanExporter,
    ) -> None:
        provider = make_provider()
        notifier = AsyncNotifier(provider, plugins=new_plugin_manager(), close_timeout=0.05)
        await warm_up(notifier)
        spans.clear()
        batch = messages(5)
        sim.delay_next(0.6, times=5, path=SEND_PATH)
        tasks = [asyncio.create_task(notifier.send(message)) for message in batch]
        await wait_for_requests(sim, SEND_PATH, 6)

        with anyio.fail_after(HANG_GUARD):
            await notifier.aclose()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)

        for message, outcome in zip(batch, outcomes, strict=True):
            assert isinstance(outcome, DeliveryUnknown)
            assert outcome.client_ref == message.client_ref
            assert outcome.provider == "eskiz"
        assert provider.closed
        # The held responses would have come back by now; nothing was sent again.
        await asyncio.sleep(0.6)
        assert sim.stats.sends == 6
        assert sim.stats.requests[SEND_PATH] == 6
        assert sorted(stored_refs(sim)[1:]) == sorted(m.client_ref for m in batch)
        # Every span ended: one send span and one HTTP span per message.
        assert [error_type(span) for span in send_spans(spans)] == ["DeliveryUnknown"] * 5
        client_spans = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
        assert [error_type(span) for span in client_spans] == ["CancelledError"] * 5

    async def test_new_sends_during_close_raise_closed(
        self, sim: EskizSimulator, make_provider: Callable[..., EskizProvider]
    ) -> None:
        notifier = AsyncNotifier(
            make_provider(), plugins=new_plugin_manager(), close_timeout=HANG_GUARD
        )
        await warm_up(notifier)
        sim.delay_next(0.3, path=SEND_PATH)
        in_flight = asyncio.create_task(notifier.send(Sms("+998900000201", "birinchi")))
        await wait_for_requests(sim, SEND_PATH, 2)
        closing = asyncio.create_task(notifier.aclose())
        await wait_until(lambda: notifier.closed, "aclose() to start")

        with pytest.raises(NotifierClosed, match="nothing was sent"):
            await notifier.send(Sms("+998900000202", "ikkinchi"))
        with anyio.fail_after(HANG_GUARD):
            await closing
        with pytest.raises(NotifierClosed, match="nothing was sent"):
            await notifier.send(Sms("+998900000203", "uchinchi"))

        assert isinstance(in_flight.result(), SendResult)
        assert sim.stats.requests[SEND_PATH] == 2

    async def test_batch_past_timeout_is_delivery_unknown(
        self, sim: EskizSimulator, make_provider: Callable[..., EskizProvider]
    ) -> None:
        notifier = AsyncNotifier(make_provider(), plugins=new_plugin_manager(), close_timeout=0.05)
        await warm_up(notifier)
        batch = messages(4, prefix="batch")
        sim.delay_next(0.6, path=BATCH_PATH)
        many = asyncio.create_task(notifier.send_many(batch))
        await wait_for_requests(sim, BATCH_PATH, 1)

        with anyio.fail_after(HANG_GUARD):
            await notifier.aclose()
            outcomes = await many

        for message, outcome in zip(batch, outcomes, strict=True):
            assert isinstance(outcome, DeliveryUnknown)
            assert outcome.client_ref == message.client_ref
        await asyncio.sleep(0.6)
        assert sim.stats.sends == 5
        assert sim.stats.requests[BATCH_PATH] == 1


class TestProviderClose:
    async def test_pool_waiters_are_not_sent(
        self, sim: EskizSimulator, make_provider: Callable[..., EskizProvider]
    ) -> None:
        # Two connections: two sends go out, three wait in the pool.
        provider = make_provider(limits=httpx.Limits(max_connections=2))
        await provider.send(Sms("+998900000299", "Salom", client_ref="warm-up"))
        batch = messages(5)
        sim.delay_next(0.6, times=5, path=SEND_PATH)
        tasks = [asyncio.create_task(provider.send(message)) for message in batch]
        await wait_for_requests(sim, SEND_PATH, 3)
        await asyncio.sleep(0.05)

        with anyio.fail_after(HANG_GUARD):
            await provider.aclose()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)

        unknown = [o for o in outcomes if isinstance(o, DeliveryUnknown)]
        not_sent = [o for o in outcomes if isinstance(o, NotifierClosed)]
        assert len(unknown) == 2
        assert len(not_sent) == 3
        for error in not_sent:
            assert "before the send request went out, so nothing was sent" in str(error)
        await asyncio.sleep(0.6)
        assert sim.stats.requests[SEND_PATH] == 3
        # The two DeliveryUnknown errors name exactly the messages Eskiz stored.
        assert sorted(stored_refs(sim)[1:]) == sorted(error.client_ref or "" for error in unknown)

    async def test_close_during_retry_wait_sends_nothing(
        self, sim: EskizSimulator, make_provider: Callable[..., EskizProvider]
    ) -> None:
        policy = RetryPolicy(initial_backoff=30, jitter=0, deadline=None)
        provider = make_provider(retry=policy)
        sim.fail_next(503, path=SEND_PATH)
        task = asyncio.create_task(provider.send(Sms("+998900000201", "Salom", client_ref="r1")))
        await wait_for_requests(sim, SEND_PATH, 1)
        await asyncio.sleep(0.05)

        with anyio.fail_after(HANG_GUARD):
            await provider.aclose()
            with pytest.raises(NotifierClosed, match="nothing was sent"):
                await task
        assert sim.stats.sends == 0

    async def test_close_after_timeout_before_resend_is_unknown(
        self, sim: EskizSimulator, make_provider: Callable[..., EskizProvider]
    ) -> None:
        # resend_on_timeout: the first attempt timed out after Eskiz stored
        # the message, and the close comes while the resend waits.
        policy = RetryPolicy(initial_backoff=30, jitter=0, deadline=None, resend_on_timeout=True)
        provider = make_provider(retry=policy, timeout=httpx.Timeout(5.0, read=0.2))
        await provider.send(Sms("+998900000299", "Salom", client_ref="warm-up"))
        sim.delay_next(1.0, path=SEND_PATH)
        task = asyncio.create_task(provider.send(Sms("+998900000201", "Salom", client_ref="r1")))
        await wait_until(lambda: provider.stats.retries == 1, "a retry after the read timeout")

        with anyio.fail_after(HANG_GUARD):
            await provider.aclose()
            with pytest.raises(DeliveryUnknown) as caught:
                await task
        assert caught.value.client_ref == "r1"
        assert sim.stats.sends == 2
        assert sim.stats.requests[SEND_PATH] == 2


class TestBlockingClose:
    @pytest.mark.parametrize("close_timeout", [HANG_GUARD, 0.05], ids=["finishes", "cancelled"])
    def test_close_from_another_thread(
        self,
        sim: EskizSimulator,
        transport: TransportName,
        close_timeout: float,
    ) -> None:
        provider = EskizProvider(
            email=sim.email, password=sim.password, base_url=sim.base_url, transport=transport
        )
        notifier = Notifier(provider, plugins=new_plugin_manager(), close_timeout=close_timeout)
        notifier.send(Sms("+998900000299", "Salom", client_ref="warm-up"))
        batch = messages(10)
        sim.delay_next(0.6, times=10, path=SEND_PATH)
        outcomes: dict[str, SendResult | BaseException] = {}

        def work(message: Sms) -> None:
            try:
                outcomes[message.client_ref] = notifier.send(message)
            except BaseException as error:
                outcomes[message.client_ref] = error

        senders = [threading.Thread(target=work, args=(message,)) for message in batch]
        for sender in senders:
            sender.start()
        deadline = time.monotonic() + HANG_GUARD
        while sim.stats.requests[SEND_PATH] < 11:
            assert time.monotonic() < deadline, "the sends did not reach the simulator"
            time.sleep(0.005)

        closer = threading.Thread(target=notifier.close)
        closer.start()
        closer.join(timeout=HANG_GUARD)
        for sender in senders:
            sender.join(timeout=HANG_GUARD)

        assert not closer.is_alive()
        assert not any(sender.is_alive() for sender in senders)
        expected: type[SendResult | NotifierError]
        expected = SendResult if close_timeout == HANG_GUARD else DeliveryUnknown
        for message in batch:
            outcome = outcomes[message.client_ref]
            assert isinstance(outcome, expected)
            assert outcome.client_ref == message.client_ref
        assert provider.closed
        time.sleep(0.6)
        assert sim.stats.sends == 11
        assert sim.stats.requests[SEND_PATH] == 11
