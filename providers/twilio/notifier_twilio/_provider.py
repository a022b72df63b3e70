"""``TwilioProvider``: SMS through Twilio's Programmable Messaging REST API."""

from __future__ import annotations

import contextvars
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Generator, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr, ValidationError
from typing_extensions import Self

from notifier import (
    AuthenticationError,
    Capabilities,
    ConfigurationError,
    DeliveryReport,
    InvalidMessage,
    NotifierError,
    ProviderError,
    RetryPolicy,
    SendResult,
    Sms,
    count_segments,
    mask_phone,
    normalize_phone,
)
from notifier._http import HttpCall, HttpProvider, TransportName

from ._callback import parse_status_callback
from ._error_codes import (
    ErrorKind,
    MessageNotFound,
    classify,
    error_for_response,
    parse_error_body,
    summarize,
)
from ._settings import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, TwilioSettings, configuration_error
from ._status import delivery_status_for, send_status_for
from ._wire import (
    API_VERSION,
    MAX_BODY_LENGTH,
    MessageResource,
    account_path,
    balance_path,
    body_length,
    is_account_sid,
    is_message_sid,
    message_path,
    messages_path,
    with_client_ref,
)

__all__ = ["TwilioProvider"]

try:
    _VERSION = version("notifier-twilio")
except PackageNotFoundError:  # a source tree that was never installed
    _VERSION = "0.0.0"

_ACCOUNT_ROUTE = f"/{API_VERSION}/Accounts/{{AccountSid}}.json"
_BALANCE_ROUTE = f"/{API_VERSION}/Accounts/{{AccountSid}}/Balance.json"
_CREATE_ROUTE = f"/{API_VERSION}/Accounts/{{AccountSid}}/Messages.json"
_FETCH_ROUTE = f"/{API_VERSION}/Accounts/{{AccountSid}}/Messages/{{MessageSid}}.json"

_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
_API_KEY_SID = re.compile(r"^SK[0-9a-fA-F]{32}$")
_SHORT_CODE = re.compile(r"^\d{3,8}$")
# Alphanumeric sender ID: up to 11 ASCII letters, digits and spaces, at least one letter.
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")

# How many message SIDs the provider remembers with their client_ref, so that
# get_status() can fill in client_ref for messages this provider object sent.
_REMEMBERED_SIDS = 10_000

# The masked recipient of the send in progress, for error messages built in
# map_error_response(); a context variable keeps concurrent sends apart.
_current_recipient: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "notifier_twilio_recipient", default=None
)


def _check_sender(value: str, *, source: str) -> str:
    """Return ``value`` as Twilio's ``From``, or raise naming ``source`` when it cannot be one."""
    text = value.strip()
    if text.startswith("+"):
        try:
            return normalize_phone(text)
        except NotifierError:
            raise ConfigurationError(
                f"{source} {mask_phone(text)!r} is not a valid E.164 number; use a Twilio number "
                "such as '+15005550006', a short code or an alphanumeric sender ID."
            ) from None
    if _SHORT_CODE.match(text) or _ALPHANUMERIC.match(text):
        return text
    raise ConfigurationError(
        f"{source} {text[:3] + '…' if len(text) > 3 else text!r} is not a Twilio sender: use an "
        "E.164 number starting with '+', a short code of 3 to 8 digits, or an alphanumeric "
        "sender ID of up to 11 letters, digits and spaces."
    )


def _check_http_url(value: str, *, source: str) -> str:
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        url = httpx.URL("")
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"{source} must be an absolute http(s) URL that Twilio can reach, "
            f"such as 'https://<your host>/twilio/status'; got a value with scheme "
            f"{url.scheme or 'none'!r}."
        )
    return value


def _secret(value: SecretStr | str | None) -> SecretStr | None:
    if value is None:
        return None
    secret = value if isinstance(value, SecretStr) else SecretStr(value)
    return secret if secret.get_secret_value() else None


class _BasicAuth(httpx.Auth):
    """HTTP basic authentication that keeps the password as a ``SecretStr``.

    The header is built for each request, so the plain password is never
    stored on an object a debugger or a repr could show.
    """

    def __init__(self, username: str, password: SecretStr) -> None:
        self._username = username
        self._password = password

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        credentials = httpx.BasicAuth(self._username, self._password.get_secret_value())
        yield from credentials.auth_flow(request)

    def __repr__(self) -> str:
        return f"_BasicAuth(username={self._username!r}, password=SecretStr('**********'))"


