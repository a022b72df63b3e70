"""``/message/sms/send``, ``send-batch`` and ``send-global``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from notifier import mask_phone

from ._config import SimulatorConfig
from ._http import (
    ApiError,
    authenticate,
    business_error,
    read_fields,
    read_json,
    require,
    simulator_state,
    validation_error,
)
from ._prices import country_price
from ._state import Account, Draft, InsufficientBalance, SimulatorState
from ._text import encode_text, text_refusal

__all__ = ["send", "send_batch", "send_global"]

logger = logging.getLogger("notifier.eskiz.simulator")

_WAITING = "Waiting for SMS provider"

Handler = Callable[[Request], Awaitable[Response]]


def _counts_rejections(handler: Handler) -> Handler:
    """Count every error response of a send endpoint in ``stats.rejected_sends``."""

    async def counted(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError:
            simulator_state(request).stats.increment("rejected_sends")
            raise

    counted.__name__ = handler.__name__
    counted.__doc__ = handler.__doc__
    return counted


def _local_phone(value: str, config: SimulatorConfig, field: str) -> str:
    phone = value.strip()
    if not (phone.isascii() and phone.isdigit()):
        raise validation_error(
            config, f"{field} must contain only digits, country code first, without '+'"
        )
    if config.send_requires_uz:
        if len(phone) != 12 or not phone.startswith("998"):
            raise validation_error(config, f"{field} must be 12 digits starting with 998")
    elif not 7 <= len(phone) <= 15:
        raise validation_error(config, f"{field} must be 7 to 15 digits")
    return phone


def _global_phone(value: str, config: SimulatorConfig) -> str:
    phone = value.strip()
    if not (phone.isascii() and phone.isdigit() and 7 <= len(phone) <= 15):
        raise validation_error(
            config, "mobile_phone must be 7 to 15 digits, country code first, without '+'"
        )
    return phone


def _nick(account: Account, value: str | None, config: SimulatorConfig) -> str:
    if not value:
        if config.from_required:
            raise validation_error(config, "from is required")
        return account.nicks[0]
    if value not in account.nicks:
        raise business_error(400, f"Sender name {value!r} is not approved for this account")
    return value


def _check_text(state: SimulatorState, account: Account, text: str) -> None:
    refusal = text_refusal(state, account, text)
    if refusal is not None:
        raise business_error(400, refusal)


def _store(
    state: SimulatorState, account: Account, drafts: list[Draft], **options: Any
) -> tuple[str, int]:
    try:
        request_id, stored = state.store_messages(account, drafts, **options)
    except InsufficientBalance as exc:
        logger.info(
            "Rejected a send of %d message(s): balance %d UZS, cost %d UZS",
            len(drafts),
            exc.balance,
            exc.cost,
        )
        raise ApiError(
            state.config.insufficient_balance_status,
            {"status": "error", "message": "Недостаточно средств на балансе"},
        ) from None
    for message in stored:
        logger.info(
            "Accepted message %d to %s: %d part(s), encoding %d",
            message.id,
            mask_phone(message.to),
            message.parts,
            message.encoding,
        )
    return request_id, len(stored)


@_counts_rejections
async def send(request: Request) -> Response:
    account, _ = authenticate(request)
    state = simulator_state(request)
    config = state.config
    fields = await read_fields(request, config)
    phone = _local_phone(require(fields, "mobile_phone", config), config, "mobile_phone")
    text = require(fields, "message", config)
    nick = _nick(account, fields.get("from"), config)
    _check_text(state, account, text)
    parts, encoding = encode_text(text)
    draft = Draft(
        phone, text, parts, encoding, config.price_per_part, fields.get("user_sms_id") or None
    )
    request_id, _ = _store(
        state,
        account,
        [draft],
        nick=nick,
        international=False,
        country_code="UZ",
        callback_url=fields.get("callback_url") or None,
    )
    return JSONResponse({"id": request_id, "message": _WAITING, "status": config.send_status_text})


def _batch_dispatch_id(value: Any, config: SimulatorConfig) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise validation_error(config, "dispatch_id must be an integer")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise validation_error(config, "dispatch_id must be an integer")
        return int(value)
    return value


@_counts_rejections
async def send_batch(request: Request) -> Response:
    account, _ = authenticate(request)
    state = simulator_state(request)
    config = state.config
    data = await read_json(request, config)
    if not isinstance(data, dict):
        raise validation_error(config, "The JSON body must be an object with 'messages'")
    items = data.get("messages")
    if not isinstance(items, list) or not items:
        raise validation_error(config, "messages is required and must be a non-empty list")
    if len(items) > config.batch_limit:
        raise validation_error(
            config,
            f"Too many messages in one batch: {len(items)}; the maximum is {config.batch_limit}",
        )
    sender = data.get("from")
    nick = _nick(account, str(sender) if sender not in (None, "") else None, config)
    dispatch_id = _batch_dispatch_id(data.get("dispatch_id"), config)
    callback_url = data.get("callback_url")
    if callback_url is not None and not isinstance(callback_url, str):
        raise validation_error(config, "callback_url must be a string")

    drafts = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise validation_error(config, f"messages[{index}] must be an object")
        to = item.get("to")
        if isinstance(to, bool) or not isinstance(to, (int, str)) or to == "":
            raise validation_error(config, f"messages[{index}].to is required")
        phone = _local_phone(str(to), config, f"messages[{index}].to")
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            raise validation_error(config, f"messages[{index}].text is required")
        _check_text(state, account, text)
        user_sms_id = item.get("user_sms_id")
        parts, encoding = encode_text(text)
        drafts.append(
            Draft(
                phone,
                text,
                parts,
                encoding,
                config.price_per_part,
                None if user_sms_id in (None, "") else str(user_sms_id),
            )
        )
    request_id, count = _store(
        state,
        account,
        drafts,
        nick=nick,
        international=False,
        country_code="UZ",
        dispatch_id=dispatch_id,
        callback_url=callback_url or None,
    )
    return JSONResponse(
        {"id": request_id, "message": _WAITING, "status": [config.send_status_text] * count}
    )


@_counts_rejections
async def send_global(request: Request) -> Response:
    account, _ = authenticate(request)
    state = simulator_state(request)
    config = state.config
    fields = await read_fields(request, config)
    phone = _global_phone(require(fields, "mobile_phone", config), config)
    text = require(fields, "message", config)
    country_code = require(fields, "country_code", config).strip().upper()
    if len(country_code) != 2 or not country_code.isalpha():
        raise validation_error(config, "country_code must be an ISO 3166 alpha-2 code such as 'KZ'")
    unicode_flag = fields.get("unicode", "0")
    if unicode_flag not in ("0", "1"):
        raise validation_error(config, "unicode must be '0' or '1'")
    served = country_price(country_code)
    if served is None:
        raise business_error(400, f"Country {country_code} is not served")
    _, price = served
    _check_text(state, account, text)
    parts, encoding = encode_text(text, force_unicode=unicode_flag == "1")
    draft = Draft(phone, text, parts, encoding, price)
    request_id, _ = _store(
        state,
        account,
        [draft],
        nick=None,
        international=True,
        country_code=country_code,
        callback_url=fields.get("callback_url") or None,
    )
    return JSONResponse({"id": request_id, "message": _WAITING, "status": config.send_status_text})
