"""``EskizProvider``: sending through Eskiz.uz, with its token lifecycle and error mapping."""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx
from opentelemetry import metrics
from pydantic import SecretStr, ValidationError

from notifier import (
    AuthenticationError,
    BatchOutcome,
    Capabilities,
    ConfigurationError,
    DeliveryReport,
    Encoding,
    InvalidMessage,
    NotifierClosed,
    ProviderError,
    ProviderUnavailable,
    RejectedError,
    RetryPolicy,
    SendResult,
    SendStatus,
    Sms,
    UnsupportedFeature,
    count_segments,
)
from notifier._http import HttpCall, HttpStats, TransportName, remove_echoes
from notifier._phone import phone_region
from notifier._segments import SegmentInfo
from notifier._settings import settings_error, settings_values

from ._auth import (
    BearerAuth,
    EskizAuth,
    InMemoryTokenStore,
    TokenState,
    TokenStore,
    token_store_key,
)
from ._callbacks import parse_delivery_report
from ._endpoints import EskizEndpoints
from ._errors import MessageNotFound
from ._rejections import rejection_reason
from ._settings import DEFAULT_BASE_URL, DEFAULT_SENDER, EskizSettings

__all__ = ["EskizProvider", "EskizStats"]

try:
    _VERSION = version("notifier-eskiz")
except PackageNotFoundError:  # a source tree that was never installed
    _VERSION = "0.0.0"

_logger = logging.getLogger("notifier.eskiz")

_meter = metrics.get_meter("notifier.eskiz", _VERSION)
_token_counter = _meter.create_counter(
    "notifier.eskiz.token.refreshes",
    unit="{token}",
    description="Eskiz tokens requested, by method (login or refresh) and outcome.",
)

DEFAULT_REFRESH_MARGIN = 24 * 3600.0
"""Seconds before a token's ``exp`` at which it is renewed (capped at half its lifetime)."""

_WAITING = "waiting"


@dataclass
class EskizStats(HttpStats):
    """Counters of one Eskiz provider since it was created.

    Attributes:
        logins: successful logins.
        refreshes: successful token refreshes.
        login_failures: logins that raised an error.
    """

    logins: int = 0
    refreshes: int = 0
    login_failures: int = 0


def _check_text_setting(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            f"EskizProvider {name} is missing or blank; set it or ESKIZ_{name.upper()}."
        )
    return value.strip()


