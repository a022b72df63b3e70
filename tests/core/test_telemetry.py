"""Tests of the send span, its parent, and the send metrics."""

from __future__ import annotations

import asyncio
import contextvars
import importlib.metadata
import subprocess
import sys
import textwrap
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import notifier
from notifier import (
    AsyncNotifier,
    AuthenticationError,
    DeliveryUnknown,
    Notifier,
    ProviderUnavailable,
    RejectedError,
    SendResult,
    Sms,
)
from notifier.testing import FakeProvider

OK_NUMBER = "+998900000010"
BODY = "Tasdiqlash kodi: 4512. Uni hech kimga bermang."

test_tracer = trace.get_tracer("tests.core.test_telemetry")


def send_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == "notifier.send"]


class TracingProvider(FakeProvider):
    """A fake that opens a CLIENT span inside send(), as an HTTP provider does."""

    async def send(self, message: Sms) -> SendResult:
        with test_tracer.start_as_current_span("POST", kind=SpanKind.CLIENT):
            return await super().send(message)


def unique_provider() -> FakeProvider:
    """Return a fake with a unique name, so its metric points can be filtered by provider."""
    provider_class = type("MetricsProvider", (FakeProvider,), {"name": f"fake-{uuid.uuid4().hex}"})
    provider: FakeProvider = provider_class()
    return provider


class TestSendSpan:
    async def test_one_ok_span_with_attributes(self, spans: InMemorySpanExporter) -> None:
        async with AsyncNotifier(FakeProvider()) as sender:
            message = Sms(OK_NUMBER, BODY, client_ref="ref-1")
            await sender.send(message)

        [span] = send_spans(spans)
        assert span.kind is SpanKind.PRODUCER
        assert span.status.status_code is StatusCode.UNSET
        assert span.instrumentation_scope is not None
        assert span.instrumentation_scope.name == "notifier"
        assert span.instrumentation_scope.version == notifier.__version__
        attributes = dict(span.attributes or {})
        assert attributes == {
            "messaging.system": "fake",
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
            "messaging.message.id": "fake-1",
            "notifier.provider": "fake",
            "notifier.client_ref": "ref-1",
            "notifier.segments": 1,
            "notifier.encoding": "gsm7",
            "notifier.attempts": 1,
        }

    @pytest.mark.parametrize(
        ("number", "error_type"),
        [
            pytest.param(FakeProvider.UNAVAILABLE_NUMBER, ProviderUnavailable, id="503"),
            pytest.param(FakeProvider.UNKNOWN_NUMBER, DeliveryUnknown, id="timeout"),
            pytest.param(FakeProvider.AUTH_FAILED_NUMBER, AuthenticationError, id="login"),
            pytest.param(FakeProvider.REJECTED_NUMBER, RejectedError, id="rejected"),
        ],
    )
    async def test_one_error_span_per_failure(
        self,
        spans: InMemorySpanExporter,
        number: str,
        error_type: type[Exception],
    ) -> None:
        async with AsyncNotifier(FakeProvider()) as sender:
            with pytest.raises(error_type):
                await sender.send(Sms(number, BODY))

        [span] = send_spans(spans)
        assert span.status.status_code is StatusCode.ERROR
        attributes = dict(span.attributes or {})
        assert attributes["error.type"] == error_type.__name__
        assert attributes["notifier.attempts"] == 1
        assert "messaging.message.id" not in attributes
        [event] = span.events
        assert event.name == "exception"
        assert dict(event.attributes or {})["exception.type"] == error_type.__name__
        assert "exception.stacktrace" not in dict(event.attributes or {})

    async def test_one_span_on_cancellation(self, spans: InMemorySpanExporter) -> None:
        async with AsyncNotifier(FakeProvider(delay=30)) as sender:
            task = asyncio.create_task(sender.send(Sms(OK_NUMBER, BODY)))
            await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        [span] = send_spans(spans)
        assert span.end_time is not None
        assert span.status.status_code is StatusCode.ERROR
        assert dict(span.attributes or {})["error.type"] == "CancelledError"

    async def test_one_span_on_timeout(self, spans: InMemorySpanExporter) -> None:
        async with AsyncNotifier(FakeProvider(delay=30)) as sender:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(sender.send(Sms(OK_NUMBER, BODY)), timeout=0.01)
        assert len(send_spans(spans)) == 1

    async def test_closed_notifier_still_makes_one_span(self, spans: InMemorySpanExporter) -> None:
        sender = AsyncNotifier(FakeProvider())
        await sender.aclose()
        with pytest.raises(notifier.NotifierClosed):
            await sender.send(Sms(OK_NUMBER, BODY))
        [span] = send_spans(spans)
        assert dict(span.attributes or {})["notifier.attempts"] == 0

    async def test_provider_span_is_a_child(self, spans: InMemorySpanExporter) -> None:
        async with AsyncNotifier(TracingProvider()) as sender:
            await sender.send(Sms(OK_NUMBER, BODY))

        [send_span] = send_spans(spans)
        [http_span] = [span for span in spans.get_finished_spans() if span.name == "POST"]
        assert http_span.parent is not None
        assert send_span.context is not None
        assert http_span.parent.span_id == send_span.context.span_id

    async def test_failover_span_counts_attempts(self, spans: InMemorySpanExporter) -> None:
        first, second = FakeProvider(), FakeProvider()
        first.fail_next(ProviderUnavailable)
        second.fail_next(ProviderUnavailable)
        async with AsyncNotifier([first, second]) as sender:
            with pytest.raises(ProviderUnavailable):
                await sender.send(Sms(OK_NUMBER, BODY))
        [span] = send_spans(spans)
        attributes = dict(span.attributes or {})
        assert attributes["notifier.attempts"] == 2
        # The span names the vendor that failed last, not the policy.
        assert attributes["notifier.provider"] == "fake"
        assert attributes["messaging.system"] == "fake"

    async def test_no_number_or_body_in_span(self, spans: InMemorySpanExporter) -> None:
        async with AsyncNotifier(FakeProvider()) as sender:
            await sender.send(Sms(OK_NUMBER, BODY))
            with pytest.raises(RejectedError):
                await sender.send(Sms(FakeProvider.REJECTED_NUMBER, BODY))

        for span in send_spans(spans):
            texts = [str(value) for value in (span.attributes or {}).values()]
            for event in span.events:
                texts += [str(value) for value in (event.attributes or {}).values()]
            texts.append(span.status.description or "")
            joined = " ".join(texts)
            assert "90000001" not in joined
            assert "Tasdiqlash" not in joined

    async def test_batch_makes_one_span_per_request(self, spans: InMemorySpanExporter) -> None:
        async with AsyncNotifier(FakeProvider(batch_size=2)) as sender:
            await sender.send_many([Sms(OK_NUMBER, BODY) for _ in range(5)], concurrency=1)

        batch_spans = [s for s in spans.get_finished_spans() if s.name == "notifier.send_batch"]
        assert len(batch_spans) == 3
        assert send_spans(spans) == []
        counts = Counter(
            dict(span.attributes or {})["messaging.batch.message_count"] for span in batch_spans
        )
        assert counts == {2: 2, 1: 1}


