"""pytest plugin shipped with notifier-core: fixtures for applications under test.

Registered through the ``pytest11`` entry point, so installing notifier-core
is enough. Importing it imports nothing from notifier and loads no notifier
plugins; the fixtures import what they need when a test requests them.

Fixtures:
    fake_provider: a fresh ``FakeProvider``.
    notifier_fake: an ``AsyncNotifier`` over ``fake_provider``, with its own
        empty plugin manager so installed observer plugins stay out of tests.
    sync_notifier_fake: a blocking ``Notifier`` over ``fake_provider``,
        closed after the test.
    notifier_instant_retries: makes provider retries skip their waits for
        the test; its value is the list of waits, in seconds, they skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from notifier import AsyncNotifier, Notifier
    from notifier.testing import FakeProvider

__all__ = [
    "fake_provider",
    "notifier_fake",
    "notifier_instant_retries",
    "sync_notifier_fake",
]


@pytest.fixture
def fake_provider() -> FakeProvider:
    """A fresh ``FakeProvider`` with an empty outbox."""
    from notifier.testing import FakeProvider

    return FakeProvider()


@pytest.fixture
def notifier_fake(fake_provider: FakeProvider) -> Iterator[AsyncNotifier]:
    """An ``AsyncNotifier`` that sends through ``fake_provider``."""
    from notifier import AsyncNotifier
    from notifier._plugins import new_plugin_manager

    notifier = AsyncNotifier(fake_provider, plugins=new_plugin_manager())
    yield notifier
    if not notifier.closed:
        # Fixture teardown runs outside the test's event loop, and the fake's
        # aclose() awaits nothing, so a short-lived loop is enough.
        asyncio.run(notifier.aclose())


@pytest.fixture
def sync_notifier_fake(fake_provider: FakeProvider) -> Iterator[Notifier]:
    """A blocking ``Notifier`` that sends through ``fake_provider``."""
    from notifier import Notifier
    from notifier._plugins import new_plugin_manager

    notifier = Notifier(fake_provider, plugins=new_plugin_manager())
    yield notifier
    notifier.close()


@pytest.fixture
def notifier_instant_retries() -> Iterator[list[float]]:
    """Skip every provider retry wait during the test; the list records the skipped waits."""
    from notifier.testing import instant_retries

    with instant_retries() as waits:
        yield waits
