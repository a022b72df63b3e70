"""Test kit for applications that send through notifier.

``FakeProvider`` records messages instead of sending them and can be scripted
to fail; ``assert_sent()`` checks its outbox; ``instant_retries()`` makes
provider retries skip their waits. The pytest plugin in
``notifier.testing.pytest_plugin`` (registered automatically) adds the
fixtures ``fake_provider``, ``notifier_fake`` and ``sync_notifier_fake``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ._assertions import assert_nothing_sent, assert_sent
from ._fake import FakeProvider, FakeSettings

__all__ = [
    "FakeProvider",
    "FakeSettings",
    "assert_nothing_sent",
    "assert_sent",
    "instant_retries",
]


@contextmanager
def instant_retries() -> Iterator[list[float]]:
    """Make provider retries skip their waits while the block runs.

    Yields the list of waits, in seconds, that retries would have slept, so a
    test can check backoff and ``Retry-After`` handling without sleeping.
    """
    # Imported on use: the retry module pulls in tenacity, which tests that
    # never retry do not need.
    from .._retry import instant_retries as _instant_retries

    with _instant_retries() as waits:
        yield waits
