"""Signed status callbacks, sent only to loopback receivers."""

from __future__ import annotations

import ipaddress
import logging
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from notifier import mask_phone

from .._signature import SIGNATURE_HEADER, compute_signature
from ._stats import SimulatorStats
from ._store import StatusChange

__all__ = ["CallbackRecord", "CallbackSender", "is_loopback_url", "public_part"]

logger = logging.getLogger("notifier.twilio.simulator")


def is_loopback_url(url: str) -> bool:
    """Return whether ``url`` is http(s) and names ``localhost`` or a loopback IP address."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def public_part(url: str) -> str:
    """Return ``url`` without its query string, which may carry a secret, for log lines."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<malformed URL>"
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


@dataclass(frozen=True)
class CallbackRecord:
    """One status callback the simulator sent, failed to deliver, or refused to send."""

    url: str
    params: tuple[tuple[str, str], ...]
    signature: str | None
    status_code: (
        int | None
    )  # the receiver's response status; None when refused or on a network error
    outcome: str  # "sent", "failed" or "refused"


class CallbackSender:
    """Sender of status callbacks in Twilio's format: form-encoded and signed."""

    def __init__(self, stats: SimulatorStats) -> None:
        self._stats = stats
        self._lock = threading.Lock()
        self._records: list[CallbackRecord] = []

    @property
    def records(self) -> list[CallbackRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def _record(self, record: CallbackRecord) -> None:
        with self._lock:
            self._records.append(record)
        self._stats.increment(f"callbacks_{record.outcome}")

    async def deliver(
        self,
        changes: Iterable[StatusChange],
        *,
        auth_token: str,
        timeout: float,
        duplicates: bool,
        raw_dlr_done_date: bool,
    ) -> None:
        """Send the callback of each change that has a callback URL, in order."""
        jobs = [change for change in changes if change.callback_url]
        if not jobs:
            return
        # trust_env=False: no proxy from the environment may carry a callback
        # anywhere but the loopback receiver it names.
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            for change in jobs:
                params = tuple(
                    (name, value)
                    for name, value in change.callback_params
                    if raw_dlr_done_date or name != "RawDlrDoneDate"
                )
                for _copy in range(2 if duplicates else 1):
                    await self._post(client, change, params, auth_token)

    async def _post(
        self,
        client: httpx.AsyncClient,
        change: StatusChange,
        params: tuple[tuple[str, str], ...],
        auth_token: str,
    ) -> None:
        url = change.callback_url or ""
        if not is_loopback_url(url):
            logger.warning(
                "Did not send status callback for %s to %s: only loopback hosts are allowed",
                change.sid,
                public_part(url),
            )
            self._record(CallbackRecord(url, params, None, None, "refused"))
            return

        signature = compute_signature(auth_token, url, params)
        headers = {
            SIGNATURE_HEADER: signature,
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        }
        to = dict(params).get("To", "")
        try:
            response = await client.post(url, data=dict(params), headers=headers)
        except httpx.HTTPError as exc:
            logger.warning(
                "Status callback %s for %s (to %s) to %s failed: %s",
                change.status,
                change.sid,
                mask_phone(to),
                public_part(url),
                type(exc).__name__,
            )
            self._record(CallbackRecord(url, params, signature, None, "failed"))
            return

        outcome = "sent" if response.is_success else "failed"
        logger.info(
            "Status callback %s for %s (to %s) to %s: HTTP %d",
            change.status,
            change.sid,
            mask_phone(to),
            public_part(url),
            response.status_code,
        )
        self._record(CallbackRecord(url, params, signature, response.status_code, outcome))
