"""Eskiz simulator: delivery callbacks to a receiver on loopback, and their safety rule."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

import httpx
import pytest

from notifier_eskiz.simulator import ASGI_BASE_URL, TASHKENT, EskizSimulator, is_loopback_host
from tests.eskiz.simulator_support import (
    PHONE,
    CallbackReceiver,
    login,
    send_sms,
    serve,
    wait_until,
)

_CALLBACK_FIELDS = [
    "request_id",
    "message_id",
    "user_sms_id",
    "country",
    "phone_number",
    "sms_count",
    "status",
    "status_date",
]


def _tashkent(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, TASHKENT).strftime("%Y-%m-%d %H:%M:%S")


def _manual(**options: Any) -> dict[str, Any]:
    """Return options for a simulator whose messages move only when the test moves them."""
    return {"auto_progress": False, **options}


class TestCallbackPayload:
    def test_json_callbacks_in_order(self) -> None:
        with CallbackReceiver() as receiver, serve(**_manual()) as (sim, client):
            headers = login(client, sim)
            request_id = send_sms(
                client, headers, user_sms_id="u-7", callback_url=receiver.url
            ).json()["id"]
            sim.settle()
            received = receiver.wait_for(2)
            # The receiver records a body before it answers, and the simulator
            # counts a callback as sent only once the answer arrives.
            wait_until(lambda: sim.stats.callbacks_sent == 2)
        assert len(received) == 2
        accepted, delivered = (callback.payload for callback in received)
        assert received[0].content_type.startswith("application/json")
        assert list(accepted) == _CALLBACK_FIELDS
        [message] = sim.messages
        assert accepted == {
            "request_id": request_id,
            "message_id": str(message.id),
            "user_sms_id": "u-7",
            "country": "UZ",
            "phone_number": PHONE,
            "sms_count": "1",
            "status": "ACCEPTED",
            "status_date": _tashkent(message.history[1][1]),
        }
        assert delivered["status"] == "DELIVRD"
        assert delivered["status_date"] == _tashkent(message.history[2][1])
        assert all(isinstance(value, str) for value in delivered.values())
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", delivered["status_date"])
        assert sim.stats.callbacks_sent == 2

    def test_form_encoding(self) -> None:
        with (
            CallbackReceiver() as receiver,
            serve(**_manual(callback_format="form")) as (sim, client),
        ):
            send_sms(client, login(client, sim), callback_url=receiver.url)
            sim.settle()
            received = receiver.wait_for(2)
        assert [callback.payload["status"] for callback in received] == ["ACCEPTED", "DELIVRD"]
        assert received[0].content_type.startswith("application/x-www-form-urlencoded")
        assert list(received[0].payload) == _CALLBACK_FIELDS

    def test_duplicates(self) -> None:
        with (
            CallbackReceiver() as receiver,
            serve(**_manual(callback_duplicates=True)) as (sim, client),
        ):
            send_sms(client, login(client, sim), callback_url=receiver.url)
            sim.settle()
            received = receiver.wait_for(4)
        statuses = [callback.payload["status"] for callback in received]
        assert statuses == ["ACCEPTED", "ACCEPTED", "DELIVRD", "DELIVRD"]

    def test_failed_outcome(self) -> None:
        with (
            CallbackReceiver() as receiver,
            serve(**_manual(outcome="undelivered")) as (sim, client),
        ):
            send_sms(client, login(client, sim), callback_url=receiver.url)
            sim.settle()
            received = receiver.wait_for(2)
        assert received[-1].payload["status"] == "UNDELIV"

    def test_batch_carries_user_sms_ids(self) -> None:
        with CallbackReceiver() as receiver, serve(**_manual()) as (sim, client):
            body = {
                "messages": [
                    {"user_sms_id": "a1", "to": 998900000001, "text": "Salom"},
                    {"user_sms_id": "a2", "to": 998900000002, "text": "Salom"},
                ],
                "from": "4546",
                "dispatch_id": 5,
                "callback_url": receiver.url,
            }
            client.post("/message/sms/send-batch", json=body, headers=login(client, sim))
            sim.settle()
            received = receiver.wait_for(4)
        delivered = {
            callback.payload["user_sms_id"]: callback.payload["phone_number"]
            for callback in received
            if callback.payload["status"] == "DELIVRD"
        }
        assert delivered == {"a1": "998900000001", "a2": "998900000002"}

    def test_international_omits_request_fields(self) -> None:
        with CallbackReceiver() as receiver, serve(**_manual()) as (sim, client):
            data = {
                "mobile_phone": "77010000001",
                "message": "Salem",
                "country_code": "KZ",
                "callback_url": receiver.url,
            }
            client.post("/message/sms/send-global", data=data, headers=login(client, sim))
            sim.settle()
            received = receiver.wait_for(2)
        payload = received[0].payload
        assert "request_id" not in payload
        assert "user_sms_id" not in payload
        assert payload["country"] == "KZ"

    def test_no_callback_url_sends_nothing(self) -> None:
        with serve(**_manual()) as (sim, client):
            send_sms(client, login(client, sim))
            sim.settle()
            assert sim.state.take_callback_events() == []
        assert sim.stats.callbacks_sent == 0

    def test_automatic_progress_sends_callbacks(self) -> None:
        options = {"accept_delay": 0.0, "final_delay": 0.05}
        with CallbackReceiver() as receiver, serve(**options) as (sim, client):
            send_sms(client, login(client, sim), callback_url=receiver.url)
            received = receiver.wait_for(2)
        assert [callback.payload["status"] for callback in received] == ["ACCEPTED", "DELIVRD"]


class TestFailingReceiver:
    def test_error_status_is_counted_and_retried(self) -> None:
        with (
            CallbackReceiver(status=500) as receiver,
            serve(**_manual(callback_retries=2)) as (sim, client),
        ):
            headers = login(client, sim)
            send_sms(client, headers, callback_url=receiver.url)
            sim.advance(0.1)
            received = receiver.wait_for(3)
            assert client.get("/user/get-limit", headers=headers).status_code == 200
        assert len(received) == 3
        assert {callback.payload["status"] for callback in received} == {"ACCEPTED"}

    def test_unreachable_receiver(self, caplog: pytest.LogCaptureFixture) -> None:
        with CallbackReceiver() as closed:
            url = closed.url
        caplog.set_level(logging.WARNING, logger="notifier.eskiz.simulator")
        with serve(**_manual(callback_timeout=1.0)) as (sim, client):
            headers = login(client, sim)
            send_sms(client, headers, callback_url=url)
            sim.advance(0.1)
            for _ in range(200):
                if sim.stats.callbacks_failed:
                    break
                client.get("/user/prices")
            assert client.get("/user/get-limit", headers=headers).status_code == 200
        assert sim.stats.callbacks_failed == 1
        assert sim.stats.callbacks_sent == 0
        assert any("ConnectError" in record.getMessage() for record in caplog.records)


class TestLoopbackOnly:
    @pytest.mark.parametrize(
        ("host", "expected"),
        [
            ("127.0.0.1", True),
            ("127.8.9.10", True),
            ("::1", True),
            ("[::1]", True),
            ("localhost", True),
            ("LOCALHOST", True),
            ("10.0.0.1", False),
            ("192.168.1.1", False),
            ("169.254.169.254", False),
            ("0.0.0.0", False),  # noqa: S104
            ("example.org", False),
            ("localhost.example.org", False),
            ("", False),
        ],
    )
    def test_is_loopback_host(self, host: str, expected: bool) -> None:
        assert is_loopback_host(host) is expected

    async def test_other_hosts_are_refused(self, caplog: pytest.LogCaptureFixture) -> None:
        # In-process, with a transport that records instead of connecting: even
        # a broken guard could not send anything off this machine.
        attempted: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            attempted.append(request)
            return httpx.Response(200)

        sim = EskizSimulator(auto_progress=False)
        sim.app.dispatcher.transport = httpx.MockTransport(record)
        caplog.set_level(logging.WARNING, logger="notifier.eskiz.simulator")
        transport = httpx.ASGITransport(app=sim.app)
        async with httpx.AsyncClient(transport=transport, base_url=ASGI_BASE_URL) as client:
            token = (
                await client.post(
                    "/auth/login", data={"email": sim.email, "password": sim.password}
                )
            ).json()["data"]["token"]
            data = {
                "mobile_phone": PHONE,
                "message": "Salom",
                "callback_url": "http://203.0.113.10/hooks/eskiz?secret=s3cr3t",
            }
            sent = await client.post(
                "/message/sms/send", data=data, headers={"Authorization": f"Bearer {token}"}
            )
            sim.settle()
            assert await sim.flush_callbacks() == 2
        assert sent.status_code == 200
        assert attempted == []
        assert sim.stats.callbacks_refused == 2
        messages = [record.getMessage() for record in caplog.records]
        assert any("203.0.113.10" in message and "loopback" in message for message in messages)
        assert not any("s3cr3t" in message for message in messages)

    async def test_in_process_flush_reaches_loopback_receiver(self) -> None:
        sim = EskizSimulator(auto_progress=False)
        transport = httpx.ASGITransport(app=sim.app)
        with CallbackReceiver() as receiver:
            async with httpx.AsyncClient(transport=transport, base_url=ASGI_BASE_URL) as client:
                token = (
                    await client.post(
                        "/auth/login", data={"email": sim.email, "password": sim.password}
                    )
                ).json()["data"]["token"]
                data = {"mobile_phone": PHONE, "message": "Salom", "callback_url": receiver.url}
                await client.post(
                    "/message/sms/send", data=data, headers={"Authorization": f"Bearer {token}"}
                )
                sim.settle()
                await sim.flush_callbacks()
            received = receiver.wait_for(2)
        assert [callback.payload["status"] for callback in received] == ["ACCEPTED", "DELIVRD"]
