"""Run the simulator under uvicorn on a loopback socket, in a thread or blocking."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ._middleware import FaultMiddleware

__all__ = ["BackgroundServer", "bind_loopback", "server_config"]

logger = logging.getLogger("notifier.eskiz.simulator")

LOOPBACK = "127.0.0.1"
_START_TIMEOUT = 10.0  # seconds
_STOP_TIMEOUT = 10.0  # seconds
_CLOSE_GRACE = 0.5  # seconds a request may take to end after its connection is closed at stop


def bind_loopback(host: str = LOOPBACK, port: int = 0) -> socket.socket:
    """Bind a TCP socket; port 0 lets the kernel pick a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP, not the default 0, because asyncio sets
    # TCP_NODELAY only on accepted sockets whose proto is TCP. Without it each
    # response waits about 40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _tracking_protocol(app: FaultMiddleware) -> type[H11Protocol]:
    """Build an h11 protocol class that records each connection's transport.

    The transports go into ``app.connections``, keyed by client address.
    """

    class TrackingH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if self.client is not None:
                app.connection_made(self.client, transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if self.client is not None:
                app.connection_lost(self.client)
            super().connection_lost(exc)

    return TrackingH11Protocol


def server_config(
    app: FaultMiddleware, *, log_level: str = "warning", access_log: bool = False
) -> uvicorn.Config:
    """Build the uvicorn settings every simulator server uses."""
    return uvicorn.Config(
        app,
        http=_tracking_protocol(app),
        ws="none",
        lifespan="on",
        # log_config=None leaves the process's logging configuration alone.
        log_config=None,
        log_level=log_level,
        access_log=access_log,
        # Client addresses must stay the real socket peers: drops look them up.
        proxy_headers=False,
        timeout_graceful_shutdown=2,
    )


class _ThreadServer(uvicorn.Server):
    """A uvicorn server that stops as soon as ``request_stop()`` is called.

    uvicorn's own main loop polls ``should_exit`` every 0.1 s; waiting on an
    event instead keeps start-stop cycles in test suites short.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            # on_tick refreshes the Date header when counter % 10 == 0.
            counter = 0
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # These are the steps of uvicorn's own shutdown, which always sleeps
        # 0.1 s after asking connections to close. Polling instead lets an idle
        # simulator stop within a few milliseconds.
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0)
        # uvicorn signals no event when its last connection closes, so poll.
        while self.server_state.connections and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        # A task still running now overran the grace period, most likely with a
        # response held back by delay_next(). Closing its connection ends the
        # wait, and the request then ends without a response and without the
        # traceback that cancelling it would log.
        if self.server_state.tasks:
            for connection in list(self.server_state.connections):
                connection.transport.close()
            await asyncio.wait(list(self.server_state.tasks), timeout=_CLOSE_GRACE)
        if self.server_state.tasks:
            logger.debug(
                "Cancelling %d request(s) still running when the simulator stopped",
                len(self.server_state.tasks),
            )
            for task in list(self.server_state.tasks):
                task.cancel()
            await asyncio.gather(*self.server_state.tasks, return_exceptions=True)
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()

    def request_stop(self) -> None:
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in the meantime
                loop.call_soon_threadsafe(wake.set)


class BackgroundServer:
    """uvicorn serving one app on a free loopback port in a daemon thread."""

    def __init__(self, app: FaultMiddleware, host: str = LOOPBACK) -> None:
        self._socket = bind_loopback(host, 0)
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        self._server = _ThreadServer(server_config(app))
        self._thread = threading.Thread(
            target=self._serve, name=f"eskiz-simulator-{self.port}", daemon=True
        )
        self._error: BaseException | None = None

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # reported to the thread that waits in start()
            self._error = exc

    def start(self) -> None:
        """Start serving and wait until the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(
                    f"the Eskiz simulator on {self.host}:{self.port} stopped during startup"
                ) from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the Eskiz simulator on {self.host}:{self.port} did not start "
                    f"within {_START_TIMEOUT:.0f} s"
                )
            time.sleep(0.002)
        logger.debug("Simulator serving on %s:%d", self.host, self.port)

    def stop(self) -> None:
        """Stop serving, close open connections and wait for the thread to end."""
        self._server.request_stop()
        if self._thread.is_alive():
            self._thread.join(_STOP_TIMEOUT)
        if self._thread.is_alive():
            logger.warning(
                "The Eskiz simulator on %s:%d did not stop within %.0f s",
                self.host,
                self.port,
                _STOP_TIMEOUT,
            )
        self._socket.close()
        logger.debug("Simulator on %s:%d stopped", self.host, self.port)
