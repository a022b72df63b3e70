"""Simulated messages and the status changes they go through."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from notifier import count_segments

from .._wire import API_VERSION
from ._config import error_message, new_sid

__all__ = ["MessageStore", "SimulatedMessage", "StatusChange"]


def _rfc2822(moment: datetime | None) -> str | None:
    return format_datetime(moment) if moment is not None else None


@dataclass
class SimulatedMessage:
    """One message the simulator accepted, with everything Twilio would store.

    ``to``, ``from_`` and ``body`` are kept in full: they are test data. The
    simulator's log lines mask the numbers and never show the body.
    """

    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status: str
    status_callback: str | None
    num_segments: int
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    history: list[str] = field(default_factory=list)
    """Every status the message has had, in order, the current one last."""
    remaining: list[str] = field(default_factory=list, repr=False)
    """Statuses still ahead, in order."""
    final_error_code: int | None = field(default=None, repr=False)
    next_due: float | None = field(default=None, repr=False)
    """``time.monotonic()`` value of the next automatic change; ``None`` when final."""
    pending_sender: str | None = field(default=None, repr=False)
    """The number a Messaging Service assigns when the message leaves ``accepted``."""

    @property
    def is_final(self) -> bool:
        return not self.remaining

    def resource(self) -> dict[str, Any]:
        """Return the Message resource as the JSON object Twilio responds with."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": _rfc2822(self.date_created),
            "date_sent": _rfc2822(self.date_sent),
            "date_updated": _rfc2822(self.date_updated),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            # Twilio reports 0 segments until a Messaging Service picks a sender.
            "num_segments": str(self.num_segments if self.from_ else 0),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


@dataclass(frozen=True)
class StatusChange:
    """One status change, with the callback it causes (when the message has a callback URL)."""

    sid: str
    status: str
    error_code: int | None
    callback_url: str | None
    callback_params: tuple[tuple[str, str], ...]


class MessageStore:
    """The messages of one simulator and their progress, safe to use from any thread."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._messages: dict[str, SimulatedMessage] = {}
        self._clock = clock

    def create(
        self,
        *,
        account_sid: str,
        to: str,
        from_: str | None,
        messaging_service_sid: str | None,
        service_sender: str | None,
        body: str,
        status_callback: str | None,
        final_status: str,
        final_error_code: int | None,
        step_delay: float | None,
    ) -> SimulatedMessage:
        """Store a new message and return a copy of it.

        ``step_delay`` is the time between automatic changes, ``None`` to
        move only on ``advance()``.
        """
        now = datetime.now(timezone.utc).replace(microsecond=0)
        with_service = messaging_service_sid is not None and from_ is None
        first = "accepted" if with_service else "queued"
        if final_status == "failed":
            # Twilio fails a message before handing it to a carrier.
            path = ["queued", "failed"]
        else:
            path = ["queued", "sending", "sent", final_status]
        remaining = path[1:] if first == "queued" else path
        message = SimulatedMessage(
            sid=new_sid("SM"),
            account_sid=account_sid,
            to=to,
            from_=from_,
            messaging_service_sid=messaging_service_sid,
            body=body,
            status=first,
            status_callback=status_callback,
            num_segments=count_segments(body).parts,
            date_created=now,
            date_updated=now,
            history=[first],
            remaining=remaining,
            final_error_code=final_error_code,
            pending_sender=service_sender if with_service else None,
        )
        if step_delay is not None:
            message.next_due = self._clock() + step_delay
        with self._lock:
            self._messages[message.sid] = message
            return copy.deepcopy(message)

    def get(self, sid: str) -> SimulatedMessage | None:
        with self._lock:
            message = self._messages.get(sid)
            return copy.deepcopy(message) if message is not None else None

    def all(self) -> dict[str, SimulatedMessage]:
        with self._lock:
            return {sid: copy.deepcopy(message) for sid, message in self._messages.items()}

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def pending(self) -> list[str]:
        """SIDs of the messages that have not reached a final status."""
        with self._lock:
            return [sid for sid, message in self._messages.items() if not message.is_final]

    def due(self, step_delay: float | None) -> list[StatusChange]:
        """Apply every automatic change whose time has come; return them in order."""
        now = self._clock()
        changes = []
        with self._lock:
            for message in self._messages.values():
                while message.next_due is not None and message.next_due <= now:
                    changes.append(self._step(message, step_delay, due_from=message.next_due))
        return changes

    def step(self, sid: str | None, step_delay: float | None) -> list[StatusChange]:
        """Move one message, or every pending message, one status forward now."""
        with self._lock:
            if sid is not None:
                message = self._messages.get(sid)
                if message is None:
                    raise KeyError(f"no simulated message with SID {sid!r}")
                targets = [message]
            else:
                targets = list(self._messages.values())
            return [
                self._step(message, step_delay, due_from=self._clock())
                for message in targets
                if not message.is_final
            ]

    def _step(
        self, message: SimulatedMessage, step_delay: float | None, *, due_from: float
    ) -> StatusChange:
        # Called with the lock held.
        status = message.remaining.pop(0)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        message.status = status
        message.history.append(status)
        message.date_updated = now
        if message.pending_sender is not None and status == "queued":
            message.from_ = message.pending_sender
            message.pending_sender = None
        if status == "sent":
            message.date_sent = now
        if status in ("undelivered", "failed") and message.final_error_code is not None:
            message.error_code = message.final_error_code
            message.error_message = error_message(message.final_error_code)
        if message.remaining and step_delay is not None:
            message.next_due = due_from + step_delay
        else:
            message.next_due = None
        return StatusChange(
            sid=message.sid,
            status=status,
            error_code=message.error_code,
            callback_url=message.status_callback,
            callback_params=tuple(_callback_params(message, now)),
        )


def _callback_params(message: SimulatedMessage, now: datetime) -> list[tuple[str, str]]:
    params = [
        ("AccountSid", message.account_sid),
        ("ApiVersion", API_VERSION),
        ("From", message.from_ or ""),
        ("MessageSid", message.sid),
        ("MessageStatus", message.status),
        ("SmsSid", message.sid),
        ("SmsStatus", message.status),
        ("To", message.to),
    ]
    if message.messaging_service_sid:
        params.append(("MessagingServiceSid", message.messaging_service_sid))
    if message.error_code is not None:
        params.append(("ErrorCode", str(message.error_code)))
    if message.status in ("delivered", "undelivered"):
        # YYMMDDhhmm, as carriers report it; the simulator's carrier uses UTC.
        params.append(("RawDlrDoneDate", now.strftime("%y%m%d%H%M")))
    return params
