"""Entry-point plugin that registers the fake provider.

The fake is registered through the ``notifier`` entry-point group like every
vendor, so ``NOTIFIER_PROVIDER=fake`` works without a special case.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._hookspecs import hookimpl
from .._provider import Provider
from ._fake import FakeProvider

__all__ = ["notifier_providers"]


@hookimpl
def notifier_providers() -> Sequence[type[Provider]]:
    """Contribute ``FakeProvider`` under the name ``fake``."""
    return [FakeProvider]
