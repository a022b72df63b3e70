"""Eskiz tokens: where they are kept, when they expire, and how requests get one.

``EskizAuth`` is the ``httpx.Auth`` of the provider. For each request it
takes the current token, logging in or refreshing first when needed, and
replays a request once with a new token after a 401 response. Its guarantees:

- **Single flight.** However many requests need a token at once, exactly one
  login or refresh runs. It runs as its own task, so cancelling a request
  that waits for it does not cancel it, and requests from other event loops
  (several blocking ``Notifier`` threads sharing one provider) wait for the
  same flight through a ``concurrent.futures.Future``.
- **One replay.** A 401 replaces the token the request was sent with, unless
  another request already replaced it, and replays the request once. The
  replay's response is final: a second 401 becomes ``AuthenticationError`` in
  the provider, never another login.
- **Failures are not cached.** A failed login reaches every waiter, and the
  next request starts a new one. A login is never refreshed or replayed.
- **Proactive refresh.** Shortly before the JWT's ``exp`` the token is
  renewed through ``PATCH /auth/refresh``; when that fails, through a login.
- **Closing.** ``close()`` during a flight fails its waiters with
  ``NotifierClosed`` and the token it obtains is thrown away.

Nothing here binds to an event loop at construction: state is guarded by a
``threading.Lock`` held only for plain reads and writes, never across an
``await``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import enum
import hashlib
import json
import logging
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import httpx
from pydantic import SecretStr

from notifier import NotifierClosed, ProviderError, ProviderUnavailable

__all__ = [
    "BearerAuth",
    "EskizAuth",
    "InMemoryTokenStore",
    "TokenState",
    "TokenStore",
    "read_token_expiry",
    "token_store_key",
]

_logger = logging.getLogger("notifier.eskiz")

# A token this close to its exp (seconds) counts as expired, to allow for
# clock skew between this machine and Eskiz and for the time a request takes.
# For short-lived tokens the skew is capped at a tenth of the lifetime, or a
# token of a few seconds would count as expired from the moment it is issued
# and could never be refreshed.
_EXPIRY_SKEW = 5.0
_MAX_SKEW_SHARE = 0.1


@runtime_checkable
class TokenStore(Protocol):
    """Storage for Eskiz tokens between requests.

    The provider keeps its current token in memory and reads the store on a
    cold start and before each login, so a store shared by several providers
    or processes lets them reuse one token. ``key`` identifies one account
    on one server (see ``token_store_key``); implementations treat it as an
    opaque string.
    """

    async def load(self, key: str) -> SecretStr | None:
        """Return the stored token for ``key``, or ``None``."""
        ...

    async def save(self, key: str, token: SecretStr) -> None:
        """Store ``token`` for ``key``, replacing any previous one."""
        ...

    async def discard(self, key: str, token: SecretStr) -> None:
        """Remove the token of ``key`` if it is still ``token``.

        Called after Eskiz rejected ``token``; a newer token saved meanwhile
        by someone else stays.
        """
        ...


class InMemoryTokenStore:
    """The default ``TokenStore``: a dictionary guarded by a lock.

    One instance may be shared by several providers in one process; tokens
    of different accounts never mix because their keys differ.
    """

    def __init__(self) -> None:
        self._tokens: dict[str, SecretStr] = {}
        self._lock = threading.Lock()

    async def load(self, key: str) -> SecretStr | None:
        with self._lock:
            return self._tokens.get(key)

    async def save(self, key: str, token: SecretStr) -> None:
        with self._lock:
            self._tokens[key] = token

    async def discard(self, key: str, token: SecretStr) -> None:
        with self._lock:
            stored = self._tokens.get(key)
            if stored is not None and stored.get_secret_value() == token.get_secret_value():
                del self._tokens[key]

    def __repr__(self) -> str:
        with self._lock:
            return f"<InMemoryTokenStore with {len(self._tokens)} token(s)>"


def token_store_key(base_url: str, email: str) -> str:
    """Return the store key of one account on one server.

    The key is a hash, so a store that logs or exposes its keys does not
    reveal the e-mail address.
    """
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\n{email.strip().lower()}".encode())
    return f"eskiz:{digest.hexdigest()[:32]}"


def read_token_expiry(token: str) -> tuple[float | None, float | None]:
    """Return the ``(iat, exp)`` claims of a JWT, without verifying its signature.

    Only the timing matters to a client: the signature is Eskiz's to check.
    A claim that is missing or not a number, or a token that is not a JWT,
    gives ``None`` for that claim.
    """
    segments = token.split(".")
    if len(segments) != 3:
        return None, None
    payload = segments[1] + "=" * (-len(segments[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None, None
    if not isinstance(claims, dict):
        return None, None

    def number(name: str) -> float | None:
        value = claims.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return float(value)

    return number("iat"), number("exp")


@dataclass(frozen=True)
class _Token:
    """One token and its lifetime, in seconds since the epoch."""

    value: SecretStr
    issued_at: float | None
    expires_at: float | None

    @classmethod
    def parse(cls, value: SecretStr, now: float) -> _Token:
        issued_at, expires_at = read_token_expiry(value.get_secret_value())
        return cls(value, issued_at if issued_at is not None else now, expires_at)

    def same_as(self, other: _Token | SecretStr | None) -> bool:
        if other is None:
            return False
        secret = other.value if isinstance(other, _Token) else other
        return secret.get_secret_value() == self.value.get_secret_value()

    def expired(self, now: float) -> bool:
        if self.expires_at is None:
            return False
        skew = _EXPIRY_SKEW
        if self.issued_at is not None and self.expires_at > self.issued_at:
            skew = min(skew, (self.expires_at - self.issued_at) * _MAX_SKEW_SHARE)
        return now >= self.expires_at - skew

    def refresh_due(self, now: float, margin: float) -> bool:
        """Return whether the token is within ``margin`` seconds of its expiry.

        The margin is at most half the token's lifetime, so a short-lived
        token is not refreshed on every request.
        """
        if self.expires_at is None:
            return False
        if self.issued_at is not None and self.expires_at > self.issued_at:
            margin = min(margin, (self.expires_at - self.issued_at) / 2)
        return now >= self.expires_at - margin


class TokenState(enum.Enum):
    """The state of the provider's token."""

    ABSENT = "absent"  # no token yet, or the last one was rejected; the next request logs in
    ACQUIRING = "acquiring"  # a login or refresh is in flight; requests wait for it
    VALID = "valid"  # a token is held and attached to every request
    CLOSED = "closed"  # the provider closed; every request raises NotifierClosed


