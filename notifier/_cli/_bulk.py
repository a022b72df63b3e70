"""``notifier send-bulk``: send every row of a CSV file and keep what failed.

``BulkRun`` is shared with ``notifier demo``. It sends the valid rows with
``AsyncNotifier.send_many`` and follows each message through the observer
hooks, so the progress bar moves as messages finish and an interrupted run
still records which rows were sent, which were in flight and which never
started.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .._errors import NotifierError
from .._hookspecs import hookimpl
from .._models import SendResult, Sms
from .._notifier import AsyncNotifier
from ._campaign import (
    INTERRUPTED,
    MAYBE_SENT,
    CampaignRow,
    FailedRow,
    failed_path_for,
    read_campaign,
    remove_failed_file,
    write_failed_rows,
)
from ._config import build_notifier
from ._options import positive_int, region_code
from ._output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    error_console,
    stdout_console,
)

__all__ = [
    "INTERRUPTED",
    "NOT_SENT",
    "BulkReport",
    "BulkRun",
    "positive_int",
    "print_summary",
    "register",
]

DEFAULT_CONCURRENCY = 16

NOT_SENT = "NotSent"
"""Error type of a row whose message was never handed to the provider."""

FIND_HINT = "for Eskiz: notifier eskiz find CLIENT_REF"
"""How to look up a message by ``client_ref``, named wherever maybe-sent rows are reported."""


@dataclass(frozen=True)
class BulkReport:
    """Outcome of every row of one bulk run.

    Every row ends up in exactly one of ``results`` and ``failed``. Invalid
    rows are in ``failed`` with the type ``InvalidMessage``. Rows skipped
    because an earlier run may have delivered them are in ``failed`` with
    ``skipped`` set.
    """

    rows: tuple[CampaignRow, ...]
    results: tuple[SendResult, ...]
    failed: tuple[FailedRow, ...]
    elapsed: float  # seconds spent sending
    interrupted: bool

    @property
    def accounted_for(self) -> bool:
        """Whether every row was either sent or recorded as failed."""
        return len(self.results) + len(self.failed) == len(self.rows)

    @property
    def parts(self) -> int:
        """SMS parts of the sent messages: what the vendor bills."""
        return sum(result.segments for result in self.results)

    @property
    def throughput(self) -> float:
        """Sent messages per second of sending."""
        return len(self.results) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def skipped(self) -> int:
        """Rows not sent because an earlier run may have delivered them."""
        return sum(1 for item in self.failed if item.skipped)

    def failures_by_type(self) -> Counter[str]:
        """Count the failed rows of this run by error type, skipped rows left out."""
        return Counter(item.error_type for item in self.failed if not item.skipped)


class _Tracker:
    """Observer plugin that follows the messages of one run by ``client_ref``.

    Messages of other sends in the same process are ignored, because the
    plugin manager may be shared with them.
    """

    def __init__(self, client_refs: set[str], progress: Progress, task: object) -> None:
        self._client_refs = client_refs
        self._progress = progress
        self._task = task
        self.started: set[str] = set()
        self.outcomes: dict[str, SendResult | NotifierError] = {}

    @hookimpl
    def notifier_sending(self, message: Sms, provider: str) -> None:
        if message.client_ref in self._client_refs:
            self.started.add(message.client_ref)

    @hookimpl
    def notifier_sent(self, message: Sms, result: SendResult) -> None:
        self._finish(message.client_ref, result)

    @hookimpl
    def notifier_failed(self, message: Sms, error: NotifierError) -> None:
        self._finish(message.client_ref, error)

    def _finish(self, client_ref: str, outcome: SendResult | NotifierError) -> None:
        if client_ref in self._client_refs and client_ref not in self.outcomes:
            self.outcomes[client_ref] = outcome
            self._progress.advance(self._task)  # type: ignore[arg-type]


def _new_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


class BulkRun:
    """Sends the valid rows of a file and builds the report of every row.

    Rows with the ``error_type`` ``DeliveryUnknown`` or ``Interrupted``, which
    an earlier run may have delivered, are skipped unless ``resend_unknown``
    is true.
    """

    def __init__(self, rows: list[CampaignRow], *, resend_unknown: bool = False) -> None:
        self.rows = tuple(rows)
        self._resend_unknown = resend_unknown
        self._valid = [row for row in rows if row.message is not None and not self._skips(row)]
        self._started_sending: float | None = None
        self._finished_sending: float | None = None
        self._tracker: _Tracker | None = None
        self._outcomes: dict[str, SendResult | NotifierError] = {}

    async def send(
        self,
        notifier: AsyncNotifier,
        *,
        concurrency: int,
        console: Console,
        description: str = "Sending",
        batch: bool | None = None,
    ) -> None:
        """Send every valid row through ``notifier``, showing a progress bar on ``console``.

        ``batch`` is passed to ``AsyncNotifier.send_many()``.
        """
        messages = [row.message for row in self._valid if row.message is not None]
        progress = _new_progress(console)
        task = progress.add_task(
            description, total=len(self.rows), completed=len(self.rows) - len(messages)
        )
        tracker = _Tracker({message.client_ref for message in messages}, progress, task)
        self._tracker = tracker
        notifier.plugins.register(tracker, name=f"notifier-cli-progress-{id(tracker)}")
        self._started_sending = time.perf_counter()
        try:
            with progress:
                outcomes = await notifier.send_many(messages, concurrency=concurrency, batch=batch)
        finally:
            self._finished_sending = time.perf_counter()
            notifier.plugins.unregister(tracker)
        self._outcomes = {
            message.client_ref: outcome for message, outcome in zip(messages, outcomes, strict=True)
        }

    def _skips(self, row: CampaignRow) -> bool:
        return row.maybe_sent and not self._resend_unknown

    @property
    def maybe_sent(self) -> int:
        """Rows that an earlier run may have delivered, whether this run sends them or not."""
        return sum(1 for row in self.rows if row.maybe_sent)

    def report(self) -> BulkReport:
        """Describe every row: sent, failed, or left unfinished by an interruption."""
        tracked = self._tracker.outcomes if self._tracker is not None else {}
        started = self._tracker.started if self._tracker is not None else set()
        results: list[SendResult] = []
        failed: list[FailedRow] = []
        interrupted = False
        for row in self.rows:
            if self._skips(row):
                # The earlier error type and message stay, so a resend of
                # the next failed file skips the row again.
                error_message = row.fields.get("error_message", "")
                failed.append(FailedRow(row, row.previous_error_type, error_message, True))
                continue
            if row.message is None:
                assert row.error is not None  # read_campaign sets one of the two
                failed.append(FailedRow.from_error(row, row.error))
                continue
            client_ref = row.message.client_ref
            outcome = self._outcomes.get(client_ref, tracked.get(client_ref))
            if isinstance(outcome, SendResult):
                results.append(outcome)
            elif outcome is not None:
                failed.append(FailedRow.from_error(row, outcome))
            elif client_ref in started:
                interrupted = True
                failed.append(
                    FailedRow(
                        row,
                        INTERRUPTED,
                        "The run was interrupted while this message was in flight, so it "
                        f"may have been sent; check its status by client_ref ({FIND_HINT}) "
                        "before sending it again.",
                    )
                )
            else:
                interrupted = True
                failed.append(
                    FailedRow(row, NOT_SENT, "The run was interrupted before this row was sent.")
                )
        elapsed = 0.0
        if self._started_sending is not None:
            end = self._finished_sending or time.perf_counter()
            elapsed = end - self._started_sending
        return BulkReport(self.rows, tuple(results), tuple(failed), elapsed, interrupted)


def _rows(count: int) -> str:
    return f"{count} failed row" if count == 1 else f"{count} failed rows"


def print_summary(console: Console, report: BulkReport, *, title: str) -> None:
    """Print the totals of ``report`` and a table of failures by error type."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("rows", str(len(report.rows)))
    table.add_row("sent", f"[green]{len(report.results)}[/]")
    failed = len(report.failed) - report.skipped
    table.add_row("failed", f"[{'red' if failed else 'green'}]{failed}[/]")
    if report.skipped:
        table.add_row("skipped", f"[yellow]{report.skipped}[/] (may have been delivered)")
    statuses = Counter(result.status.value for result in report.results)
    if statuses:
        table.add_row("status", ", ".join(f"{name} {count}" for name, count in statuses.items()))
    table.add_row("SMS parts", str(report.parts))
    table.add_row("elapsed", f"{report.elapsed:.2f} s")
    table.add_row("throughput", f"{report.throughput:.1f} messages/s")
    console.print(table)

    failures_by_type = report.failures_by_type()
    if failures_by_type:
        _print_failures(console, report, failures_by_type)
    _print_maybe_sent(console, report)


