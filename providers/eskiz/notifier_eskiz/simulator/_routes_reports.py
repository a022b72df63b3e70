"""Status and report endpoints: ``status_by_id``, message lists and totals."""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._clock import TASHKENT, format_iso, format_tashkent
from ._config import SimulatorConfig
from ._http import ApiError, authenticate, read_fields, require, simulator_state, validation_error
from ._messages import StoredMessage
from ._prices import country_price, operator_of

__all__ = [
    "dispatch_status",
    "message_row",
    "status_by_id",
    "user_messages",
    "user_messages_by_dispatch",
    "user_totals",
]

_NOT_FOUND = {"status": "error", "message": "Not found"}
_DELIVERED = frozenset({"DELIVERED"})
# English month abbreviations, independent of the process locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def message_row(message: StoredMessage) -> dict[str, Any]:
    """The JSON object Eskiz returns for one message."""
    parts = {
        f"{message.id:08x}{index:02x}": {
            "dlr_state": message.dlr_state,
            "accepted": message.accepted_at is not None,
            "part_index": index,
            "accept_time": _local_or_none(message.accepted_at),
            "dlr_time": _local_or_none(message.finished_at),
            "accept_status": 0,
        }
        for index in range(message.parts)
    }
    if message.international:
        served = country_price(message.country_code)
        country_id: int | None = served[0] if served else None
        smsc_data: dict[str, Any] = {"smsc_id": 0, "name": "global"}
    else:
        country_id = None
        smsc_data = operator_of(message.to)
    return {
        "id": message.id,
        "user_id": message.account_id,
        "country_id": country_id,
        "dispatch_id": message.dispatch_id,
        "user_sms_id": message.user_sms_id,
        "request_id": message.request_id,
        "price": message.price,
        "total_price": message.total_price,
        "is_ad": message.is_ad,
        "nick": message.nick,
        "to": message.to,
        "message": message.text,
        "encoding": message.encoding,
        "parts_count": message.parts,
        "parts": parts,
        "status": message.status,
        "smsc_data": smsc_data,
        "sent_at": format_iso(message.accepted_at) if message.accepted_at else None,
        "created_at": format_iso(message.created_at),
        "updated_at": format_iso(message.updated_at),
    }


def _local_or_none(timestamp: float | None) -> str | None:
    return None if timestamp is None else format_tashkent(timestamp)


async def status_by_id(request: Request) -> Response:
    account, _ = authenticate(request)
    state = simulator_state(request)
    key = str(request.path_params["message_id"])
    message: StoredMessage | None = None
    if key.isascii() and key.isdigit():
        message = state.message(int(key))
    else:
        try:
            request_id = str(uuid.UUID(key))
        except ValueError:
            request_id = ""
        found = state.messages_of_request(request_id) if request_id else []
        oldest = state.clock.now() - state.config.uuid_lookup_days * 86400
        # A request UUID only finds messages of the last uuid_lookup_days days.
        if found and found[0].created_at >= oldest:
            message = found[0]
    if message is None or message.account_id != account.id:
        raise ApiError(404, _NOT_FOUND)
    return JSONResponse({"status": "success", "data": message_row(message), "id": None})


def _parse_local_date(value: str, name: str, config: SimulatorConfig) -> tuple[float, float]:
    """Parse a Tashkent local date; return the first and last second it covers."""
    text = value.strip()
    formats = (("%Y-%m-%d %H:%M:%S", 1), ("%Y-%m-%d %H:%M", 60), ("%Y-%m-%d", 86400))
    for pattern, span in formats:
        try:
            moment = datetime.strptime(text, pattern).replace(tzinfo=TASHKENT)
        except ValueError:
            continue
        start = moment.timestamp()
        return start, start + span
    raise validation_error(config, f"{name} must have the form YYYY-MM-DD HH:MM, got {text!r}")


def _int_field(value: str | None, name: str, default: int, config: SimulatorConfig) -> int:
    if value is None or value.strip() == "":
        return default
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise validation_error(config, f"{name} must be an integer, got {text!r}")
    return int(text)


def _page_size(value: str | None, name: str, high: int, config: SimulatorConfig) -> int:
    size = _int_field(value, name, 20, config)
    if not 20 <= size <= high:
        raise validation_error(config, f"{name} must be between 20 and {high}, got {size}")
    return size


def _status_filter(request: Request, config: SimulatorConfig) -> Callable[[StoredMessage], bool]:
    wanted = request.query_params.get("status", "").strip().lower()
    if wanted == "":
        return lambda message: True
    if wanted == "delivered":
        return lambda message: message.status in _DELIVERED
    if wanted == "rejected":
        # NOTE: Eskiz does not say which states "rejected" covers; the
        # simulator counts every final state other than delivered.
        return lambda message: message.is_final and message.status not in _DELIVERED
    raise validation_error(
        config, f"status must be empty, 'delivered' or 'rejected', got {wanted!r}"
    )


def _ad_filter(value: str | None, config: SimulatorConfig) -> Callable[[StoredMessage], bool]:
    if value is None or value.strip() == "":
        return lambda message: True
    if value.strip() not in ("0", "1"):
        raise validation_error(config, f"is_ad must be '0' or '1', got {value!r}")
    wanted = value.strip() == "1"
    return lambda message: message.is_ad is wanted


