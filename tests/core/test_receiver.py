"""The delivery-report receiver: ASGI in-process, real loopback sockets, and the store."""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
from collections.abc import AsyncIterator, Mapping, MutableMapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import httpx
import pluggy
import pytest
from pydantic import SecretStr

from notifier import (
    AuthenticationError,
    CallbackResponse,
    ConfigurationError,
    DeliveryReport,
    DeliveryReportReceiver,
    DeliveryStatus,
    Encoding,
    InvalidMessage,
    Provider,
    ReportOutcome,
    ReportStore,
    SendResult,
    SendStatus,
    Sms,
    hookimpl,
)
from notifier._plugins import new_plugin_manager
from notifier._receiver import _RejectionLog
from notifier.testing import FakeProvider
from tests._loopback import LoopbackServer

SECRET = "s3cr3t-Receiver-Token-0123456789"
BASE = "http://127.0.0.1"
NUMBER = "998900000042"
TASHKENT = timezone(timedelta(hours=5))

_STATUSES = {
    "ACCEPTED": DeliveryStatus.ACCEPTED,
    "ENROUTE": DeliveryStatus.ACCEPTED,
    "DELIVRD": DeliveryStatus.DELIVERED,
    "UNDELIV": DeliveryStatus.UNDELIVERED,
    "EXPIRED": DeliveryStatus.EXPIRED,
    "REJECTD": DeliveryStatus.REJECTED,
}


class ReportingProvider(Provider):
    """A provider whose callbacks look like a typical SMS vendor's.

    The body is JSON (one object or a list) or a form, with ``id``, ``ref``,
    ``status`` (a vendor word such as ``DELIVRD``), ``phone`` and ``date``
    (Tashkent local time). A request with an ``x-signature`` header other
    than ``good`` fails signature checking. The field ``crash`` makes the
    parser fail with an exception that quotes the phone number.
    """

    name = "testsms"

    def __init__(self, name: str = "testsms") -> None:
        self.name = name  # type: ignore[misc]
        self.parsed: list[tuple[str, Mapping[str, str] | None, str | None]] = []
        self.send_gate: asyncio.Event | None = None

    async def send(self, message: Sms) -> SendResult:
        if self.send_gate is not None:
            await self.send_gate.wait()
        return SendResult(
            provider=self.name,
            message_id="4385062",
            client_ref=message.client_ref,
            status=SendStatus.QUEUED,
            segments=1,
            encoding=Encoding.GSM7,
        )

    async def aclose(self) -> None:
        return None

    def parse_delivery_report(
        self,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> list[DeliveryReport]:
        self.parsed.append((content_type, headers, url))
        if headers is not None and headers.get("x-signature", "good") != "good":
            raise AuthenticationError("Signature does not match", provider=self.name)
        items = self._items(body, content_type)
        return [self._report(item) for item in items]

    def _items(self, body: bytes, content_type: str) -> list[dict[str, Any]]:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_qs(body.decode())
            return [{key: values[0] for key, values in form.items()}]
        try:
            payload = json.loads(body)
        except ValueError:
            raise InvalidMessage("Callback body is not JSON or a form") from None
        items = payload if isinstance(payload, list) else [payload]
        if not all(isinstance(item, dict) and "status" in item for item in items):
            raise InvalidMessage("Callback entry has no status")
        return items

    def _report(self, item: dict[str, Any]) -> DeliveryReport:
        if "crash" in item:
            raise ValueError(f"cannot parse phone {item.get('phone')}")
        occurred_at = None
        if item.get("date"):
            occurred_at = datetime.fromisoformat(item["date"]).replace(tzinfo=TASHKENT)
        return DeliveryReport(
            provider=self.name,
            message_id=item.get("id"),
            client_ref=item.get("ref"),
            status=_STATUSES.get(item["status"], DeliveryStatus.UNKNOWN),
            provider_status=item["status"],
            occurred_at=occurred_at,
            to="+" + item["phone"] if item.get("phone") else None,
            raw=item,
        )


def callback(
    status: str = "DELIVRD",
    *,
    ref: str | None = "order-1",
    message_id: str | None = "4385062",
    date: str | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {"status": status, "phone": NUMBER}
    if ref is not None:
        item["ref"] = ref
    if message_id is not None:
        item["id"] = message_id
    if date is not None:
        item["date"] = date
    return item


class Recorder:
    """An ``on_report`` callback that keeps what it was given."""

    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []
        self.threads: list[int] = []

    def __call__(self, report: DeliveryReport) -> None:
        self.reports.append(report)
        self.threads.append(threading.get_ident())


class HookPlugin:
    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []

    @hookimpl
    def notifier_delivery_report(self, report: DeliveryReport) -> None:
        self.reports.append(report)


class BrokenHookPlugin:
    @hookimpl
    def notifier_delivery_report(self, report: DeliveryReport) -> None:
        raise RuntimeError("plugin failure")


@pytest.fixture
def provider() -> ReportingProvider:
    return ReportingProvider()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def plugins() -> pluggy.PluginManager:
    return new_plugin_manager()


@pytest.fixture
def receiver(
    provider: ReportingProvider, recorder: Recorder, plugins: pluggy.PluginManager
) -> DeliveryReportReceiver:
    return DeliveryReportReceiver(provider, secret=SECRET, on_report=recorder, plugins=plugins)


@pytest.fixture
async def client(receiver: DeliveryReportReceiver) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=receiver, client=("127.0.0.1", 40123))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http


async def post(
    client: httpx.AsyncClient,
    payload: Any,
    *,
    route: str = "testsms",
    secret: str | None = SECRET,
    **kwargs: Any,
) -> httpx.Response:
    params = {"secret": secret} if secret is not None else {}
    return await client.post(f"/{route}", params=params, json=payload, **kwargs)


# -- accepting reports ------------------------------------------------------


async def test_report_accepted_and_recorded(
    client: httpx.AsyncClient, receiver: DeliveryReportReceiver, recorder: Recorder
) -> None:
    response = await post(client, callback("DELIVRD", date="2021-04-02 00:39:36"))
    await receiver.drain()

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "reports": 1}
    assert len(recorder.reports) == 1
    report = recorder.reports[0]
    assert report.status is DeliveryStatus.DELIVERED
    assert report.client_ref == "order-1"
    assert report.occurred_at == datetime(2021, 4, 1, 19, 39, 36, tzinfo=timezone.utc)
    assert await receiver.store.latest("testsms", client_ref="order-1") == report


