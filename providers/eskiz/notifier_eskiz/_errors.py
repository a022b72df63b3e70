"""Errors specific to Eskiz; every one is a subclass of a ``notifier`` error."""

from __future__ import annotations

from notifier import RejectedError

__all__ = ["MessageNotFound"]


class MessageNotFound(RejectedError):
    """Eskiz has no message with this id for the account (HTTP 404 from ``status_by_id``).

    A request UUID finds messages of the last 30 days only; the numeric SMS
    id works longer. ``message_id`` is the id that was looked up.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        message_id: str,
        status_code: int | None = 404,
        response_summary: str | None = None,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            status_code=status_code,
            response_summary=response_summary,
        )
        self.message_id = message_id
