"""HS256 tokens shaped like the ones Eskiz issues, and their revocation list.

A token carries the claims ``exp``, ``iat``, ``role``, ``sign`` (64 hex
characters, unique per token) and ``sub`` (the user id as a string). The
simulator keeps a record of every token it issued, keyed by ``sign``, so it
can expire or revoke tokens without waiting for their ``exp``.
"""

from __future__ import annotations

import enum
import secrets
import threading
from dataclasses import dataclass

import jwt

from ._clock import SimulatorClock

__all__ = ["IssuedToken", "TokenProblem", "TokenRegistry"]


class TokenProblem(enum.Enum):
    """The reason a protected call gets a 401 response."""

    MISSING = "missing"  # no Bearer header
    INVALID = "invalid"  # not a JWT, a foreign signature, or a token this instance never issued
    EXPIRED = "expired"  # past its ``exp`` on the simulator clock, or expired by ``expire_all()``
    REVOKED = "revoked"  # invalidated, or replaced by a refresh that revokes


@dataclass(frozen=True)
class IssuedToken:
    """One token the simulator issued."""

    token: str
    sign: str
    account_id: int
    serial: int  # issue order, starting at 1
    issued_at: float
    expires_at: float


class TokenRegistry:
    """Issues tokens and checks the ones presented to protected calls."""

    def __init__(self, clock: SimulatorClock, ttl: float) -> None:
        self._clock = clock
        self._ttl = ttl
        # A random key per instance, so a token from one simulator is invalid at another.
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._tokens: dict[str, IssuedToken] = {}
        self._revoked: set[str] = set()
        self._serial = 0
        self._expired_through = 0  # every token with a serial up to this one counts as expired

    def issue(self, account_id: int, role: str) -> IssuedToken:
        """Create and record a token for the account."""
        now = self._clock.now()
        sign = secrets.token_hex(32)
        claims = {
            "exp": int(now + self._ttl),
            "iat": int(now),
            "role": role,
            "sign": sign,
            "sub": str(account_id),
        }
        encoded = jwt.encode(claims, self._key, algorithm="HS256")
        with self._lock:
            self._serial += 1
            issued = IssuedToken(encoded, sign, account_id, self._serial, now, now + self._ttl)
            self._tokens[sign] = issued
        return issued

    def check(
        self, token: str | None, *, allow_expired: bool = False
    ) -> IssuedToken | TokenProblem:
        """Return the record of a usable token, or why it cannot be used.

        ``allow_expired`` accepts an expired token that is otherwise valid,
        for servers that let an expired token be refreshed.
        """
        if not token:
            return TokenProblem.MISSING
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                # exp and iat are checked against the simulator clock, which
                # runs ahead of wall time after advance(), not by pyjwt.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "require": ["exp", "iat", "sign", "sub"],
                },
            )
        except jwt.PyJWTError:
            return TokenProblem.INVALID
        with self._lock:
            issued = self._tokens.get(str(claims["sign"]))
            if issued is None:
                return TokenProblem.INVALID
            if issued.sign in self._revoked:
                return TokenProblem.REVOKED
            expired = issued.serial <= self._expired_through
        if expired or issued.expires_at <= self._clock.now():
            return issued if allow_expired else TokenProblem.EXPIRED
        return issued

    def revoke(self, issued: IssuedToken) -> None:
        """Make the token unusable from now on."""
        with self._lock:
            self._revoked.add(issued.sign)

    def expire_all(self) -> int:
        """Expire every token issued so far and return how many that is."""
        with self._lock:
            self._expired_through = self._serial
            return self._serial