async def test_form_encoded_report_accepted(
    client: httpx.AsyncClient, receiver: DeliveryReportReceiver, recorder: Recorder
) -> None:
    response = await client.post(
        "/testsms", params={"secret": SECRET}, data={"status": "DELIVRD", "ref": "order-7"}
    )
    await receiver.drain()

    assert response.status_code == 200
    assert [report.client_ref for report in recorder.reports] == ["order-7"]


async def test_several_reports_in_one_body(
    client: httpx.AsyncClient, receiver: DeliveryReportReceiver, recorder: Recorder
) -> None:
    payload = [
        callback("ENROUTE", ref="a"),
        callback("DELIVRD", ref="a"),
        callback("ACCEPTED", ref="b"),
    ]

    response = await post(client, payload)
    await receiver.drain()

    assert response.json() == {"status": "ok", "reports": 3}
    assert [(r.client_ref, r.provider_status) for r in recorder.reports] == [
        ("a", "ENROUTE"),
        ("a", "DELIVRD"),
        ("b", "ACCEPTED"),
    ]


async def test_parser_gets_headers_and_url(
    client: httpx.AsyncClient, provider: ReportingProvider, receiver: DeliveryReportReceiver
) -> None:
    await post(client, callback(), headers={"X-Vendor-Id": "42"})
    await receiver.drain()

    content_type, headers, url = provider.parsed[0]
    assert content_type == "application/json"
    assert headers is not None
    assert headers["x-vendor-id"] == "42"
    assert url == f"{BASE}/testsms?secret={SECRET}"


async def test_public_url_passed_to_parser(provider: ReportingProvider) -> None:
    receiver = DeliveryReportReceiver(
        provider,
        secret=SECRET,
        plugins=new_plugin_manager(),
        public_url="https://reports.example.invalid/hooks/",
    )
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        await post(http, callback())

    assert provider.parsed[0][2] == f"https://reports.example.invalid/hooks/testsms?secret={SECRET}"


async def test_mounted_under_root_path(provider: ReportingProvider, recorder: Recorder) -> None:
    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, on_report=recorder, plugins=new_plugin_manager()
    )
    transport = httpx.ASGITransport(app=receiver, root_path="/hooks")
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        response = await post(http, callback(), route="hooks/testsms")
    await receiver.drain()

    assert response.status_code == 200
    assert len(recorder.reports) == 1
    assert provider.parsed[0][2] == f"{BASE}/hooks/testsms?secret={SECRET}"


async def test_trailing_slash_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/testsms/", params={"secret": SECRET}, json=callback())

    assert response.status_code == 200


async def test_route_per_provider(recorder: Recorder) -> None:
    first = ReportingProvider("eskiz")
    second = ReportingProvider("twilio")
    receiver = DeliveryReportReceiver(
        [first, second], secret=SECRET, on_report=recorder, plugins=new_plugin_manager()
    )
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        await post(http, callback(ref="e"), route="eskiz")
        await post(http, callback(ref="t"), route="twilio")
    await receiver.drain()

    assert receiver.routes == ("eskiz", "twilio")
    # Reports of different messages are processed concurrently, in no set order.
    assert sorted((r.provider, r.client_ref) for r in recorder.reports) == [
        ("eskiz", "e"),
        ("twilio", "t"),
    ]
    assert len(first.parsed) == 1
    assert len(second.parsed) == 1


async def test_mapping_chooses_routes(provider: ReportingProvider) -> None:
    receiver = DeliveryReportReceiver(
        {"sms-uz": provider}, secret=SECRET, plugins=new_plugin_manager()
    )
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        served = await post(http, callback(), route="sms-uz")
        by_name = await post(http, callback(), route="testsms")

    assert served.status_code == 200
    assert by_name.status_code == 404


async def test_fake_provider_callback_accepted(recorder: Recorder) -> None:
    fake = FakeProvider()
    result = await fake.send(Sms("+998900000042", "Salom"))
    receiver = DeliveryReportReceiver(
        fake, secret=SECRET, on_report=recorder, plugins=new_plugin_manager()
    )
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        response = await http.post(
            f"/{fake.name}",
            params={"secret": SECRET},
            content=FakeProvider.delivery_report_body(result),
            headers={"content-type": "application/json"},
        )
    await receiver.drain()

    assert response.status_code == 200
    assert [report.client_ref for report in recorder.reports] == [result.client_ref]
    assert recorder.reports[0].status is DeliveryStatus.DELIVERED


