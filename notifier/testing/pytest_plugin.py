"""pytest plugin shipped with notifier-core: fixtures for applications under test.

Registered through the ``pytest11`` entry point, so installing notifier-core
is enough. Importing it imports ``notifier`` (its parent package) but loads
no entry-point plugins, and the fixtures give each notifier an empty plugin
manager, so observer plugins installed in the environment stay out of tests.

Fixtures:
    fake_provider: a fresh ``FakeProvider``.
    notifier_fake: an ``AsyncNotifier`` over ``fake_provider``.
    sync_notifier_fake: a blocking ``Notifier`` over ``fake_provider``,
        closed after the test.
    notifier_instant_retries: makes provider retries skip their waits for
        the test; its value is the list of waits, in seconds, they skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from .._blocking import Notifier
from .._notifier import AsyncNotifier
from .._plugins import new_plugin_manager
from .._retry import instant_retries
from ._fake import FakeProvider

__all__ = [
    "fake_provider",
    "notifier_fake",
    "notifier_instant_retries",
    "sync_notifier_fake",
]


@pytest.fixture
def fake_provider() -> FakeProvider:
    """A fresh ``FakeProvider`` with an empty outbox."""
    return FakeProvider()


@pytest.fixture
def notifier_fake(fake_provider: FakeProvider) -> Iterator[AsyncNotifier]:
    """An ``AsyncNotifier`` that sends through ``fake_provider``."""
    notifier = AsyncNotifier(fake_provider, plugins=new_plugin_manager())
    yield notifier
    if not notifier.closed:
        # Fixture teardown runs outside the test's event loop, and the fake's
        # aclose() awaits nothing, so a short-lived loop is enough.
        asyncio.run(notifier.aclose())


@pytest.fixture
def sync_notifier_fake(fake_provider: FakeProvider) -> Iterator[Notifier]:
    """A blocking ``Notifier`` that sends through ``fake_provider``, closed after the test."""
    notifier = Notifier(fake_provider, plugins=new_plugin_manager())
    yield notifier
    notifier.close()


@pytest.fixture
def notifier_instant_retries() -> Iterator[list[float]]:
    """Skip every provider retry wait during the test; the list records the skipped waits."""
    with instant_retries() as waits:
        yield waits
