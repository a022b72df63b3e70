"""Entry-point plugin that registers the Eskiz provider and its commands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from notifier import Provider, hookimpl

from ._provider import EskizProvider

__all__ = ["notifier_cli", "notifier_providers"]


@hookimpl
def notifier_providers() -> Sequence[type[Provider]]:
    """Contribute ``EskizProvider`` under the name ``eskiz``."""
    return [EskizProvider]


@hookimpl
def notifier_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``notifier eskiz balance | status | templates | check | simulator``."""
    from ._cli import register

    register(subparsers)