# -- rejected requests ---------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [{}, {"secret": ""}, {"secret": "wrong-secret-of-some-length"}, {"secret": SECRET[:-1]}],
    ids=["missing", "empty", "wrong", "prefix"],
)
async def test_wrong_secret_rejected(
    client: httpx.AsyncClient,
    receiver: DeliveryReportReceiver,
    recorder: Recorder,
    provider: ReportingProvider,
    params: dict[str, str],
) -> None:
    response = await client.post("/testsms", params=params, json=callback())
    await receiver.drain()

    assert response.status_code == 403
    assert response.json() == {"error": "missing or wrong secret"}
    assert recorder.reports == []
    assert provider.parsed == []


async def test_secret_given_twice_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/testsms?secret={SECRET}&secret={SECRET}", json=callback())

    assert response.status_code == 403


async def test_secret_in_header_not_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/testsms", json=callback(), headers={"secret": SECRET})

    assert response.status_code == 403


async def test_unknown_route_hidden_without_secret(client: httpx.AsyncClient) -> None:
    without_secret = await post(client, callback(), route="nosuch", secret=None)
    with_secret = await post(client, callback(), route="nosuch")

    assert without_secret.status_code == 403
    assert with_secret.status_code == 404


async def test_nested_path_not_found(client: httpx.AsyncClient) -> None:
    response = await post(client, callback(), route="testsms/extra")

    assert response.status_code == 404


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_other_methods_rejected(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/testsms", params={"secret": SECRET})

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_body_over_limit_by_content_length(
    provider: ReportingProvider, recorder: Recorder
) -> None:
    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, on_report=recorder, plugins=new_plugin_manager(), max_body_size=100
    )
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        response = await http.post("/testsms", params={"secret": SECRET}, content=b"x" * 101)
        at_limit = await http.post(
            "/testsms",
            params={"secret": SECRET},
            content=json.dumps(callback()).encode().ljust(100),
            headers={"content-type": "application/json"},
        )
    await receiver.drain()

    assert response.status_code == 413
    assert at_limit.status_code == 200
    assert len(provider.parsed) == 1


async def test_streamed_body_over_limit(provider: ReportingProvider) -> None:
    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, plugins=new_plugin_manager(), max_body_size=1000
    )

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100

    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        response = await http.post("/testsms", params={"secret": SECRET}, content=chunks())

    assert response.status_code == 413
    assert provider.parsed == []


async def test_invalid_content_length_rejected(receiver: DeliveryReportReceiver) -> None:
    messages: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/testsms",
        "query_string": f"secret={SECRET}".encode(),
        "headers": [(b"content-length", b"many")],
    }
    await receiver(scope, receive, send)

    assert messages[0]["status"] == 400


async def test_client_disconnect_ends_quietly(
    receiver: DeliveryReportReceiver, provider: ReportingProvider
) -> None:
    messages: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/testsms",
        "query_string": f"secret={SECRET}".encode(),
        "headers": [],
    }
    await receiver(scope, receive, send)

    assert messages == []
    assert provider.parsed == []


