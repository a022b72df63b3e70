"""An ASGI endpoint that receives vendors' delivery reports.

Vendors POST a delivery report to the ``callback_url`` given with each
message. ``DeliveryReportReceiver`` is a plain ASGI application, with no web
framework needed, that serves one path per provider (``/eskiz``,
``/twilio``) and for each request:

1. checks the shared secret in the query string (``?secret=...``) in
   constant time, and responds 403 without it;
2. responds 404 for an unknown provider, 405 for a method other than POST,
   and 413 for a body over ``max_body_size`` bytes;
3. parses the body with the provider's ``parse_delivery_report``, and
   responds 400 when it is not a report of that vendor;
4. responds 200, then records each report in the ``ReportStore`` and passes
   each new one to the ``notifier_delivery_report`` plugin hook and to the
   ``on_report`` callback.

The secret travels in the query string because most vendors, Eskiz
included, neither sign their callbacks nor let the sender add a header.
The same checks and processing are available to other frameworks through
``DeliveryReportReceiver.handle``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import inspect
import json
import logging
import re
import threading
import time
import traceback
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Mapping,
)
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import anyio.to_thread
import pluggy
from pydantic import SecretStr

from . import _asgi
from ._asgi import Receive, Scope, Send
from ._errors import AuthenticationError, ConfigurationError, InvalidMessage
from ._models import DeliveryReport
from ._plugins import call_observers, get_plugin_manager
from ._provider import Provider
from ._report_store import InMemoryReportStore, ReportOutcome, ReportStore

__all__ = ["CallbackResponse", "DeliveryReportReceiver", "ReportCallback"]

logger = logging.getLogger("notifier")

ReportCallback = Callable[[DeliveryReport], "Awaitable[None] | None"]
"""A function called with each accepted report; it may be sync or async."""

SECRET_PARAMETER = "secret"  # noqa: S105 -- the name of the query parameter, not a secret
_MIN_SECRET_LENGTH = 16
_ROUTE = re.compile(r"[A-Za-z0-9_-]+")
# Rejections of one kind are logged at most once per interval, in seconds,
# with a count of those left out, so a scanner cannot flood the log.
_REJECTION_LOG_INTERVAL = 60.0


@dataclass(frozen=True)
class CallbackResponse:
    """The HTTP response the receiver gives to a vendor's request.

    Attributes:
        status_code: the HTTP status.
        body: the response body, a short JSON object.
        headers: extra headers, such as ``Allow`` on 405.
    """

    status_code: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"

    @classmethod
    def json(
        cls, status_code: int, content: Mapping[str, Any], headers: tuple[tuple[str, str], ...] = ()
    ) -> CallbackResponse:
        """Build a response whose body is ``content`` as JSON."""
        body = json.dumps(content, separators=(",", ":")).encode()
        return cls(status_code, body, headers)


class _RejectionLog:
    """Log rejected requests, at most one line per reason and interval."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, reason: str, message: str, *args: object) -> None:
        now = self._clock()
        last = self._last.get(reason)
        if last is not None and now - last < self._interval:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return
        self._last[reason] = now
        suppressed = self._suppressed.pop(reason, 0)
        if suppressed:
            message += " (%d similar rejections not logged)"
            args = (*args, suppressed)
        logger.warning(message, *args)


