"""The ``notifier eskiz`` command group.

Every command except ``simulator`` builds the provider from ``ESKIZ_*``
variables and ``.env``, calls Eskiz and prints the result with rich.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._callbacks import TASHKENT
from ._models import EskizMessage
from ._provider import EskizProvider

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["register"]

_T = TypeVar("_T")

FIND_DEFAULT_DAYS = 7
"""How far back ``eskiz find`` searches when ``--since`` is not given."""


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


def _parse_moment(text: str, *, end_of_day: bool) -> datetime:
    """Parse ``--since``/``--until``: a date or a date and time, naive ones in Tashkent time.

    A date alone means its midnight, or with ``end_of_day`` the next
    midnight, so ``--until 2026-03-21`` includes that whole day.
    """
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time; write YYYY-MM-DD or 'YYYY-MM-DD HH:MM' "
            "(Tashkent time)"
        ) from None
    if end_of_day and len(value) == len("YYYY-MM-DD"):
        moment += timedelta(days=1)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=TASHKENT)
    return moment


def _since(text: str) -> datetime:
    return _parse_moment(text, end_of_day=False)


def _until(text: str) -> datetime:
    return _parse_moment(text, end_of_day=True)


def _refs_of_failed_file(path: Path) -> list[str]:
    """Return the client_refs of the rows of a failed-rows file that may have been delivered."""
    from notifier._cli._campaign import MAYBE_SENT
    from notifier._cli._output import UsageError

    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if not {"client_ref", "error_type"} <= set(reader.fieldnames or ()):
                raise UsageError(
                    f"{path} has no client_ref and error_type columns; pass the "
                    "FILE.failed.csv that notifier send-bulk wrote."
                )
            return [
                row["client_ref"]
                for row in reader
                if row["error_type"] in MAYBE_SENT and row["client_ref"]
            ]
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist; pass the path of a failed-rows file.") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"{path} cannot be read as a failed-rows file: {error}.") from None


@dataclass
class _Search:
    """Messages found per client_ref, and how many messages were read to find them."""

    client_refs: list[str]
    found: dict[str, list[EskizMessage]] = field(default_factory=dict)
    scanned: int = 0


async def _search(provider: EskizProvider, search: _Search, start: datetime, end: datetime) -> None:
    # NOTE: this relies on the list rows carrying user_sms_id, as the
    # status_by_id response does; only the simulator has confirmed it.
    client_refs = set(search.client_refs)
    async for message in provider.iter_messages(start, end):
        search.scanned += 1
        if message.user_sms_id in client_refs:
            search.found.setdefault(message.user_sms_id, []).append(message)


def _local_time(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    if moment.tzinfo is not None:
        moment = moment.astimezone(TASHKENT)
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def _find(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from notifier import mask_phone
    from notifier._cli._output import UsageError

    refs = list(args.client_ref)
    if args.failed_file is not None:
        refs += _refs_of_failed_file(args.failed_file)
    refs = list(dict.fromkeys(refs))  # each once, in the order given
    if not refs:
        raise UsageError(
            "nothing to look up: pass one or more CLIENT_REFs, or a --failed-file with "
            "DeliveryUnknown or Interrupted rows."
        )
    end: datetime = args.until or datetime.now(timezone.utc) + timedelta(minutes=1)
    start: datetime = args.since or end - timedelta(days=FIND_DEFAULT_DAYS)
    if start >= end:
        raise UsageError(
            f"--since ({start.astimezone(TASHKENT):%Y-%m-%d %H:%M}) must be before --until "
            f"({end.astimezone(TASHKENT):%Y-%m-%d %H:%M}, Tashkent time; default now)."
        )

    search = _Search(refs)
    _call(lambda provider: _search(provider, search, start, end))

    console = _console()
    window = (
        f"{start.astimezone(TASHKENT):%Y-%m-%d %H:%M} to "
        f"{end.astimezone(TASHKENT):%Y-%m-%d %H:%M} Tashkent time"
    )
    console.print(f"Searched {search.scanned} messages sent from {window}.")
    if search.found:
        table = Table("client ref", "SMS id", "request id", "status", "to", "sender", "created")
        for ref in refs:
            for message in search.found.get(ref, []):
                table.add_row(
                    escape(ref),
                    str(message.id),
                    message.request_id or "-",
                    f"{message.status} ({message.delivery_status.value})",
                    mask_phone(f"+{message.to}") if message.to else "-",
                    escape(message.nick or "-"),
                    _local_time(message.created_at),
                )
        console.print(table)
    missing = [ref for ref in refs if ref not in search.found]
    if missing:
        console.print(
            f"[yellow]Not found[/] ({len(missing)}): {escape(', '.join(missing))}. Eskiz "
            "lists no message with these client_refs in that range. If the range covers "
            "the run that sent them, Eskiz did not accept them, and they can be sent "
            "again (notifier send-bulk --resend-unknown)."
        )
        return 1
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
            "The Eskiz simulator needs the simulator extra of notifier-eskiz (starlette, "
            "uvicorn). From a clone of the repository, run 'uv sync', or "
            "pip install './providers/eskiz[simulator]'."
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

    find = commands.add_parser(
        "find",
        help="find messages by client_ref, e.g. rows a bulk send left as DeliveryUnknown",
        description=(
            "Page through the messages of the account sent between --since and --until "
            "and show those whose client_ref (Eskiz's user_sms_id) matches, with their "
            "status and ids. Use it to check rows that notifier send-bulk recorded as "
            "DeliveryUnknown or Interrupted before sending them again. Exit code 0 when "
            "every client_ref was found, 1 when some were not."
        ),
    )
    find.add_argument("client_ref", nargs="*", metavar="CLIENT_REF", help="client_refs to find")
    find.add_argument(
        "--failed-file",
        type=Path,
        metavar="FILE.failed.csv",
        help="also find the DeliveryUnknown and Interrupted rows of this failed-rows file",
    )
    find.add_argument(
        "--since",
        type=_since,
        metavar="DATE",
        help=(
            "start of the range: YYYY-MM-DD or 'YYYY-MM-DD HH:MM', Tashkent time "
            f"(default: {FIND_DEFAULT_DAYS} days before --until)"
        ),
    )
    find.add_argument(
        "--until",
        type=_until,
        metavar="DATE",
        help="end of the range; a date alone includes that whole day (default: now)",
    )
    find.set_defaults(handler=_find)

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
    simulator.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default %(default)s)"
    )
    simulator.add_argument(
        "--port", type=int, default=8765, help="port to listen on (default %(default)s)"
    )
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
