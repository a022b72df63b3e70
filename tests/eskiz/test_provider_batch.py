"""EskizProvider.send_batch against the simulator: chunking, mapping back, failures."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest

from notifier import (
    AuthenticationError,
    DeliveryUnknown,
    InvalidMessage,
    ProviderUnavailable,
    RejectedError,
    SendResult,
    SendStatus,
    Sms,
)
from notifier_eskiz import EskizProvider
from notifier_eskiz.simulator import EskizSimulator
from tests.eskiz.conftest import ProviderFactory

pytestmark = pytest.mark.usefixtures("instant")

BATCH_PATH = "/message/sms/send-batch"


def _messages(
    count: int, *, start: int = 40, text: str = "Salom, {n}-buyurtma tayyor"
) -> list[Sms]:
    return [
        Sms(f"+9989000000{start + n:02d}", text.format(n=n), client_ref=f"batch-{start + n}")
        for n in range(count)
    ]


def _results(outcomes: Sequence[object]) -> list[SendResult]:
    assert all(isinstance(outcome, SendResult) for outcome in outcomes), outcomes
    return [outcome for outcome in outcomes if isinstance(outcome, SendResult)]


class TestBatch:
    async def test_one_request(self, sim: EskizSimulator, provider: EskizProvider) -> None:
        messages = _messages(3)
        results = _results(await provider.send_batch(messages, dispatch_id=77))

        assert sim.stats.requests[BATCH_PATH] == 1
        assert [result.client_ref for result in results] == ["batch-40", "batch-41", "batch-42"]
        assert all(result.status is SendStatus.QUEUED for result in results)
        assert len({result.message_id for result in results}) == 1
        stored = {message.user_sms_id: message for message in sim.messages}
        assert set(stored) == {"batch-40", "batch-41", "batch-42"}
        assert stored["batch-41"].to == "998900000041"
        assert stored["batch-41"].text == "Salom, 1-buyurtma tayyor"
        assert all(message.dispatch_id == 77 for message in stored.values())
        assert results[0].message_id == stored["batch-40"].request_id

    async def test_segments_per_message(self, provider: EskizProvider) -> None:
        short = Sms("+998900000050", "Salom")
        long = Sms("+998900000051", "Ассалому алайкум! " * 5)
        first, second = _results(await provider.send_batch([short, long]))
        assert first.segments == 1
        assert second.segments == 2

    async def test_chunked(self, sim: EskizSimulator, make_provider: ProviderFactory) -> None:
        provider = make_provider(batch_size=2)
        results = _results(await provider.send_batch(_messages(5)))
        assert sim.stats.requests[BATCH_PATH] == 3
        assert sim.stats.sends == 5
        assert [result.client_ref for result in results] == [f"batch-{n}" for n in range(40, 45)]
        assert len({result.message_id for result in results}) == 3

    @pytest.mark.parametrize("sim_options", [{"batch_limit": 3}])
    async def test_server_limit_rejects_chunk(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        provider = make_provider(batch_size=5)
        outcomes = await provider.send_batch(_messages(5))
        assert all(isinstance(outcome, RejectedError) for outcome in outcomes)
        refs = [outcome.client_ref for outcome in outcomes if isinstance(outcome, RejectedError)]
        assert refs == [f"batch-{n}" for n in range(40, 45)]
        assert sim.stats.requests[BATCH_PATH] == 1

    @pytest.mark.parametrize("sim_options", [{"nicks": ("4546", "MyShop")}])
    async def test_grouped_by_sender(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        provider = make_provider()
        plain, branded = _messages(2)
        branded = branded.model_copy(update={"sender": "MyShop"})
        _results(await provider.send_batch([plain, branded]))
        assert sim.stats.requests[BATCH_PATH] == 2
        nicks = {message.user_sms_id: message.nick for message in sim.messages}
        assert nicks == {"batch-40": "4546", "batch-41": "MyShop"}

    async def test_foreign_numbers_go_global(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        local = Sms("+998900000060", "Salom", client_ref="local")
        foreign = Sms("+77010000060", "Сәлем", client_ref="foreign")
        results = _results(await provider.send_batch([foreign, local]))
        assert [result.client_ref for result in results] == ["foreign", "local"]
        assert sim.stats.requests[BATCH_PATH] == 1
        assert sim.stats.requests["/message/sms/send-global"] == 1

    async def test_duplicate_refs_rejected(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        twice = Sms("+998900000070", "Salom", client_ref="same")
        with pytest.raises(InvalidMessage, match="client_ref"):
            await provider.send_batch([twice, twice])
        assert sim.stats.requests == {}

    async def test_empty_batch(self, sim: EskizSimulator, provider: EskizProvider) -> None:
        assert await provider.send_batch([]) == []
        assert sim.stats.requests == {}


class TestBatchFailures:
    async def test_replay_after_expiry_uses_new_token(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        tokens: list[str | None] = []

        async def record(request: httpx.Request) -> None:
            if request.url.path.endswith(BATCH_PATH):
                tokens.append(request.headers.get("Authorization"))

        async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
            provider = make_provider(http_client=client)
            await provider.balance()
            sim.expire_tokens()
            sim.reset_stats()
            _results(await provider.send_batch(_messages(3)))

        assert sim.stats.logins == 1
        assert sim.stats.sends == 3
        assert sim.stats.requests[BATCH_PATH] == 2
        assert len(tokens) == 2
        assert tokens[0] != tokens[1]

    async def test_unavailable_per_message(
        self, sim: EskizSimulator, provider: EskizProvider
    ) -> None:
        sim.fail_next(503, times=3, path=BATCH_PATH)
        outcomes = await provider.send_batch(_messages(2))
        assert all(isinstance(outcome, ProviderUnavailable) for outcome in outcomes)
        refs = [o.client_ref for o in outcomes if isinstance(o, ProviderUnavailable)]
        assert refs == ["batch-40", "batch-41"]
        assert sim.stats.requests[BATCH_PATH] == 3

    async def test_timeout_is_delivery_unknown(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        provider = make_provider(timeout=httpx.Timeout(5.0, read=0.3))
        sim.delay_next(1.0, path=BATCH_PATH)
        outcomes = await provider.send_batch(_messages(2))
        assert all(isinstance(outcome, DeliveryUnknown) for outcome in outcomes)
        assert sim.stats.requests[BATCH_PATH] == 1

    async def test_authentication_raised(
        self, sim: EskizSimulator, make_provider: ProviderFactory
    ) -> None:
        provider = make_provider(password="not-the-secret")
        with pytest.raises(AuthenticationError):
            await provider.send_batch(_messages(2))
        assert sim.stats.requests[BATCH_PATH] == 0