@pytest.mark.parametrize(
    "content",
    [b"not json", b'{"id": "1"}', b"[1, 2]"],
    ids=["not-json", "no-status", "not-objects"],
)
async def test_invalid_body_rejected(
    client: httpx.AsyncClient, recorder: Recorder, content: bytes
) -> None:
    response = await client.post(
        "/testsms",
        params={"secret": SECRET},
        content=content,
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json() == {"error": "not a delivery report of this provider"}
    assert recorder.reports == []


async def test_bad_signature_rejected(client: httpx.AsyncClient, recorder: Recorder) -> None:
    response = await post(client, callback(), headers={"x-signature": "forged"})

    assert response.status_code == 403
    assert response.json() == {"error": "invalid signature"}
    assert recorder.reports == []


async def test_parser_crash_responds_500_quietly(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="notifier"):
        response = await post(client, {**callback(), "crash": "1"})

    assert response.status_code == 500
    record = next(r for r in caplog.records if "Parsing a delivery report" in r.getMessage())
    assert record.levelno == logging.ERROR
    assert "ValueError at " in record.getMessage()
    assert "test_receiver.py" in record.getMessage()
    assert all(NUMBER not in r.getMessage() for r in caplog.records)
    assert all(r.exc_info is None for r in caplog.records)


async def test_websocket_closed(receiver: DeliveryReportReceiver) -> None:
    messages: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(message)

    await receiver({"type": "websocket", "path": "/testsms"}, receive, send)

    assert messages == [{"type": "websocket.close", "code": 1008}]


# -- logging of rejections ---------------------------------------------------------


async def test_rejection_logged_without_secret(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, leak_audit: Any
) -> None:
    leak_audit.secret(SECRET)
    with caplog.at_level(logging.DEBUG, logger="notifier"):
        await post(client, callback(), secret=SECRET + "x")
        await post(client, callback(), route="nosuch")
        await client.get("/testsms", params={"secret": SECRET})

    messages = [record.getMessage() for record in caplog.records]
    assert any("missing or wrong secret" in m and "127.0.0.1:40123" in m for m in messages)
    assert any("no provider at route 'nosuch'" in m for m in messages)
    assert any("method GET is not POST" in m for m in messages)
    assert all(SECRET not in m for m in messages)
    assert all(record.levelno == logging.WARNING for record in caplog.records)


async def test_repeated_rejections_logged_once(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="notifier"):
        for _ in range(5):
            await post(client, callback(), secret=None)

    assert len(caplog.records) == 1


def test_rejection_log_reports_suppressed_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = _RejectionLog(60.0, clock=lambda: now[0])

    with caplog.at_level(logging.WARNING, logger="notifier"):
        log.warning("403", "Rejected %s", "a")
        log.warning("403", "Rejected %s", "b")
        log.warning("403", "Rejected %s", "c")
        log.warning("404", "Not found %s", "d")
        now[0] = 61.0
        log.warning("403", "Rejected %s", "e")

    assert [record.getMessage() for record in caplog.records] == [
        "Rejected a",
        "Not found d",
        "Rejected e (2 similar rejections not logged)",
    ]


# -- duplicates and ordering -------------------------------------------------------


async def test_duplicate_report_dropped(
    client: httpx.AsyncClient, receiver: DeliveryReportReceiver, recorder: Recorder
) -> None:
    for _ in range(3):
        response = await post(client, callback("DELIVRD"))
        assert response.status_code == 200
    await receiver.drain()

    assert len(recorder.reports) == 1


async def test_duplicate_in_one_body_dropped(
    client: httpx.AsyncClient, receiver: DeliveryReportReceiver, recorder: Recorder
) -> None:
    await post(client, [callback("ENROUTE"), callback("ENROUTE")])
    await receiver.drain()

    assert len(recorder.reports) == 1


async def test_same_status_other_message_accepted(
    client: httpx.AsyncClient, receiver: DeliveryReportReceiver, recorder: Recorder
) -> None:
    await post(client, callback("DELIVRD", ref="a", message_id="1"))
    await post(client, callback("DELIVRD", ref="b", message_id="2"))
    await receiver.drain()

    assert sorted(report.client_ref or "" for report in recorder.reports) == ["a", "b"]


async def test_same_ids_other_provider_accepted(recorder: Recorder) -> None:
    receiver = DeliveryReportReceiver(
        [ReportingProvider("eskiz"), ReportingProvider("twilio")],
        secret=SECRET,
        on_report=recorder,
        plugins=new_plugin_manager(),
    )
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        await post(http, callback(), route="eskiz")
        await post(http, callback(), route="twilio")
    await receiver.drain()

    assert sorted(report.provider for report in recorder.reports) == ["eskiz", "twilio"]


async def test_status_moves_forward(
    client: httpx.AsyncClient, receiver: DeliveryReportReceiver, recorder: Recorder
) -> None:
    for status in ["ACCEPTED", "ENROUTE", "DELIVRD"]:
        await post(client, callback(status))
    await receiver.drain()

    assert [report.provider_status for report in recorder.reports] == [
        "ACCEPTED",
        "ENROUTE",
        "DELIVRD",
    ]
    latest = await receiver.store.latest("testsms", client_ref="order-1")
    assert latest is not None
    assert latest.status is DeliveryStatus.DELIVERED


async def test_report_after_final_ignored(
    client: httpx.AsyncClient, receiver: DeliveryReportReceiver, recorder: Recorder
) -> None:
    for status in ["DELIVRD", "ENROUTE", "ACCEPTED", "UNDELIV", "SOMETHING"]:
        await post(client, callback(status))
    await receiver.drain()

    assert [report.provider_status for report in recorder.reports] == ["DELIVRD"]
    latest = await receiver.store.latest("testsms", message_id="4385062")
    assert latest is not None
    assert latest.status is DeliveryStatus.DELIVERED


async def test_older_report_ignored(
    client: httpx.AsyncClient, receiver: DeliveryReportReceiver, recorder: Recorder
) -> None:
    await post(client, callback("ENROUTE", date="2024-05-01 10:00:05"))
    await post(client, callback("ACCEPTED", date="2024-05-01 10:00:01"))
    await post(client, callback("DELIVRD", date="2024-05-01 10:00:03"))
    await receiver.drain()

    # A final report wins even when its time is earlier: vendors' clocks and
    # second-level timestamps do not order a final state reliably.
    assert [report.provider_status for report in recorder.reports] == ["ENROUTE", "DELIVRD"]


async def test_callbacks_of_one_message_in_order(provider: ReportingProvider) -> None:
    events: list[str] = []
    enroute_started = threading.Event()
    release = threading.Event()

    def on_report(report: DeliveryReport) -> None:
        label = f"{report.client_ref} {report.provider_status}"
        events.append(f"start {label}")
        if report.provider_status == "ENROUTE":
            enroute_started.set()
            assert release.wait(timeout=10), "the test never released the callback"
        events.append(f"end {label}")

    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, on_report=on_report, plugins=new_plugin_manager()
    )
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        await post(http, callback("ENROUTE"))
        await post(http, callback("DELIVRD"))
        await post(http, callback("DELIVRD", ref="other"))
    await asyncio.to_thread(enroute_started.wait, 10)
    # The other message is not held up by the blocked callback.
    for _ in range(100):
        if "end other DELIVRD" in events:
            break
        await asyncio.to_thread(threading.Event().wait, 0.01)
    other_done_before_release = "end other DELIVRD" in events
    release.set()
    await receiver.drain()

    assert other_done_before_release
    mine = [event for event in events if "order-1" in event]
    assert mine == [
        "start order-1 ENROUTE",
        "end order-1 ENROUTE",
        "start order-1 DELIVRD",
        "end order-1 DELIVRD",
    ]


