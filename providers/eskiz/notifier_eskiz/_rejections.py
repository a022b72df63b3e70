"""The likely reason behind an Eskiz business error, read from the words of the response.

Eskiz responds to a rejected request with HTTP 400 (sometimes 402, 403 or 422)
and ``{"status": "error", "message": "..."}``. The messages are not
documented and come in Russian or English, so the reason is guessed from
words in them. Only the hint in the error message depends on the guess:
every such response becomes a ``RejectedError`` whatever its words.
"""

from __future__ import annotations

__all__ = ["rejection_reason"]

# Lower-case word stems, checked in this order, each with the reason and fix
# it points to. The sender comes before moderation because a message about a
# sender name may mention moderation too, and submit_template() cannot fix it.
_REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("баланс", "balance", "средств", "insufficient", "недостаточно"),
        "the account balance is too low; top it up in the Eskiz cabinet",
    ),
    (
        ("sender", "nick", "отправител", "никнейм"),
        "the sender name is not approved for this account; use one of the names that "
        "nicks() returns as Sms.sender or ESKIZ_SENDER (4546 works on every account)",
    ),
    (
        ("модерац", "moderat", "шаблон", "template"),
        "the text did not pass moderation; submit it with submit_template() and wait for approval",
    ),
    (
        ("тестов", "trial", "test account", "test from eskiz", "eskiz dan test"),
        "a trial account may send only Eskiz's three test texts ('Bu Eskiz dan test', "
        "'Это тест от Eskiz', 'This is test from Eskiz'); other texts need a paid account",
    ),
    (
        ("country", "стран"),
        "Eskiz does not deliver to this country for this account; send these numbers "
        "through another provider",
    ),
)

# Words of a validation error. They are checked after the status, because
# "payment required" (402) is about the balance, not a field.
_FIELD_WORDS = ("required", "must be", "invalid", "обязател", "неверн", "некоррект")


def rejection_reason(status: int, text: str) -> str:
    """Return the likely reason and fix for an Eskiz error response, for an error message.

    ``text`` is the response's message in lower case, without the message
    body: a vendor's echo of the body must not choose the reason.
    """
    for words, reason in _REASONS:
        if any(word in text for word in words):
            return reason
    if status == 402:
        return "payment required; check the account balance in the Eskiz cabinet"
    if status == 403:
        return "the account may not use this endpoint"
    if any(word in text for word in _FIELD_WORDS):
        return "a field of the request is missing or invalid; the response names it"
    return "Eskiz gave a reason this library does not recognise; read it in the response"
