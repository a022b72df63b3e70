"""Delivery callbacks end to end: vendor simulator -> loopback HTTP -> receiver.

Messages are sent through the real Eskiz and Twilio providers to their
simulators with a ``callback_url`` that points at a ``DeliveryReportReceiver``
served by uvicorn on 127.0.0.1. The simulators post every status change,
each twice, and the receiver must pass on each change once and never go
back from a final state.
"""

from __future__ import annotations

import asyncio
import queue

from notifier import DeliveryReport, DeliveryReportReceiver, DeliveryStatus, SendResult, Sms
from notifier._plugins import new_plugin_manager
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import EskizSimulator
from notifier_twilio import TwilioProvider
from notifier_twilio.simulator import TwilioSimulator
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


def test_eskiz_callbacks_reach_receiver_once() -> None:
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
    # Every callback arrived twice and got a 2xx response, and each status
    # change reached on_report once.
    assert callbacks_refused == 0
    assert callbacks_sent == 2 * len(reports)
    changes = [(r.client_ref, r.provider_status) for r in reports]
    assert len(changes) == len(set(changes))
    for result in results:
        mine = [r for r in reports if r.client_ref == result.client_ref]
        assert mine[-1].status.is_final
        assert all(not r.status.is_final for r in mine[:-1])
        assert all(r.message_id == result.message_id for r in mine)


async def send_twilio_messages(provider: TwilioProvider, callback_url: str) -> list[SendResult]:
    results = []
    for index, number in enumerate(["+998900000061", "+998900000091"]):
        message = Sms(
            number, "Buyurtmangiz yetkazildi.", client_ref=f"tw-{index}", callback_url=callback_url
        )
        results.append(await provider.send(message))
    await provider.aclose()
    return results


def test_twilio_signed_callbacks_reach_receiver_once() -> None:
    # Twilio signs the full callback URL, query string and secret included, so
    # the URL the receiver rebuilds from the request must match it exactly.
    received: queue.Queue[DeliveryReport] = queue.Queue()

    with TwilioSimulator(auto_progress=False, callback_duplicates=True) as sim:
        sender = TwilioProvider(
            account_sid=sim.account_sid,
            auth_token=sim.auth_token,
            sender=sim.sender,
            base_url=sim.base_url,
        )
        # The receiving side needs only the auth token, which signs callbacks.
        checker = TwilioProvider(
            account_sid=sim.account_sid, auth_token=sim.auth_token, base_url=sim.base_url
        )
        receiver = DeliveryReportReceiver(
            checker, secret=SECRET, on_report=received.put, plugins=new_plugin_manager()
        )
        with LoopbackServer(receiver) as server:
            url = receiver.callback_url(server.base_url)
            results = asyncio.run(send_twilio_messages(sender, url))
            sim.settle()
            server.stop()
        reports = [received.get_nowait() for _ in range(received.qsize())]
        answered = [record.status_code for record in sim.callbacks]
        asyncio.run(checker.aclose())

    final = {r.client_ref: r.status for r in reports if r.status.is_final}
    assert final == {"tw-0": DeliveryStatus.DELIVERED, "tw-1": DeliveryStatus.UNDELIVERED}
    assert answered == [200] * len(answered)
    assert len(answered) == 2 * len(reports)
    for result in results:
        mine = [r for r in reports if r.client_ref == result.client_ref]
        assert [r.message_id for r in mine] == [result.message_id] * len(mine)
        assert mine[-1].status.is_final
