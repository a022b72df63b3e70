"""The price list ``GET /user/prices`` returns and ``send-global`` bills by.

NOTE: the prices are placeholders in the shape Eskiz publishes, not its
tariff. Amounts are UZS per SMS part.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GLOBAL_PRICES", "country_price", "local_operators", "operator_of"]

GLOBAL_PRICES: tuple[dict[str, Any], ...] = (
    {"code": "us", "name": "United States", "prefix": "1", "status": "active", "price": 112},
    {"code": "ru", "name": "Russia", "prefix": "7", "status": "active", "price": 380},
    {"code": "kz", "name": "Kazakhstan", "prefix": "7", "status": "active", "price": 290},
    {"code": "kg", "name": "Kyrgyzstan", "prefix": "996", "status": "active", "price": 330},
    {"code": "tj", "name": "Tajikistan", "prefix": "992", "status": "active", "price": 420},
    {"code": "tr", "name": "Turkey", "prefix": "90", "status": "active", "price": 150},
    {"code": "gb", "name": "United Kingdom", "prefix": "44", "status": "active", "price": 210},
    {"code": "de", "name": "Germany", "prefix": "49", "status": "active", "price": 320},
)

# Uzbek operators by the two digits after 998.
_OPERATORS = (
    (1, "uzmobile", ("95", "99", "77")),
    (2, "beeline", ("90", "91")),
    (3, "ucell", ("93", "94", "50")),
    (4, "mobiuz", ("97", "88")),
    (5, "perfectum", ("98",)),
    (6, "humans", ("33",)),
)


def country_price(country_code: str) -> tuple[int, int] | None:
    """Return ``(country_id, price)`` for an ISO alpha-2 code, or None when not served."""
    for index, row in enumerate(GLOBAL_PRICES, start=1):
        if row["code"] == country_code.lower():
            return index, int(row["price"])
    return None


def local_operators(price: int) -> list[dict[str, Any]]:
    return [
        {"smsc_id": smsc_id, "name": name, "price": price, "ad_price": price}
        for smsc_id, name, _ in _OPERATORS
    ]


def operator_of(phone: str) -> dict[str, Any]:
    """Return the ``smsc_data`` of an Uzbek number (digits, 998 first)."""
    code = phone[3:5]
    for smsc_id, name, codes in _OPERATORS:
        if code in codes:
            return {"smsc_id": smsc_id, "name": name}
    return {"smsc_id": 0, "name": "unknown"}