async def test_report_before_send_returned(recorder: Recorder) -> None:
    provider = ReportingProvider()
    provider.send_gate = asyncio.Event()
    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, on_report=recorder, plugins=new_plugin_manager()
    )
    message = Sms("+998900000042", "Buyurtmangiz yetkazildi", client_ref="order-55")
    sending = asyncio.create_task(provider.send(message))

    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        response = await post(http, callback("DELIVRD", ref="order-55", message_id=None))
    await receiver.drain()

    assert response.status_code == 200
    assert not sending.done()
    provider.send_gate.set()
    result = await sending
    latest = await receiver.store.latest("testsms", client_ref=result.client_ref)
    assert latest is not None
    assert latest.status is DeliveryStatus.DELIVERED
    assert [report.client_ref for report in recorder.reports] == ["order-55"]


async def test_report_without_ids_always_passed(
    client: httpx.AsyncClient, receiver: DeliveryReportReceiver, recorder: Recorder
) -> None:
    await post(client, callback(ref=None, message_id=None))
    await post(client, callback(ref=None, message_id=None))
    await receiver.drain()

    assert len(recorder.reports) == 2


# -- hooks and callbacks -------------------------------------------------------------


async def test_plugin_hook_gets_accepted_reports(
    client: httpx.AsyncClient, receiver: DeliveryReportReceiver, plugins: pluggy.PluginManager
) -> None:
    plugin = HookPlugin()
    plugins.register(plugin, name="audit")

    await post(client, callback("DELIVRD"))
    await post(client, callback("DELIVRD"))
    await receiver.drain()

    assert [report.provider_status for report in plugin.reports] == ["DELIVRD"]


async def test_broken_plugin_does_not_stop_others(
    client: httpx.AsyncClient,
    receiver: DeliveryReportReceiver,
    recorder: Recorder,
    plugins: pluggy.PluginManager,
    caplog: pytest.LogCaptureFixture,
) -> None:
    plugin = HookPlugin()
    plugins.register(plugin, name="audit")
    plugins.register(BrokenHookPlugin(), name="broken")

    with caplog.at_level(logging.ERROR, logger="notifier"):
        await post(client, callback())
        await receiver.drain()

    assert len(plugin.reports) == 1
    assert len(recorder.reports) == 1
    assert any("'broken'" in record.getMessage() for record in caplog.records)


async def test_default_plugin_manager_used(
    provider: ReportingProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = new_plugin_manager()
    plugin = HookPlugin()
    manager.register(plugin, name="audit")
    monkeypatch.setattr("notifier._plugins._default_manager", manager)
    receiver = DeliveryReportReceiver(provider, secret=SECRET)

    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        await post(http, callback())
    await receiver.drain()

    assert len(plugin.reports) == 1


async def test_sync_callback_runs_in_worker_thread(
    client: httpx.AsyncClient, receiver: DeliveryReportReceiver, recorder: Recorder
) -> None:
    await post(client, callback())
    await receiver.drain()

    assert recorder.threads != [threading.get_ident()]
    assert len(recorder.threads) == 1


async def test_async_callback_awaited_on_loop(provider: ReportingProvider) -> None:
    seen: list[tuple[str | None, int]] = []

    async def on_report(report: DeliveryReport) -> None:
        await asyncio.sleep(0)
        seen.append((report.client_ref, threading.get_ident()))

    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, on_report=on_report, plugins=new_plugin_manager()
    )
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        await post(http, callback())
    await receiver.drain()

    assert seen == [("order-1", threading.get_ident())]


async def test_async_callable_object_awaited(provider: ReportingProvider) -> None:
    class Handler:
        def __init__(self) -> None:
            self.count = 0

        async def __call__(self, report: DeliveryReport) -> None:
            self.count += 1

    handler = Handler()
    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, on_report=handler, plugins=new_plugin_manager()
    )
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        await post(http, callback())
    await receiver.drain()

    assert handler.count == 1


async def test_failing_callback_logged_and_report_kept(
    provider: ReportingProvider, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def on_report(report: DeliveryReport) -> None:
        calls.append(report.provider_status)
        raise RuntimeError("database is down")

    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, on_report=on_report, plugins=new_plugin_manager()
    )
    transport = httpx.ASGITransport(app=receiver)
    with caplog.at_level(logging.ERROR, logger="notifier"):
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            first = await post(http, callback())
            await receiver.drain()
            retry = await post(http, callback())
            await receiver.drain()

    assert first.status_code == 200
    assert retry.status_code == 200
    assert calls == ["DELIVRD"]
    record = next(r for r in caplog.records if "on_report raised" in r.getMessage())
    assert "client_ref=order-1" in record.getMessage()
    assert await receiver.store.latest("testsms", client_ref="order-1") is not None


