"""Helpers for the Twilio tests: a loopback receiver of status callbacks."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from notifier import Sms

__all__ = ["PHONE", "CallbackReceiver", "ReceivedCallback", "sms", "wait_until"]

PHONE = "+998900000001"
"""A fake Uzbek number in the +998 90 000 00 xx range used by the tests."""

_REFS = itertools.count(1)


def sms(to: str = PHONE, body: str = "Salom", **fields: Any) -> Sms:
    """Build an ``Sms`` whose ``client_ref`` has no long run of digits.

    A generated ``client_ref`` is 32 random hex characters, and one in about
    twenty has 11 or more digits in a row, which the session's leak audit
    reports as a phone number when the ref is logged.
    """
    fields.setdefault("client_ref", f"ref-{next(_REFS):05d}")
    return Sms(to, body, **fields)


@dataclass(frozen=True)
class ReceivedCallback:
    """One request as the receiver saw it, with the URL rebuilt from the Host header."""

    url: str
    content_type: str
    headers: dict[str, str]
    body: bytes


class CallbackReceiver:
    """An HTTP server on 127.0.0.1 that records every POST and responds with ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[ReceivedCallback] = []
        self._condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                record = ReceivedCallback(
                    url=f"http://{self.headers['host']}{self.path}",
                    content_type=self.headers.get("content-type", ""),
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=body,
                )
                with receiver._condition:
                    receiver.received.append(record)
                    receiver._condition.notify_all()
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                del format, args  # keep test output quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str = "/twilio/status") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedCallback]:
        """Wait until ``count`` callbacks arrived and return them all."""
        with self._condition:
            self._condition.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def __enter__(self) -> CallbackReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` every 10 ms until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
