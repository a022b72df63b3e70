"""EskizProvider behind AsyncNotifier and Notifier: shared tokens, spans, no secrets."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from notifier import (
    AsyncNotifier,
    AuthenticationError,
    Notifier,
    ProviderError,
    SendResult,
    Sms,
)
from notifier._http import TransportName
from notifier._plugins import new_plugin_manager
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import EskizSimulator
from tests._audit import LeakAudit, find_leaks
from tests.eskiz.conftest import TRIAL_TEXT, ProviderFactory

pytestmark = pytest.mark.usefixtures("instant")

SEND_PATH = "/message/sms/send"


def _sms(number: int) -> Sms:
    return Sms(f"+9989000000{number % 100:02d}", TRIAL_TEXT)


def _notifier(provider: EskizProvider) -> AsyncNotifier:
    return AsyncNotifier(provider, plugins=new_plugin_manager())


class TestSharedToken:
    async def test_200_sends_expired_token(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        async with _notifier(provider) as notifier:
            await notifier.send(_sms(1))
            sim.expire_tokens()
            sim.reset_stats()
            results = await asyncio.gather(*(notifier.send(_sms(n)) for n in range(200)))
        assert len(results) == 200
        assert sim.stats.logins == 1
        assert sim.stats.sends == 200
        assert sim.stats.refreshes == 0

    def test_twenty_threads_one_notifier(
        self, sim: EskizSimulator, transport: TransportName
    ) -> None:
        provider = EskizProvider(
            email=sim.email, password=sim.password, base_url=sim.base_url, transport=transport
        )
        results: list[SendResult] = []
        errors: list[BaseException] = []
        start = threading.Barrier(20)

        def worker(number: int, notifier: Notifier) -> None:
            start.wait()
            try:
                for offset in range(3):
                    results.append(notifier.send(_sms(number * 3 + offset)))
            except BaseException as exc:  # reported through the errors list
                errors.append(exc)

        with Notifier(provider, plugins=new_plugin_manager()) as notifier:
            threads = [threading.Thread(target=worker, args=(n, notifier)) for n in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)

        assert errors == []
        assert len(results) == 60
        assert sim.stats.logins == 1
        assert sim.stats.sends == 60
        assert provider.closed

    async def test_two_notifiers_one_provider(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        first = _notifier(provider)
        second = _notifier(provider)
        await asyncio.gather(
            *(first.send(_sms(n)) for n in range(10)),
            *(second.send(_sms(n)) for n in range(10)),
        )
        await first.aclose()
        assert not provider.closed  # the second notifier still uses it
        await second.send(_sms(1))
        await second.aclose()
        assert provider.closed
        assert sim.stats.logins == 1
        assert sim.stats.sends == 21

    async def test_send_many_uses_batches(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        messages = [_sms(n) for n in range(30)]
        async with _notifier(provider) as notifier:
            outcomes = await notifier.send_many(messages)
        assert all(isinstance(outcome, SendResult) for outcome in outcomes)
        assert sim.stats.requests["/message/sms/send-batch"] == 1
        assert sim.stats.sends == 30

    async def test_send_many_batch_false_sends_singly(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        messages = [_sms(n) for n in range(12)]
        async with _notifier(provider) as notifier:
            outcomes = await notifier.send_many(messages, concurrency=4, batch=False)
        assert all(isinstance(outcome, SendResult) for outcome in outcomes)
        assert sim.stats.requests["/message/sms/send-batch"] == 0
        assert sim.stats.requests[SEND_PATH] == 12
        assert sim.stats.sends == 12
        assert sim.stats.logins == 1


def _client_spans(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in spans.get_finished_spans() if span.kind is SpanKind.CLIENT]


def _send_spans(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in spans.get_finished_spans() if span.name == "notifier.send"]


class TestSpans:
    async def test_cured_401_spans(
        self, sim: EskizSimulator, provider: EskizProvider, spans: InMemorySpanExporter
    ) -> None:
        async with _notifier(provider) as notifier:
            await notifier.send(_sms(1))
            sim.expire_tokens()
            spans.clear()
            await notifier.send(_sms(2))

        (send_span,) = _send_spans(spans)
        assert send_span.status.status_code is not StatusCode.ERROR
        client_spans = _client_spans(spans)
        assert [span.name for span in client_spans] == [
            "POST /message/sms/send",
            "POST /auth/login",
            "POST /message/sms/send",
        ]
        rejected, login, replay = client_spans
        assert rejected.attributes is not None
        assert rejected.attributes["http.response.status_code"] == 401
        assert rejected.attributes["error.type"] == "401"
        assert login.attributes is not None
        assert "http.request.resend_count" not in login.attributes
        assert login.attributes["http.response.status_code"] == 200
        assert replay.attributes is not None
        assert replay.attributes["http.request.resend_count"] == 1
        assert replay.attributes["http.response.status_code"] == 200
        assert replay.attributes["server.address"] == "127.0.0.1"
        assert replay.attributes["url.path"] == "/api/message/sms/send"
        for span in client_spans:
            assert span.parent is not None
            assert span.parent.span_id == send_span.context.span_id
            assert span.instrumentation_scope is not None
            assert span.instrumentation_scope.name == "notifier.eskiz"

    async def test_retry_spans(
        self, sim: EskizSimulator, provider: EskizProvider, spans: InMemorySpanExporter
    ) -> None:
        await provider.balance()
        sim.fail_next(503, times=2, path=SEND_PATH)
        spans.clear()
        async with _notifier(provider) as notifier:
            await notifier.send(_sms(1))
        counts = [
            (span.attributes or {}).get("http.request.resend_count")
            for span in _client_spans(spans)
        ]
        assert counts == [None, 1, 2]

    @pytest.mark.parametrize(
        ("fault", "error_type"),
        [("503", "ProviderUnavailable"), ("timeout", "DeliveryUnknown")],
    )
    async def test_one_send_span_on_failure(
        self,
        sim: EskizSimulator,
        make_provider: ProviderFactory,
        spans: InMemorySpanExporter,
        fault: str,
        error_type: str,
    ) -> None:
        provider = make_provider(timeout=httpx.Timeout(5.0, read=0.3))
        await provider.balance()
        if fault == "503":
            sim.fail_next(503, times=3, path=SEND_PATH)
        else:
            sim.delay_next(0.6, path=SEND_PATH)
        spans.clear()
        async with _notifier(provider) as notifier:
            with pytest.raises(ProviderError):
                await notifier.send(_sms(1))
        (send_span,) = _send_spans(spans)
        assert send_span.status.status_code is StatusCode.ERROR
        assert send_span.attributes is not None
        assert send_span.attributes["error.type"] == error_type
        client_spans = _client_spans(spans)
        assert len(client_spans) == (3 if fault == "503" else 1)
        assert all(span.status.status_code is StatusCode.ERROR for span in client_spans)

    async def test_failed_login_span(
        self, make_provider: ProviderFactory, spans: InMemorySpanExporter
    ) -> None:
        provider = make_provider(password="not-the-secret")
        async with _notifier(provider) as notifier:
            with pytest.raises(AuthenticationError):
                await notifier.send(_sms(1))
        (send_span,) = _send_spans(spans)
        assert send_span.status.status_code is StatusCode.ERROR
        assert send_span.attributes is not None
        assert send_span.attributes["error.type"] == "AuthenticationError"
        (login,) = _client_spans(spans)
        assert login.status.status_code is StatusCode.ERROR
        assert login.attributes is not None
        assert login.attributes["error.type"] == "401"

    async def test_cancelled_send_ends_spans(
        self, sim: EskizSimulator, provider: EskizProvider, spans: InMemorySpanExporter
    ) -> None:
        await provider.balance()
        sim.delay_next(0.4, path=SEND_PATH)
        spans.clear()
        async with _notifier(provider) as notifier:
            task = asyncio.create_task(notifier.send(_sms(1)))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        (client_span,) = _client_spans(spans)
        assert client_span.end_time is not None
        assert client_span.attributes is not None
        assert client_span.attributes["error.type"] == "CancelledError"
        assert len(_send_spans(spans)) == 1


@pytest.fixture
def debug_records() -> Iterator[list[logging.LogRecord]]:
    """Every record of the ``notifier`` loggers at DEBUG while the test runs."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    logger = logging.getLogger("notifier")
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(previous)