@dataclass
class _Flight:
    """One login or refresh in flight and the future its waiters share."""

    kind: str  # "login" or "refresh"
    loop: asyncio.AbstractEventLoop
    future: concurrent.futures.Future[_Token]
    task: asyncio.Task[None] | None = None


class EskizAuth(httpx.Auth):
    """The ``httpx.Auth`` that attaches a current Eskiz token to each request.

    Args:
        login: obtains a new token with the account's credentials.
        refresh: exchanges a valid token for a new one.
        store: where tokens are kept between requests.
        store_key: the key of this account in ``store``.
        refresh_margin: seconds before ``exp`` at which the token is renewed.
        clock: the current time in seconds since the epoch.
    """

    def __init__(
        self,
        *,
        login: Callable[[], Awaitable[SecretStr]],
        refresh: Callable[[SecretStr], Awaitable[SecretStr]],
        store: TokenStore,
        store_key: str,
        refresh_margin: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._login = login
        self._refresh = refresh
        self._store = store
        self._store_key = store_key
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self._flight: _Flight | None = None
        self._closed = False

    @property
    def state(self) -> TokenState:
        """The current ``TokenState``."""
        with self._lock:
            if self._closed:
                return TokenState.CLOSED
            if self._flight is not None:
                return TokenState.ACQUIRING
            return TokenState.VALID if self._token is not None else TokenState.ABSENT

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("EskizAuth is async only; use it with an httpx.AsyncClient")
        yield request  # pragma: no cover - makes this function a generator

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._acquire(rejected=None)
        request.headers["Authorization"] = _bearer(token.value)
        response = yield request
        if response.status_code != 401:
            return

        replacement = await self._acquire(rejected=token)
        request.headers["Authorization"] = _bearer(replacement.value)
        # The replay is the last request of this flow, so its response is
        # returned whatever its status, a 401 included.
        yield request

    async def current_token(self) -> SecretStr:
        """Return a usable token, logging in or refreshing first when needed."""
        return (await self._acquire(rejected=None)).value

    async def discard(self, token: SecretStr) -> None:
        """Drop ``token`` from memory and from the store, so the next request logs in."""
        with self._lock:
            if self._token is not None and self._token.same_as(token):
                self._token = None
        await self._store.discard(self._store_key, token)

    async def _acquire(self, *, rejected: _Token | None) -> _Token:
        now = self._clock()
        with self._lock:
            self._check_open()
            current = self._token
            flight = self._flight
            if flight is not None and flight.loop.is_closed():
                flight = self._flight = None  # its loop died without finishing it
            if current is not None:
                if rejected is not None:
                    # Another request already replaced the rejected token: use
                    # its replacement instead of logging in again.
                    if not current.same_as(rejected) and not current.expired(now):
                        return current
                elif flight is None and not current.refresh_due(now, self._refresh_margin):
                    return current
            # While a flight runs, even a token that looks valid is not used:
            # the flight may have started because Eskiz rejected it.
            if flight is None:
                renewable = current is not None and not current.expired(now)
                kind = "refresh" if rejected is None and renewable else "login"
                flight = self._start_flight(kind, current, rejected)
        # shield(): a waiter that is cancelled must not cancel the shared future.
        # The callback marks a failure as retrieved, because no one reads it
        # after its waiter was cancelled, and asyncio would log it.
        waiter = asyncio.wrap_future(flight.future)
        waiter.add_done_callback(_retrieve_exception)
        return await asyncio.shield(waiter)

    def _start_flight(self, kind: str, current: _Token | None, rejected: _Token | None) -> _Flight:
        # Called with self._lock held.
        loop = asyncio.get_running_loop()
        flight = _Flight(kind, loop, concurrent.futures.Future())
        self._flight = flight
        flight.task = loop.create_task(self._run_flight(flight, current, rejected))
        return flight

    async def _run_flight(
        self, flight: _Flight, current: _Token | None, rejected: _Token | None
    ) -> None:
        try:
            token = await self._obtain(flight.kind, current, rejected)
        except BaseException as exc:
            with self._lock:
                if self._flight is flight:
                    self._flight = None
                if not flight.future.done():
                    if not isinstance(exc, asyncio.CancelledError):
                        flight.future.set_exception(exc)
                    elif self._closed:
                        flight.future.set_exception(self._closed_error())
                    else:
                        # Only close() or the end of the flight's event loop
                        # cancels it; waiters on other loops may try again.
                        flight.future.set_exception(
                            ProviderUnavailable(
                                f"The Eskiz {flight.kind} was cancelled because its event "
                                "loop stopped; send again to start a new one.",
                                provider="eskiz",
                            )
                        )
            if isinstance(exc, asyncio.CancelledError):
                raise
            # Every other error reached the waiters through the future.
            return

        with self._lock:
            if self._flight is flight:
                self._flight = None
            committed = not self._closed and not flight.future.done()
            if committed:
                self._token = token
                flight.future.set_result(token)
        if committed:
            await self._store.save(self._store_key, token.value)
        else:
            _logger.debug("eskiz: discarded a token obtained after the provider closed")

    async def _obtain(self, kind: str, current: _Token | None, rejected: _Token | None) -> _Token:
        if rejected is not None:
            await self._store.discard(self._store_key, rejected.value)
        now = self._clock()
        stored = await self._store.load(self._store_key)
        if stored is not None and not (current is not None and current.same_as(stored)):
            # Another provider sharing the store obtained a token meanwhile.
            candidate = _Token.parse(stored, now)
            if not candidate.refresh_due(now, self._refresh_margin):
                _logger.debug("eskiz: using a token from the token store")
                return candidate

        if kind == "refresh" and current is not None:
            try:
                return _Token.parse(await self._refresh(current.value), self._clock())
            except ProviderError as exc:
                _logger.info(
                    "eskiz: token refresh failed (%s); logging in instead", type(exc).__qualname__
                )
        return _Token.parse(await self._login(), self._clock())

    def close(self) -> None:
        """Close the auth: waiters of a flight in progress raise ``NotifierClosed``. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._token = None
            flight, self._flight = self._flight, None
            if flight is not None and not flight.future.done():
                flight.future.set_exception(self._closed_error())
        if flight is None or flight.task is None or flight.task.done():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if flight.loop is running:
            flight.task.cancel()
        elif not flight.loop.is_closed():
            flight.loop.call_soon_threadsafe(flight.task.cancel)

    def _check_open(self) -> None:
        if self._closed:
            raise self._closed_error()

    @staticmethod
    def _closed_error() -> NotifierClosed:
        return NotifierClosed(
            "EskizProvider was closed while waiting for a token; "
            "create a new provider to send again."
        )

    def __repr__(self) -> str:
        return f"<EskizAuth {self.state.value}>"


def _retrieve_exception(future: asyncio.Future[_Token]) -> None:
    if not future.cancelled():
        future.exception()


def _bearer(token: SecretStr) -> str:
    return f"Bearer {token.get_secret_value()}"


class BearerAuth(httpx.Auth):
    """Attach one fixed token; used by the refresh call, which must not be replayed."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = _bearer(self._token)
        yield request

    def __repr__(self) -> str:
        return "<BearerAuth [secure]>"
