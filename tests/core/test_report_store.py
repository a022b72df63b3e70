"""The report store: duplicate detection, forward-only status, message identity."""

from __future__ import annotations

import asyncio
import queue
import threading
from datetime import datetime, timedelta, timezone

import pytest

from notifier import (
    ConfigurationError,
    DeliveryReport,
    DeliveryStatus,
    InMemoryReportStore,
    MessageState,
    ReportOutcome,
)


def report(
    status: DeliveryStatus,
    provider_status: str,
    *,
    ref: str | None = "a1",
    message_id: str | None = None,
    provider: str = "eskiz",
    at: datetime | None = None,
) -> DeliveryReport:
    return DeliveryReport(
        provider=provider,
        message_id=message_id,
        client_ref=ref,
        status=status,
        provider_status=provider_status,
        occurred_at=at,
    )


ACCEPTED = DeliveryStatus.ACCEPTED
DELIVERED = DeliveryStatus.DELIVERED
UNDELIVERED = DeliveryStatus.UNDELIVERED
UNKNOWN = DeliveryStatus.UNKNOWN
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("first", "second", "outcome"),
    [
        (report(ACCEPTED, "ACCEPTED"), report(ACCEPTED, "ENROUTE"), ReportOutcome.ACCEPTED),
        (report(ACCEPTED, "ENROUTE"), report(DELIVERED, "DELIVRD"), ReportOutcome.ACCEPTED),
        (report(ACCEPTED, "ACCEPTED"), report(ACCEPTED, "ACCEPTED"), ReportOutcome.DUPLICATE),
        (report(ACCEPTED, "accepted"), report(ACCEPTED, "ACCEPTED"), ReportOutcome.DUPLICATE),
        (report(DELIVERED, "DELIVRD"), report(DELIVERED, "DELIVRD"), ReportOutcome.DUPLICATE),
        (report(DELIVERED, "DELIVRD"), report(ACCEPTED, "ENROUTE"), ReportOutcome.OUTDATED),
        (report(DELIVERED, "DELIVRD"), report(UNDELIVERED, "UNDELIV"), ReportOutcome.OUTDATED),
        (report(DELIVERED, "DELIVRD"), report(UNKNOWN, "WEIRD"), ReportOutcome.OUTDATED),
        (report(UNKNOWN, "WEIRD"), report(ACCEPTED, "ACCEPTED"), ReportOutcome.ACCEPTED),
        (report(UNKNOWN, "WEIRD"), report(DELIVERED, "DELIVRD"), ReportOutcome.ACCEPTED),
        (
            report(ACCEPTED, "ENROUTE", at=T0 + timedelta(seconds=5)),
            report(ACCEPTED, "ACCEPTED", at=T0),
            ReportOutcome.OUTDATED,
        ),
        (
            report(ACCEPTED, "ACCEPTED", at=T0),
            report(ACCEPTED, "ENROUTE", at=T0),
            ReportOutcome.ACCEPTED,
        ),
        (
            report(ACCEPTED, "ENROUTE", at=T0 + timedelta(seconds=5)),
            report(DELIVERED, "DELIVRD", at=T0),
            ReportOutcome.ACCEPTED,
        ),
        (
            report(ACCEPTED, "ENROUTE", at=T0),
            report(ACCEPTED, "ACCEPTED"),
            ReportOutcome.ACCEPTED,
        ),
    ],
    ids=[
        "progress",
        "final-after-progress",
        "duplicate-progress",
        "duplicate-case-insensitive",
        "duplicate-final",
        "progress-after-final",
        "other-final-after-final",
        "unknown-after-final",
        "progress-after-unknown",
        "final-after-unknown",
        "older-progress",
        "same-time-progress",
        "final-with-older-time",
        "progress-without-time",
    ],
)
def test_message_state_rule(
    first: DeliveryReport, second: DeliveryReport, outcome: ReportOutcome
) -> None:
    state = MessageState.first(first)

    result, new_state = state.apply(second)

    assert result is outcome
    if outcome is ReportOutcome.ACCEPTED:
        assert new_state.current == second
    else:
        assert new_state is state


