"""Eskiz delivery callbacks end to end: simulator -> loopback HTTP -> receiver.

Messages are sent through the real Eskiz provider to the Eskiz simulator with
a ``callback_url`` that points at a ``DeliveryReportReceiver`` served by
uvicorn on 127.0.0.1. The simulator posts every status change, each twice,
and the receiver must pass on each change once and never go back from a
final state.
"""

from __future__ import annotations

import asyncio
import queue

from notifier import DeliveryReport, DeliveryReportReceiver, DeliveryStatus, SendResult, Sms
from notifier._plugins import new_plugin_manager
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import EskizSimulator
from tests._loopback import LoopbackServer

SECRET = "integration-Receiver-Secret-0123456789"
TRIAL_TEXT = "Bu Eskiz dan test"
CALLBACK_DEADLINE = 10.0  # seconds; a hang guard, not a performance bound


async def send_messages(provider: EskizProvider, callback_url: str) -> list[SendResult]:
    results = []
    for index, number in enumerate(["+998900000051", "+998900000052", "+998900000053"]):
        message = Sms(number, TRIAL_TEXT, client_ref=f"order-{index}", callback_url=callback_url)
        results.append(await provider.send(message))
    await provider.aclose()
    return results


def collect_until_final(
    received: queue.Queue[DeliveryReport], refs: set[str]
) -> list[DeliveryReport]:
    reports: list[DeliveryReport] = []
    finished: set[str] = set()
    while finished != refs:
        report = received.get(timeout=CALLBACK_DEADLINE)
        reports.append(report)
        if report.status.is_final and report.client_ref is not None:
            finished.add(report.client_ref)
    return reports


def test_simulator_callbacks_reach_receiver_once() -> None:
    received: queue.Queue[DeliveryReport] = queue.Queue()

    with EskizSimulator(
        auto_progress=False, callback_duplicates=True, seed=3, tick_interval=0.01
    ) as sim:
        sim.set_outcome("998900000052", "undelivered")
        provider = EskizProvider(email=sim.email, password=sim.password, base_url=sim.base_url)
        receiver = DeliveryReportReceiver(
            provider, secret=SECRET, on_report=received.put, plugins=new_plugin_manager()
        )
        with LoopbackServer(receiver) as server:
            results = asyncio.run(send_messages(provider, receiver.callback_url(server.base_url)))
            sim.settle()
            reports = collect_until_final(received, {"order-0", "order-1", "order-2"})
            server.stop()
        reports += [received.get_nowait() for _ in range(received.qsize())]
        callbacks_sent = sim.stats.callbacks_sent
        callbacks_refused = sim.stats.callbacks_refused

    final = {r.client_ref: r.status for r in reports if r.status.is_final}
    assert final == {
        "order-0": DeliveryStatus.DELIVERED,
        "order-1": DeliveryStatus.UNDELIVERED,
        "order-2": DeliveryStatus.DELIVERED,
    }
    # Every callback arrived twice and was answered 200; each status change
    # reached on_report once.
    assert callbacks_refused == 0
    assert callbacks_sent == 2 * len(reports)
    changes = [(r.client_ref, r.provider_status) for r in reports]
    assert len(changes) == len(set(changes))
    for result in results:
        mine = [r for r in reports if r.client_ref == result.client_ref]
        assert mine[-1].status.is_final
        assert all(not r.status.is_final for r in mine[:-1])
        assert all(r.message_id == result.message_id for r in mine)