class EskizProvider(EskizEndpoints):
    """Send SMS through Eskiz.uz.

    Args:
        email: the e-mail address of the Eskiz account.
        password: the API secret from the Eskiz cabinet, not the password of
            the web login.
        sender: the sender name (``from``) for messages that name none;
            ``"4546"`` is open to every account.
        base_url: the API root; the production service by default.
        callback_url: where Eskiz posts delivery reports for messages that
            name no URL of their own.
        timeout: seconds for each HTTP request (an ``httpx.Timeout`` sets
            connect, read, write and pool separately).
        http_client: an ``httpx.AsyncClient`` to send with; it is never closed
            by the provider.
        transport: ``"httpx"`` or ``"aiohttp"`` (needs ``notifier-eskiz[aiohttp]``).
        retry: the retry policy; ``RetryPolicy()`` by default.
        token_store: where tokens are kept; a private in-memory store by
            default. Share one store between providers of the same account
            to share its token.
        batch_size: the maximum number of messages per ``send-batch`` request. Eskiz
            publishes no limit; 500 is what its clients use.
        refresh_margin: seconds before a token's expiry at which it is
            renewed, capped at half the token's lifetime.
        clock: the current time in seconds since the epoch, for token expiry.
        limits: connection-pool limits of the owned client.
    """

    name = "eskiz"
    display_name = "Eskiz"
    capabilities = Capabilities(
        unicode=True,
        batch=True,
        max_batch_size=500,
        delivery_reports=True,
        countries=None,  # non-Uzbek numbers go through send-global
        extra={"send_global": True, "client_ref_field": "user_sms_id"},
    )
    settings_class = EskizSettings
    instrumentation_name = "notifier.eskiz"
    instrumentation_version = _VERSION
    logger_name = "notifier.eskiz"
    user_agent = f"notifier-eskiz/{_VERSION}"

    stats: EskizStats

    def __init__(
        self,
        *,
        email: str,
        password: str | SecretStr,
        sender: str = DEFAULT_SENDER,
        base_url: str = DEFAULT_BASE_URL,
        callback_url: str | None = None,
        timeout: float | httpx.Timeout = 10.0,
        http_client: httpx.AsyncClient | None = None,
        transport: TransportName = "httpx",
        retry: RetryPolicy | None = None,
        token_store: TokenStore | None = None,
        batch_size: int = 500,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
        limits: httpx.Limits | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            timeout=timeout,
            http_client=http_client,
            transport=transport,
            retry=retry,
            limits=limits,
        )
        self._email = _check_text_setting("email", email)
        secret = password if isinstance(password, SecretStr) else SecretStr(password or "")
        if not secret.get_secret_value():
            raise ConfigurationError(
                "EskizProvider password is missing; set it or ESKIZ_PASSWORD to the API "
                "secret from the Eskiz cabinet."
            )
        self._password = secret
        self.sender = _check_text_setting("sender", sender)
        if callback_url is not None and not callback_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"EskizProvider callback_url must be an http(s) URL, got {callback_url[:40]!r}."
            )
        self.callback_url = callback_url
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigurationError(f"EskizProvider batch_size must be >= 1, got {batch_size!r}.")
        self.batch_size = batch_size
        # Callers that chunk by capabilities (AsyncNotifier.send_many) must
        # see the configured size, not the class default of 500.
        self.capabilities = dataclasses.replace(type(self).capabilities, max_batch_size=batch_size)
        self._token_auth = EskizAuth(
            login=self._login,
            refresh=self._refresh_token,
            store=token_store if token_store is not None else InMemoryTokenStore(),
            store_key=token_store_key(self.base_url, self._email),
            refresh_margin=refresh_margin,
            clock=clock,
        )
        self._set_auth(self._token_auth)

    def _new_stats(self) -> EskizStats:
        return EskizStats()

    @classmethod
    def from_env(cls, **overrides: Any) -> EskizProvider:
        """Build the provider from ``ESKIZ_*`` variables and ``.env``.

        Keyword arguments override settings (``email=...``) or pass options
        that have no variable (``http_client=...``, ``retry=...``).

        Raises:
            ConfigurationError: a variable is missing or invalid; the message
                names it and never shows its value.
        """
        setting_names = set(EskizSettings.model_fields)
        given = {key: value for key, value in overrides.items() if key in setting_names}
        options = {key: value for key, value in overrides.items() if key not in setting_names}
        try:
            settings = EskizSettings(**given)
        except ValidationError as exc:
            raise settings_error(exc, "ESKIZ_", "Eskiz") from None
        return cls(**settings_values(settings), **options)

    def __repr__(self) -> str:
        return (
            f"EskizProvider(base_url={self.base_url!r}, sender={self.sender!r}, "
            f"transport={self.transport!r}, token={self.token_state.value})"
        )

    @property
    def token_state(self) -> TokenState:
        """The state of the token: absent, being acquired, valid, or closed."""
        return self._token_auth.state

    async def _on_close(self) -> None:
        self._token_auth.close()

    # -- tokens ----------------------------------------------------------------

    def _parse_token(self, response: httpx.Response, call: HttpCall) -> SecretStr:
        body = self._json(response, call)
        data = body.get("data") if isinstance(body, Mapping) else None
        token = data.get("token") if isinstance(data, Mapping) else None
        if not isinstance(token, str) or not token:
            raise self._unexpected(response, call, "no 'data.token'")
        return SecretStr(token)

    async def _login(self) -> SecretStr:
        call = HttpCall(
            "POST",
            "/auth/login",
            operation="login",
            idempotent=True,
            # No token at all: a login must never carry a Bearer header, and
            # a 401 to it is final instead of leading to another login.
            auth=None,
            form={"email": self._email, "password": self._password.get_secret_value()},
        )
        try:
            token = self._parse_token(await self._request(call), call)
        except (ProviderError, NotifierClosed) as exc:
            self.stats.login_failures += 1
            _token_counter.add(1, {"notifier.token.method": "login", "error.type": _kind(exc)})
            _logger.info("eskiz: login failed (%s)", _kind(exc))
            raise
        self.stats.logins += 1
        _token_counter.add(1, {"notifier.token.method": "login"})
        _logger.info("eskiz: logged in")
        return token

    async def _refresh_token(self, token: SecretStr) -> SecretStr:
        call = HttpCall(
            "PATCH",
            "/auth/refresh",
            operation="refresh",
            idempotent=True,
            auth=BearerAuth(token),
        )
        try:
            new_token = self._parse_token(await self._request(call), call)
        except (ProviderError, NotifierClosed) as exc:
            _token_counter.add(1, {"notifier.token.method": "refresh", "error.type": _kind(exc)})
            raise
        self.stats.refreshes += 1
        _token_counter.add(1, {"notifier.token.method": "refresh"})
        _logger.info("eskiz: refreshed the token before it expired")
        return new_token

    async def invalidate_token(self) -> None:
        """Revoke the current token at Eskiz (``DELETE /auth/invalidate``).

        The next request logs in again. Eskiz's older clients used this
        endpoint; the current service may not have it.

        Raises:
            UnsupportedFeature: Eskiz responded 404, so the endpoint is gone.
        """
        token = await self._token_auth.current_token()
        call = HttpCall(
            "DELETE",
            "/auth/invalidate",
            operation="invalidate",
            idempotent=True,
            auth=BearerAuth(token),
        )
        try:
            await self._request(call)
        except ProviderError as exc:
            if exc.status_code == 404:
                raise UnsupportedFeature(
                    "This Eskiz server has no DELETE /auth/invalidate endpoint; "
                    "tokens expire by themselves after 30 days.",
                    provider=self.name,
                    feature="invalidate_token",
                ) from exc
            raise
        await self._token_auth.discard(token)

    async def check_credentials(self) -> None:
        """Verify the e-mail and password with Eskiz without sending anything.

        Logs in, or reuses a valid stored token, and requests ``GET /auth/user``,
        a read of the account that needs a valid token. The account data is
        not parsed, so only the status of the response decides.

        Raises:
            AuthenticationError: Eskiz rejected the e-mail or password, or
                rejected a freshly issued token.
            ProviderError: Eskiz failed or could not be reached, so the
                credentials were not verified.
            NotifierClosed: the provider is closed.
        """
        call = HttpCall("GET", "/auth/user", operation="check_credentials", idempotent=True)
        await self._request(call)

    # -- sending ---------------------------------------------------------------

    async def send(self, message: Sms) -> SendResult:
        """Send one message: ``send`` for Uzbek numbers, ``send-global`` for others.

        ``message.client_ref`` goes out as ``user_sms_id`` and comes back in
        delivery callbacks. The result's ``message_id`` is Eskiz's request
        UUID, usable with ``get_status``.

        Raises:
            InvalidMessage: the number's country cannot be determined.
            UnsupportedFeature: ``message.sender`` is set for a number outside
                Uzbekistan, where Eskiz has no sender field.
            RejectedError: Eskiz refused the text (moderation, trial-account
                texts), the sender name, or the balance is too low.
            DeliveryUnknown: the request may have been processed; see
                ``RetryPolicy.resend_on_timeout``.
        """
        self._check_open()
        started = time.monotonic()
        segments = count_segments(message.body)
        call = self._send_call(message, segments)
        response = await self._request(call)
        body = self._json(response, call)
        request_id = body.get("id") if isinstance(body, Mapping) else None
        if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
            raise self._unexpected(response, call, "no request 'id'")
        status = body.get("status")
        _logger.debug(
            "eskiz: %s accepted (client_ref=%s, %d part(s), %s)",
            call.operation,
            message.client_ref,
            segments.parts,
            segments.encoding.value,
        )
        return SendResult(
            provider=self.name,
            message_id=str(request_id),
            client_ref=message.client_ref,
            status=_send_status(status),
            segments=segments.parts,
            encoding=segments.encoding,
            elapsed=time.monotonic() - started,
            raw=dict(body),
        )

    def _send_call(self, message: Sms, segments: SegmentInfo) -> HttpCall:
        region = phone_region(message.to)
        digits = message.to.lstrip("+")
        callback_url = message.callback_url or self.callback_url
        if region == "UZ":
            fields = {
                "mobile_phone": digits,
                "message": message.body,
                "from": message.sender or self.sender,
                "user_sms_id": message.client_ref,
            }
            if callback_url:
                fields["callback_url"] = callback_url
            # Eskiz's collection shows multipart bodies, but login and send
            # are accepted urlencoded too, and building multipart costs more
            # client and server CPU per message (see docs/benchmarks.md).
            return HttpCall(
                "POST",
                "/message/sms/send",
                operation="send",
                idempotent=False,
                form=fields,
                client_ref=message.client_ref,
                sensitive=(message.body,),
            )

        if region is None or not (len(region) == 2 and region.isalpha()):
            # phonenumbers gives "001" for non-geographic numbers (+800, +882, ...),
            # which have no ISO country code to put in country_code.
            raise InvalidMessage(
                f"Cannot tell the country of {message.masked_to}, which Eskiz needs for "
                "an international send; check the country code."
            )
        if message.sender is not None and message.sender != self.sender:
            raise UnsupportedFeature(
                f"Eskiz cannot set the sender name {message.sender!r} for {message.masked_to}: "
                "send-global has no sender field. Leave Sms.sender unset for numbers outside "
                "Uzbekistan, or route them to another provider.",
                provider=self.name,
                feature="sender",
            )
        # send-global has no documented sender or user_sms_id field.
        fields = {
            "mobile_phone": digits,
            "message": message.body,
            "country_code": region,
            "unicode": "1" if segments.encoding is Encoding.UCS2 else "0",
        }
        if callback_url:
            fields["callback_url"] = callback_url
        return HttpCall(
            "POST",
            "/message/sms/send-global",
            operation="send_global",
            idempotent=False,
            multipart=fields,
            client_ref=message.client_ref,
            sensitive=(message.body,),
        )

    async def send_batch(
        self, messages: Sequence[Sms], *, dispatch_id: int | None = None
    ) -> list[BatchOutcome]:
        """Send many messages with as few ``send-batch`` requests as ``batch_size`` allows.

        Uzbek numbers are grouped by sender and callback URL (one batch
        carries one of each) and chunked; other numbers go one by one through
        ``send-global``. ``dispatch_id`` tags every message for
        ``dispatch_messages`` and ``dispatch_status``. Each message's
        ``client_ref`` goes out as its ``user_sms_id``.

        Returns one entry per message, in input order: a ``SendResult`` (its
        ``message_id`` is the request UUID shared by the chunk) or the
        ``ProviderError`` for that message.

        Raises:
            InvalidMessage: two messages share a ``client_ref``, or the
                country of a non-Uzbek number cannot be determined.
            UnsupportedFeature: a message outside Uzbekistan names a sender.
            AuthenticationError, NotifierClosed, ConfigurationError: the
                whole batch cannot be sent.
        """
        self._check_open()
        refs = [message.client_ref for message in messages]
        if len(set(refs)) != len(refs):
            raise InvalidMessage(
                "Two messages in the batch share a client_ref; each needs its own, because "
                "Eskiz reports delivery by it."
            )
        if dispatch_id is not None and (
            isinstance(dispatch_id, bool) or not isinstance(dispatch_id, int) or dispatch_id < 0
        ):
            raise InvalidMessage(
                f"dispatch_id must be a non-negative integer, got {dispatch_id!r}."
            )

        outcomes: list[BatchOutcome | None] = [None] * len(messages)
        groups: dict[tuple[str, str | None], list[int]] = {}
        international: list[int] = []
        for index, message in enumerate(messages):
            if phone_region(message.to) == "UZ":
                key = (message.sender or self.sender, message.callback_url or self.callback_url)
                groups.setdefault(key, []).append(index)
            else:
                # Built now, so a number without a country fails the batch
                # before any request is made.
                self._send_call(message, count_segments(message.body))
                international.append(index)

        for (sender, callback_url), indexes in groups.items():
            for first in range(0, len(indexes), self.batch_size):
                chunk = indexes[first : first + self.batch_size]
                try:
                    results = await self._send_chunk(
                        [messages[i] for i in chunk], sender, callback_url, dispatch_id
                    )
                except (AuthenticationError, NotifierClosed, ConfigurationError):
                    raise
                except ProviderError as exc:
                    for i in chunk:
                        outcomes[i] = _error_for(exc, messages[i].client_ref)
                    continue
                for i, result in zip(chunk, results, strict=True):
                    outcomes[i] = result

        for i in international:
            try:
                outcomes[i] = await self.send(messages[i])
            except (AuthenticationError, NotifierClosed, ConfigurationError):
                raise
            except ProviderError as exc:
                outcomes[i] = exc

        return [outcome for outcome in outcomes if outcome is not None]

    async def _send_chunk(
        self,
        chunk: list[Sms],
        sender: str,
        callback_url: str | None,
        dispatch_id: int | None,
    ) -> list[SendResult]:
        started = time.monotonic()
        payload: dict[str, Any] = {
            "messages": [
                {
                    "user_sms_id": message.client_ref,
                    "to": int(message.to.lstrip("+")),
                    "text": message.body,
                }
                for message in chunk
            ],
            "from": sender,
        }
        if dispatch_id is not None:
            payload["dispatch_id"] = dispatch_id
        if callback_url:
            payload["callback_url"] = callback_url
        call = HttpCall(
            "POST",
            "/message/sms/send-batch",
            operation="send_batch",
            idempotent=False,
            json=payload,
            client_ref=chunk[0].client_ref if len(chunk) == 1 else None,
            sensitive=tuple({message.body for message in chunk}),
        )
        response = await self._request(call)
        body = self._json(response, call)
        request_id = body.get("id") if isinstance(body, Mapping) else None
        if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
            raise self._unexpected(response, call, "no request 'id'")

        # Eskiz returns a list with one status per message, in request order.
        # A plain string (as /send returns) is taken to apply to every message.
        statuses = body.get("status")
        if not isinstance(statuses, list):
            statuses = [statuses] * len(chunk)
        if len(statuses) != len(chunk):
            _logger.warning(
                "eskiz: send-batch returned %d statuses for %d messages; "
                "marking the statuses unknown",
                len(statuses),
                len(chunk),
            )
            statuses = [None] * len(chunk)
        elapsed = time.monotonic() - started
        results = []
        for message, status in zip(chunk, statuses, strict=True):
            segments = count_segments(message.body)
            results.append(
                SendResult(
                    provider=self.name,
                    message_id=str(request_id),
                    client_ref=message.client_ref,
                    status=_send_status(status),
                    segments=segments.parts,
                    encoding=segments.encoding,
                    elapsed=elapsed,
                    raw={"id": request_id, "status": status, "user_sms_id": message.client_ref},
                )
            )
        return results

    # -- errors and reports ----------------------------------------------------

    def map_error_response(self, response: httpx.Response, call: HttpCall) -> ProviderError:
        """Map an Eskiz error response to a library error.

        Eskiz's error bodies are undocumented, so the status code and the
        path decide; words of the error text only pick the message.
        """
        status = response.status_code
        summary = self.summarize_response(response, call)
        common: dict[str, Any] = {
            "provider": self.name,
            "status_code": status,
            "response_summary": summary,
            "client_ref": call.client_ref,
        }
        if call.path == "/auth/login" and status in (400, 401, 403, 422):
            # Wrong credentials: 401 on current servers, 400 on older ones.
            return AuthenticationError(
                f"Eskiz rejected the e-mail or password (HTTP {status}); check ESKIZ_EMAIL and "
                "ESKIZ_PASSWORD. The password is the API secret from the Eskiz cabinet, not "
                "the password of the web login.",
                **common,
            )
        if status == 401:
            return AuthenticationError(
                f"Eskiz rejected a freshly issued token for {call.operation} (HTTP 401); "
                "check that the account is active in the Eskiz cabinet.",
                **common,
            )
        if status == 404 and call.operation == "status":
            message_id = call.path.rsplit("/", 1)[-1]
            return MessageNotFound(
                f"Eskiz has no message {message_id!r} for this account; request UUIDs "
                "are found for 30 days only, numeric SMS ids for longer.",
                provider=self.name,
                message_id=message_id,
                response_summary=summary,
            )
        if status == 404:
            # Eskiz responds 404, not 405, to a wrong method on a known path.
            return ProviderError(
                f"Eskiz has no endpoint {call.method} {call.route} (HTTP 404); the API may "
                "have changed, or the base URL is wrong.",
                **common,
            )
        if status in (400, 402, 403, 422):
            reason = rejection_reason(status, _error_text(response, call.sensitive))
            return RejectedError(
                f"Eskiz rejected {call.operation} (HTTP {status}): {reason}.", **common
            )
        if status >= 500:
            return ProviderUnavailable(
                f"Eskiz failed {call.operation} with HTTP {status}; try again later.", **common
            )
        return super().map_error_response(response, call)

    def parse_delivery_report(
        self,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> list[DeliveryReport]:
        """Parse one Eskiz delivery callback; see ``notifier_eskiz.parse_delivery_report``."""
        return parse_delivery_report(body, content_type, headers, url)


def _send_status(status: object) -> SendStatus:
    # Eskiz returns the status "waiting" (sometimes "Waiting") for an accepted send.
    if isinstance(status, str) and status.strip().lower() == _WAITING:
        return SendStatus.QUEUED
    return SendStatus.UNKNOWN


def _error_text(response: httpx.Response, sensitive: Iterable[str]) -> str:
    try:
        body = response.json()
    except ValueError:
        text = response.text
    else:
        text = " ".join(map(str, body.values())) if isinstance(body, Mapping) else str(body)
    # An echo of the message body must not choose the reason: a text about
    # a balance would otherwise turn any rejection into "top up the balance".
    return remove_echoes(text, sensitive).lower()


def _error_for(error: ProviderError, client_ref: str) -> ProviderError:
    """Return a copy of a chunk's error for one of its messages."""
    copied = copy.copy(error)
    copied.client_ref = client_ref
    return copied


def _kind(error: BaseException) -> str:
    return type(error).__qualname__
