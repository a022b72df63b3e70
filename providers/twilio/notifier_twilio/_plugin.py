"""Entry-point plugin that registers the Twilio provider and its commands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from notifier import Provider, hookimpl

from ._provider import TwilioProvider

__all__ = ["notifier_cli", "notifier_providers"]


@hookimpl
def notifier_providers() -> Sequence[type[Provider]]:
    """Contribute ``TwilioProvider`` under the name ``twilio``."""
    return [TwilioProvider]


@hookimpl
def notifier_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``notifier twilio simulator`` and ``notifier twilio status``."""
    from ._cli import register

    register(subparsers)
