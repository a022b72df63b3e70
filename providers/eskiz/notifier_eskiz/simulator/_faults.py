"""Scripted faults: the next N matching requests fail, drop or respond slowly.

A test queues faults with ``fail_next()``, ``drop_next()`` and
``delay_next()``. Each incoming request takes the first queued fault of each
kind whose path pattern matches it; a fault queued for ``times=3`` matches
three requests and is then gone.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ErrorBody", "FaultPlan", "ScriptedFault", "api_path"]

FaultKind = Literal["fail", "drop", "delay"]

ErrorBody = Mapping[str, Any] | Sequence[Any] | str | bytes
"""A response body: a mapping or list is sent as JSON, text as-is."""


def api_path(path: str) -> str:
    """Strip the ``/api`` prefix that every Eskiz endpoint shares."""
    if path == "/api":
        return "/"
    if path.startswith("/api/"):
        return path[len("/api") :]
    return path


@dataclass
class ScriptedFault:
    """One queued fault and how many more requests it applies to."""

    kind: FaultKind
    path: str | None  # fnmatch pattern without the "/api" prefix; None matches every path
    remaining: int
    status: int = 0
    retry_after: float | str | None = None
    body: ErrorBody | None = None
    seconds: float = 0.0
    processed: bool = False  # for drops: handle the request first, then drop the response

    def matches(self, path: str) -> bool:
        return self.path is None or fnmatch.fnmatchcase(path, self.path)


def _check_times(times: int) -> None:
    if times < 1:
        raise ValueError(f"times must be at least 1, got {times!r}")


def _normalize_pattern(path: str | None) -> str | None:
    if path is None:
        return None
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', e.g. '/message/sms/send', got {path!r}")
    return api_path(path)


class FaultPlan:
    """The queue of scripted faults, shared by the test thread and the server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[ScriptedFault] = []

    def add_failure(
        self,
        status: int,
        *,
        times: int = 1,
        path: str | None = None,
        retry_after: float | str | None = None,
        body: ErrorBody | None = None,
    ) -> None:
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {status!r}")
        _check_times(times)
        self._add(
            ScriptedFault(
                "fail",
                _normalize_pattern(path),
                times,
                status=status,
                retry_after=retry_after,
                body=body,
            )
        )

    def add_drop(self, *, times: int = 1, path: str | None = None, processed: bool = False) -> None:
        _check_times(times)
        self._add(ScriptedFault("drop", _normalize_pattern(path), times, processed=processed))

    def add_delay(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        _check_times(times)
        self._add(ScriptedFault("delay", _normalize_pattern(path), times, seconds=seconds))

    def _add(self, fault: ScriptedFault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, kind: FaultKind, path: str) -> ScriptedFault | None:
        """Use up one application of the first queued fault of ``kind`` matching ``path``."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and fault.matches(path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[ScriptedFault]:
        """Faults still queued, in the order they were added."""
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
