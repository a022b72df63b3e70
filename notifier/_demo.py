"""``notifier demo``: the sample campaign, sent through Eskiz to a local simulator.

The demo starts ``EskizSimulator`` on 127.0.0.1 with tokens that live a few
seconds and a share of injected 503 responses, then sends the sample campaign
through the real ``EskizProvider`` over HTTP with ``AsyncNotifier.send_many``.
The run is paced to outlast several token lifetimes, so tokens expire and are
renewed while messages are in flight. Nothing leaves the machine.

The campaign is looked up in this order: ``--campaign FILE``; the copy
shipped inside the wheel (``notifier/_data/campaign.csv``); and
``examples/campaign.csv`` of the source checkout the package runs from.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import ConfigurationError
from ._segments import count_segments

if TYPE_CHECKING:
    from rich.console import Console

    from ._cli._bulk import BulkReport
    from ._cli._campaign import CampaignRow

__all__ = [
    "DemoOptions",
    "DemoOutcome",
    "find_campaign",
    "register",
    "run_demo",
]

DEFAULT_TOKEN_TTL = 3.0  # seconds
DEFAULT_FAIL_RATE = 0.03
DEFAULT_CONCURRENCY = 10
DEFAULT_BATCH_SIZE = 20

# The run is paced to last this many token lifetimes: long enough for every
# token to be renewed at least once while messages are in flight.
LIFETIMES_PER_RUN = 2.0
# Bounds of the paced simulator latency, in seconds. Login responses get the
# same latency, and a login delays every request while it runs. So a
# latency above a small share of the token lifetime makes logins dominate.
MIN_LATENCY = 0.005
MAX_LATENCY = 2.0
MAX_LATENCY_PER_TTL = 1 / 8

_PACKAGED_CAMPAIGN = ("_data", "campaign.csv")
_CHECKOUT_CAMPAIGN = Path(__file__).resolve().parent.parent / "examples" / "campaign.csv"

_MISSING_ESKIZ = (
    "notifier demo needs the Eskiz provider with its simulator extra, which is not "
    "installed. From a clone of the repository, run 'uv sync', or "
    "pip install './providers/eskiz[simulator]'."
)


@dataclass(frozen=True)
class DemoOptions:
    """Settings of one demo run; the command-line options map onto these fields.

    Attributes:
        rows: how many messages to send; ``None`` sends the whole campaign.
            More rows than the file has repeat it with new ``client_ref``s.
        fail_rate: share of requests that get a 503 response, from 0 to 1.
        token_ttl: lifetime of each simulator token, in seconds.
        concurrency: requests in flight at once (single sends only).
        batch: send through the ``send-batch`` endpoint instead of one
            request per message.
        batch_size: messages per ``send-batch`` request.
        latency: the simulator's mean delay per response in seconds; ``None``
            paces the run to last ``LIFETIMES_PER_RUN`` token lifetimes.
        seed: seed of the simulator's fault injection, for a repeatable run.
        campaign: the CSV to send; ``None`` uses the sample campaign.
    """

    rows: int | None = None
    fail_rate: float = DEFAULT_FAIL_RATE
    token_ttl: float = DEFAULT_TOKEN_TTL
    concurrency: int = DEFAULT_CONCURRENCY
    batch: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    latency: float | None = None
    seed: int | None = None
    campaign: Path | None = None

    def __post_init__(self) -> None:
        if self.rows is not None and self.rows < 1:
            raise ConfigurationError(f"--rows must be at least 1, got {self.rows}.")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ConfigurationError(
                f"--fail-rate must be between 0 and 1 (a share, 0.03 = 3 %), got {self.fail_rate}."
            )
        if not (self.token_ttl > 0 and math.isfinite(self.token_ttl)):
            raise ConfigurationError(
                f"--token-ttl must be a positive number of seconds, got {self.token_ttl}."
            )
        if self.concurrency < 1 or self.batch_size < 1:
            raise ConfigurationError("--concurrency and --batch-size must be at least 1.")
        if self.latency is not None and not (0 <= self.latency <= MAX_LATENCY):
            raise ConfigurationError(
                f"--latency must be between 0 and {MAX_LATENCY} seconds, got {self.latency}."
            )


@dataclass(frozen=True)
class DemoOutcome:
    """Row outcomes and counters of one demo run, from both sides of the connection.

    ``provider_stats`` are the counters of ``EskizProvider.stats``;
    ``simulator_stats`` those of ``EskizSimulator.stats``, with the requests
    per API path in ``simulator_requests``.
    """

    report: BulkReport
    campaign: Path
    base_url: str
    options: DemoOptions
    latency: float  # the simulator's mean delay per response, in seconds
    provider_stats: dict[str, int]
    simulator_stats: dict[str, int]
    simulator_requests: Counter[str]

    @property
    def accounted_for(self) -> bool:
        """Whether every row was either sent or recorded as failed with its error type."""
        return self.report.accounted_for and not self.report.interrupted

    @property
    def token_renewals(self) -> int:
        """Refreshes plus logins after the first: how often a token was replaced."""
        return self.provider_stats["refreshes"] + max(self.provider_stats["logins"] - 1, 0)


def find_campaign(explicit: Path | None = None) -> Path:
    """Return the campaign file to send: ``explicit``, the packaged copy, or the checkout's.

    Raises:
        ConfigurationError: no campaign file was found.
    """
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigurationError(f"--campaign {explicit} does not exist or is not a file.")
        return explicit
    packaged = (
        resources.files("notifier").joinpath(_PACKAGED_CAMPAIGN[0]).joinpath(_PACKAGED_CAMPAIGN[1])
    )
    if packaged.is_file():
        return Path(str(packaged))
    if _CHECKOUT_CAMPAIGN.is_file():
        return _CHECKOUT_CAMPAIGN
    raise ConfigurationError(
        "The sample campaign was not found in the installed package nor in a source "
        f"checkout ({_CHECKOUT_CAMPAIGN}); pass a CSV file with --campaign FILE."
    )


def _select_rows(rows: list[CampaignRow], count: int | None) -> list[CampaignRow]:
    """Take ``count`` rows, repeating the file with fresh ``client_ref``s when it is shorter."""
    from ._cli._campaign import CampaignRow

    if count is None or count <= len(rows):
        return rows[:count]
    selected = list(rows)
    for index in range(len(rows), count):
        source = rows[index % len(rows)]
        round_number = index // len(rows)
        message = source.message
        fields = dict(source.fields)
        if message is not None:
            client_ref = f"{message.client_ref}-{round_number}"
            message = message.model_copy(update={"client_ref": client_ref})
            fields["client_ref"] = client_ref
        selected.append(CampaignRow(source.line, fields, message, source.error))
    return selected


def _paced_latency(options: DemoOptions, messages: int) -> float:
    """Return the mean simulator latency that makes the run last ``LIFETIMES_PER_RUN`` TTLs.

    Short runs hit the ceiling of ``MAX_LATENCY_PER_TTL`` and end sooner.
    """
    if options.latency is not None:
        return options.latency
    if options.batch:
        # Batch requests of one send_batch() call go out one after another.
        requests = max(math.ceil(messages / options.batch_size), 1)
        in_flight = 1
    else:
        requests = max(messages, 1)
        in_flight = options.concurrency
    target = LIFETIMES_PER_RUN * options.token_ttl
    ceiling = min(MAX_LATENCY, options.token_ttl * MAX_LATENCY_PER_TTL)
    return min(max(target * in_flight / requests, MIN_LATENCY), ceiling)


def run_demo(options: DemoOptions, console: Console) -> DemoOutcome:
    """Run the demo: start the simulator, send the campaign, stop the simulator.

    The progress bar is drawn on ``console``.

    Raises:
        ConfigurationError: the Eskiz provider or its simulator is not
            installed, or the options or the campaign file are invalid.
    """
    try:
        from notifier_eskiz import EskizProvider
        from notifier_eskiz.simulator import EskizSimulator
    except ImportError as error:
        raise ConfigurationError(_MISSING_ESKIZ) from error

    from ._cli._bulk import BulkRun
    from ._cli._campaign import read_campaign
    from ._notifier import AsyncNotifier
    from ._plugins import new_plugin_manager

    campaign = find_campaign(options.campaign)
    rows = _select_rows(read_campaign(campaign), options.rows)
    if not rows:
        raise ConfigurationError(f"{campaign} has no rows to send.")
    valid = sum(1 for row in rows if row.message is not None)
    latency = _paced_latency(options, valid)

    run = BulkRun(rows)
    with EskizSimulator(
        token_ttl=options.token_ttl,
        fail_rate=options.fail_rate,
        # A range around the mean, so responses do not arrive in lockstep.
        latency=(latency * 0.5, latency * 1.5),
        seed=options.seed,
    ) as simulator:
        eskiz = EskizProvider(
            email=simulator.email,
            password=simulator.password,
            base_url=simulator.base_url,
            batch_size=options.batch_size,
        )
        description = "Sending in batches" if options.batch else "Sending"

        async def send_all() -> None:
            # A private plugin manager: the demo's progress observer must not
            # see, or be seen by, other notifiers of the process.
            async with AsyncNotifier(eskiz, plugins=new_plugin_manager()) as notifier:
                # batch=False keeps one request per message although Eskiz
                # has a batch endpoint, so many requests need a token at once
                # while tokens expire.
                await run.send(
                    notifier,
                    concurrency=options.concurrency,
                    console=console,
                    description=description,
                    batch=options.batch,
                )

        try:
            asyncio.run(send_all())
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
        stats = eskiz.stats
        provider_stats = {
            "logins": stats.logins,
            "refreshes": stats.refreshes,
            "login_failures": stats.login_failures,
            "requests": stats.requests,
            "retries": stats.retries,
        }
        base_url = simulator.base_url
        simulator_stats = simulator.stats.snapshot()
        simulator_requests = simulator.stats.requests

    return DemoOutcome(
        report=run.report(),
        campaign=campaign,
        base_url=base_url,
        options=options,
        latency=latency,
        provider_stats=provider_stats,
        simulator_stats=simulator_stats,
        simulator_requests=simulator_requests,
    )


def _describe_texts(report: BulkReport) -> str:
    cyrillic = latin_ucs2 = gsm7 = 0
    for row in report.rows:
        if row.message is None:
            continue
        text = row.message.body
        if any("\u0400" <= char <= "\u04ff" for char in text):
            cyrillic += 1
        elif count_segments(text).ucs2_characters:
            latin_ucs2 += 1
        else:
            gsm7 += 1
    return (
        f"{cyrillic} Cyrillic, {latin_ucs2} Latin with UCS-2 characters such as \u02bb, "
        f"{gsm7} GSM-7 Latin"
    )


def _display_path(path: Path) -> str:
    """Show ``path`` relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def print_outcome(console: Console, outcome: DemoOutcome) -> None:
    """Print the summary of a demo run."""
    from rich.markup import escape
    from rich.table import Table

    from ._cli._bulk import print_summary

    report = outcome.report
    options = outcome.options
    provider = outcome.provider_stats
    simulator = outcome.simulator_stats
    requests = outcome.simulator_requests

    setup = Table(title="Demo set-up", show_header=False, title_justify="left")
    setup.add_column(style="bold")
    setup.add_column()
    setup.add_row(
        "campaign", f"{escape(_display_path(outcome.campaign))} ({len(report.rows)} rows)"
    )
    setup.add_row("texts", _describe_texts(report))
    setup.add_row("simulator", escape(outcome.base_url))
    setup.add_row("token lifetime", f"{options.token_ttl:g} s")
    setup.add_row("injected 503 rate", f"{options.fail_rate:.1%}")
    setup.add_row("simulator latency", f"{outcome.latency * 1000:.0f} ms mean")
    if options.batch:
        setup.add_row("sending", f"send-batch, {options.batch_size} messages per request")
    else:
        setup.add_row("sending", f"one request per message, {options.concurrency} in flight")
    console.print(setup)

    print_summary(console, report, title="Messages")

    tokens = Table(title="Tokens and retries", title_justify="left")
    tokens.add_column("counter", style="bold")
    tokens.add_column("provider", justify="right")
    tokens.add_column("simulator", justify="right")
    tokens.add_row("logins", str(provider["logins"]), str(simulator["logins"]))
    tokens.add_row("token refreshes", str(provider["refreshes"]), str(simulator["refreshes"]))
    tokens.add_row("HTTP requests", str(provider["requests"]), str(sum(requests.values())))
    tokens.add_row("retries", str(provider["retries"]), "-")
    tokens.add_row("injected 503 responses", "-", str(simulator["faults"]))
    tokens.add_row("messages accepted", str(len(report.results)), str(simulator["sends"]))
    console.print(tokens)

    sent = len(report.results)
    failed = len(report.failed)
    if outcome.accounted_for:
        console.print(
            f"[bold green]Every row accounted for:[/] {sent} sent + {failed} failed "
            f"(recorded with their error type) = {len(report.rows)} rows."
        )
    else:
        console.print(
            f"[bold red]Rows unaccounted for:[/] {sent} sent + {failed} failed "
            f"of {len(report.rows)} rows."
        )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``notifier demo`` to the command line."""
    from ._cli._bulk import positive_int

    parser = subparsers.add_parser(
        "demo",
        help="send the sample campaign to a local Eskiz simulator",
        description=(
            "Start the Eskiz simulator on 127.0.0.1 with short-lived tokens and "
            "injected 503 responses, send the sample campaign through the real Eskiz "
            "provider, and print what happened. Nothing leaves the machine. Exit "
            "code 0 when every row was either sent or recorded as failed."
        ),
    )
    parser.add_argument(
        "--rows",
        type=positive_int,
        metavar="N",
        help="messages to send (default: the whole campaign); more rows repeat the file",
    )
    parser.add_argument(
        "--fail-rate",
        type=float,
        default=DEFAULT_FAIL_RATE,
        metavar="SHARE",
        help="share of requests that get a 503 response, from 0 to 1 (default %(default)s)",
    )
    parser.add_argument(
        "--token-ttl",
        type=float,
        default=DEFAULT_TOKEN_TTL,
        metavar="SECONDS",
        help="lifetime of each token (default %(default)s)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help="requests in flight at once when sending one request per message "
        "(default %(default)s); with --batch, batch requests go out one after another "
        "and this does not apply",
    )
    parser.add_argument(
        "--batch",
        action="store_true",
        help="send through the send-batch endpoint instead of one request per message",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help="messages per send-batch request with --batch (default %(default)s)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        metavar="SECONDS",
        help=(
            "mean delay of each simulator response; by default it is chosen so the run "
            f"lasts about {LIFETIMES_PER_RUN:g} token lifetimes"
        ),
    )
    parser.add_argument(
        "--seed", type=int, metavar="N", help="seed of the fault injection, for a repeatable run"
    )
    parser.add_argument(
        "--campaign",
        type=Path,
        metavar="FILE.csv",
        help="send this CSV (columns phone,text[,client_ref,sender]) instead of the sample",
    )
    parser.set_defaults(handler=_run_command)


def _run_command(args: argparse.Namespace) -> int:
    from ._cli._output import (
        EXIT_FAILED,
        EXIT_INTERRUPTED,
        EXIT_OK,
        error_console,
        stdout_console,
    )

    options = DemoOptions(
        rows=args.rows,
        fail_rate=args.fail_rate,
        token_ttl=args.token_ttl,
        concurrency=args.concurrency,
        batch=args.batch,
        batch_size=args.batch_size,
        latency=args.latency,
        seed=args.seed,
        campaign=args.campaign,
    )
    started = time.perf_counter()
    outcome = run_demo(options, error_console())
    console = stdout_console()
    print_outcome(console, outcome)
    console.print(f"[dim]Demo finished in {time.perf_counter() - started:.1f} s.[/]")
    if outcome.report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if outcome.accounted_for else EXIT_FAILED
