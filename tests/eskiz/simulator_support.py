"""Helpers for the Eskiz simulator tests: a logged-in client and a callback receiver."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx

from notifier_eskiz.simulator import EskizSimulator

__all__ = ["PHONE", "CallbackReceiver", "ReceivedCallback", "login", "send_sms", "serve"]

PHONE = "998900000001"
"""A fake Uzbek number in the 90 000 00 xx range used by every test."""


def login(client: httpx.Client, sim: EskizSimulator) -> dict[str, str]:
    """Log in to the simulator and return the Authorization header."""
    response = client.post("/auth/login", data={"email": sim.email, "password": sim.password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['token']}"}


def send_sms(
    client: httpx.Client,
    headers: dict[str, str],
    text: str = "Salom, buyurtmangiz tayyor",
    phone: str = PHONE,
    **fields: str,
) -> httpx.Response:
    data = {"mobile_phone": phone, "message": text, "from": "4546", **fields}
    return client.post("/message/sms/send", data=data, headers=headers)


@dataclass(frozen=True)
class ReceivedCallback:
    content_type: str
    payload: dict[str, Any]


class CallbackReceiver:
    """An HTTP server on 127.0.0.1 that records every POST body it receives."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[ReceivedCallback] = []
        self._condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length).decode()
                content_type = self.headers.get("content-type", "")
                if content_type.startswith("application/json"):
                    payload = json.loads(raw)
                else:
                    payload = dict(parse_qsl(raw, keep_blank_values=True))
                with receiver._condition:
                    receiver.received.append(ReceivedCallback(content_type, payload))
                    receiver._condition.notify_all()
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval makes shutdown() return quickly.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/eskiz/callback"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedCallback]:
        """Wait until ``count`` callbacks arrived; return all received so far."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            return list(self.received)

    def __enter__(self) -> CallbackReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` every 10 ms until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


@contextlib.contextmanager
def serve(**options: Any) -> Iterator[tuple[EskizSimulator, httpx.Client]]:
    """Run a simulator with ``options`` and yield it with a client bound to it."""
    with EskizSimulator(**options) as sim, httpx.Client(base_url=sim.base_url, timeout=5) as client:
        yield sim, client
