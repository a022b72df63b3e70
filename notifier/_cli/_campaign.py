"""Reading a CSV of messages and writing the rows that failed.

The input has a header row with the columns ``phone`` and ``text`` and,
optionally, ``client_ref`` and ``sender``. The failed-rows file written next
to it has the same columns plus the report columns in ``REPORT_COLUMNS``.
Sending the failed file again is safe, because the report columns are read
back:

- ``raw`` contains a row that could not be split into fields, verbatim,
  with ``phone`` and ``text`` left empty. A row with ``raw`` set is rejected
  until the user copies its values into the columns and clears ``raw``.
- ``duplicate_client_ref`` contains the ``client_ref`` of a row rejected
  because an earlier row of its file used it, with ``client_ref`` left
  empty. Such a row is rejected until the user gives it a new
  ``client_ref``, so two accepted messages never share one.
- ``error_type`` ``DeliveryUnknown`` or ``Interrupted`` marks a message the
  vendor may have accepted. ``BulkRun`` skips those rows unless told to
  send them again.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .._errors import InvalidMessage, NotifierError
from .._models import Sms
from ._output import UsageError

__all__ = [
    "MAYBE_SENT",
    "CampaignRow",
    "FailedRow",
    "failed_path_for",
    "read_campaign",
    "remove_failed_file",
    "write_failed_rows",
]

REQUIRED_COLUMNS = ("phone", "text")
OPTIONAL_COLUMNS = ("client_ref", "sender")
REPORT_COLUMNS = ("line", "error_type", "error_message", "raw", "duplicate_client_ref")
FAILED_COLUMNS = (
    "line",
    *REQUIRED_COLUMNS,
    *OPTIONAL_COLUMNS,
    "error_type",
    "error_message",
    "raw",
    "duplicate_client_ref",
)

INTERRUPTED = "Interrupted"
"""Error type of a row whose message was in flight when the run was interrupted."""

MAYBE_SENT = ("DeliveryUnknown", INTERRUPTED)
"""Error types after which the vendor may have accepted the message."""


@dataclass(frozen=True)
class CampaignRow:
    """One data row of the input file.

    ``message`` is the validated SMS, or ``None`` when the row is invalid, in
    which case ``error`` describes the problem. ``line`` is the row's line number in the
    file (the header is line 1), so users can find it in a spreadsheet.
    ``raw`` is the row's text as read when it could not be split into the
    header's fields. ``duplicate_client_ref`` is the ``client_ref`` that
    another row already used, when that is why the row was rejected.
    """

    line: int
    fields: Mapping[str, str]
    message: Sms | None
    error: InvalidMessage | None
    raw: str = ""
    duplicate_client_ref: str = ""

    @property
    def previous_error_type(self) -> str:
        """The ``error_type`` column of a failed-rows file sent again, or ``""``."""
        return self.fields.get("error_type", "").strip()

    @property
    def maybe_sent(self) -> bool:
        """Whether an earlier run reported that the vendor may have accepted this row."""
        return self.previous_error_type in MAYBE_SENT


@dataclass(frozen=True)
class FailedRow:
    """A row that was not sent: the row, the error type's name and its message.

    ``error_type`` is a ``NotifierError`` class name such as
    ``ProviderUnavailable``, or ``Interrupted`` / ``NotSent`` for rows an
    interrupted run left unfinished. ``skipped`` marks a row that this run
    did not send again because an earlier run may have delivered it. Such a
    row keeps the earlier error type and message.
    """

    row: CampaignRow
    error_type: str
    error_message: str
    skipped: bool = False

    @classmethod
    def from_error(cls, row: CampaignRow, error: NotifierError) -> FailedRow:
        """Describe ``row`` as failed with ``error``."""
        return cls(row, type(error).__name__, str(error))


def failed_path_for(path: Path) -> Path:
    """Return the failed-rows path of ``path``: ``campaign.csv`` gives ``campaign.failed.csv``."""
    return path.with_name(f"{path.stem}.failed.csv")


# --- reading ---


def _semicolon_hint(values: Iterable[str]) -> str:
    """Return a hint about the delimiter when ``values`` look semicolon-separated."""
    if any(";" in value for value in values):
        return (
            " The line looks separated by semicolons, as spreadsheet programs write "
            "CSV in some locales; save the file with commas as the delimiter "
            "('CSV UTF-8' in Excel)."
        )
    return ""


def _check_header(path: Path, header: list[str] | None) -> list[str]:
    if not header:
        raise UsageError(f"{path} is empty; the first line must be a header such as 'phone,text'.")
    columns = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise UsageError(
            f"{path} has no column {', '.join(repr(name) for name in missing)}; "
            f"the header must name at least 'phone' and 'text' (found: {', '.join(columns)})."
            + _semicolon_hint(columns)
        )
    allowed = {*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *REPORT_COLUMNS}
    unknown = [name for name in columns if name not in allowed]
    if unknown:
        # An unknown column is usually a misspelt one ("txt", "sender_id"):
        # sending without it would drop data the user meant to send.
        raise UsageError(
            f"{path} has unknown column(s) {', '.join(repr(name) for name in unknown)}; "
            f"allowed columns are {', '.join((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS))} "
            f"and the columns of a failed-rows file ({', '.join(REPORT_COLUMNS)})."
        )
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise UsageError(
            f"{path} names column(s) {', '.join(duplicated)} more than once; "
            "remove or rename the extra column, so each value has one place."
        )
    return columns


def _fields_text(count: int) -> str:
    return "1 field" if count == 1 else f"{count} fields"


def _shape_error(line: int, record: list[str], columns: list[str]) -> InvalidMessage:
    """Describe a row whose field count differs from the header's."""
    header = f"the header has {len(columns)} ({', '.join(columns)})"
    if len(record) > len(columns):
        return InvalidMessage(
            f"line {line} has {_fields_text(len(record))} but {header}; quote text that "
            'contains commas, for example "Salom, dunyo".'
        )
    missing = columns[len(record) :]
    names = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
    return InvalidMessage(
        f"line {line} has {_fields_text(len(record))} but {header}, so {names} "
        f"{'is' if len(missing) == 1 else 'are'} missing; write a value for every column, "
        "and a bare comma for an optional column left empty." + _semicolon_hint(record)
    )


