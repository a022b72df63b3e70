"""Test kit for applications that send through notifier.

``FakeProvider`` records messages instead of sending them and can be scripted
to fail; ``assert_sent()`` checks its outbox; ``instant_retries()`` makes
provider retries skip their waits. The pytest plugin in
``notifier.testing.pytest_plugin`` (registered automatically) adds the
fixtures ``fake_provider``, ``notifier_fake`` and ``sync_notifier_fake``.
"""

from __future__ import annotations

from .._retry import instant_retries
from ._assertions import assert_nothing_sent, assert_sent
from ._fake import FakeProvider, FakeSettings

__all__ = [
    "FakeProvider",
    "FakeSettings",
    "assert_nothing_sent",
    "assert_sent",
    "instant_retries",
]