class _MessageLocks:
    """One asyncio lock per message and event loop, dropped once no task holds it.

    NOTE: requests handled on different event loops (async views under WSGI
    run one loop per request) are not ordered against each other. The store
    still accepts each report once, but on_report may see two concurrent
    reports of one message in either order.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[int, Hashable], tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable | None) -> AsyncIterator[None]:
        if key is None or not _in_asyncio():
            yield
            return
        slot = (id(asyncio.get_running_loop()), key)
        with self._guard:
            lock, holders = self._locks.get(slot, (None, 0))
            if lock is None:
                lock = asyncio.Lock()
            self._locks[slot] = (lock, holders + 1)
        try:
            async with lock:
                yield
        finally:
            with self._guard:
                lock, holders = self._locks[slot]
                if holders == 1:
                    del self._locks[slot]
                else:
                    self._locks[slot] = (lock, holders - 1)


def _message_key(report: DeliveryReport) -> Hashable | None:
    if report.client_ref:
        return ("ref", report.provider, report.client_ref)
    if report.message_id:
        return ("id", report.provider, report.message_id)
    return None


def _route_table(
    providers: Provider | Iterable[Provider] | Mapping[str, Provider],
) -> dict[str, Provider]:
    if isinstance(providers, Provider):
        table = {providers.name: providers}
    elif isinstance(providers, Mapping):
        table = dict(providers)
    else:
        table = {}
        for provider in providers:
            if provider.name in table:
                raise ConfigurationError(
                    f"Two providers are named {provider.name!r}; pass a mapping "
                    "{route: provider} to give each its own path."
                )
            table[provider.name] = provider
    if not table:
        raise ConfigurationError("DeliveryReportReceiver needs at least one provider.")

    for route, provider in table.items():
        if not _ROUTE.fullmatch(route):
            raise ConfigurationError(
                f"Invalid route {route!r} for provider {provider.name!r}; use letters, "
                "digits, '-' and '_' only."
            )
        if type(provider).parse_delivery_report is Provider.parse_delivery_report:
            raise ConfigurationError(
                f"Provider {provider.name!r} does not parse delivery reports, so it "
                "cannot be served by DeliveryReportReceiver."
            )
    return table


def _check_secret(secret: SecretStr | str, argument: str) -> SecretStr:
    value = secret if isinstance(secret, SecretStr) else SecretStr(secret)
    if len(value.get_secret_value()) < _MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"Each delivery-report {argument} must be at least {_MIN_SECRET_LENGTH} "
            "characters; generate one with secrets.token_urlsafe(32)."
        )
    return value


def _digest(value: str) -> bytes:
    # Comparing fixed-length digests keeps the comparison time independent
    # of the length of the secret, not only of its content.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def _describe_parser_failure(error: BaseException) -> str:
    # A parser's own exception text can quote the body, phone numbers
    # included, so only its type and the line that raised it are logged.
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}{where}"


class DeliveryReportReceiver:
    """An ASGI application that receives delivery reports, one path per provider.

    Mount it in any ASGI server or framework; ``handle`` serves frameworks
    that are not ASGI. Reports that are news (see ``ReportStore``) reach the
    ``notifier_delivery_report`` hook of ``plugins`` and ``on_report``.

    Args:
        providers: the providers to serve, each at ``/<provider.name>``; a
            mapping ``{route: provider}`` chooses the paths.
        secret: the shared secret vendors send as ``?secret=...``; at least
            16 characters, such as ``secrets.token_urlsafe(32)``.
            ``callback_url`` builds the URL to give to the vendor.
        previous_secrets: secrets still accepted while a new ``secret`` is
            rolled out, for messages sent with the old callback URL.
        store: remembers accepted reports, to drop duplicates and outdated
            reports; an ``InMemoryReportStore`` by default.
        on_report: called with each accepted report. A sync function runs
            in a worker thread, an async one on the server's event loop.
            Its exceptions are logged, and the report still counts as
            received, so a vendor's retry of it is dropped as a duplicate.
        plugins: the plugin manager whose ``notifier_delivery_report`` hook
            is called, in a worker thread; the process-wide one by default.
        max_body_size: the largest request body accepted, in bytes.
        background: respond 200 before the reports are processed (the
            default), so a slow store or callback never delays the vendor.
            With ``False`` the response waits, and a failing store gives
            503 so a vendor that retries sends the report again. Outside
            asyncio (under trio) reports are always processed first.
        max_pending: the maximum number of requests processed in the
            background at once; beyond it the receiver responds 503.
        public_url: the URL at which vendors reach this receiver, when a proxy
            rewrites the host or path. Vendors that sign callbacks (Twilio)
            sign this URL, so providers verify signatures against it.
    """

    def __init__(
        self,
        providers: Provider | Iterable[Provider] | Mapping[str, Provider],
        *,
        secret: SecretStr | str,
        previous_secrets: Iterable[SecretStr | str] = (),
        store: ReportStore | None = None,
        on_report: ReportCallback | None = None,
        plugins: pluggy.PluginManager | None = None,
        max_body_size: int = 64 * 1024,
        background: bool = True,
        max_pending: int = 1000,
        public_url: str | None = None,
    ) -> None:
        self._routes = _route_table(providers)
        self._secret = _check_secret(secret, "secret")
        accepted = [self._secret]
        accepted += [_check_secret(old, "previous_secrets") for old in previous_secrets]
        if max_body_size < 1:
            raise ConfigurationError(f"max_body_size must be positive, got {max_body_size}.")
        if max_pending < 1:
            raise ConfigurationError(f"max_pending must be positive, got {max_pending}.")
        self._secret_digests = tuple(_digest(item.get_secret_value()) for item in accepted)
        self._store = store if store is not None else InMemoryReportStore()
        self._on_report = on_report
        self._plugins = plugins
        self._max_body_size = max_body_size
        self._background = background
        self._max_pending = max_pending
        self._public_url = public_url.rstrip("/") if public_url else None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._rejections = _RejectionLog(_REJECTION_LOG_INTERVAL)
        self._message_locks = _MessageLocks()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(routes={sorted(self._routes)!r}, "
            f"store={type(self._store).__name__}, secret=SecretStr('**********'))"
        )

    @property
    def store(self) -> ReportStore:
        """The store that records accepted reports; query it with ``latest()``."""
        return self._store

    @property
    def routes(self) -> tuple[str, ...]:
        """The path segments served, one per provider, in sorted order."""
        return tuple(sorted(self._routes))

    @property
    def pending(self) -> int:
        """The number of requests whose reports are still being processed."""
        return len(self._tasks)

    def callback_url(self, base_url: str, route: str | None = None) -> str:
        """Return the URL to give a vendor as ``callback_url``, secret included.

        ``base_url`` is where this receiver is reachable from the vendor, for
        example ``https://example.com/delivery-reports``. ``route`` may be
        omitted when the receiver serves one provider. The result contains
        the secret: store it like one and keep it out of logs.
        """
        if route is None:
            if len(self._routes) != 1:
                raise ValueError(f"Pass route=, one of {sorted(self._routes)!r}.")
            (route,) = self._routes
        elif route not in self._routes:
            raise ValueError(f"Unknown route {route!r}; expected one of {sorted(self._routes)!r}.")
        secret = quote(self._secret.get_secret_value(), safe="")
        return f"{base_url.rstrip('/')}/{route}?{SECRET_PARAMETER}={secret}"

    # -- framework-neutral entry point -------------------------------------

    async def handle(
        self,
        route: str,
        *,
        method: str,
        secret: str | None,
        body: bytes,
        content_type: str = "",
        headers: Mapping[str, str] | None = None,
        url: str | None = None,
        client: str | None = None,
        wait: bool | None = None,
    ) -> CallbackResponse:
        """Check, parse and process one callback request, and return the response.

        Frameworks that are not ASGI call this from their view. ``route`` is
        the path segment after the receiver's prefix, and ``secret`` the value
        of the ``secret`` query parameter (``None`` when absent). ``url`` is
        the full URL requested, which vendors that sign callbacks sign.
        ``client``, the caller's address, is only used in log lines.

        ``wait`` overrides ``background`` for this call. Pass ``wait=True``
        where no event loop outlives the request, such as async views under
        WSGI.
        """
        secrets_given = [secret] if secret is not None else []
        rejection = self._check_request(route, method, secrets_given, client)
        if rejection is None:
            rejection = self._check_body_size(route, len(body), client)
        if rejection is not None:
            return rejection
        return await self._accept(
            route,
            body=body,
            content_type=content_type,
            headers={name.lower(): value for name, value in (headers or {}).items()},
            url=url,
            client=client,
            wait=wait,
        )

    # -- ASGI ---------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _asgi.route_path(scope)
        client = _asgi.client_address(scope)
        secrets_given = _asgi.query_values(scope, SECRET_PARAMETER)
        headers = _asgi.request_headers(scope)

        rejection = self._check_request(route, scope["method"], secrets_given, client)
        if rejection is None:
            rejection = self._check_content_length(route, headers.get("content-length"), client)
        if rejection is not None:
            await _respond(send, rejection)
            return

        # Reading stops one chunk past the limit; the size check then rejects it.
        body = await _asgi.read_body(receive, self._max_body_size)
        if body is None:
            return  # the client disconnected before sending the whole body
        rejection = self._check_body_size(route, len(body), client)
        if rejection is not None:
            await _respond(send, rejection)
            return

        if self._public_url is not None:
            url = _asgi.with_query(f"{self._public_url}/{route}", scope)
        else:
            url = _asgi.request_url(scope, headers)
        response = await self._accept(
            route,
            body=body,
            content_type=headers.get("content-type", ""),
            headers=headers,
            url=url,
            client=client,
            wait=None,
        )
        await _respond(send, response)

    # -- checks ---------------------------------------------------------------

    def _check_request(
        self, route: str, method: str, secrets_given: list[str], client: str | None
    ) -> CallbackResponse | None:
        if self._closed:
            return CallbackResponse.json(503, {"error": "receiver closed"})
        if not self._secret_matches(secrets_given):
            # The route is logged as given. The query string contains the
            # secret and is never logged.
            self._rejections.warning(
                "403",
                "Rejected delivery report to %r from %s: missing or wrong secret",
                route,
                client or "unknown client",
            )
            return CallbackResponse.json(403, {"error": "missing or wrong secret"})
        if route not in self._routes:
            self._rejections.warning(
                "404", "Rejected delivery report: no provider at route %r", route
            )
            return CallbackResponse.json(404, {"error": "unknown provider"})
        if method.upper() != "POST":
            self._rejections.warning(
                "405", "Rejected delivery report to %r: method %s is not POST", route, method
            )
            return CallbackResponse.json(405, {"error": "use POST"}, (("allow", "POST"),))
        return None

    def _secret_matches(self, secrets_given: list[str]) -> bool:
        if len(secrets_given) != 1:
            return False
        given = _digest(secrets_given[0])
        # Every accepted secret is compared, so the time taken does not tell
        # which one matched.
        matches = [hmac.compare_digest(given, digest) for digest in self._secret_digests]
        return any(matches)

    def _check_content_length(
        self, route: str, value: str | None, client: str | None
    ) -> CallbackResponse | None:
        if value is None:
            return None
        try:
            length = int(value)
        except ValueError:
            self._rejections.warning(
                "400-length", "Rejected delivery report to %r: invalid Content-Length", route
            )
            return CallbackResponse.json(400, {"error": "invalid content-length"})
        return self._check_body_size(route, length, client)

    def _check_body_size(
        self, route: str, size: int, client: str | None
    ) -> CallbackResponse | None:
        if size <= self._max_body_size:
            return None
        self._rejections.warning(
            "413",
            "Rejected delivery report to %r from %s: body over %d bytes",
            route,
            client or "unknown client",
            self._max_body_size,
        )
        return CallbackResponse.json(413, {"error": "body too large"})

    # -- parsing and processing ---------------------------------------------

    async def _accept(
        self,
        route: str,
        *,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str],
        url: str | None,
        client: str | None,
        wait: bool | None,
    ) -> CallbackResponse:
        provider = self._routes[route]
        try:
            reports = provider.parse_delivery_report(body, content_type, headers, url)
        except InvalidMessage as error:
            self._rejections.warning("400", "Rejected delivery report to %r: %s", route, error)
            return CallbackResponse.json(400, {"error": "not a delivery report of this provider"})
        except AuthenticationError as error:
            self._rejections.warning(
                "403-signature",
                "Rejected delivery report to %r from %s: %s",
                route,
                client or "unknown client",
                error,
            )
            return CallbackResponse.json(403, {"error": "invalid signature"})
        except Exception as error:
            logger.error(
                "Parsing a delivery report for %r failed: %s",
                route,
                _describe_parser_failure(error),
            )
            return CallbackResponse.json(500, {"error": "parser failed"})

        run_inline = not self._background if wait is None else wait
        if run_inline or not _in_asyncio():
            try:
                await self._process(reports, raise_store_errors=True)
            except Exception as error:
                logger.error(
                    "Recording delivery reports for %r failed: %s", route, type(error).__name__
                )
                return CallbackResponse.json(503, {"error": "store unavailable"})
            return CallbackResponse.json(200, {"status": "ok", "reports": len(reports)})

        if len(self._tasks) >= self._max_pending:
            self._rejections.warning(
                "503",
                "Rejected delivery report to %r: %d requests already pending",
                route,
                len(self._tasks),
            )
            return CallbackResponse.json(
                503, {"error": "too many pending reports"}, (("retry-after", "1"),)
            )
        task = asyncio.get_running_loop().create_task(self._process(reports))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return CallbackResponse.json(200, {"status": "ok", "reports": len(reports)})

    async def _process(
        self, reports: list[DeliveryReport], *, raise_store_errors: bool = False
    ) -> None:
        for report in reports:
            # Reports of one message are recorded and dispatched one at a
            # time, so on_report gets them in the order the store accepted them.
            async with self._message_locks.hold(_message_key(report)):
                try:
                    outcome = await self._store.record(report)
                except Exception as error:
                    if raise_store_errors:
                        raise
                    logger.error(
                        "Recording the delivery report for client_ref=%s message_id=%s of %s "
                        "failed, so it was dropped: %s",
                        report.client_ref,
                        report.message_id,
                        report.provider,
                        type(error).__name__,
                    )
                    continue
                logger.debug(
                    "Delivery report %s for client_ref=%s message_id=%s of %s: %s (%s)",
                    outcome.value,
                    report.client_ref,
                    report.message_id,
                    report.provider,
                    report.status.value,
                    report.provider_status,
                )
                if outcome is ReportOutcome.ACCEPTED:
                    await self._dispatch(report)

    async def _dispatch(self, report: DeliveryReport) -> None:
        callback = self._on_report
        callback_is_async = callback is not None and _is_async_callable(callback)
        # Plugin hooks and a sync callback may block (a database write), so
        # they run in a worker thread instead of on the server's event loop.
        if self._plugin_observers() or (callback is not None and not callback_is_async):
            await anyio.to_thread.run_sync(self._call_sync_observers, report)
        if callback is not None and callback_is_async:
            try:
                await callback(report)  # type: ignore[misc]
            except Exception:
                self._log_callback_failure(report)

    def _plugin_manager(self) -> pluggy.PluginManager:
        return self._plugins if self._plugins is not None else get_plugin_manager()

    def _plugin_observers(self) -> bool:
        return bool(self._plugin_manager().hook.notifier_delivery_report.get_hookimpls())

    def _call_sync_observers(self, report: DeliveryReport) -> None:
        call_observers(self._plugin_manager(), "notifier_delivery_report", report=report)
        if self._on_report is None or _is_async_callable(self._on_report):
            return
        try:
            result = self._on_report(report)
            if inspect.isawaitable(result):
                # A sync callable that returned a coroutine was meant to be
                # awaited. Raise instead of dropping the coroutine silently.
                if inspect.iscoroutine(result):
                    result.close()
                raise TypeError("on_report returned an awaitable; pass an async function")
        except Exception:
            self._log_callback_failure(report)

    def _log_callback_failure(self, report: DeliveryReport) -> None:
        logger.error(
            "on_report raised for the delivery report client_ref=%s message_id=%s of %s; "
            "the report stays recorded",
            report.client_ref,
            report.message_id,
            report.provider,
            exc_info=True,
        )

    # -- lifecycle ------------------------------------------------------------

    async def drain(self) -> None:
        """Wait until every report received so far has been processed.

        Await it on the event loop that serves the receiver.
        """
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Respond 503 to new requests and wait for the pending ones. Idempotent.

        A store passed in by the caller is left open.
        """
        self._closed = True
        await self.drain()


def _in_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _is_async_callable(function: object) -> bool:
    while isinstance(function, functools.partial):
        function = function.func
    # An instance whose __call__ is a coroutine function counts too.
    call = getattr(function, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call)


async def _respond(send: Send, response: CallbackResponse) -> None:
    headers = [("content-type", response.content_type), *response.headers]
    await _asgi.send_response(send, response.status_code, headers, response.body)