def _print_failures(console: Console, report: BulkReport, by_type: Counter[str]) -> None:
    failures = Table(title="Failures by type", title_justify="left")
    failures.add_column("error type", style="red")
    failures.add_column("rows", justify="right")
    failures.add_column("first error message")
    first_message: dict[str, str] = {}
    for item in report.failed:
        if not item.skipped:
            first_message.setdefault(item.error_type, item.error_message)
    for error_type, count in by_type.most_common():
        failures.add_row(error_type, str(count), escape(first_message[error_type]))
    console.print(failures)


def _print_maybe_sent(console: Console, report: BulkReport) -> None:
    kinds = " or ".join(MAYBE_SENT)
    uncertain = sum(
        1 for item in report.failed if item.error_type in MAYBE_SENT and not item.skipped
    )
    if uncertain:
        console.print(
            f"[yellow]{_rows(uncertain)} may have been delivered[/] ({kinds}): check "
            f"their status by client_ref ({FIND_HINT}) before sending them again. "
            "Sending the failed file again skips them unless you pass --resend-unknown."
        )
    if report.skipped:
        rows = "1 row" if report.skipped == 1 else f"{report.skipped} rows"
        console.print(
            f"[yellow]Skipped {rows}[/] that an earlier run may have delivered ({kinds}). "
            f"Check each by client_ref ({FIND_HINT}), delete the rows that were "
            "delivered, then send the rest with --resend-unknown."
        )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "send-bulk",
        help="send every row of a CSV file",
        description=(
            "Send every row of a UTF-8 CSV file with the columns phone and text "
            "(optional: client_ref, sender). Rows that fail, invalid numbers "
            "included, are written to FILE.failed.csv beside the input with the "
            "error type and message. That file can be sent again after fixing the "
            "cause: rows that may have been delivered (DeliveryUnknown, Interrupted) "
            "are skipped unless --resend-unknown is given, and rows that could not "
            "be read or repeated a client_ref are rejected until you fix them. "
            "Exit code 0 when every row was sent, 1 when some failed or were "
            "skipped, 2 for a bad file or configuration."
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE.csv", help="the CSV file to send")
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=(
            "requests in flight at once (default %(default)s); a provider with a "
            "batch endpoint sends one batch request at a time instead"
        ),
    )
    parser.add_argument(
        "--resend-unknown",
        action="store_true",
        help=(
            "also send rows of a failed-rows file whose error_type is DeliveryUnknown "
            "or Interrupted; the vendor may have accepted them already, so their "
            "recipients may get the SMS twice"
        ),
    )
    parser.add_argument(
        "--provider",
        metavar="NAME",
        help="provider to send through instead of NOTIFIER_PROVIDER",
    )
    parser.add_argument(
        "--region",
        type=region_code,
        metavar="CODE",
        help="ISO 3166 region of national numbers; default NOTIFIER_DEFAULT_REGION or UZ",
    )
    parser.set_defaults(handler=run_send_bulk)


