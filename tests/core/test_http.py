"""Tests of the shared HTTP layer in notifier._http.

Scripted responses and transport errors go through ``httpx.MockTransport``;
failures that need a real socket (a connection dropped after the request was
written, a server that never responds, a refused connection) run against a
small asyncio server on 127.0.0.1, on both transports.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from notifier import (
    AuthenticationError,
    ConfigurationError,
    DeliveryUnknown,
    Encoding,
    NotifierClosed,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
    RetryPolicy,
    SendResult,
    SendStatus,
    Sms,
    instant_retries,
)
from notifier._http import HttpCall, HttpProvider, TransportName, redact_text, summarize_response
from tests._audit import LeakAudit

Action = int | httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class DemoProvider(HttpProvider):
    """A minimal vendor: JSON sends, an idempotent status read."""

    name = "demo"
    display_name = "Demo"

    async def send(self, message: Sms) -> SendResult:
        call = HttpCall(
            "POST",
            "/messages",
            operation="send",
            idempotent=False,
            json={"to": message.to, "text": message.body, "ref": message.client_ref},
            client_ref=message.client_ref,
        )
        response = await self._request(call)
        body = self._json(response, call)
        return SendResult(
            provider=self.name,
            message_id=str(body["id"]),
            client_ref=message.client_ref,
            status=SendStatus.QUEUED,
            segments=1,
            encoding=Encoding.GSM7,
        )

    async def status(self, message_id: str) -> Any:
        call = HttpCall(
            "GET",
            f"/messages/{message_id}",
            operation="status",
            idempotent=True,
            path_template="/messages/{id}",
        )
        return self._json(await self._request(call), call)

    async def login(self, headers: dict[str, str] | None = None) -> Any:
        call = HttpCall(
            "POST", "/login", operation="login", idempotent=True, auth=None, headers=headers
        )
        return self._json(await self._request(call), call)


class Script:
    """A MockTransport handler that plays one action per request, then returns 200."""

    def __init__(self, *actions: Action) -> None:
        self.actions = list(actions)
        self.requests: list[httpx.Request] = []
        # Copies: an auth replay sends the same Request object with new headers.
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.headers.append(request.headers.copy())
        action: Action = self.actions.pop(0) if self.actions else 200
        if isinstance(action, Exception):
            raise action
        if isinstance(action, httpx.Response):
            return action
        if callable(action):
            return action(request)
        return httpx.Response(action, json={"id": "m-1", "status": "ok"})


def _provider(script: Script, **kwargs: Any) -> tuple[DemoProvider, httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(script))
    provider = DemoProvider(base_url="http://127.0.0.1:9/api", http_client=client, **kwargs)
    return provider, client


@pytest.fixture
def message() -> Sms:
    return Sms("+998900000011", "Salom! Kod: 4512", client_ref="ref-0011")


@pytest.fixture(autouse=True)
def instant() -> Generator[list[float]]:
    with instant_retries() as waits:
        yield waits


def _client_spans(spans: InMemorySpanExporter) -> list[Any]:
    return [span for span in spans.get_finished_spans() if span.kind is SpanKind.CLIENT]


class TestStatuses:
    async def test_success(self, message: Sms) -> None:
        script = Script(200)
        provider, _ = _provider(script)
        result = await provider.send(message)
        assert result.message_id == "m-1"
        assert len(script.requests) == 1
        assert script.requests[0].url == "http://127.0.0.1:9/api/messages"

    async def test_503_three_times(self, message: Sms) -> None:
        script = Script(503, 503, 503)
        provider, _ = _provider(script)
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.send(message)
        assert len(script.requests) == 3
        assert caught.value.status_code == 503
        assert caught.value.attempts == 3
        assert caught.value.client_ref == "ref-0011"
        assert isinstance(caught.value.__cause__, httpx.HTTPStatusError)
        assert caught.value.__cause__.response.status_code == 503
        assert provider.stats.retries == 2
        assert provider.stats.requests == 3

    async def test_503_then_success(self, message: Sms) -> None:
        script = Script(503, 200)
        provider, _ = _provider(script)
        await provider.send(message)
        assert len(script.requests) == 2
        assert script.requests[0].content == script.requests[1].content

    @pytest.mark.parametrize("status", [400, 404, 422])
    async def test_client_error_not_retried(self, message: Sms, status: int) -> None:
        script = Script(status)
        provider, _ = _provider(script)
        with pytest.raises(RejectedError) as caught:
            await provider.send(message)
        assert len(script.requests) == 1
        assert caught.value.status_code == status

    async def test_401_is_authentication_error(self, message: Sms) -> None:
        provider, _ = _provider(Script(401))
        with pytest.raises(AuthenticationError):
            await provider.send(message)

    async def test_429_retry_after_honoured(self, message: Sms, instant: list[float]) -> None:
        limited = httpx.Response(429, headers={"Retry-After": "2"}, json={"error": "slow down"})
        script = Script(limited, 200)
        provider, _ = _provider(script)
        await provider.send(message)
        assert len(script.requests) == 2
        assert len(instant) == 1
        assert instant[0] >= 2
        assert instant[0] <= provider.retry_policy.max_retry_after

    async def test_429_after_retries(self, message: Sms) -> None:
        limited = httpx.Response(429, headers={"Retry-After": "3"})
        script = Script(limited, limited, limited)
        provider, _ = _provider(script)
        with pytest.raises(RateLimitedError) as caught:
            await provider.send(message)
        assert caught.value.retry_after == 3.0
        assert caught.value.attempts == 3

    async def test_503_http_date_retry_after(self, message: Sms, instant: list[float]) -> None:
        busy = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
        provider, _ = _provider(Script(busy, 200))
        await provider.send(message)
        assert instant == [0.0]  # a date in the past means "retry now"

    async def test_503_without_header_uses_backoff(
        self, message: Sms, instant: list[float]
    ) -> None:
        policy = RetryPolicy(initial_backoff=0.5, jitter=0.25)
        provider, _ = _provider(Script(503, 200), retry=policy)
        await provider.send(message)
        assert len(instant) == 1
        assert 0.5 <= instant[0] <= 0.75

    async def test_504_on_send_is_delivery_unknown(self, message: Sms) -> None:
        script = Script(504)
        provider, _ = _provider(script)
        with pytest.raises(DeliveryUnknown) as caught:
            await provider.send(message)
        assert len(script.requests) == 1
        assert caught.value.client_ref == "ref-0011"
        assert caught.value.status_code == 504

    async def test_504_on_read_retried(self) -> None:
        script = Script(504, 200)
        provider, _ = _provider(script)
        assert await provider.status("m-1") == {"id": "m-1", "status": "ok"}
        assert len(script.requests) == 2

    async def test_client_usable_after_errors(self, message: Sms) -> None:
        script = Script(400, 200)
        provider, client = _provider(script)
        with pytest.raises(RejectedError):
            await provider.send(message)
        result = await provider.send(message)
        assert result.message_id == "m-1"
        assert not client.is_closed

    async def test_error_summary_redacted(self, message: Sms) -> None:
        body = {
            "message": "Invalid number 998900000011 for admin@example.uz",
            "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbg",
            "password": "hunter2",
        }
        provider, _ = _provider(Script(httpx.Response(400, json=body)))
        with pytest.raises(RejectedError) as caught:
            await provider.send(message)
        summary = caught.value.response_summary or ""
        assert "998900000011" not in summary
        assert "998*****0011" in summary
        assert "admin@example.uz" not in summary
        assert "hunter2" not in summary
        assert "eyJ" not in summary
        assert "998900000011" not in str(caught.value)


class TestTransportErrors:
    async def test_read_timeout_on_send(self, message: Sms) -> None:
        script = Script(httpx.ReadTimeout("timed out"))
        provider, _ = _provider(script)
        with pytest.raises(DeliveryUnknown) as caught:
            await provider.send(message)
        assert len(script.requests) == 1
        assert caught.value.client_ref == "ref-0011"
        assert isinstance(caught.value.__cause__, httpx.ReadTimeout)

    async def test_resend_on_timeout_opt_in(self, message: Sms) -> None:
        script = Script(httpx.ReadTimeout("timed out"), 200)
        provider, _ = _provider(script, retry=RetryPolicy(resend_on_timeout=True))
        await provider.send(message)
        assert len(script.requests) == 2
        assert script.requests[0].content == script.requests[1].content

    async def test_connect_error_retried(self, message: Sms) -> None:
        script = Script(httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), 200)
        provider, _ = _provider(script)
        await provider.send(message)
        assert len(script.requests) == 3

    async def test_connect_error_exhausted(self, message: Sms) -> None:
        error = httpx.ConnectError("refused")
        provider, _ = _provider(Script(error, error, error))
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.send(message)
        assert caught.value.attempts == 3
        assert caught.value.__cause__ is error

    async def test_read_errors_retried_when_idempotent(self) -> None:
        script = Script(httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), 200)
        provider, _ = _provider(script)
        await provider.status("m-1")
        assert len(script.requests) == 3

    async def test_cancellation_propagates(self, message: Sms) -> None:
        started = asyncio.Event()

        async def slow(request: httpx.Request) -> httpx.Response:
            started.set()
            await asyncio.sleep(30)
            return httpx.Response(200)

        client = httpx.AsyncClient(transport=httpx.MockTransport(slow))
        provider = DemoProvider(base_url="http://127.0.0.1:9/api", http_client=client)
        task = asyncio.create_task(provider.send(message))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=2)
        assert provider.stats.retries == 0


class TestLifecycle:
    async def test_borrowed_client_left_open(self, message: Sms) -> None:
        provider, client = _provider(Script(200))
        await provider.send(message)
        await provider.aclose()
        assert not client.is_closed
        await client.aclose()

    async def test_aclose_idempotent(self) -> None:
        provider, _ = _provider(Script())
        await provider.aclose()
        await provider.aclose()
        assert provider.closed

    async def test_send_after_close(self, message: Sms) -> None:
        script = Script()
        provider, _ = _provider(script)
        await provider.aclose()
        with pytest.raises(NotifierClosed, match="closed"):
            await provider.send(message)
        assert script.requests == []

    def test_built_without_loop_used_in_two_runs(self) -> None:
        script = Script()
        transport = httpx.MockTransport(script)

        class Owned(DemoProvider):
            def _new_client(self) -> httpx.AsyncClient:
                return httpx.AsyncClient(transport=transport)

        provider = Owned(base_url="http://127.0.0.1:9/api")
        clients: list[httpx.AsyncClient] = []

        async def use() -> None:
            clients.append(await provider._client())
            await asyncio.gather(*(provider.status(str(n)) for n in range(5)))

        asyncio.run(use())
        asyncio.run(use())
        assert len(script.requests) == 10
        assert clients[0] is not clients[1]
        assert clients[0].is_closed  # closed when its loop shut down

        async def close() -> None:
            await provider.aclose()

        asyncio.run(close())
        assert clients[1].is_closed

    async def test_aclose_reaches_other_loop(self) -> None:
        transport = httpx.MockTransport(Script())

        class Owned(DemoProvider):
            def _new_client(self) -> httpx.AsyncClient:
                return httpx.AsyncClient(transport=transport)

        provider = Owned(base_url="http://127.0.0.1:9/api")
        other = asyncio.new_event_loop()
        thread = threading.Thread(target=other.run_forever)
        thread.start()
        try:
            other_client = asyncio.run_coroutine_threadsafe(provider._client(), other).result(5)
            own_client = await provider._client()
            assert other_client is not own_client
            await provider.aclose()
            assert own_client.is_closed
            assert other_client.is_closed
        finally:
            other.call_soon_threadsafe(other.stop)
            thread.join(timeout=5)
            other.close()

    async def test_owned_client_closed_by_aclose(self) -> None:
        provider = DemoProvider(base_url="http://127.0.0.1:9/api")
        client = await provider._client()
        await provider.aclose()
        assert client.is_closed

    @pytest.mark.parametrize(
        ("kwargs", "fragment"),
        [
            ({"transport": "requests"}, "Unknown transport"),
            ({"base_url": "ftp://example.invalid"}, "not an http"),
            ({"base_url": "not a url"}, "not an http"),
            ({"base_url": "http://[::1"}, "not an http"),
        ],
        ids=["unknown-transport", "ftp-base-url", "no-scheme", "invalid-port"],
    )
    def test_invalid_configuration(self, kwargs: dict[str, Any], fragment: str) -> None:
        options: dict[str, Any] = {"base_url": "http://127.0.0.1:9/api", **kwargs}
        with pytest.raises(ConfigurationError, match=fragment):
            DemoProvider(**options)

    async def test_transport_with_client_rejected(self) -> None:
        async with httpx.AsyncClient() as client:
            with pytest.raises(ConfigurationError, match="own client"):
                DemoProvider(
                    base_url="http://127.0.0.1:9/api", http_client=client, transport="aiohttp"
                )

    async def test_send_after_close_says_nothing_sent(self, message: Sms) -> None:
        provider, _ = _provider(Script())
        await provider.aclose()
        with pytest.raises(NotifierClosed, match="DemoProvider is closed, so nothing was sent"):
            await provider.send(message)


class HangingHandler:
    """A MockTransport handler that records each request and never responds."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.received = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.received.set()
        await asyncio.sleep(30)
        return httpx.Response(200, json={"id": "m-1"})


