"""The reason hint for Eskiz business errors, chosen from the words of the response."""

from __future__ import annotations

import pytest

from notifier_eskiz._rejections import rejection_reason
from notifier_eskiz.simulator._text import MODERATION_REFUSAL, TRIAL_REFUSAL


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        (400, "Недостаточно средств на балансе", "balance is too low"),
        (402, "insufficient balance", "balance is too low"),
        (400, "sender name 'notmine' is not approved for this account", "sender name"),
        (400, "ник отправителя не найден", "sender name"),
        (400, "nick 'shop' is under moderation", "sender name"),
        (400, MODERATION_REFUSAL.lower(), "did not pass moderation"),
        (400, TRIAL_REFUSAL.lower(), "trial account"),
        (400, "country fr is not served", "does not deliver to this country"),
        (422, "mobile_phone is required", "missing or invalid"),
        (400, "поле message обязательно", "missing or invalid"),
        (402, "payment required", "payment required"),
        (403, "forbidden", "may not use this endpoint"),
        (400, "bad request", "does not recognise"),
    ],
    ids=[
        "balance-ru",
        "balance-en",
        "sender-en",
        "sender-ru",
        "sender-before-moderation",
        "moderation",
        "trial",
        "country",
        "validation-en",
        "validation-ru",
        "payment-required",
        "forbidden",
        "unknown",
    ],
)
def test_reason_follows_words(status: int, text: str, expected: str) -> None:
    assert expected in rejection_reason(status, text)


@pytest.mark.parametrize("status", [400, 422])
def test_unknown_reason_is_neutral(status: int) -> None:
    reason = rejection_reason(status, "bad request")

    assert "trial" not in reason
    assert "balance" not in reason
    assert "moderation" not in reason
