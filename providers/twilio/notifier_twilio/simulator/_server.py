"""``TwilioSimulator``: the simulator on a loopback port in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from typing_extensions import Self

from ._app import ASGIApp, SimulatorCore, build_app
from ._callbacks import CallbackRecord
from ._config import SimulatorConfig, build_config
from ._faults import Fault, Operation
from ._stats import SimulatorStats
from ._store import SimulatedMessage, StatusChange

__all__ = ["TwilioSimulator"]

logger = logging.getLogger("notifier.twilio.simulator")

_START_TIMEOUT = 10.0  # seconds
_STOP_TIMEOUT = 5.0  # seconds


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"The simulator listens only on loopback addresses, got host={host!r}; "
            "use '127.0.0.1' or '::1'."
        )


def _one_flag(after_processing: bool | None, processed: bool | None) -> bool:
    if after_processing is not None and processed is not None:
        raise TypeError("pass either after_processing or processed, not both")
    return bool(after_processing if after_processing is not None else processed)


class TwilioSimulator:
    """A local stand-in for Twilio's Messages API, for tests and demos.

    As a context manager it serves on a free loopback port in a background
    thread::

        with TwilioSimulator() as sim:
            provider = TwilioProvider(
                account_sid=sim.account_sid,
                auth_token=sim.auth_token,
                sender=sim.sender,
                base_url=sim.base_url,
            )

    It checks HTTP basic credentials (the account SID with its auth token,
    or the API key pair). It validates ``To``, ``From``,
    ``MessagingServiceSid``, ``Body`` and ``StatusCallback`` the way Twilio
    does. Each message moves from ``queued`` (``accepted`` with a Messaging
    Service) through ``sending`` and ``sent`` to its final status, every
    ``step_delay`` seconds or on ``advance()``. Each change after the first
    is posted to the message's StatusCallback URL with a valid
    ``X-Twilio-Signature``, but only when that URL names a loopback host.
    Callbacks to other hosts are not sent, and are counted and logged.

    Options are the fields of ``SimulatorConfig``; ``configure()`` changes
    them while it runs. ``app`` is the ASGI application for in-process use
    with ``httpx.ASGITransport``; there, nothing moves on by itself, so call
    ``await sim.aadvance()``.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Any,
    ) -> None:
        _check_loopback(host)
        self._initial_config = build_config(config, options)
        self._core = SimulatorCore(self._initial_config)
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._app = build_app(self._core)

    # --- Settings and state ---

    @property
    def config(self) -> SimulatorConfig:
        return self._core.config

    def configure(self, **options: Any) -> None:
        """Change settings while the simulator runs; options are ``SimulatorConfig`` fields.

        Passing ``seed`` restarts the random faults from that seed, even when
        it is the current one.
        """
        config = build_config(self._core.config, options)
        self._core.replace_config(config, reseed="seed" in options)

    @property
    def app(self) -> ASGIApp:
        """The ASGI application, for ``httpx.ASGITransport``; it starts no background work."""
        return self._app

    @property
    def stats(self) -> SimulatorStats:
        return self._core.stats

    @property
    def account_sid(self) -> str:
        return self.config.account_sid

    @property
    def auth_token(self) -> str:
        """The account's auth token: the basic-auth password and the callback signing key."""
        return self.config.auth_token

    @property
    def api_key_sid(self) -> str:
        return self.config.api_key_sid

    @property
    def api_key_secret(self) -> str:
        return self.config.api_key_secret

    @property
    def sender(self) -> str:
        """The first sender the account owns, for ``From``."""
        return self.config.senders[0]

    @property
    def messaging_service_sid(self) -> str:
        """The first Messaging Service the account has."""
        return self.config.messaging_service_sids[0]

    @property
    def messages(self) -> dict[str, SimulatedMessage]:
        """Copies of every accepted message, by SID."""
        return self._core.store.all()

    @property
    def callbacks(self) -> list[CallbackRecord]:
        """Every status callback sent, failed or not sent (non-loopback host), in order."""
        return self._core.callbacks.records

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server; pass it as the provider's ``base_url``."""
        if self._port is None or self._thread is None:
            raise RuntimeError("The simulator is not running; use it as a context manager.")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    def reset(self) -> None:
        """Return to the state after start: no messages, callbacks, counts or scripted faults.

        Settings changed with ``configure()`` go back to those given to the
        constructor, and random faults start again from its seed.
        """
        self._core.replace_config(self._initial_config, reseed=True)
        self._core.store.clear()
        self._core.callbacks.clear()
        self._core.stats.reset()
        self._core.faults.clear()

    # --- Faults ---

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        code: int | None = None,
        retry_after: float | str | None = None,
        operation: Operation = "any",
    ) -> None:
        """Respond to the next ``times`` API requests with ``status`` and Twilio error ``code``.

        ``code`` defaults to Twilio's generic code for the status: 20003 for
        401 (so the provider raises ``AuthenticationError``), 20403 for 403,
        20404 for 404, 20004 for 405, 20429 for 429, 20503 for 503 and 20500
        for every other 5xx. Other 4xx statuses get ``"code": null``.
        ``retry_after`` adds a ``Retry-After`` header (seconds or an HTTP
        date). ``operation`` limits the fault to ``"create"``, ``"fetch"``
        or ``"account"`` requests.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {status!r}")
        fault = Fault("status", status=status, code=code, retry_after=retry_after)
        self._core.faults.add(fault, times, operation)

    def drop_next(
        self,
        times: int = 1,
        *,
        after_processing: bool | None = None,
        processed: bool | None = None,
        operation: Operation = "any",
    ) -> None:
        """Close the connection of the next ``times`` API requests without a response.

        With ``after_processing=True`` the request is carried out first (a
        message is created), as when a network failure loses the response.
        ``processed`` is the same option under the Eskiz simulator's name.
        """
        fault = Fault("drop", after_processing=_one_flag(after_processing, processed))
        self._core.faults.add(fault, times, operation)

    def delay_next(self, seconds: float, times: int = 1, *, operation: Operation = "any") -> None:
        """Hold back the response to the next ``times`` API requests for ``seconds``.

        The request is processed at once, so a client that gives up early
        leaves a created message behind. The delay adds to ``latency`` and
        also holds back an injected error response, but not a dropped
        connection.
        """
        self._core.faults.add_delay(seconds, times, operation)

    def clear_faults(self) -> None:
        """Forget every scripted fault and delay not yet used; settings and messages stay."""
        self._core.faults.clear()

    # --- Message progress ---

    async def aadvance(self, sid: str | None = None) -> list[StatusChange]:
        """Move one message, or every pending one, one status forward and send the callbacks.

        Returns the changes made. Every callback has its response (or has
        failed) when it returns.
        """
        changes = self._core.store.step(sid, self._core.step_delay())
        await self._core.deliver(changes)
        return changes

    async def asettle(self) -> list[StatusChange]:
        """Move every pending message to its final status, sending each callback."""
        changes: list[StatusChange] = []
        while self._core.store.pending():
            changes += await self.aadvance()
        return changes

    def advance(self, sid: str | None = None) -> list[StatusChange]:
        """Blocking form of ``aadvance()`` for synchronous tests.

        From a coroutine, await ``aadvance()`` instead. This call blocks the
        calling event loop until the callbacks get their responses, so a
        receiver served by that loop would never respond.
        """
        return self._run(self.aadvance(sid))

    def settle(self) -> list[StatusChange]:
        """Blocking form of ``asettle()``; the same caution as ``advance()`` applies."""
        return self._run(self.asettle())

    def _run(self, coroutine: Any) -> list[StatusChange]:
        loop = self._loop
        if loop is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(coroutine, loop)
            result: list[StatusChange] = future.result(timeout=60)
            return result
        return asyncio.run(coroutine)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_interval)
            changes = self._core.store.due(self._core.step_delay())
            if changes:
                try:
                    await self._core.deliver(changes)
                except Exception:
                    logger.exception("Delivering status callbacks failed")

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        del app
        self._loop = asyncio.get_running_loop()
        ticker = asyncio.create_task(self._tick())
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    # --- Server lifecycle ---

    def start(self) -> Self:
        """Start serving in a background thread; returns once the port accepts connections."""
        if self._thread is not None:
            raise RuntimeError("The simulator is already running.")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # IPPROTO_TCP: asyncio turns on TCP_NODELAY only for sockets created with it, and
        # without it each response waits about 40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._requested_port))
        self._port = sock.getsockname()[1]

        served = build_app(self._core, lifespan=self._lifespan)
        config = uvicorn.Config(
            served,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"twilio-simulator-{self._port}",
            daemon=True,
        )
        self._thread.start()
        if not _wait_for(lambda: server.started, _START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"The Twilio simulator did not start within {_START_TIMEOUT} s.")
        logger.info("Twilio simulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread; idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT)
        self._server = None
        self._thread = None
        self._loop = None
        logger.info("Twilio simulator on port %s stopped", self._port)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None and self._thread else "not running"
        return f"TwilioSimulator({where}, account_sid={self.account_sid!r})"


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