class TokenWaitAuth(httpx.Auth):
    """An auth flow that waits for a token that never comes, as during a slow login."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self.waiting.set()
        await asyncio.sleep(30)
        yield request


class TestCloseInFlight:
    async def test_send_in_flight_is_delivery_unknown(
        self, message: Sms, spans: InMemorySpanExporter
    ) -> None:
        handler = HangingHandler()
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        provider = DemoProvider(base_url="http://127.0.0.1:9/api", http_client=client)
        task = asyncio.create_task(provider.send(message))
        await asyncio.wait_for(handler.received.wait(), 5)

        await asyncio.wait_for(provider.aclose(), 5)

        with pytest.raises(DeliveryUnknown) as caught:
            await asyncio.wait_for(task, 5)
        assert caught.value.client_ref == "ref-0011"
        assert caught.value.provider == "demo"
        assert "closed while the send request was in flight" in str(caught.value)
        assert len(handler.requests) == 1
        assert not client.is_closed  # a borrowed client stays open
        (span,) = _client_spans(spans)
        assert span.end_time is not None
        assert (span.attributes or {}).get("error.type") == "CancelledError"
        await client.aclose()

    async def test_read_in_flight_is_closed(self) -> None:
        handler = HangingHandler()
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        provider = DemoProvider(base_url="http://127.0.0.1:9/api", http_client=client)
        task = asyncio.create_task(provider.status("m-1"))
        await asyncio.wait_for(handler.received.wait(), 5)

        await asyncio.wait_for(provider.aclose(), 5)

        with pytest.raises(NotifierClosed, match="status request was in flight"):
            await asyncio.wait_for(task, 5)
        await client.aclose()

    async def test_waiting_for_token_sends_nothing(self, message: Sms) -> None:
        script = Script()
        auth = TokenWaitAuth()
        provider, client = _provider(script, auth=auth)
        task = asyncio.create_task(provider.send(message))
        await asyncio.wait_for(auth.waiting.wait(), 5)

        await asyncio.wait_for(provider.aclose(), 5)

        with pytest.raises(NotifierClosed, match="before the send request went out, so nothing"):
            await asyncio.wait_for(task, 5)
        assert script.requests == []
        await client.aclose()

    async def test_unknown_owned_transport_counts_as_sent(self, message: Sms) -> None:
        # A subclass that builds its own client: its transport reports no
        # progress, so a request handed to it may have been written.
        handler = HangingHandler()

        class Owned(DemoProvider):
            def _new_client(self) -> httpx.AsyncClient:
                return httpx.AsyncClient(transport=httpx.MockTransport(handler))

        provider = Owned(base_url="http://127.0.0.1:9/api")
        task = asyncio.create_task(provider.send(message))
        await asyncio.wait_for(handler.received.wait(), 5)

        await asyncio.wait_for(provider.aclose(), 5)

        with pytest.raises(DeliveryUnknown):
            await asyncio.wait_for(task, 5)


class ReplayAuth(httpx.Auth):
    """Send with an old token, and replay once with a new one after a 401."""

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = "Bearer old-token"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = "Bearer new-token"
            yield request


class TestSpans:
    async def test_span_per_attempt(self, message: Sms, spans: InMemorySpanExporter) -> None:
        provider, _ = _provider(Script(503, 200))
        await provider.send(message)
        client_spans = _client_spans(spans)
        assert len(client_spans) == 2
        first, second = client_spans
        assert first.name == "POST /messages"
        assert first.attributes["http.request.method"] == "POST"
        assert first.attributes["server.address"] == "127.0.0.1"
        assert first.attributes["server.port"] == 9
        assert first.attributes["url.path"] == "/api/messages"
        assert first.attributes["http.response.status_code"] == 503
        assert first.attributes["error.type"] == "503"
        assert first.status.status_code is StatusCode.ERROR
        assert "http.request.resend_count" not in first.attributes
        assert second.attributes["http.response.status_code"] == 200
        assert second.attributes["http.request.resend_count"] == 1
        assert "error.type" not in second.attributes

    async def test_auth_replay_span(self, message: Sms, spans: InMemorySpanExporter) -> None:
        script = Script(401, 200)
        provider, _ = _provider(script, auth=ReplayAuth())
        await provider.send(message)
        assert [headers["Authorization"] for headers in script.headers] == [
            "Bearer old-token",
            "Bearer new-token",
        ]
        first, replay = _client_spans(spans)
        assert first.attributes["http.response.status_code"] == 401
        assert replay.attributes["http.request.resend_count"] == 1
        assert replay.attributes["http.response.status_code"] == 200

    async def test_transport_error_span(self, message: Sms, spans: InMemorySpanExporter) -> None:
        provider, _ = _provider(Script(httpx.ReadTimeout("slow")))
        with pytest.raises(DeliveryUnknown):
            await provider.send(message)
        (span,) = _client_spans(spans)
        assert span.attributes["error.type"] == "ReadTimeout"
        assert span.status.status_code is StatusCode.ERROR
        assert span.end_time is not None

    async def test_ids_kept_out_of_path(self, spans: InMemorySpanExporter) -> None:
        provider, _ = _provider(Script())
        await provider.status("7d0b9f14-2c1e-4e8a-9f55-123456789012")
        (span,) = _client_spans(spans)
        assert span.attributes["url.path"] == "/api/messages/{id}"
        assert span.name == "GET /messages/{id}"

    async def test_cancelled_span_ends(self, message: Sms, spans: InMemorySpanExporter) -> None:
        started = asyncio.Event()

        async def slow(request: httpx.Request) -> httpx.Response:
            started.set()
            await asyncio.sleep(30)
            return httpx.Response(200)

        client = httpx.AsyncClient(transport=httpx.MockTransport(slow))
        provider = DemoProvider(base_url="http://127.0.0.1:9/api", http_client=client)
        task = asyncio.create_task(provider.send(message))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (span,) = _client_spans(spans)
        assert span.attributes["error.type"] == "CancelledError"


class TestCredentials:
    async def test_unauthenticated_call_drops_header(self) -> None:
        script = Script()
        client = httpx.AsyncClient(
            transport=httpx.MockTransport(script), headers={"Authorization": "Bearer leftover"}
        )
        provider = DemoProvider(
            base_url="http://127.0.0.1:9/api", http_client=client, auth=ReplayAuth()
        )
        await provider.login()
        assert "Authorization" not in script.headers[0]

    async def test_retry_log_has_no_secrets(
        self, message: Sms, caplog: pytest.LogCaptureFixture, leak_audit: LeakAudit
    ) -> None:
        leak_audit.secret("Salom! Kod: 4512")
        provider, _ = _provider(Script(503, 200))
        with caplog.at_level(logging.DEBUG, logger="notifier"):
            await provider.send(message)
        retry_lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert len(retry_lines) == 1
        assert "HTTP 503" in retry_lines[0]
        assert "ref-0011" in retry_lines[0]
        for record in caplog.records:
            text = record.getMessage()
            assert "998900000011" not in text
            assert "Salom" not in text


def test_redact_text_shortens() -> None:
    text = redact_text("x" * 500, limit=50)
    assert len(text) == 50
    assert text.endswith("…")


def test_summarize_plain_text() -> None:
    response = httpx.Response(502, text="<html>\n bad   gateway for +998900000011 </html>")
    assert summarize_response(response) == "<html> bad gateway for +998*****0011 </html>"


# -- real sockets on loopback --------------------------------------------------


class RawServer:
    """An HTTP/1.1 server on 127.0.0.1 that misbehaves on purpose.

    ``mode`` is ``"drop"`` (read the whole request, then close without a
    response) or ``"hang"`` (read the request and never respond).
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._hung: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        for writer in self._hung:
            writer.close()
        self._server.close()
        await self._server.wait_closed()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/api"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        self.requests += 1
        if self.mode == "hang":
            self._hung.append(writer)
            return
        writer.close()


