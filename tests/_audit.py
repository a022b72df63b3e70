"""Session-wide audit: no secret or full phone number in any log line or span.

Every record logged under the ``notifier`` logger hierarchy at DEBUG and every
finished span's name, attributes and events is kept as text for the whole test
run. At the end of the session the text is scanned for full phone numbers,
JWTs and every secret a test registered with ``leak_audit.secret(value)``; a
hit fails the run and names the test that produced it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

__all__ = ["LeakAudit", "find_leaks"]

# A full international number: 11 to 15 digits, optionally after "+", not part
# of a longer word, digit run or dashed id (hex ids, UUID groups and timestamps
# are not numbers).
_PHONE = re.compile(r"(?<![\w.+-])\+?\d{11,15}(?![\w.-])")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def find_leaks(text: str, secrets: Iterable[str]) -> list[str]:
    """Return a description of each secret, JWT or full phone number in ``text``."""
    leaks = [f"phone number {match!r}" for match in _PHONE.findall(text)]
    leaks += ["a JWT" for _ in _JWT.findall(text)]
    leaks += ["a registered secret" for secret in secrets if secret and secret in text]
    return leaks


@dataclass
class LeakAudit:
    """Collects log and span text during the run and the secrets to look for."""

    secrets: set[str] = field(default_factory=set)
    entries: list[tuple[str, str]] = field(default_factory=list)  # (test id, text)
    current_test: str = "<collection>"

    def secret(self, value: str) -> None:
        """Register a value that must never appear in logs or spans."""
        if value:
            self.secrets.add(value)

    def record(self, text: str) -> None:
        self.entries.append((self.current_test, text))

    def report(self) -> list[str]:
        """Return one line per leak found, naming the test that produced it."""
        lines = []
        for test_id, text in self.entries:
            for leak in find_leaks(text, self.secrets):
                lines.append(f"{test_id}: {leak} in {text[:200]!r}")
        return lines


class AuditLogHandler(logging.Handler):
    def __init__(self, audit: LeakAudit) -> None:
        super().__init__(level=logging.DEBUG)
        self._audit = audit

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record must not break the test run
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += f" | {record.exc_info[1]}"
        self._audit.record(f"log {record.name}: {text}")


class AuditSpanProcessor(SpanProcessor):
    def __init__(self, audit: LeakAudit) -> None:
        self._audit = audit

    def on_end(self, span: ReadableSpan) -> None:
        parts = [span.name]
        parts += [f"{key}={value}" for key, value in (span.attributes or {}).items()]
        for event in span.events:
            parts.append(event.name)
            parts += [f"{key}={value}" for key, value in (event.attributes or {}).items()]
        if span.status.description:
            parts.append(span.status.description)
        self._audit.record("span " + " ".join(parts))