async def test_sync_callback_returning_coroutine_reported(
    provider: ReportingProvider, caplog: pytest.LogCaptureFixture
) -> None:
    async def later(report: DeliveryReport) -> None:
        return None

    receiver = DeliveryReportReceiver(
        provider,
        secret=SECRET,
        on_report=lambda report: later(report),
        plugins=new_plugin_manager(),
    )
    transport = httpx.ASGITransport(app=receiver)
    with caplog.at_level(logging.ERROR, logger="notifier"):
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            await post(http, callback())
        await receiver.drain()

    record = next(r for r in caplog.records if "on_report raised" in r.getMessage())
    assert record.exc_info is not None
    assert "pass an async function" in str(record.exc_info[1])


# -- background processing ------------------------------------------------------------


async def test_response_does_not_wait_for_processing(provider: ReportingProvider) -> None:
    release = asyncio.Event()
    done: list[str | None] = []

    async def slow(report: DeliveryReport) -> None:
        await release.wait()
        done.append(report.client_ref)

    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, on_report=slow, plugins=new_plugin_manager()
    )
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        response = await post(http, callback())

    assert response.status_code == 200
    assert receiver.pending == 1
    assert done == []
    release.set()
    await receiver.drain()
    assert receiver.pending == 0
    assert done == ["order-1"]


async def test_pending_limit_responds_503(provider: ReportingProvider) -> None:
    release = asyncio.Event()

    async def slow(report: DeliveryReport) -> None:
        await release.wait()

    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, on_report=slow, plugins=new_plugin_manager(), max_pending=2
    )
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        statuses = [(await post(http, callback(ref=f"r{i}"))).status_code for i in range(2)]
        refused = await post(http, callback(ref="r3"))

    release.set()
    await receiver.drain()
    assert statuses == [200, 200]
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"


class FailingStore(ReportStore):
    async def record(self, report: DeliveryReport) -> ReportOutcome:
        raise ConnectionError("store unreachable")

    async def latest(
        self, provider: str, *, client_ref: str | None = None, message_id: str | None = None
    ) -> DeliveryReport | None:
        return None


async def test_waiting_mode_processes_before_response(
    provider: ReportingProvider, recorder: Recorder
) -> None:
    receiver = DeliveryReportReceiver(
        provider,
        secret=SECRET,
        on_report=recorder,
        plugins=new_plugin_manager(),
        background=False,
    )
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        response = await post(http, callback())

    assert response.status_code == 200
    assert receiver.pending == 0
    assert len(recorder.reports) == 1


async def test_waiting_mode_store_failure_responds_503(
    provider: ReportingProvider, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = DeliveryReportReceiver(
        provider,
        secret=SECRET,
        store=FailingStore(),
        on_report=recorder,
        plugins=new_plugin_manager(),
        background=False,
    )
    transport = httpx.ASGITransport(app=receiver)
    with caplog.at_level(logging.ERROR, logger="notifier"):
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            response = await post(http, callback())

    assert response.status_code == 503
    assert recorder.reports == []
    assert any("ConnectionError" in record.getMessage() for record in caplog.records)


async def test_background_store_failure_logged(
    provider: ReportingProvider, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = DeliveryReportReceiver(
        provider,
        secret=SECRET,
        store=FailingStore(),
        on_report=recorder,
        plugins=new_plugin_manager(),
    )
    transport = httpx.ASGITransport(app=receiver)
    with caplog.at_level(logging.ERROR, logger="notifier"):
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            response = await post(http, callback())
        await receiver.drain()

    assert response.status_code == 200
    assert recorder.reports == []
    record = next(r for r in caplog.records if "was dropped" in r.getMessage())
    assert "client_ref=order-1" in record.getMessage()
    assert "ConnectionError" in record.getMessage()


async def test_aclose_drains_then_rejects(provider: ReportingProvider) -> None:
    release = asyncio.Event()
    done: list[str | None] = []

    async def slow(report: DeliveryReport) -> None:
        await release.wait()
        done.append(report.client_ref)

    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, on_report=slow, plugins=new_plugin_manager()
    )
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        await post(http, callback())
        closing = asyncio.create_task(receiver.aclose())
        await asyncio.sleep(0)
        assert not closing.done()
        release.set()
        await closing
        after = await post(http, callback(ref="late"))

    assert done == ["order-1"]
    assert after.status_code == 503
    await receiver.aclose()


# -- the framework-neutral entry point -------------------------------------------------


async def test_handle_accepts_like_asgi(
    receiver: DeliveryReportReceiver, recorder: Recorder
) -> None:
    response = await receiver.handle(
        "testsms",
        method="POST",
        secret=SECRET,
        body=json.dumps(callback()).encode(),
        content_type="application/json",
        headers={"Content-Type": "application/json"},
        url=f"{BASE}/testsms?secret={SECRET}",
        wait=True,
    )

    assert response == CallbackResponse.json(200, {"status": "ok", "reports": 1})
    assert response.content_type == "application/json"
    assert len(recorder.reports) == 1


@pytest.mark.parametrize(
    ("route", "method", "secret", "body", "status"),
    [
        ("testsms", "POST", None, b"{}", 403),
        ("testsms", "POST", "wrong", b"{}", 403),
        ("nosuch", "POST", SECRET, b"{}", 404),
        ("testsms", "GET", SECRET, b"", 405),
        ("testsms", "POST", SECRET, b"x" * (64 * 1024 + 1), 413),
        ("testsms", "POST", SECRET, b"[]x", 400),
    ],
    ids=["no-secret", "wrong-secret", "unknown-route", "get", "too-large", "invalid"],
)
async def test_handle_rejections(
    receiver: DeliveryReportReceiver,
    route: str,
    method: str,
    secret: str | None,
    body: bytes,
    status: int,
) -> None:
    response = await receiver.handle(
        route, method=method, secret=secret, body=body, content_type="application/json"
    )

    assert response.status_code == status


async def test_handle_wait_processes_inline(
    receiver: DeliveryReportReceiver, recorder: Recorder
) -> None:
    # A background task needs a loop that outlives the request, so a view
    # under WSGI passes wait=True.
    response = await receiver.handle(
        "testsms",
        method="POST",
        secret=SECRET,
        body=json.dumps(callback()).encode(),
        content_type="application/json",
        wait=True,
    )

    assert response.status_code == 200
    assert receiver.pending == 0
    assert len(recorder.reports) == 1


def test_handle_from_asyncio_run_per_request(
    provider: ReportingProvider, recorder: Recorder
) -> None:
    # Django runs async views under WSGI in a new event loop per request.
    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, on_report=recorder, plugins=new_plugin_manager()
    )
    for status in ["ENROUTE", "DELIVRD", "DELIVRD"]:
        response = asyncio.run(
            receiver.handle(
                "testsms",
                method="POST",
                secret=SECRET,
                body=json.dumps(callback(status)).encode(),
                content_type="application/json",
                wait=True,
            )
        )
        assert response.status_code == 200

    assert [report.provider_status for report in recorder.reports] == ["ENROUTE", "DELIVRD"]


