"""The HTTP layer every HTTP provider builds on.

``HttpProvider`` owns the sequence of one vendor operation. It chooses the
HTTP client of the running event loop, builds the request and sends it under
the provider's ``RetryPolicy``. It opens one CLIENT span per HTTP request and
turns network failures and error statuses into the library's errors. A vendor
subclass describes each operation as an ``HttpCall``, parses the response it
gets back, and overrides narrow steps:

- ``map_error_response(response, call)`` turns a non-retryable error
  response into a ``ProviderError`` (the default maps by status code);
- ``summarize_response(response, call)`` gives the redacted excerpt kept in
  errors.

Authentication is an ``httpx.Auth`` given to the constructor or set later
through ``_set_auth``. Its flow may replay a request, and every request it
yields gets its own span with ``http.request.resend_count``.

What is retried:

- connect errors and pool timeouts, because nothing was sent;
- the policy's ``retry_statuses`` (500, 502, 503 by default) and 429, waiting
  as long as ``Retry-After`` requests on 429 and 503;
- for idempotent calls only, every other transient failure as well: read
  timeouts, dropped connections, 504.

A non-idempotent call (a send) that hits a read timeout, a dropped connection
after the request was written, or a 504 raises ``DeliveryUnknown`` carrying
the ``client_ref``, because the vendor may have accepted it; the policy's
``resend_on_timeout`` opts into resending instead.

Closing: ``aclose()`` cancels the calls in flight before it closes the HTTP
clients. A cancelled call whose request may have reached the vendor raises
``DeliveryUnknown`` with the ``client_ref`` when it is not idempotent. A call
that provably sent nothing (it waited for a token, a pooled connection or a
retry) raises ``NotifierClosed``. The owned clients report how far each
request got: httpx's pool through httpcore's ``trace`` request extension
(the request headers started going out), the aiohttp transport through
aiohttp's trace signals (a connection was assigned to the request). A
borrowed client reports nothing, so there any request handed to it counts as
possibly sent.

Event loops: nothing here binds to a loop at construction. The provider
keeps one owned ``httpx.AsyncClient`` per running loop, created on first use
in that loop and closed when the loop shuts down (through an async generator
the loop finalizes in ``shutdown_asyncgens``) or when the provider closes. So
two ``asyncio.run()`` calls in a row on one provider work, and so does a
provider built where no loop runs.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import functools
import logging
import threading
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Mapping,
)
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, ClassVar, Literal, cast

import anyio
import httpx
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from ._errors import (
    AuthenticationError,
    ConfigurationError,
    DeliveryUnknown,
    NotifierClosed,
    ProviderError,
    ProviderUnavailable,
    RateLimitedError,
    RejectedError,
)
from ._provider import Provider
from ._redact import redact_text, remove_echoes, summarize_response
from ._retry import RetryableFailure, RetryPolicy, parse_retry_after, retry_call

__all__ = [
    "TRANSPORTS",
    "HttpCall",
    "HttpProvider",
    "HttpStats",
    "TransportName",
    "redact_text",
    "remove_echoes",
    "summarize_response",
]

TransportName = Literal["httpx", "aiohttp"]
TRANSPORTS: tuple[TransportName, ...] = ("httpx", "aiohttp")

try:
    _CORE_VERSION = version("notifier-core")
except PackageNotFoundError:  # a source tree that was never installed
    _CORE_VERSION = "0.0.0"

_CLOSE_TIMEOUT = 5.0  # seconds aclose() waits for a client owned by another event loop
# Seconds aclose() waits for the calls it cancelled to unwind before it closes
# the client under them. Cancelled calls stop at their next await, so this is
# a bound for a misbehaving auth flow or transport, not a grace period.
_ABORT_TIMEOUT = 2.0


@dataclass(frozen=True)
class HttpCall:
    """One vendor operation, described for ``HttpProvider._request``.

    Attributes:
        method: the HTTP method.
        path: the path below the provider's base URL, starting with ``/``.
        operation: a short name for logs and spans, such as ``"send"``.
        idempotent: whether sending the request twice is harmless. Only
            idempotent calls are retried after a read timeout, a dropped
            connection or a 504.
        path_template: the path with ids replaced by ``{name}``, recorded in
            spans and logs instead of ``path``; defaults to ``path``.
        params: query parameters; never put secrets here.
        form: fields sent as ``application/x-www-form-urlencoded``.
        multipart: fields sent as ``multipart/form-data`` (no files).
        json: a body sent as JSON.
        headers: extra request headers.
        auth: ``"provider"`` for the provider's own authentication, ``None``
            for none at all (any ``Authorization`` header is removed), or an
            ``httpx.Auth`` for this call only.
        client_ref: the caller's id of the message concerned, put into
            ``DeliveryUnknown`` and logs.
        sensitive: texts removed from response summaries in errors, such as
            the message body, which a vendor may echo in an error response.
    """

    method: str
    path: str
    operation: str
    idempotent: bool
    path_template: str | None = None
    params: Mapping[str, str] | None = None
    form: Mapping[str, str] | None = None
    multipart: Mapping[str, str] | None = None
    json: Any = None
    headers: Mapping[str, str] | None = None
    auth: httpx.Auth | Literal["provider"] | None = "provider"
    client_ref: str | None = None
    sensitive: tuple[str, ...] = field(default=(), repr=False)

    @property
    def route(self) -> str:
        """The path template used in spans, logs and error messages."""
        return self.path_template or self.path


@dataclass
class HttpStats:
    """Counters of one provider's HTTP traffic since it was created.

    Attributes:
        requests: HTTP requests sent, retries and authentication replays included.
        retries: attempts started again by the retry policy.
    """

    requests: int = 0
    retries: int = 0


class _State(enum.Enum):
    OPEN = "open"  # accepts calls; HTTP clients are created per event loop on demand
    CLOSED = "closed"  # aclose() ran; every call raises NotifierClosed


@dataclass
class _LoopClient:
    """The owned HTTP client of one event loop and the generator that closes it."""

    client: httpx.AsyncClient
    closer: AsyncGenerator[None, None]


async def _close_with_loop(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    # Once started, an async generator is tracked by its event loop, and
    # asyncio.run() (any loop.shutdown_asyncgens()) closes it before the loop
    # closes. Closing it closes the client while its loop can still run the
    # socket shutdown, so no connection outlives its loop.
    try:
        yield
    finally:
        await client.aclose()


class _InFlightCall:
    """One ``HttpProvider._request`` call in flight and how far its current request got.

    ``aclose()`` cancels the call through ``scope`` and reads the rest to
    decide whether the request may have reached the vendor.
    """

    __slots__ = (
        "attempts",
        "done",
        "finished",
        "handed_over",
        "loop",
        "reports_progress",
        "scope",
        "unanswered",
        "written",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, *, reports_progress: bool) -> None:
        self.loop = loop
        self.scope = anyio.CancelScope()
        # Whether the transport reports when a request may have been written;
        # without that, a request handed to the client counts as written.
        self.reports_progress = reports_progress
        # The current request is with the transport and has no response yet.
        self.handed_over = False
        # The transport started writing the current request, or assigned it a connection.
        self.written = False
        # An earlier attempt got no response and may have been processed. Only
        # RetryPolicy.resend_on_timeout retries after such an attempt.
        self.unanswered = False
        self.attempts = 0
        self.finished = False
        # Created by aclose() to wait until the cancelled call has unwound.
        self.done: asyncio.Future[None] | None = None

    def may_have_reached_vendor(self) -> bool:
        """Whether a request of this call may have been written and got no response."""
        if self.unanswered:
            return True
        if not self.handed_over:
            return False
        return self.written or not self.reports_progress

    def request_started(self) -> None:
        self.handed_over = True
        self.written = False

    def response_received(self) -> None:
        self.handed_over = False
        self.written = False

    async def on_httpcore_event(self, name: str, info: Mapping[str, Any]) -> None:
        """Record the progress httpcore reports through the ``trace`` request extension."""
        # "http11.send_request_headers.started" (or "http2."): the first byte
        # of the request may go out from here on.
        if name.endswith(".send_request_headers.started"):
            self.written = True


# The call in flight in the current task, for aiohttp's trace signals, which
# get no request object. Each _request() sets it for its own task, so a login
# started from a send (as its own task) does not report into the send's call.
_current_call: contextvars.ContextVar[_InFlightCall | None] = contextvars.ContextVar(
    "notifier_http_call", default=None
)


class _TracedAuth(httpx.Auth):
    """Wrap an auth flow so that every request it yields gets a CLIENT span.

    The flow of the wrapped auth may replay a request, for example with a new
    token after a 401. Each replay is a separate span whose
    ``http.request.resend_count`` counts on from the retry attempt.
    """

    def __init__(
        self,
        provider: HttpProvider,
        call: HttpCall,
        inner: httpx.Auth | None,
        resend_count: int,
        in_flight: _InFlightCall,
    ) -> None:
        self._provider = provider
        self._call = call
        self._inner = inner
        self._resend_count = resend_count
        self._in_flight = in_flight
        self._open_span: Span | None = None
        self._started = 0.0
        if inner is not None:
            self.requires_request_body = inner.requires_request_body
            self.requires_response_body = inner.requires_response_body

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("notifier providers are async; use an httpx.AsyncClient")
        yield request  # pragma: no cover - makes this function a generator

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._inner is None:
            self._start_span(request)
            response = yield request
            self.finish(response=response)
            return

        flow = self._inner.async_auth_flow(request)
        try:
            next_request = await flow.__anext__()
            while True:
                self._start_span(next_request)
                response = yield next_request
                self.finish(response=response)
                try:
                    next_request = await flow.asend(response)
                except StopAsyncIteration:
                    return
                self._resend_count += 1
        finally:
            await flow.aclose()

    def _start_span(self, request: httpx.Request) -> None:
        self._in_flight.request_started()
        self._provider.stats.requests += 1
        self._started = time.monotonic()
        self._open_span = self._provider._start_client_span(request, self._call, self._resend_count)

    def finish(
        self, *, response: httpx.Response | None = None, error: BaseException | None = None
    ) -> None:
        """End the open span with the response or the error; no-op when none is open."""
        span, self._open_span = self._open_span, None
        if span is None:
            return
        elapsed_ms = (time.monotonic() - self._started) * 1000
        logger = self._provider._logger
        if response is not None:
            self._in_flight.response_received()
            status = response.status_code
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_attribute("error.type", str(status))
                span.set_status(Status(StatusCode.ERROR))
            logger.debug(
                "%s %s %s -> HTTP %d in %.1f ms (resend %d)",
                self._provider.name,
                self._call.method,
                self._call.route,
                status,
                elapsed_ms,
                self._resend_count,
            )
        else:
            kind = type(error).__qualname__ if error is not None else "unknown"
            span.set_attribute("error.type", kind)
            span.set_status(Status(StatusCode.ERROR, kind))
            logger.debug(
                "%s %s %s -> %s after %.1f ms (resend %d)",
                self._provider.name,
                self._call.method,
                self._call.route,
                kind,
                elapsed_ms,
                self._resend_count,
            )
        span.end()


def _make_aiohttp_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    try:
        transport_class = _aiohttp_transport_class()
    except ImportError as exc:
        raise ConfigurationError(
            "transport='aiohttp' needs the httpx-aiohttp package; install the "
            "provider's [aiohttp] extra, for example 'pip install notifier-eskiz[aiohttp]'."
        ) from exc
    return transport_class(limits=limits)


@functools.cache
def _aiohttp_transport_class() -> Callable[..., httpx.AsyncBaseTransport]:
    """Build the aiohttp transport class; imports the optional packages on first use.

    httpx-aiohttp (0.1 and 0.2) maps every ``aiohttp.ClientConnectionError``
    it does not know more precisely to ``httpx.ConnectTimeout``. That includes
    ``ServerDisconnectedError``, a connection dropped after the request was
    sent, and would make a send look safe to retry. This subclass maps from
    the original aiohttp error instead, so both transports raise the same
    httpx errors for the same failures.

    Its session also reports, through aiohttp's trace signals, when a
    connection is assigned to a request. From then on the request may be
    written, which ``HttpProvider.aclose()`` needs to know for calls in flight.
    """
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    async def connection_assigned(
        session: aiohttp.ClientSession, context: Any, params: Any
    ) -> None:
        # aiohttp writes the request right after it gets the connection,
        # without awaiting anything in between.
        call = _current_call.get()
        if call is not None:
            call.written = True

    def remap(exc: httpx.TransportError) -> httpx.TransportError:
        cause = exc.__cause__
        message = str(exc) or type(cause).__name__
        if isinstance(cause, aiohttp.ClientConnectorError):
            return httpx.ConnectError(message)
        if isinstance(cause, aiohttp.ConnectionTimeoutError):
            return httpx.ConnectTimeout(message)
        if isinstance(cause, aiohttp.SocketTimeoutError):
            return httpx.ReadTimeout(message)
        if isinstance(cause, aiohttp.ServerDisconnectedError):
            return httpx.RemoteProtocolError(message)
        if isinstance(cause, (aiohttp.ClientOSError, aiohttp.ClientPayloadError)):
            return httpx.ReadError(message)
        if isinstance(cause, aiohttp.ClientConnectionError) and isinstance(
            exc, httpx.ConnectTimeout
        ):
            # Some other connection failure, possibly after sending.
            return httpx.ReadError(message)
        return exc

    class RemappingStream(httpx.AsyncByteStream):
        def __init__(self, inner: httpx.AsyncByteStream) -> None:
            self._inner = inner

        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                async for chunk in self._inner:
                    yield chunk
            except httpx.TransportError as exc:
                raise remap(exc) from exc.__cause__

        async def aclose(self) -> None:
            await self._inner.aclose()

    class RemappingAiohttpTransport(AiohttpTransport):
        def get_client(self) -> aiohttp.ClientSession:
            # The session httpx-aiohttp 0.2 builds for a transport made with
            # only ``limits``, plus the trace signals.
            trace_config = aiohttp.TraceConfig()
            trace_config.on_connection_create_end.append(connection_assigned)
            trace_config.on_connection_reuseconn.append(connection_assigned)
            # Without max_connections, httpx-aiohttp keeps aiohttp's default of 100.
            limit = self.limits.max_connections
            connector = aiohttp.TCPConnector(
                keepalive_timeout=self.limits.keepalive_expiry,
                ssl=self.ssl_context,
                limit=100 if limit is None else limit,
            )
            return aiohttp.ClientSession(connector=connector, trace_configs=[trace_config])

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            try:
                response = await super().handle_async_request(request)
            except httpx.TransportError as exc:
                raise remap(exc) from exc.__cause__
            response.stream = RemappingStream(cast(httpx.AsyncByteStream, response.stream))
            return response

    return RemappingAiohttpTransport


class HttpProvider(Provider):
    """Base class of providers that speak HTTP to their vendor.

    Subclasses set ``name``, ``display_name`` (for messages, e.g. ``"Eskiz"``),
    ``instrumentation_name``/``instrumentation_version`` (the tracer of the
    CLIENT spans) and ``logger_name``, call ``super().__init__`` and describe
    every operation as an ``HttpCall`` passed to ``_request``. See the module
    docstring for the sequence this class owns.

    Args:
        base_url: the vendor's API root; paths of calls are appended to it.
        timeout: seconds allowed for connecting, writing, reading and waiting
            for a pooled connection (an ``httpx.Timeout`` sets each one).
            Ignored when ``http_client`` is given, which keeps its own timeout.
        http_client: an ``httpx.AsyncClient`` to use instead of an owned one.
            It is used as given and never closed by the provider; it must be
            used from one event loop.
        transport: ``"httpx"`` (httpx's own connection pool) or ``"aiohttp"``
            (httpx on aiohttp's pool, faster under high concurrency; needs the
            ``[aiohttp]`` extra). Only for the owned client.
        retry: the retry policy; ``RetryPolicy()`` when omitted.
        auth: the ``httpx.Auth`` applied to calls whose ``auth`` is ``"provider"``.
        limits: connection-pool limits of the owned client.
    """

    display_name: ClassVar[str] = "the provider"
    instrumentation_name: ClassVar[str] = "notifier"
    instrumentation_version: ClassVar[str] = _CORE_VERSION
    logger_name: ClassVar[str] = "notifier"
    user_agent: ClassVar[str] = f"notifier/{_CORE_VERSION}"

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float | httpx.Timeout = 10.0,
        http_client: httpx.AsyncClient | None = None,
        transport: TransportName = "httpx",
        retry: RetryPolicy | None = None,
        auth: httpx.Auth | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ConfigurationError(
                f"Unknown transport {transport!r}; use one of {', '.join(TRANSPORTS)}."
            )
        if http_client is not None and transport != "httpx":
            raise ConfigurationError(
                f"transport={transport!r} applies only to the provider's own client; "
                "configure the transport of the http_client you passed instead."
            )
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise ConfigurationError(
                f"http_client must be an httpx.AsyncClient, got {type(http_client).__name__}."
            )
        try:
            parsed = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError):
            parsed = httpx.URL()
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigurationError(
                f"base_url {base_url!r} is not an http(s) URL; pass the API root such as "
                "'https://host/api'."
            )
        self._base_url = base_url.rstrip("/")
        self._server_address = parsed.host
        self._server_port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._borrowed_client = http_client
        self._transport_name: TransportName = transport
        self._limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=50)
        self.retry_policy = retry or RetryPolicy()
        self._auth = auth
        self.stats = self._new_stats()
        self._state = _State.OPEN
        self._clients_lock = threading.Lock()
        self._loop_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient]
        self._loop_clients = weakref.WeakKeyDictionary()
        # Owned clients built by _new_client(), whose transports report how
        # far each request got; see _InFlightCall.
        self._reporting_clients: weakref.WeakSet[httpx.AsyncClient] = weakref.WeakSet()
        self._in_flight: set[_InFlightCall] = set()
        self._logger = logging.getLogger(self.logger_name)
        self._tracer = trace.get_tracer(self.instrumentation_name, self.instrumentation_version)

    def _new_stats(self) -> HttpStats:
        """Create the stats record; subclasses return a subclass with more counters."""
        return HttpStats()

    def _set_auth(self, auth: httpx.Auth | None) -> None:
        """Set the auth applied to calls whose ``auth`` is ``"provider"``."""
        self._auth = auth

    @property
    def base_url(self) -> str:
        """The vendor's API root, without a trailing slash."""
        return self._base_url

    @property
    def transport(self) -> TransportName:
        """The transport of the owned client: ``"httpx"`` or ``"aiohttp"``."""
        return self._transport_name

    @property
    def closed(self) -> bool:
        """Whether ``aclose()`` has run."""
        return self._state is _State.CLOSED

    def _check_open(self) -> None:
        if self._state is _State.CLOSED:
            raise self._closed_error()

    def _closed_error(self) -> NotifierClosed:
        return NotifierClosed(
            f"{type(self).__name__} is closed, so nothing was sent; "
            "create a new provider to send again."
        )

    # -- clients ---------------------------------------------------------------

    def _new_client(self) -> httpx.AsyncClient:
        transport = (
            _make_aiohttp_transport(self._limits) if self._transport_name == "aiohttp" else None
        )
        client = httpx.AsyncClient(
            timeout=self._timeout,
            limits=self._limits,
            transport=transport,
            headers={"User-Agent": self.user_agent},
            follow_redirects=False,
        )
        self._reporting_clients.add(client)
        return client

    async def _client(self) -> httpx.AsyncClient:
        """Return the HTTP client for the running event loop, creating it on first use."""
        if self._borrowed_client is not None:
            return self._borrowed_client
        loop = asyncio.get_running_loop()
        with self._clients_lock:
            self._check_open()
            entry = self._loop_clients.get(loop)
            if entry is not None:
                return entry.client
            client = self._new_client()
            entry = _LoopClient(client, _close_with_loop(client))
            self._loop_clients[loop] = entry
        await entry.closer.asend(None)
        return entry.client

    async def aclose(self) -> None:
        """Close the provider: cancel its calls in flight, then close its owned HTTP clients.

        Idempotent. A client passed in as ``http_client`` stays open. Calls
        made after this raise ``NotifierClosed``. A call in flight is
        cancelled and raises:

        - ``DeliveryUnknown`` with its ``client_ref`` when it is not
          idempotent (a send) and its request may have reached the vendor;
        - ``NotifierClosed`` when it provably sent nothing, because it waited
          for a token, a pooled connection or a retry, and for idempotent
          calls.

        ``AsyncNotifier.aclose()`` lets sends in flight finish first, within
        its close timeout, and then closes the provider.
        """
        with self._clients_lock:
            if self._state is _State.CLOSED:
                return
            self._state = _State.CLOSED
            clients = dict(self._loop_clients.items())
            self._loop_clients.clear()
            calls = list(self._in_flight)
        await self._on_close()

        current = asyncio.get_running_loop()
        loops = dict.fromkeys([*clients, *(call.loop for call in calls)])
        for loop in loops:
            loop_calls = [call for call in calls if call.loop is loop]
            entry = clients.get(loop)
            if loop is current:
                await self._abort_and_close(loop_calls, entry)
            elif loop.is_running():
                # Calls and clients of another loop (another Notifier thread)
                # are handled on that loop; a loop that already stopped
                # closed its client itself.
                future = asyncio.run_coroutine_threadsafe(
                    self._abort_and_close(loop_calls, entry), loop
                )
                try:
                    await asyncio.wait_for(asyncio.wrap_future(future), _CLOSE_TIMEOUT)
                except (asyncio.TimeoutError, RuntimeError, httpx.HTTPError) as exc:
                    self._logger.warning(
                        "%s: the HTTP client of another event loop did not close (%s)",
                        self.name,
                        type(exc).__qualname__,
                    )

    async def _abort_and_close(self, calls: list[_InFlightCall], entry: _LoopClient | None) -> None:
        """Cancel ``calls`` of the running loop, wait for them to unwind, close its client."""
        loop = asyncio.get_running_loop()
        waiters: list[asyncio.Future[None]] = []
        for call in calls:
            if call.finished:
                continue
            call.done = loop.create_future()
            call.scope.cancel()
            waiters.append(call.done)
        try:
            if waiters:
                _, pending = await asyncio.wait(waiters, timeout=_ABORT_TIMEOUT)
                if pending:
                    self._logger.warning(
                        "%s: %d cancelled call(s) still ran %.1f s after aclose(); "
                        "closing the HTTP client under them",
                        self.name,
                        len(pending),
                        _ABORT_TIMEOUT,
                    )
        finally:
            if entry is not None:
                await entry.closer.aclose()

    async def _on_close(self) -> None:
        """Release subclass resources; called once by ``aclose()`` before clients close."""

    # -- the sequence ----------------------------------------------------------

    async def _request(self, call: HttpCall) -> httpx.Response:
        """Send ``call`` under the retry policy and return its successful response.

        Raises:
            NotifierClosed: the provider was closed before the call, or during
                it while nothing had been sent.
            DeliveryUnknown: the provider was closed while a request of a
                non-idempotent call may have reached the vendor.
            ProviderError: a subclass for each failure; see the module docstring.
        """
        self._check_open()
        client = await self._client()
        in_flight = _InFlightCall(
            asyncio.get_running_loop(), reports_progress=client in self._reporting_clients
        )
        with self._clients_lock:
            self._check_open()
            self._in_flight.add(in_flight)
        context_token = _current_call.set(in_flight)
        try:
            with in_flight.scope:
                try:
                    return await self._retry(client, call, in_flight)
                except NotifierClosed as exc:
                    # aclose() ran while this call waited for a token or a
                    # retry, or closed the client under it.
                    if self._state is not _State.CLOSED:
                        raise
                    raise self._closed_in_flight(call, in_flight) from exc
            # Reached only when aclose() cancelled the scope.
            raise self._closed_in_flight(call, in_flight)
        finally:
            _current_call.reset(context_token)
            in_flight.finished = True
            with self._clients_lock:
                self._in_flight.discard(in_flight)
            if in_flight.done is not None and not in_flight.done.done():
                in_flight.done.set_result(None)

    async def _retry(
        self, client: httpx.AsyncClient, call: HttpCall, in_flight: _InFlightCall
    ) -> httpx.Response:
        async def attempt(number: int) -> httpx.Response:
            return await self._attempt(client, call, number, in_flight)

        def on_retry(number: int, failure: RetryableFailure, wait: float) -> None:
            # The failed request is settled. It got a response, it never went
            # out (a connect error), or it may have been processed, which only
            # resend_on_timeout retries and a close during the wait must report.
            if isinstance(failure.error, DeliveryUnknown):
                in_flight.unanswered = True
            in_flight.response_received()
            self.stats.retries += 1
            self._logger.info(
                "%s %s: attempt %d of %d failed (%s); retrying in %.2f s%s",
                self.name,
                call.operation,
                number,
                self.retry_policy.attempts,
                failure.reason,
                wait,
                f" (client_ref={call.client_ref})" if call.client_ref else "",
            )

        return await retry_call(attempt, self.retry_policy, on_retry=on_retry)

    async def _attempt(
        self, client: httpx.AsyncClient, call: HttpCall, number: int, in_flight: _InFlightCall
    ) -> httpx.Response:
        self._check_open()
        in_flight.attempts = number
        request = client.build_request(
            call.method,
            self._base_url + call.path,
            params=call.params,
            data=call.form,
            files=_multipart_fields(call.multipart),
            json=call.json,
            headers=call.headers,
        )
        if in_flight.reports_progress and self._transport_name == "httpx":
            request.extensions["trace"] = in_flight.on_httpcore_event
        if call.auth == "provider":
            inner = self._auth
        else:
            # Drop an Authorization header a borrowed client adds by default:
            # such calls (a login, for example) must carry no credentials.
            request.headers.pop("Authorization", None)
            inner = call.auth
        traced = _TracedAuth(self, call, inner, resend_count=number - 1, in_flight=in_flight)
        try:
            response = await client.send(request, auth=traced)
        except httpx.HTTPError as exc:
            traced.finish(error=exc)
            if self._state is _State.CLOSED:
                raise self._closed_error() from exc
            raise self._classify_transport_error(exc, call) from exc
        except RuntimeError as exc:
            traced.finish(error=exc)
            # httpx raises RuntimeError for a request on a closed client.
            if self._state is _State.CLOSED:
                raise self._closed_error() from exc
            raise
        except BaseException as exc:
            traced.finish(error=exc)
            raise
        traced.finish(response=response)

        if response.is_success:
            return response
        raise self._classify_response(response, call)

    def _closed_in_flight(
        self, call: HttpCall, in_flight: _InFlightCall
    ) -> NotifierClosed | DeliveryUnknown:
        """Build the error of a call that ``aclose()`` interrupted."""
        name = type(self).__name__
        client_ref = f" (client_ref={call.client_ref})" if call.client_ref else ""
        if not in_flight.may_have_reached_vendor():
            self._logger.info(
                "%s %s: closed before the request went out; nothing was sent%s",
                self.name,
                call.operation,
                client_ref,
            )
            return NotifierClosed(
                f"{name} was closed before the {call.operation} request went out, so nothing "
                f"was sent to {self.display_name}; create a new provider to send again."
            )
        if call.idempotent:
            return NotifierClosed(
                f"{name} was closed while the {call.operation} request was in flight; "
                "create a new provider to try again."
            )
        self._logger.warning(
            "%s %s: closed while the request was in flight; it may have been processed%s",
            self.name,
            call.operation,
            client_ref,
        )
        return DeliveryUnknown(
            f"{name} was closed while the {call.operation} request was in flight, so "
            f"{self.display_name} may have accepted it; it was not sent again. Check its "
            "status by client_ref before resending, or the recipient may get it twice.",
            provider=self.name,
            client_ref=call.client_ref,
            attempts=in_flight.attempts or 1,
        )

    def _start_client_span(self, request: httpx.Request, call: HttpCall, resend_count: int) -> Span:
        attributes: dict[str, str | int] = {
            "http.request.method": request.method,
            "server.address": self._server_address,
            "server.port": self._server_port,
            "url.path": httpx.URL(self._base_url).path.rstrip("/") + call.route,
            "url.template": call.route,
            "notifier.provider": self.name,
            "notifier.operation": call.operation,
        }
        if resend_count:
            attributes["http.request.resend_count"] = resend_count
        return self._tracer.start_span(
            f"{request.method} {call.route}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )

    # -- classification --------------------------------------------------------

    def _classify_transport_error(
        self, exc: httpx.HTTPError, call: HttpCall
    ) -> RetryableFailure | ProviderError | ConfigurationError:
        kind = type(exc).__qualname__
        where = f"{self._server_address}:{self._server_port}"
        if isinstance(exc, httpx.UnsupportedProtocol):
            return ConfigurationError(
                f"{self.display_name} base URL {self._base_url!r} uses an unsupported "
                f"protocol ({exc}); use http:// or https://."
            )
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            # Nothing reached the vendor, so trying again cannot duplicate anything.
            error = ProviderUnavailable(
                f"Could not reach {self.display_name} at {where} for {call.operation} ({kind}); "
                "check the network and the base URL, or try again later.",
                provider=self.name,
                client_ref=call.client_ref,
            )
            return RetryableFailure(error, reason=kind, cause=exc)
        if isinstance(exc, httpx.LocalProtocolError):
            return ProviderError(
                f"Could not build the {call.operation} request for {self.display_name} "
                f"({kind}); this is a bug in the provider.",
                provider=self.name,
                client_ref=call.client_ref,
            )

        # A read or write timeout, a dropped connection, a protocol error: the
        # request may have reached the vendor and been processed.
        if call.idempotent:
            error = ProviderUnavailable(
                f"{self.display_name} did not answer {call.operation} ({kind}); try again later.",
                provider=self.name,
                client_ref=call.client_ref,
            )
            return RetryableFailure(error, reason=kind, cause=exc)
        unknown = self._delivery_unknown(call, kind)
        if self.retry_policy.resend_on_timeout:
            return RetryableFailure(unknown, reason=kind, cause=exc)
        return unknown

    def _delivery_unknown(self, call: HttpCall, what: str) -> DeliveryUnknown:
        return DeliveryUnknown(
            f"{self.display_name} may have accepted the {call.operation} request, but no "
            f"answer arrived ({what}); it was not sent again. Check its status by "
            "client_ref before resending, or the recipient may get it twice.",
            provider=self.name,
            client_ref=call.client_ref,
        )

    def _classify_response(
        self, response: httpx.Response, call: HttpCall
    ) -> RetryableFailure | ProviderError:
        status = response.status_code
        summary = self.summarize_response(response, call)
        cause = httpx.HTTPStatusError(
            f"HTTP {status} for {call.method} {call.route}",
            request=response.request,
            response=response,
        )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            error: ProviderError = RateLimitedError(
                f"{self.display_name} rate-limited {call.operation} (HTTP 429); "
                "slow down or wait for retry_after seconds.",
                provider=self.name,
                retry_after=retry_after,
                response_summary=summary,
                client_ref=call.client_ref,
            )
            return RetryableFailure(error, reason="HTTP 429", retry_after=retry_after, cause=cause)
        if status in self.retry_policy.retry_statuses:
            retry_after = (
                parse_retry_after(response.headers.get("Retry-After")) if status == 503 else None
            )
            error = ProviderUnavailable(
                f"{self.display_name} failed {call.operation} with HTTP {status}; "
                "try again later or fail over to another provider.",
                provider=self.name,
                status_code=status,
                response_summary=summary,
                client_ref=call.client_ref,
            )
            return RetryableFailure(
                error, reason=f"HTTP {status}", retry_after=retry_after, cause=cause
            )
        if status == 504:
            # A gateway timeout: the vendor's backend may still process the request.
            if call.idempotent:
                error = ProviderUnavailable(
                    f"{self.display_name} timed out on {call.operation} (HTTP 504); "
                    "try again later.",
                    provider=self.name,
                    status_code=status,
                    response_summary=summary,
                    client_ref=call.client_ref,
                )
                return RetryableFailure(error, reason="HTTP 504", cause=cause)
            unknown = self._delivery_unknown(call, "HTTP 504")
            unknown.status_code = status
            unknown.response_summary = summary
            if self.retry_policy.resend_on_timeout:
                return RetryableFailure(unknown, reason="HTTP 504", cause=cause)
            unknown.__cause__ = cause
            return unknown
        mapped = self.map_error_response(response, call)
        mapped.__cause__ = cause
        return mapped

    def summarize_response(self, response: httpx.Response, call: HttpCall | None = None) -> str:
        """Return the redacted excerpt of an error response kept in errors.

        The texts in ``call.sensitive`` are removed as well.
        """
        return summarize_response(response, call.sensitive if call is not None else ())

    def map_error_response(self, response: httpx.Response, call: HttpCall) -> ProviderError:
        """Turn an error response that is not retried into a ``ProviderError``.

        Called for every status >= 300 except 429, 504 and the policy's retry
        statuses. Vendors override this to read their error bodies; the
        default maps by status: 401 and 403 to ``AuthenticationError``,
        other 4xx to ``RejectedError``, 5xx to ``ProviderUnavailable``.
        """
        status = response.status_code
        summary = self.summarize_response(response, call)
        common: dict[str, Any] = {
            "provider": self.name,
            "status_code": status,
            "response_summary": summary,
            "client_ref": call.client_ref,
        }
        if status in (401, 403):
            return AuthenticationError(
                f"{self.display_name} rejected the credentials for {call.operation} "
                f"(HTTP {status}); check the provider's credentials.",
                **common,
            )
        if 400 <= status < 500:
            return RejectedError(
                f"{self.display_name} rejected {call.operation} with HTTP {status}.", **common
            )
        if status >= 500:
            return ProviderUnavailable(
                f"{self.display_name} failed {call.operation} with HTTP {status}.", **common
            )
        return ProviderError(
            f"{self.display_name} responded to {call.operation} with unexpected HTTP {status}.",
            **common,
        )

    # -- helpers for subclasses ------------------------------------------------

    def _json(self, response: httpx.Response, call: HttpCall) -> Any:
        """Decode a JSON response body, raising ``ProviderError`` when it is not JSON."""
        try:
            return response.json()
        except ValueError:
            raise ProviderError(
                f"{self.display_name} responded to {call.operation} with a body that is not JSON.",
                provider=self.name,
                status_code=response.status_code,
                response_summary=self.summarize_response(response, call),
                client_ref=call.client_ref,
            ) from None

    def _unexpected(self, response: httpx.Response, call: HttpCall, problem: str) -> ProviderError:
        """Build the error for a successful response whose shape is not the documented one."""
        return ProviderError(
            f"{self.display_name} responded to {call.operation} in an unexpected shape: {problem}.",
            provider=self.name,
            status_code=response.status_code,
            response_summary=self.summarize_response(response, call),
            client_ref=call.client_ref,
        )


async def _close_generator(generator: AsyncGenerator[None, None]) -> None:
    await generator.aclose()


def _multipart_fields(fields: Mapping[str, str] | None) -> dict[str, tuple[None, str]] | None:
    # httpx sends multipart only when ``files`` is given; a (None, value)
    # tuple is a plain form field without a filename.
    if fields is None:
        return None
    return {name: (None, value) for name, value in fields.items()}
