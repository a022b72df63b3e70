"""The simulator's ASGI application: Twilio's Messages endpoints and the fault layer."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import re
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from notifier import mask_phone

from .._wire import API_VERSION, MAX_BODY_LENGTH, body_length
from ._callbacks import CallbackSender
from ._config import SimulatorConfig, error_message
from ._faults import Fault, FaultPlan, Operation, default_error_code
from ._stats import SimulatorStats
from ._store import MessageStore, StatusChange

__all__ = ["SimulatorCore", "build_app"]

logger = logging.getLogger("notifier.twilio.simulator")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SHORT_CODE = re.compile(r"^\d{3,8}$")
# Alphanumeric sender ID: up to 11 letters, digits and spaces, at least one letter.
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
_CREATE_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$")
_FETCH_PATH = re.compile(
    rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$"
)
_ACCOUNT_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/.]+)\.json$")
_BALANCE_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Balance\.json$")


def _error(
    status: int, code: int | None, *, headers: dict[str, str] | None = None, **values: str
) -> Response:
    # Without a Twilio code the body names only the HTTP status.
    body = {
        "code": code,
        "message": error_message(code, **values) if code is not None else _phrase(status),
        "more_info": f"https://www.twilio.com/docs/errors/{code}" if code is not None else None,
        "status": status,
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _operation_of(method: str, path: str) -> Operation | None:
    if method == "POST" and _CREATE_PATH.match(path):
        return "create"
    if method == "GET" and _FETCH_PATH.match(path):
        return "fetch"
    if method == "GET" and (_ACCOUNT_PATH.match(path) or _BALANCE_PATH.match(path)):
        return "account"
    return None


class SimulatorCore:
    """The state behind one simulator: configuration, messages, faults, counters."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._config_lock = threading.Lock()
        self.stats = SimulatorStats()
        self.store = MessageStore()
        self.faults = FaultPlan(config.seed)
        self.callbacks = CallbackSender(self.stats)

    @property
    def config(self) -> SimulatorConfig:
        with self._config_lock:
            return self._config

    def replace_config(self, config: SimulatorConfig, *, reseed: bool = False) -> None:
        """Use ``config`` from the next request on; ``reseed`` restarts the fault generator."""
        with self._config_lock:
            reseed = reseed or config.seed != self._config.seed
            self._config = config
        if reseed:
            self.faults.reseed(config.seed)

    def step_delay(self) -> float | None:
        config = self.config
        return config.step_delay if config.auto_progress else None

    async def deliver(self, changes: list[StatusChange]) -> None:
        config = self.config
        await self.callbacks.deliver(
            changes,
            auth_token=config.auth_token,
            timeout=config.callback_timeout,
            duplicates=config.callback_duplicates,
            raw_dlr_done_date=config.raw_dlr_done_date,
        )

    # --- Authentication ---

    def authenticate(self, request: Request, account_in_path: str) -> Response | None:
        """Return a 401 response for missing or wrong credentials, else ``None``."""
        config = self.config
        challenge = {"WWW-Authenticate": 'Basic realm="Twilio API"'}
        username, password = _basic_credentials(request.headers.get("authorization"))
        if username is None or password is None:
            self.stats.increment("auth_failures")
            return _error(401, 20003, headers=challenge)
        if username == config.account_sid:
            expected = config.auth_token
        elif username == config.api_key_sid:
            expected = config.api_key_secret
        else:
            expected = None
        if expected is None or not hmac.compare_digest(
            password.encode("utf-8"), expected.encode("utf-8")
        ):
            self.stats.increment("auth_failures")
            logger.info("Rejected credentials for %s", request.url.path)
            return _error(401, 20003, headers=challenge)
        if account_in_path != config.account_sid:
            self.stats.increment("auth_failures")
            return _error(config.account_mismatch_status, 20003, headers=challenge)
        return None

    # --- Endpoints ---

    async def create_message(self, request: Request) -> Response:
        account = request.path_params["account"]
        denied = self.authenticate(request, account)
        if denied is not None:
            return denied
        try:
            form = await request.form()
        except Exception:  # python-multipart raises several types for malformed bodies
            self.stats.increment("rejected_sends")
            return _error(400, 21602)
        response = self._validate_and_store(account, form)
        if response.status_code != 201:
            self.stats.increment("rejected_sends")
        else:
            self.stats.increment("sends")
        return response

    def _validate_and_store(self, account: str, form: FormData) -> Response:
        config = self.config
        to = str(form.get("To") or "").strip()
        from_ = str(form.get("From") or "").strip() or None
        service = str(form.get("MessagingServiceSid") or "").strip() or None
        body = str(form.get("Body") or "")
        callback = str(form.get("StatusCallback") or "").strip() or None
        masked_to = mask_phone(to) if to else "-"

        if not to:
            return _error(400, 21604)
        if not _E164.match(to):
            logger.info("Rejected message to %s: invalid number (21211)", masked_to)
            return _error(400, 21211, to=to)
        if to in config.recipient_errors:
            code = config.recipient_errors[to]
            logger.info("Rejected message to %s: error %d", masked_to, code)
            return _error(400, code, to=to, from_=from_ or "")
        if from_ is None and service is None:
            return _error(400, 21603)
        if from_ is not None:
            if from_ in config.sender_errors:
                return _error(400, config.sender_errors[from_], from_=from_, to=to)
            if not (_E164.match(from_) or _SHORT_CODE.match(from_) or _ALPHANUMERIC.match(from_)):
                return _error(400, 21212, from_=from_)
            if from_ not in config.senders:
                return _error(400, 21606, from_=from_)
        if service is not None:
            if not _SERVICE_SID.match(service):
                return _error(400, 21705)
            if service not in config.messaging_service_sids:
                return _error(404, 21701)
        if not body.strip():
            return _error(400, 21602)
        if body_length(body) > MAX_BODY_LENGTH:
            return _error(400, 21617)
        if callback is not None and not _is_http_url(callback):
            return _error(400, 21609)

        final_status, final_code = config.outcome_rules.get(
            to, (config.outcome, config.outcome_error_code)
        )
        service_sender = next((s for s in config.senders if _E164.match(s)), None)
        message = self.store.create(
            account_sid=account,
            to=to,
            from_=from_,
            messaging_service_sid=service,
            service_sender=service_sender,
            body=body,
            status_callback=callback,
            final_status=final_status,
            final_error_code=final_code,
            step_delay=self.step_delay(),
        )
        logger.info(
            "Accepted message %s to %s (%d segment(s)), status %s",
            message.sid,
            masked_to,
            message.num_segments,
            message.status,
        )
        return JSONResponse(message.resource(), status_code=201)

    async def fetch_message(self, request: Request) -> Response:
        account = request.path_params["account"]
        denied = self.authenticate(request, account)
        if denied is not None:
            return denied
        message = self.store.get(request.path_params["sid"])
        if message is None:
            return _error(404, 20404, path=request.url.path)
        self.stats.increment("fetches")
        return JSONResponse(message.resource())

    async def fetch_balance(self, request: Request) -> Response:
        account = request.path_params["account"]
        denied = self.authenticate(request, account)
        if denied is not None:
            return denied
        config = self.config
        return JSONResponse(
            {"account_sid": account, "balance": config.balance, "currency": config.currency}
        )

    async def fetch_account(self, request: Request) -> Response:
        account = request.path_params["account"]
        denied = self.authenticate(request, account)
        if denied is not None:
            return denied
        return JSONResponse(
            {
                "sid": account,
                "friendly_name": "notifier simulator",
                "status": "active",
                "type": "Full",
                "uri": f"/{API_VERSION}/Accounts/{account}.json",
            }
        )