async def test_store_links_message_id_to_client_ref() -> None:
    store = InMemoryReportStore()

    first = await store.record(report(ACCEPTED, "ACCEPTED", ref="a1", message_id=None))
    second = await store.record(report(DELIVERED, "DELIVRD", ref="a1", message_id="77"))
    third = await store.record(report(DELIVERED, "DELIVRD", ref=None, message_id="77"))

    assert (first, second, third) == (
        ReportOutcome.ACCEPTED,
        ReportOutcome.ACCEPTED,
        ReportOutcome.DUPLICATE,
    )
    by_id = await store.latest("eskiz", message_id="77")
    by_ref = await store.latest("eskiz", client_ref="a1")
    assert by_id is not None
    assert by_id == by_ref
    assert len(store) == 1


async def test_store_keeps_batch_messages_apart() -> None:
    # Every message of an Eskiz batch carries the same request id.
    store = InMemoryReportStore()

    first = await store.record(report(DELIVERED, "DELIVRD", ref="a1", message_id="batch-7"))
    second = await store.record(report(DELIVERED, "DELIVRD", ref="a2", message_id="batch-7"))

    assert (first, second) == (ReportOutcome.ACCEPTED, ReportOutcome.ACCEPTED)
    assert len(store) == 2
    latest = await store.latest("eskiz", client_ref="a2")
    assert latest is not None
    assert latest.client_ref == "a2"


async def test_store_links_client_ref_to_message_id() -> None:
    store = InMemoryReportStore()

    first = await store.record(report(ACCEPTED, "ACCEPTED", ref=None, message_id="77"))
    second = await store.record(report(DELIVERED, "DELIVRD", ref="a1", message_id="77"))
    third = await store.record(report(DELIVERED, "DELIVRD", ref="a1", message_id=None))

    assert (first, second, third) == (
        ReportOutcome.ACCEPTED,
        ReportOutcome.ACCEPTED,
        ReportOutcome.DUPLICATE,
    )
    assert len(store) == 1


async def test_store_latest_unknown_message() -> None:
    store = InMemoryReportStore()
    await store.record(report(DELIVERED, "DELIVRD", ref="a1"))

    assert await store.latest("eskiz", client_ref="other") is None
    assert await store.latest("twilio", client_ref="a1") is None


async def test_store_latest_needs_an_id() -> None:
    with pytest.raises(TypeError, match="client_ref or message_id"):
        await InMemoryReportStore().latest("eskiz")


async def test_store_forgets_oldest_messages() -> None:
    store = InMemoryReportStore(max_messages=2)
    for ref in ["a", "b", "c"]:
        await store.record(report(DELIVERED, "DELIVRD", ref=ref))

    assert len(store) == 2
    assert await store.latest("eskiz", client_ref="a") is None
    assert await store.latest("eskiz", client_ref="c") is not None
    # A forgotten message is news again.
    assert await store.record(report(DELIVERED, "DELIVRD", ref="a")) is ReportOutcome.ACCEPTED


async def test_store_keeps_recently_reported() -> None:
    store = InMemoryReportStore(max_messages=2)
    await store.record(report(ACCEPTED, "ACCEPTED", ref="a"))
    await store.record(report(ACCEPTED, "ACCEPTED", ref="b"))
    await store.record(report(DELIVERED, "DELIVRD", ref="a"))
    await store.record(report(ACCEPTED, "ACCEPTED", ref="c"))

    assert await store.latest("eskiz", client_ref="a") is not None
    assert await store.latest("eskiz", client_ref="b") is None


async def test_store_clear() -> None:
    store = InMemoryReportStore()
    await store.record(report(DELIVERED, "DELIVRD"))

    store.clear()

    assert len(store) == 0
    assert await store.record(report(DELIVERED, "DELIVRD")) is ReportOutcome.ACCEPTED


def test_store_size_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_messages must be at least 1"):
        InMemoryReportStore(max_messages=0)


def test_store_accepts_each_report_once_across_threads() -> None:
    store = InMemoryReportStore()
    outcomes: queue.Queue[ReportOutcome] = queue.Queue()

    def worker() -> None:
        for _ in range(50):
            outcomes.put(asyncio.run(store.record(report(DELIVERED, "DELIVRD", ref="shared"))))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    results = [outcomes.get_nowait() for _ in range(outcomes.qsize())]
    assert len(results) == 200
    assert results.count(ReportOutcome.ACCEPTED) == 1
