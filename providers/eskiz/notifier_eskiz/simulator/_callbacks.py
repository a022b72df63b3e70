"""Delivery callbacks: the simulator POSTs each status change to ``callback_url``.

Eskiz sends every value as a string, ``status_date`` in Tashkent local time
without a zone, and leaves ``request_id`` and ``user_sms_id`` out of
callbacks for international messages. The simulator only ever connects to
loopback hosts (127.0.0.0/8, ::1, ``localhost``): a callback URL naming any
other host is logged and skipped, so a test can never make it send traffic
off this machine.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
from collections.abc import Iterable

import httpx

from ._clock import format_tashkent
from ._messages import CallbackEvent
from ._state import SimulatorState

__all__ = ["CallbackDispatcher", "callback_payload", "is_loopback_host"]

logger = logging.getLogger("notifier.eskiz.simulator")


def is_loopback_host(host: str) -> bool:
    """Return whether ``host`` (a name or an IP literal) is this machine's loopback interface."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def callback_payload(event: CallbackEvent) -> dict[str, str]:
    """Build the callback body for one status change, in the field order Eskiz uses."""
    message = event.message
    payload: dict[str, str] = {}
    if not message.international:
        payload["request_id"] = message.request_id
    payload["message_id"] = str(message.id)
    if not message.international:
        payload["user_sms_id"] = message.user_sms_id or ""
    payload["country"] = message.country_code
    payload["phone_number"] = message.to
    payload["sms_count"] = str(message.parts)
    payload["status"] = event.status
    payload["status_date"] = format_tashkent(event.at)
    return payload


def _loopback_target(url: str) -> str | None:
    """Return ``host:port`` of a loopback http(s) URL, or None for any other URL."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return None
    if parsed.scheme not in ("http", "https") or not is_loopback_host(parsed.host):
        return None
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def _describe_host(url: str) -> str:
    # Only the host is logged: the path of a callback URL often carries a secret.
    try:
        return httpx.URL(url).host or "<no host>"
    except httpx.InvalidURL:
        return "<invalid URL>"


class CallbackDispatcher:
    """Sender of queued callback events that keeps the order of events per message."""

    def __init__(
        self, state: SimulatorState, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._state = state
        self.transport = transport
        """The transport callbacks go through; None opens real connections."""
        # The last send task of each message, so a later event waits for it.
        self._tails: dict[int, asyncio.Task[None]] = {}

    def _client(self) -> httpx.AsyncClient:
        # trust_env=False: a proxy from the environment must never carry a
        # loopback callback elsewhere. Redirects are not followed either.
        return httpx.AsyncClient(
            transport=self.transport,
            timeout=httpx.Timeout(self._state.config.callback_timeout),
            trust_env=False,
            follow_redirects=False,
        )

    async def run(self) -> None:
        """Apply due status changes and send callbacks until cancelled."""
        tasks: set[asyncio.Task[None]] = set()
        async with self._client() as client:
            try:
                while True:
                    self._state.apply_due_if_automatic()
                    for message_id, events in _group_by_message(self._state.take_callback_events()):
                        previous = self._tails.get(message_id)
                        task = asyncio.create_task(self._send_after(previous, client, events))
                        self._tails[message_id] = task
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                        task.add_done_callback(functools.partial(self._forget, message_id))
                    await asyncio.sleep(self._state.config.tick_interval)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def flush(self) -> int:
        """Apply due status changes and send every queued callback; return how many events."""
        self._state.apply_due_if_automatic()
        groups = _group_by_message(self._state.take_callback_events())
        if not groups:
            return 0
        async with self._client() as client:
            await asyncio.gather(*(self._send_all(client, events) for _, events in groups))
        return sum(len(events) for _, events in groups)

    async def _send_after(
        self,
        previous: asyncio.Task[None] | None,
        client: httpx.AsyncClient,
        events: list[CallbackEvent],
    ) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        await self._send_all(client, events)

    def _forget(self, message_id: int, task: asyncio.Task[None]) -> None:
        if self._tails.get(message_id) is task:
            del self._tails[message_id]

    async def _send_all(self, client: httpx.AsyncClient, events: Iterable[CallbackEvent]) -> None:
        for event in events:
            copies = 2 if self._state.config.callback_duplicates else 1
            for _ in range(copies):
                await self._send(client, event)

    async def _send(self, client: httpx.AsyncClient, event: CallbackEvent) -> None:
        message = event.message
        url = message.callback_url or ""
        target = _loopback_target(url)
        stats = self._state.stats
        if target is None:
            logger.warning(
                "Did not send the %s callback of message %d: callback host %r is not a "
                "loopback address; the simulator only calls back to 127.0.0.0/8, ::1 or localhost",
                event.status,
                message.id,
                _describe_host(url),
            )
            stats.increment("callbacks_refused")
            return
        payload = callback_payload(event)
        attempts = 1 + self._state.config.callback_retries
        for attempt in range(1, attempts + 1):
            try:
                if self._state.config.callback_format == "form":
                    response = await client.post(url, data=payload)
                else:
                    response = await client.post(url, json=payload)
            except httpx.HTTPError as exc:
                stats.increment("callbacks_failed")
                logger.warning(
                    "The %s callback of message %d to %s failed (attempt %d of %d): %s",
                    event.status,
                    message.id,
                    target,
                    attempt,
                    attempts,
                    type(exc).__name__,
                )
                continue
            if response.is_success:
                stats.increment("callbacks_sent")
                logger.debug(
                    "Sent the %s callback of message %d to %s: HTTP %d",
                    event.status,
                    message.id,
                    target,
                    response.status_code,
                )
                return
            stats.increment("callbacks_failed")
            logger.warning(
                "The %s callback of message %d to %s failed with HTTP %d (attempt %d of %d)",
                event.status,
                message.id,
                target,
                response.status_code,
                attempt,
                attempts,
            )


def _group_by_message(events: list[CallbackEvent]) -> list[tuple[int, list[CallbackEvent]]]:
    groups: dict[int, list[CallbackEvent]] = {}
    for event in events:
        groups.setdefault(event.message.id, []).append(event)
    return list(groups.items())