def _basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    username, separator, password = decoded.partition(":")
    if not separator:
        return None, None
    return username, password


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and len(value) <= 4000


class _FaultLayer:
    """ASGI wrapper that counts requests, injects faults and delays responses.

    It wraps the Starlette app from outside, so it receives the server's own
    ``send`` callable, which a dropped connection needs.
    """

    def __init__(self, app: ASGIApp, core: SimulatorCore) -> None:
        self._app = app
        self._core = core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        core = self._core
        path = str(scope.get("path", ""))
        core.stats.count_request(path)
        operation = _operation_of(str(scope.get("method", "")), path)
        config = core.config
        fault = core.faults.take(operation, config) if operation is not None else None
        delay = core.faults.take_delay(operation) if operation is not None else 0.0
        wait = core.faults.latency(config) + delay

        if fault is not None and fault.kind == "drop" and not fault.after_processing:
            # Read the body first: closing a socket with unread data makes the
            # kernel send a reset, which the client reports as a ReadError
            # instead of a connection closed without a response.
            await _drain(receive)
            await _drop(send, core.stats, path)
            return
        if fault is not None and fault.kind == "status":
            core.stats.increment("faults")
            await self._respond_with_fault(
                fault, scope, receive, _delaying(send, receive, wait), path
            )
            return

        delayed_send = _delaying(send, receive, wait)
        if fault is not None and fault.kind == "drop":
            # Process the request in full, then drop the connection instead of responding.
            await self._app(scope, receive, _swallow)
            await _drop(send, core.stats, path)
            return
        await self._app(scope, receive, delayed_send)

    async def _respond_with_fault(
        self, fault: Fault, scope: Scope, receive: Receive, send: Send, path: str
    ) -> None:
        code = fault.code if fault.code is not None else default_error_code(fault.status)
        headers = {}
        if fault.retry_after is not None:
            retry_after = fault.retry_after
            if isinstance(retry_after, float) and retry_after.is_integer():
                retry_after = int(retry_after)
            headers["Retry-After"] = str(retry_after)
        logger.info("Injected HTTP %d (error %s) on %s", fault.status, code, path)
        response = _error(fault.status, code, headers=headers, path=path)
        await response(scope, receive, send)


