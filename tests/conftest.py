"""Shared fixtures: OpenTelemetry capture and the session-wide leak audit.

The OpenTelemetry SDK providers are installed once, at import, before any
library module requests a tracer. Tests read finished spans through the
``spans`` fixture and metrics through ``metric_reader``.
"""

from __future__ import annotations

import logging

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests._audit import AuditLogHandler, AuditSpanProcessor, LeakAudit

_SPAN_EXPORTER = InMemorySpanExporter()
_AUDIT = LeakAudit()
_TRACER_PROVIDER = TracerProvider()
_TRACER_PROVIDER.add_span_processor(SimpleSpanProcessor(_SPAN_EXPORTER))
_TRACER_PROVIDER.add_span_processor(AuditSpanProcessor(_AUDIT))
trace.set_tracer_provider(_TRACER_PROVIDER)

_METRIC_READER = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[_METRIC_READER]))

_LIBRARY_LOGGER = logging.getLogger("notifier")
_LIBRARY_LOGGER.setLevel(logging.DEBUG)
_LIBRARY_LOGGER.addHandler(AuditLogHandler(_AUDIT))


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """The exporter of finished spans, emptied before the test starts."""
    _SPAN_EXPORTER.clear()
    return _SPAN_EXPORTER


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    """The in-memory reader of every metric recorded in this process."""
    return _METRIC_READER


@pytest.fixture
def leak_audit() -> LeakAudit:
    """The session's leak audit; call ``leak_audit.secret(value)`` to register a secret."""
    return _AUDIT


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _AUDIT.current_test = item.nodeid


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = _AUDIT.report()
    if not leaks:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = ["Leak audit: secrets or full phone numbers reached logs or spans:", *leaks[:50]]
    if reporter is not None:
        for line in lines:
            reporter.write_line(line, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
