"""Hook specifications: the contract between notifier and its plugins.

A plugin is a module (or object) registered under the ``notifier`` entry-point
group whose functions are decorated with ``notifier.hookimpl`` and named after
the specifications below. pluggy checks each implementation's name and
arguments when the plugin loads, so a misspelled hook or an unknown argument
is reported then, naming the plugin, instead of being ignored.

Observer hooks (``notifier_sending``, ``notifier_sent``, ``notifier_failed``,
``notifier_delivery_report``) are called for every registered plugin; an
exception raised by one is logged with the plugin's name and does not stop
the send.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ._errors import NotifierError
    from ._models import DeliveryReport, SendResult, Sms
    from ._provider import Provider

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "notifier"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def notifier_providers() -> Sequence[type[Provider]]:
    """Return the provider classes this plugin contributes.

    Called once when plugins load. Results from all plugins are collected;
    each class is registered under its ``name``, and two plugins that
    contribute the same name raise ``ConfigurationError``.
    """
    raise NotImplementedError


@hookspec
def notifier_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add sub-commands to the ``notifier`` command line.

    Called once while the CLI builds its parser, for every plugin. Each added
    parser must set a ``handler`` default: a callable that takes the parsed
    ``argparse.Namespace`` and returns the process exit code.
    """


@hookspec
def notifier_sending(message: Sms, provider: str) -> None:
    """Observe a message just before ``provider`` is asked to send it.

    Called for every plugin, once per provider attempt (so several times when
    a routing policy fails over).
    """


@hookspec
def notifier_sent(message: Sms, result: SendResult) -> None:
    """Observe a message the provider accepted. Called for every plugin."""


@hookspec
def notifier_failed(message: Sms, error: NotifierError) -> None:
    """Observe a message that ``send()`` failed to deliver to any provider.

    Called for every plugin with the error ``send()`` is about to raise.
    """


@hookspec
def notifier_delivery_report(report: DeliveryReport) -> None:
    """Observe a delivery report accepted by a delivery-report receiver.

    Called for every plugin, once per report that is neither a duplicate nor
    older than the state already recorded for its message.
    """