# -- configuration -------------------------------------------------------------------


def test_callback_url_contains_quoted_secret(provider: ReportingProvider) -> None:
    receiver = DeliveryReportReceiver(
        provider, secret="secret with / and &", plugins=new_plugin_manager()
    )

    url = receiver.callback_url("https://example.invalid/delivery-reports/")

    assert (
        url
        == "https://example.invalid/delivery-reports/testsms?secret=secret%20with%20%2F%20and%20%26"
    )


async def test_callback_url_round_trip(provider: ReportingProvider, recorder: Recorder) -> None:
    secret = "p@ss/word+with?odd=chars&more"
    receiver = DeliveryReportReceiver(
        provider, secret=secret, on_report=recorder, plugins=new_plugin_manager()
    )
    url = receiver.callback_url(BASE)

    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport) as http:
        response = await http.post(url, json=callback())
    await receiver.drain()

    assert response.status_code == 200
    assert len(recorder.reports) == 1


def test_callback_url_needs_route_for_several(provider: ReportingProvider) -> None:
    receiver = DeliveryReportReceiver(
        [provider, ReportingProvider("other")], secret=SECRET, plugins=new_plugin_manager()
    )

    assert receiver.callback_url(BASE, "other") == f"{BASE}/other?secret={SECRET}"
    with pytest.raises(ValueError, match="Pass route="):
        receiver.callback_url(BASE)
    with pytest.raises(ValueError, match="Unknown route 'nosuch'"):
        receiver.callback_url(BASE, "nosuch")


def test_secret_accepted_as_secret_str(provider: ReportingProvider) -> None:
    receiver = DeliveryReportReceiver(
        provider, secret=SecretStr(SECRET), plugins=new_plugin_manager()
    )

    assert receiver.callback_url(BASE).endswith(SECRET)


def test_repr_hides_secret(receiver: DeliveryReportReceiver) -> None:
    text = repr(receiver)

    assert SECRET not in text
    assert "testsms" in text


def test_short_secret_rejected(provider: ReportingProvider) -> None:
    with pytest.raises(ConfigurationError, match="at least 16 characters") as caught:
        DeliveryReportReceiver(provider, secret="short-secret")

    assert "short-secret" not in str(caught.value)


def test_short_previous_secret_rejected(provider: ReportingProvider) -> None:
    with pytest.raises(ConfigurationError, match="previous_secrets must be at least 16"):
        DeliveryReportReceiver(provider, secret=SECRET, previous_secrets=["old"])


async def test_previous_secret_accepted_during_rotation(
    provider: ReportingProvider, recorder: Recorder
) -> None:
    old = "the-Previous-Secret-0123456789"
    receiver = DeliveryReportReceiver(
        provider,
        secret=SECRET,
        previous_secrets=[SecretStr(old)],
        on_report=recorder,
        plugins=new_plugin_manager(),
    )
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        with_new = await post(http, callback(ref="new"), secret=SECRET)
        with_old = await post(http, callback(ref="old"), secret=old)
        with_other = await post(http, callback(ref="other"), secret=old + "x")
    await receiver.drain()

    assert (with_new.status_code, with_old.status_code, with_other.status_code) == (200, 200, 403)
    assert receiver.callback_url(BASE).endswith(f"secret={SECRET}")
    assert sorted(report.client_ref or "" for report in recorder.reports) == ["new", "old"]


def test_provider_without_parser_rejected() -> None:
    class SendOnly(Provider):
        name = "sendonly"

        async def send(self, message: Sms) -> SendResult:
            raise NotImplementedError

        async def aclose(self) -> None:
            return None

    with pytest.raises(ConfigurationError, match="'sendonly' does not parse delivery reports"):
        DeliveryReportReceiver(SendOnly(), secret=SECRET)


