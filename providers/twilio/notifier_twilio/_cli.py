"""The ``notifier twilio …`` commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading

from notifier import ConfigurationError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``twilio`` command group to the ``notifier`` parser."""
    twilio = subparsers.add_parser("twilio", help="Twilio provider tools")
    commands = twilio.add_subparsers(title="twilio commands", metavar="COMMAND")
    twilio.set_defaults(handler=lambda args: _usage(twilio))

    simulator = commands.add_parser(
        "simulator",
        help="run the local Twilio simulator until interrupted",
        description=(
            "Serve a local stand-in for Twilio's Messages API on a loopback port and print the "
            "TWILIO_* settings that point the provider at it. Needs notifier-twilio[simulator]."
        ),
    )
    simulator.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)"
    )
    simulator.add_argument(
        "--port",
        type=int,
        default=8010,
        help="port to listen on; 0 picks a free one (default 8010)",
    )
    simulator.add_argument(
        "--step-delay",
        type=float,
        default=1.0,
        help="seconds between two status changes of a message (default 1.0)",
    )
    simulator.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        help="share of API requests that get a 503 response, from 0.0 to 1.0 (default 0.0)",
    )
    simulator.add_argument(
        "--latency", type=float, default=0.0, help="seconds before each API response (default 0.0)"
    )
    simulator.add_argument("--seed", type=int, default=None, help="seed for random faults")
    simulator.set_defaults(handler=_run_simulator)

    status = commands.add_parser(
        "status",
        help="fetch the status of a sent message",
        description="Fetch one message by its SID with the TWILIO_* settings and print its status.",
    )
    status.add_argument("sid", help="the message SID, 'SM' followed by 32 hex digits")
    status.set_defaults(handler=_show_status)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _run_simulator(args: argparse.Namespace) -> int:
    try:
        from .simulator import TwilioSimulator
    except ImportError as exc:
        raise ConfigurationError(
            "The Twilio simulator needs the 'simulator' extra: run 'uv sync' in a clone, or "
            "pip install './providers/twilio[simulator]'."
        ) from exc

    try:
        simulator = TwilioSimulator(
            host=args.host,
            port=args.port,
            step_delay=args.step_delay,
            fail_rate=args.fail_rate,
            latency=args.latency,
            seed=args.seed,
        )
    except ValueError as exc:
        raise ConfigurationError(f"Invalid simulator option: {exc}") from None

    with simulator:
        # The simulator's credentials protect nothing but this loopback
        # server; printing them is how a user points the provider at it.
        print(f"Twilio simulator listening on {simulator.base_url} (Ctrl+C stops it)")
        print(f"TWILIO_BASE_URL={simulator.base_url}")
        print(f"TWILIO_ACCOUNT_SID={simulator.account_sid}")
        print(f"TWILIO_AUTH_TOKEN={simulator.auth_token}")
        print(f"TWILIO_API_KEY_SID={simulator.api_key_sid}")
        print(f"TWILIO_API_KEY_SECRET={simulator.api_key_secret}")
        print(f"TWILIO_SENDER={simulator.sender}")
        print(f"TWILIO_MESSAGING_SERVICE_SID={simulator.messaging_service_sid}")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is the way to stop it
            threading.Event().wait()
    return 0


def _show_status(args: argparse.Namespace) -> int:
    from ._provider import TwilioProvider

    async def fetch() -> str:
        async with TwilioProvider.from_env() as provider:
            report = await provider.get_status(args.sid)
        details = f" (error {report.error_code})" if report.error_code else ""
        return f"{report.message_id}: {report.provider_status} -> {report.status.value}{details}"

    print(asyncio.run(fetch()))
    return 0
