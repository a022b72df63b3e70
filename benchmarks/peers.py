"""Adapters for published Eskiz clients, each run in its own environment and process.

Every peer installs the import package ``eskiz``, so each one gets its own
virtual environment (see ``peer_env``). Each adapter points its client at the
simulator through the client's own setting. It then reads the URL back from
the built client and raises ``LoopbackViolation`` unless the URL is on
127.0.0.1; the process-wide loopback guard of ``client.main`` is the second
line of defence. The notes below come from reading each version's source,
and the harness pins these versions.

Standard library plus the peer package only.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from .client import Job
from .guard import require_loopback_url
from .workload import BODY, SENDER, phone_digits

__all__ = ["EskizPkg", "EskizSms", "EskizSmsClient"]

_TIMEOUT = 30.0  # seconds


class EskizSms:
    """``eskiz-sms`` 1.0.1: ``AsyncEskizSMS`` on one ``httpx.AsyncClient``.

    The base URL is a constructor argument. A token is fetched on first use
    and shared by concurrent requests (single flight). A 401 triggers
    ``PATCH /auth/refresh``, then a login when the refresh is rejected, and
    one replay. It does not read the token's ``exp``.
    """

    def __init__(self, job: Job) -> None:
        from eskiz import AsyncEskizSMS  # type: ignore[import-not-found]

        self._client = AsyncEskizSMS(
            email=job.email,
            password=job.password,
            base_url=require_loopback_url(job.base_url),
            timeout=_TIMEOUT,
            from_whom=SENDER,
        )
        # The URL the client will really use, read back from its httpx client.
        require_loopback_url(str(self._client._transport._client.base_url), label="client URL")

    async def start(self) -> None:
        pass

    async def send(self, index: int) -> None:
        await self._client.sms.send(mobile_phone=phone_digits(index), message=BODY)

    async def close(self) -> None:
        await self._client.aclose()

    def describe(self) -> dict[str, Any]:
        return {"library": "eskiz-sms", "version": version("eskiz-sms"), "api": "AsyncEskizSMS"}


class EskizPkg:
    """``eskiz-pkg`` 2.0.1: ``eskiz.client.AsyncClient`` on one ``aiohttp.ClientSession``.

    The server root (without ``/api``) is the ``network`` constructor
    argument, and each URL is built as ``f"{network}/api/..."``. It logs in
    once and keeps the token. Every request answered 401 calls
    ``PATCH /auth/refresh`` on a new session, logs in when that fails, and
    replays. It does not read the token's ``exp``.
    """

    def __init__(self, job: Job) -> None:
        from eskiz.client import AsyncClient  # type: ignore[import-not-found]

        base_url = require_loopback_url(job.base_url).rstrip("/")
        if not base_url.endswith("/api"):
            raise ValueError(f"expected a base URL ending in /api, got {base_url!r}")
        self._client = AsyncClient(
            email=job.email, password=job.password, network=base_url[: -len("/api")], from_=SENDER
        )
        require_loopback_url(f"{self._client.network}/api", label="client URL")

    async def start(self) -> None:
        await self._client.initialize()

    async def send(self, index: int) -> None:
        await self._client.send_sms(int(phone_digits(index)), BODY)

    async def close(self) -> None:
        await self._client.close()

    def describe(self) -> dict[str, Any]:
        return {"library": "eskiz-pkg", "version": version("eskiz-pkg"), "api": "AsyncClient"}


class EskizSmsClient:
    """``eskiz-sms-client`` 1.0.5: ``SMSClient`` on one ``aiohttp.ClientSession``.

    The ``service_url`` argument only takes a host name and always builds an
    ``https://`` URL, so the adapter sets the client's URL attributes
    (``_api_url``, ``_service_url``) to the simulator after construction.
    The client has no automatic token renewal: the caller logs in with
    ``get_token()`` and checks ``token.is_expired`` (it decodes ``exp``). The
    adapter does that before every send, as the client's users must. Under
    concurrency, every task that finds the token expired logs in.
    """

    def __init__(self, job: Job) -> None:
        self._job = job
        self._base_url = require_loopback_url(job.base_url).rstrip("/")
        self._client: Any = None

    async def start(self) -> None:
        from eskiz import SMSClient

        # Built here: the constructor calls asyncio.get_event_loop() and
        # opens its aiohttp session on the loop that is running.
        client = SMSClient(connections_limit=100)
        client._api_url = f"{self._base_url}/"
        client._service_url = self._base_url[: -len("/api")]
        require_loopback_url(client.api_url, label="client URL")
        require_loopback_url(client.service_url, label="client URL")
        self._client = client
        await client.get_token(self._job.email, self._job.password)

    async def send(self, index: int) -> None:
        client = self._client
        if client.token.is_expired:
            await client.get_token(self._job.email, self._job.password)
        await client.send_sms(phone_digits(index), BODY, from_=SENDER)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    def describe(self) -> dict[str, Any]:
        return {
            "library": "eskiz-sms-client",
            "version": version("eskiz-sms-client"),
            "api": "SMSClient",
        }
