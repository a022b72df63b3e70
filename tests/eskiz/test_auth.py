"""Token lifecycle of the Eskiz provider, against the simulator over loopback sockets.

Counts come from the simulator (``sim.stats``): logins it issued, refreshes,
accepted messages and requests per path.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from pydantic import SecretStr

from notifier import (
    AuthenticationError,
    NotifierClosed,
    ProviderUnavailable,
    SendResult,
    Sms,
)
from notifier._http import TransportName, _make_aiohttp_transport
from notifier_eskiz import EskizProvider, InMemoryTokenStore, TokenState, read_token_expiry
from notifier_eskiz._auth import token_store_key
from notifier_eskiz.simulator import EskizSimulator
from tests.eskiz.conftest import TRIAL_TEXT, UZ_PHONE, ProviderFactory

pytestmark = pytest.mark.usefixtures("instant")

SEND_PATH = "/message/sms/send"
LOGIN_PATH = "/auth/login"
REFRESH_PATH = "/auth/refresh"


def _sms(number: int = 11) -> Sms:
    return Sms(f"+9989000000{number:02d}", TRIAL_TEXT)


async def _send_many(provider: EskizProvider, count: int) -> list[SendResult]:
    return await asyncio.gather(*(provider.send(_sms(n % 100)) for n in range(count)))


async def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


@dataclass(frozen=True)
class Recorded:
    """One request as it left the client, headers copied at that moment."""

    method: str
    path: str
    authorization: str | None
    content: bytes


class FakeClock:
    """A settable clock for token expiry, starting at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def recorded(
    sim: EskizSimulator, transport: TransportName
) -> AsyncIterator[tuple[httpx.AsyncClient, list[Recorded]]]:
    """A client on ``transport`` that records every request it sends, replays included."""
    records: list[Recorded] = []

    async def record(request: httpx.Request) -> None:
        path = request.url.path.removeprefix("/api")
        content = await request.aread()  # multipart bodies are streams until read
        records.append(
            Recorded(request.method, path, request.headers.get("Authorization"), content)
        )

    limits = httpx.Limits(max_connections=100)
    client = httpx.AsyncClient(
        transport=_make_aiohttp_transport(limits) if transport == "aiohttp" else None,
        limits=limits,
        event_hooks={"request": [record]},
    )
    yield client, records
    await client.aclose()


class TestSingleFlight:
    async def test_cold_start_one_login(self, sim: EskizSimulator, provider: EskizProvider) -> None:
        results = await _send_many(provider, 50)
        assert len(results) == 50
        assert sim.stats.logins == 1
        assert sim.stats.sends == 50
        assert sim.stats.requests[SEND_PATH] == 50
        assert provider.stats.logins == 1

    async def test_server_expired_token_one_login(
        self,
        sim: EskizSimulator,
        make_provider: ProviderFactory,
        recorded: tuple[httpx.AsyncClient, list[Recorded]],
    ) -> None:
        client, records = recorded
        provider = make_provider(http_client=client)
        await provider.send(_sms())
        old_token = records[-1].authorization
        sim.expire_tokens()
        sim.reset_stats()
        records.clear()

        results = await _send_many(provider, 50)

        assert len(results) == 50
        assert sim.stats.logins == 1
        assert sim.stats.sends == 50
        sends = [record for record in records if record.path == SEND_PATH]
        assert len(sends) == 100  # 50 rejected with 401, 50 replays
        new_tokens = {record.authorization for record in sends} - {old_token}
        assert len(new_tokens) == 1
        assert sum(record.authorization == old_token for record in sends) == 50

    async def test_locally_expired_token_waits(
        self, sim: EskizSimulator, make_provider: ProviderFactory, transport: TransportName
    ) -> None:
        clock = FakeClock()
        provider = make_provider(transport=transport, clock=clock)
        await provider.send(_sms())
        clock.now += 31 * 24 * 3600  # past the 30-day exp
        sim.reset_stats()

        await _send_many(provider, 50)

        assert sim.stats.logins == 1
        assert sim.stats.refreshes == 0
        assert sim.stats.requests[SEND_PATH] == 50  # no request carried the stale token

    async def test_three_401s_and_late_send(
        self,
        sim: EskizSimulator,
        make_provider: ProviderFactory,
        recorded: tuple[httpx.AsyncClient, list[Recorded]],
    ) -> None:
        client, records = recorded
        provider = make_provider(http_client=client)
        await provider.send(_sms())
        sim.expire_tokens()
        sim.reset_stats()
        records.clear()
        sim.delay_next(0.5, path=LOGIN_PATH)

        first_three = [asyncio.create_task(provider.send(_sms(n))) for n in (21, 22, 23)]
        await _wait_until(lambda: sim.stats.requests[LOGIN_PATH] == 1)
        assert provider.token_state is TokenState.ACQUIRING
        late = Sms(UZ_PHONE, TRIAL_TEXT, client_ref="late-send")
        fourth = await provider.send(late)
        await asyncio.gather(*first_three)

        assert fourth.client_ref == "late-send"
        assert sim.stats.logins == 1
        assert sim.stats.sends == 4
        assert sim.stats.requests[SEND_PATH] == 7  # 3 rejected with 401, 3 replays, 1 late send
        late_requests = [r for r in records if b"late-send" in r.content]
        assert len(late_requests) == 1
        login_token = [r.authorization for r in records if r.path == SEND_PATH][-1]
        assert late_requests[0].authorization == login_token

    async def test_cancelled_waiter_keeps_login(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        sim.delay_next(0.3, path=LOGIN_PATH)
        tasks = [asyncio.create_task(provider.send(_sms(n))) for n in range(5)]
        await _wait_until(lambda: sim.stats.requests[LOGIN_PATH] == 1)
        tasks[0].cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)

        assert isinstance(outcomes[0], asyncio.CancelledError)
        assert all(isinstance(outcome, SendResult) for outcome in outcomes[1:])
        assert sim.stats.logins == 1
        assert sim.stats.sends == 4