class TwilioProvider(HttpProvider):
    """Send SMS through Twilio's Messages resource (REST API version 2010-04-01).

    Each ``send()`` creates one Message resource with ``To``, ``Body``, the
    sender (``From``, or the Messaging Service that picks one) and, when a
    status callback URL is configured, ``StatusCallback``. Twilio has no
    field for the caller's id of a message and no idempotency key. So
    ``Sms.client_ref`` travels only as the ``notifier_client_ref`` query
    parameter of the StatusCallback URL, and a send that timed out raises
    ``DeliveryUnknown`` and is never sent again automatically.

    Args:
        account_sid: the Account SID, ``AC`` and 32 hex digits.
        auth_token: the account's auth token. Authenticates requests unless
            an API key pair is given, and is the key that checks status
            callback signatures.
        sender: the default ``From``: an E.164 number of the account, a
            short code or an alphanumeric sender ID. ``Sms.sender`` wins.
        messaging_service_sid: a Messaging Service (``MG…``). Sent with every
            message; Twilio then chooses the sender from the service's pool
            unless a ``From`` is sent as well.
        base_url: the REST API root; the simulator's ``base_url`` in tests.
        api_key_sid, api_key_secret: an API key pair (``SK…``) used for
            requests instead of the auth token.
        status_callback: the default URL Twilio posts status changes to;
            ``Sms.callback_url`` wins.
        timeout: seconds for each of connect, write, read and pool waits.
        http_client: an ``httpx.AsyncClient`` to use; never closed here.
        transport: ``"httpx"`` or ``"aiohttp"`` (the ``[aiohttp]`` extra).
        retry: the retry policy for sends and status reads.
    """

    name = "twilio"
    display_name: ClassVar[str] = "Twilio"
    instrumentation_name: ClassVar[str] = "notifier.twilio"
    instrumentation_version: ClassVar[str] = _VERSION
    logger_name: ClassVar[str] = "notifier.twilio"
    user_agent: ClassVar[str] = f"notifier-twilio/{_VERSION}"
    settings_class: ClassVar[type[TwilioSettings]] = TwilioSettings
    capabilities = Capabilities(
        unicode=True,
        batch=False,
        delivery_reports=True,
        countries=None,
        extra={"max_body_length": MAX_BODY_LENGTH, "client_ref_sent_to_vendor": False},
    )

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: SecretStr | str | None = None,
        sender: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        api_key_sid: str | None = None,
        api_key_secret: SecretStr | str | None = None,
        status_callback: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
        transport: TransportName = "httpx",
        retry: RetryPolicy | None = None,
    ) -> None:
        account_sid = (account_sid or "").strip()
        if not is_account_sid(account_sid):
            raise ConfigurationError(
                "TWILIO_ACCOUNT_SID must be 'AC' followed by 32 hex digits, got "
                f"{len(account_sid)} characters starting with {account_sid[:2]!r}; copy it from "
                "the Twilio console."
            )
        token = _secret(auth_token)
        key_secret = _secret(api_key_secret)
        key_sid = api_key_sid.strip() if api_key_sid else None
        if (key_sid is None) != (key_secret is None):
            raise ConfigurationError(
                "An API key needs both TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET; "
                "set both, or neither to authenticate with TWILIO_AUTH_TOKEN."
            )
        if key_sid is not None and not _API_KEY_SID.match(key_sid):
            raise ConfigurationError(
                "TWILIO_API_KEY_SID must be 'SK' followed by 32 hex digits, got "
                f"{len(key_sid)} characters starting with {key_sid[:2]!r}."
            )
        if token is None and key_secret is None:
            raise ConfigurationError(
                "Twilio needs credentials: set TWILIO_AUTH_TOKEN, or TWILIO_API_KEY_SID with "
                "TWILIO_API_KEY_SECRET."
            )
        if messaging_service_sid is not None and not _SERVICE_SID.match(
            messaging_service_sid.strip()
        ):
            raise ConfigurationError(
                "TWILIO_MESSAGING_SERVICE_SID must be 'MG' followed by 32 hex digits; copy it "
                "from the Messaging Service's page in the Twilio console."
            )

        if key_sid is not None and key_secret is not None:
            auth = _BasicAuth(key_sid, key_secret)
        else:
            assert token is not None  # checked above: one of the two credentials is set
            auth = _BasicAuth(account_sid, token)
        super().__init__(
            base_url=base_url,
            timeout=timeout,
            http_client=http_client,
            transport=transport,
            retry=retry,
            auth=auth,
        )
        self._account_sid = account_sid
        self._auth_token = token
        self._api_key_sid = key_sid
        self._sender = _check_sender(sender, source="TWILIO_SENDER") if sender else None
        self._messaging_service_sid = (
            messaging_service_sid.strip() if messaging_service_sid else None
        )
        self._status_callback = (
            _check_http_url(status_callback, source="TWILIO_STATUS_CALLBACK")
            if status_callback
            else None
        )
        self._client_refs: OrderedDict[str, str] = OrderedDict()
        self._client_refs_lock = threading.Lock()

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """Build the provider from ``TWILIO_*`` variables and ``.env``.

        Keyword arguments override single settings by field name
        (``account_sid=...``) or pass options that have no variable
        (``http_client=...``, ``retry=...``); any other name is a ``TypeError``.

        Raises:
            ConfigurationError: a variable is missing or invalid; the message
                names the variable, never its value.
        """
        setting_names = set(TwilioSettings.model_fields)
        given = {key: value for key, value in overrides.items() if key in setting_names}
        options = {key: value for key, value in overrides.items() if key not in setting_names}
        unknown = sorted(set(options) - {"http_client", "retry"})
        if unknown:
            raise TypeError(
                f"TwilioProvider.from_env() got unknown argument(s) {', '.join(unknown)}; "
                f"pass settings ({', '.join(sorted(setting_names - {'from_'}))}) "
                "or http_client and retry."
            )
        try:
            settings = TwilioSettings(**given)
        except ValidationError as exc:
            raise configuration_error(exc) from None
        return cls(
            account_sid=settings.account_sid,
            auth_token=settings.auth_token,
            sender=settings.sender,
            messaging_service_sid=settings.messaging_service_sid,
            base_url=settings.base_url,
            api_key_sid=settings.api_key_sid,
            api_key_secret=settings.api_key_secret,
            status_callback=settings.status_callback,
            timeout=settings.timeout,
            http_client=options.get("http_client"),
            transport=settings.transport,
            retry=options.get("retry"),
        )

    @property
    def account_sid(self) -> str:
        return self._account_sid

    @property
    def sender(self) -> str | None:
        """The default ``From``, or ``None`` when only a Messaging Service is configured."""
        return self._sender

    @property
    def messaging_service_sid(self) -> str | None:
        return self._messaging_service_sid

    @property
    def uses_api_key(self) -> bool:
        """Whether requests authenticate with the API key pair instead of the auth token."""
        return self._api_key_sid is not None

    def __repr__(self) -> str:
        return (
            f"TwilioProvider(account_sid={self._account_sid!r}, base_url={self.base_url!r}, "
            f"auth={'api_key' if self.uses_api_key else 'auth_token'})"
        )

    # -- sending -----------------------------------------------------------------

    def _create_form(self, message: Sms) -> dict[str, str]:
        sender = self._sender
        if message.sender:
            try:
                sender = _check_sender(message.sender, source="Sms.sender")
            except ConfigurationError as exc:
                raise InvalidMessage(str(exc)) from None
        if sender is None and self._messaging_service_sid is None:
            raise ConfigurationError(
                "Twilio needs a sender: set TWILIO_SENDER (a number, short code or sender ID of "
                "the account), TWILIO_MESSAGING_SERVICE_SID, or Sms.sender."
            )
        length = body_length(message.body)
        if length > MAX_BODY_LENGTH:
            raise InvalidMessage(
                f"Sms.body is {length} UTF-16 code units long; Twilio accepts at most "
                f"{MAX_BODY_LENGTH} in one message (error 21617). Split the text into "
                "several messages."
            )

        form = {"To": message.to, "Body": message.body}
        if sender is not None:
            form["From"] = sender
        if self._messaging_service_sid is not None:
            form["MessagingServiceSid"] = self._messaging_service_sid

        callback = message.callback_url or self._status_callback
        if callback:
            try:
                _check_http_url(callback, source="Sms.callback_url")
            except ConfigurationError as exc:
                raise InvalidMessage(str(exc)) from None
            form["StatusCallback"] = with_client_ref(callback, message.client_ref)
        return form

    async def send(self, message: Sms) -> SendResult:
        """Create one Message resource and return the result Twilio responded with.

        Raises:
            ConfigurationError: no sender is configured.
            InvalidMessage: the body is longer than 1600 UTF-16 code units,
                ``Sms.sender`` is not a valid Twilio sender, or
                ``Sms.callback_url`` is not an http(s) URL.
            TwilioInvalidRecipient: Twilio rejected the number (21211, 21614).
            RejectedError: Twilio rejected the message (21610, 21408, ...).
            AuthenticationError, RateLimitedError, ProviderUnavailable,
            DeliveryUnknown, NotifierClosed: see ``HttpProvider``.
        """
        self._check_open()
        started = time.monotonic()
        form = self._create_form(message)
        call = HttpCall(
            method="POST",
            path=messages_path(self._account_sid),
            path_template=_CREATE_ROUTE,
            operation="send",
            idempotent=False,
            form=form,
            client_ref=message.client_ref,
            # Twilio may quote the body in an error message; keep it out of errors.
            sensitive=(message.body,),
        )
        token = _current_recipient.set(message.masked_to)
        try:
            response = await self._request(call)
        finally:
            _current_recipient.reset(token)

        data = self._json(response, call)
        try:
            resource = MessageResource.model_validate(data)
        except ValidationError:
            raise self._unexpected(response, call, "no 'sid' or 'status' field") from None
        self._remember(resource.sid, message.client_ref)

        segments = count_segments(message.body)
        status = send_status_for(resource.status)
        self._logger.debug(
            "Twilio created %s to %s: status %s, %d segment(s) (client_ref=%s)",
            resource.sid,
            message.masked_to,
            resource.status,
            segments.parts,
            message.client_ref,
        )
        return SendResult(
            provider=self.name,
            message_id=resource.sid,
            client_ref=message.client_ref,
            status=status,
            segments=segments.parts,
            encoding=segments.encoding,
            elapsed=time.monotonic() - started,
            raw=data if isinstance(data, Mapping) else {},
        )

    def _remember(self, sid: str, client_ref: str) -> None:
        with self._client_refs_lock:
            self._client_refs[sid] = client_ref
            self._client_refs.move_to_end(sid)
            while len(self._client_refs) > _REMEMBERED_SIDS:
                self._client_refs.popitem(last=False)

    def _client_ref_of(self, sid: str) -> str | None:
        with self._client_refs_lock:
            return self._client_refs.get(sid)

    # -- reading status ----------------------------------------------------------

    async def fetch_message(self, message_sid: str) -> MessageResource:
        """Fetch one Message resource by its SID (``SM…`` or ``MM…``).

        Reads are idempotent, so every transient failure is retried.

        Raises:
            InvalidMessage: ``message_sid`` is not a Message SID.
            MessageNotFound: no message with this SID in the account (HTTP 404).
        """
        sid = message_sid.strip()
        if not is_message_sid(sid):
            raise InvalidMessage(
                f"{sid[:6]!r}… is not a Twilio Message SID; pass the message_id of a "
                "SendResult, 'SM' followed by 32 hex digits."
            )
        self._check_open()
        call = HttpCall(
            method="GET",
            path=message_path(self._account_sid, sid),
            path_template=_FETCH_ROUTE,
            operation="fetch",
            idempotent=True,
            client_ref=self._client_ref_of(sid),
        )
        response = await self._request(call)
        data = self._json(response, call)
        try:
            return MessageResource.model_validate(data)
        except ValidationError:
            raise self._unexpected(response, call, "no 'sid' or 'status' field") from None

    async def get_status(self, message_id: str) -> DeliveryReport:
        """Fetch the current status of a sent message as a ``DeliveryReport``.

        ``client_ref`` is filled in for the last 10,000 messages this
        provider object sent; Twilio itself does not store it.
        """
        resource = await self.fetch_message(message_id)
        error_code = str(resource.error_code) if resource.error_code else None
        to: str | None = None
        if resource.to:
            try:
                to = normalize_phone(resource.to)
            except NotifierError:
                to = None
        return DeliveryReport(
            provider=self.name,
            message_id=resource.sid,
            client_ref=self._client_ref_of(resource.sid),
            status=delivery_status_for(resource.status, error_code),
            provider_status=resource.status,
            occurred_at=resource.date_updated,
            to=to,
            segments=resource.num_segments or None,
            error_code=error_code,
            raw=resource.model_dump(mode="json", by_alias=True),
        )

    # -- account -----------------------------------------------------------------

    async def check_credentials(self) -> None:
        """Fetch the Account resource, which succeeds only with valid credentials.

        Raises:
            AuthenticationError: Twilio rejected the credentials, or the
                account is not active.
        """
        self._check_open()
        call = HttpCall(
            method="GET",
            path=account_path(self._account_sid),
            path_template=_ACCOUNT_ROUTE,
            operation="check_credentials",
            idempotent=True,
        )
        response = await self._request(call)
        data = self._json(response, call)
        status = data.get("status") if isinstance(data, Mapping) else None
        if status not in (None, "active"):
            raise AuthenticationError(
                f"Twilio account {self._account_sid[:8]}… is {status!r}, not active; "
                "reactivate it in the Twilio console.",
                provider=self.name,
                status_code=response.status_code,
            )

    async def balance(self) -> str:
        """Return the account balance as Twilio reports it, e.g. ``"12.34 USD"``."""
        self._check_open()
        call = HttpCall(
            method="GET",
            path=balance_path(self._account_sid),
            path_template=_BALANCE_ROUTE,
            operation="balance",
            idempotent=True,
        )
        response = await self._request(call)
        data = self._json(response, call)
        if not isinstance(data, Mapping) or "balance" not in data:
            raise self._unexpected(response, call, "no 'balance' field")
        return f"{data['balance']} {data.get('currency', '')}".strip()

    # -- status callbacks --------------------------------------------------------

    def parse_delivery_report(
        self,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> list[DeliveryReport]:
        """Check and parse one Twilio status callback request.

        ``url`` must be the full public URL Twilio requested, query string
        included: the signature covers it. The auth token is the signing key,
        so a provider configured with only an API key pair cannot check
        callbacks.

        Raises:
            AuthenticationError: ``X-Twilio-Signature`` is missing or wrong.
            ConfigurationError: no auth token, or no ``url``.
            InvalidMessage: the body is not a Twilio status callback.
        """
        return parse_status_callback(
            body,
            content_type,
            headers,
            url,
            auth_token=self._auth_token,
            provider=self.name,
        )

    # -- errors ------------------------------------------------------------------

    def summarize_response(self, response: httpx.Response, call: HttpCall | None = None) -> str:
        """Return ``code N: message (more_info)`` with numbers masked, for Twilio error bodies.

        Other bodies (a proxy's HTML page, for one) get the generic summary.
        """
        body = parse_error_body(response.content)
        if body.code is None and body.message is None:
            return super().summarize_response(response, call)
        return summarize(response.content, call.sensitive if call is not None else ())

    def map_error_response(self, response: httpx.Response, call: HttpCall) -> ProviderError:
        """Map a Twilio error body by its code (see ``_error_codes``), else by HTTP status."""
        body = parse_error_body(response.content)
        if call.operation == "fetch" and classify(response.status_code, body.code) is (
            ErrorKind.NOT_FOUND
        ):
            sid = call.path.rsplit("/", 1)[-1].removesuffix(".json")
            error = MessageNotFound(
                f"Twilio has no message {sid} in this account (HTTP {response.status_code}); "
                "check the SID and that TWILIO_ACCOUNT_SID is the account that sent it.",
                provider=self.name,
                message_id=sid,
                status_code=response.status_code,
                response_summary=summarize(response.content, call.sensitive),
                client_ref=call.client_ref,
            )
            error.twilio_code = body.code  # type: ignore[attr-defined]
            return error
        if call.operation == "send":
            masked = _current_recipient.get()
            operation = f"send the message to {masked}" if masked else "send the message"
        else:
            operation = f"{call.operation} {call.route}"
        return error_for_response(
            response.status_code,
            response.content,
            provider=self.name,
            operation=operation,
            client_ref=call.client_ref,
            sensitive=call.sensitive,
        )
