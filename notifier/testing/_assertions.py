"""Assertions over a fake provider's outbox, with failure messages that mask numbers."""

from __future__ import annotations

from collections.abc import Sequence

from .._models import Sms
from .._phone import mask_phone, normalize_phone

__all__ = ["assert_nothing_sent", "assert_sent"]


def _describe(message: Sms) -> str:
    preview = message.body if len(message.body) <= 40 else message.body[:37] + "..."
    return f"to={message.masked_to} body={preview!r} client_ref={message.client_ref}"


def assert_sent(
    outbox: Sequence[Sms],
    *,
    to: str | None = None,
    contains: str | None = None,
    sender: str | None = None,
    client_ref: str | None = None,
    count: int | None = None,
) -> Sms:
    """Assert that ``outbox`` contains a message matching every given criterion.

    ``to`` is normalized like ``Sms.to``, so ``"90 000 00 10"`` matches
    ``+998900000010``. ``contains`` is a substring of the body. With
    ``count``, exactly that many messages must match. Returns the last
    matching message. The failure message lists the outbox with masked
    numbers.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this helper's
    wanted_to = normalize_phone(to) if to is not None else None
    matches = [
        message
        for message in outbox
        if (wanted_to is None or message.to == wanted_to)
        and (contains is None or contains in message.body)
        and (sender is None or message.sender == sender)
        and (client_ref is None or message.client_ref == client_ref)
    ]
    criteria = []
    if wanted_to is not None:
        criteria.append(f"to={mask_phone(wanted_to)}")
    if contains is not None:
        criteria.append(f"contains={contains!r}")
    if sender is not None:
        criteria.append(f"sender={sender!r}")
    if client_ref is not None:
        criteria.append(f"client_ref={client_ref!r}")
    wanted = ", ".join(criteria) or "any message"
    listing = "\n".join(f"  {_describe(message)}" for message in outbox) or "  (empty)"
    if count is not None:
        assert len(matches) == count, (
            f"expected {count} sent message(s) matching {wanted}, found {len(matches)}; "
            f"outbox:\n{listing}"
        )
    assert matches, f"no sent message matches {wanted}; outbox:\n{listing}"
    return matches[-1]


def assert_nothing_sent(outbox: Sequence[Sms]) -> None:
    """Assert that ``outbox`` is empty, listing what it contains (numbers masked) if not."""
    __tracebackhide__ = True
    listing = "\n".join(f"  {_describe(message)}" for message in outbox)
    assert not outbox, f"expected no sent messages, found {len(outbox)}:\n{listing}"
