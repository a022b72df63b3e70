"""Delivery-report state: duplicate detection and forward-only status.

Vendors send the same delivery report more than once, send reports out of
order, and can send one before the send call that created the message has
returned. A ``ReportStore`` remembers, per message, the reports it accepted
and decides whether a new one is news. ``MessageState.apply`` implements the
rule, so a shared store (a database, Redis) applies exactly the same rule as
the in-memory one. Such a store only has to make the read-apply-write step
atomic per message.

The rule, for reports of one message:

- A report whose provider status was already accepted is a duplicate.
- Once a final status (delivered, undelivered, expired, rejected) is
  recorded, no later report changes it.
- A non-final report dated earlier than the recorded one is outdated.
- Everything else is accepted and becomes the message's current state.

A message is identified by its provider and ``client_ref``. A report
without ``client_ref`` is matched by the vendor's ``message_id`` instead. A
report with both links the ``message_id`` to the message, so later lookups
by either find it, unless another message already uses that id: Eskiz, for
one, gives every message of a batch the same request id.
"""

from __future__ import annotations

import abc
import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from ._errors import ConfigurationError
from ._models import DeliveryReport, DeliveryStatus

__all__ = ["InMemoryReportStore", "MessageState", "ReportOutcome", "ReportStore"]


class ReportOutcome(str, Enum):
    """A store's decision about one delivery report."""

    ACCEPTED = "accepted"  # news: recorded and handed to hooks and callbacks
    DUPLICATE = "duplicate"  # the same provider status was accepted before
    OUTDATED = "outdated"  # older than, or after, the final state already recorded

    # str() and format() give the value on every Python version, as for SendStatus.
    def __str__(self) -> str:
        return self.value


def _rank(status: DeliveryStatus) -> int:
    # Final states outrank every other state; accepted and unknown share the lowest rank.
    return 1 if status.is_final else 0


# An index key: ("ref", provider, client_ref) or ("id", provider, message_id).
_Key = tuple[str, str, str]


def _ref_key(provider: str, client_ref: str | None) -> _Key | None:
    return ("ref", provider, client_ref) if client_ref else None


def _id_key(provider: str, message_id: str | None) -> _Key | None:
    return ("id", provider, message_id) if message_id else None


@dataclass(frozen=True)
class MessageState:
    """The state a store records for one message.

    Attributes:
        current: the last accepted report; its ``status`` is the message's state.
        seen_statuses: the provider statuses accepted so far, upper-cased.
    """

    current: DeliveryReport
    seen_statuses: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def first(cls, report: DeliveryReport) -> MessageState:
        """Return the state of a message whose first report is ``report``."""
        return cls(current=report, seen_statuses=frozenset({report.provider_status.upper()}))

    def apply(self, report: DeliveryReport) -> tuple[ReportOutcome, MessageState]:
        """Decide about ``report`` and return the outcome with the resulting state.

        The state is unchanged unless the outcome is ``ACCEPTED``.
        """
        provider_status = report.provider_status.upper()
        if provider_status in self.seen_statuses:
            return ReportOutcome.DUPLICATE, self
        if self.current.status.is_final:
            return ReportOutcome.OUTDATED, self
        if _rank(report.status) < _rank(self.current.status):
            return ReportOutcome.OUTDATED, self
        if (
            _rank(report.status) == _rank(self.current.status)
            and report.occurred_at is not None
            and self.current.occurred_at is not None
            and report.occurred_at < self.current.occurred_at
        ):
            return ReportOutcome.OUTDATED, self
        return ReportOutcome.ACCEPTED, MessageState(
            current=report, seen_statuses=self.seen_statuses | {provider_status}
        )