class TestNoSecrets:
    async def test_logs_and_spans_clean(
        self,
        sim: EskizSimulator,
        make_provider: ProviderFactory,
        spans: InMemorySpanExporter,
        debug_records: list[logging.LogRecord],
        leak_audit: LeakAudit,
    ) -> None:
        body = "Sizning tasdiqlash kodingiz: 739164"
        leak_audit.secret(body)
        provider = make_provider()
        wrong = make_provider(password="wrong-password-value")
        leak_audit.secret("wrong-password-value")
        async with _notifier(provider) as notifier:
            await notifier.send(Sms("+998900000011", body))
            sim.expire_tokens()
            sim.fail_next(503, path=SEND_PATH)
            await notifier.send(Sms("+998900000012", body))
            sim.fail_next(400, path=SEND_PATH, body={"message": "bad 998900000013", "x": body})
            with pytest.raises(Exception):  # noqa: B017, PT011 - any error; the text is checked
                await notifier.send(Sms("+998900000013", body))
        async with _notifier(wrong) as notifier:
            with pytest.raises(AuthenticationError) as caught:
                await notifier.send(Sms("+998900000014", body))

        secrets = [sim.password, sim.email, "wrong-password-value", body]
        texts: list[str] = [str(caught.value)]
        for record in debug_records:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f" {record.exc_info[1]}"
            texts.append(text)
        for span in spans.get_finished_spans():
            attributes: dict[str, Any] = dict(span.attributes or {})
            texts.append(" ".join(f"{key}={value}" for key, value in attributes.items()))
            for event in span.events:
                texts.append(" ".join(str(value) for value in (event.attributes or {}).values()))
            texts.append(span.status.description or "")
        assert any("eskiz" in text for text in texts)  # the check saw real output
        for text in texts:
            assert find_leaks(text, secrets) == [], text