class TestLoginFailure:
    async def test_login_500_reaches_every_waiter(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        sim.fail_next(500, times=3, path=LOGIN_PATH)
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(provider.send(_sms(n)) for n in range(10)), return_exceptions=True),
            timeout=2,
        )
        assert all(isinstance(outcome, ProviderUnavailable) for outcome in outcomes)
        assert sim.stats.requests[LOGIN_PATH] == 3  # one login, retried by the policy
        assert sim.stats.requests[SEND_PATH] == 0

        # The failure is not cached: the next send logs in again.
        await provider.send(_sms())
        assert sim.stats.requests[LOGIN_PATH] == 4
        assert sim.stats.logins == 1

    async def test_wrong_password_reaches_every_waiter(
        self, sim: EskizSimulator, make_provider: ProviderFactory, transport: TransportName
    ) -> None:
        provider = make_provider(transport=transport, password="not-the-secret")
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(provider.send(_sms(n)) for n in range(10)), return_exceptions=True),
            timeout=2,
        )
        assert all(isinstance(outcome, AuthenticationError) for outcome in outcomes)
        assert sim.stats.requests[LOGIN_PATH] == 1
        with pytest.raises(AuthenticationError):
            await provider.send(_sms())
        assert sim.stats.requests[LOGIN_PATH] == 2
        assert provider.token_state is TokenState.ABSENT

    @pytest.mark.parametrize(
        "sim_options", [{"bad_credentials_status": 400}, {}], ids=["400", "401"]
    )
    async def test_wrong_password_one_login(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        provider = make_provider(password="not-the-secret")
        with pytest.raises(AuthenticationError) as caught:
            await asyncio.wait_for(provider.send(_sms()), timeout=1)
        assert sim.stats.requests[LOGIN_PATH] == 1
        assert sim.stats.requests[REFRESH_PATH] == 0
        assert sim.stats.requests[SEND_PATH] == 0
        assert caught.value.status_code in (400, 401)
        assert "ESKIZ_PASSWORD" in str(caught.value)
        assert "not-the-secret" not in str(caught.value)

    async def test_login_has_no_bearer(
        self,
        sim: EskizSimulator,
        make_provider: ProviderFactory,
        recorded: tuple[httpx.AsyncClient, list[Recorded]],
    ) -> None:
        client, records = recorded
        client.headers["Authorization"] = "Bearer left-by-the-application"
        provider = make_provider(http_client=client)
        await provider.send(_sms())
        sim.expire_tokens()
        await provider.send(_sms())

        logins = [record for record in records if record.path == LOGIN_PATH]
        assert len(logins) == 2
        assert all(record.authorization is None for record in logins)

    async def test_401_everywhere_two_sends(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        await provider.balance()  # a token, and no send yet
        sim.reset_stats()
        sim.fail_next(401, times=10, path=SEND_PATH)

        with pytest.raises(AuthenticationError) as caught:
            await provider.send(_sms())

        assert sim.stats.requests[SEND_PATH] == 2
        assert sim.stats.logins == 1
        assert caught.value.status_code == 401


class TestClose:
    async def test_close_during_login(
        self, sim: EskizSimulator, make_provider: ProviderFactory, transport: TransportName
    ) -> None:
        store = InMemoryTokenStore()
        provider = make_provider(transport=transport, token_store=store)
        sim.delay_next(0.3, path=LOGIN_PATH)
        tasks = [asyncio.create_task(provider.send(_sms(n))) for n in range(5)]
        await _wait_until(lambda: sim.stats.requests[LOGIN_PATH] == 1)

        await provider.aclose()
        outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 2)

        assert all(isinstance(outcome, NotifierClosed) for outcome in outcomes)
        assert provider.token_state is TokenState.CLOSED
        assert await store.load(token_store_key(sim.base_url, sim.email)) is None
        assert sim.stats.sends == 0

    async def test_send_after_close(self, provider: EskizProvider) -> None:
        await provider.aclose()
        with pytest.raises(NotifierClosed):
            await provider.send(_sms())


class TestEventLoops:
    def test_two_runs_with_contended_lock(
        self, sim: EskizSimulator, transport: TransportName
    ) -> None:
        provider = EskizProvider(
            email=sim.email, password=sim.password, base_url=sim.base_url, transport=transport
        )

        async def burst() -> int:
            results = await _send_many(provider, 20)
            return len(results)

        assert asyncio.run(burst()) == 20
        sim.expire_tokens()
        assert asyncio.run(burst()) == 20
        assert sim.stats.logins == 2
        assert sim.stats.sends == 40

        async def close() -> None:
            await provider.aclose()

        asyncio.run(close())

    async def test_login_loop_stops_under_waiter(
        self,
        sim: EskizSimulator,
        make_provider: ProviderFactory,
    ) -> None:
        provider = make_provider()
        sim.delay_next(0.8, path=LOGIN_PATH)

        def send_from_short_lived_loop() -> None:
            async def give_up_early() -> None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(provider.send(_sms(1)), timeout=0.3)

            asyncio.run(give_up_early())

        thread = threading.Thread(target=send_from_short_lived_loop)
        thread.start()
        await _wait_until(lambda: sim.stats.requests[LOGIN_PATH] == 1)
        waiter = asyncio.create_task(provider.send(_sms(2)))
        await asyncio.to_thread(thread.join, 5)

        with pytest.raises(ProviderUnavailable, match="event loop stopped"):
            await asyncio.wait_for(waiter, timeout=2)
        await provider.send(_sms(3))  # a new login on this loop
        assert sim.stats.requests[LOGIN_PATH] == 2
        assert sim.stats.sends == 1


class TestRefresh:
    @pytest.mark.parametrize("sim_options", [{"token_ttl": 3600}])
    async def test_refresh_before_expiry(
        self, sim: EskizSimulator, make_provider: ProviderFactory, transport: TransportName
    ) -> None:
        clock = FakeClock()
        provider = make_provider(transport=transport, clock=clock, refresh_margin=600)
        await provider.send(_sms())
        clock.now += 3600 - 300  # inside the 600 s margin, before exp

        await _send_many(provider, 50)

        assert sim.stats.logins == 1
        assert sim.stats.refreshes == 1
        assert provider.stats.refreshes == 1
        assert sim.stats.sends == 51

    @pytest.mark.parametrize("sim_options", [{"token_ttl": 3600}])
    async def test_failed_refresh_falls_back(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        clock = FakeClock()
        provider = make_provider(clock=clock, refresh_margin=600)
        await provider.send(_sms())
        clock.now += 3600 - 300
        sim.fail_next(401, path=REFRESH_PATH)

        await provider.send(_sms())

        assert sim.stats.requests[REFRESH_PATH] == 1
        assert sim.stats.refreshes == 0
        assert sim.stats.logins == 2
        assert sim.stats.sends == 2

    @pytest.mark.parametrize("sim_options", [{"token_ttl": 60}])
    async def test_margin_capped_by_lifetime(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        clock = FakeClock()
        provider = make_provider(clock=clock)  # the default margin is a day
        await provider.send(_sms())
        await provider.send(_sms())
        assert sim.stats.refreshes == 0  # a 60 s token is renewed after 30 s, not at once
        clock.now += 31
        await provider.send(_sms())
        assert sim.stats.refreshes == 1

    @pytest.mark.parametrize("sim_options", [{"token_ttl": 4}])
    async def test_short_token_is_refreshed(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        # A 4 s token is renewed after 2 s; the 5 s expiry skew must not make
        # it count as expired from the start, which would force logins. The
        # JWT's exp is whole seconds, so it lies 3 to 4 s after this clock:
        # 2.5 s is past the renewal point and before expiry either way.
        clock = FakeClock()
        provider = make_provider(clock=clock)
        await provider.send(_sms())
        clock.now += 2.5
        await provider.send(_sms())
        assert sim.stats.logins == 1
        assert sim.stats.refreshes == 1


class TestTokenStore:
    async def test_shared_store_shares_token(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        store = InMemoryTokenStore()
        first = make_provider(token_store=store)
        second = make_provider(token_store=store)
        await first.send(_sms())
        await second.send(_sms())
        assert sim.stats.logins == 1

    async def test_accounts_never_share_token(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        other = sim.add_account("second@notifier.test", "second-secret")
        store = InMemoryTokenStore()
        first = make_provider(token_store=store)
        second = make_provider(
            token_store=store, email="second@notifier.test", password="second-secret"
        )
        await asyncio.gather(first.send(_sms(31)), second.send(_sms(32)))

        assert sim.stats.logins == 2
        owners = {message.to: message.account_id for message in sim.messages}
        assert owners["998900000031"] == sim.account.id
        assert owners["998900000032"] == other.id

    async def test_rejected_token_dropped_from_store(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        store = InMemoryTokenStore()
        provider = make_provider(token_store=store)
        await provider.send(_sms())
        key = token_store_key(sim.base_url, sim.email)
        before = await store.load(key)
        sim.expire_tokens()
        await provider.send(_sms())
        after = await store.load(key)
        assert before is not None
        assert after is not None
        assert after.get_secret_value() != before.get_secret_value()

    def test_key_hides_email(self) -> None:
        key = token_store_key("http://127.0.0.1:1/api", "Person@Example.uz")
        assert "Person" not in key
        assert key == token_store_key("http://127.0.0.1:1/api/", "person@example.uz")


class TestTelemetry:
    async def test_refresh_counter(
        self, sim: EskizSimulator, provider: EskizProvider, metric_reader: InMemoryMetricReader
    ) -> None:
        def login_count() -> int:
            data = metric_reader.get_metrics_data()
            total = 0
            for resource in data.resource_metrics if data else []:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name != "notifier.eskiz.token.refreshes":
                            continue
                        for point in metric.data.data_points:
                            attributes = dict(point.attributes or {})
                            if attributes == {"notifier.token.method": "login"}:
                                total += int(point.value)  # type: ignore[union-attr]
            return total

        before = login_count()
        await provider.send(_sms())
        assert login_count() == before + 1

    async def test_repr_hides_credentials(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        await provider.send(_sms())
        text = repr(provider) + repr(provider._token_auth)
        assert sim.password not in text
        assert sim.email not in text
        assert "eyJ" not in text
        assert "valid" in text


def _jwt(claims: Any) -> str:
    def encode(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{encode({'alg': 'HS256'})}.{encode(claims)}.signature"


class TestReadTokenExpiry:
    def test_reads_claims(self) -> None:
        assert read_token_expiry(_jwt({"iat": 100, "exp": 2592100})) == (100.0, 2592100.0)

    @pytest.mark.parametrize(
        "token",
        ["not-a-jwt", "a.b.c", _jwt([1, 2]), _jwt({"exp": "soon", "iat": True})],
        ids=["no-dots", "bad-base64", "not-object", "not-numbers"],
    )
    def test_unreadable_gives_none(self, token: str) -> None:
        assert read_token_expiry(token) == (None, None)

    async def test_simulator_token(self, sim: EskizSimulator) -> None:
        async with httpx.AsyncClient(base_url=sim.base_url) as client:
            response = await client.post(
                "/auth/login", data={"email": sim.email, "password": sim.password}
            )
        token = SecretStr(response.json()["data"]["token"])
        issued, expires = read_token_expiry(token.get_secret_value())
        assert issued is not None
        assert expires is not None
        assert expires - issued == 30 * 24 * 3600
