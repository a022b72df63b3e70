"""``notifier send``: send one SMS and print the provider's response."""

from __future__ import annotations

import argparse
import asyncio
import sys

from rich.table import Table

from .._models import SendResult, Sms
from ._config import build_notifier
from ._options import region_code
from ._output import EXIT_OK, UsageError, stdout_console

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "send",
        help="send one SMS",
        description=(
            "Send one SMS through the configured provider and print its response. "
            "Exit code 0 when the provider accepted it, 1 when sending failed, "
            "2 for an invalid number or a configuration error."
        ),
    )
    parser.add_argument(
        "--to",
        required=True,
        metavar="NUMBER",
        help="recipient, in international form (+998901234567) or national form of --region",
    )
    parser.add_argument(
        "--body",
        required=True,
        metavar="TEXT",
        help="message text, sent exactly as given; '-' reads it from standard input",
    )
    parser.add_argument("--sender", metavar="NAME", help="sender name; default: the provider's")
    parser.add_argument(
        "--provider",
        metavar="NAME",
        help="provider to send through instead of NOTIFIER_PROVIDER (see 'notifier providers')",
    )
    parser.add_argument(
        "--client-ref",
        metavar="ID",
        help="your id for the message, kept across retries; generated when omitted",
    )
    parser.add_argument(
        "--region",
        type=region_code,
        metavar="CODE",
        help="ISO 3166 region of national numbers; default NOTIFIER_DEFAULT_REGION or UZ",
    )
    parser.set_defaults(handler=run_send)


def _read_body(value: str) -> str:
    if value != "-":
        return value
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("--body - reads the text from standard input, but none was piped in.")
    # Only the one newline that `echo` or a here-document appends is removed:
    # the text itself is never trimmed.
    text = sys.stdin.read()
    return text[:-1] if text.endswith("\n") else text


async def _send(args: argparse.Namespace, body: str) -> tuple[Sms, SendResult]:
    async with build_notifier(args.provider) as notifier:
        fields: dict[str, str] = {}
        if args.sender is not None:
            fields["sender"] = args.sender
        if args.client_ref is not None:
            fields["client_ref"] = args.client_ref
        region = args.region or notifier.default_region
        message = Sms.model_validate(
            {"to": args.to, "body": body, **fields}, context={"region": region}
        )
        return message, await notifier.send(message)


def run_send(args: argparse.Namespace) -> int:
    """Send the message described by ``args`` and print the result table."""
    body = _read_body(args.body)
    message, result = asyncio.run(_send(args, body))

    table = Table(title="SMS accepted", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("to", message.masked_to)
    table.add_row("provider", result.provider)
    table.add_row("status", result.status.value)
    table.add_row("message id", result.message_id or "-")
    table.add_row("client_ref", result.client_ref)
    table.add_row("parts", f"{result.segments} ({result.encoding.value})")
    table.add_row("attempts", str(len(result.attempts)))
    table.add_row("elapsed", f"{result.elapsed:.3f} s")
    stdout_console().print(table)
    return EXIT_OK