def _build_row(
    line: int,
    fields: dict[str, str],
    region: str | None,
    seen_refs: dict[str, int],
) -> CampaignRow:
    if fields.get("raw", ""):
        error = InvalidMessage(
            f"line {line} is a row an earlier run could not read, kept verbatim in the raw "
            "column; copy its values into phone and text (and client_ref, sender), clear "
            "raw, and send the file again."
        )
        return CampaignRow(line, fields, None, error)

    client_ref = fields.get("client_ref", "")
    duplicate_ref = fields.get("duplicate_client_ref", "")
    if duplicate_ref and client_ref in ("", duplicate_ref):
        error = InvalidMessage(
            f"line {line} was rejected by an earlier run because another row already used "
            f"client_ref {duplicate_ref!r}, which is kept in duplicate_client_ref; put a "
            "new, unique client_ref in the client_ref column to send it, or delete the row "
            "if it repeats a message."
        )
        return CampaignRow(line, fields, None, error, duplicate_client_ref=duplicate_ref)

    data: dict[str, str] = {"to": fields["phone"], "body": fields["text"]}
    if client_ref:
        first_line = seen_refs.get(client_ref)
        if first_line is not None:
            error = InvalidMessage(
                f"client_ref {client_ref!r} is already used on line {first_line}; "
                "give every row its own client_ref."
            )
            return CampaignRow(line, fields, None, error, duplicate_client_ref=client_ref)
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


class _RecordingLines(Iterator[str]):
    """The lines of a file, keeping those of the CSV record being parsed.

    ``csv.reader`` pulls one line at a time, so after each record ``take()``
    returns exactly the text that record was parsed from.
    """

    def __init__(self, handle: TextIO) -> None:
        self._handle = handle
        self._lines: list[str] = []
        self.exhausted = False

    def __next__(self) -> str:
        line = self._handle.readline()
        if not line:
            self.exhausted = True
            raise StopIteration
        self._lines.append(line)
        return line

    def take(self) -> str:
        """Return the text read since the last call, without its final line break."""
        text = "".join(self._lines)
        self._lines.clear()
        if text.endswith("\r\n"):
            return text[:-2]
        return text[:-1] if text.endswith(("\n", "\r")) else text