async def _wait_for_requests(server: RawServer, count: int) -> None:
    """Poll until ``server`` has read ``count`` whole requests; fail after 5 s."""
    deadline = time.monotonic() + 5.0
    while server.requests < count:
        if time.monotonic() > deadline:
            pytest.fail(f"the server read {server.requests} requests in 5 s, expected {count}")
        await asyncio.sleep(0.005)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
class TestRealSockets:
    async def test_dropped_after_send(self, message: Sms, transport: TransportName) -> None:
        async with RawServer("drop") as server:
            provider = DemoProvider(base_url=server.base_url, transport=transport)
            async with provider:
                with pytest.raises(DeliveryUnknown) as caught:
                    await provider.send(message)
            assert server.requests == 1
            assert caught.value.client_ref == "ref-0011"

    async def test_read_timeout_on_send(self, message: Sms, transport: TransportName) -> None:
        async with RawServer("hang") as server:
            timeout = httpx.Timeout(5.0, read=0.3)
            provider = DemoProvider(base_url=server.base_url, transport=transport, timeout=timeout)
            async with provider:
                with pytest.raises(DeliveryUnknown) as caught:
                    await provider.send(message)
            assert server.requests == 1
            assert isinstance(caught.value.__cause__, httpx.ReadTimeout)

    async def test_dropped_read_retried(self, transport: TransportName) -> None:
        async with RawServer("drop") as server:
            provider = DemoProvider(base_url=server.base_url, transport=transport)
            async with provider:
                with pytest.raises(ProviderUnavailable) as caught:
                    await provider.status("m-1")
            # aiohttp itself resends an idempotent method (GET, PUT, DELETE)
            # once when the connection drops (RFC 9112, section 9.3.1), so
            # each of the three attempts reaches the server twice.
            assert server.requests == (3 if transport == "httpx" else 6)
            assert caught.value.attempts == 3

    async def test_refused_connection_retried(self, message: Sms, transport: TransportName) -> None:
        provider = DemoProvider(
            base_url=f"http://127.0.0.1:{_closed_port()}/api", transport=transport
        )
        async with provider:
            with pytest.raises(ProviderUnavailable) as caught:
                await provider.send(message)
        assert caught.value.attempts == 3
        assert isinstance(caught.value.__cause__, httpx.ConnectError)

    async def test_aclose_with_request_written(
        self, message: Sms, transport: TransportName
    ) -> None:
        async with RawServer("hang") as server:
            provider = DemoProvider(base_url=server.base_url, transport=transport)
            task = asyncio.create_task(provider.send(message))
            await _wait_for_requests(server, 1)

            await asyncio.wait_for(provider.aclose(), 5)

            with pytest.raises(DeliveryUnknown) as caught:
                await asyncio.wait_for(task, 5)
            assert caught.value.client_ref == "ref-0011"
            assert server.requests == 1

    async def test_aclose_while_waiting_for_connection(self, transport: TransportName) -> None:
        # With one connection, the second send waits in the pool, unsent.
        # Closing the httpx pool under it used to let it go out after close.
        async with RawServer("hang") as server:
            provider = DemoProvider(
                base_url=server.base_url,
                transport=transport,
                limits=httpx.Limits(max_connections=1),
            )
            first = asyncio.create_task(
                provider.send(Sms("+998900000011", "Salom", client_ref="a"))
            )
            await _wait_for_requests(server, 1)
            second = asyncio.create_task(
                provider.send(Sms("+998900000012", "Salom", client_ref="b"))
            )
            await asyncio.sleep(0.05)

            await asyncio.wait_for(provider.aclose(), 5)

            outcomes = await asyncio.wait_for(
                asyncio.gather(first, second, return_exceptions=True), 5
            )
            await asyncio.sleep(0.1)
            assert isinstance(outcomes[0], DeliveryUnknown)
            assert outcomes[0].client_ref == "a"
            assert isinstance(outcomes[1], NotifierClosed)
            assert "nothing was sent" in str(outcomes[1])
            assert server.requests == 1
