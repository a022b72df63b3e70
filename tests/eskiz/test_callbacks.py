"""Parsing Eskiz delivery callbacks, alone and as the simulator posts them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest

from notifier import DeliveryStatus, InvalidMessage, Sms
from notifier_eskiz import (
    EskizProvider,
    delivery_status,
    parse_delivery_report,
    parse_tashkent_time,
)
from notifier_eskiz.simulator import EskizSimulator
from tests.eskiz.conftest import ProviderFactory

pytestmark = pytest.mark.usefixtures("instant")

CALLBACK = {
    "request_id": "7d0b9f14-2c1e-4e8a-9f55-0a1b2c3d4e5f",
    "message_id": "4385062",
    "user_sms_id": "order-4512",
    "country": "UZ",
    "phone_number": "998900000011",
    "sms_count": "1",
    "status": "DELIVRD",
    "status_date": "2021-04-02 00:39:36",
}


class TestParse:
    def test_json(self) -> None:
        (report,) = parse_delivery_report(json.dumps(CALLBACK).encode(), "application/json")
        assert report.provider == "eskiz"
        assert report.message_id == CALLBACK["request_id"]
        assert report.client_ref == "order-4512"
        assert report.status is DeliveryStatus.DELIVERED
        assert report.provider_status == "DELIVRD"
        assert report.to == "+998900000011"
        assert report.segments == 1
        assert report.raw["message_id"] == "4385062"

    def test_tashkent_time(self) -> None:
        (report,) = parse_delivery_report(json.dumps(CALLBACK).encode(), "application/json")
        assert report.occurred_at is not None
        assert report.occurred_at.utcoffset() is not None
        assert report.occurred_at.astimezone(timezone.utc) == datetime(
            2021, 4, 1, 19, 39, 36, tzinfo=timezone.utc
        )

    def test_form(self) -> None:
        body = urlencode(CALLBACK).encode()
        (report,) = parse_delivery_report(body, "application/x-www-form-urlencoded")
        assert report.status is DeliveryStatus.DELIVERED
        assert report.client_ref == "order-4512"

    def test_unknown_content_type(self) -> None:
        (from_json,) = parse_delivery_report(json.dumps(CALLBACK).encode(), "text/plain")
        (from_form,) = parse_delivery_report(urlencode(CALLBACK).encode(), "")
        assert from_json.message_id == from_form.message_id == CALLBACK["request_id"]

    def test_international(self) -> None:
        fields = dict(CALLBACK)
        del fields["request_id"]
        del fields["user_sms_id"]
        fields["phone_number"] = "77010000011"
        fields["country"] = "KZ"
        (report,) = parse_delivery_report(json.dumps(fields).encode(), "application/json")
        assert report.message_id == "4385062"
        assert report.client_ref is None
        assert report.to == "+77010000011"

    def test_unreadable_number_and_time(self) -> None:
        fields = dict(CALLBACK, phone_number="12", status_date="yesterday", sms_count="")
        (report,) = parse_delivery_report(json.dumps(fields).encode(), "application/json")
        assert report.to is None
        assert report.occurred_at is None
        assert report.segments is None

    @pytest.mark.parametrize(
        ("body", "content_type", "fragment"),
        [
            (b"", "application/json", "empty"),
            (b"{not json", "application/json", "JSON"),
            (b"[1, 2]", "application/json", "object"),
            (b'{"request_id": "x"}', "application/json", "status"),
            (b"\xff\xfe", "application/json", "UTF-8"),
            (b"status=DELIVRD", "multipart/form-data; boundary=x", "multipart"),
        ],
        ids=["empty", "bad-json", "list", "no-status", "not-utf8", "multipart"],
    )
    def test_invalid(self, body: bytes, content_type: str, fragment: str) -> None:
        with pytest.raises(InvalidMessage, match=fragment):
            parse_delivery_report(body, content_type)

    def test_report_repr_masks_number(self) -> None:
        (report,) = parse_delivery_report(json.dumps(CALLBACK).encode(), "application/json")
        assert "998900000011" not in repr(report)

    def test_provider_method(self) -> None:
        provider = EskizProvider(
            email="shop@notifier.test", password="api-secret", base_url="http://127.0.0.1:9/api"
        )
        (report,) = provider.parse_delivery_report(
            json.dumps(CALLBACK).encode(), "application/json; charset=utf-8", {}, None
        )
        assert report.client_ref == "order-4512"


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("DELIVRD", DeliveryStatus.DELIVERED),
        ("UNDELIV", DeliveryStatus.UNDELIVERED),
        ("UNDELIVERABLE", DeliveryStatus.UNDELIVERED),
        ("EXPIRED", DeliveryStatus.EXPIRED),
        ("REJECTD", DeliveryStatus.REJECTED),
        ("REJECTED", DeliveryStatus.REJECTED),
        ("ACCEPTED", DeliveryStatus.ACCEPTED),
        ("ENROUTE", DeliveryStatus.ACCEPTED),
        ("NEW", DeliveryStatus.ACCEPTED),
        ("STORED", DeliveryStatus.ACCEPTED),
        ("DELIVERED", DeliveryStatus.DELIVERED),
        ("PARTDELIVERED", DeliveryStatus.UNDELIVERED),
        ("delivrd", DeliveryStatus.DELIVERED),
        ("DELETED", DeliveryStatus.UNKNOWN),
        ("UNKNOWN", DeliveryStatus.UNKNOWN),
        ("SOMETHING_NEW", DeliveryStatus.UNKNOWN),
        ("", DeliveryStatus.UNKNOWN),
    ],
)
def test_status_vocabulary(word: str, expected: DeliveryStatus) -> None:
    assert delivery_status(word) is expected


def test_parse_tashkent_short_form() -> None:
    parsed = parse_tashkent_time("2021-04-02 00:39")
    assert parsed is not None
    assert parsed.isoformat() == "2021-04-02T00:39:00+05:00"


class RawReceiver:
    """An HTTP server on 127.0.0.1 keeping each POST body and content type as received."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []
        self._condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._condition:
                    receiver.received.append((body, self.headers.get("content-type", "")))
                    receiver._condition.notify_all()
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/eskiz/callback"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[bytes, str]]:
        deadline = time.monotonic() + timeout
        with self._condition:
            while len(self.received) < count and time.monotonic() < deadline:
                self._condition.wait(deadline - time.monotonic())
            return list(self.received)

    def __enter__(self) -> RawReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[RawReceiver]:
    with RawReceiver() as server:
        yield server


@pytest.mark.parametrize(
    "sim_options",
    [
        {"callback_format": "json", "accept_delay": 0.0, "final_delay": 0.0},
        {"callback_format": "form", "accept_delay": 0.0, "final_delay": 0.0},
    ],
    ids=["json", "form"],
)
async def test_simulator_callbacks(
    sim: EskizSimulator, make_provider: ProviderFactory, receiver: RawReceiver
) -> None:
    provider = make_provider(callback_url=receiver.url)
    result = await provider.send(Sms("+998900000011", "Salom", client_ref="callback-1"))

    received = receiver.wait_for(2)
    reports = [report for body, kind in received for report in parse_delivery_report(body, kind)]
    final = [report for report in reports if report.status.is_final]
    assert len(final) == 1
    (delivered,) = final
    assert delivered.status is DeliveryStatus.DELIVERED
    assert delivered.client_ref == "callback-1"
    assert delivered.message_id == result.message_id
    assert delivered.to == "+998900000011"
    assert delivered.occurred_at is not None
    assert abs((datetime.now(timezone.utc) - delivered.occurred_at).total_seconds()) < 60
