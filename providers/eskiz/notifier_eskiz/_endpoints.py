"""The Eskiz endpoints besides sending: status, reports, account, templates, utilities.

``EskizEndpoints`` is a base class of ``EskizProvider``. It only describes
requests and parses responses, because the HTTP sequence (retries, spans,
token) comes from ``HttpProvider``. Every call here is a read or has no side effect
worth guarding, so all of them are idempotent and retried on any transient
failure, except ``submit_template``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import date, datetime, time
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from notifier import InvalidMessage
from notifier._http import HttpCall, HttpProvider

from ._callbacks import TASHKENT
from ._models import (
    EskizMessage,
    EskizTemplate,
    EskizUser,
    MonthlyTotal,
    NormalizedText,
    Prices,
    StatusTotal,
    TemplateSubmission,
    TextCheck,
)

__all__ = ["EskizEndpoints", "MessageListStatus"]

MessageListStatus = Literal["delivered", "rejected"]
"""The values Eskiz accepts in the ``status`` filter of the message lists."""

_ModelT = TypeVar("_ModelT", bound=BaseModel)
_DIGITS = re.compile(r"\d{1,20}")


def format_eskiz_time(value: datetime | date) -> str:
    """Format a range bound as Eskiz expects it: Tashkent local time, ``%Y-%m-%d %H:%M``.

    An aware datetime is converted to Tashkent time; a naive one is taken as
    Tashkent time already; a date means its midnight.
    """
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.min)
    if value.tzinfo is not None:
        value = value.astimezone(TASHKENT)
    return value.strftime("%Y-%m-%d %H:%M")


def _check_page_size(page_size: int, high: int) -> None:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 20 <= page_size <= high:
        raise InvalidMessage(
            f"page_size must be an integer from 20 to {high}, got {page_size!r}; "
            f"Eskiz rejects other page sizes."
        )


def _check_status_filter(status: str | None) -> None:
    if status not in (None, "delivered", "rejected"):
        raise InvalidMessage(
            f"status filter must be None, 'delivered' or 'rejected', got {status!r}."
        )


def _dispatch_id(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidMessage(f"dispatch_id must be a non-negative integer, got {value!r}.")
    return str(value)


def _flag(value: bool) -> str:
    return "1" if value else "0"


class EskizEndpoints(HttpProvider):
    """Typed methods for every Eskiz endpoint that does not send a message."""

    display_name = "Eskiz"

    # -- parsing helpers -------------------------------------------------------

    def _data(self, response: httpx.Response, call: HttpCall) -> Any:
        """Return the ``data`` member of the common ``{"status","data","id"}`` envelope."""
        body = self._json(response, call)
        if not isinstance(body, Mapping) or "data" not in body:
            raise self._unexpected(response, call, "no 'data' member")
        return body["data"]

    def _model(
        self, model: type[_ModelT], value: Any, response: httpx.Response, call: HttpCall
    ) -> _ModelT:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            fields = ", ".join(
                ".".join(str(part) for part in error["loc"]) or "body"
                for error in exc.errors(include_input=False, include_url=False)
            )
            raise self._unexpected(response, call, f"invalid {model.__name__} ({fields})") from None

    def _models(
        self, model: type[_ModelT], value: Any, response: httpx.Response, call: HttpCall
    ) -> list[_ModelT]:
        if not isinstance(value, list):
            raise self._unexpected(response, call, f"expected a list of {model.__name__}")
        return [self._model(model, item, response, call) for item in value]

    async def _read(self, call: HttpCall) -> tuple[httpx.Response, Any]:
        response = await self._request(call)
        return response, self._json(response, call)

    # -- status and reports ----------------------------------------------------

    async def get_status(self, message_id: str | int) -> EskizMessage:
        """Return one message by its numeric SMS id or its request UUID.

        ``SendResult.message_id`` of ``send`` is the request UUID; Eskiz finds
        messages by UUID for 30 days only.

        Raises:
            InvalidMessage: ``message_id`` is neither digits nor a UUID.
            MessageNotFound: Eskiz has no such message for this account.
        """
        key = str(message_id).strip()
        if not _DIGITS.fullmatch(key):
            try:
                key = str(uuid.UUID(key))
            except ValueError:
                raise InvalidMessage(
                    f"Eskiz message id {str(message_id)[:40]!r} is neither a numeric SMS id "
                    "nor a request UUID; pass SendResult.message_id or the id from a report."
                ) from None
        call = HttpCall(
            "GET",
            f"/message/sms/status_by_id/{key}",
            operation="status",
            idempotent=True,
            path_template="/message/sms/status_by_id/{id}",
        )
        response = await self._request(call)
        return self._model(EskizMessage, self._data(response, call), response, call)

    async def iter_messages(
        self,
        start: datetime | date,
        end: datetime | date,
        *,
        status: MessageListStatus | None = None,
        page_size: int = 200,
        is_ad: bool | None = None,
    ) -> AsyncIterator[EskizMessage]:
        """Yield the messages sent between ``start`` and ``end``, page by page, newest first.

        Bounds are read as described in ``format_eskiz_time``. ``status``
        filters by outcome; ``page_size`` (20 to 200) sets the rows fetched
        per request; ``is_ad`` keeps only advertising (``True``) or service
        (``False``) messages.
        """
        _check_status_filter(status)
        _check_page_size(page_size, 200)
        fields = {
            "start_date": format_eskiz_time(start),
            "to_date": format_eskiz_time(end),
            "page_size": str(page_size),
        }
        if is_ad is not None:
            fields["is_ad"] = _flag(is_ad)
        async for message in self._paginate(
            "/message/sms/get-user-messages", "messages", fields, status, {}
        ):
            yield message

    async def message_totals(
        self,
        start: datetime | date,
        end: datetime | date,
        *,
        status: MessageListStatus | None = None,
        is_ad: bool | None = None,
    ) -> list[StatusTotal]:
        """Return how many messages sent between ``start`` and ``end`` are in each status."""
        _check_status_filter(status)
        fields = {
            "start_date": format_eskiz_time(start),
            "to_date": format_eskiz_time(end),
            "count": "1",
        }
        if is_ad is not None:
            fields["is_ad"] = _flag(is_ad)
        call = HttpCall(
            "POST",
            "/message/sms/get-user-messages",
            operation="message_totals",
            idempotent=True,
            multipart=fields,
            params={"status": status} if status else None,
        )
        response = await self._request(call)
        return self._models(StatusTotal, self._data(response, call), response, call)

    async def dispatch_messages(
        self,
        dispatch_id: int,
        *,
        status: MessageListStatus | None = None,
        page_size: int = 200,
        is_ad: bool | None = None,
    ) -> AsyncIterator[EskizMessage]:
        """Yield the messages of one dispatch (see ``send_batch``), page by page.

        ``page_size`` may be 20 to 1000 here; Eskiz reads it from the query
        string as ``page-size``, with a dash.
        """
        _check_status_filter(status)
        _check_page_size(page_size, 1000)
        fields = {"dispatch_id": _dispatch_id(dispatch_id)}
        if is_ad is not None:
            fields["is_ad"] = _flag(is_ad)
        async for message in self._paginate(
            "/message/sms/get-user-messages-by-dispatch",
            "dispatch_messages",
            fields,
            status,
            {"page-size": str(page_size)},
        ):
            yield message

    async def _paginate(
        self,
        path: str,
        operation: str,
        fields: dict[str, str],
        status: str | None,
        query: dict[str, str],
    ) -> AsyncIterator[EskizMessage]:
        page = 1
        while True:
            params = dict(query, page=str(page))
            if status:
                params["status"] = status
            call = HttpCall(
                "POST", path, operation=operation, idempotent=True, multipart=fields, params=params
            )
            response = await self._request(call)
            data = self._data(response, call)
            if not isinstance(data, Mapping) or not isinstance(data.get("result"), list):
                raise self._unexpected(response, call, "no paginator with 'result' rows")
            for row in data["result"]:
                yield self._model(EskizMessage, row, response, call)
            last_page = data.get("last_page")
            if not isinstance(last_page, int) or page >= last_page or not data["result"]:
                return
            page += 1

    async def dispatch_status(self, dispatch_id: int) -> list[StatusTotal]:
        """Return how many messages of one dispatch are in each status.

        The endpoint needs the account's user id, read once through ``user()``.
        """
        dispatch = _dispatch_id(dispatch_id)
        user = await self.user()
        call = HttpCall(
            "POST",
            "/message/sms/get-dispatch-status",
            operation="dispatch_status",
            idempotent=True,
            multipart={"user_id": str(user.id), "dispatch_id": dispatch},
        )
        response = await self._request(call)
        return self._models(StatusTotal, self._data(response, call), response, call)

    async def totals(self, year: int, month: int, *, is_global: bool = False) -> list[MonthlyTotal]:
        """Return the SMS parts sent in one month by status; ``is_global`` for abroad."""
        if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
            raise InvalidMessage(f"month must be an integer from 1 to 12, got {month!r}.")
        if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 9999:
            raise InvalidMessage(f"year must be a four-digit integer, got {year!r}.")
        call = HttpCall(
            "POST",
            "/user/totals",
            operation="totals",
            idempotent=True,
            # The only endpoint documented with a urlencoded body.
            form={"year": str(year), "month": str(month), "is_global": _flag(is_global)},
        )
        response = await self._request(call)
        return self._models(MonthlyTotal, self._data(response, call), response, call)

    # -- account ---------------------------------------------------------------

    async def balance(self) -> int:
        """Return the account balance in UZS."""
        call = HttpCall("GET", "/user/get-limit", operation="balance", idempotent=True)
        response = await self._request(call)
        data = self._data(response, call)
        balance = data.get("balance") if isinstance(data, Mapping) else None
        if isinstance(balance, bool) or not isinstance(balance, (int, float)):
            raise self._unexpected(response, call, "no numeric 'balance'")
        return int(balance)

    async def user(self) -> EskizUser:
        """Return the account the provider is logged in to."""
        call = HttpCall("GET", "/auth/user", operation="user", idempotent=True)
        response = await self._request(call)
        return self._model(EskizUser, self._data(response, call), response, call)

    async def nicks(self) -> list[str]:
        """Return the sender names (``from``) the account may use."""
        call = HttpCall("GET", "/nick/me", operation="nicks", idempotent=True)
        response, body = await self._read(call)
        # A bare JSON array, unlike every other endpoint.
        if not isinstance(body, list) or not all(isinstance(nick, str) for nick in body):
            raise self._unexpected(response, call, "expected a list of sender names")
        return list(body)

    # -- templates -------------------------------------------------------------

    async def templates(self) -> list[EskizTemplate]:
        """Return the templates submitted for moderation, with their status."""
        call = HttpCall("GET", "/user/templates", operation="templates", idempotent=True)
        response, body = await self._read(call)
        if not isinstance(body, Mapping):
            raise self._unexpected(response, call, "expected an object with 'result'")
        return self._models(EskizTemplate, body.get("result"), response, call)

    async def submit_template(self, text: str) -> TemplateSubmission:
        """Submit ``text`` for moderation; paid accounts may only send approved texts.

        Not retried after a timeout, so a template is never submitted twice.
        """
        if not text.strip():
            raise InvalidMessage("Template text is empty; pass the text to submit.")
        call = HttpCall(
            "POST",
            "/user/template",
            operation="submit_template",
            idempotent=False,
            multipart={"template": text},
            sensitive=(text,),
        )
        response, body = await self._read(call)
        return self._model(TemplateSubmission, body, response, call)

    # -- utilities -------------------------------------------------------------

    async def check(self, text: str) -> TextCheck:
        """Return Eskiz's verdict on ``text``: parts, price and whether it may be sent.

        Eskiz documents this as GET, but only routes POST with a JSON body.
        """
        call = HttpCall(
            "POST",
            "/message/sms/check",
            operation="check",
            idempotent=True,
            json={"message": text},
            sensitive=(text,),
        )
        response = await self._request(call)
        return self._model(TextCheck, self._data(response, call), response, call)

    async def normalize(self, text: str) -> NormalizedText:
        """Return ``text`` rewritten by Eskiz's normalizer, with the characters it flagged.

        The message passed to ``send`` is never changed by the library; call
        this to see what Eskiz suggests and send the result yourself.
        """
        call = HttpCall(
            "POST",
            "/message/sms/normalizer",
            operation="normalize",
            idempotent=True,
            multipart={"message": text},
            sensitive=(text,),
        )
        response, body = await self._read(call)
        return self._model(NormalizedText, body, response, call)

    async def prices(self) -> Prices:
        """Return Eskiz's price list per part: local operators and foreign countries."""
        call = HttpCall("GET", "/user/prices", operation="prices", idempotent=True)
        response, body = await self._read(call)
        return self._model(Prices, body, response, call)