class TestSpanParent:
    async def test_async_caller(self, spans: InMemorySpanExporter) -> None:
        async with AsyncNotifier(FakeProvider()) as sender:
            with test_tracer.start_as_current_span("handler") as caller:
                await sender.send(Sms(OK_NUMBER, BODY))
        assert_child_of(send_spans(spans), caller)

    def test_sync_callers_on_threads(self, spans: InMemorySpanExporter) -> None:
        callers: list[trace.Span] = []

        def work(index: int) -> None:
            with test_tracer.start_as_current_span(f"job-{index}") as caller:
                callers.append(caller)
                sender.send(Sms(OK_NUMBER, f"{BODY} {index}"))

        with Notifier(FakeProvider()) as sender:
            threads = [threading.Thread(target=work, args=(index,)) for index in range(5)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=10)

        finished = send_spans(spans)
        assert len(finished) == 5
        caller_ids = {caller.get_span_context().span_id for caller in callers}
        parent_ids = {span.parent.span_id for span in finished if span.parent is not None}
        assert parent_ids == caller_ids

    async def test_executor_with_to_thread(self, spans: InMemorySpanExporter) -> None:
        with (
            Notifier(FakeProvider()) as sender,
            test_tracer.start_as_current_span("view") as caller,
        ):
            await asyncio.to_thread(sender.send, Sms(OK_NUMBER, BODY))
        assert_child_of(send_spans(spans), caller)

    async def test_executor_with_copied_context(self, spans: InMemorySpanExporter) -> None:
        loop = asyncio.get_running_loop()
        with (
            Notifier(FakeProvider()) as sender,
            test_tracer.start_as_current_span("view") as caller,
        ):
            context = contextvars.copy_context()
            await loop.run_in_executor(None, context.run, sender.send, Sms(OK_NUMBER, BODY))
        assert_child_of(send_spans(spans), caller)

    def test_no_caller_span_makes_a_root(self, spans: InMemorySpanExporter) -> None:
        with Notifier(FakeProvider()) as sender:
            sender.send(Sms(OK_NUMBER, BODY))
        [span] = send_spans(spans)
        assert span.parent is None