class ReportStore(abc.ABC):
    """Where a delivery-report receiver records the reports it accepted.

    Subclass it to share the state between processes. ``record`` must decide
    with ``MessageState.apply``, or ``MessageState.first`` for an unknown
    message, and store the new state atomically per message. Then two copies
    of one report that arrive at two workers are accepted once.
    """

    @abc.abstractmethod
    async def record(self, report: DeliveryReport) -> ReportOutcome:
        """Decide whether ``report`` is news for its message and record it if so.

        A report without ``client_ref`` and ``message_id`` cannot be matched
        to a message and is always ``ACCEPTED``.
        """

    @abc.abstractmethod
    async def latest(
        self,
        provider: str,
        *,
        client_ref: str | None = None,
        message_id: str | None = None,
    ) -> DeliveryReport | None:
        """Return the current report of a message, or ``None`` if none was accepted.

        Give ``client_ref``, ``message_id`` or both; ``client_ref`` is looked up first.
        """

    async def aclose(self) -> None:  # noqa: B027 -- optional hook; most stores hold nothing
        """Release the store's connections. The default does nothing."""


class InMemoryReportStore(ReportStore):
    """A ``ReportStore`` kept in this process's memory.

    It keeps the ``max_messages`` messages reported most recently and drops
    the oldest beyond that, so a report for a dropped message is accepted
    again. It is safe to use from several threads and event loops,
    but each process has its own: run one process, or share a store of your
    own across workers.
    """

    def __init__(self, max_messages: int = 100_000) -> None:
        if max_messages < 1:
            raise ConfigurationError(
                f"InMemoryReportStore max_messages must be at least 1, got {max_messages}."
            )
        self._max_messages = max_messages
        self._lock = threading.Lock()
        self._ids = itertools.count()
        # State id -> (state, the index keys pointing at it), least recently
        # reported first.
        self._states: OrderedDict[int, tuple[MessageState, tuple[_Key, ...]]] = OrderedDict()
        self._index: dict[_Key, int] = {}

    def __len__(self) -> int:
        """Return the number of messages remembered."""
        with self._lock:
            return len(self._states)

    async def record(self, report: DeliveryReport) -> ReportOutcome:
        ref_key = _ref_key(report.provider, report.client_ref)
        id_key = _id_key(report.provider, report.message_id)
        if ref_key is None and id_key is None:
            return ReportOutcome.ACCEPTED
        with self._lock:
            return self._record_locked(report, ref_key, id_key)

    def _record_locked(
        self, report: DeliveryReport, ref_key: _Key | None, id_key: _Key | None
    ) -> ReportOutcome:
        keys = tuple(key for key in (ref_key, id_key) if key is not None)
        state_id = self._find(ref_key, id_key)
        if state_id is None:
            state_id = next(self._ids)
            self._states[state_id] = (MessageState.first(report), ())
            outcome = ReportOutcome.ACCEPTED
        else:
            state, _ = self._states[state_id]
            outcome, new_state = state.apply(report)
            self._states[state_id] = (new_state, self._states[state_id][1])
        self._link(state_id, keys)
        self._states.move_to_end(state_id)
        self._evict()
        return outcome

    def _find(self, ref_key: _Key | None, id_key: _Key | None) -> int | None:
        if ref_key is not None and ref_key in self._index:
            return self._index[ref_key]
        if id_key is None or id_key not in self._index:
            return None
        candidate = self._index[id_key]
        # A message_id never joins two different client_refs into one message.
        _, candidate_keys = self._states[candidate]
        if ref_key is not None and any(key[0] == "ref" for key in candidate_keys):
            return None
        return candidate

    def _link(self, state_id: int, keys: Iterable[_Key]) -> None:
        state, known = self._states[state_id]
        added = tuple(key for key in keys if key not in self._index)
        self._index.update(dict.fromkeys(added, state_id))
        self._states[state_id] = (state, known + added)

    def _evict(self) -> None:
        while len(self._states) > self._max_messages:
            _, (_, keys) = self._states.popitem(last=False)
            for key in keys:
                self._index.pop(key, None)

    async def latest(
        self,
        provider: str,
        *,
        client_ref: str | None = None,
        message_id: str | None = None,
    ) -> DeliveryReport | None:
        if client_ref is None and message_id is None:
            raise TypeError("latest() needs client_ref or message_id")
        with self._lock:
            for key in (_ref_key(provider, client_ref), _id_key(provider, message_id)):
                state_id = self._index.get(key) if key is not None else None
                if state_id is not None:
                    return self._states[state_id][0].current
        return None

    def clear(self) -> None:
        """Forget every message."""
        with self._lock:
            self._states.clear()
            self._index.clear()
