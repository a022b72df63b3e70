"""Reading a CSV of messages and writing the rows that failed.

The input has a header row with the columns ``phone`` and ``text`` and,
optionally, ``client_ref`` and ``sender``. The failed-rows file written next
to it has the same columns plus ``line``, ``error_type`` and
``error_message``. Those three are ignored on input, so the failed file can
be sent again as it is.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .._errors import InvalidMessage, NotifierError
from .._models import Sms
from ._output import UsageError

__all__ = [
    "CampaignRow",
    "FailedRow",
    "failed_path_for",
    "read_campaign",
    "remove_failed_file",
    "write_failed_rows",
]

REQUIRED_COLUMNS = ("phone", "text")
OPTIONAL_COLUMNS = ("client_ref", "sender")
REPORT_COLUMNS = ("line", "error_type", "error_message")
FAILED_COLUMNS = ("line", *REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, "error_type", "error_message")


@dataclass(frozen=True)
class CampaignRow:
    """One data row of the input file.

    ``message`` is the validated SMS, or ``None`` when the row is invalid, in
    which case ``error`` describes the problem. ``line`` is the row's line number in the
    file (the header is line 1), so users can find it in a spreadsheet.
    """

    line: int
    fields: Mapping[str, str]
    message: Sms | None
    error: InvalidMessage | None


@dataclass(frozen=True)
class FailedRow:
    """A row that was not sent: the row, the error type's name and its message.

    ``error_type`` is a ``NotifierError`` class name such as
    ``ProviderUnavailable``, or ``Interrupted`` / ``NotSent`` for rows an
    interrupted run left unfinished.
    """

    row: CampaignRow
    error_type: str
    error_message: str

    @classmethod
    def from_error(cls, row: CampaignRow, error: NotifierError) -> FailedRow:
        """Describe ``row`` as failed with ``error``."""
        return cls(row, type(error).__name__, str(error))


def failed_path_for(path: Path) -> Path:
    """Return the failed-rows path of ``path``: ``campaign.csv`` gives ``campaign.failed.csv``."""
    return path.with_name(f"{path.stem}.failed.csv")


def _check_header(path: Path, header: list[str] | None) -> list[str]:
    if not header:
        raise UsageError(f"{path} is empty; the first line must be a header such as 'phone,text'.")
    columns = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise UsageError(
            f"{path} has no column {', '.join(repr(name) for name in missing)}; "
            f"the header must name at least 'phone' and 'text' (found: {', '.join(columns)})."
        )
    allowed = {*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *REPORT_COLUMNS}
    unknown = [name for name in columns if name not in allowed]
    if unknown:
        # An unknown column is usually a misspelt one ("txt", "sender_id"):
        # sending without it would drop data the user meant to send.
        raise UsageError(
            f"{path} has unknown column(s) {', '.join(repr(name) for name in unknown)}; "
            f"allowed columns are {', '.join((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS))} "
            f"(and {', '.join(REPORT_COLUMNS)}, which are ignored)."
        )
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise UsageError(f"{path} names column(s) {', '.join(duplicated)} more than once.")
    return columns


def _build_row(
    line: int,
    fields: dict[str, str],
    region: str | None,
    seen_refs: dict[str, int],
) -> CampaignRow:
    data: dict[str, str] = {"to": fields["phone"], "body": fields["text"]}
    client_ref = fields.get("client_ref", "")
    if client_ref:
        first_line = seen_refs.get(client_ref)
        if first_line is not None:
            error = InvalidMessage(
                f"client_ref {client_ref!r} is already used on line {first_line}; "
                "give every row its own client_ref."
            )
            return CampaignRow(line, fields, None, error)
        seen_refs[client_ref] = line
        data["client_ref"] = client_ref
    if fields.get("sender"):
        data["sender"] = fields["sender"]

    context = {"region": region} if region else None
    try:
        message = Sms.model_validate(data, context=context)
    except InvalidMessage as error:
        return CampaignRow(line, fields, None, error)
    return CampaignRow(line, fields, message, None)


def read_campaign(path: Path, *, region: str | None = None) -> list[CampaignRow]:
    """Read and validate every row of the CSV file at ``path``.

    A row that cannot become an ``Sms`` (an invalid number, an empty text, a
    repeated ``client_ref``, a wrong number of fields) is returned with its
    error instead of stopping the read. Text is kept exactly as written.

    Raises:
        UsageError: the file cannot be read, is not UTF-8 CSV, or its header
            lacks ``phone`` or ``text`` or names an unknown column.
    """
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist; pass the path of a CSV file.") from None
    except OSError as error:
        raise UsageError(f"{path} cannot be opened: {error.strerror}.") from None

    rows: list[CampaignRow] = []
    seen_refs: dict[str, int] = {}
    with handle:
        reader = csv.reader(handle)
        try:
            columns = _check_header(path, next(reader, None))
            previous_end = reader.line_num
            for record in reader:
                # A quoted field may span lines: report where the row starts.
                line = previous_end + 1
                previous_end = reader.line_num
                if not any(value.strip() for value in record):
                    continue  # blank lines between rows carry no message
                if len(record) != len(columns):
                    shape_error = InvalidMessage(
                        f"line {line} has {len(record)} fields but the header has "
                        f"{len(columns)}; quote text that contains commas."
                    )
                    fields = dict(zip(columns, record, strict=False))
                    rows.append(CampaignRow(line, fields, None, shape_error))
                    continue
                fields = dict(zip(columns, record, strict=True))
                rows.append(_build_row(line, fields, region, seen_refs))
        except UnicodeDecodeError:
            raise UsageError(
                f"{path} is not UTF-8 text; save it as 'CSV UTF-8' and try again."
            ) from None
        except csv.Error as error:
            raise UsageError(f"{path}, line {reader.line_num}: malformed CSV ({error}).") from None
    return rows


def _failed_record(failed: FailedRow) -> dict[str, str]:
    fields = failed.row.fields
    client_ref = fields.get("client_ref", "")
    if failed.row.message is not None:
        # Keep a generated client_ref, so a resend of this file reuses it.
        client_ref = failed.row.message.client_ref
    return {
        "line": str(failed.row.line),
        "phone": fields.get("phone", ""),
        "text": fields.get("text", ""),
        "client_ref": client_ref,
        "sender": fields.get("sender", ""),
        "error_type": failed.error_type,
        "error_message": failed.error_message,
    }


def write_failed_rows(path: Path, failed: Iterable[FailedRow]) -> int:
    """Write ``failed`` to ``path`` as CSV, replacing the file atomically; return the row count.

    The file is written to a temporary file in the same folder first, so an
    interrupted run never leaves a half-written report.
    """
    records = [_failed_record(item) for item in failed]
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=FAILED_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(records)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(records)


def remove_failed_file(path: Path) -> bool:
    """Delete a failed-rows file left by an earlier run; return whether one existed."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
