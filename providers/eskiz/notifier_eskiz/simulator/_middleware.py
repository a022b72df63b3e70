"""The outermost ASGI layer: counts requests and injects faults before routing.

Faults apply in this order: the response delay (``delay_next()`` plus the
``latency`` setting), a dropped connection (``drop_next()``, ``drop_rate``),
an error status (``fail_next()``, ``login_fail_rate``, ``fail_rate``,
``rate_limit_rate``). A delayed request is handled at once and only its
response waits. A client that times out therefore leaves a processed
request behind, as with a slow real server. When the client disconnects
during the wait, the response is dropped and the request ends quietly.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._callbacks import CallbackDispatcher
from ._faults import ScriptedFault, api_path
from ._http import error_response
from ._state import SimulatorState

__all__ = ["FaultMiddleware"]

logger = logging.getLogger("notifier.eskiz.simulator")

_LOGIN_PATH = "/auth/login"


async def _drain(receive: Receive) -> bool:
    """Read the request body to its end; return False if the client disconnected."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        if not message.get("more_body", False):
            return True


async def _discard(message: Message) -> None:
    return None


class FaultMiddleware:
    """ASGI middleware around the routed application.

    ``connections``, filled by the background server, maps a client address
    to its transport, so a drop can close the very connection the request
    came on. Without a server (for example under ``httpx.ASGITransport``) a
    drop raises ``httpx.RemoteProtocolError`` in the client instead.
    """

    def __init__(self, app: ASGIApp, state: SimulatorState, dispatcher: CallbackDispatcher) -> None:
        self.app = app
        self.state = state
        self.dispatcher = dispatcher
        self.connections: dict[tuple[str, int], asyncio.Transport] = {}
        # Set when the connection closes, so a delay ends as soon as its client leaves.
        self._closed: dict[tuple[str, int], asyncio.Event] = {}
        self._tracks_connections = False

    def connection_made(self, client: tuple[str, int], transport: asyncio.Transport) -> None:
        """Record a new connection; called by the server's protocol in the event loop."""
        self._tracks_connections = True
        self.connections[client] = transport
        self._closed[client] = asyncio.Event()

    def connection_lost(self, client: tuple[str, int]) -> None:
        """Forget a closed connection and wake the requests that wait on it."""
        self.connections.pop(client, None)
        closed = self._closed.pop(client, None)
        if closed is not None:
            closed.set()

    async def _wait_for_client(self, scope: Scope, seconds: float) -> bool:
        """Wait ``seconds``; return False as soon as the request's client disconnects.

        Without a server that reports connections (``httpx.ASGITransport``),
        this is a plain sleep.
        """
        client = scope.get("client")
        address = (client[0], client[1]) if client else None
        closed = self._closed.get(address) if address else None
        if closed is None:
            if self._tracks_connections and address is not None:
                return False  # the connection closed before the wait began
            await asyncio.sleep(seconds)
            return True
        try:
            await asyncio.wait_for(closed.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            return True
        return False

    def _delayed(self, scope: Scope, send: Send, seconds: float) -> Send:
        """Wrap ``send`` so the response waits ``seconds`` or until the client leaves."""
        abandoned = False

        async def delayed(message: Message) -> None:
            nonlocal abandoned
            if message["type"] == "http.response.start":
                abandoned = not await self._wait_for_client(scope, seconds)
                if abandoned:
                    logger.debug(
                        "The client of %s %s disconnected before its delayed response; "
                        "not sending it",
                        scope["method"],
                        api_path(scope["path"]),
                    )
            if not abandoned:
                await send(message)

        return delayed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = api_path(scope["path"])
        self.state.stats.count_request(path)
        self.state.apply_due_if_automatic()
        await self._handle(scope, receive, send, path)
        if not self.state.background_delivery:
            # No background ticker in this process: send the callbacks due now.
            await self.dispatcher.flush()

    async def _handle(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        state = self.state
        config = state.config
        method = scope["method"]

        wait = state.uniform(*config.latency_range)
        delay = state.faults.take("delay", path)
        if delay is not None:
            wait += delay.seconds
        if wait > 0:
            logger.debug("Delaying the response to %s %s by %.3f s", method, path, wait)
            send = self._delayed(scope, send, wait)

        drop = state.faults.take("drop", path)
        if drop is None and state.chance(config.drop_rate):
            drop = ScriptedFault("drop", None, 0)
        if drop is not None:
            if wait > 0:
                await self._wait_for_client(scope, wait)
            await self._drop(scope, receive, method, path, processed=drop.processed)
            return

        status = 0
        retry_after: float | str | None = None
        failure = state.faults.take("fail", path)
        body = None
        if failure is not None:
            status, retry_after, body = failure.status, failure.retry_after, failure.body
        elif path == _LOGIN_PATH and state.chance(config.login_fail_rate):
            status = config.login_fail_status
        elif state.chance(config.fail_rate):
            status, retry_after = config.fail_status, config.fail_retry_after
        elif state.chance(config.rate_limit_rate):
            status, retry_after = 429, config.rate_limit_retry_after
        if status:
            await _drain(receive)
            state.stats.increment("faults")
            logger.debug("Injected HTTP %d for %s %s", status, method, path)
            response = error_response(status, config, body=body, retry_after=retry_after)
            await response(scope, receive, send)
            return

        await self.app(scope, receive, send)

    async def _drop(
        self, scope: Scope, receive: Receive, method: str, path: str, *, processed: bool
    ) -> None:
        if processed:
            await self.app(scope, receive, _discard)
        else:
            await _drain(receive)
        self.state.stats.increment("drops")
        logger.debug(
            "Dropped the connection of %s %s%s",
            method,
            path,
            " after handling it" if processed else "",
        )
        client = scope.get("client")
        transport = self.connections.get((client[0], client[1])) if client else None
        if transport is None and self._tracks_connections:
            return  # the client has already closed the connection
        if transport is None:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        transport.close()
        # Wait until uvicorn has registered the closed connection. Returning
        # earlier makes it log a request that ended without a response.
        while (await receive())["type"] != "http.disconnect":
            pass