async def _send_file(run: BulkRun, args: argparse.Namespace, console: Console) -> None:
    async with build_notifier(args.provider) as notifier:
        await run.send(notifier, concurrency=args.concurrency, console=console)


def run_send_bulk(args: argparse.Namespace) -> int:
    """Send the rows of ``args.file``, print the summary and write the failed rows."""
    path: Path = args.file
    rows = read_campaign(path, region=args.region)
    if not rows:
        raise UsageError(f"{path} has a header but no rows to send.")

    console = stdout_console()
    run = BulkRun(rows, resend_unknown=args.resend_unknown)
    if args.resend_unknown and run.maybe_sent:
        count = run.maybe_sent
        error_console().print(
            f"[yellow]warning:[/] sending {count} {'row' if count == 1 else 'rows'} again "
            f"that an earlier run may have delivered ({' or '.join(MAYBE_SENT)}); "
            "their recipients may get the SMS twice."
        )
    try:
        asyncio.run(_send_file(run, args, error_console()))
    except KeyboardInterrupt:
        error_console().print("[yellow]interrupted[/]: writing the rows that were not sent")
    report = run.report()

    print_summary(console, report, title=f"send-bulk {path.name}")
    failed_path = failed_path_for(path)
    if report.failed:
        count = write_failed_rows(failed_path, report.failed)
        console.print(f"{_rows(count)} written to [bold]{escape(str(failed_path))}[/]")
    elif remove_failed_file(failed_path):
        console.print(f"Removed {escape(str(failed_path))} left by an earlier run.")

    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if report.failed else EXIT_OK
