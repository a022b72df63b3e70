"""Serve an ASGI app under uvicorn on a loopback socket in a background thread."""

from __future__ import annotations

import socket
import threading
from typing import Any

import uvicorn

__all__ = ["LoopbackServer"]

_START_TIMEOUT = 5.0  # seconds
_STOP_TIMEOUT = 10.0  # seconds


class LoopbackServer:
    """Run an ASGI app under uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on
        # sockets whose proto is TCP, and without it each response waits for
        # the client's delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app, lifespan="on", log_config=None, access_log=False, ws="none", http="h11"
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        poll = threading.Event()
        for _ in range(int(_START_TIMEOUT / 0.01)):
            if self.server.started:
                break
            poll.wait(0.01)
        assert self.server.started, f"uvicorn did not start within {_START_TIMEOUT} s"
        return self

    def stop(self) -> None:
        """Stop the server; its lifespan shutdown runs before this returns."""
        self.server.should_exit = True
        self._thread.join(timeout=_STOP_TIMEOUT)
        assert not self._thread.is_alive(), f"uvicorn did not stop within {_STOP_TIMEOUT} s"

    def __exit__(self, *exc_info: object) -> None:
        if self._thread.is_alive():
            self.stop()
        self._socket.close()