def assert_child_of(finished: Sequence[ReadableSpan], caller: trace.Span) -> None:
    assert len(finished) == 1
    parent = finished[0].parent
    assert parent is not None
    assert parent.span_id == caller.get_span_context().span_id
    assert parent.trace_id == caller.get_span_context().trace_id


def metric_points(reader: InMemoryMetricReader, name: str, provider: str) -> list[Any]:
    """Return the points of metric ``name`` recorded for ``provider``."""
    data = reader.get_metrics_data()
    points: list[Any] = []
    for resource_metrics in data.resource_metrics if data else []:
        for scope_metrics in resource_metrics.scope_metrics:
            if scope_metrics.scope.name != "notifier":
                continue
            for metric in scope_metrics.metrics:
                if metric.name != name:
                    continue
                for point in metric.data.data_points:
                    if (point.attributes or {}).get("notifier.provider") == provider:
                        points.append(point)
    return points


class TestMetrics:
    async def test_sent_and_failed_counters(self, metric_reader: InMemoryMetricReader) -> None:
        provider = unique_provider()
        async with AsyncNotifier(provider) as sender:
            await sender.send(Sms(OK_NUMBER, BODY))
            await sender.send(Sms(OK_NUMBER, BODY))
            with pytest.raises(RejectedError):
                await sender.send(Sms(FakeProvider.REJECTED_NUMBER, BODY))

        [sent] = metric_points(metric_reader, "notifier.messages.sent", provider.name)
        assert sent.value == 2
        [failed] = metric_points(metric_reader, "notifier.messages.failed", provider.name)
        assert failed.value == 1
        assert dict(failed.attributes or {})["error.type"] == "RejectedError"

    async def test_duration_histogram_in_seconds(self, metric_reader: InMemoryMetricReader) -> None:
        provider = unique_provider()
        async with AsyncNotifier(provider) as sender:
            await sender.send(Sms(OK_NUMBER, BODY))

        data = metric_reader.get_metrics_data()
        assert data is not None
        units = {
            metric.name: metric.unit
            for resource_metrics in data.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
        }
        assert units["notifier.send.duration"] == "s"
        [point] = metric_points(metric_reader, "notifier.send.duration", provider.name)
        assert point.count == 1
        assert 0 < point.sum < 5

    async def test_batch_counts_each_message(self, metric_reader: InMemoryMetricReader) -> None:
        provider_class = type("BatchMetrics", (FakeProvider,), {"name": f"fake-{uuid.uuid4().hex}"})
        provider: FakeProvider = provider_class(batch_size=10)
        async with AsyncNotifier(provider) as sender:
            await sender.send_many(
                [
                    Sms(OK_NUMBER, BODY),
                    Sms(FakeProvider.REJECTED_NUMBER, BODY),
                    Sms(OK_NUMBER, BODY),
                ]
            )
        [sent] = metric_points(metric_reader, "notifier.messages.sent", provider.name)
        [failed] = metric_points(metric_reader, "notifier.messages.failed", provider.name)
        assert sent.value == 2
        assert failed.value == 1


NO_SDK_SCRIPT = textwrap.dedent(
    """
    import asyncio, importlib.abc, sys

    class BlockSdk(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry.sdk" or name.startswith("opentelemetry.sdk."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, BlockSdk())

    from opentelemetry import metrics, trace
    from notifier import AsyncNotifier, Notifier, Sms
    from notifier.testing import FakeProvider

    recording = []

    class Probe(FakeProvider):
        async def send(self, message):
            recording.append(trace.get_current_span().is_recording())
            return await super().send(message)

    async def main():
        async with AsyncNotifier(Probe()) as sender:
            return await sender.send(Sms("+998900000010", "Salom"))

    result = asyncio.run(main())
    with Notifier(Probe()) as sender:
        sender.send(Sms("+998900000010", "Salom"))
    sdk_loaded = any(name.startswith("opentelemetry.sdk") for name in sys.modules)
    print(
        result.status.value,
        recording,
        sdk_loaded,
        type(trace.get_tracer_provider()).__name__,
        type(metrics.get_meter_provider()).__name__,
    )
    """
)


def test_sending_works_without_sdk() -> None:
    # A constant script run with this interpreter.
    completed = subprocess.run(  # noqa: S603
        [sys.executable, "-c", NO_SDK_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == [
        "queued",
        "[False,",
        "False]",
        "False",
        "ProxyTracerProvider",
        "_ProxyMeterProvider",
    ]


def test_runtime_depends_on_api_only() -> None:
    requirements = importlib.metadata.requires("notifier-core") or []
    runtime = [line for line in requirements if "extra ==" not in line]
    otel = sorted(
        line.split(">")[0].split("<")[0].strip() for line in runtime if "opentelemetry" in line
    )
    assert otel == ["opentelemetry-api"]
