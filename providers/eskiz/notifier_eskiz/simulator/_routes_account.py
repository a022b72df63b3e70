"""Account and utility endpoints: balance, nicks, templates, prices, check, normalizer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from notifier import count_segments

from ._http import authenticate, read_fields, read_json, require, simulator_state, validation_error
from ._prices import GLOBAL_PRICES, local_operators
from ._text import (
    ENCODING_UCS2,
    RECOMMENDATIONS,
    encode_text,
    normalize_text,
    special_characters,
    text_refusal,
)

__all__ = [
    "check",
    "get_limit",
    "my_nicks",
    "normalizer",
    "prices",
    "submit_template",
    "templates",
]


async def get_limit(request: Request) -> Response:
    account, _ = authenticate(request)
    balance = simulator_state(request).balance(account.id)
    return JSONResponse({"data": {"balance": balance}, "status": "success"})


async def my_nicks(request: Request) -> Response:
    account, _ = authenticate(request)
    # A bare array, unlike every other endpoint.
    return JSONResponse(list(account.nicks))


async def submit_template(request: Request) -> Response:
    account, _ = authenticate(request)
    state = simulator_state(request)
    fields = await read_fields(request, state.config)
    text = require(fields, "template", state.config)
    template = state.submit_template(account, text)
    return JSONResponse({"template": template.text})


async def templates(request: Request) -> Response:
    account, _ = authenticate(request)
    state = simulator_state(request)
    approved = state.config.approved_template_status
    rows = [
        {
            "id": template.id,
            # NOTE: Eskiz's example shows "template" empty while in moderation; the
            # simulator fills it once the template is approved.
            "template": template.text if template.status == approved else "",
            "original_text": template.text,
            "status": template.status,
        }
        for template in state.templates(account.id)
    ]
    return JSONResponse({"success": True, "result": rows})


async def check(request: Request) -> Response:
    account, _ = authenticate(request)
    state = simulator_state(request)
    config = state.config
    data = await read_json(request, config)
    if not isinstance(data, dict) or not isinstance(data.get("message"), str):
        raise validation_error(config, "message is required")
    text: str = data["message"]

    parts, encoding = encode_text(text)
    code_units = len(text.encode("utf-16-le")) // 2
    # NOTE: for GSM-7 the simulator reports septets as bytes_count; Eskiz's
    # only example is a UCS-2 text, where bytes are two per code unit.
    bytes_count = code_units * 2 if encoding == ENCODING_UCS2 else count_segments(text).length
    refusal = text_refusal(state, account, text)

    info = {
        "smsc": 1,
        "is_ad": False,
        "price": parts * config.price_per_part,
        "is_error": False,
        "error": "",
    }
    return JSONResponse(
        {
            "status": "success",
            "data": {
                "info": [info],
                "forbidden": False,
                "can_send": refusal is None,
                "bytes_count": bytes_count,
                "chars_count": len(text),
                "parts_count": parts,
            },
            "id": None,
        }
    )


async def normalizer(request: Request) -> Response:
    authenticate(request)
    state = simulator_state(request)
    fields = await read_fields(request, state.config)
    text = require(fields, "message", state.config)
    special = special_characters(text)
    recommendations: dict[str, str] = {}
    for _, char in special:
        if char in RECOMMENDATIONS:
            recommendations.setdefault(char, RECOMMENDATIONS[char])
    return JSONResponse(
        {
            "special_characters": [
                {"position": position, "code": f"0x{ord(char):04X}", "char": char}
                for position, char in special
            ],
            "recommendations": [{"from": old, "to": new} for old, new in recommendations.items()],
            "message": normalize_text(text),
        }
    )


async def prices(request: Request) -> Response:
    authenticate(request)
    price = simulator_state(request).config.price_per_part
    return JSONResponse({"global": list(GLOBAL_PRICES), "local": local_operators(price)})