def _unreadable_row(
    line: int, last_line: int, lines: _RecordingLines, error: csv.Error
) -> InvalidMessage:
    """Describe the record on ``line`` to ``last_line`` that the strict reader rejected."""
    if lines.exhausted:
        # The reader reached the end of the file inside a quoted field.
        span = f"line {line}" if last_line == line else f"lines {line} to {last_line}"
        return InvalidMessage(
            f"line {line} opens a quoted field that is not closed before the end of the "
            f"file, so {span} could not be read as a row; the file may be truncated, or "
            "a closing quote is missing."
        )
    return InvalidMessage(
        f"line {line} is not valid CSV ({error}); a quoted field must end with a quote "
        "followed by a comma or the end of the line, and a quote inside quoted text is "
        'written twice ("").'
    )


def read_campaign(path: Path, *, region: str | None = None) -> list[CampaignRow]:
    """Read and validate every row of the CSV file at ``path``.

    A row that cannot become an ``Sms`` (an invalid number, an empty text, a
    repeated ``client_ref``, a wrong number of fields, a quoted field that is
    not closed) is returned with its error instead of stopping the read. Text
    is kept exactly as written.

    Raises:
        UsageError: the file cannot be read, is not UTF-8 CSV, has a field
            longer than the csv module's limit, or its header lacks ``phone``
            or ``text`` or names an unknown column.
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
        lines = _RecordingLines(handle)
        # strict=True turns text after a closing quote and an unclosed quote
        # at the end of the file into errors; the lenient reader would drop
        # the quotes or send the rest of the file as one text.
        reader = csv.reader(lines, strict=True)
        line = 1
        try:
            columns = _check_header(path, next(reader, None))
            lines.take()
            while True:
                # A quoted field may span lines: report where the row starts.
                line = reader.line_num + 1
                try:
                    record = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    if "field limit" in str(error):
                        raise  # where the next row starts is unknown: reject the file
                    # The reader drops the rest of the bad line and starts the
                    # next record on the next line, as the lenient reader would.
                    unreadable = _unreadable_row(line, reader.line_num, lines, error)
                    rows.append(CampaignRow(line, {}, None, unreadable, lines.take()))
                    continue
                raw = lines.take()
                if not any(value.strip() for value in record):
                    continue  # blank lines between rows carry no message
                if len(record) != len(columns):
                    shape_error = _shape_error(line, record, columns)
                    rows.append(CampaignRow(line, {}, None, shape_error, raw))
                    continue
                fields = dict(zip(columns, record, strict=True))
                rows.append(_build_row(line, fields, region, seen_refs))
        except UnicodeDecodeError:
            raise UsageError(
                f"{path} is not UTF-8 text; save it as 'CSV UTF-8' and try again."
            ) from None
        except csv.Error as error:
            if "field limit" in str(error):
                raise UsageError(
                    f"{path}, line {line}: a field is longer than {csv.field_size_limit()} "
                    "characters, the limit of Python's csv module. No SMS text is that "
                    "long, so a closing quote is probably missing in the row that starts "
                    "on this line."
                ) from None
            raise UsageError(f"{path}, line {line}: malformed CSV ({error}).") from None
    return rows


# --- writing ---


def _failed_record(failed: FailedRow) -> dict[str, str]:
    row = failed.row
    fields = row.fields
    client_ref = fields.get("client_ref", "")
    if row.message is not None:
        # Keep a generated client_ref, so a resend of this file reuses it.
        client_ref = row.message.client_ref
    if row.duplicate_client_ref:
        # A resend must not reuse the ref another accepted row carries.
        client_ref = ""
    return {
        "line": str(row.line),
        "phone": fields.get("phone", ""),
        "text": fields.get("text", ""),
        "client_ref": client_ref,
        "sender": fields.get("sender", ""),
        "error_type": failed.error_type,
        "error_message": failed.error_message,
        "raw": row.raw or fields.get("raw", ""),
        "duplicate_client_ref": row.duplicate_client_ref,
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
