"""Send a CSV file with ``AsyncNotifier.send_many`` and keep the rows that failed.

This is what ``notifier send-bulk`` does, written with the library API for
applications that send campaigns themselves. It starts a local Eskiz
simulator on 127.0.0.1 and sends the sample campaign to it::

    uv run python examples/bulk_csv.py                   # examples/campaign.csv
    uv run python examples/bulk_csv.py my.csv --rows 50

Failed rows, invalid numbers included, are written to ``<file>.failed.csv``
with the error type and message.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
from pathlib import Path

from notifier import AsyncNotifier, InvalidMessage, NotifierError, SendResult, Sms
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import EskizSimulator

CAMPAIGN = Path(__file__).with_name("campaign.csv")


def read_rows(path: Path, limit: int | None) -> list[dict[str, str]]:
    # utf-8-sig also reads the byte-order mark spreadsheet programs write.
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return rows[:limit]


async def send_rows(
    notifier: AsyncNotifier, rows: list[dict[str, str]]
) -> list[tuple[dict[str, str], NotifierError]]:
    """Send every valid row; return the rows that failed with their errors."""
    failed: list[tuple[dict[str, str], NotifierError]] = []
    messages: list[Sms] = []
    sources: list[dict[str, str]] = []
    for row in rows:
        try:
            fields = {"client_ref": row["client_ref"]} if row.get("client_ref") else {}
            messages.append(notifier.build_sms(row["phone"], row["text"], **fields))
            sources.append(row)
        except InvalidMessage as error:
            # A bad number fails its own row, not the whole campaign.
            failed.append((row, error))

    # One entry per message, in order: a SendResult, or the error for that
    # message. With a batch endpoint (Eskiz has one) the messages go out in
    # batches; otherwise at most `concurrency` requests are in flight.
    outcomes = await notifier.send_many(messages, concurrency=16)
    for row, outcome in zip(sources, outcomes, strict=True):
        if not isinstance(outcome, SendResult):
            failed.append((row, outcome))
    return failed


def write_failed(path: Path, failed: list[tuple[dict[str, str], NotifierError]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone", "text", "client_ref", "error_type", "error_message"])
        for row, error in failed:
            writer.writerow(
                [row["phone"], row["text"], row.get("client_ref", ""), type(error).__name__, error]
            )


async def main(path: Path, limit: int | None) -> None:
    rows = read_rows(path, limit)
    with EskizSimulator(fail_rate=0.02, seed=7) as simulator:
        provider = EskizProvider(
            email=simulator.email, password=simulator.password, base_url=simulator.base_url
        )
        async with AsyncNotifier(provider) as notifier:
            failed = await send_rows(notifier, rows)

    print(f"{len(rows) - len(failed)} of {len(rows)} rows sent")
    if failed:
        failed_path = path.with_name(f"{path.stem}.failed.csv")
        write_failed(failed_path, failed)
        print(f"{len(failed)} failed rows written to {failed_path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=CAMPAIGN)
    parser.add_argument("--rows", type=int, help="send only the first N rows")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.file, arguments.rows))