def test_duplicate_provider_names_rejected() -> None:
    with pytest.raises(ConfigurationError, match="Two providers are named 'eskiz'"):
        DeliveryReportReceiver(
            [ReportingProvider("eskiz"), ReportingProvider("eskiz")], secret=SECRET
        )


@pytest.mark.parametrize("route", ["", "a/b", "with space", "ünï"])
def test_invalid_route_rejected(provider: ReportingProvider, route: str) -> None:
    with pytest.raises(ConfigurationError, match="Invalid route"):
        DeliveryReportReceiver({route: provider}, secret=SECRET)


def test_no_provider_rejected() -> None:
    with pytest.raises(ConfigurationError, match="at least one provider"):
        DeliveryReportReceiver([], secret=SECRET)


@pytest.mark.parametrize(("option", "value"), [("max_body_size", 0), ("max_pending", 0)])
def test_invalid_limits_rejected(provider: ReportingProvider, option: str, value: int) -> None:
    options: dict[str, Any] = {option: value}

    with pytest.raises(ConfigurationError, match=option):
        DeliveryReportReceiver(provider, secret=SECRET, **options)


# -- real loopback sockets ---------------------------------------------------------------


def test_loopback_responds_before_processing(provider: ReportingProvider) -> None:
    received: queue.Queue[DeliveryReport] = queue.Queue()
    release = threading.Event()

    def on_report(report: DeliveryReport) -> None:
        assert release.wait(timeout=10), "the test never released the callback"
        received.put(report)

    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, on_report=on_report, plugins=new_plugin_manager()
    )
    with LoopbackServer(receiver) as server, httpx.Client(base_url=server.base_url) as http:
        response = http.post("/testsms", params={"secret": SECRET}, json=callback(), timeout=5)
        assert response.status_code == 200
        assert received.empty()

        release.set()
        report = received.get(timeout=5)
        assert report.client_ref == "order-1"
        assert provider.parsed[0][2] == f"{server.base_url}/testsms?secret={SECRET}"


def test_loopback_rejections(provider: ReportingProvider) -> None:
    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, plugins=new_plugin_manager(), max_body_size=1024
    )
    with LoopbackServer(receiver) as server, httpx.Client(base_url=server.base_url) as http:
        no_secret = http.post("/testsms", json=callback(), timeout=5)
        unknown = http.post("/nosuch", params={"secret": SECRET}, json=callback(), timeout=5)
        get = http.get("/testsms", params={"secret": SECRET}, timeout=5)
        too_large = http.post("/testsms", params={"secret": SECRET}, content=b"x" * 4096, timeout=5)
        invalid = http.post(
            "/testsms",
            params={"secret": SECRET},
            content=b"nope",
            headers={"content-type": "application/json"},
            timeout=5,
        )

    assert no_secret.status_code == 403
    assert unknown.status_code == 404
    assert get.status_code == 405
    assert too_large.status_code == 413
    assert invalid.status_code == 400


def test_loopback_concurrent_duplicates(provider: ReportingProvider) -> None:
    received: queue.Queue[DeliveryReport] = queue.Queue()
    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, on_report=received.put, plugins=new_plugin_manager()
    )

    async def flood(base_url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            requests = [
                http.post("/testsms", params={"secret": SECRET}, json=callback(status, ref=ref))
                for ref in ["a", "b", "c", "d", "e"]
                for status in ["ENROUTE", "DELIVRD"]
                for _ in range(5)
            ]
            responses = await asyncio.gather(*requests)
        return [response.status_code for response in responses]

    with LoopbackServer(receiver) as server:
        statuses = asyncio.run(flood(server.base_url))
        # Shutting the server down runs the lifespan shutdown, which drains
        # the reports still being processed.
        server.stop()

    assert statuses == [200] * 50
    accepted = [received.get_nowait() for _ in range(received.qsize())]
    delivered = {
        report.client_ref for report in accepted if report.status is DeliveryStatus.DELIVERED
    }
    assert delivered == {"a", "b", "c", "d", "e"}
    # Each message is reported at most twice (ENROUTE, then DELIVRD) and never
    # after its final state.
    for ref in "abcde":
        statuses_for_ref = [r.provider_status for r in accepted if r.client_ref == ref]
        assert statuses_for_ref in (["ENROUTE", "DELIVRD"], ["DELIVRD"])


def test_loopback_shutdown_drains_pending(provider: ReportingProvider) -> None:
    release = threading.Event()
    received: queue.Queue[DeliveryReport] = queue.Queue()

    def on_report(report: DeliveryReport) -> None:
        assert release.wait(timeout=10), "the test never released the callback"
        received.put(report)

    receiver = DeliveryReportReceiver(
        provider, secret=SECRET, on_report=on_report, plugins=new_plugin_manager()
    )
    with LoopbackServer(receiver) as server:
        with httpx.Client(base_url=server.base_url) as http:
            for ref in ["a", "b", "c"]:
                response = http.post(
                    "/testsms", params={"secret": SECRET}, json=callback(ref=ref), timeout=5
                )
                assert response.status_code == 200
        assert received.empty()
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        release.set()
        stopper.join(timeout=15)

    assert sorted(received.get_nowait().client_ref or "" for _ in range(3)) == ["a", "b", "c"]
