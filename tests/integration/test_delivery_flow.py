"""Delivery reports end to end: send, vendor callback, receiver, report store.

The core ``DeliveryReportReceiver`` runs under uvicorn on a loopback port
in a background thread and serves both vendors. Each message is sent with
a ``callback_url`` pointing at the receiver, secret included, and the
vendor's simulator moves the message on and posts its callbacks there.
Both simulators post every callback twice, as vendors that retry do.

The receiver processes reports before it responds (``background=False``),
so once it has responded to a simulator's callback, the report is stored.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from notifier import (
    AsyncNotifier,
    DeliveryReport,
    DeliveryReportReceiver,
    DeliveryStatus,
    SendResult,
    Sms,
)
from notifier._plugins import new_plugin_manager
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import CallbackEvent, EskizSimulator, callback_payload
from notifier_twilio import SIGNATURE_HEADER, TwilioProvider, compute_signature
from notifier_twilio.simulator import CallbackRecord, TwilioSimulator
from tests._audit import LeakAudit

SECRET = "delivery-flow-Secret-0123456789"
WAIT = 10.0  # seconds; a guard against hangs, not a performance bound

UZ_NUMBER = "+998900000030"
UZ_OTHER_NUMBER = "+998900000031"


class ReportLog:
    """The reports the receiver handed to ``on_report``, in order, safe across threads."""

    def __init__(self) -> None:
        self._reports: list[DeliveryReport] = []
        self._condition = threading.Condition()

    def __call__(self, report: DeliveryReport) -> None:
        with self._condition:
            self._reports.append(report)
            self._condition.notify_all()

    def of(self, client_ref: str) -> list[DeliveryReport]:
        with self._condition:
            return [report for report in self._reports if report.client_ref == client_ref]

    @property
    def all(self) -> list[DeliveryReport]:
        with self._condition:
            return list(self._reports)


class LoopbackServer:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app, lifespan="on", log_config=None, access_log=False, ws="none", http="h11"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        wait_until(lambda: self._server.started, "uvicorn to start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=WAIT)
        self._socket.close()
        assert not self._thread.is_alive(), f"uvicorn did not stop within {WAIT} s"


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds; fail after ``WAIT`` seconds."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {WAIT} s waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def eskiz_sim(leak_audit: LeakAudit) -> Iterator[EskizSimulator]:
    with EskizSimulator(auto_progress=False, callback_duplicates=True, seed=8) as simulator:
        leak_audit.secret(simulator.password)
        yield simulator


@pytest.fixture
def twilio_sim(leak_audit: LeakAudit) -> Iterator[TwilioSimulator]:
    with TwilioSimulator(auto_progress=False, callback_duplicates=True, seed=8) as simulator:
        leak_audit.secret(simulator.auth_token)
        yield simulator


@pytest.fixture
async def eskiz(eskiz_sim: EskizSimulator) -> AsyncIterator[EskizProvider]:
    provider = EskizProvider(
        email=eskiz_sim.email, password=eskiz_sim.password, base_url=eskiz_sim.base_url
    )
    yield provider
    await provider.aclose()


@pytest.fixture
async def twilio(twilio_sim: TwilioSimulator) -> AsyncIterator[TwilioProvider]:
    provider = TwilioProvider(
        account_sid=twilio_sim.account_sid,
        auth_token=twilio_sim.auth_token,
        sender=twilio_sim.sender,
        base_url=twilio_sim.base_url,
    )
    yield provider
    await provider.aclose()


@pytest.fixture
def reports() -> ReportLog:
    return ReportLog()


@pytest.fixture
def receiver(
    eskiz: EskizProvider, twilio: TwilioProvider, reports: ReportLog, leak_audit: LeakAudit
) -> DeliveryReportReceiver:
    leak_audit.secret(SECRET)
    return DeliveryReportReceiver(
        [eskiz, twilio],
        secret=SECRET,
        on_report=reports,
        plugins=new_plugin_manager(),
        background=False,
    )


@pytest.fixture
def server(receiver: DeliveryReportReceiver) -> Iterator[LoopbackServer]:
    with LoopbackServer(receiver) as running:
        yield running


async def send(provider: EskizProvider | TwilioProvider, message: Sms) -> SendResult:
    async with AsyncNotifier(provider, plugins=new_plugin_manager()) as notifier:
        return await notifier.send(message)


# -- Eskiz ---------------------------------------------------------------------------


async def test_eskiz_delivered_report_matches_message(
    eskiz: EskizProvider,
    eskiz_sim: EskizSimulator,
    receiver: DeliveryReportReceiver,
    server: LoopbackServer,
    reports: ReportLog,
) -> None:
    callback_url = receiver.callback_url(server.base_url, route="eskiz")
    message = Sms(
        UZ_NUMBER,
        "Buyurtmangiz yetkazildi. Xaridingiz uchun rahmat!",
        client_ref="flow-eskiz-1",
        callback_url=callback_url,
    )
    result = await send(eskiz, message)

    eskiz_sim.advance(eskiz_sim.config.accept_delay)
    wait_until(lambda: len(reports.of(message.client_ref)) == 1, "the ACCEPTED report")
    eskiz_sim.advance(eskiz_sim.config.final_delay)
    wait_until(lambda: len(reports.of(message.client_ref)) == 2, "the DELIVRD report")
    # Two status changes, each posted twice; the copies arrive after the reports.
    wait_until(lambda: eskiz_sim.stats.callbacks_sent == 4, "every callback copy to be answered")

    statuses = [report.status for report in reports.of(message.client_ref)]
    assert statuses == [DeliveryStatus.ACCEPTED, DeliveryStatus.DELIVERED]
    delivered = reports.of(message.client_ref)[-1]
    assert delivered.provider == "eskiz"
    assert delivered.provider_status == "DELIVRD"
    assert delivered.message_id == result.message_id
    assert delivered.to == UZ_NUMBER
    latest = await receiver.store.latest("eskiz", client_ref=message.client_ref)
    assert latest is not None
    assert latest.status is DeliveryStatus.DELIVERED
    assert eskiz_sim.stats.callbacks_failed == 0


async def test_eskiz_stale_callback_changes_nothing(
    eskiz: EskizProvider,
    eskiz_sim: EskizSimulator,
    receiver: DeliveryReportReceiver,
    server: LoopbackServer,
    reports: ReportLog,
) -> None:
    callback_url = receiver.callback_url(server.base_url, route="eskiz")
    message = Sms(UZ_NUMBER, "Kodingiz: 4512", client_ref="flow-eskiz-2", callback_url=callback_url)
    await send(eskiz, message)
    eskiz_sim.settle()
    wait_until(lambda: eskiz_sim.stats.callbacks_sent == 4, "every callback copy to be answered")
    assert len(reports.of(message.client_ref)) == 2

    # The ACCEPTED callback again, dated when the message was accepted:
    # older than the DELIVRD the receiver already stored.
    (stored,) = eskiz_sim.messages
    assert stored.accepted_at is not None
    stale = callback_payload(CallbackEvent(stored, "ACCEPTED", stored.accepted_at))
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(callback_url, json=stale)

    assert response.status_code == 200
    assert len(reports.of(message.client_ref)) == 2
    latest = await receiver.store.latest("eskiz", client_ref=message.client_ref)
    assert latest is not None
    assert latest.status is DeliveryStatus.DELIVERED


async def test_eskiz_callback_without_secret_rejected(
    eskiz: EskizProvider,
    eskiz_sim: EskizSimulator,
    receiver: DeliveryReportReceiver,
    server: LoopbackServer,
    reports: ReportLog,
) -> None:
    # The simulator itself posts to a URL that lacks the secret.
    unprotected_url = f"{server.base_url}/eskiz"
    message = Sms(
        UZ_OTHER_NUMBER, "Kodingiz: 7301", client_ref="flow-eskiz-3", callback_url=unprotected_url
    )
    await send(eskiz, message)
    eskiz_sim.settle()
    wait_until(lambda: eskiz_sim.stats.callbacks_failed == 4, "every callback copy to be rejected")
    assert eskiz_sim.stats.callbacks_sent == 0

    (stored,) = eskiz_sim.messages
    payload = callback_payload(CallbackEvent(stored, "DELIVRD", stored.updated_at))
    async with httpx.AsyncClient(trust_env=False) as client:
        missing = await client.post(unprotected_url, json=payload)
        wrong = await client.post(
            unprotected_url, params={"secret": "not-the-secret"}, json=payload
        )

    assert missing.status_code == 403
    assert wrong.status_code == 403
    assert reports.all == []
    assert await receiver.store.latest("eskiz", client_ref=message.client_ref) is None


# -- Twilio --------------------------------------------------------------------------


def twilio_callbacks(sim: TwilioSimulator, status: str) -> list[CallbackRecord]:
    return [record for record in sim.callbacks if dict(record.params)["MessageStatus"] == status]


async def test_twilio_delivered_report_matches_message(
    twilio: TwilioProvider,
    twilio_sim: TwilioSimulator,
    receiver: DeliveryReportReceiver,
    server: LoopbackServer,
    reports: ReportLog,
) -> None:
    callback_url = receiver.callback_url(server.base_url, route="twilio")
    message = Sms(
        UZ_NUMBER,
        "Ҳурматли мижоз, буюртмангиз етказилди.",
        client_ref="flow-twilio-1",
        callback_url=callback_url,
    )
    result = await send(twilio, message)

    changes = await twilio_sim.asettle()

    assert [change.status for change in changes] == ["sending", "sent", "delivered"]
    assert [record.outcome for record in twilio_sim.callbacks] == ["sent"] * 6
    statuses = [report.provider_status for report in reports.of(message.client_ref)]
    assert statuses == ["sending", "sent", "delivered"]
    delivered = reports.of(message.client_ref)[-1]
    assert delivered.status is DeliveryStatus.DELIVERED
    assert delivered.provider == "twilio"
    assert delivered.message_id == result.message_id
    latest = await receiver.store.latest("twilio", client_ref=message.client_ref)
    assert latest is not None
    assert latest.status is DeliveryStatus.DELIVERED


async def test_twilio_stale_callback_changes_nothing(
    twilio: TwilioProvider,
    twilio_sim: TwilioSimulator,
    receiver: DeliveryReportReceiver,
    server: LoopbackServer,
    reports: ReportLog,
) -> None:
    callback_url = receiver.callback_url(server.base_url, route="twilio")
    message = Sms(
        UZ_NUMBER, "Kodingiz: 4512", client_ref="flow-twilio-2", callback_url=callback_url
    )
    await send(twilio, message)
    await twilio_sim.asettle()
    assert len(reports.of(message.client_ref)) == 3

    # The signed "sent" callback again, after "delivered" was stored.
    stale = twilio_callbacks(twilio_sim, "sent")[0]
    assert stale.signature is not None
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(
            stale.url, data=dict(stale.params), headers={SIGNATURE_HEADER: stale.signature}
        )

    assert response.status_code == 200
    assert len(reports.of(message.client_ref)) == 3
    latest = await receiver.store.latest("twilio", client_ref=message.client_ref)
    assert latest is not None
    assert latest.status is DeliveryStatus.DELIVERED


async def test_twilio_callback_without_secret_rejected(
    twilio: TwilioProvider,
    twilio_sim: TwilioSimulator,
    receiver: DeliveryReportReceiver,
    server: LoopbackServer,
    reports: ReportLog,
) -> None:
    callback_url = receiver.callback_url(server.base_url, route="twilio")
    message = Sms(
        UZ_NUMBER, "Kodingiz: 7301", client_ref="flow-twilio-3", callback_url=callback_url
    )
    await send(twilio, message)
    # One step forward makes the simulator post a signed callback; the test
    # then posts that callback again without the secret, and with a forged
    # signature.
    await twilio_sim.aadvance()
    record = twilio_callbacks(twilio_sim, "sending")[0]
    reports_before = len(reports.all)
    params = dict(record.params)
    unprotected_url = f"{server.base_url}/twilio"
    # A valid signature for the URL without the secret: the secret is still required.
    signature = compute_signature(twilio_sim.auth_token, unprotected_url, params)

    async with httpx.AsyncClient(trust_env=False) as client:
        missing = await client.post(
            unprotected_url, data=params, headers={SIGNATURE_HEADER: signature}
        )
        forged = await client.post(record.url, data=params, headers={SIGNATURE_HEADER: "Zm9yZ2Vk"})

    assert missing.status_code == 403
    assert forged.status_code == 403
    assert len(reports.all) == reports_before