def _status_totals(messages: Iterable[StoredMessage]) -> list[dict[str, Any]]:
    totals = Counter(message.status for message in messages)
    return [{"status": status, "total": total} for status, total in sorted(totals.items())]


def _paginate(
    request: Request, rows: list[StoredMessage], per_page: int, config: SimulatorConfig
) -> dict[str, Any]:
    """Build a Laravel length-aware paginator with the rows under ``result``, as Eskiz sends it."""
    page = max(_int_field(request.query_params.get("page"), "page", 1, config), 1)
    total = len(rows)
    last_page = max(math.ceil(total / per_page), 1)
    first = (page - 1) * per_page
    items = rows[first : first + per_page]
    path = str(request.url.replace(query=""))
    return {
        "current_page": page,
        "result": [message_row(message) for message in items],
        "first_page_url": f"{path}?page=1",
        "from": first + 1 if items else None,
        "last_page": last_page,
        "last_page_url": f"{path}?page={last_page}",
        "next_page_url": f"{path}?page={page + 1}" if page < last_page else None,
        "path": path,
        "per_page": per_page,
        "prev_page_url": f"{path}?page={page - 1}" if page > 1 else None,
        "to": first + len(items) if items else None,
        "total": total,
    }


def _newest_first(messages: list[StoredMessage]) -> list[StoredMessage]:
    return sorted(messages, key=lambda message: message.id, reverse=True)


async def user_messages(request: Request) -> Response:
    account, _ = authenticate(request)
    state = simulator_state(request)
    config = state.config
    fields = await read_fields(request, config)
    start, _ = _parse_local_date(require(fields, "start_date", config), "start_date", config)
    # Clients send the end of the range as to_date (documented) or end_date.
    end_name = "to_date" if fields.get("to_date", "").strip() else "end_date"
    if not fields.get(end_name, "").strip():
        raise validation_error(config, "to_date is required")
    _, end = _parse_local_date(fields[end_name], end_name, config)
    by_status = _status_filter(request, config)
    by_ad = _ad_filter(fields.get("is_ad"), config)
    count_only = fields.get("count", "").strip() == "1"
    page_size = 20 if count_only else _page_size(fields.get("page_size"), "page_size", 200, config)
    rows = state.messages(
        lambda message: (
            message.account_id == account.id
            and start <= message.created_at < end
            and by_status(message)
            and by_ad(message)
        )
    )
    if count_only:
        return JSONResponse({"status": "success", "data": _status_totals(rows), "id": None})
    data = _paginate(request, _newest_first(rows), page_size, config)
    return JSONResponse({"status": "success", "data": data, "id": None})


async def user_messages_by_dispatch(request: Request) -> Response:
    account, _ = authenticate(request)
    state = simulator_state(request)
    config = state.config
    fields = await read_fields(request, config)
    dispatch_id = _int_field(require(fields, "dispatch_id", config), "dispatch_id", 0, config)
    by_status = _status_filter(request, config)
    by_ad = _ad_filter(fields.get("is_ad"), config)
    count_only = fields.get("count", "").strip() == "1"
    # This endpoint spells the page size with a dash, in the query string.
    page_size = 20
    if not count_only:
        page_size = _page_size(request.query_params.get("page-size"), "page-size", 1000, config)
    rows = state.messages(
        lambda message: (
            message.account_id == account.id
            and message.dispatch_id == dispatch_id
            and by_status(message)
            and by_ad(message)
        )
    )
    if count_only:
        return JSONResponse({"status": "success", "data": _status_totals(rows), "id": None})
    data = _paginate(request, _newest_first(rows), page_size, config)
    return JSONResponse({"status": "success", "data": data, "id": None})


async def dispatch_status(request: Request) -> Response:
    account, _ = authenticate(request)
    state = simulator_state(request)
    config = state.config
    fields = await read_fields(request, config)
    dispatch_id = _int_field(require(fields, "dispatch_id", config), "dispatch_id", 0, config)
    user_id = _int_field(fields.get("user_id"), "user_id", account.id, config)
    if user_id != account.id:
        # Another user's dispatch is invisible, as if it did not exist.
        return JSONResponse({"status": "success", "data": [], "id": None})
    rows = state.messages(
        lambda message: message.account_id == account.id and message.dispatch_id == dispatch_id
    )
    return JSONResponse({"status": "success", "data": _status_totals(rows), "id": None})


async def user_totals(request: Request) -> Response:
    account, _ = authenticate(request)
    state = simulator_state(request)
    config = state.config
    fields = await read_fields(request, config)
    year = _int_field(require(fields, "year", config), "year", 0, config)
    month = _int_field(require(fields, "month", config), "month", 0, config)
    if not 1 <= month <= 12:
        raise validation_error(config, f"month must be between 1 and 12, got {month}")
    international = fields.get("is_global", "0").strip() == "1"
    start = datetime(year, month, 1, tzinfo=TASHKENT)
    end = (start + timedelta(days=32)).replace(day=1)
    rows = state.messages(
        lambda message: (
            message.account_id == account.id
            and message.international is international
            and start.timestamp() <= message.created_at < end.timestamp()
        )
    )
    packets: Counter[str] = Counter()
    for message in rows:
        packets[message.status] += message.parts
    month_name = _MONTHS[month - 1]
    data = [
        {"status": status, "month": month_name, "packets": total}
        for status, total in sorted(packets.items())
    ]
    return JSONResponse({"status": "success", "data": data, "id": None})