def _delaying(send: Send, receive: Receive, seconds: float) -> Send:
    """Wrap ``send`` so the response waits ``seconds``, or is dropped if the client leaves.

    A client that gives up early closes its connection. Ending the request
    then, instead of sleeping on, keeps uvicorn from cancelling it at
    shutdown and printing a CancelledError traceback.
    """
    if seconds <= 0:
        return send
    abandoned = False

    async def delayed(message: Message) -> None:
        nonlocal abandoned
        if message["type"] == "http.response.start":
            abandoned = await _client_left_within(receive, seconds)
            if abandoned:
                logger.debug("The client disconnected before its delayed response; not sending it")
        if not abandoned:
            await send(message)

    return delayed


async def _client_left_within(receive: Receive, seconds: float) -> bool:
    """Wait up to ``seconds``; return True as soon as the client disconnects.

    The response is about to start, so the application no longer reads the
    request body: the body messages still unread are discarded here.
    """

    async def disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnect())
    try:
        done, _ = await asyncio.wait({watcher}, timeout=seconds)
    finally:
        watcher.cancel()
    if watcher in done:
        watcher.exception()  # retrieved, so asyncio does not log it as never retrieved
        return True
    return False


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _swallow(message: Message) -> None:
    del message  # the response of a request whose connection is dropped is never sent


async def _drop(send: Send, stats: SimulatorStats, path: str) -> None:
    stats.increment("drops")
    logger.info("Dropped the connection of a request to %s", path)
    # NOTE: uvicorn exposes no public way to close a connection from an ASGI
    # app. Its h11 request cycle, the owner of ``send``, keeps the transport.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        # In-process (httpx.ASGITransport): fail the request with the error a
        # client gets for a dropped connection.
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
    transport.abort()
    # Let uvicorn notice the lost connection before the app returns, so it
    # does not try to send a 500 response on a closed socket.
    for _ in range(3):
        await asyncio.sleep(0)


def build_app(core: SimulatorCore, *, lifespan: Any = None) -> ASGIApp:
    """Return the simulator's ASGI application around ``core``."""
    routes = [
        Route(
            f"/{API_VERSION}/Accounts/{{account}}/Messages.json",
            core.create_message,
            methods=["POST"],
        ),
        Route(
            f"/{API_VERSION}/Accounts/{{account}}/Messages/{{sid}}.json",
            core.fetch_message,
            methods=["GET"],
        ),
        Route(
            f"/{API_VERSION}/Accounts/{{account}}/Balance.json",
            core.fetch_balance,
            methods=["GET"],
        ),
        Route(f"/{API_VERSION}/Accounts/{{account}}.json", core.fetch_account, methods=["GET"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, 20404, path=request.url.path)

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, 20004)

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: method_not_allowed},
    )
    return _FaultLayer(app, core)
