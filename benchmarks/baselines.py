"""Hand-written clients to compare against: the naive pattern and two bare request loops.

- ``NaiveLoginPerSend``: logs in before every send, the pattern several
  published Eskiz clients and blog posts use. It keeps one ``httpx``
  connection pool, so the cost it shows is the extra login, not new
  connections.
- ``RawHttpx`` and ``RawAiohttp``: log in once, then post each send with the
  token and nothing else: no validation, retries, token refresh, tracing or
  result model. They show what one HTTP request per message costs on each
  transport, which no full client can beat.
- ``RawHttpxMultipart``: ``RawHttpx`` with the fields sent as
  ``multipart/form-data``, the encoding of Eskiz's own examples and of
  notifier's provider, instead of a urlencoded form. The difference between
  the two is the cost of the encoding on both ends.

Run in the project's environment (httpx and aiohttp are installed there).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx

from .client import Job
from .guard import require_loopback_url
from .workload import BODY, SENDER, phone_digits

__all__ = ["NaiveLoginPerSend", "RawAiohttp", "RawHttpx", "RawHttpxMultipart"]

_TIMEOUT = 30.0  # seconds; far above any response time of the local simulator


def _send_fields(index: int) -> dict[str, str]:
    return {"mobile_phone": phone_digits(index), "message": BODY, "from": SENDER}


def _token_of(body: Any) -> str:
    token = body["data"]["token"]
    if not isinstance(token, str):
        raise TypeError(f"the login response has no token string: {body!r}")
    return token


class _HttpxSetup:
    def __init__(self, job: Job) -> None:
        self._job = job
        self._base_url = require_loopback_url(job.base_url)
        self._client = httpx.AsyncClient(timeout=_TIMEOUT)

    async def _login(self) -> str:
        response = await self._client.post(
            f"{self._base_url}/auth/login",
            data={"email": self._job.email, "password": self._job.password},
        )
        response.raise_for_status()
        return _token_of(response.json())

    async def _post_send(self, index: int, token: str, *, multipart: bool = False) -> None:
        fields = _send_fields(index)
        response = await self._client.post(
            f"{self._base_url}/message/sms/send",
            # httpx sends multipart only when files= is given; (None, value) is a plain field.
            data=None if multipart else fields,
            files={name: (None, value) for name, value in fields.items()} if multipart else None,
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()
        response.json()

    async def close(self) -> None:
        await self._client.aclose()


class NaiveLoginPerSend(_HttpxSetup):
    """Log in, then send, for every message."""

    async def start(self) -> None:
        pass

    async def send(self, index: int) -> None:
        await self._post_send(index, await self._login())

    def describe(self) -> dict[str, Any]:
        return {"library": "httpx", "version": httpx.__version__, "token": "login per send"}


class RawHttpx(_HttpxSetup):
    """One login, then a bare ``httpx.AsyncClient.post`` per message."""

    _token = ""

    async def start(self) -> None:
        self._token = await self._login()

    async def send(self, index: int) -> None:
        await self._post_send(index, self._token)

    def describe(self) -> dict[str, Any]:
        return {"library": "httpx", "version": httpx.__version__, "token": "one login"}


class RawHttpxMultipart(RawHttpx):
    """``RawHttpx`` sending ``multipart/form-data`` instead of a urlencoded form."""

    async def send(self, index: int) -> None:
        await self._post_send(index, self._token, multipart=True)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "encoding": "multipart/form-data"}


class RawAiohttp:
    """One login, then a bare ``aiohttp.ClientSession.post`` per message."""

    def __init__(self, job: Job) -> None:
        self._job = job
        self._base_url = require_loopback_url(job.base_url)
        self._session: aiohttp.ClientSession | None = None
        self._headers: dict[str, str] = {}

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_TIMEOUT))
        async with self._session.post(
            f"{self._base_url}/auth/login",
            data={"email": self._job.email, "password": self._job.password},
        ) as response:
            response.raise_for_status()
            token = _token_of(await response.json())
        self._headers = {"Authorization": f"Bearer {token}"}

    async def send(self, index: int) -> None:
        assert self._session is not None
        async with self._session.post(
            f"{self._base_url}/message/sms/send", data=_send_fields(index), headers=self._headers
        ) as response:
            response.raise_for_status()
            await response.json()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def describe(self) -> dict[str, Any]:
        return {"library": "aiohttp", "version": aiohttp.__version__, "token": "one login"}
