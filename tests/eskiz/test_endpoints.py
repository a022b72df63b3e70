"""Every Eskiz endpoint besides sending, against the simulator."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from notifier import DeliveryStatus, InvalidMessage, ProviderError, Sms, UnsupportedFeature
from notifier_eskiz import (
    TASHKENT,
    EskizMessage,
    EskizProvider,
    MessageNotFound,
    TokenState,
)
from notifier_eskiz._endpoints import format_eskiz_time
from notifier_eskiz.simulator import EskizSimulator
from tests.eskiz.conftest import ProviderFactory

pytestmark = pytest.mark.usefixtures("instant")


@pytest.fixture
def eskiz(make_provider: ProviderFactory) -> EskizProvider:
    """A provider on the default transport; these calls do not depend on it."""
    return make_provider()


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(timezone.utc)
    return now - timedelta(hours=1), now + timedelta(hours=1)


async def _send(eskiz: EskizProvider, count: int, *, start: int = 20) -> list[str]:
    refs = []
    for n in range(count):
        result = await eskiz.send(Sms(f"+9989000000{start + n:02d}", f"Salom {n}"))
        refs.append(result.client_ref)
    return refs


class TestStatus:
    async def test_by_request_uuid(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        result = await eskiz.send(Sms("+998900000011", "Salom", client_ref="status-1"))
        sim.settle()
        message = await eskiz.get_status(result.message_id or "")
        assert isinstance(message, EskizMessage)
        assert message.request_id == result.message_id
        assert message.user_sms_id == "status-1"
        assert message.client_ref == "status-1"
        assert message.status == "DELIVERED"
        assert message.delivery_status is DeliveryStatus.DELIVERED
        assert message.parts_count == 1
        assert message.nick == "4546"
        part = next(iter(message.parts.values()))
        assert part.dlr_state == "DELIVRD"
        assert "998900000011" not in repr(message)
        assert "Salom" not in repr(message)

    async def test_by_numeric_id(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        await eskiz.send(Sms("+998900000011", "Salom"))
        stored = sim.messages[0]
        message = await eskiz.get_status(stored.id)
        assert message.id == stored.id
        assert message.delivery_status in (DeliveryStatus.ACCEPTED, DeliveryStatus.DELIVERED)

    async def test_unknown_id(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        with pytest.raises(MessageNotFound) as caught:
            await eskiz.get_status(99999999)
        assert caught.value.message_id == "99999999"
        assert caught.value.status_code == 404
        assert sim.stats.requests["/message/sms/status_by_id/99999999"] == 1  # not retried

    async def test_invalid_id(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        with pytest.raises(InvalidMessage, match="numeric SMS id"):
            await eskiz.get_status("../../auth/user")
        assert sim.stats.requests == {}

    async def test_status_retried(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        result = await eskiz.send(Sms("+998900000011", "Salom"))
        sim.fail_next(504, path="/message/sms/status_by_id/*")
        message = await eskiz.get_status(result.message_id or "")
        assert message.request_id == result.message_id


class TestReports:
    async def test_iter_messages_pages(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        refs = await _send(eskiz, 25)
        start, end = _window()
        listed = [message async for message in eskiz.iter_messages(start, end, page_size=20)]
        assert sorted(message.user_sms_id or "" for message in listed) == sorted(refs)
        assert sim.stats.requests["/message/sms/get-user-messages"] == 2

    async def test_iter_messages_status_filter(
        self, sim: EskizSimulator, eskiz: EskizProvider
    ) -> None:
        await _send(eskiz, 3)
        sim.settle()
        start, end = _window()
        delivered = [m async for m in eskiz.iter_messages(start, end, status="delivered")]
        rejected = [m async for m in eskiz.iter_messages(start, end, status="rejected")]
        assert len(delivered) == 3
        assert rejected == []

    async def test_iter_messages_empty(self, eskiz: EskizProvider) -> None:
        start = datetime(2020, 1, 1, tzinfo=TASHKENT)
        listed = [m async for m in eskiz.iter_messages(start, start + timedelta(days=1))]
        assert listed == []

    @pytest.mark.parametrize(
        ("options", "fragment"),
        [({"page_size": 10}, "page_size"), ({"status": "sent"}, "status")],
        ids=["page-size", "status"],
    )
    async def test_iter_messages_invalid(
        self, eskiz: EskizProvider, options: dict[str, object], fragment: str
    ) -> None:
        start, end = _window()
        with pytest.raises(InvalidMessage, match=fragment):
            async for _ in eskiz.iter_messages(start, end, **options):  # type: ignore[arg-type]
                pass

    async def test_message_totals(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        await _send(eskiz, 4)
        sim.settle()
        start, end = _window()
        totals = await eskiz.message_totals(start, end)
        assert [(total.status, total.total) for total in totals] == [("DELIVERED", 4)]

    async def test_dispatch(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        messages = [Sms(f"+9989000000{n:02d}", "Salom", client_ref=f"d-{n}") for n in range(30, 33)]
        await eskiz.send_batch(messages, dispatch_id=501)
        await _send(eskiz, 1)  # not in the dispatch
        sim.settle()

        listed = [m async for m in eskiz.dispatch_messages(501, page_size=20)]
        assert sorted(m.user_sms_id or "" for m in listed) == ["d-30", "d-31", "d-32"]
        assert all(m.dispatch_id == 501 for m in listed)
        totals = await eskiz.dispatch_status(501)
        assert [(total.status, total.total) for total in totals] == [("DELIVERED", 3)]

    async def test_monthly_totals(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        await eskiz.send(Sms("+998900000011", "Ассалому алайкум! " * 5))  # 2 parts
        await eskiz.send(Sms("+77010000011", "Salem"))
        sim.settle()
        today = datetime.now(TASHKENT)
        local = await eskiz.totals(today.year, today.month)
        abroad = await eskiz.totals(today.year, today.month, is_global=True)
        assert [(row.status, row.packets) for row in local] == [("DELIVERED", 2)]
        assert [(row.status, row.packets) for row in abroad] == [("DELIVERED", 1)]
        assert local[0].month == today.strftime("%b")

    @pytest.mark.parametrize(
        ("year", "month", "fragment"),
        [(2025, 13, "month"), (2025, 0, "month"), (25, 3, "year")],
        ids=["month-13", "month-0", "two-digit-year"],
    )
    async def test_monthly_totals_invalid(
        self, sim: EskizSimulator, eskiz: EskizProvider, year: int, month: int, fragment: str
    ) -> None:
        with pytest.raises(InvalidMessage, match=fragment):
            await eskiz.totals(year, month)
        assert sim.stats.requests == {}

    async def test_dispatch_id_invalid(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        with pytest.raises(InvalidMessage, match="dispatch_id"):
            await eskiz.dispatch_status(-1)
        with pytest.raises(InvalidMessage, match="dispatch_id"):
            async for _ in eskiz.dispatch_messages("7"):  # type: ignore[arg-type]
                pass
        assert sim.stats.requests == {}

    def test_time_format(self) -> None:
        utc = datetime(2025, 3, 1, 19, 30, tzinfo=timezone.utc)
        assert format_eskiz_time(utc) == "2025-03-02 00:30"
        assert format_eskiz_time(datetime(2025, 3, 1, 9, 5)) == "2025-03-01 09:05"
        assert format_eskiz_time(date(2025, 3, 1)) == "2025-03-01 00:00"


class TestAccount:
    async def test_balance(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        assert await eskiz.balance() == 1_000_000
        await eskiz.send(Sms("+998900000011", "Salom"))
        assert await eskiz.balance() == 1_000_000 - 50
        assert await eskiz.balance() == sim.balance

    async def test_user(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        user = await eskiz.user()
        assert user.id == sim.account.id
        assert user.email == sim.email
        assert user.role == "user"
        assert user.is_trial is False
        assert user.balance == 1_000_000
        assert sim.email not in repr(user)

    async def test_nicks(self, eskiz: EskizProvider) -> None:
        assert await eskiz.nicks() == ["4546"]

    async def test_invalidate_token(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        await eskiz.balance()
        await eskiz.invalidate_token()
        assert eskiz.token_state is TokenState.ABSENT
        await eskiz.balance()
        assert sim.stats.logins == 2
        assert sim.stats.requests["/user/get-limit"] == 2  # no 401: the revoked token was dropped

    @pytest.mark.parametrize("sim_options", [{"invalidate_enabled": False}])
    async def test_invalidate_missing(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        with pytest.raises(UnsupportedFeature, match="invalidate"):
            await eskiz.invalidate_token()

    @pytest.mark.parametrize("sim_options", [{"not_found_style": "nginx"}])
    async def test_wrong_route_404(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        from notifier._http import HttpCall

        call = HttpCall("GET", "/message/sms/send", operation="probe", idempotent=True)
        with pytest.raises(ProviderError, match="no endpoint GET /message/sms/send") as caught:
            await eskiz._request(call)
        assert caught.value.status_code == 404
        assert "nginx" in (caught.value.response_summary or "")


class TestTemplates:
    @pytest.mark.parametrize("sim_options", [{"moderation": True}])
    async def test_submit_and_list(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        text = "Hurmatli mijoz, {kod} sizning tasdiqlash kodingiz"
        submitted = await eskiz.submit_template(text)
        assert submitted.template == text
        (pending,) = await eskiz.templates()
        assert pending.original_text == text
        assert pending.status == "moderation"
        assert pending.template == ""
        sim.approve_template(text)
        (approved,) = await eskiz.templates()
        assert approved.status == "approved"
        assert approved.template == text

    async def test_empty_template(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        with pytest.raises(InvalidMessage):
            await eskiz.submit_template("  ")
        assert sim.stats.requests == {}

    async def test_submit_not_retried(self, sim: EskizSimulator, eskiz: EskizProvider) -> None:
        await eskiz.balance()
        sim.fail_next(504, path="/user/template")
        with pytest.raises(ProviderError):
            await eskiz.submit_template("Salom")
        assert sim.stats.requests["/user/template"] == 1


class TestUtilities:
    async def test_check(self, eskiz: EskizProvider) -> None:
        text = "Ассалому алайкум! Буюртмангиз тайёр, уни эртага олиб кетишингиз мумкин. Раҳмат!"
        result = await eskiz.check(text)
        assert result.can_send is True
        assert result.parts_count == 2
        assert result.chars_count == len(text)
        assert result.info[0].price == 100

    async def test_normalize(self, eskiz: EskizProvider) -> None:
        result = await eskiz.normalize("Narxi 5€")
        assert result.message == "Narxi 5EU"
        assert [(c.char, c.code, c.position) for c in result.special_characters] == [
            ("€", "0x20AC", 7)
        ]
        assert [(r.from_, r.to) for r in result.recommendations] == [("€", "EU")]

    async def test_prices(self, eskiz: EskizProvider) -> None:
        prices = await eskiz.prices()
        assert prices.local
        assert all(row.price == 50 for row in prices.local)
        kazakhstan = next(row for row in prices.global_ if row.code == "kz")
        assert kazakhstan.price > 0
