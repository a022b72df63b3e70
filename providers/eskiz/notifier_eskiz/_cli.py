"""The ``notifier eskiz`` command group.

Every command except ``simulator`` builds the provider from ``ESKIZ_*``
variables and ``.env``, makes one call and prints the result with rich.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._provider import EskizProvider

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["register"]

_T = TypeVar("_T")


def _console() -> Console:
    # rich comes with the command line (notifier-core[cli]), not with the provider.
    from rich.console import Console

    return Console(file=sys.stdout, highlight=False)


def _call(operation: Callable[[EskizProvider], Awaitable[_T]]) -> _T:
    async def run() -> _T:
        async with EskizProvider.from_env() as provider:
            return await operation(provider)

    return asyncio.run(run())


def _balance(args: argparse.Namespace) -> int:
    balance = _call(lambda provider: provider.balance())
    _console().print(f"Balance: [bold]{balance:,}[/] UZS".replace(",", " "))
    return 0


def _status(args: argparse.Namespace) -> int:
    from rich.table import Table

    message = _call(lambda provider: provider.get_status(args.id))
    table = Table(show_header=False, box=None)
    table.add_row("id", str(message.id))
    table.add_row("request id", message.request_id or "-")
    table.add_row("client ref", message.user_sms_id or "-")
    table.add_row("status", f"{message.status} ({message.delivery_status.value})")
    table.add_row("parts", str(message.parts_count))
    table.add_row("price", f"{message.total_price} UZS")
    table.add_row("sender", message.nick or "-")
    table.add_row("created", str(message.created_at))
    _console().print(table)
    return 0


def _templates(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    templates = _call(lambda provider: provider.templates())
    if not templates:
        _console().print("No templates submitted.")
        return 0
    table = Table("id", "status", "text")
    for template in templates:
        table.add_row(
            str(template.id), template.status or "-", escape(template.original_text or "")
        )
    _console().print(table)
    return 0


def _check(args: argparse.Namespace) -> int:
    from rich.table import Table

    result = _call(lambda provider: provider.check(args.text))
    price = sum(info.price or 0 for info in result.info)
    table = Table(show_header=False, box=None)
    table.add_row("can send", "yes" if result.can_send else "[red]no[/]")
    table.add_row("parts", str(result.parts_count))
    table.add_row("characters", str(result.chars_count))
    table.add_row("price", f"{price} UZS")
    _console().print(table)
    return 0 if result.can_send else 1


def _simulator(args: argparse.Namespace) -> int:
    try:
        from .simulator import run
    except ImportError as exc:
        from notifier import ConfigurationError

        raise ConfigurationError(
            "The Eskiz simulator needs the [simulator] extra: "
            "pip install 'notifier-eskiz[simulator]'."
        ) from exc
    options: dict[str, Any] = {}
    if args.token_ttl is not None:
        options["token_ttl"] = args.token_ttl
    if args.fail_rate is not None:
        options["fail_rate"] = args.fail_rate
    if args.latency is not None:
        options["latency"] = args.latency
    run(host=args.host, port=args.port, **options)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``eskiz`` command group to the ``notifier`` parser."""
    group = subparsers.add_parser(
        "eskiz",
        help="Eskiz.uz account commands and the local Eskiz simulator",
        description="Eskiz.uz commands. Credentials come from ESKIZ_EMAIL, ESKIZ_PASSWORD "
        "and the other ESKIZ_* variables or .env.",
    )
    commands = group.add_subparsers(title="commands", metavar="COMMAND")
    group.set_defaults(handler=lambda args: _print_group_help(group))

    balance = commands.add_parser("balance", help="show the account balance in UZS")
    balance.set_defaults(handler=_balance)

    status = commands.add_parser("status", help="show one message by SMS id or request UUID")
    status.add_argument("id", help="the numeric SMS id or the request UUID from a send")
    status.set_defaults(handler=_status)

    templates = commands.add_parser("templates", help="list templates and their moderation status")
    templates.set_defaults(handler=_templates)

    check = commands.add_parser(
        "check", help="ask Eskiz how many parts a text takes, its price and whether it may be sent"
    )
    check.add_argument("text", help="the message text")
    check.set_defaults(handler=_check)

    simulator = commands.add_parser(
        "simulator", help="serve the Eskiz simulator on loopback until Ctrl+C"
    )
    simulator.add_argument("--host", default="127.0.0.1", help="address to listen on")
    simulator.add_argument("--port", type=int, default=8765, help="port to listen on")
    simulator.add_argument(
        "--token-ttl", type=float, default=None, help="token lifetime in seconds (default 30 days)"
    )
    simulator.add_argument(
        "--fail-rate",
        type=float,
        default=None,
        help="share of requests that fail with HTTP 503, from 0.0 to 1.0",
    )
    simulator.add_argument(
        "--latency", type=float, default=None, help="delay before each response, in seconds"
    )
    simulator.set_defaults(handler=_simulator)


def _print_group_help(group: argparse.ArgumentParser) -> int:
    group.print_help(sys.stderr)
    return 2
